//! The real processes a scenario runs and breaks: a durable PostgreSQL
//! cluster (pg-embedded, fsync on) stopped with `pg_ctl stop -m immediate`,
//! and `ledger serve` children on fixed ports of 127.0.0.1, killed by PID
//! with SIGKILL and started again on the same port.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ledger_api::serving_line::wait_for_line;

/// The bearer token of the harness's one client, `chaos`.
pub const TOKEN: &str = "chaos-token-0123456789abcdef";
/// `LEDGER_TOKENS` for every server the harness starts.
pub const TOKENS: &str = "chaos=chaos-token-0123456789abcdef roles=submit,read,admin";

/// The `ledger` binary: `LEDGER_BIN`, else `ledger` next to this executable
/// (`cargo build -p ledger-api --bin ledger` puts it there).
pub fn ledger_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("LEDGER_BIN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("LEDGER_BIN={} is not a file", path.display());
        }
        return Ok(path);
    }
    let here = std::env::current_exe().context("where this executable is")?;
    let sibling = here.with_file_name("ledger");
    if sibling.is_file() {
        return Ok(sibling);
    }
    bail!(
        "the ledger binary was not found next to {}: build it with \
         `cargo build -p ledger-api --bin ledger` (same profile) or set LEDGER_BIN",
        here.display()
    )
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// A durable PostgreSQL cluster in the run's directory, one database in it.
#[derive(Debug)]
pub struct Postgres {
    cluster: Option<pg_embedded::Cluster>,
    data_dir: PathBuf,
    pub dbname: String,
}

impl Postgres {
    /// Starts a durable cluster (fsync on) in `work_dir/postgres` and
    /// creates the database `dbname`.
    pub async fn start(work_dir: &Path, dbname: &str) -> anyhow::Result<Postgres> {
        let data_dir = work_dir.join("postgres");
        let options = pg_embedded::ClusterOptions::new(&data_dir);
        assert_eq!(options.durability, pg_embedded::Durability::Durable);
        let cluster = tokio::task::spawn_blocking(move || pg_embedded::Cluster::start(options))
            .await?
            .context("start a durable PostgreSQL cluster")?;
        let postgres = Postgres {
            data_dir: cluster.data_dir().to_path_buf(),
            cluster: Some(cluster),
            dbname: dbname.to_owned(),
        };
        let admin = connect(&postgres.config_for("postgres")).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {dbname}"))
            .await
            .context("create the database")?;
        Ok(postgres)
    }

    fn cluster(&self) -> &pg_embedded::Cluster {
        self.cluster.as_ref().expect("a cluster handle")
    }

    fn config_for(&self, dbname: &str) -> tokio_postgres::Config {
        self.cluster()
            .connection_string(dbname)
            .parse()
            .expect("a connection string")
    }

    /// The database's connection settings.
    pub fn config(&self) -> tokio_postgres::Config {
        self.config_for(&self.dbname)
    }

    /// `DATABASE_URL` for the `ledger` binary (libpq key=value form).
    pub fn url(&self) -> String {
        self.cluster().connection_string(&self.dbname)
    }

    /// The cluster's Unix socket (what the harness's proxy forwards to).
    pub fn socket_path(&self) -> PathBuf {
        pg_embedded::socket_path(self.cluster().socket_dir())
    }

    /// `DATABASE_URL` through a TCP proxy on 127.0.0.1:`port`.
    pub fn url_through(&self, port: u16) -> String {
        format!(
            "host=127.0.0.1 port={port} user={} dbname={}",
            self.cluster().superuser(),
            self.dbname
        )
    }

    /// `pg_ctl stop -m immediate`: every backend killed, no checkpoint, crash
    /// recovery at the next start. Run as the data directory's owner (the
    /// `postgres` user when the harness runs as root).
    pub fn crash(&self) -> anyhow::Result<()> {
        let pg_ctl = self.cluster().binaries().pg_ctl();
        let owner = std::fs::metadata(&self.data_dir)?;
        let mut command = Command::new(&pg_ctl);
        command
            .current_dir(&self.data_dir)
            .arg("-D")
            .arg(&self.data_dir)
            .args(["stop", "-m", "immediate", "-w"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if owner.uid() != current_uid() {
            command.uid(owner.uid()).gid(owner.gid());
        }
        let status = command.status().context("run pg_ctl stop -m immediate")?;
        if !status.success() {
            bail!("pg_ctl stop -m immediate failed: {status}");
        }
        Ok(())
    }

    /// Starts the cluster again after [`Postgres::crash`] (crash recovery)
    /// and waits until it accepts connections.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let options = pg_embedded::ClusterOptions::new(&self.data_dir);
        let fresh = tokio::task::spawn_blocking(move || pg_embedded::Cluster::start(options))
            .await?
            .context("start PostgreSQL again")?;
        // The old handle's release sees the new one as a live user and leaves
        // the server running.
        let old = self.cluster.replace(fresh);
        tokio::task::spawn_blocking(move || drop(old)).await?;
        Ok(())
    }

    /// Stops the cluster (fast) and releases it.
    pub async fn stop(mut self) {
        if let Some(mut cluster) = self.cluster.take() {
            let _ = tokio::task::spawn_blocking(move || {
                let _ = cluster.stop();
                drop(cluster);
            })
            .await;
        }
    }
}

fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|meta| meta.uid())
        .unwrap_or(0)
}

/// Opens a plain connection, its driver task spawned.
pub async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .context("connect to PostgreSQL")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A `ledger serve` child process on a fixed port.
#[derive(Debug)]
pub struct LedgerServer {
    pub slot: usize,
    pub port: u16,
    child: Option<Child>,
    binary: PathBuf,
    database_url: String,
    log_path: PathBuf,
    extra_arguments: Vec<String>,
}

impl LedgerServer {
    pub fn new(
        slot: usize,
        binary: &Path,
        database_url: &str,
        work_dir: &Path,
        extra_arguments: &[&str],
    ) -> LedgerServer {
        LedgerServer {
            slot,
            port: free_port(),
            child: None,
            binary: binary.to_path_buf(),
            database_url: database_url.to_owned(),
            log_path: work_dir.join(format!("serve-{slot}.log")),
            extra_arguments: extra_arguments.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the server and waits until it says it serves; tries again
    /// while it exits at start (the database is down, the port still held),
    /// for up to `patience`.
    pub fn start(&mut self, patience: Duration) -> anyhow::Result<u32> {
        assert!(self.child.is_none(), "serve #{} is running", self.slot);
        let deadline = Instant::now() + patience;
        loop {
            match self.start_once() {
                Ok(pid) => return Ok(pid),
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn start_once(&mut self) -> anyhow::Result<u32> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let child = Command::new(&self.binary)
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--hold-expiry", "0s"])
            .args(&self.extra_arguments)
            .env("DATABASE_URL", &self.database_url)
            .env("LEDGER_TOKENS", TOKENS)
            .env_remove("LEDGER_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("spawn ledger serve")?;
        let child = wait_until_ready(
            child,
            ledger_api::serving_line::SERVING_PREFIX,
            &format!("serve #{}", self.slot),
        )?;
        let pid = child.id();
        self.child = Some(child);
        Ok(pid)
    }

    /// SIGKILL by PID, and reaps it. Returns the PID killed.
    pub fn kill(&mut self) -> Option<u32> {
        kill_child(&mut self.child)
    }

    /// Whether the server exited on its own, and how.
    pub fn exited(&mut self) -> Option<String> {
        child_exited(&mut self.child)
    }
}

/// SIGKILLs the child, if any, by PID and reaps it. Returns the PID killed.
pub fn kill_child(child: &mut Option<Child>) -> Option<u32> {
    let mut child = child.take()?;
    let pid = child.id();
    // std's Child::kill is kill(pid, SIGKILL).
    let _ = child.kill();
    let _ = child.wait();
    Some(pid)
}

/// Whether the child exited on its own, and how (it is then forgotten).
pub fn child_exited(child: &mut Option<Child>) -> Option<String> {
    match child.as_mut()?.try_wait() {
        Ok(Some(status)) => {
            *child = None;
            Some(status.to_string())
        }
        _ => None,
    }
}

impl Drop for LedgerServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET /metrics` of a server's `--metrics-listen` address, summed over
/// the lines of `metric` (every label set): None when it cannot be read.
pub fn metric_total(address: &str, metric: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(
        text.lines()
            .filter(|line| {
                line.strip_prefix(metric)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            // From +0.0: `sum` of no series (a counter never incremented
            // is not exported) would be -0.0, printed "-0".
            .fold(0.0, |total, value| total + value),
    )
}

/// Runs the `ledger` binary to its end: exit code (None when killed) and
/// its output.
pub fn run_ledger(
    binary: &Path,
    database_url: &str,
    arguments: &[&str],
) -> anyhow::Result<(Option<i32>, String)> {
    let output = Command::new(binary)
        .args(arguments)
        .env("DATABASE_URL", database_url)
        .env_remove("LEDGER_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .context("run ledger")?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok((output.status.code(), text))
}

/// Waits up to 60 s for a child started with piped stdout to print a line
/// starting with `ready` (the line a ledger command prints once it serves),
/// reading the rest of its stdout on a thread; kills and reaps it otherwise.
pub fn wait_until_ready(
    mut child: Child,
    ready: &'static str,
    name: &str,
) -> anyhow::Result<Child> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let ready_line = wait_for_line(stdout, Duration::from_secs(60), move |line| {
        line.starts_with(ready).then_some(())
    });
    match ready_line {
        Some(()) => Ok(child),
        None => {
            let _ = child.kill();
            let status = child.wait()?;
            bail!("{name} did not start: {status}")
        }
    }
}
