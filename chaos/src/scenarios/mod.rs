//! The scenarios, and the checks they share: the ledger's invariants in
//! SQL (`ledger_system_tests::invariants`) and `ledger reconcile`, the audit.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;

use crate::processes::{self, Postgres};
use crate::scorecard::Scorecard;

pub mod ambiguous_commit;
pub mod bank;
pub mod confirmations;
pub mod crash;
pub mod ingest_crash;
pub mod pain001;
pub mod replay_storm;

/// A German IBAN for bank code `bank` and account `account`, valid mod 97.
pub fn iban_de(bank: u64, account: u64) -> String {
    let bban = format!("{bank:08}{account:010}");
    let digits = format!("{bban}131400");
    let remainder = digits
        .bytes()
        .fold(0u64, |acc, digit| (acc * 10 + u64::from(digit - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - remainder)
}

/// Full sizes, or the short ones the test suite runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Full,
    Short,
}

impl Size {
    pub fn name(self) -> &'static str {
        match self {
            Size::Full => "full",
            Size::Short => "short",
        }
    }

    /// `full` or `short`, unless `--count` overrides it.
    pub fn pick(self, full: u64, short: u64) -> u64 {
        match self {
            Size::Full => full,
            Size::Short => short,
        }
    }
}

/// What every scenario is given.
#[derive(Debug, Clone)]
pub struct Run {
    pub seed: u64,
    pub size: Size,
    /// Overrides the scenario's number of operations.
    pub count: Option<u64>,
    pub work_dir: PathBuf,
    pub ledger_bin: PathBuf,
    /// Corrupt one balance before the checks: shows that they catch it.
    pub sabotage: bool,
}

impl Run {
    pub fn operations(&self, full: u64, short: u64) -> u64 {
        self.count.unwrap_or_else(|| self.size.pick(full, short))
    }
}

/// Whether an account may go below zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overdraft {
    Unrestricted,
    Forbidden,
}

/// Sets the database up as an operator does, with the binary under test:
/// `ledger migrate`, one `ledger accounts open` per account (reference,
/// currency, overdraft; IBANs checked as IBANs, other references with
/// `--other-id`), and `ledger accounts map-clearing` for `clearing`.
pub async fn open_accounts(
    run: &Run,
    postgres: &Postgres,
    accounts: &[(String, &str, Overdraft)],
    clearing: Option<&str>,
) -> anyhow::Result<()> {
    let binary = run.ledger_bin.clone();
    let url = postgres.url();
    let mut commands: Vec<Vec<String>> = Vec::new();
    for (reference, currency, overdraft) in accounts {
        let mut command: Vec<String> = [
            "accounts",
            "open",
            "--reference",
            reference,
            "--currency",
            currency,
        ]
        .iter()
        .map(|part| (*part).to_owned())
        .collect();
        command.push("--overdraft".to_owned());
        command.push(
            match overdraft {
                Overdraft::Unrestricted => "unrestricted",
                Overdraft::Forbidden => "forbidden",
            }
            .to_owned(),
        );
        let iban = reference.len() > 4
            && reference[..2].chars().all(|c| c.is_ascii_uppercase())
            && reference[2..4].chars().all(|c| c.is_ascii_digit());
        if !iban {
            command.push("--other-id".to_owned());
        }
        commands.push(command);
    }
    let clearing = clearing.map(|reference| {
        [
            "accounts",
            "map-clearing",
            "--currency",
            "EUR",
            "--reference",
            reference,
        ]
        .iter()
        .map(|part| (*part).to_owned())
        .collect::<Vec<String>>()
    });
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let run_one = |arguments: &[String]| -> anyhow::Result<()> {
            let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
            match processes::run_ledger(&binary, &url, &arguments)? {
                (Some(0), _) => Ok(()),
                (code, output) => {
                    anyhow::bail!("ledger {} exited {code:?}: {output}", arguments.join(" "))
                }
            }
        };
        run_one(&["migrate".to_owned()])?;
        // The accounts are opened a few at a time, as separate processes.
        for chunk in commands.chunks(4) {
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|command| scope.spawn(|| run_one(command)))
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().expect("a setup thread"))
                    .collect::<anyhow::Result<Vec<()>>>()
            })?;
        }
        if let Some(clearing) = clearing {
            run_one(&clearing)?;
        }
        Ok(())
    })
    .await?
    .context("set the database up with the ledger binary")
}

/// Moves one balance by one minor unit behind the ledger's back
/// (`--sabotage`), so a run shows its checks catch a corrupted ledger.
pub async fn sabotage(run: &Run, postgres: &Postgres, reference: &str, scorecard: &Scorecard) {
    if !run.sabotage {
        return;
    }
    let client = processes::connect(&postgres.config())
        .await
        .expect("connect");
    client
        .execute(
            "UPDATE accounts SET credits_posted = credits_posted + 1 WHERE external_reference = $1",
            &[&reference],
        )
        .await
        .expect("sabotage");
    scorecard.fault(format!(
        "sabotage: credits_posted of {reference} raised by one minor unit in SQL"
    ));
}

/// The ledger's own invariants in SQL, then `ledger reconcile`.
pub async fn audit(run: &Run, postgres: &Postgres, scorecard: &Scorecard) {
    let client = processes::connect(&postgres.config())
        .await
        .expect("connect for the checks");
    let violations = ledger_system_tests::invariants::violations(&client).await;
    scorecard.invariant(
        "ledger invariants in SQL (trial balance, balances = transfers, transfers = states, outbox = state changes)",
        violations,
    );
    let binary = run.ledger_bin.clone();
    let url = postgres.url();
    let reconcile = tokio::task::spawn_blocking(move || {
        processes::run_ledger(&binary, &url, &["reconcile", "--format", "json"])
    })
    .await
    .expect("reconcile runs");
    let violations = match reconcile {
        Ok((Some(0), _)) => Vec::new(),
        Ok((code, output)) => vec![format!(
            "ledger reconcile exited {code:?}: {}",
            output
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(400)
                .collect::<String>()
        )],
        Err(error) => vec![format!("ledger reconcile did not run: {error:#}")],
    };
    scorecard.invariant("`ledger reconcile` (the audit) clean", violations);
}

/// Balances by reference: (debits_posted, credits_posted, debits_pending, credits_pending).
pub async fn balances(postgres: &Postgres) -> BTreeMap<String, [i64; 4]> {
    let client = processes::connect(&postgres.config())
        .await
        .expect("connect");
    client
        .query(
            "SELECT external_reference, debits_posted, credits_posted, debits_pending, credits_pending \
             FROM accounts",
            &[],
        )
        .await
        .expect("balances")
        .into_iter()
        .map(|row| (row.get(0), [row.get(1), row.get(2), row.get(3), row.get(4)]))
        .collect()
}

/// Compares the balances the clients' answers imply with the database's.
pub fn compare_balances(
    expected: &BTreeMap<String, [i64; 4]>,
    actual: &BTreeMap<String, [i64; 4]>,
) -> Vec<String> {
    let mut differences = Vec::new();
    for (reference, want) in expected {
        let have = actual.get(reference).copied().unwrap_or_default();
        if &have != want {
            differences.push(format!(
                "{reference}: told [debits_posted, credits_posted, debits_pending, credits_pending] \
                 {want:?}, database {have:?}"
            ));
        }
    }
    differences
}
