//! The gRPC benchmark's smoke run: a second per point, a few clients, every
//! scenario (two server processes on one database among them), with and
//! without group commit. It checks what the benchmark
//! checks (a clean audit, no replay applied twice, every payment stored under
//! exactly one request) and asserts no timing.

use std::process::Command;

/// Runs `ledger-bench` with `arguments` on its own embedded cluster, the
/// server under test being this build's `ledger`; its standard output, once
/// it has succeeded, checked to hold every one of `expected`.
fn bench_says(arguments: &[&str], expected: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ledger-bench"))
        .args(arguments)
        .env_remove("DATABASE_URL")
        .env("LEDGER_BIN", env!("CARGO_BIN_EXE_ledger"))
        .output()
        .expect("the benchmark runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in expected {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    stdout
}

#[test]
fn the_benchmark_runs_every_scenario_and_finds_its_own_results_correct() {
    bench_says(
        &[
            "--clients",
            "4",
            "--seconds",
            "1",
            "--warmup-seconds",
            "0",
            "--no-peers",
        ],
        &[
            "uniform scenario, 4 clients",
            "hot scenario, 4 clients",
            "two-servers scenario, 4 clients",
            "server peak RSS",
            "service, group commit",
            "service, tx per request",
        ],
    );
}

#[test]
fn the_benchmark_compares_two_builds_in_alternated_rounds_and_prints_their_medians() {
    let stdout = bench_says(
        &[
            "--scenario",
            "hot",
            "--clients",
            "2",
            "--seconds",
            "1",
            "--warmup-seconds",
            "0",
            "--compare-with",
            env!("CARGO_BIN_EXE_ledger"),
            "--rounds",
            "2",
        ],
        &[
            "round 1 A:",
            "round 1 B:",
            "round 2 B:",
            "round 2 A:",
            "p99 median",
            "B ahead in",
        ],
    );
    // Only the two builds run: no peers, no per-request server.
    assert!(!stdout.contains("pgbench"), "{stdout}");
    assert!(!stdout.contains("tx per request"), "{stdout}");
}
