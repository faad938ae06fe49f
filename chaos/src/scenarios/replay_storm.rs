//! `replay-storm`: two `ledger serve` processes on one database; every
//! payment is sent three times under one idempotency key: the original to
//! one server, a concurrent duplicate to the other within milliseconds, and
//! a replay after every payment was first answered. Checks: exactly one
//! payment per key applied, exactly one first (non-replay) APPLIED answer
//! per key, every other answer the stored response (`replay`, same results:
//! a duplicate waits for the database's writer lock, then finds the record;
//! semantics §1), no error at all, the audit clean.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_api::grpc::proto::{self, Outcome};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::transport::Channel;

use crate::client::{self, Call};
use crate::processes::{self, LedgerServer, Postgres};
use crate::scenarios::{self, Overdraft, Run};
use crate::scorecard::Scorecard;

const WORKERS: usize = 32;
const ACCOUNTS: u64 = 8;

fn account(index: u64) -> String {
    format!("STORM-{index}")
}

/// Payment `number`'s debtor, creditor (distinct) and amount.
fn parties(number: u64) -> (String, String, i64) {
    let debtor = number % ACCOUNTS;
    let creditor = (debtor + 1 + (number / ACCOUNTS) % (ACCOUNTS - 1)) % ACCOUNTS;
    (
        account(debtor),
        account(creditor),
        (100 + number % 500) as i64,
    )
}

/// Payment `number`'s idempotency key (also its ids) and document.
fn payment(seed: u64, number: u64) -> (String, Vec<u8>) {
    let id = format!("RS{seed}-{number}");
    let (debtor, creditor, amount) = parties(number);
    let document = client::pacs008(&id, &debtor, &creditor, "EUR", amount as u64);
    (id, document)
}

/// Every answer one send got, until a definitive one.
#[derive(Debug)]
struct Sent {
    /// When the first call was made, and when the definitive answer came.
    started: Instant,
    answered: Option<Instant>,
    answers: Vec<proto::SubmitPaymentResponse>,
    /// Every error answered, retryable or not.
    errors: Vec<String>,
}

async fn send(channel: &Channel, key: &str, document: &[u8], scorecard: &Scorecard) -> Sent {
    let mut sent = Sent {
        started: Instant::now(),
        answered: None,
        answers: Vec::new(),
        errors: Vec::new(),
    };
    for attempt in 0..200u64 {
        match client::submit_once(channel, key, document).await {
            Call::Answer(response) => {
                scorecard.count_ok();
                sent.answers.push(response);
                sent.answered = Some(Instant::now());
                return sent;
            }
            Call::Retry { code } => {
                scorecard.count_unknown();
                sent.errors.push(code);
            }
            Call::Fatal { code, message } => {
                scorecard.count_failed();
                sent.errors.push(format!("{code}: {message}"));
                return sent;
            }
        }
        tokio::time::sleep(Duration::from_millis(5 + 5 * attempt.min(20))).await;
    }
    sent
}

pub async fn run(run: &Run) -> anyhow::Result<Arc<Scorecard>> {
    let total = run.operations(10_000, 300);
    let scorecard = Arc::new(Scorecard::new("replay-storm", run.seed, run.size.name()));
    let postgres = Postgres::start(&run.work_dir, "chaos").await?;
    let accounts: Vec<_> = (0..ACCOUNTS)
        .map(|index| (account(index), "EUR", Overdraft::Unrestricted))
        .collect();
    scenarios::open_accounts(run, &postgres, &accounts, None).await?;
    let mut servers = Vec::new();
    for slot in 0..2 {
        let mut server =
            LedgerServer::new(slot, &run.ledger_bin, &postgres.url(), &run.work_dir, &[]);
        server.start(Duration::from_secs(60))?;
        servers.push(server);
    }
    scorecard.figure(
        "setup",
        format!(
            "{total} payments x 3 sends (original, concurrent duplicate to the other server \
             0-3 ms later, replay after all), {WORKERS} workers, 2 serve processes"
        ),
    );
    println!("no faults injected: the duplicates are the load");

    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let channels: Vec<Channel> = servers
            .iter()
            .map(|server| client::channel(&server.endpoint()))
            .collect();
        let (next, scorecard) = (next.clone(), scorecard.clone());
        let seed = run.seed;
        tasks.push(tokio::spawn(async move {
            let mut rng =
                StdRng::seed_from_u64(seed.wrapping_mul(1_000).wrapping_add(worker as u64));
            let mut sends = Vec::new();
            loop {
                let number = next.fetch_add(1, Ordering::SeqCst);
                if number >= total {
                    break;
                }
                let (key, document) = payment(seed, number);
                let first = (number % 2) as usize;
                let delay = Duration::from_micros(rng.random_range(0..3_000));
                let original = send(&channels[first], &key, &document, &scorecard);
                let duplicate = async {
                    tokio::time::sleep(delay).await;
                    send(&channels[1 - first], &key, &document, &scorecard).await
                };
                let (original, duplicate) = tokio::join!(original, duplicate);
                sends.push((number, original, duplicate));
            }
            sends
        }));
    }
    let mut sends = BTreeMap::new();
    for task in tasks {
        for (number, original, duplicate) in task.await? {
            sends.insert(number, vec![original, duplicate]);
        }
    }
    // The replays, after every payment was answered, to either server.
    let replay_next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let channels: Vec<Channel> = servers
            .iter()
            .map(|server| client::channel(&server.endpoint()))
            .collect();
        let (next, scorecard) = (replay_next.clone(), scorecard.clone());
        let seed = run.seed;
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed ^ (worker as u64) << 32);
            let mut replays = Vec::new();
            loop {
                let number = next.fetch_add(1, Ordering::SeqCst);
                if number >= total {
                    break;
                }
                let (key, document) = payment(seed, number);
                let channel = &channels[rng.random_range(0..2)];
                replays.push((number, send(channel, &key, &document, &scorecard).await));
            }
            replays
        }));
    }
    for task in tasks {
        for (number, replay) in task.await? {
            if let Some(three) = sends.get_mut(&number) {
                three.push(replay);
            }
        }
    }
    drop(servers);

    check(run, &postgres, &scorecard, total, &sends).await;
    postgres.stop().await;
    Ok(scorecard)
}

async fn check(
    run: &Run,
    postgres: &Postgres,
    scorecard: &Scorecard,
    total: u64,
    sends: &BTreeMap<u64, Vec<Sent>>,
) {
    let mut first_answers_wrong = Vec::new();
    let mut replies_differ = Vec::new();
    let mut errors = Vec::new();
    let mut unanswered = Vec::new();
    let (mut replays, mut overlapping) = (0u64, 0u64);
    for number in 0..total {
        let Some(three) = sends.get(&number) else {
            unanswered.push(format!("payment {number}: never sent"));
            continue;
        };
        let answers: Vec<&proto::SubmitPaymentResponse> =
            three.iter().flat_map(|sent| sent.answers.iter()).collect();
        for (which, sent) in ["original", "duplicate", "replay"].iter().zip(three) {
            if sent.answers.is_empty() {
                unanswered.push(format!("payment {number}: the {which} was never answered"));
            }
            for error in &sent.errors {
                errors.push(format!("payment {number}, {which}: {error}"));
            }
        }
        // The duplicate was sent before the original was answered.
        if three.len() >= 2 && three[0].answered.is_none_or(|at| three[1].started < at) {
            overlapping += 1;
        }
        let firsts: Vec<_> = answers.iter().filter(|answer| !answer.replay).collect();
        replays += answers.iter().filter(|answer| answer.replay).count() as u64;
        let first_applied = firsts.len() == 1
            && firsts[0].results.len() == 1
            && firsts[0].results[0].outcome() == Outcome::Applied;
        if !first_applied {
            first_answers_wrong.push(format!(
                "payment {number}: {} non-replay answers: {:?}",
                firsts.len(),
                firsts
                    .iter()
                    .map(|a| a.results.iter().map(|r| r.outcome()).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            ));
        }
        if let Some(first) = answers.first() {
            for answer in &answers[1..] {
                if answer.results != first.results {
                    replies_differ.push(format!(
                        "payment {number}: {:?} and {:?}",
                        first.results, answer.results
                    ));
                }
            }
        }
    }
    scorecard.figure("replays answered (replay = true)", replays);
    scorecard.figure(
        "duplicates sent while the original was still unanswered",
        overlapping,
    );
    scorecard.invariant("sends without an answer", unanswered);
    scorecard.invariant(
        "exactly one first (non-replay) answer per key, APPLIED",
        first_answers_wrong,
    );
    scorecard.invariant(
        "every duplicate and replay answered with the stored response",
        replies_differ,
    );
    scorecard.invariant("errors (retried or not)", errors);

    scenarios::sabotage(run, postgres, &account(0), scorecard).await;
    let client = processes::connect(&postgres.config())
        .await
        .expect("connect for the checks");
    let count = |table: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .await
                .expect("count")
                .get::<_, i64>(0)
        }
    };
    let payments = count("payments").await;
    let transfers = count("transfers").await;
    let records = count("idempotency_records").await;
    scorecard.figure("payments in the database", payments);
    let mut applied = Vec::new();
    for (what, found) in [
        ("payments", payments),
        ("transfers", transfers),
        ("idempotency records", records),
    ] {
        if found != total as i64 {
            applied.push(format!("{found} {what} for {total} keys"));
        }
    }
    scorecard.invariant(
        format!("exactly {total} payments applied (payments, transfers, keys stored)"),
        applied,
    );
    // The balances the first answers imply.
    let mut expected: BTreeMap<String, [i64; 4]> = (0..ACCOUNTS)
        .map(|index| (account(index), [0; 4]))
        .collect();
    for number in 0..total {
        let (debtor, creditor, amount) = parties(number);
        expected.get_mut(&debtor).expect("an account")[0] += amount;
        expected.get_mut(&creditor).expect("an account")[1] += amount;
    }
    let actual = scenarios::balances(postgres).await;
    scorecard.invariant(
        "balances equal every payment applied once",
        scenarios::compare_balances(&expected, &actual),
    );
    scenarios::audit(run, postgres, scorecard).await;
}
