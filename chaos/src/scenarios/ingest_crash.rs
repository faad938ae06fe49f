//! `ingest-crash`: a pain.001 file of many transactions, `ledger ingest`
//! SIGKILLed at 5 seeded points of its progress and run again each time,
//! then run to its end. Checks: the last run exits 0, every transaction is
//! applied exactly once (one payment, one PENDING transfer, one stored key
//! each), the balances are the file's, the audit clean.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::processes::{self, Postgres};
use crate::scenarios::{self, pain001, Overdraft, Run};
use crate::scorecard::Scorecard;

const KILLS: usize = 5;
const DEBTORS: u64 = 4;
const CLEARING: &str = "EURCLEARING01";

fn debtor(block: u64) -> String {
    scenarios::iban_de(37040044, 1_000_000 + block % DEBTORS)
}

pub async fn run(run: &Run) -> anyhow::Result<Arc<Scorecard>> {
    let total = run.operations(100_000, 2_000);
    let batch_size = if total >= 20_000 { 500 } else { 50 };
    let scorecard = Arc::new(Scorecard::new("ingest-crash", run.seed, run.size.name()));
    let postgres = Postgres::start(&run.work_dir, "chaos").await?;
    let mut accounts: Vec<_> = (0..DEBTORS)
        .map(|block| (debtor(block), "EUR", Overdraft::Unrestricted))
        .collect();
    accounts.push((CLEARING.to_owned(), "EUR", Overdraft::Unrestricted));
    scenarios::open_accounts(run, &postgres, &accounts, Some(CLEARING)).await?;
    let file = run.work_dir.join("pain001.xml");
    let message_id = format!("CHAOS-{}", run.seed);
    pain001::write(&file, &message_id, 1, total, debtor)?;
    scorecard.figure(
        "setup",
        format!(
            "pain.001 of {total} transactions ({} MiB), ledger ingest --batch-size {batch_size}, \
             {KILLS} SIGKILLs planned",
            std::fs::metadata(&file)?.len() / (1024 * 1024)
        ),
    );
    println!("fault schedule as injected:");

    let mut rng = StdRng::seed_from_u64(run.seed ^ 0x1A6E57);
    let mut points: Vec<i64> = (0..KILLS)
        .map(|_| rng.random_range(total as i64 / 20..total as i64 * 9 / 10))
        .collect();
    points.sort_unstable();
    let client = processes::connect(&postgres.config()).await?;
    let stored = || async {
        client
            .query_one("SELECT COUNT(*) FROM idempotency_records", &[])
            .await
            .map(|row| row.get::<_, i64>(0))
            .unwrap_or(0)
    };
    let arguments = [
        "ingest".to_owned(),
        "--batch-size".to_owned(),
        batch_size.to_string(),
        file.display().to_string(),
    ];
    let mut early_exits = Vec::new();
    for (kill, point) in points.iter().enumerate() {
        let mut child = Command::new(&run.ledger_bin)
            .args(&arguments)
            .env("DATABASE_URL", postgres.url())
            .env_remove("LEDGER_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawn ledger ingest")?;
        let deadline = Instant::now() + Duration::from_secs(1_800);
        loop {
            if stored().await >= *point {
                break;
            }
            if let Some(status) = child.try_wait()? {
                scorecard.count_ok();
                early_exits.push(format!(
                    "run {} ended ({status}) before kill point {point}",
                    kill + 1
                ));
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "ingest made no progress");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if child.try_wait()?.is_none() {
            // A few milliseconds into the next batch, at a seeded offset.
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
            let pid = child.id();
            child.kill()?;
            let status = child.wait()?;
            scorecard.count_unknown();
            scorecard.fault(format!(
                "SIGKILL ledger ingest (pid {pid}, run {}) at {} of {total} transactions stored, \
                 planned at {point}: {status}",
                kill + 1,
                stored().await
            ));
        }
    }
    let binary = run.ledger_bin.clone();
    let url = postgres.url();
    let final_arguments: Vec<String> = arguments.to_vec();
    let (code, output) = tokio::task::spawn_blocking(move || {
        let arguments: Vec<&str> = final_arguments.iter().map(String::as_str).collect();
        processes::run_ledger(&binary, &url, &arguments)
    })
    .await??;
    scorecard.fault(format!("final ledger ingest run to its end: exit {code:?}"));
    if code == Some(0) {
        scorecard.count_ok();
    } else {
        scorecard.count_failed();
    }
    scorecard.invariant("ingest runs ended before their kill point", early_exits);
    let killed = scorecard.faults_matching("SIGKILL");
    scorecard.invariant(
        "every planned kill injected",
        (killed < KILLS)
            .then(|| format!("{killed} of {KILLS}"))
            .into_iter()
            .collect(),
    );
    scorecard.invariant(
        "the last ingest exits 0",
        (code != Some(0))
            .then(|| {
                format!(
                    "exit {code:?}: {}",
                    output.lines().rev().take(8).collect::<Vec<_>>().join(" | ")
                )
            })
            .into_iter()
            .collect(),
    );
    let summary = |line: &&str| {
        let line = line.trim_start();
        ["applied ", "already applied ", "not applied "]
            .iter()
            .any(|start| line.starts_with(start))
    };
    for line in output.lines().filter(summary) {
        scorecard.figure("last run says", line.trim());
    }
    check(run, &postgres, &scorecard, &client, total, &message_id).await;
    drop(client);
    postgres.stop().await;
    Ok(scorecard)
}

async fn check(
    run: &Run,
    postgres: &Postgres,
    scorecard: &Scorecard,
    client: &tokio_postgres::Client,
    total: u64,
    message_id: &str,
) {
    let mut wrong = Vec::new();
    for (what, sql) in [
        ("payments", "SELECT COUNT(*) FROM payments"),
        (
            "PENDING payments with their one PENDING transfer",
            "SELECT COUNT(*) FROM payments p WHERE p.state = 'PENDING' AND \
             (SELECT string_agg(kind, ',') FROM transfers t WHERE t.payment_id = p.payment_id) = 'PENDING'",
        ),
        ("transfers", "SELECT COUNT(*) FROM transfers"),
        ("stored keys", "SELECT COUNT(*) FROM idempotency_records"),
    ] {
        let found: i64 = client
            .query_one(sql, &[])
            .await
            .expect("count")
            .get(0);
        if found != total as i64 {
            wrong.push(format!("{found} {what} for {total} transactions"));
        }
    }
    // Each end-to-end id's position, read once from every business key.
    let present: i64 = client
        .query_one(
            "SELECT COUNT(DISTINCT position) FROM ( \
               SELECT substring(business_key FROM $2::TEXT || '-([0-9]+)($|[^0-9])')::BIGINT \
                 AS position FROM payments) AS found \
             WHERE position BETWEEN 1 AND $1::BIGINT",
            &[&(total as i64), &format!("E2E-{message_id}")],
        )
        .await
        .map(|row| row.get(0))
        .unwrap_or(-1);
    let missing = total as i64 - present;
    if missing != 0 {
        wrong.push(format!(
            "{missing} end-to-end ids without a payment (over {total}: the query failed)"
        ));
    }
    scorecard.invariant("every transaction applied exactly once", wrong);
    scenarios::sabotage(run, postgres, CLEARING, scorecard).await;
    let mut expected: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    for position in 1..=total {
        let block = (position - 1) / pain001::TRANSACTIONS_PER_BLOCK;
        expected.entry(debtor(block)).or_default()[2] += pain001::amount_minor(position);
        expected.entry(CLEARING.to_owned()).or_default()[3] += pain001::amount_minor(position);
    }
    let actual = scenarios::balances(postgres).await;
    scorecard.invariant(
        "balances equal to the file's holds, each once",
        scenarios::compare_balances(&expected, &actual),
    );
    scenarios::audit(run, postgres, scorecard).await;
}
