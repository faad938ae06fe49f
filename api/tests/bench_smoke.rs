//! The gRPC benchmark's smoke run: a second per point, a few clients, every
//! scenario (two server processes on one database among them), with and
//! without group commit. It checks what the benchmark
//! checks (a clean audit, no replay applied twice, every payment stored under
//! exactly one request) and asserts no timing.

use std::process::Command;

#[test]
fn the_benchmark_runs_every_scenario_and_finds_its_own_results_correct() {
    let output = Command::new(env!("CARGO_BIN_EXE_ledger-bench"))
        .args([
            "--clients",
            "4",
            "--seconds",
            "1",
            "--warmup-seconds",
            "0",
            "--no-peers",
        ])
        .env_remove("DATABASE_URL")
        .env("LEDGER_BIN", env!("CARGO_BIN_EXE_ledger"))
        .output()
        .expect("the benchmark runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "uniform scenario, 4 clients",
        "hot scenario, 4 clients",
        "two-servers scenario, 4 clients",
        "server peak RSS",
        "service, group commit",
        "service, tx per request",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
}

#[test]
fn the_benchmark_compares_two_builds_in_alternated_rounds_and_prints_their_medians() {
    let ledger = env!("CARGO_BIN_EXE_ledger");
    let output = Command::new(env!("CARGO_BIN_EXE_ledger-bench"))
        .args([
            "--scenario",
            "hot",
            "--clients",
            "2",
            "--seconds",
            "1",
            "--warmup-seconds",
            "0",
            "--compare-with",
            ledger,
            "--rounds",
            "2",
        ])
        .env_remove("DATABASE_URL")
        .env("LEDGER_BIN", ledger)
        .output()
        .expect("the benchmark runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "round 1 A:",
        "round 1 B:",
        "round 2 B:",
        "round 2 A:",
        "p99 median",
        "B ahead in",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    // Only the two builds run: no peers, no per-request server.
    assert!(!stdout.contains("pgbench"), "{stdout}");
    assert!(!stdout.contains("tx per request"), "{stdout}");
}
