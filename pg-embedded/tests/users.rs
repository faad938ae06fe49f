//! A cluster is stopped when its last live user lets go of it, whoever started it, and a
//! killed user does not keep it running. Each user is a process of its own: this test binary
//! run again as a helper that starts (or adopts) the cluster, says so, and waits for a line
//! on its standard input to release it and exit.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use pg_embedded::{status, stop_unused, Cluster, ClusterOptions, Durability, StopOutcome};

/// Set in a helper process: the data directory of the cluster to use.
const HELPER_DATA_DIR: &str = "PG_EMBEDDED_USERS_HELPER_DATA_DIR";

/// A helper process using the cluster.
struct User {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    started_here: bool,
}

impl User {
    /// Starts a helper that starts or adopts the cluster in `data_dir`, and waits until it has.
    fn start(data_dir: &Path) -> User {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "helper_a_process_uses_the_cluster_until_told_to_exit",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_DATA_DIR, data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let started_here = loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).unwrap();
            assert!(read > 0, "the helper exited before using the cluster");
            // libtest prints the test's name on the same line, before it.
            if let Some((_, value)) = line.trim().split_once("STARTED_HERE=") {
                break value == "true";
            }
        };
        User {
            child,
            stdin,
            stdout,
            started_here,
        }
    }

    /// Tells the helper to release the cluster and exit, and waits for a clean exit.
    fn exit(mut self) {
        writeln!(self.stdin, "exit").unwrap();
        drop(self.stdin);
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stdout, &mut rest);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the helper failed: {status:?} {rest}");
    }

    /// Kills the helper with SIGKILL: it releases nothing.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A fresh, empty directory for a cluster of the test's own.
fn fresh_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pg-embedded-users-")
        .tempdir_in(std::env::temp_dir())
        .unwrap()
}

/// The postmaster's pid, while `postmaster.pid` exists.
fn postmaster_pid(data_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Whether the server runs: a live (not zombie) postmaster.
fn server_runs(data_dir: &Path) -> bool {
    postmaster_pid(data_dir)
        .is_some_and(|pid| matches!(pg_embedded::process_state(pid), Some(state) if state != 'Z'))
}

/// Waits a little for a stopped server's process to be gone (`pg_ctl stop` returns once the
/// pid file is removed, a moment before), then says whether it still runs.
fn server_still_runs_after_stop(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let runs = || matches!(pg_embedded::process_state(pid), Some(state) if state != 'Z');
    while runs() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    runs()
}

#[test]
fn a_cluster_adopted_by_a_second_process_is_stopped_when_that_last_user_exits() {
    let dir = fresh_dir();
    let starter = User::start(dir.path());
    assert!(starter.started_here);
    let adopter = User::start(dir.path());
    assert!(
        !adopter.started_here,
        "the second process adopts the server"
    );
    let pid = postmaster_pid(dir.path()).unwrap();

    starter.exit();
    assert!(server_runs(dir.path()), "the adopter still uses the server");
    adopter.exit();
    assert!(
        !server_still_runs_after_stop(pid),
        "the last user to exit stops the server it adopted"
    );
}

#[test]
fn a_process_that_exits_while_another_uses_the_cluster_leaves_it_running() {
    let dir = fresh_dir();
    let starter = User::start(dir.path());
    let adopter = User::start(dir.path());
    let pid = postmaster_pid(dir.path()).unwrap();

    adopter.exit();
    assert!(server_runs(dir.path()), "the starter still uses the server");
    assert_eq!(status(dir.path()).unwrap().users.len(), 1);
    starter.exit();
    assert!(!server_still_runs_after_stop(pid));
}

#[test]
fn a_killed_process_does_not_keep_the_cluster_running_after_the_last_live_user_exits() {
    let dir = fresh_dir();
    let starter = User::start(dir.path());
    let adopter = User::start(dir.path());
    let pid = postmaster_pid(dir.path()).unwrap();

    starter.kill();
    assert!(server_runs(dir.path()), "a killed user stops nothing");
    let users = status(dir.path()).unwrap().users;
    assert_eq!(users.len(), 1, "only the live user counts: {users:?}");
    adopter.exit();
    assert!(
        !server_still_runs_after_stop(pid),
        "the killed process's registration did not keep the server running"
    );
}

#[test]
fn a_process_adopting_the_cluster_of_a_killed_process_stops_it_when_it_exits() {
    let dir = fresh_dir();
    User::start(dir.path()).kill();
    assert!(
        server_runs(dir.path()),
        "the killed process left the server running"
    );
    let pid = postmaster_pid(dir.path()).unwrap();

    let next = User::start(dir.path());
    assert!(!next.started_here);
    next.exit();
    assert!(!server_still_runs_after_stop(pid));
}

#[test]
fn handles_in_one_process_each_count_as_a_user() {
    let dir = fresh_dir();
    let options = ClusterOptions {
        data_dir: dir.path().to_path_buf(),
        durability: Durability::Fast,
    };
    let mut first = Cluster::start(options.clone()).unwrap();
    let mut second = Cluster::start(options).unwrap();
    assert_eq!(status(dir.path()).unwrap().users.len(), 2);
    let pid = postmaster_pid(dir.path()).unwrap();

    let released = first.release().unwrap();
    assert!(
        matches!(&released, pg_embedded::Released::StillUsed { users } if users.len() == 1),
        "{released:?}"
    );
    assert_eq!(
        first.release().unwrap(),
        pg_embedded::Released::AlreadyReleased
    );
    assert!(server_runs(dir.path()));
    assert_eq!(second.release().unwrap(), pg_embedded::Released::Stopped);
    assert!(!server_still_runs_after_stop(pid));
}

#[test]
fn status_describes_the_running_server_and_its_live_users() {
    let dir = fresh_dir();
    let before = status(dir.path().join("nothing-here")).unwrap();
    assert!(!before.initialized);
    assert!(before.server.is_none());
    assert!(before.users.is_empty());

    let user = User::start(dir.path());
    let running = status(dir.path()).unwrap();
    assert!(running.initialized);
    assert_eq!(running.data_dir, dir.path().canonicalize().unwrap());
    let server = running.server.expect("the server runs");
    assert_eq!(Some(server.pid), postmaster_pid(dir.path()));
    assert_eq!(server.socket_dir, running.data_dir);
    assert_eq!(server.port, pg_embedded::PORT);
    assert_eq!(running.users.len(), 1);
    assert_eq!(running.users[0].pid, user.child.id());
    user.exit();

    let stopped = status(dir.path()).unwrap();
    assert!(stopped.initialized);
    assert!(stopped.server.is_none());
    assert!(stopped.users.is_empty());
}

#[test]
fn stop_unused_refuses_while_a_live_process_uses_the_cluster_unless_forced() {
    let dir = fresh_dir();
    let user = User::start(dir.path());
    let pid = postmaster_pid(dir.path()).unwrap();

    match stop_unused(dir.path(), false).unwrap() {
        StopOutcome::InUse { server, users } => {
            assert_eq!(server.pid, pid);
            assert_eq!(users.len(), 1);
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(server_runs(dir.path()));
    match stop_unused(dir.path(), true).unwrap() {
        StopOutcome::Stopped { server, users } => {
            assert_eq!(server.pid, pid);
            assert_eq!(users.len(), 1);
        }
        other => panic!("expected Stopped, got {other:?}"),
    }
    assert!(!server_still_runs_after_stop(pid));
    assert_eq!(
        stop_unused(dir.path(), false).unwrap(),
        StopOutcome::NotRunning
    );
    // The user, its server gone, exits cleanly.
    user.exit();
    assert!(!server_runs(dir.path()));
}

#[test]
fn stop_unused_stops_a_cluster_only_killed_processes_used() {
    let dir = fresh_dir();
    User::start(dir.path()).kill();
    let pid = postmaster_pid(dir.path()).unwrap();
    assert!(matches!(
        stop_unused(dir.path(), false).unwrap(),
        StopOutcome::Stopped { users, .. } if users.is_empty()
    ));
    assert!(!server_still_runs_after_stop(pid));
}

/// Run by the tests above in a process of its own; does nothing otherwise.
#[test]
fn helper_a_process_uses_the_cluster_until_told_to_exit() {
    let Some(data_dir) = std::env::var_os(HELPER_DATA_DIR) else {
        return;
    };
    let cluster = Cluster::start(ClusterOptions {
        data_dir: data_dir.into(),
        durability: Durability::Fast,
    })
    .unwrap();
    println!("STARTED_HERE={}", cluster.started_here());
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(cluster);
}
