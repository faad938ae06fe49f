//! Support for the labelled corpus (`api/tests/corpus.rs`): what a case
//! wrote (row counts and every balance, before and after), the panics the
//! service raised, and the summary table.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The tables a request can write to.
pub const TABLES: [&str; 5] = [
    "payments",
    "transfers",
    "outbox",
    "idempotency_records",
    "payment_conflicts",
];

/// What the ledger holds: row counts per table and every account's balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub counts: BTreeMap<&'static str, i64>,
    pub balances: BTreeMap<String, [i64; 4]>,
}

pub async fn snapshot(client: &tokio_postgres::Client) -> Snapshot {
    let mut counts = BTreeMap::new();
    for table in TABLES {
        counts.insert(
            table,
            ledger_system_tests::invariants::count(client, table).await,
        );
    }
    Snapshot {
        counts,
        balances: ledger_system_tests::invariants::balances(client).await,
    }
}

/// The rows a case may add, per table, and whether balances may move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writes {
    pub rows: BTreeMap<&'static str, i64>,
    pub balances_move: bool,
}

impl Writes {
    pub fn nothing() -> Writes {
        Writes {
            rows: TABLES.iter().map(|table| (*table, 0)).collect(),
            balances_move: false,
        }
    }

    /// What a set of answers writes (docs/semantics.md §1, "Missing
    /// predecessor", "Audit flags"): one payment, transfer and outbox row
    /// per newly applied credit transfer; an idempotency record per stored
    /// request (`requests` of them unless a transient refusal undid it); a
    /// conflict row per audit-flagged refusal of a stored request.
    pub fn of(outcomes: &[(String, String)], per_transaction_requests: bool) -> Writes {
        let transient =
            |reason: &str| matches!(reason, "ORIGINAL_NOT_FOUND" | "REQUEST_NOT_APPLIED");
        let flagged = |reason: &str| {
            matches!(
                reason,
                "BUSINESS_KEY_CONFLICT" | "STATE_CONFLICT" | "DEBIT_ACCOUNT_OUT_OF_SCOPE"
            )
        };
        let stored: Vec<&(String, String)> = if per_transaction_requests {
            outcomes
                .iter()
                .filter(|(_, reason)| !transient(reason))
                .collect()
        } else if outcomes.iter().any(|(_, reason)| transient(reason)) {
            Vec::new()
        } else {
            outcomes.iter().collect()
        };
        let applied = stored
            .iter()
            .filter(|(outcome, _)| outcome == "APPLIED")
            .count() as i64;
        let records = if per_transaction_requests {
            stored.len() as i64
        } else {
            i64::from(!stored.is_empty())
        };
        let conflicts = stored.iter().filter(|(_, reason)| flagged(reason)).count() as i64;
        let mut rows = BTreeMap::new();
        rows.insert("payments", applied);
        rows.insert("transfers", applied);
        rows.insert("outbox", applied);
        rows.insert("idempotency_records", records);
        rows.insert("payment_conflicts", conflicts);
        Writes {
            rows,
            balances_move: applied > 0,
        }
    }

    /// Every difference between what was written and what may be.
    pub fn check(&self, before: &Snapshot, after: &Snapshot) -> Vec<String> {
        let mut problems = Vec::new();
        for table in TABLES {
            let written = after.counts[table] - before.counts[table];
            let expected = self.rows[table];
            if written != expected {
                problems.push(format!(
                    "{table}: {written} row(s) written, expected {expected}"
                ));
            }
        }
        if !self.balances_move && before.balances != after.balances {
            let moved: Vec<&String> = after
                .balances
                .iter()
                .filter(|(account, balances)| before.balances.get(*account) != Some(balances))
                .map(|(account, _)| account)
                .collect();
            problems.push(format!("balances moved: {moved:?}"));
        }
        problems
    }
}

static SERVICE_PANICS: AtomicUsize = AtomicUsize::new(0);
static PANIC_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Counts every panic raised outside the test files (by the service, the
/// ledger or the codec), then lets the default hook print it.
pub fn count_service_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|location| location.file().to_owned())
            .unwrap_or_default();
        if !location.contains("tests/") {
            SERVICE_PANICS.fetch_add(1, Ordering::SeqCst);
            PANIC_MESSAGES
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(format!("{info}"));
        }
        default(info);
    }));
}

/// The panics raised outside the test files so far, with their messages.
pub fn service_panics() -> (usize, Vec<String>) {
    (
        SERVICE_PANICS.load(Ordering::SeqCst),
        PANIC_MESSAGES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone(),
    )
}

/// Cases passed and failed per message type and per expected answer.
#[derive(Debug, Default)]
pub struct Tally {
    by_message: BTreeMap<String, (usize, usize)>,
    by_answer: BTreeMap<String, (usize, usize)>,
    pub failures: Vec<String>,
}

impl Tally {
    pub fn record(&mut self, message: &str, answer: &str, problems: Vec<String>, case: &str) {
        let passed = problems.is_empty();
        for (key, map) in [
            (message, &mut self.by_message),
            (answer, &mut self.by_answer),
        ] {
            let entry = map.entry(key.to_owned()).or_default();
            if passed {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
        if !passed {
            self.failures.push(format!(
                "{case} (expected {answer}):\n    {}",
                problems.join("\n    ")
            ));
        }
    }

    pub fn total(&self) -> (usize, usize) {
        self.by_message
            .values()
            .fold((0, 0), |(passed, failed), (p, f)| (passed + p, failed + f))
    }

    /// The summary table: cases per message type and per expected answer.
    pub fn render(&self, title: &str) -> String {
        let mut out = String::new();
        let (passed, failed) = self.total();
        writeln!(
            out,
            "\n{title}: {} cases, {passed} passed, {failed} failed",
            passed + failed
        )
        .unwrap();
        for (heading, map) in [
            ("message type", &self.by_message),
            ("expected answer", &self.by_answer),
        ] {
            writeln!(
                out,
                "  {heading:<60} {:>6} {:>6} {:>6}",
                "cases", "passed", "failed"
            )
            .unwrap();
            for (key, (p, f)) in map {
                writeln!(out, "  {key:<60} {:>6} {p:>6} {f:>6}", p + f).unwrap();
            }
        }
        out
    }
}
