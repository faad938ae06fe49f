//! `confirmations`: state changes written by `ledger ingest` (pain.001
//! holds, then pacs.002 settlements of them: two outbox rows per payment)
//! while two `ledger relay` processes publish the outbox to a real
//! `nats-server -js`. Faults: a relay SIGKILLed three times (each after at
//! least 20% more of the state changes were delivered) and started again,
//! nats-server stopped and started twice on the same port and store. Checks:
//! the stream holds exactly the outbox rows' message ids, none twice, each
//! payment's in outbox order on its subject; `ledger outbox status` shows
//! nothing undelivered; `ledger consume --guarantee exactly-once` fills its
//! inbox with exactly that set; the audit clean.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream;
use ledger_system_tests::nats::NatsServer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_stream::StreamExt;

use crate::processes::{self, Postgres};
use crate::scenarios::{self, pain001, Overdraft, Run};
use crate::scorecard::Scorecard;

const RELAYS: usize = 2;
const RELAY_KILLS: usize = 3;
const NATS_RESTARTS: usize = 2;
/// Each relay kill comes after at least this share (per mille) of the
/// state changes was delivered since the previous one (or the start).
const KILL_SPACING_PERMILLE: u64 = 200;
const DEBTORS: u64 = 4;
const CLEARING: &str = "EURCLEARING01";
const STREAM_NAME: &str = "LEDGER_CONFIRMATIONS";
const SUBJECT_PREFIX: &str = "ledger.confirmations";
const CONSUMER_DB: &str = "chaos_consumer";

fn debtor(block: u64) -> String {
    scenarios::iban_de(37040044, 2_000_000 + block % DEBTORS)
}

/// The pain.001 message of chunk `chunk`.
fn pain_message_id(seed: u64, chunk: u64) -> String {
    format!("CONF-{seed}-{chunk}")
}

/// A pacs.002.001.10 settling (ACSC) payment positions `first..=last` of
/// the pain.001 `original`: each held payment's second state change.
fn write_pacs002(
    path: &Path,
    message_id: &str,
    original: &str,
    first: u64,
    last: u64,
) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10\"><FIToFIPmtStsRpt>\
         <GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-30T11:00:00Z</CreDtTm>\
         <InstgAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></InstgAgt>\
         <InstdAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstdAgt></GrpHdr>\n\
         <OrgnlGrpInfAndSts><OrgnlMsgId>{original}</OrgnlMsgId>\
         <OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>"
    )?;
    for position in first..=last {
        writeln!(
            out,
            "<TxInfAndSts><StsId>S-{position}</StsId><OrgnlInstrId>I-{position}</OrgnlInstrId>\
             <OrgnlEndToEndId>E2E-{original}-{position}</OrgnlEndToEndId>\
             <TxSts>ACSC</TxSts></TxInfAndSts>"
        )?;
    }
    writeln!(out, "</FIToFIPmtStsRpt></Document>")?;
    out.flush()
}

/// A `ledger relay` child process.
struct Relay {
    slot: usize,
    child: Option<Child>,
    binary: PathBuf,
    database_url: String,
    nats_url: String,
    log_path: PathBuf,
}

impl Relay {
    /// Starts the relay and waits until it says where it publishes.
    fn start(&mut self) -> anyhow::Result<u32> {
        anyhow::ensure!(self.child.is_none(), "relay#{} is running", self.slot);
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let child = Command::new(&self.binary)
            .arg("relay")
            .args(["--nats-url", &self.nats_url])
            .args(["--stream-name", STREAM_NAME])
            .args(["--subject-prefix", SUBJECT_PREFIX])
            .args(["--idle-poll-interval-ms", "20"])
            .args(["--publish-ack-timeout-ms", "2000"])
            .args(["--retry-delay-max-ms", "1000"])
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .env_remove("LEDGER_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("spawn ledger relay")?;
        let child = processes::wait_until_ready(
            child,
            "relay: publishing",
            &format!("relay#{}", self.slot),
        )?;
        let pid = child.id();
        self.child = Some(child);
        Ok(pid)
    }

    /// SIGKILL by PID, reaped. Returns the PID killed.
    fn kill(&mut self) -> Option<u32> {
        processes::kill_child(&mut self.child)
    }

    fn exited(&mut self) -> Option<String> {
        processes::child_exited(&mut self.child)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The planned faults, in order: (delivered state changes at which, fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    KillRelay,
    RestartNats,
}

/// Relay kills at 20-25%, 45-50% and 70-75% of the state changes
/// delivered, nats-server restarts at 30-35% and 55-60%.
fn plan(seed: u64, total: u64) -> Vec<(u64, Fault)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xC0F1);
    let windows = [
        (200, Fault::KillRelay),
        (300, Fault::RestartNats),
        (450, Fault::KillRelay),
        (550, Fault::RestartNats),
        (700, Fault::KillRelay),
    ];
    windows
        .iter()
        .map(|(low, fault)| {
            let permille = rng.random_range(*low..low + 50);
            (total * permille / 1_000, *fault)
        })
        .collect()
}

/// What the fault thread reports back.
struct Injected {
    /// Delivered counts at each relay kill.
    kill_points: Vec<u64>,
    /// Kills of a relay with a claim open.
    kills_in_claim: usize,
    nats_restarts: usize,
    not_injected: Vec<String>,
    caught_up: bool,
    waited_after_ingest: Duration,
}

/// Drives the faults by the relays' progress (rows delivered), restarts a
/// relay that exits by itself, and waits (bounded) for the relays to catch
/// up once ingest is done. `gate` holds ingest back (it starts no file once
/// that many rows are written) until the next fault is injected, a little
/// past its point, so every fault hits rows in flight however fast the
/// relays are.
#[allow(clippy::too_many_arguments)]
fn inject(
    seed: u64,
    total: u64,
    plan: Vec<(u64, Fault)>,
    relays: &mut [Relay],
    nats: &mut NatsServer,
    config: tokio_postgres::Config,
    ingest_done: &AtomicBool,
    gate: &AtomicU64,
    catch_up_bound: Duration,
    scorecard: &Scorecard,
) -> Injected {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the fault thread");
    let client = runtime
        .block_on(processes::connect(&config))
        .expect("connect for the fault thread");
    let delivered = || {
        runtime
            .block_on(client.query_one(
                "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NOT NULL",
                &[],
            ))
            .map(|row| row.get::<_, i64>(0) as u64)
            .unwrap_or(0)
    };
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED);
    let mut plan = plan.into_iter().peekable();
    let mut injected = Injected {
        kill_points: Vec::new(),
        kills_in_claim: 0,
        nats_restarts: 0,
        not_injected: Vec::new(),
        caught_up: false,
        waited_after_ingest: Duration::ZERO,
    };
    let mut ingest_ended: Option<Instant> = None;
    loop {
        for relay in relays.iter_mut() {
            if let Some(status) = relay.exited() {
                scorecard.fault(format!("relay#{} exited by itself: {status}", relay.slot));
                restart(relay, scorecard);
            }
        }
        let now_delivered = delivered();
        if ingest_ended.is_none() && ingest_done.load(Ordering::SeqCst) {
            ingest_ended = Some(Instant::now());
        }
        if let Some(ended) = ingest_ended {
            injected.waited_after_ingest = ended.elapsed();
            if now_delivered >= total {
                injected.caught_up = true;
                break;
            }
            if ended.elapsed() > catch_up_bound {
                break;
            }
        }
        let threshold = plan.peek().map(|(at, fault)| match fault {
            Fault::KillRelay => (*at).max(
                injected.kill_points.last().copied().unwrap_or(0)
                    + total * KILL_SPACING_PERMILLE / 1_000,
            ),
            Fault::RestartNats => *at,
        });
        gate.store(
            threshold.map_or(u64::MAX, |threshold| threshold + total / 10),
            Ordering::SeqCst,
        );
        if threshold.is_none_or(|threshold| now_delivered < threshold) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let (_, fault) = plan.next().expect("peeked");
        match fault {
            Fault::KillRelay => {
                // A relay in the middle of a claim: its transaction open
                // after the claim, its rows being published (10 s at most).
                let deadline = Instant::now() + Duration::from_secs(10);
                let (slot, in_claim) = loop {
                    let claiming: Vec<usize> = runtime
                        .block_on(client.query(
                            "SELECT application_name FROM pg_stat_activity \
                             WHERE application_name LIKE 'chaos-relay-%' \
                               AND state = 'idle in transaction' AND query LIKE '%SKIP LOCKED%'",
                            &[],
                        ))
                        .map(|rows| {
                            rows.iter()
                                .filter_map(|row| {
                                    row.get::<_, String>(0)
                                        .strip_prefix("chaos-relay-")?
                                        .parse()
                                        .ok()
                                })
                                .filter(|slot| *slot < relays.len())
                                .collect()
                        })
                        .unwrap_or_default();
                    if !claiming.is_empty() {
                        break (claiming[rng.random_range(0..claiming.len())], true);
                    }
                    if Instant::now() > deadline {
                        break (rng.random_range(0..relays.len()), false);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                };
                let relay = &mut relays[slot];
                let at = delivered();
                if let Some(pid) = relay.kill() {
                    injected.kill_points.push(at);
                    if in_claim {
                        injected.kills_in_claim += 1;
                    }
                    scorecard.fault(format!(
                        "SIGKILL relay#{slot} (pid {pid}) {} at {at} of {total} state changes \
                         delivered",
                        if in_claim {
                            "holding a claim (its rows claimed and being published, not yet marked)"
                        } else {
                            "(no claim open within 10 s)"
                        }
                    ));
                } else {
                    scorecard.fault(format!("relay#{slot} was not running to be killed"));
                }
                std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
                restart(relay, scorecard);
            }
            Fault::RestartNats => {
                let at = delivered();
                nats.stop();
                scorecard.fault(format!(
                    "nats-server stopped (SIGTERM) at {at} of {total} state changes delivered"
                ));
                std::thread::sleep(Duration::from_millis(rng.random_range(500..2_000)));
                let started =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| nats.start_again()));
                match started {
                    Ok(()) => {
                        injected.nats_restarts += 1;
                        scorecard.fault("nats-server started again (same port, same store)");
                    }
                    Err(_) => scorecard.fault("nats-server start FAILED"),
                }
            }
        }
    }
    for (at, fault) in plan {
        injected
            .not_injected
            .push(format!("{fault:?} planned at {at} delivered"));
    }
    injected
}

fn restart(relay: &mut Relay, scorecard: &Scorecard) {
    match relay.start() {
        Ok(pid) => scorecard.fault(format!("restart relay#{} (pid {pid})", relay.slot)),
        Err(error) => scorecard.fault(format!("restart relay#{} FAILED: {error:#}", relay.slot)),
    }
}

/// `--sabotage`: deletes one message (a seeded sequence) from the stream
/// behind the relays' back, so a run shows its stream checks catch a loss.
async fn sabotage_stream(nats_url: &str, seed: u64, scorecard: &Scorecard) -> anyhow::Result<()> {
    let client = async_nats::connect(nats_url)
        .await
        .context("connect to NATS")?;
    let context = jetstream::new(client);
    let mut stream = context
        .get_stream(STREAM_NAME)
        .await
        .context("open the stream")?;
    let state = stream.info().await.context("stream info")?.state.clone();
    let span = state.last_sequence - state.first_sequence + 1;
    let sequence = state.first_sequence + seed % span.max(1);
    stream
        .delete_message(sequence)
        .await
        .map_err(|error| anyhow::anyhow!("delete a stream message: {error}"))?;
    scorecard.fault(format!(
        "sabotage: stream message at sequence {sequence} deleted"
    ));
    Ok(())
}

/// One message of the stream.
struct Streamed {
    subject: String,
    message_id: Option<String>,
}

/// Every message of the stream, in stream order, through an ephemeral
/// consumer (no acknowledgements).
async fn stream_messages(nats_url: &str) -> anyhow::Result<Vec<Streamed>> {
    let client = async_nats::connect(nats_url)
        .await
        .context("connect to NATS")?;
    let context = jetstream::new(client);
    let mut stream = context
        .get_stream(STREAM_NAME)
        .await
        .context("open the stream")?;
    let total = stream.info().await.context("stream info")?.state.messages as usize;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .context("an ephemeral consumer")?;
    let mut messages = Vec::with_capacity(total);
    let deadline = Instant::now() + Duration::from_secs(600);
    while messages.len() < total {
        anyhow::ensure!(
            Instant::now() < deadline,
            "read {} of the stream's {total} messages",
            messages.len()
        );
        let mut batch = consumer
            .fetch()
            .max_messages(1_000)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .map_err(|error| anyhow::anyhow!("fetch a batch: {error}"))?;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|error| anyhow::anyhow!("a message: {error}"))?;
            messages.push(Streamed {
                subject: message.subject.to_string(),
                message_id: message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get("Nats-Msg-Id"))
                    .map(|value| value.as_str().to_owned()),
            });
        }
    }
    Ok(messages)
}

pub async fn run(run: &Run) -> anyhow::Result<Arc<Scorecard>> {
    // State changes: two per payment (held, then settled).
    let payments = (run.operations(100_000, 2_000) / 2).max(2);
    let total = payments * 2;
    let chunks: u64 = 20.min(payments);
    let chunk_size = payments.div_ceil(chunks);
    let batch_size = if payments >= 20_000 { 500 } else { 50 };
    let scorecard = Arc::new(Scorecard::new("confirmations", run.seed, run.size.name()));
    let postgres = Postgres::start(&run.work_dir, "chaos").await?;
    let mut accounts: Vec<_> = (0..DEBTORS)
        .map(|block| (debtor(block), "EUR", Overdraft::Unrestricted))
        .collect();
    accounts.push((CLEARING.to_owned(), "EUR", Overdraft::Unrestricted));
    scenarios::open_accounts(run, &postgres, &accounts, Some(CLEARING)).await?;

    // The files, in the order ingest runs them: the holds of chunk k, then
    // the settlements of chunk k-1, so a payment's two rows are a chunk apart.
    let mut files = Vec::new();
    for chunk in 0..=chunks {
        if chunk < chunks {
            let first = chunk * chunk_size + 1;
            let last = ((chunk + 1) * chunk_size).min(payments);
            if first <= last {
                let path = run.work_dir.join(format!("pain001-{chunk}.xml"));
                // Held (PENDING) payments to non-held creditors.
                pain001::write(
                    &path,
                    &pain_message_id(run.seed, chunk),
                    first,
                    last,
                    debtor,
                )?;
                files.push((path, last - first + 1));
            }
        }
        if chunk > 0 {
            let settled = chunk - 1;
            let first = settled * chunk_size + 1;
            let last = ((settled + 1) * chunk_size).min(payments);
            if first <= last {
                let path = run.work_dir.join(format!("pacs002-{settled}.xml"));
                write_pacs002(
                    &path,
                    &format!("STS-{}-{settled}", run.seed),
                    &pain_message_id(run.seed, settled),
                    first,
                    last,
                )?;
                files.push((path, last - first + 1));
            }
        }
    }
    scorecard.figure(
        "setup",
        format!(
            "{total} state changes: {payments} payments held by pain.001 and settled by \
             pacs.002, {} files through `ledger ingest --batch-size {batch_size}`, \
             {RELAYS} `ledger relay` processes, one `nats-server -js`",
            files.len()
        ),
    );

    let nats = tokio::task::spawn_blocking(NatsServer::start)
        .await
        .map_err(|_| anyhow::anyhow!("nats-server did not start (is it installed?)"))?;
    let nats_url = nats.url();
    let mut relays: Vec<Relay> = (0..RELAYS)
        .map(|slot| Relay {
            slot,
            child: None,
            binary: run.ledger_bin.clone(),
            // Names the relay's connection in pg_stat_activity.
            database_url: format!("{} application_name=chaos-relay-{slot}", postgres.url()),
            nats_url: nats_url.clone(),
            log_path: run.work_dir.join(format!("relay-{slot}.log")),
        })
        .collect();
    for relay in relays.iter_mut() {
        relay.start()?;
    }
    let plan = plan(run.seed, total);
    println!("fault schedule as injected:");

    // Ingest, one file after the other, while the relays run; a file starts
    // only while fewer rows than the gate are written.
    let ingest_done = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(AtomicU64::new(0));
    let ingest = {
        let binary = run.ledger_bin.clone();
        let url = postgres.url();
        let done = ingest_done.clone();
        let gate = gate.clone();
        let scorecard = scorecard.clone();
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut written = 0;
            for (file, rows) in &files {
                while written >= gate.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                written += rows;
                let arguments = [
                    "ingest",
                    "--batch-size",
                    &batch_size.to_string(),
                    &file.display().to_string(),
                ]
                .map(str::to_owned);
                let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
                match processes::run_ledger(&binary, &url, &arguments) {
                    Ok((Some(0), _)) => scorecard.count_ok(),
                    Ok((code, output)) => {
                        scorecard.count_failed();
                        failures.push(format!(
                            "ingest {} exited {code:?}: {}",
                            file.display(),
                            output.lines().rev().take(6).collect::<Vec<_>>().join(" | ")
                        ));
                    }
                    Err(error) => {
                        scorecard.count_failed();
                        failures.push(format!("ingest {} did not run: {error:#}", file.display()));
                    }
                }
            }
            done.store(true, Ordering::SeqCst);
            failures
        })
    };
    let catch_up_bound = Duration::from_secs(if total >= 20_000 { 600 } else { 180 });
    let (injected, relays, nats) = {
        let config = postgres.config();
        let scorecard = scorecard.clone();
        let ingest_done = ingest_done.clone();
        let gate = gate.clone();
        let seed = run.seed;
        tokio::task::spawn_blocking(move || {
            let mut nats = nats;
            let injected = inject(
                seed,
                total,
                plan,
                &mut relays,
                &mut nats,
                config,
                &ingest_done,
                &gate,
                catch_up_bound,
                &scorecard,
            );
            (injected, relays, nats)
        })
        .await?
    };
    let ingest_failures = ingest
        .join()
        .map_err(|_| anyhow::anyhow!("the ingest thread panicked"))?;
    // The relays stop before the stream is read: nothing moves any more.
    drop(relays);
    scorecard.figure(
        "relay kills that hit a relay holding a claim",
        format!(
            "{} of {}",
            injected.kills_in_claim,
            injected.kill_points.len()
        ),
    );
    scorecard.figure(
        "relays caught up",
        format!(
            "{} ({:.1} s after the last ingest, bound {} s)",
            if injected.caught_up { "yes" } else { "NO" },
            injected.waited_after_ingest.as_secs_f64(),
            catch_up_bound.as_secs()
        ),
    );

    scorecard.invariant("every ingest run exits 0", ingest_failures);
    let mut missed = injected.not_injected.clone();
    if injected.kill_points.len() < RELAY_KILLS {
        missed.push(format!(
            "{} of {RELAY_KILLS} relay kills",
            injected.kill_points.len()
        ));
    }
    if injected.nats_restarts < NATS_RESTARTS {
        missed.push(format!(
            "{} of {NATS_RESTARTS} nats-server restarts",
            injected.nats_restarts
        ));
    }
    let spacing = total * KILL_SPACING_PERMILLE / 1_000;
    let mut previous = 0;
    for at in &injected.kill_points {
        if at - previous < spacing {
            missed.push(format!(
                "relay kill at {at} delivered, only {} after the previous",
                at - previous
            ));
        }
        previous = *at;
    }
    scorecard.invariant(
        "every planned fault injected (relay kills each after >= 20% more delivered)",
        missed,
    );

    let client = processes::connect(&postgres.config()).await?;
    let rows = client
        .query(
            "SELECT o.outbox_id, o.message_id, o.payment_id, p.state, p.currency::TEXT \
             FROM outbox o JOIN payments p ON p.payment_id = o.payment_id \
             ORDER BY o.outbox_id",
            &[],
        )
        .await
        .context("read the outbox")?;
    // message id -> (outbox id, payment id, subject)
    let mut outbox: BTreeMap<String, (i64, i64, String)> = BTreeMap::new();
    let mut settled: BTreeSet<i64> = BTreeSet::new();
    for row in &rows {
        let payment_id: i64 = row.get(2);
        let state: String = row.get(3);
        let currency: String = row.get(4);
        if state == "SETTLED" {
            settled.insert(payment_id);
        }
        outbox.insert(
            row.get(1),
            (
                row.get(0),
                payment_id,
                format!("{SUBJECT_PREFIX}.{currency}.{payment_id}"),
            ),
        );
    }
    let mut written = Vec::new();
    if outbox.len() as u64 != total {
        written.push(format!(
            "{} outbox rows for {total} state changes",
            outbox.len()
        ));
    }
    if settled.len() as u64 != payments {
        written.push(format!("{} payments SETTLED of {payments}", settled.len()));
    }
    scorecard.invariant(
        "every state change written (one outbox row each, every payment SETTLED)",
        written,
    );
    scorecard.figure("outbox rows", outbox.len());

    // `ledger outbox status`: the relays' delivered marks.
    let binary = run.ledger_bin.clone();
    let url = postgres.url();
    let status = tokio::task::spawn_blocking(move || {
        processes::run_ledger(&binary, &url, &["outbox", "status"])
    })
    .await?;
    let undelivered = match status {
        Ok((Some(0), output)) => match output
            .lines()
            .find_map(|line| line.strip_prefix("undelivered: "))
            .and_then(|count| count.trim().parse::<u64>().ok())
        {
            Some(0) => Vec::new(),
            Some(count) => vec![format!("ledger outbox status: undelivered: {count}")],
            None => vec![format!("ledger outbox status said: {output}")],
        },
        Ok((code, output)) => vec![format!("ledger outbox status exited {code:?}: {output}")],
        Err(error) => vec![format!("ledger outbox status did not run: {error:#}")],
    };
    scorecard.invariant(
        "`ledger outbox status` shows nothing undelivered (relays caught up)",
        undelivered,
    );

    if run.sabotage {
        sabotage_stream(&nats_url, run.seed, &scorecard).await?;
    }
    let messages = stream_messages(&nats_url).await?;
    scorecard.figure("messages in the stream", messages.len());
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    let mut without_id = 0;
    for message in &messages {
        match &message.message_id {
            Some(id) => *seen.entry(id.as_str()).or_default() += 1,
            None => without_id += 1,
        }
    }
    let missing: Vec<String> = outbox
        .keys()
        .filter(|id| !seen.contains_key(id.as_str()))
        .map(|id| format!("outbox row {id} not in the stream"))
        .collect();
    let mut extra: Vec<String> = seen
        .keys()
        .filter(|id| !outbox.contains_key(**id))
        .map(|id| format!("stream message {id} is no outbox row"))
        .collect();
    if without_id > 0 {
        extra.push(format!("{without_id} stream messages without Nats-Msg-Id"));
    }
    let set_violations = (missing.len() + extra.len()) as u64;
    scorecard.invariant_counted(
        "stream message ids = outbox message ids (none missing, none extra)",
        set_violations,
        missing.into_iter().chain(extra).collect(),
    );
    let twice: Vec<String> = seen
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(id, count)| format!("{id} {count} times in the stream"))
        .collect();
    scorecard.invariant("no message twice in the stream", twice);
    let mut order = Vec::new();
    let mut last_by_payment: BTreeMap<i64, i64> = BTreeMap::new();
    for message in &messages {
        let Some((outbox_id, payment_id, subject)) = message
            .message_id
            .as_ref()
            .and_then(|id| outbox.get(id.as_str()))
        else {
            continue;
        };
        if &message.subject != subject {
            order.push(format!(
                "outbox row {outbox_id} on subject {}, not {subject}",
                message.subject
            ));
        }
        if let Some(previous) = last_by_payment.insert(*payment_id, *outbox_id) {
            if previous >= *outbox_id {
                order.push(format!(
                    "payment {payment_id}: outbox row {outbox_id} streamed after row {previous}"
                ));
            }
        }
    }
    scorecard.invariant(
        "each payment's messages in outbox order, on its payment's subject",
        order,
    );

    // `ledger consume --guarantee exactly-once` on a database of its own,
    // killed once half-way and run again to the end of the stream.
    consume_check(run, &postgres, &nats_url, &outbox, &scorecard).await?;

    scenarios::sabotage(run, &postgres, CLEARING, &scorecard).await;
    scenarios::audit(run, &postgres, &scorecard).await;
    drop(client);
    tokio::task::spawn_blocking(move || drop(nats)).await?;
    postgres.stop().await;
    Ok(scorecard)
}

/// Runs `ledger consume --guarantee exactly-once` against its own database:
/// first killed (SIGKILL) once it has applied about half the stream, then
/// again until the stream is idle; its inbox must hold the outbox's message
/// ids, and it must have applied each once.
async fn consume_check(
    run: &Run,
    postgres: &Postgres,
    nats_url: &str,
    outbox: &BTreeMap<String, (i64, i64, String)>,
    scorecard: &Scorecard,
) -> anyhow::Result<()> {
    let admin = processes::connect(&postgres.config()).await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {CONSUMER_DB}"))
        .await
        .context("create the consumer's database")?;
    let url = postgres.url();
    let consumer_url = match url.rsplit_once(" dbname=") {
        Some((base, _)) => format!("{base} dbname={CONSUMER_DB}"),
        None => anyhow::bail!("no dbname in {url}"),
    };
    let mut consumer_config = postgres.config();
    consumer_config.dbname(CONSUMER_DB);
    let arguments = |idle_ms: &str| -> Vec<String> {
        [
            "consume",
            "--nats-url",
            nats_url,
            "--stream-name",
            STREAM_NAME,
            "--subject-prefix",
            SUBJECT_PREFIX,
            "--consumer-database-url",
            &consumer_url,
            "--guarantee",
            "exactly-once",
            "--ack-wait-ms",
            "2000",
            "--exit-when-idle-ms",
            idle_ms,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let half = (outbox.len() / 2) as i64;
    let mut child = Command::new(&run.ledger_bin)
        .args(arguments("0"))
        .env_remove("DATABASE_URL")
        .env_remove("LEDGER_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn ledger consume")?;
    let mut inbox_client = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if inbox_client.is_none() {
            inbox_client = processes::connect(&consumer_config).await.ok();
        }
        let applied = match &inbox_client {
            Some(client) => client
                .query_one("SELECT COUNT(*) FROM confirmations_inbox", &[])
                .await
                .map(|row| row.get::<_, i64>(0))
                .unwrap_or(0),
            None => 0,
        };
        if applied >= half {
            break;
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("ledger consume ended before half the stream: {status}");
        }
        anyhow::ensure!(Instant::now() < deadline, "ledger consume made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = child.id();
    child.kill()?;
    child.wait()?;
    scorecard.fault(format!(
        "SIGKILL ledger consume --guarantee exactly-once (pid {pid}) at half the stream"
    ));
    let binary = run.ledger_bin.clone();
    let again = arguments("5000");
    let (code, output) = tokio::task::spawn_blocking(move || {
        let output = Command::new(&binary)
            .args(&again)
            .env_remove("DATABASE_URL")
            .env_remove("LEDGER_DATA_DIR")
            .stdin(Stdio::null())
            .output()
            .context("run ledger consume")?;
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        anyhow::Ok((output.status.code(), text))
    })
    .await??;
    scorecard.fault(format!(
        "ledger consume run again to the end: exit {code:?}"
    ));
    let client = processes::connect(&consumer_config).await?;
    let inbox: BTreeSet<String> = client
        .query("SELECT message_id FROM confirmations_inbox", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut wrong: Vec<String> = Vec::new();
    if code != Some(0) {
        wrong.push(format!(
            "the second consume exited {code:?}: {}",
            output.lines().rev().take(4).collect::<Vec<_>>().join(" | ")
        ));
    }
    wrong.extend(
        outbox
            .keys()
            .filter(|id| !inbox.contains(*id))
            .map(|id| format!("{id} not in the consumer's inbox")),
    );
    wrong.extend(
        inbox
            .iter()
            .filter(|id| !outbox.contains_key(*id))
            .map(|id| format!("{id} in the inbox is no outbox row")),
    );
    let applied_twice: Vec<String> = client
        .query(
            "SELECT message_id, COUNT(*) FROM confirmations_applied GROUP BY message_id \
             HAVING COUNT(*) <> 1",
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            format!(
                "{} applied {} times",
                row.get::<_, String>(0),
                row.get::<_, i64>(1)
            )
        })
        .collect();
    let violations = (wrong.len() + applied_twice.len()) as u64;
    scorecard.figure("consumer inbox rows", inbox.len());
    scorecard.invariant_counted(
        "`ledger consume --guarantee exactly-once` (killed once): inbox = outbox message ids, each applied once",
        violations,
        wrong.into_iter().chain(applied_twice).collect(),
    );
    Ok(())
}
