//! `bank`, after Jepsen's bank test: 16 accounts (8 EUR, 8 USD) that forbid
//! overdraft, funded at the start; 64 concurrent clients send random
//! transfers between accounts of one currency through two `ledger serve`
//! processes on one database (so SERIALIZABLE conflicts between processes
//! happen), and 10% of the operations read every balance in one snapshot.
//! No RPC reads every balance in one snapshot, so the reads are a
//! REPEATABLE READ READ ONLY transaction on the database. Checks: every
//! snapshot sums to the initial total per currency, no account below zero
//! in any snapshot, no serialization failure (nor any other error) reaching
//! a client as a non-retryable error, the final balances what the clients
//! were told, the audit clean.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ledger_api::grpc::proto::Outcome;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;

use crate::client;
use crate::faults::Progress;
use crate::processes::{self, LedgerServer, Postgres};
use crate::scenarios::{self, Overdraft, Run};
use crate::scorecard::Scorecard;

const CLIENTS: usize = 64;
const SERVERS: usize = 2;
const PER_CURRENCY: u64 = 8;
const CURRENCIES: [&str; 2] = ["EUR", "USD"];
const INITIAL_MINOR: i64 = 100_000;
const SNAPSHOT_CONNECTIONS: usize = 6;

fn account(currency: &str, index: u64) -> String {
    format!("BANK-{currency}-{index}")
}

fn funding(currency: &str) -> String {
    format!("FUND-{currency}")
}

/// What one client saw.
#[derive(Debug, Default)]
struct Tally {
    /// (debtor, creditor, amount) of each transfer told APPLIED.
    applied: Vec<(String, String, i64)>,
    insufficient_funds: u64,
    other_refusals: Vec<String>,
    unresolved: Vec<String>,
    fatal: Vec<String>,
    conflicts_retried: u64,
    retry_codes: Vec<String>,
    snapshots: u64,
    snapshot_sums_wrong: Vec<String>,
    snapshot_negative: Vec<String>,
}

pub async fn run(run: &Run) -> anyhow::Result<Arc<Scorecard>> {
    let total = run.operations(100_000, 2_000);
    let scorecard = Arc::new(Scorecard::new("bank", run.seed, run.size.name()));
    let postgres = Postgres::start(&run.work_dir, "chaos").await?;
    let mut accounts = Vec::new();
    for currency in CURRENCIES {
        accounts.push((funding(currency), currency, Overdraft::Unrestricted));
        for index in 0..PER_CURRENCY {
            accounts.push((account(currency, index), currency, Overdraft::Forbidden));
        }
    }
    scenarios::open_accounts(run, &postgres, &accounts, None).await?;
    let mut servers = Vec::new();
    let metrics: Vec<String> = (0..SERVERS)
        .map(|_| format!("127.0.0.1:{}", processes::free_port()))
        .collect();
    for (slot, metrics_address) in metrics.iter().enumerate() {
        let mut server = LedgerServer::new(
            slot,
            &run.ledger_bin,
            &postgres.url(),
            &run.work_dir,
            &["--metrics-listen", metrics_address],
        );
        server.start(Duration::from_secs(60))?;
        servers.push(server);
    }
    let endpoints: Vec<String> = servers.iter().map(LedgerServer::endpoint).collect();

    // Fund every account with INITIAL_MINOR through the API.
    let channels: Vec<_> = endpoints.iter().map(|e| client::channel(e)).collect();
    for currency in CURRENCIES {
        for index in 0..PER_CURRENCY {
            let id = format!("BANKFUND{}-{currency}-{index}", run.seed);
            let document = client::pacs008(
                &id,
                &funding(currency),
                &account(currency, index),
                currency,
                INITIAL_MINOR as u64,
            );
            let resolution = client::submit_until_answered(
                &channels,
                0,
                &id,
                &document,
                Duration::from_secs(60),
                &scorecard,
            )
            .await;
            let applied = resolution
                .answer
                .as_ref()
                .is_some_and(|a| a.results[0].outcome() == Outcome::Applied);
            anyhow::ensure!(applied, "funding {id} was not applied: {resolution:?}");
        }
    }
    scorecard.figure(
        "setup",
        format!(
            "{total} operations (10% snapshot reads of every balance, 90% transfers of 0.01-300.00), \
             {CLIENTS} clients, {SERVERS} serve processes, {} accounts per currency funded with {}.00",
            PER_CURRENCY,
            INITIAL_MINOR / 100
        ),
    );
    println!("no faults injected: the conflicts are the load");

    let mut snapshot_clients = Vec::new();
    for _ in 0..SNAPSHOT_CONNECTIONS {
        snapshot_clients.push(Arc::new(Mutex::new(
            processes::connect(&postgres.config()).await?,
        )));
    }
    let progress = Progress::new();
    let mut tasks = Vec::new();
    for client_number in 0..CLIENTS {
        let channels: Vec<_> = endpoints.iter().map(|e| client::channel(e)).collect();
        let (progress, scorecard) = (progress.clone(), scorecard.clone());
        let snapshot = snapshot_clients[client_number % SNAPSHOT_CONNECTIONS].clone();
        let seed = run.seed;
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(7_919) + client_number as u64);
            let mut tally = Tally::default();
            while let Some(number) = progress.next(total).await {
                if rng.random_bool(0.1) {
                    read_snapshot(&snapshot, &mut tally, &scorecard).await;
                    continue;
                }
                let currency = CURRENCIES[rng.random_range(0..CURRENCIES.len())];
                let debtor = rng.random_range(0..PER_CURRENCY);
                let creditor = (debtor + rng.random_range(1..PER_CURRENCY)) % PER_CURRENCY;
                let (debtor, creditor) = (account(currency, debtor), account(currency, creditor));
                let amount = rng.random_range(1..=30_000i64);
                let id = format!("BANK{seed}-{number}");
                let document = client::pacs008(&id, &debtor, &creditor, currency, amount as u64);
                let resolution = client::submit_until_answered(
                    &channels,
                    client_number,
                    &id,
                    &document,
                    Duration::from_secs(300),
                    &scorecard,
                )
                .await;
                tally.retry_codes.extend(resolution.retries.iter().cloned());
                tally.conflicts_retried += resolution
                    .retries
                    .iter()
                    .filter(|code| code.contains("TRANSACTION_CONFLICT"))
                    .count() as u64;
                if let Some(error) = resolution.fatal {
                    tally.fatal.push(format!("{id}: {error}"));
                    continue;
                }
                let Some(answer) = resolution.answer else {
                    tally
                        .unresolved
                        .push(format!("{id}: {:?}", resolution.retries.last()));
                    continue;
                };
                let result = &answer.results[0];
                match result.outcome() {
                    Outcome::Applied | Outcome::AlreadyApplied | Outcome::Duplicate => {
                        tally.applied.push((debtor, creditor, amount));
                    }
                    _ if result.reason_code == "INSUFFICIENT_FUNDS" => {
                        tally.insufficient_funds += 1;
                    }
                    outcome => tally
                        .other_refusals
                        .push(format!("{id}: {outcome:?} {}", result.reason_code)),
                }
            }
            tally
        }));
    }
    let mut tallies = Vec::new();
    for task in tasks {
        tallies.push(task.await?);
    }
    // The conflicts the servers retried themselves, which no client saw.
    let retried: Vec<String> = metrics
        .iter()
        .map(|address| {
            processes::metric_total(address, "ledger_transaction_retries_total")
                .map_or("unreadable".to_owned(), |total| total.to_string())
        })
        .collect();
    scorecard.figure(
        "transactions retried inside the servers after a conflict (ledger_transaction_retries_total per server)",
        retried.join(", "),
    );
    drop(servers);
    drop(snapshot_clients);
    check(run, &postgres, &scorecard, tallies).await;
    postgres.stop().await;
    Ok(scorecard)
}

async fn read_snapshot(
    client: &Mutex<tokio_postgres::Client>,
    tally: &mut Tally,
    scorecard: &Scorecard,
) {
    let mut client = client.lock().await;
    let transaction = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await;
    let rows = match transaction {
        Ok(transaction) => {
            let rows = transaction
                .query(
                    "SELECT external_reference, currency::TEXT, credits_posted - debits_posted, \
                       credits_posted - debits_posted - debits_pending \
                     FROM accounts WHERE external_reference LIKE 'BANK-%'",
                    &[],
                )
                .await;
            let _ = transaction.commit().await;
            rows
        }
        Err(error) => Err(error),
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => {
            scorecard.count_failed();
            tally.fatal.push(format!("snapshot read failed: {error}"));
            return;
        }
    };
    scorecard.count_ok();
    tally.snapshots += 1;
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    for row in &rows {
        let reference: String = row.get(0);
        let currency: String = row.get(1);
        let balance: i64 = row.get(2);
        let available: i64 = row.get(3);
        *sums.entry(currency).or_default() += balance;
        if balance < 0 || available < 0 {
            tally.snapshot_negative.push(format!(
                "{reference}: balance {balance}, available {available}"
            ));
        }
    }
    for currency in CURRENCIES {
        let sum = sums.get(currency).copied().unwrap_or_default();
        let want = INITIAL_MINOR * PER_CURRENCY as i64;
        if sum != want {
            tally
                .snapshot_sums_wrong
                .push(format!("{currency}: snapshot sums to {sum}, not {want}"));
        }
    }
}

async fn check(run: &Run, postgres: &Postgres, scorecard: &Scorecard, tallies: Vec<Tally>) {
    let mut all = Tally::default();
    let mut expected: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    for currency in CURRENCIES {
        let funded = INITIAL_MINOR * PER_CURRENCY as i64;
        expected.insert(funding(currency), [funded, 0, 0, 0]);
        for index in 0..PER_CURRENCY {
            expected.insert(account(currency, index), [0, INITIAL_MINOR, 0, 0]);
        }
    }
    for tally in tallies {
        for (debtor, creditor, amount) in &tally.applied {
            expected.get_mut(debtor).expect("an account")[0] += amount;
            expected.get_mut(creditor).expect("an account")[1] += amount;
        }
        all.applied.extend(tally.applied);
        all.insufficient_funds += tally.insufficient_funds;
        all.other_refusals.extend(tally.other_refusals);
        all.unresolved.extend(tally.unresolved);
        all.fatal.extend(tally.fatal);
        all.conflicts_retried += tally.conflicts_retried;
        all.retry_codes.extend(tally.retry_codes);
        all.snapshots += tally.snapshots;
        all.snapshot_sums_wrong.extend(tally.snapshot_sums_wrong);
        all.snapshot_negative.extend(tally.snapshot_negative);
    }
    scorecard.figure("transfers told APPLIED", all.applied.len());
    scorecard.figure(
        "transfers refused INSUFFICIENT_FUNDS",
        all.insufficient_funds,
    );
    scorecard.figure(
        "ABORTED TRANSACTION_CONFLICT answers retried",
        all.conflicts_retried,
    );
    scorecard.figure("snapshot reads", all.snapshots);
    scorecard.retry_codes(all.retry_codes.iter());
    scorecard.invariant(
        "every snapshot sums to the initial total per currency",
        all.snapshot_sums_wrong,
    );
    scorecard.invariant(
        "no overdraft-forbidding account below zero in any snapshot",
        all.snapshot_negative,
    );
    scorecard.invariant(
        "no serialization failure (or any error) reaching a client as non-retryable",
        all.fatal,
    );
    scorecard.invariant("transfers without a definitive answer", all.unresolved);
    scorecard.invariant(
        "transfers refused for another reason than INSUFFICIENT_FUNDS",
        all.other_refusals,
    );
    scenarios::sabotage(run, postgres, &account("EUR", 0), scorecard).await;
    let actual = scenarios::balances(postgres).await;
    scorecard.invariant(
        "final balances equal to what the clients were told",
        scenarios::compare_balances(&expected, &actual),
    );
    scenarios::audit(run, postgres, scorecard).await;
}
