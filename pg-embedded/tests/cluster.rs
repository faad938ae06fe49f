//! A private PostgreSQL cluster starts, is reused, survives a crash, and stops.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pg_embedded::{
    find_binaries, shared_throwaway, socket_path, Cluster, ClusterError, ClusterOptions,
    ConnectionInfo, Durability,
};

/// Whether the server answers on its socket, asked with the installation's `pg_isready`.
fn accepts_connections(info: &ConnectionInfo) -> bool {
    let pg_isready = find_binaries()
        .unwrap()
        .tool("pg_isready")
        .expect("pg_isready ships with the server binaries");
    Command::new(pg_isready)
        .arg("-h")
        .arg(info.socket_dir())
        .args(["-p", &info.port.to_string(), "-U", &info.superuser])
        .status()
        .unwrap()
        .success()
}

/// Runs SQL with the installation's `psql`, if it has one.
fn psql(info: &ConnectionInfo, sql: &str) -> Option<String> {
    let psql = find_binaries().unwrap().tool("psql")?;
    let output = Command::new(psql)
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .arg(info.connection_string("postgres"))
        .output()
        .unwrap();
    assert!(output.status.success(), "psql failed: {output:?}");
    Some(String::from_utf8(output.stdout).unwrap().trim().to_owned())
}

/// A fresh, empty directory for a cluster of the test's own.
fn fresh_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pg-embedded-test-")
        .tempdir_in(std::env::temp_dir())
        .unwrap()
}

fn fast(data_dir: &Path) -> ClusterOptions {
    ClusterOptions {
        data_dir: data_dir.to_path_buf(),
        durability: Durability::Fast,
    }
}

fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn process_exists(pid: i32) -> bool {
    matches!(pg_embedded::process_state(pid as u32), Some(state) if state != 'Z')
}

#[test]
fn a_throwaway_cluster_accepts_connections_on_its_private_socket() {
    let cluster = Cluster::start_throwaway().unwrap();
    assert!(socket_path(cluster.socket_dir()).exists());
    assert_eq!(cluster.socket_dir(), cluster.data_dir());
    assert_eq!(cluster.superuser(), "ledger");
    assert_eq!(
        cluster.connection_string("ledger_test"),
        format!(
            "host={} port={} user=ledger dbname=ledger_test",
            cluster.socket_dir().display(),
            cluster.port()
        )
    );
    assert!(accepts_connections(&cluster.connection_info()));
    if let Some(answer) = psql(&cluster.connection_info(), "SHOW listen_addresses") {
        assert_eq!(answer, "", "the server must not listen on TCP");
    }
    if let Some(answer) = psql(&cluster.connection_info(), "SHOW fsync") {
        assert_eq!(answer, "off", "throwaway clusters are fast");
    }
}

#[test]
fn a_throwaway_clusters_directory_is_removed_when_it_is_dropped() {
    let cluster = Cluster::start_throwaway().unwrap();
    let data_dir: PathBuf = cluster.data_dir().to_path_buf();
    let pid = postmaster_pid(&data_dir).expect("a running server has a postmaster.pid");
    drop(cluster);
    assert!(!data_dir.exists(), "{} is left behind", data_dir.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_exists(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!process_exists(pid), "the server (pid {pid}) still runs");
}

#[test]
fn restarting_reuses_the_cluster_and_its_data() {
    let dir = fresh_dir();
    let mut first = Cluster::start(ClusterOptions::new(dir.path())).unwrap();
    assert!(first.started_here());
    let wrote = psql(
        &first.connection_info(),
        "CREATE TABLE marker (id int); INSERT INTO marker VALUES (42)",
    );
    first.stop().unwrap();
    assert!(!first.is_running().unwrap());
    drop(first);

    let second = Cluster::start(ClusterOptions::new(dir.path())).unwrap();
    assert!(second.started_here());
    assert!(accepts_connections(&second.connection_info()));
    if wrote.is_some() {
        let answer = psql(&second.connection_info(), "SELECT id FROM marker");
        assert_eq!(answer.as_deref(), Some("42"));
        let fsync = psql(&second.connection_info(), "SHOW fsync");
        assert_eq!(fsync.as_deref(), Some("on"), "durable clusters fsync");
    }
}

#[test]
fn starting_a_running_cluster_reuses_it_and_leaves_it_running_on_drop() {
    let dir = fresh_dir();
    let mut owner = Cluster::start(fast(dir.path())).unwrap();
    let reused = Cluster::start(fast(dir.path())).unwrap();
    assert!(!reused.started_here());
    assert_eq!(reused.connection_info(), owner.connection_info());
    drop(reused);
    assert!(owner.is_running().unwrap());
    assert!(accepts_connections(&owner.connection_info()));
    owner.stop().unwrap();
}

#[test]
fn stopping_twice_is_harmless() {
    let mut cluster = Cluster::start_throwaway().unwrap();
    cluster.stop().unwrap();
    cluster.stop().unwrap();
    assert!(!cluster.is_running().unwrap());
}

// A stale postmaster.pid after a crash must not block a restart.
#[test]
fn a_cluster_whose_server_was_killed_starts_again() {
    let dir = fresh_dir();
    let mut crashed = Cluster::start(fast(dir.path())).unwrap();
    let pid = postmaster_pid(dir.path()).unwrap();
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_exists(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        dir.path().join("postmaster.pid").exists(),
        "the pid file is stale"
    );
    assert!(!crashed.is_running().unwrap());
    crashed.stop().unwrap();

    let mut restarted = Cluster::start(fast(dir.path())).unwrap();
    assert!(restarted.started_here());
    assert!(accepts_connections(&restarted.connection_info()));
    restarted.stop().unwrap();
}

#[test]
fn a_data_directory_whose_socket_path_is_too_long_is_refused() {
    let dir = fresh_dir();
    let deep = dir.path().join("d".repeat(110));
    let err = Cluster::start(fast(&deep)).unwrap_err();
    match &err {
        ClusterError::SocketPathTooLong { path, len, max } => {
            assert_eq!(path, &deep.join(".s.PGSQL.5432"));
            assert!(len > max);
        }
        other => panic!("expected SocketPathTooLong, got {other:?}"),
    }
    assert!(err.to_string().contains(&deep.display().to_string()));
    assert!(!deep.exists(), "nothing is created for a refused directory");
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

// PostgreSQL refuses root, so as root the cluster runs as `postgres`.
#[test]
fn as_root_the_cluster_belongs_to_and_runs_as_the_postgres_user() {
    if !is_root() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let postgres = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    let cluster = Cluster::start_throwaway().unwrap();
    let owner = fs::metadata(cluster.data_dir()).unwrap().uid();
    assert_eq!(owner, postgres.uid.as_raw());
    let pid = postmaster_pid(cluster.data_dir()).unwrap();
    let server = fs::metadata(format!("/proc/{pid}")).unwrap().uid();
    assert_eq!(server, postgres.uid.as_raw());
}

// A parent like /root (0700) bars the server user; say so plainly.
#[test]
fn as_root_a_data_directory_the_server_user_cannot_reach_is_refused_with_the_fix() {
    if !is_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let private = fresh_dir();
    fs::set_permissions(private.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = private.path().join("data");
    let err = Cluster::start(fast(&data_dir)).unwrap_err();
    assert!(matches!(err, ClusterError::UserSetup { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("chmod o+x {}", private.path().display())),
        "{message}"
    );
}

#[test]
fn the_shared_throwaway_cluster_is_started_once_per_process() {
    let first = shared_throwaway();
    let second = shared_throwaway();
    assert!(std::ptr::eq(first, second));
    assert!(accepts_connections(first));
}

// A failed start says why, from the server log.
#[test]
fn a_failed_start_reports_the_tail_of_the_server_log() {
    let dir = fresh_dir();
    Cluster::start(fast(dir.path())).unwrap().stop().unwrap();
    let conf = dir.path().join("postgresql.conf");
    let mut text = fs::read_to_string(&conf).unwrap();
    text.push_str("\nshared_buffers = 'not a size'\n");
    fs::write(&conf, text).unwrap();

    let err = Cluster::start(fast(dir.path())).unwrap_err();
    match &err {
        ClusterError::Start { log_tail, .. } => {
            assert!(log_tail.contains("shared_buffers"), "{log_tail}")
        }
        other => panic!("expected Start, got {other:?}"),
    }
}
