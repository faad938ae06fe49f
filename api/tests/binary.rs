//! The `ledger` binary as an operator runs it: `serve` on its embedded
//! PostgreSQL until SIGTERM, then stopping cleanly and saying so; and, run as
//! root from a home directory the `postgres` user cannot enter, a data
//! directory it can reach.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ledger_api::serving_line::wait_for_serving_address;

#[tokio::test]
async fn serve_runs_on_the_embedded_database_and_stops_cleanly_on_sigterm() {
    let directory = tempfile::tempdir().unwrap();
    // Run as root, the cluster runs as `postgres`, which must reach the data dir.
    std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = directory.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("LEDGER_TOKENS", "operator=operator-token-00000001")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let stderr_lines = std::thread::spawn(move || {
        stderr
            .lines()
            .map_while(Result::ok)
            .inspect(|line| eprintln!("ledger: {line}"))
            .collect::<Vec<String>>()
    });
    // Read stdout to its end on a thread: the pipe stays open for everything
    // the server (and pg_ctl under it) prints while stopping.
    let address = wait_for_serving_address(child.stdout.take().unwrap(), Duration::from_secs(60))
        .expect("the server says where it listens");

    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "ledger.v1.LedgerService".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let postmaster_pid = data_dir.join("postgres").join("postmaster.pid");
    assert!(postmaster_pid.exists(), "the embedded cluster runs");
    // The client hangs up, as grpcurl does: nothing holds the shutdown.
    drop(health);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not stop"
        );
        // Awaited, so that the client's tasks run and see the server go away.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    assert!(!postmaster_pid.exists(), "the embedded cluster was stopped");

    // It said, in order, that it shuts down, what it waits for, and that it stopped.
    let stderr = stderr_lines.join().unwrap();
    let expected = [
        "shutting down: accepting no new connections, ending confirmation streams, waiting for \
         in-flight requests to finish and clients to close their connections (at most 10 s)",
        "shutting down: in-flight requests finished, connections closed",
        "shutting down: closing the database pool (",
        "shutting down: releasing the embedded PostgreSQL in ",
        "shutting down: the embedded PostgreSQL stopped",
        "stopped",
    ];
    let mut position = 0;
    for line in expected {
        let found = stderr[position..]
            .iter()
            .position(|said| said.starts_with(line))
            .unwrap_or_else(|| panic!("{line:?} after line {position} in {stderr:#?}"));
        position += found + 1;
    }
    assert_eq!(
        stderr.last().map(String::as_str),
        Some("stopped"),
        "{stderr:#?}"
    );
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// Runs the binary in `directory` with `arguments`, on the embedded cluster,
/// with only the given data-directory variables set.
fn ledger_in(directory: &Path, arguments: &[&str], environment: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
    command
        .args(arguments)
        .current_dir(directory)
        .env_remove("DATABASE_URL")
        .env_remove("LEDGER_DATA_DIR")
        .env_remove("LEDGER_DEFAULT_DATA_DIR")
        .env_remove("RUST_LOG");
    for (name, value) in environment {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    Output {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[derive(Debug)]
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A checkout in a private home directory (mode 0700, as /root is), which
/// the `postgres` user cannot enter; removes what the ledger put under
/// /var/lib/ledger for it.
struct PrivateHome {
    _temp: tempfile::TempDir,
    home: PathBuf,
    checkout: PathBuf,
    fallbacks: Vec<PathBuf>,
}

impl PrivateHome {
    fn new() -> PrivateHome {
        let temp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = temp.path().canonicalize().unwrap().join("root");
        let checkout = home.join("ledger");
        std::fs::create_dir_all(&checkout).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        PrivateHome {
            _temp: temp,
            home,
            checkout,
            fallbacks: Vec::new(),
        }
    }

    /// The directory the ledger said it uses instead of `default`.
    fn fallback_said(&mut self, stderr: &str, default: &Path) -> PathBuf {
        let line = stderr
            .lines()
            .find(|line| line.starts_with("data directory: "))
            .unwrap_or_else(|| panic!("no data directory line in {stderr}"));
        assert!(
            line.contains(&format!(
                "{} is out of reach of the `postgres` user",
                default.display()
            )),
            "{line}"
        );
        assert!(
            line.contains(&format!("({} has mode 700)", self.home.display())),
            "{line}"
        );
        let rest = line.split("; using ").nth(1).unwrap();
        let fallback = PathBuf::from(rest.split(" instead").next().unwrap());
        assert!(fallback.starts_with("/var/lib/ledger/"), "{line}");
        assert!(
            fallback
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("ledger-"),
            "named after the checkout: {line}"
        );
        if !self.fallbacks.contains(&fallback) {
            self.fallbacks.push(fallback.clone());
        }
        fallback
    }
}

impl Drop for PrivateHome {
    fn drop(&mut self) {
        for fallback in &self.fallbacks {
            let _ = std::fs::remove_dir_all(fallback);
        }
    }
}

#[test]
fn root_in_a_private_home_gets_a_reachable_data_directory_and_the_same_one_next_time() {
    let mut home = PrivateHome::new();
    let checkout = home.checkout.clone();
    let default = checkout.join(".ledger");
    if !running_as_root() {
        // Only root runs its cluster as another user: the default is used.
        let run = ledger_in(&checkout, &["migrate"], &[]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(!run.stderr.contains("out of reach"), "{run:?}");
        return;
    }

    // `ledger migrate` in the checkout: .ledger there is out of reach.
    let first = ledger_in(&checkout, &["migrate"], &[]);
    assert_eq!(first.code, 0, "{first:?}");
    let fallback = home.fallback_said(&first.stderr, &default);
    assert!(
        first.stderr.contains(&format!(
            "database: embedded PostgreSQL in {}",
            fallback.join("postgres").display()
        )),
        "{first:?}"
    );
    assert!(first.stdout.contains("migrations: applied"), "{first:?}");
    assert!(fallback.join("postgres").join("PG_VERSION").exists());

    // Next time, the same directory, with the books it holds.
    let second = ledger_in(&checkout, &["migrate"], &[]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(home.fallback_said(&second.stderr, &default), fallback);
    assert!(
        second.stdout.contains("migrations: up to date"),
        "{second:?}"
    );

    // scripts/run's default (the repository's .ledger), from anywhere: the same.
    let elsewhere = tempfile::tempdir().unwrap();
    let from_scripts_run = ledger_in(
        elsewhere.path(),
        &["migrate"],
        &[("LEDGER_DEFAULT_DATA_DIR", &default)],
    );
    assert_eq!(from_scripts_run.code, 0, "{from_scripts_run:?}");
    assert_eq!(
        home.fallback_said(&from_scripts_run.stderr, &default),
        fallback
    );
    assert!(
        from_scripts_run.stdout.contains("migrations: up to date"),
        "{from_scripts_run:?}"
    );
    // `db status` looks at the same cluster.
    let status = ledger_in(&checkout, &["db", "status"], &[]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(
        status.stdout.contains(&format!(
            "data directory: {}",
            fallback.join("postgres").display()
        )),
        "{status:?}"
    );
    assert!(!default.exists(), "nothing was created in the private home");
}

#[test]
fn a_data_directory_named_explicitly_out_of_reach_of_postgres_still_fails_saying_why() {
    let home = PrivateHome::new();
    if !running_as_root() {
        return; // only root runs its cluster as another user
    }
    let named = home.checkout.join("books");
    for (arguments, environment) in [
        (
            vec!["--data-dir", named.to_str().unwrap(), "migrate"],
            vec![],
        ),
        (vec!["migrate"], vec![("LEDGER_DATA_DIR", named.as_path())]),
    ] {
        let run = ledger_in(&home.checkout, &arguments, &environment);
        assert_eq!(run.code, 2, "{arguments:?}: {run:?}");
        assert!(!run.stderr.contains("out of reach"), "{run:?}");
        assert!(
            run.stderr.contains(&format!(
                "{} (mode 700) is not traversable",
                home.home.display()
            )),
            "{run:?}"
        );
        assert!(
            run.stderr
                .contains(&format!("chmod o+x {}", home.home.display())),
            "{run:?}"
        );
    }
}
