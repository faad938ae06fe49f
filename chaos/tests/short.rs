//! The short version of every scenario, run as an operator runs the
//! harness: `ledger-chaos SCENARIO --size short --seed N` against the real
//! `ledger` binary. Correctness only (no timing): each test fails when the
//! harness reports a violation or cannot run. `--sabotage` corrupts one
//! balance before the checks, and the harness must then fail.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Builds the `ledger` binary once (same profile as this test), for
/// `LEDGER_BIN`: another package's binaries are not built for this one.
fn ledger_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("LEDGER_BIN") {
                return PathBuf::from(path);
            }
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "-p", "ledger-api", "--bin", "ledger"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build");
            assert!(status.success(), "cargo build -p ledger-api --bin ledger");
            let chaos = PathBuf::from(env!("CARGO_BIN_EXE_ledger-chaos"));
            let ledger = chaos.with_file_name("ledger");
            assert!(ledger.is_file(), "{} was built", ledger.display());
            ledger
        })
        .clone()
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
}

fn chaos(arguments: &[&str]) -> Outcome {
    let output = Command::new(env!("CARGO_BIN_EXE_ledger-chaos"))
        .args(arguments)
        .env("LEDGER_BIN", ledger_binary())
        .output()
        .expect("ledger-chaos runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    Outcome {
        code: output.status.code(),
        stdout,
    }
}

fn check_passes(scenario: &str, seed: &str) {
    let outcome = chaos(&[scenario, "--size", "short", "--seed", seed]);
    assert!(
        outcome.stdout.contains(&format!("seed {seed}")),
        "the scorecard names its seed"
    );
    assert!(
        outcome.stdout.contains("result: PASS (0 violations)"),
        "{scenario} found violations"
    );
    assert_eq!(outcome.code, Some(0), "{scenario} exits 0 when it passes");
}

#[test]
fn crash_with_killed_servers_and_a_crashed_database_loses_and_doubles_nothing() {
    check_passes("crash", "11");
}

#[test]
fn replay_storm_across_two_servers_applies_each_payment_once() {
    check_passes("replay-storm", "12");
}

#[test]
fn bank_snapshots_always_sum_to_the_initial_total() {
    check_passes("bank", "13");
}

#[test]
fn ingest_killed_five_times_applies_every_transaction_once() {
    check_passes("ingest-crash", "14");
}

#[test]
fn a_balance_corrupted_behind_the_ledgers_back_fails_the_scorecard() {
    let outcome = chaos(&[
        "replay-storm",
        "--size",
        "short",
        "--count",
        "40",
        "--seed",
        "15",
        "--sabotage",
    ]);
    assert_eq!(outcome.code, Some(1), "a violation exits 1");
    for invariant in [
        "balances equal every payment applied once",
        "ledger invariants in SQL",
        "`ledger reconcile` (the audit) clean",
    ] {
        assert!(
            outcome
                .stdout
                .lines()
                .any(|line| line.contains("[FAIL]") && line.contains(invariant)),
            "{invariant} is reported violated"
        );
    }
    assert!(outcome.stdout.contains("result: FAIL"));
}

#[test]
fn an_unknown_scenario_is_a_usage_error() {
    let outcome = chaos(&["no-such-scenario", "--size", "short"]);
    assert_eq!(outcome.code, Some(2));
}

#[test]
fn connections_cut_between_commit_and_its_reply_leave_every_payment_applied_once_or_not() {
    check_passes("ambiguous-commit", "16");
}

#[test]
fn relays_killed_and_nats_restarted_leave_each_outbox_row_once_in_the_stream() {
    let outcome = chaos(&["confirmations", "--size", "short", "--seed", "17"]);
    assert!(
        outcome.stdout.contains("result: PASS (0 violations)"),
        "confirmations found violations"
    );
    assert_eq!(
        outcome.code,
        Some(0),
        "confirmations exits 0 when it passes"
    );
    let scorecard: Vec<&str> = outcome
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("== scorecard"))
        .collect();
    let count = |text: &str| scorecard.iter().filter(|line| line.contains(text)).count();
    assert_eq!(count("SIGKILL relay#"), 3, "three relay kills");
    assert_eq!(count("nats-server started again"), 2, "two broker restarts");
    assert_eq!(count("outbox rows: 2000"), 1, "2,000 state changes written");
    assert_eq!(count("messages in the stream: 2000"), 1, "and streamed");
    // A message deleted from the stream behind the relays' back is caught.
    let sabotaged = chaos(&[
        "confirmations",
        "--size",
        "short",
        "--count",
        "200",
        "--seed",
        "19",
        "--sabotage",
    ]);
    assert_eq!(sabotaged.code, Some(1), "a violation exits 1");
    for invariant in [
        "stream message ids = outbox message ids",
        "inbox = outbox message ids",
    ] {
        assert!(
            sabotaged
                .stdout
                .lines()
                .any(|line| line.contains("[FAIL]      1 violations") && line.contains(invariant)),
            "{invariant} is reported violated once"
        );
    }
}
