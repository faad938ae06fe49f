//! Guards issue 4: the `ledger serve` binary as an operator runs it: on its
//! embedded PostgreSQL, serving until SIGTERM, then stopping cleanly.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
        .env("LEDGER_TOKENS", "operator=operator-token-00000001")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Read stdout to its end on a thread: the pipe stays open for everything
    // the server (and pg_ctl under it) prints while stopping.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (address_sender, address_receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("serving ledger.v1.LedgerService on ") {
                let _ = address_sender.send(rest.trim().to_owned());
            }
        }
    });
    let address = address_receiver
        .recv_timeout(Duration::from_secs(60))
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
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    assert!(!postmaster_pid.exists(), "the embedded cluster was stopped");
}
