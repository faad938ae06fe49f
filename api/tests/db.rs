//! The embedded PostgreSQL cluster's lifetime as an operator sees it: the
//! last ledger process using it stops it, whoever started it, a killed
//! process does not keep it running, and `ledger db status|stop` describe
//! and stop it. The real binary on a real cluster in a fresh data directory.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ledger_api::serving_line::wait_for_serving_address;

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A fresh data directory, reachable by the `postgres` user when run as root.
struct DataDir {
    _temp: tempfile::TempDir,
    path: PathBuf,
}

impl DataDir {
    fn new() -> DataDir {
        let temp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = temp.path().join("data");
        DataDir { _temp: temp, path }
    }

    /// The cluster's data directory, as `ledger db status` prints it.
    fn postgres(&self) -> PathBuf {
        self.path.join("postgres").canonicalize().unwrap()
    }

    /// The postmaster's pid, if the cluster runs.
    fn server_pid(&self) -> Option<u32> {
        let text =
            std::fs::read_to_string(self.path.join("postgres").join("postmaster.pid")).ok()?;
        let pid = text.lines().next()?.trim().parse().ok()?;
        process_runs(pid).then_some(pid)
    }

    /// Whether the cluster still runs, after giving a stopping server a
    /// moment to be gone (`pg_ctl stop` returns as its pid file goes).
    fn server_runs_after_a_moment(&self, pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_runs(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        process_runs(pid)
    }

    /// Runs `ledger --data-dir <dir> <arguments>` without DATABASE_URL.
    fn ledger(&self, arguments: &[&str]) -> Run {
        self.ledger_with(arguments, None)
    }

    fn ledger_with(&self, arguments: &[&str], database_url: Option<&str>) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
        command
            .arg("--data-dir")
            .arg(&self.path)
            .args(arguments)
            .env_remove("DATABASE_URL")
            .env_remove("LEDGER_DATA_DIR")
            .env_remove("RUST_LOG");
        if let Some(url) = database_url {
            command.env("DATABASE_URL", url);
        }
        let output = command.output().unwrap();
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn process_runs(pid: u32) -> bool {
    matches!(pg_embedded::process_state(pid), Some(state) if state != 'Z')
}

/// A `ledger serve` on the embedded cluster of a data directory.
struct Serve {
    child: Child,
}

impl Serve {
    /// Starts it and waits until it serves.
    fn start(data_dir: &DataDir) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .arg("--data-dir")
            .arg(&data_dir.path)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("DATABASE_URL")
            .env_remove("LEDGER_DATA_DIR")
            .env("LEDGER_TOKENS", "operator=operator-token-00000001")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        wait_for_serving_address(child.stdout.take().unwrap(), Duration::from_secs(120))
            .expect("the server says where it listens");
        Serve { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, and waits for a clean exit.
    fn terminate(mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let started = Instant::now();
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(exit.success(), "exit status {exit:?}");
    }

    /// SIGKILL: a crash, nothing released.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// The text after `name: ` on its own line.
fn field<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"))
}

fn assert_field(run: &Run, name: &str, expected: &str) {
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(field(&run.stdout, name), expected, "{run:?}");
}

#[test]
fn a_command_run_after_a_killed_serve_adopts_the_cluster_and_stops_it_at_exit() {
    let data_dir = DataDir::new();
    Serve::start(&data_dir).kill();
    let pid = data_dir
        .server_pid()
        .expect("a killed serve leaves the cluster running");

    let migrate = data_dir.ledger(&["migrate"]);
    assert_eq!(migrate.code, 0, "{migrate:?}");
    assert!(
        !data_dir.server_runs_after_a_moment(pid),
        "the adopted cluster was stopped when its last user exited"
    );
}

#[test]
fn two_serves_share_the_cluster_and_only_the_last_to_exit_stops_it() {
    let data_dir = DataDir::new();
    let first = Serve::start(&data_dir);
    let second = Serve::start(&data_dir);
    let pid = data_dir.server_pid().unwrap();
    let status = data_dir.ledger(&["db", "status"]);
    let users = format!("2 live ledger processes (pids {})", {
        let mut pids = [first.pid(), second.pid()];
        pids.sort();
        format!("{}, {}", pids[0], pids[1])
    });
    assert_field(&status, "users", &users);

    first.terminate();
    assert!(data_dir.server_pid().is_some(), "the second serve uses it");
    let status = data_dir.ledger(&["db", "status"]);
    assert_field(
        &status,
        "users",
        &format!("1 live ledger process (pid {})", second.pid()),
    );
    second.terminate();
    assert!(!data_dir.server_runs_after_a_moment(pid));
}

#[test]
fn db_status_describes_the_cluster_and_its_live_ledger_processes() {
    let data_dir = DataDir::new();
    let empty = data_dir.ledger(&["db", "status"]);
    assert_field(
        &empty,
        "server",
        "not running, no cluster yet (the first command that needs the database creates it)",
    );
    assert_field(&empty, "users", "no live ledger process");

    let serve = Serve::start(&data_dir);
    let pid = data_dir.server_pid().unwrap();
    let postgres = data_dir.postgres();
    let running = data_dir.ledger(&["db", "status"]);
    assert_field(&running, "data directory", &postgres.display().to_string());
    assert_field(
        &running,
        "server",
        &format!(
            "running, pid {pid}, socket directory {} (port 5432)",
            postgres.display()
        ),
    );
    assert_field(
        &running,
        "users",
        &format!("1 live ledger process (pid {})", serve.pid()),
    );

    serve.kill();
    let orphaned = data_dir.ledger(&["db", "status"]);
    assert_field(
        &orphaned,
        "server",
        &format!(
            "running, pid {pid}, socket directory {} (port 5432)",
            postgres.display()
        ),
    );
    assert_field(&orphaned, "users", "no live ledger process");

    let stopped = data_dir.ledger(&["db", "stop"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let status = data_dir.ledger(&["db", "status"]);
    assert_field(&status, "server", "not running");
}

#[test]
fn db_stop_refuses_while_a_ledger_process_uses_the_cluster_unless_forced() {
    let data_dir = DataDir::new();
    let serve = Serve::start(&data_dir);
    let pid = data_dir.server_pid().unwrap();

    let refused = data_dir.ledger(&["db", "stop"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(
        refused.stderr.trim(),
        format!(
            "error: refusing to stop PostgreSQL (pid {pid}) in {}: 1 live ledger process (pid {}) \
             uses it; stop it first, or use --force",
            data_dir.path.join("postgres").display(),
            serve.pid()
        ),
        "{refused:?}"
    );
    assert!(data_dir.server_pid().is_some(), "still running");

    let forced = data_dir.ledger(&["db", "stop", "--force"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(
        forced
            .stdout
            .starts_with(&format!("stopped PostgreSQL (pid {pid}) in ")),
        "{forced:?}"
    );
    assert!(!data_dir.server_runs_after_a_moment(pid));
    serve.kill();
}

#[test]
fn db_stop_stops_a_cluster_left_running_by_a_killed_process() {
    let data_dir = DataDir::new();
    Serve::start(&data_dir).kill();
    let pid = data_dir.server_pid().unwrap();

    let stopped = data_dir.ledger(&["db", "stop"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert_eq!(
        stopped.stdout.trim(),
        format!(
            "stopped PostgreSQL (pid {pid}) in {}",
            data_dir.path.join("postgres").display()
        )
    );
    assert!(!data_dir.server_runs_after_a_moment(pid));

    let again = data_dir.ledger(&["db", "stop"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains("is not running") && again.stdout.contains("nothing to stop"),
        "{again:?}"
    );
}

#[test]
fn db_commands_with_database_url_set_say_they_manage_only_the_embedded_cluster() {
    let data_dir = DataDir::new();
    for command in [
        &["db", "status"][..],
        &["db", "stop"],
        &["db", "stop", "--force"],
    ] {
        let run = data_dir.ledger_with(command, Some("postgres://ledger@db.invalid/ledger"));
        assert_eq!(run.code, 2, "{command:?}: {run:?}");
        assert!(
            run.stderr
                .contains("ledger db manages only the embedded PostgreSQL cluster"),
            "{command:?}: {run:?}"
        );
        assert!(run.stdout.is_empty(), "{command:?}: {run:?}");
    }
    assert!(!data_dir.path.exists(), "nothing is created");
}
