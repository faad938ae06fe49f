//! What a scenario prints: its seed and size, the faults it injected with
//! their times, the operations (ok, failed, unknown), every invariant with
//! its violation count, and a verdict. Any violation fails the run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many examples of a violated invariant are printed.
const EXAMPLES_MAX: usize = 10;

#[derive(Debug)]
pub struct Invariant {
    pub name: String,
    pub violations: u64,
    pub examples: Vec<String>,
}

#[derive(Debug)]
pub struct Scorecard {
    scenario: &'static str,
    seed: u64,
    size: &'static str,
    started: Instant,
    faults: Mutex<Vec<(Duration, String)>>,
    /// Operations (calls, runs) that got a definitive answer.
    pub ok: AtomicU64,
    /// Calls that got a definitive error (a non-retryable status).
    pub failed: AtomicU64,
    /// Calls whose outcome the caller could not know (a retryable error, a
    /// broken connection, a timeout): retried under the same key.
    pub unknown: AtomicU64,
    figures: Mutex<Vec<(String, String)>>,
    invariants: Mutex<Vec<Invariant>>,
}

impl Scorecard {
    pub fn new(scenario: &'static str, seed: u64, size: &'static str) -> Scorecard {
        println!("ledger-chaos {scenario}: seed {seed}, size {size}");
        Scorecard {
            scenario,
            seed,
            size,
            started: Instant::now(),
            faults: Mutex::new(Vec::new()),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            figures: Mutex::new(Vec::new()),
            invariants: Mutex::new(Vec::new()),
        }
    }

    /// Records (and prints at once) a fault injected now.
    pub fn fault(&self, what: impl Into<String>) {
        let what = what.into();
        let at = self.started.elapsed();
        println!("  +{:>8.3}s  {what}", at.as_secs_f64());
        self.faults.lock().unwrap().push((at, what));
    }

    pub fn faults_matching(&self, prefix: &str) -> usize {
        self.faults
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, what)| what.starts_with(prefix))
            .count()
    }

    /// A figure worth printing (counts, sizes).
    pub fn figure(&self, name: impl Into<String>, value: impl ToString) {
        self.figures
            .lock()
            .unwrap()
            .push((name.into(), value.to_string()));
    }

    /// Counts retryable errors by code, printed as one figure.
    pub fn retry_codes<'a>(&self, codes: impl Iterator<Item = &'a String>) {
        let mut by_code: std::collections::BTreeMap<&str, u64> = Default::default();
        for code in codes {
            *by_code.entry(code.as_str()).or_default() += 1;
        }
        let text = by_code
            .iter()
            .map(|(code, count)| format!("{code} {count}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.figure(
            "unknown outcomes by code (each retried under the same key)",
            if text.is_empty() {
                "none".to_owned()
            } else {
                text
            },
        );
    }

    pub fn count_ok(&self) {
        self.ok.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_unknown(&self) {
        self.unknown.fetch_add(1, Ordering::Relaxed);
    }

    /// An invariant and every violation found of it (empty: it held).
    pub fn invariant(&self, name: impl Into<String>, violations: Vec<String>) {
        self.invariant_counted(name, violations.len() as u64, violations);
    }

    /// An invariant with a violation count and some examples.
    pub fn invariant_counted(
        &self,
        name: impl Into<String>,
        violations: u64,
        examples: Vec<String>,
    ) {
        self.invariants.lock().unwrap().push(Invariant {
            name: name.into(),
            violations,
            examples: examples.into_iter().take(EXAMPLES_MAX).collect(),
        });
    }

    /// Prints the scorecard; true when no invariant was violated.
    pub fn print(&self) -> bool {
        let elapsed = self.started.elapsed();
        println!();
        println!(
            "== scorecard: {} (seed {}, size {}, {:.1} s) ==",
            self.scenario,
            self.seed,
            self.size,
            elapsed.as_secs_f64()
        );
        let faults = self.faults.lock().unwrap();
        println!("fault schedule ({} faults):", faults.len());
        for (at, what) in faults.iter() {
            println!("  +{:>8.3}s  {what}", at.as_secs_f64());
        }
        println!(
            "operations: ok {}, failed {}, unknown {}",
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.unknown.load(Ordering::Relaxed)
        );
        for (name, value) in self.figures.lock().unwrap().iter() {
            println!("  {name}: {value}");
        }
        println!("invariants:");
        let invariants = self.invariants.lock().unwrap();
        for invariant in invariants.iter() {
            let verdict = if invariant.violations == 0 {
                "ok  "
            } else {
                "FAIL"
            };
            println!(
                "  [{verdict}] {:>6} violations  {}",
                invariant.violations, invariant.name
            );
            for example in &invariant.examples {
                println!("           - {example}");
            }
        }
        let violations: u64 = invariants.iter().map(|i| i.violations).sum();
        let passed = violations == 0 && !invariants.is_empty();
        println!(
            "result: {} ({violations} violations)",
            if passed { "PASS" } else { "FAIL" }
        );
        passed
    }
}
