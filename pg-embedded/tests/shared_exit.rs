//! The shared throwaway cluster goes away with the process that started it.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use pg_embedded::shared_throwaway;

const CHILD: &str = "PG_EMBEDDED_SHARED_EXIT_CHILD";

#[test]
fn the_shared_throwaway_cluster_is_stopped_and_removed_when_the_process_exits() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_a_child_process_uses_the_shared_cluster",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the child failed: {output:?}");
    let value = |key: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .unwrap_or_else(|| panic!("the child printed no {key}: {stdout}"))
            .to_owned()
    };
    let data_dir = PathBuf::from(value("DATA_DIR="));
    let pid = value("PID=");
    assert!(!data_dir.exists(), "{} is left behind", data_dir.display());
    // pg_ctl stop returns once the pid file is gone, a moment before the process is.
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_runs(&pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !process_runs(&pid),
        "the server (pid {pid}) outlived the process"
    );
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn process_runs(pid: &str) -> bool {
    let Ok(pid) = pid.trim().parse::<u32>() else {
        return false;
    };
    matches!(pg_embedded::process_state(pid), Some(state) if state != 'Z')
}

/// Run by the test above in a process of its own; does nothing otherwise.
#[test]
fn helper_a_child_process_uses_the_shared_cluster() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let info = shared_throwaway();
    let pid_file = fs::read_to_string(info.socket_dir().join("postmaster.pid")).unwrap();
    println!("DATA_DIR={}", info.socket_dir().display());
    println!("PID={}", pid_file.lines().next().unwrap().trim());
}
