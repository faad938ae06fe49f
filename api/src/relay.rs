//! `ledger relay`: delivers the outbox to NATS JetStream, each confirmation
//! once in the stream (`docs/confirmations.md`); and `ledger outbox
//! status|prune`.
//!
//! One loop: claim undelivered rows (`Ledger::deliver_outbox`, at most one
//! per payment, rows other relays hold skipped), publish each row's pacs.002
//! with `Nats-Msg-Id` = the row's message id, wait for JetStream's
//! acknowledgements, mark the acknowledged rows delivered, commit. A relay
//! that dies between publishing and committing leaves its rows undelivered;
//! the next claim publishes them again and JetStream drops the duplicates
//! within its duplicate window. Rows older than half that window are looked
//! up on their payment's subject first, so a republish after a long outage
//! is not a duplicate either.

use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use async_nats::jetstream;
use async_nats::jetstream::stream::StorageType;
use async_nats::HeaderMap;
use ledger::{Ledger, OutboxRow};

use crate::admin::{duration_text, parse_duration};
use crate::confirmation::pacs002;
use crate::metrics;

/// The stream's name unless `--stream-name` says otherwise.
pub const STREAM_NAME_DEFAULT: &str = "LEDGER_CONFIRMATIONS";
/// The subjects' first tokens unless `--subject-prefix` says otherwise.
pub const SUBJECT_PREFIX_DEFAULT: &str = "ledger.confirmations";

/// Headers of every confirmation (besides `Nats-Msg-Id`).
pub const HEADER_PAYMENT_ID: &str = "Ledger-Payment-Id";
pub const HEADER_BUSINESS_KEY: &str = "Ledger-Business-Key";
pub const HEADER_STATE: &str = "Ledger-State";
pub const HEADER_STATUS_CODE: &str = "Ledger-Status-Code";
pub const HEADER_OUTBOX_ID: &str = "Ledger-Outbox-Id";
/// Only on rejections that carry one.
pub const HEADER_REASON_CODE: &str = "Ledger-Reason-Code";
/// `absent` on a confirmation whose row does not say which document it
/// confirms (written by the Rust API without an origin): the headers are
/// the whole confirmation then, the body is empty.
pub const HEADER_DOCUMENT: &str = "Ledger-Document";

/// How long PostgreSQL may keep a hung relay's claim: its
/// idle-in-transaction timeout (three times the statement timeout of
/// `LedgerOptions`' default). A relay that dies releases its claim at once.
const CLAIM_RELEASE_MS_MAX: u64 = 30_000;

/// Where confirmations go: the stream and its subjects.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamArgs {
    /// NATS server URL(s), comma-separated.
    #[arg(long, env = "LEDGER_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// The JetStream stream that holds the confirmations.
    #[arg(long, default_value = STREAM_NAME_DEFAULT)]
    pub stream_name: String,
    /// Confirmations are published to `<prefix>.<currency>.<payment id>`.
    #[arg(long, default_value = SUBJECT_PREFIX_DEFAULT)]
    pub subject_prefix: String,
}

impl StreamArgs {
    /// The subject of a payment's confirmations.
    pub fn subject(&self, currency: &str, payment_id: i64) -> String {
        format!("{}.{currency}.{payment_id}", self.subject_prefix)
    }

    /// Every confirmation's subject.
    pub fn subjects_all(&self) -> String {
        format!("{}.>", self.subject_prefix)
    }
}

/// Where JetStream keeps the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamStorage {
    File,
    Memory,
}

#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    #[command(flatten)]
    pub stream: StreamArgs,
    /// Storage of the stream when the relay creates it (an existing stream
    /// must have it).
    #[arg(long, value_enum, default_value = "file")]
    pub stream_storage: StreamStorage,
    /// JetStream's duplicate window: a message id seen within it is
    /// dropped. Must be longer than the relay's worst delay between two
    /// publishes of one row (--publish-ack-timeout + --retry-delay-max +
    /// 30s for PostgreSQL to release a hung relay's claim).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub stream_duplicate_window: Duration,
    /// Rows claimed (and published) per transaction.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub claim_rows_max: u64,
    /// How long the relay waits for JetStream's acknowledgements of one
    /// claim, in milliseconds; unacknowledged rows are published again.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(100..=20_000))]
    pub publish_ack_timeout_ms: u64,
    /// Pause when nothing is undelivered, in milliseconds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub idle_poll_interval_ms: u64,
    /// Longest pause after a failure (broker or database), in milliseconds;
    /// pauses double from 100 ms up to it.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub retry_delay_max_ms: u64,
    /// Testing: at this many claims, stop after JetStream acknowledged them
    /// and before marking them delivered, say so on stdout, and wait to be
    /// killed.
    #[arg(long, hide = true)]
    pub halt_after_claims: Option<u64>,
    /// Testing: with --halt-after-claims, halt after claiming, before
    /// publishing.
    #[arg(long, hide = true)]
    pub halt_before_publishing: bool,
    /// Serve Prometheus metrics at http://ADDRESS/metrics (docs/metrics.md:
    /// the relay's publishes, acknowledgements and failures, the outbox's
    /// lag); off unless set [LEDGER_METRICS_LISTEN].
    #[arg(long, value_name = "ADDRESS")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl RelayArgs {
    /// The longest time between two publishes of one row: the ack timeout,
    /// the failure pause, and PostgreSQL releasing a hung relay's claim.
    pub fn republish_delay_ms_max(&self) -> u64 {
        self.publish_ack_timeout_ms + self.retry_delay_max_ms + CLAIM_RELEASE_MS_MAX
    }

    /// The relay's configuration is consistent, or why not.
    pub fn check(&self) -> anyhow::Result<()> {
        let window_ms = self.stream_duplicate_window.as_millis() as u64;
        if window_ms <= self.republish_delay_ms_max() {
            bail!(
                "--stream-duplicate-window {} is not longer than the relay's worst delay before \
                 publishing a row again ({} ms: --publish-ack-timeout-ms + --retry-delay-max-ms \
                 + {CLAIM_RELEASE_MS_MAX} ms for a hung relay's claim)",
                duration_text(self.stream_duplicate_window),
                self.republish_delay_ms_max()
            );
        }
        Ok(())
    }
}

/// Connects to NATS (retrying in the background when the server is down).
pub async fn connect(stream: &StreamArgs) -> anyhow::Result<async_nats::Client> {
    let servers = stream
        .nats_url
        .split(',')
        .map(|url| url.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("--nats-url {}", stream.nats_url))?;
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(servers)
        .await
        .with_context(|| format!("connecting to NATS at {}", stream.nats_url))
}

/// Creates the stream, or checks that the existing one has the subjects,
/// the storage and a duplicate window at least as long as asked.
pub async fn ensure_stream(
    context: &jetstream::Context,
    args: &RelayArgs,
) -> anyhow::Result<jetstream::stream::Stream> {
    let storage = match args.stream_storage {
        StreamStorage::File => StorageType::File,
        StreamStorage::Memory => StorageType::Memory,
    };
    let config = jetstream::stream::Config {
        name: args.stream.stream_name.clone(),
        subjects: vec![args.stream.subjects_all()],
        storage,
        duplicate_window: args.stream_duplicate_window,
        description: Some("ledger confirmations (pacs.002), one per outbox row".to_owned()),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stream = loop {
        match context.get_or_create_stream(config.clone()).await {
            Ok(stream) => break stream,
            Err(error) if Instant::now() < deadline => {
                eprintln!("relay: waiting for JetStream ({error})");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => {
                return Err(error).context(format!(
                    "creating or checking the stream {}",
                    args.stream.stream_name
                ))
            }
        }
    };
    let info = stream
        .info()
        .await
        .context("reading the stream's configuration")?;
    let existing = &info.config;
    if !existing.subjects.contains(&args.stream.subjects_all()) {
        bail!(
            "the stream {} exists with subjects {:?}, not {}",
            existing.name,
            existing.subjects,
            args.stream.subjects_all()
        );
    }
    if existing.storage != storage {
        bail!(
            "the stream {} exists with {:?} storage, not {:?}",
            existing.name,
            existing.storage,
            storage
        );
    }
    if existing.duplicate_window < args.stream_duplicate_window {
        bail!(
            "the stream {} has a duplicate window of {}, shorter than --stream-duplicate-window {}",
            existing.name,
            duration_text(existing.duplicate_window),
            duration_text(args.stream_duplicate_window)
        );
    }
    Ok(stream)
}

/// The headers of a row's confirmation.
pub fn confirmation_headers(row: &OutboxRow) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_PAYMENT_ID, row.payment_id.0.to_string().as_str());
    headers.insert(HEADER_BUSINESS_KEY, row.business_key.as_str());
    headers.insert(HEADER_STATE, row.to_state.as_str());
    headers.insert(HEADER_STATUS_CODE, row.status_code.as_str());
    headers.insert(HEADER_OUTBOX_ID, row.outbox_id.to_string().as_str());
    if let Some(reason) = &row.reason_code {
        headers.insert(HEADER_REASON_CODE, reason.as_str());
    }
    headers
}

/// What the relay publishes with, besides the rows.
#[derive(Debug, Clone)]
struct Publisher {
    context: jetstream::Context,
    stream: jetstream::stream::Stream,
    args: StreamArgs,
    ack_timeout: Duration,
    /// Rows older than this are looked up in the stream before publishing.
    lookup_age_min: Duration,
    halt_after_claims: Option<u64>,
    halt_before_publishing: bool,
    claims_published: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Publisher {
    /// Whether the stream already holds `row` (or a later row of its
    /// payment): the last message on the payment's subject says.
    async fn stream_holds(&self, row: &OutboxRow, subject: &str) -> Result<bool, String> {
        match self.stream.get_last_raw_message_by_subject(subject).await {
            Ok(message) => Ok(message
                .headers
                .get(HEADER_OUTBOX_ID)
                .and_then(|value| value.as_str().parse::<i64>().ok())
                .is_some_and(|outbox_id| outbox_id >= row.outbox_id)),
            Err(error)
                if error.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
            {
                Ok(false)
            }
            Err(error) => Err(error.to_string()),
        }
    }

    /// Publishes the rows and returns the outbox ids JetStream acknowledged
    /// (or already held), within the ack timeout.
    async fn publish(&self, rows: Vec<OutboxRow>) -> Vec<i64> {
        if self.halt_before_publishing {
            self.halt_point(&format!(
                "relay: halted before publishing {} rows",
                rows.len()
            ))
            .await;
        }
        let deadline = tokio::time::Instant::now() + self.ack_timeout;
        let mut delivered = Vec::with_capacity(rows.len());
        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            let subject = self.args.subject(&row.currency, row.payment_id.0);
            let age = SystemTime::now()
                .duration_since(row.created_at)
                .unwrap_or_default();
            if age >= self.lookup_age_min {
                match tokio::time::timeout_at(deadline, self.stream_holds(row, &subject)).await {
                    Ok(Ok(true)) => {
                        delivered.push(row.outbox_id);
                        continue;
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(error)) => {
                        tracing::warn!(outbox_id = row.outbox_id, %error, "stream lookup failed");
                        metrics::record_relay_failure(metrics::RelayFailure::StreamLookup);
                        continue;
                    }
                    Err(_) => {
                        metrics::record_relay_failure(metrics::RelayFailure::StreamLookup);
                        continue;
                    }
                }
            }
            let mut headers = confirmation_headers(row);
            let document = match pacs002(row) {
                Some(document) => document,
                None => {
                    headers.insert(HEADER_DOCUMENT, "absent");
                    Vec::new()
                }
            };
            let message = jetstream::message::PublishMessage::build()
                .payload(document.into())
                .headers(headers)
                .message_id(&row.message_id);
            match self.context.send_publish(subject, message).await {
                Ok(acknowledgement) => {
                    metrics::record_relay_published();
                    pending.push((row.outbox_id, acknowledgement));
                }
                Err(error) => {
                    tracing::warn!(outbox_id = row.outbox_id, %error, "publish failed");
                    metrics::record_relay_failure(metrics::RelayFailure::Publish);
                }
            }
        }
        for (outbox_id, acknowledgement) in pending {
            match tokio::time::timeout_at(
                deadline,
                std::future::IntoFuture::into_future(acknowledgement),
            )
            .await
            {
                Ok(Ok(_ack)) => {
                    metrics::record_relay_acknowledged();
                    delivered.push(outbox_id);
                }
                Ok(Err(error)) => {
                    tracing::warn!(outbox_id, %error, "no acknowledgement");
                    metrics::record_relay_failure(metrics::RelayFailure::Acknowledgement);
                }
                Err(_) => {
                    tracing::warn!(outbox_id, "no acknowledgement in time");
                    metrics::record_relay_failure(metrics::RelayFailure::AcknowledgementTimeout);
                }
            }
        }
        if !self.halt_before_publishing {
            self.halt_point(&format!(
                "relay: halted before marking {} rows",
                delivered.len()
            ))
            .await;
        }
        delivered
    }

    /// Testing: the `--halt-after-claims`-th claim stops here, says so on
    /// stdout, and waits to be killed.
    async fn halt_point(&self, announcement: &str) {
        let claims = 1 + self
            .claims_published
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.halt_after_claims == Some(claims) {
            println!("{announcement}");
            std::future::pending::<()>().await;
        }
    }
}

/// Runs `ledger relay` until SIGTERM or SIGINT.
pub async fn relay(ledger: &Ledger, args: &RelayArgs) -> anyhow::Result<()> {
    // Stops with the relay, when dropped.
    let _metrics_endpoint = match args.metrics_listen {
        Some(address) => {
            let (listener, _) = crate::server::bind(address).await?;
            let endpoint = crate::metrics::MetricsEndpoint::start(
                listener,
                ledger.clone(),
                Duration::from_millis(crate::metrics::COLLECTION_INTERVAL_MS),
            )?;
            println!("serving metrics on http://{}/metrics", endpoint.address());
            Some(endpoint)
        }
        None => None,
    };
    let shutdown = crate::server::shutdown_signal();
    tokio::pin!(shutdown);
    tokio::select! {
        result = run_relay(ledger, args) => result,
        () = &mut shutdown => {
            eprintln!("relay: stopping (rows being published stay undelivered and are published again)");
            Ok(())
        }
    }
}

/// The relay's loop; returns only on a configuration error.
pub async fn run_relay(ledger: &Ledger, args: &RelayArgs) -> anyhow::Result<()> {
    args.check()?;
    let client = connect(&args.stream).await?;
    let mut context = jetstream::new(client.clone());
    let ack_timeout = Duration::from_millis(args.publish_ack_timeout_ms);
    context.set_timeout(ack_timeout);
    let stream = ensure_stream(&context, args).await?;
    println!(
        "relay: publishing confirmations to stream {} on {} (duplicate window {})",
        args.stream.stream_name,
        args.stream.subjects_all(),
        duration_text(args.stream_duplicate_window)
    );
    let publisher = Publisher {
        context,
        stream,
        args: args.stream.clone(),
        ack_timeout,
        lookup_age_min: args.stream_duplicate_window / 2,
        halt_after_claims: args.halt_after_claims,
        halt_before_publishing: args.halt_before_publishing,
        claims_published: Default::default(),
    };
    let retry_delay_min = Duration::from_millis(100);
    let retry_delay_max = Duration::from_millis(args.retry_delay_max_ms);
    let mut retry_delay = retry_delay_min;
    loop {
        // A broker that is down delays confirmations: no claim (and no
        // transaction) is opened until it is back.
        if client.connection_state() != async_nats::connection::State::Connected {
            metrics::record_relay_failure(metrics::RelayFailure::BrokerDisconnected);
            tokio::time::sleep(retry_delay).await;
            retry_delay = (retry_delay * 2).min(retry_delay_max);
            continue;
        }
        let publisher = publisher.clone();
        let delivery = ledger
            .deliver_outbox(args.claim_rows_max as usize, move |rows| async move {
                publisher.publish(rows).await
            })
            .await;
        match delivery {
            Ok(delivery) if delivery.claimed_count == 0 => {
                retry_delay = retry_delay_min;
                tokio::time::sleep(Duration::from_millis(args.idle_poll_interval_ms)).await;
            }
            Ok(delivery) if delivery.delivered_count == delivery.claimed_count => {
                metrics::record_relay_delivered(delivery.delivered_count);
                retry_delay = retry_delay_min;
            }
            Ok(delivery) => {
                metrics::record_relay_delivered(delivery.delivered_count);
                tracing::warn!(
                    claimed = delivery.claimed_count,
                    delivered = delivery.delivered_count,
                    "some confirmations were not acknowledged; publishing them again"
                );
                tokio::time::sleep(retry_delay).await;
                retry_delay = (retry_delay * 2).min(retry_delay_max);
            }
            Err(error) => {
                tracing::warn!(%error, "claiming outbox rows failed");
                metrics::record_relay_failure(metrics::RelayFailure::Claim);
                tokio::time::sleep(retry_delay).await;
                retry_delay = (retry_delay * 2).min(retry_delay_max);
            }
        }
    }
}

/// `ledger relay`'s flags alone, to build its defaults.
#[derive(Debug, clap::Parser)]
struct RelayFlags {
    #[command(flatten)]
    args: RelayArgs,
}

/// A relay running inside another command (`serve --relay-nats-url`),
/// stopped when dropped.
#[derive(Debug)]
pub struct RelayTask {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RelayTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a relay with `ledger relay`'s defaults publishing to the
/// configuration's `relay_nats_url`, when set (on its `nats_stream_name`
/// and `nats_subject_prefix`); its failures are said on stderr and never
/// stop the caller.
pub fn relay_beside_server(ledger: &Ledger, config: &crate::config::Config) -> Option<RelayTask> {
    use clap::Parser;
    let nats_url = config.relay_nats_url.as_deref()?;
    let mut flags = RelayFlags::try_parse_from(["relay", "--nats-url", nats_url])
        .expect("the relay's defaults parse");
    flags.args.stream.stream_name = config.nats_stream_name.clone();
    flags.args.stream.subject_prefix = config.nats_subject_prefix.clone();
    let ledger = ledger.clone();
    let task = tokio::spawn(async move {
        if let Err(error) = run_relay(&ledger, &flags.args).await {
            eprintln!("relay: stopped: {error:#}");
        }
    });
    Some(RelayTask { task })
}

/// Takes the configuration's `nats_url`, `nats_stream_name`,
/// `nats_subject_prefix` and `metrics_listen` for the flags of `ledger
/// relay` not `given` on the command line (`given` is asked with the flag's
/// id: `nats_url`, `stream_name`, `subject_prefix`).
pub fn settle_relay_args(
    args: &mut RelayArgs,
    config: &crate::config::Config,
    given: impl Fn(&str) -> bool,
) {
    if args.metrics_listen.is_none() {
        args.metrics_listen = config.metrics_listen;
    }
    let stream = &mut args.stream;
    if !given("nats_url") {
        stream.nats_url = config.nats_url.clone();
    }
    if !given("stream_name") {
        stream.stream_name = config.nats_stream_name.clone();
    }
    if !given("subject_prefix") {
        stream.subject_prefix = config.nats_subject_prefix.clone();
    }
}

#[derive(Debug, clap::Args)]
pub struct OutboxArgs {
    #[command(subcommand)]
    pub command: OutboxCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum OutboxCommand {
    /// Show the outbox's lag: undelivered rows and the oldest one's age.
    ///
    /// Example: `ledger outbox status`
    Status,
    /// Remove outbox rows delivered longer ago than a retention (default
    /// 7d, at least 24h); undelivered rows are never removed.
    ///
    /// Example: `ledger outbox prune --older-than 30d`
    Prune(OutboxPruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct OutboxPruneArgs {
    /// Remove rows delivered longer ago than this: a number with a unit,
    /// `s`, `m`, `h`, `d` or `w`, or several (`1d12h`). At least 24h.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub older_than: Duration,
}

/// Runs `ledger outbox status|prune`.
pub async fn outbox(ledger: &Ledger, args: &OutboxArgs) -> anyhow::Result<()> {
    match &args.command {
        OutboxCommand::Status => {
            let lag = ledger.outbox_lag().await?;
            println!("undelivered: {}", lag.undelivered_count);
            match lag.oldest_undelivered_age {
                Some(age) => println!("oldest undelivered age: {} ms", age.as_millis()),
                None => println!("oldest undelivered age: -"),
            }
        }
        OutboxCommand::Prune(prune) => {
            if prune.older_than < ledger::OUTBOX_RETENTION_MIN {
                bail!(
                    "--older-than {} is under 24h: delivered outbox rows are kept at least a \
                     day; nothing was removed",
                    duration_text(prune.older_than)
                );
            }
            let removed = ledger.prune_delivered_outbox(prune.older_than).await?;
            println!(
                "pruned {removed} outbox rows delivered more than {} ago (their payload; the \
                 rows stay, one per state change, for the audit)",
                duration_text(prune.older_than)
            );
        }
    }
    Ok(())
}
