//! `crash`: payments from 32 clients to two `ledger serve` processes while
//! the servers are SIGKILLed and PostgreSQL is stopped with `pg_ctl stop -m
//! immediate`; every client retries under the same idempotency key until a
//! definitive answer. Checks: no acknowledged payment lost, none applied
//! twice, every balance what the clients were told, the audit clean.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ledger_api::grpc::proto::Outcome;

use crate::client::{self, Resolution};
use crate::faults::{self, Progress};
use crate::processes::{self, LedgerServer, Postgres};
use crate::scenarios::{self, Overdraft, Run};
use crate::scorecard::Scorecard;

const CLIENTS: usize = 32;
const SERVERS: usize = 2;
pub(super) const DEBTORS: u64 = 8;
pub(super) const CREDITORS: u64 = 4;

pub(super) fn debtor(index: u64) -> String {
    format!("CHAOS-D{index}")
}

pub(super) fn creditor(index: u64) -> String {
    format!("CHAOS-C{index}")
}

/// Payment `number`: its debtor, creditor and amount.
pub(super) fn payment(number: u64) -> (String, String, u64) {
    (
        debtor(number % DEBTORS),
        creditor((number / DEBTORS) % CREDITORS),
        100 + number % 997,
    )
}

/// Sends payment `number` as a pacs.008 under the id (and idempotency key)
/// `id`, first to `channels[client_number]`, until it has a definitive answer.
pub(super) async fn send_payment(
    channels: &[tonic::transport::Channel],
    client_number: usize,
    id: &str,
    number: u64,
    scorecard: &Scorecard,
) -> Resolution {
    let (debtor, creditor, amount) = payment(number);
    let document = client::pacs008(id, &debtor, &creditor, "EUR", amount);
    client::submit_until_answered(
        channels,
        client_number,
        id,
        &document,
        Duration::from_secs(300),
        scorecard,
    )
    .await
}

pub async fn run(run: &Run) -> anyhow::Result<Arc<Scorecard>> {
    let total = run.operations(10_000, 300);
    let (kills, crashes) = match run.size {
        scenarios::Size::Full => (12, 2),
        scenarios::Size::Short => (3, 1),
    };
    let scorecard = Arc::new(Scorecard::new("crash", run.seed, run.size.name()));
    let postgres = Postgres::start(&run.work_dir, "chaos").await?;
    let accounts: Vec<_> = (0..DEBTORS)
        .map(debtor)
        .chain((0..CREDITORS).map(creditor))
        .map(|reference| (reference, "EUR", Overdraft::Unrestricted))
        .collect();
    scenarios::open_accounts(run, &postgres, &accounts, None).await?;
    let mut servers = Vec::new();
    for slot in 0..SERVERS {
        let mut server =
            LedgerServer::new(slot, &run.ledger_bin, &postgres.url(), &run.work_dir, &[]);
        server.start(Duration::from_secs(60))?;
        servers.push(server);
    }
    let endpoints: Vec<String> = servers.iter().map(LedgerServer::endpoint).collect();
    scorecard.figure(
        "setup",
        format!(
            "{total} payments, {CLIENTS} clients, {SERVERS} serve processes, \
             {kills} SIGKILLs and {crashes} PostgreSQL crashes planned"
        ),
    );
    println!("fault schedule as injected:");

    let progress = Progress::new();
    let plan = faults::plan(run.seed, total, kills, crashes);
    let fault_thread = {
        let (progress, scorecard, seed) = (progress.clone(), scorecard.clone(), run.seed);
        std::thread::spawn(move || {
            faults::inject(
                seed,
                plan,
                servers,
                postgres,
                progress,
                CLIENTS as u64 * 2,
                scorecard,
            )
        })
    };

    let mut tasks = Vec::new();
    for client_number in 0..CLIENTS {
        let channels: Vec<_> = endpoints.iter().map(|e| client::channel(e)).collect();
        let (progress, scorecard) = (progress.clone(), scorecard.clone());
        let seed = run.seed;
        tasks.push(tokio::spawn(async move {
            let mut resolved = Vec::new();
            while let Some(number) = progress.next(total).await {
                let id = format!("CR{seed}-{number}");
                let resolution =
                    send_payment(&channels, client_number, &id, number, &scorecard).await;
                resolved.push((number, resolution));
            }
            resolved
        }));
    }
    let mut resolutions: BTreeMap<u64, Resolution> = BTreeMap::new();
    for task in tasks {
        resolutions.extend(task.await?);
    }
    progress
        .clients_done
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (servers, postgres) = fault_thread.join().expect("the fault thread");
    drop(servers);

    check(
        run,
        &postgres,
        &scorecard,
        total,
        &resolutions,
        kills,
        crashes,
    )
    .await;
    postgres.stop().await;
    Ok(scorecard)
}

async fn check(
    run: &Run,
    postgres: &Postgres,
    scorecard: &Scorecard,
    total: u64,
    resolutions: &BTreeMap<u64, Resolution>,
    kills: usize,
    crashes: usize,
) {
    let mut missing_faults = Vec::new();
    let killed = scorecard.faults_matching("SIGKILL");
    if killed < kills {
        missing_faults.push(format!("{killed} of {kills} serve SIGKILLs"));
    }
    let crashed = scorecard.faults_matching("pg_ctl stop -m immediate");
    if crashed < crashes {
        missing_faults.push(format!("{crashed} of {crashes} PostgreSQL crashes"));
    }
    scorecard.invariant("every planned fault injected", missing_faults);
    scorecard.invariant(
        "every payment sent",
        (0..total)
            .filter(|number| !resolutions.contains_key(number))
            .map(|number| format!("payment {number} never sent"))
            .collect(),
    );
    check_told(run, postgres, scorecard, resolutions).await;
}

/// Every payment's definitive answer against the database: none lost, none
/// applied twice, balances as told, the audit clean. (Shared with
/// `ambiguous-commit`, which sends the same payments.)
pub(super) async fn check_told(
    run: &Run,
    postgres: &Postgres,
    scorecard: &Scorecard,
    resolutions: &BTreeMap<u64, Resolution>,
) {
    // What the clients were told.
    let mut told_applied: BTreeMap<i64, u64> = BTreeMap::new();
    let mut told_rejected = Vec::new();
    let mut unresolved = Vec::new();
    let mut fatal = Vec::new();
    let mut expected: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    let mut same_payment_twice = Vec::new();
    for (&number, resolution) in resolutions {
        if let Some(error) = &resolution.fatal {
            fatal.push(format!("payment {number}: {error}"));
        }
        let Some(answer) = &resolution.answer else {
            if resolution.fatal.is_none() {
                unresolved.push(format!(
                    "payment {number}: no definitive answer after {} retries (last {:?})",
                    resolution.retries.len(),
                    resolution.retries.last()
                ));
            }
            continue;
        };
        let result = &answer.results[0];
        match result.outcome() {
            Outcome::Applied | Outcome::AlreadyApplied | Outcome::Duplicate => {
                if let Some(other) = told_applied.insert(result.payment_id, number) {
                    same_payment_twice.push(format!(
                        "payments {other} and {number} were both told payment id {}",
                        result.payment_id
                    ));
                }
                let (debtor, creditor, amount) = payment(number);
                expected.entry(debtor).or_default()[0] += amount as i64;
                expected.entry(creditor).or_default()[1] += amount as i64;
            }
            _ => told_rejected.push(format!(
                "payment {number}: {:?} {}",
                result.outcome(),
                result.reason_code
            )),
        }
    }
    for reference in (0..DEBTORS).map(debtor).chain((0..CREDITORS).map(creditor)) {
        expected.entry(reference).or_default();
    }
    scorecard.retry_codes(resolutions.values().flat_map(|r| r.retries.iter()));
    scorecard.figure("payments told APPLIED", told_applied.len());
    scorecard.figure("payments told REJECTED", told_rejected.len());
    scorecard.invariant("payments without a definitive answer", unresolved);
    scorecard.invariant("non-retryable errors reaching a client", fatal);
    scorecard.invariant(
        "payments refused (none should be: the debtors are unrestricted)",
        told_rejected,
    );

    scenarios::sabotage(run, postgres, &creditor(0), scorecard).await;

    let client = processes::connect(&postgres.config())
        .await
        .expect("connect for the checks");
    let rows = client
        .query(
            "SELECT p.payment_id, p.business_key, p.state, \
               (SELECT COUNT(*) FROM transfers t WHERE t.payment_id = p.payment_id) \
             FROM payments p",
            &[],
        )
        .await
        .expect("read payments");
    let mut in_database = BTreeSet::new();
    let mut not_told = Vec::new();
    for row in &rows {
        let payment_id: i64 = row.get(0);
        let business_key: String = row.get(1);
        let state: String = row.get(2);
        let transfers: i64 = row.get(3);
        in_database.insert(payment_id);
        if !told_applied.contains_key(&payment_id) {
            not_told.push(format!(
                "payment {payment_id} ({business_key}, {state}) applied but no client was told so"
            ));
        }
        if state != "SETTLED" || transfers != 1 {
            not_told.push(format!(
                "payment {payment_id} ({business_key}) is {state} with {transfers} transfers"
            ));
        }
    }
    let lost: Vec<String> = told_applied
        .iter()
        .filter(|(payment_id, _)| !in_database.contains(payment_id))
        .map(|(payment_id, number)| {
            format!("payment {number} told APPLIED as payment id {payment_id}, not in the database")
        })
        .collect();
    scorecard.figure("payments in the database", rows.len());
    scorecard.invariant("acknowledged payments lost", lost);
    not_told.extend(same_payment_twice);
    scorecard.invariant(
        "payments applied twice (or applied without an acknowledgement)",
        not_told,
    );
    let actual = scenarios::balances(postgres).await;
    scorecard.invariant(
        "balances equal to what the clients were told",
        scenarios::compare_balances(&expected, &actual),
    );
    scenarios::audit(run, postgres, scorecard).await;
}
