//! A real NATS server with JetStream for a test, as the tests run a real
//! PostgreSQL: `nats-server -js` on a free port of 127.0.0.1 with its store
//! in a directory of its own, killed and the directory removed on drop. It
//! can be stopped and started again on the same port and store.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a starting server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the Debian package puts the binary, besides `PATH`.
const NATS_SERVER_PATHS: &[&str] = &["/usr/sbin/nats-server", "/usr/bin/nats-server"];

/// A running (or stopped) `nats-server -js`.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store_dir: PathBuf,
    binary: PathBuf,
}

/// The `nats-server` binary: on `PATH` or where Debian installs it. Panics
/// with the command to install it (scripts/setup installs it).
pub fn nats_server_binary() -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for directory in std::env::split_paths(&paths) {
            let candidate = directory.join("nats-server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    for candidate in NATS_SERVER_PATHS {
        if Path::new(candidate).is_file() {
            return PathBuf::from(candidate);
        }
    }
    panic!("nats-server is required: run scripts/setup, or apt-get install -y nats-server");
}

fn free_port() -> u16 {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

impl NatsServer {
    /// Starts a server with JetStream on a free port and a fresh store.
    pub fn start() -> NatsServer {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let store_dir = std::env::temp_dir().join(format!(
            "ledger-nats-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&store_dir).expect("create the JetStream store directory");
        let mut server = NatsServer {
            child: None,
            port: free_port(),
            store_dir,
            binary: nats_server_binary(),
        };
        server.start_again();
        server
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the stopped server again, same port, same store.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let child = Command::new(&self.binary)
            .arg("-js")
            .args(["-a", "127.0.0.1"])
            .args(["-p", &self.port.to_string()])
            .arg("-sd")
            .arg(&self.store_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        let address = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        while TcpStream::connect(address).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server cleanly (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("the server is running");
        let terminated = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if !terminated {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.store_dir);
    }
}
