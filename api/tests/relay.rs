//! Confirmations leave exactly once through NATS JetStream: real `ledger
//! relay` and `ledger consume` processes, a real `nats-server -js`, a real
//! PostgreSQL, processes killed with SIGKILL by PID.
//!
//! - Several relays over a run of state changes, killed mid-run (some at a
//!   point they announce: published and acknowledged, not yet marked): the
//!   stream holds exactly one message per outbox row, each payment's in
//!   order, and every document validates against the pacs.002 XSD.
//! - The broker stopped and started again mid-run: payments go on, and the
//!   confirmations arrive late, none lost, none twice.
//! - The consumer killed between its two steps: exactly-once mode applies
//!   each confirmation once, at-least-once applies one twice, at-most-once
//!   loses one.
//!
//! The main runs have `LEDGER_RELAY_TEST_STATE_CHANGES` state changes
//! (default 5,000, about 15 s here; set it lower on a slow machine).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use ledger::model::{DocumentOrigin, PaymentState};
use ledger::{ApplyCommand, Ledger, LedgerOptions};
use ledger_system_tests::fixtures::{command, eur, status, transfer};
use ledger_system_tests::nats::NatsServer;
use ledger_system_tests::{connect, database_url, TestDatabase};

const STATE_CHANGES_DEFAULT: usize = 5_000;
const STREAM_NAME: &str = "LEDGER_CONFIRMATIONS";
const XSD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/iso20022/xsd/pacs.002.001.10.xsd"
);
/// How long everything may take to be delivered after the run.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);
/// Payments created (and settled) per batch.
const PAYMENTS_PER_BATCH: usize = 50;

fn state_changes() -> usize {
    std::env::var("LEDGER_RELAY_TEST_STATE_CHANGES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(STATE_CHANGES_DEFAULT)
}

/// Lines a child prints on stdout, read on a thread.
fn stdout_lines(child: &mut Child) -> Receiver<String> {
    let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Waits for a line starting with `prefix`; `None` if the child's stdout
/// closed first.
fn wait_for_line(lines: &Receiver<String>, prefix: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return Some(line),
            Ok(_) => {}
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => panic!("no line {prefix:?} within {timeout:?}"),
        }
    }
}

/// A `ledger relay` process.
struct Relay {
    child: Child,
    lines: Receiver<String>,
}

impl Relay {
    fn start(db: &TestDatabase, nats: &NatsServer, extra_args: &[&str]) -> Relay {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(["relay", "--nats-url", &nats.url()])
            .args(["--idle-poll-interval-ms", "20", "--claim-rows-max", "25"])
            .args(["--publish-ack-timeout-ms", "2000"])
            .args(extra_args)
            .env("DATABASE_URL", database_url(&db.config))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ledger relay starts");
        let lines = stdout_lines(&mut child);
        wait_for_line(&lines, "relay: publishing", Duration::from_secs(60))
            .expect("the relay says where it publishes");
        Relay { child, lines }
    }

    /// SIGKILL, by PID.
    fn kill(mut self) {
        self.child.kill().expect("kill the relay");
        self.child.wait().expect("reap the relay");
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn origin(message_id: String, message_name_id: &str) -> DocumentOrigin {
    DocumentOrigin {
        message_id,
        message_name_id: message_name_id.to_owned(),
    }
}

/// Applies `state_changes` state changes, two per payment (created PENDING
/// by a pacs.008, settled by a pacs.002), in batches: each batch creates
/// new payments and settles those of the batch before, so a payment's two
/// changes commit in two transactions.
async fn apply_state_changes(ledger: Ledger, run: &str, state_changes: usize) {
    let payments = state_changes / 2;
    let batches = payments.div_ceil(PAYMENTS_PER_BATCH);
    let business_key = |payment: usize| format!("{run}-{payment}");
    for batch in 0..=batches {
        let mut commands: Vec<ApplyCommand> = Vec::new();
        let created =
            (batch * PAYMENTS_PER_BATCH)..((batch + 1) * PAYMENTS_PER_BATCH).min(payments);
        for payment in created {
            let key = business_key(payment);
            commands.push(
                command(
                    "bank-a",
                    &format!("{key}-create"),
                    transfer(&key, PaymentState::Pending, eur(100), "BOB", "CLEARING"),
                )
                .with_origin(origin(format!("M-{key}"), "pacs.008.001.08")),
            );
        }
        if batch > 0 {
            let settled =
                ((batch - 1) * PAYMENTS_PER_BATCH)..(batch * PAYMENTS_PER_BATCH).min(payments);
            for payment in settled {
                let key = business_key(payment);
                commands.push(
                    command(
                        "bank-a",
                        &format!("{key}-settle"),
                        status(&key, PaymentState::Settled),
                    )
                    .with_origin(origin(format!("S-{key}"), "pacs.002.001.10")),
                );
            }
        }
        if commands.is_empty() {
            continue;
        }
        let responses = ledger
            .apply_batch(&commands)
            .await
            .expect("the batch is applied");
        for response in responses {
            let response = response.expect("each command is applied");
            assert_eq!(
                response.receipts[0].outcome,
                ledger::model::Outcome::Applied,
                "every state change applies"
            );
        }
    }
}

/// The outbox rows: (outbox id, message id, payment id), by outbox id.
async fn outbox_rows(db: &TestDatabase) -> Vec<(i64, String, i64)> {
    db.client()
        .await
        .query(
            "SELECT outbox_id, message_id, payment_id FROM outbox ORDER BY outbox_id",
            &[],
        )
        .await
        .expect("read the outbox")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

/// Waits until every outbox row is delivered.
async fn wait_until_delivered(ledger: &Ledger) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let lag = ledger.outbox_lag().await.expect("read the outbox lag");
        if lag.undelivered_count == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} rows still undelivered",
            lag.undelivered_count
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One message of the stream.
#[derive(Debug)]
struct Streamed {
    message_id: String,
    payment_id: i64,
    outbox_id: i64,
    document: Vec<u8>,
}

/// Every message of the stream, in stream order.
async fn stream_messages(nats: &NatsServer) -> Vec<Streamed> {
    let client = async_nats::connect(nats.url())
        .await
        .expect("connect to NATS");
    let context = jetstream::new(client);
    let mut stream = context.get_stream(STREAM_NAME).await.expect("the stream");
    let total = stream.info().await.expect("stream info").state.messages as usize;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("an ephemeral consumer");
    let mut messages = Vec::with_capacity(total);
    while messages.len() < total {
        let mut batch = consumer
            .fetch()
            .max_messages(1_000)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .expect("fetch a batch");
        use tokio_stream::StreamExt;
        while let Some(message) = batch.next().await {
            let message = message.expect("a message");
            let headers = message.headers.as_ref().expect("headers");
            let header = |name: &str| headers.get(name).expect(name).as_str().to_owned();
            messages.push(Streamed {
                message_id: header("Nats-Msg-Id"),
                payment_id: header("Ledger-Payment-Id").parse().unwrap(),
                outbox_id: header("Ledger-Outbox-Id").parse().unwrap(),
                document: message.payload.to_vec(),
            });
        }
    }
    messages
}

/// The stream holds exactly one message per outbox row, none missing, and
/// each payment's messages in the order of its state changes.
async fn assert_each_row_once_in_payment_order(db: &TestDatabase, nats: &NatsServer) -> usize {
    let rows = outbox_rows(db).await;
    let messages = stream_messages(nats).await;
    let mut streamed_by_row: BTreeMap<i64, usize> = BTreeMap::new();
    for message in &messages {
        *streamed_by_row.entry(message.outbox_id).or_default() += 1;
    }
    let twice: Vec<i64> = streamed_by_row
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(outbox_id, _)| *outbox_id)
        .collect();
    assert!(
        twice.is_empty(),
        "rows in the stream more than once: {twice:?}"
    );
    let expected: BTreeMap<i64, &str> = rows
        .iter()
        .map(|(outbox_id, message_id, _)| (*outbox_id, message_id.as_str()))
        .collect();
    let streamed: BTreeMap<i64, &str> = messages
        .iter()
        .map(|message| (message.outbox_id, message.message_id.as_str()))
        .collect();
    assert_eq!(
        streamed, expected,
        "the stream holds exactly the outbox rows, each under its message id"
    );
    let mut last_by_payment: BTreeMap<i64, i64> = BTreeMap::new();
    for message in &messages {
        if let Some(previous) = last_by_payment.insert(message.payment_id, message.outbox_id) {
            assert!(
                previous < message.outbox_id,
                "payment {}: row {} streamed after row {}",
                message.payment_id,
                message.outbox_id,
                previous
            );
        }
    }
    validate_documents(&messages);
    messages.len()
}

/// Every document validates against the pacs.002.001.10 XSD (xmllint).
fn validate_documents(messages: &[Streamed]) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    for chunk in messages.chunks(250) {
        let mut paths = Vec::with_capacity(chunk.len());
        for message in chunk {
            assert!(
                !message.document.is_empty(),
                "{} has a document",
                message.message_id
            );
            let path = directory.path().join(format!("{}.xml", message.message_id));
            std::fs::File::create(&path)
                .and_then(|mut file| file.write_all(&message.document))
                .expect("write the document");
            paths.push(path);
        }
        xmllint(&paths);
        for path in paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn xmllint(paths: &[impl AsRef<Path>]) {
    let out = Command::new("xmllint")
        .args(["--noout", "--schema", XSD])
        .args(paths.iter().map(AsRef::as_ref))
        .output()
        .unwrap_or_else(|error| {
            panic!("xmllint is required (apt-get install -y libxml2-utils): {error}")
        });
    assert!(
        out.status.success(),
        "xmllint refused a confirmation:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn ledger_with_accounts() -> TestDatabase {
    TestDatabase::with_two_accounts(LedgerOptions::default()).await
}

/// Relays killed where they announce it: published and acknowledged, not marked.
const KILLS_AT_HALT: usize = 6;
/// Relays killed wherever they are.
const KILLS_AT_RANDOM: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_killed_mid_run_leave_each_confirmation_once_in_the_stream_in_payment_order() {
    let nats = NatsServer::start();
    let db = ledger_with_accounts().await;
    let state_changes = state_changes();
    // One relay halts after publishing (the stream holds the rows, the
    // outbox does not say so), one after claiming (it holds rows it never
    // publishes, and later rows of those payments must wait).
    let halting_args: [&[&str]; 2] = [
        &["--halt-after-claims", "2"],
        &["--halt-after-claims", "2", "--halt-before-publishing"],
    ];
    let applying = tokio::spawn(apply_state_changes(db.ledger.clone(), "run", state_changes));
    // Two relays that die where it hurts most, and one that runs on.
    let mut halting: Vec<Relay> = halting_args
        .iter()
        .map(|args| Relay::start(&db, &nats, args))
        .collect();
    let _steady = Relay::start(&db, &nats, &[]);
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut kills_at_halt = 0;
    let mut extra_runs = 0;
    while kills_at_halt < KILLS_AT_HALT {
        assert!(Instant::now() < deadline, "the relays did not halt");
        for (slot, args) in halting.iter_mut().zip(halting_args) {
            while let Ok(line) = slot.lines.try_recv() {
                if line.starts_with("relay: halted before") {
                    // Others claim while it holds its rows, then it dies.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    std::mem::replace(slot, Relay::start(&db, &nats, args)).kill();
                    kills_at_halt += 1;
                }
            }
        }
        if applying.is_finished() {
            // More rows for the halting relays to claim.
            extra_runs += 1;
            apply_state_changes(db.ledger.clone(), &format!("extra-{extra_runs}"), 50).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut relays: Vec<Relay> = halting
        .into_iter()
        .map(|relay| {
            relay.kill();
            Relay::start(&db, &nats, &[])
        })
        .collect();
    let more = tokio::spawn(apply_state_changes(db.ledger.clone(), "more", 400));
    for kill in 0..KILLS_AT_RANDOM {
        let pause_ms = 30 + (kill as u64 * 37) % 150;
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        let slot = &mut relays[kill % 2];
        std::mem::replace(slot, Relay::start(&db, &nats, &[])).kill();
    }
    applying.await.expect("the state changes are applied");
    more.await.expect("the state changes are applied");
    wait_until_delivered(&db.ledger).await;
    let streamed = assert_each_row_once_in_payment_order(&db, &nats).await;
    assert!(
        streamed >= state_changes,
        "{streamed} confirmations streamed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_stopped_and_started_again_delays_confirmations_and_loses_or_duplicates_none() {
    let mut nats = NatsServer::start();
    let db = ledger_with_accounts().await;
    let relays: Vec<Relay> = (0..2).map(|_| Relay::start(&db, &nats, &[])).collect();
    let state_changes = state_changes();
    apply_state_changes(db.ledger.clone(), "before", state_changes / 2).await;
    nats.stop();
    // Payments go on while the broker is down; their confirmations wait.
    let started = Instant::now();
    apply_state_changes(db.ledger.clone(), "during", state_changes / 2).await;
    let applying_time = started.elapsed();
    let lag = db.ledger.outbox_lag().await.unwrap();
    assert!(
        lag.undelivered_count > 0,
        "confirmations wait for the broker"
    );
    assert!(
        applying_time < Duration::from_secs(60),
        "payments were held up by the broker: {applying_time:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    nats.start_again();
    wait_until_delivered(&db.ledger).await;
    drop(relays);
    let streamed = assert_each_row_once_in_payment_order(&db, &nats).await;
    assert_eq!(streamed, outbox_rows(&db).await.len());
}

/// A ledger with `state_changes` confirmations in the stream, its relay
/// stopped.
async fn stream_filled(state_changes: usize) -> (NatsServer, TestDatabase) {
    let nats = NatsServer::start();
    let db = ledger_with_accounts().await;
    let relay = Relay::start(&db, &nats, &[]);
    apply_state_changes(db.ledger.clone(), "consumed", state_changes).await;
    wait_until_delivered(&db.ledger).await;
    relay.kill();
    (nats, db)
}

/// Runs `ledger consume` to the end of the stream, or, with `halt_after`,
/// until it announces its halt, then kills it with SIGKILL and returns the
/// message id it halted at.
fn consume(
    nats: &NatsServer,
    consumer_db: &TestDatabase,
    guarantee: &str,
    halt_after: Option<u64>,
) -> Option<String> {
    let mut process = Command::new(env!("CARGO_BIN_EXE_ledger"));
    process
        .args(["consume", "--nats-url", &nats.url()])
        .args([
            "--consumer-database-url",
            &database_url(&consumer_db.config),
        ])
        .args(["--durable-name", guarantee, "--guarantee", guarantee])
        .args(["--ack-wait-ms", "1000", "--exit-when-idle-ms", "3000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(halt_after) = halt_after {
        process.args(["--halt-after-messages", &halt_after.to_string()]);
    }
    let mut child = process.spawn().expect("ledger consume starts");
    let lines = stdout_lines(&mut child);
    match halt_after {
        Some(_) => {
            let line = wait_for_line(
                &lines,
                "consume: halted at message ",
                Duration::from_secs(60),
            )
            .expect("the consumer halts");
            child.kill().expect("kill the consumer");
            child.wait().expect("reap the consumer");
            Some(
                line.trim_start_matches("consume: halted at message ")
                    .to_owned(),
            )
        }
        None => {
            let status = child.wait().expect("the consumer ends");
            assert!(status.success(), "the consumer failed: {status}");
            None
        }
    }
}

/// The consumer's table: message ids in the order applied.
async fn applied(consumer_db: &TestDatabase) -> Vec<String> {
    connect(&consumer_db.config)
        .await
        .query(
            "SELECT message_id FROM confirmations_applied ORDER BY applied_id",
            &[],
        )
        .await
        .expect("read the consumer's table")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

const CONSUMED_STATE_CHANGES: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_stream_in_exactly_once_mode_applies_each_confirmation_once() {
    let (nats, db) = stream_filled(CONSUMED_STATE_CHANGES).await;
    let consumer_db = TestDatabase::with_defaults().await;
    for halt_after in [30, 45, 60] {
        consume(&nats, &consumer_db, "exactly-once", Some(halt_after));
    }
    consume(&nats, &consumer_db, "exactly-once", None);
    let applied = applied(&consumer_db).await;
    let distinct: BTreeSet<&String> = applied.iter().collect();
    assert_eq!(
        distinct.len(),
        applied.len(),
        "a confirmation applied twice"
    );
    let expected: Vec<String> = outbox_rows(&db)
        .await
        .into_iter()
        .map(|row| row.1)
        .collect();
    assert_eq!(
        distinct,
        expected.iter().collect::<BTreeSet<_>>(),
        "the table equals the set of confirmations"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_between_applying_and_acknowledging_in_at_least_once_mode_applies_one_twice(
) {
    let (nats, db) = stream_filled(CONSUMED_STATE_CHANGES).await;
    let consumer_db = TestDatabase::with_defaults().await;
    let halted_at = consume(&nats, &consumer_db, "at-least-once", Some(40)).unwrap();
    consume(&nats, &consumer_db, "at-least-once", None);
    let applied = applied(&consumer_db).await;
    let twice: Vec<&String> = applied
        .iter()
        .filter(|id| applied.iter().filter(|other| other == id).count() > 1)
        .collect();
    assert_eq!(
        twice,
        vec![&halted_at, &halted_at],
        "only the halted one twice"
    );
    let distinct: BTreeSet<&String> = applied.iter().collect();
    assert_eq!(distinct.len(), outbox_rows(&db).await.len(), "none lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_between_acknowledging_and_applying_in_at_most_once_mode_loses_one() {
    let (nats, db) = stream_filled(CONSUMED_STATE_CHANGES).await;
    let consumer_db = TestDatabase::with_defaults().await;
    let halted_at = consume(&nats, &consumer_db, "at-most-once", Some(40)).unwrap();
    consume(&nats, &consumer_db, "at-most-once", None);
    let applied = applied(&consumer_db).await;
    let distinct: BTreeSet<&String> = applied.iter().collect();
    assert_eq!(distinct.len(), applied.len(), "none applied twice");
    let missing: Vec<String> = outbox_rows(&db)
        .await
        .into_iter()
        .map(|row| row.1)
        .filter(|id| !distinct.contains(id))
        .collect();
    assert_eq!(missing, vec![halted_at], "exactly the halted one is lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_status_shows_the_lag_and_prune_refuses_a_retention_under_a_day() {
    let db = ledger_with_accounts().await;
    apply_state_changes(db.ledger.clone(), "lag", 10).await;
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["outbox", "status"])
        .env("DATABASE_URL", database_url(&db.config))
        .output()
        .expect("ledger outbox status runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("undelivered: 10"), "{text}");
    assert!(text.contains("oldest undelivered age: "), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["outbox", "prune", "--older-than", "1h"])
        .env("DATABASE_URL", database_url(&db.config))
        .output()
        .expect("ledger outbox prune runs");
    assert_eq!(out.status.code(), Some(1), "refused");
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["outbox", "prune", "--older-than", "7d"])
        .env("DATABASE_URL", database_url(&db.config))
        .output()
        .expect("ledger outbox prune runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("pruned 0 outbox rows"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_relay_nats_url_publishes_the_confirmations_too() {
    let nats = NatsServer::start();
    let db = ledger_with_accounts().await;
    let mut server = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--relay-nats-url", &nats.url()])
        .env("DATABASE_URL", database_url(&db.config))
        .env("LEDGER_TOKENS", "bank-a=relay-test-token-0123456789")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ledger serve starts");
    let lines = stdout_lines(&mut server);
    wait_for_line(&lines, "relay: publishing", Duration::from_secs(60))
        .expect("the server's relay says where it publishes");
    apply_state_changes(db.ledger.clone(), "served", 100).await;
    wait_until_delivered(&db.ledger).await;
    server.kill().expect("kill the server");
    server.wait().expect("reap the server");
    assert_eq!(assert_each_row_once_in_payment_order(&db, &nats).await, 100);
}
