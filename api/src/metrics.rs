//! Metrics for Prometheus (`docs/metrics.md`): the one list of every metric
//! the service exports ([`METRICS`]), the recorder, the HTTP endpoint of
//! `serve --metrics-listen`, and the periodic collection of the figures that
//! are read rather than counted (the pool, the outbox's lag).
//!
//! Figures are recorded where things happen: requests in
//! [`request_layer`], payment outcomes in `grpc/mod.rs`, transactions and
//! group commit in the ledger crate (`ledger::metrics`), the database's
//! reachability in `server.rs`'s health watch. Labels take bounded values
//! only (an RPC, a gRPC code, an outcome, a rejection code, a SQLSTATE, a
//! reason), never a token, a key, an account or a message's content.

pub mod request_layer;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use ledger::model::Outcome;
use ledger::{ApplyResponse, Ledger, LedgerError};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Requests answered, by `rpc` and gRPC `code` (counter).
pub const REQUESTS_TOTAL: &str = "ledger_requests_total";
/// Time from a request's arrival to its response's end, by `rpc` (histogram, seconds).
pub const REQUEST_DURATION_SECONDS: &str = "ledger_request_duration_seconds";
/// Requests being served now, by `rpc` (gauge).
pub const REQUESTS_IN_FLIGHT: &str = "ledger_requests_in_flight";
/// Payment messages answered by SubmitPayment, by `outcome` (counter).
pub const PAYMENTS_TOTAL: &str = "ledger_payments_total";
/// Payment messages rejected, by `reason` (the rejection code) (counter).
pub const PAYMENTS_REJECTED_TOTAL: &str = "ledger_payments_rejected_total";
/// SubmitPayment requests answered with a stored response (counter).
pub const IDEMPOTENCY_REPLAYS_TOTAL: &str = "ledger_idempotency_replays_total";
/// SubmitPayment requests refused over their idempotency key, by `conflict`
/// (`key_reused`: the key was used for another request) (counter).
pub const IDEMPOTENCY_KEY_CONFLICTS_TOTAL: &str = "ledger_idempotency_key_conflicts_total";
/// 1 when the last health check reached the database, else 0 (gauge).
pub const DATABASE_UP: &str = "ledger_database_up";
/// Outbox rows not yet delivered to the broker (gauge).
pub const OUTBOX_UNDELIVERED_ROWS: &str = "ledger_outbox_undelivered_rows";
/// Age of the oldest undelivered outbox row; 0 when none (gauge, seconds).
pub const OUTBOX_OLDEST_UNDELIVERED_AGE_SECONDS: &str =
    "ledger_outbox_oldest_undelivered_age_seconds";
/// Periodic collections that failed, by `collector` (counter).
pub const METRICS_COLLECTION_FAILURES_TOTAL: &str = "ledger_metrics_collection_failures_total";
/// Always 1, with the running `version` (gauge).
pub const BUILD_INFO: &str = "ledger_build_info";
/// Confirmations the relay published to JetStream (counter).
pub const RELAY_PUBLISHED_TOTAL: &str = "ledger_relay_published_total";
/// Publishes JetStream acknowledged (counter).
pub const RELAY_ACKNOWLEDGED_TOTAL: &str = "ledger_relay_acknowledged_total";
/// Outbox rows the relay marked delivered (counter).
pub const RELAY_DELIVERED_ROWS_TOTAL: &str = "ledger_relay_delivered_rows_total";
/// The relay's failures, by `reason` (counter).
pub const RELAY_FAILURES_TOTAL: &str = "ledger_relay_failures_total";
/// Transactions `ledger ingest` answered, by `outcome` (counter).
pub const INGEST_TRANSACTIONS_TOTAL: &str = "ledger_ingest_transactions_total";
/// Files `ledger ingest` finished (counter).
pub const INGEST_FILES_TOTAL: &str = "ledger_ingest_files_total";
/// Discrepancies the last periodic audit found, by `check` (gauge).
pub const RECONCILIATION_DISCREPANCIES: &str = "ledger_reconciliation_discrepancies";
/// When the last periodic audit finished, Unix time (gauge, seconds).
pub const RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS: &str =
    "ledger_reconciliation_last_success_timestamp_seconds";
/// How long the last periodic audit took (gauge, seconds).
pub const RECONCILIATION_DURATION_SECONDS: &str = "ledger_reconciliation_duration_seconds";

/// The checks of the periodic audit: the `check` label's values
/// (docs/semantics.md §6; statements are compared by `ledger reconcile`).
pub const RECONCILIATION_CHECKS: &[&str] = &[
    "TRIAL_BALANCE",
    "BALANCE_MISMATCH",
    "TRANSFERS_DO_NOT_MATCH_STATE",
    "OUTBOX_MISMATCH",
    "BUSINESS_KEY_APPLIED_TWICE",
];

/// How often the pool and the outbox's lag are read.
pub const COLLECTION_INTERVAL_MS: u64 = 5_000;
/// Connections to the metrics endpoint served at once; more wait to be accepted.
pub const ENDPOINT_CONNECTIONS_MAX: usize = 16;
/// How long a connection to the metrics endpoint may take to send its headers.
pub const ENDPOINT_HEADER_READ_TIMEOUT_MS: u64 = 5_000;

/// Upper bounds of the buckets of every `_seconds` histogram: 1 ms to 30 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of the batch-size buckets, up to the largest batch (1 000).
const BATCH_SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1000.0];

/// What kind of figure a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric the service exports: its name, kind, labels and meaning.
#[derive(Debug, Clone, Copy)]
pub struct MetricDescription {
    pub name: &'static str,
    pub kind: MetricKind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn metric(
    name: &'static str,
    kind: MetricKind,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricDescription {
    MetricDescription {
        name,
        kind,
        labels,
        help,
    }
}

/// Every metric the service exports: the dashboard's queries, the alerts and
/// `docs/metrics.md` name only these (tests check all three).
pub const METRICS: &[MetricDescription] = {
    use ledger::metrics as l;
    use MetricKind::{Counter, Gauge, Histogram};
    &[
        metric(REQUESTS_TOTAL, Counter, &["rpc", "code"], "gRPC requests answered, by RPC and gRPC status code."),
        metric(REQUEST_DURATION_SECONDS, Histogram, &["rpc"], "Time from a request's arrival to the end of its response, in seconds."),
        metric(REQUESTS_IN_FLIGHT, Gauge, &["rpc"], "Requests being served now."),
        metric(PAYMENTS_TOTAL, Counter, &["outcome"], "Payment messages answered by SubmitPayment (replays not counted again), by outcome."),
        metric(PAYMENTS_REJECTED_TOTAL, Counter, &["reason"], "Payment messages rejected, by rejection code."),
        metric(IDEMPOTENCY_REPLAYS_TOTAL, Counter, &[], "SubmitPayment requests answered with the response stored under their idempotency key."),
        metric(IDEMPOTENCY_KEY_CONFLICTS_TOTAL, Counter, &["conflict"], "SubmitPayment requests refused over their idempotency key: reused for another request, or in progress elsewhere."),
        metric(DATABASE_UP, Gauge, &[], "1 when the last health check reached the database, else 0."),
        metric(OUTBOX_UNDELIVERED_ROWS, Gauge, &[], "Outbox rows not yet delivered to the broker."),
        metric(OUTBOX_OLDEST_UNDELIVERED_AGE_SECONDS, Gauge, &[], "Age of the oldest undelivered outbox row in seconds, 0 when none."),
        metric(METRICS_COLLECTION_FAILURES_TOTAL, Counter, &["collector"], "Periodic metric collections that failed, by collector."),
        metric(BUILD_INFO, Gauge, &["version"], "Always 1; the version of the running binary."),
        metric(RELAY_PUBLISHED_TOTAL, Counter, &[], "Confirmations the relay published to JetStream."),
        metric(RELAY_ACKNOWLEDGED_TOTAL, Counter, &[], "Relay publishes JetStream acknowledged."),
        metric(RELAY_DELIVERED_ROWS_TOTAL, Counter, &[], "Outbox rows the relay marked delivered."),
        metric(RELAY_FAILURES_TOTAL, Counter, &["reason"], "Relay failures: publish, acknowledgement, acknowledgement_timeout, stream_lookup, claim, broker_disconnected."),
        metric(INGEST_TRANSACTIONS_TOTAL, Counter, &["outcome"], "Transactions ledger ingest answered, by outcome."),
        metric(INGEST_FILES_TOTAL, Counter, &[], "Files ledger ingest finished."),
        metric(RECONCILIATION_DISCREPANCIES, Gauge, &["check"], "Discrepancies the last periodic reconciliation audit found, by check."),
        metric(RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS, Gauge, &[], "When the last periodic reconciliation audit finished, Unix time in seconds."),
        metric(RECONCILIATION_DURATION_SECONDS, Gauge, &[], "How long the last periodic reconciliation audit took, in seconds."),
        metric(l::TRANSACTION_ATTEMPTS_TOTAL, Counter, &[], "Database transaction attempts, first attempts included."),
        metric(l::TRANSACTION_RETRIES_TOTAL, Counter, &["sqlstate"], "Transaction attempts that conflicted and were run again, by SQLSTATE."),
        metric(l::TRANSACTION_GIVE_UPS_TOTAL, Counter, &["sqlstate"], "Transactions that conflicted on every attempt and gave up, by SQLSTATE."),
        metric(l::TRANSACTION_COMMIT_OUTCOME_UNKNOWN_TOTAL, Counter, &[], "COMMITs sent with no answer back, resolved by looking the idempotency keys up."),
        metric(l::DB_POOL_WAIT_SECONDS, Histogram, &[], "Time waited for a pooled database connection, in seconds."),
        metric(l::DB_POOL_CHECKOUT_FAILURES_TOTAL, Counter, &[], "Waits for a pooled connection that got none (timeout or database refusal)."),
        metric(l::DB_POOL_CONNECTIONS_MAX, Gauge, &[], "Connections the pool may open at most."),
        metric(l::DB_POOL_CONNECTIONS, Gauge, &["state"], "Open pool connections, idle or in use."),
        metric(l::DB_POOL_WAITERS, Gauge, &[], "Callers waiting for a pooled connection now."),
        metric(l::GROUP_COMMIT_BATCHES_TOTAL, Counter, &[], "Batches group commit applied, halves of split batches included."),
        metric(l::GROUP_COMMIT_BATCH_SIZE, Histogram, &[], "Requests per batch taken from the group-commit queue."),
        metric(l::GROUP_COMMIT_BATCH_SPLITS_TOTAL, Counter, &[], "Batches that failed as a whole and were split in halves."),
        metric(l::GROUP_COMMIT_QUEUE_DEPTH, Gauge, &[], "Requests left waiting in the group-commit queue when the last batch was taken."),
        metric(l::GROUP_COMMIT_QUEUE_WAIT_SECONDS, Histogram, &[], "Time a request waited in the group-commit queue, in seconds."),
        metric(l::GROUP_COMMIT_REQUESTS_NOT_APPLIED_TOTAL, Counter, &["reason"], "Requests group commit did not apply: queue full, deadline expired, caller gone."),
        metric(l::GROUP_COMMIT_POOL_CONNECTIONS_MAX, Gauge, &[], "Connections the group-commit appliers' own pool may open: one per applier."),
        metric(l::GROUP_COMMIT_POOL_CONNECTIONS, Gauge, &[], "Connections of the appliers' own pool open after the last batch."),
    ]
};

/// The series names a metric is exported under: a histogram is its
/// `_bucket`, `_sum` and `_count` series.
pub fn series_names(description: &MetricDescription) -> Vec<String> {
    match description.kind {
        MetricKind::Histogram => ["_bucket", "_sum", "_count"]
            .iter()
            .map(|suffix| format!("{}{suffix}", description.name))
            .collect(),
        MetricKind::Counter | MetricKind::Gauge => vec![description.name.to_owned()],
    }
}

/// The process's recorder, once installed.
static RECORDER: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the Prometheus recorder for this process (once; later calls
/// return the same handle) and describes every metric.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let mut recorder = RECORDER
        .lock()
        .expect("the recorder lock is never poisoned");
    if let Some(handle) = recorder.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(ledger::metrics::GROUP_COMMIT_BATCH_SIZE.to_owned()),
            BATCH_SIZE_BUCKETS,
        )?
        .install_recorder()
        .context("installing the Prometheus metrics recorder")?;
    for description in METRICS {
        let help = description.help;
        match description.kind {
            MetricKind::Counter => ::metrics::describe_counter!(description.name, help),
            MetricKind::Gauge => ::metrics::describe_gauge!(description.name, help),
            MetricKind::Histogram => ::metrics::describe_histogram!(description.name, help),
        }
    }
    ::metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    *recorder = Some(handle.clone());
    Ok(handle)
}

/// Records SubmitPayment's answer: a replay once, as a replay; otherwise
/// each message's outcome, and each rejection's code.
pub fn record_payment_response(response: &ApplyResponse) {
    if response.replay {
        ::metrics::counter!(IDEMPOTENCY_REPLAYS_TOTAL).increment(1);
        return;
    }
    for receipt in &response.receipts {
        let outcome = match &receipt.outcome {
            Outcome::Applied => "applied",
            Outcome::AlreadyApplied => "already_applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected(reason) => {
                ::metrics::counter!(PAYMENTS_REJECTED_TOTAL, "reason" => reason.code())
                    .increment(1);
                "rejected"
            }
        };
        ::metrics::counter!(PAYMENTS_TOTAL, "outcome" => outcome).increment(1);
    }
}

/// Records SubmitPayment's refusals over an idempotency key (the other
/// errors are counted by gRPC code in [`REQUESTS_TOTAL`]).
pub fn record_payment_error(error: &LedgerError) {
    let conflict = match error {
        LedgerError::IdempotencyKeyReused { .. } => "key_reused",
        _ => return,
    };
    ::metrics::counter!(IDEMPOTENCY_KEY_CONFLICTS_TOTAL, "conflict" => conflict).increment(1);
}

/// The metrics endpoint and its collector, running; both stop when this is
/// dropped.
#[derive(Debug)]
pub struct MetricsEndpoint {
    address: SocketAddr,
    endpoint: JoinHandle<()>,
    collector: JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Serves the metrics on `listener` (`GET /metrics`, Prometheus text
    /// format) and reads `ledger`'s pool and outbox lag every
    /// `collection_interval`.
    pub fn start(
        listener: TcpListener,
        ledger: Ledger,
        collection_interval: Duration,
    ) -> anyhow::Result<MetricsEndpoint> {
        let handle = install_recorder()?;
        let address = listener.local_addr()?;
        let endpoint = tokio::spawn(serve_endpoint(listener, handle.clone()));
        let collector = tokio::spawn(collect_periodically(ledger, handle, collection_interval));
        tracing::info!(%address, "serving metrics at /metrics");
        Ok(MetricsEndpoint {
            address,
            endpoint,
            collector,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.endpoint.abort();
        self.collector.abort();
    }
}

async fn serve_endpoint(listener: TcpListener, handle: PrometheusHandle) {
    let connections = Arc::new(tokio::sync::Semaphore::new(ENDPOINT_CONNECTIONS_MAX));
    loop {
        let permit = connections
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "metrics endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let handle = handle.clone();
                async move { Ok::<_, Infallible>(respond(&request, &handle)) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_millis(ENDPOINT_HEADER_READ_TIMEOUT_MS))
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "metrics endpoint: connection ended with an error");
            }
            drop(permit);
        });
    }
}

fn respond<B>(
    request: &http::Request<B>,
    handle: &PrometheusHandle,
) -> http::Response<Full<Bytes>> {
    let response = http::Response::builder();
    let response = match (request.method(), request.uri().path()) {
        (&http::Method::GET, "/metrics") => response
            .header(
                http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )
            .body(Full::new(Bytes::from(handle.render()))),
        (_, "/metrics") => response
            .status(http::StatusCode::METHOD_NOT_ALLOWED)
            .body(Full::new(Bytes::from_static(b"GET only\n"))),
        _ => response
            .status(http::StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"metrics are at /metrics\n"))),
    };
    response.expect("a response of static parts")
}

async fn collect_periodically(ledger: Ledger, handle: PrometheusHandle, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        collect(&ledger).await;
        handle.run_upkeep();
    }
}

/// Reads the figures that are states rather than events: the pool, and
/// the outbox's lag (one read-only query).
pub async fn collect(ledger: &Ledger) {
    ledger.record_pool_status();
    match ledger.outbox_lag().await {
        Ok(lag) => {
            ::metrics::gauge!(OUTBOX_UNDELIVERED_ROWS).set(lag.undelivered_count as f64);
            ::metrics::gauge!(OUTBOX_OLDEST_UNDELIVERED_AGE_SECONDS).set(
                lag.oldest_undelivered_age
                    .map_or(0.0, |age| age.as_secs_f64()),
            );
        }
        Err(error) => {
            tracing::warn!(%error, "metrics: reading the outbox's lag failed");
            ::metrics::counter!(METRICS_COLLECTION_FAILURES_TOTAL, "collector" => "outbox")
                .increment(1);
        }
    }
}

/// Why the relay failed: the `reason` label of [`RELAY_FAILURES_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayFailure {
    /// A publish could not be sent.
    Publish,
    /// JetStream answered a publish with an error.
    Acknowledgement,
    /// No acknowledgement within `--publish-ack-timeout-ms`.
    AcknowledgementTimeout,
    /// Looking an old row up in the stream failed.
    StreamLookup,
    /// Claiming or marking outbox rows failed (the database).
    Claim,
    /// The broker was not connected when the relay wanted to claim.
    BrokerDisconnected,
}

impl RelayFailure {
    pub fn label(self) -> &'static str {
        match self {
            RelayFailure::Publish => "publish",
            RelayFailure::Acknowledgement => "acknowledgement",
            RelayFailure::AcknowledgementTimeout => "acknowledgement_timeout",
            RelayFailure::StreamLookup => "stream_lookup",
            RelayFailure::Claim => "claim",
            RelayFailure::BrokerDisconnected => "broker_disconnected",
        }
    }
}

pub fn record_relay_published() {
    ::metrics::counter!(RELAY_PUBLISHED_TOTAL).increment(1);
}

pub fn record_relay_acknowledged() {
    ::metrics::counter!(RELAY_ACKNOWLEDGED_TOTAL).increment(1);
}

pub fn record_relay_delivered(rows: usize) {
    ::metrics::counter!(RELAY_DELIVERED_ROWS_TOTAL).increment(rows as u64);
}

pub fn record_relay_failure(failure: RelayFailure) {
    ::metrics::counter!(RELAY_FAILURES_TOTAL, "reason" => failure.label()).increment(1);
}

/// The `outcome` label of [`INGEST_TRANSACTIONS_TOTAL`] for a report line's
/// outcome (`APPLIED`, `ALREADY_APPLIED`, `DUPLICATE`, `REJECTED`,
/// `INVALID`, `NOT_APPLIED`); anything else is `other`.
pub fn ingest_outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "APPLIED" => "applied",
        "ALREADY_APPLIED" => "already_applied",
        "DUPLICATE" => "duplicate",
        "REJECTED" => "rejected",
        "INVALID" => "invalid",
        "NOT_APPLIED" => "not_applied",
        _ => "other",
    }
}

/// One transaction answered by `ledger ingest`, by its report line's
/// outcome; a replayed `APPLIED` is `already_applied`, as in ingest's summary.
pub fn record_ingest_transaction(outcome: Option<&str>, replay: bool) {
    let outcome = match outcome.unwrap_or_default() {
        "APPLIED" if replay => "already_applied",
        outcome => ingest_outcome_label(outcome),
    };
    ::metrics::counter!(INGEST_TRANSACTIONS_TOTAL, "outcome" => outcome).increment(1);
}

pub fn record_ingest_file() {
    ::metrics::counter!(INGEST_FILES_TOTAL).increment(1);
}

/// Runs the reconciliation audit now and every `interval` (`serve
/// --audit-interval`), exporting what it found; never returns.
pub async fn audit_every(ledger: Ledger, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        audit_once(&ledger).await;
    }
}

/// One audit (semantics §6, one read-only snapshot): each check's count of
/// discrepancies into [`RECONCILIATION_DISCREPANCIES`]; a failure counts in
/// [`METRICS_COLLECTION_FAILURES_TOTAL`] (`collector="audit"`) and leaves the
/// gauges as they were.
pub async fn audit_once(ledger: &Ledger) {
    let started = std::time::Instant::now();
    match ledger.audit(None).await {
        Ok(report) => {
            for check in RECONCILIATION_CHECKS {
                let count = report
                    .discrepancies
                    .iter()
                    .filter(|discrepancy| discrepancy.code() == *check)
                    .count();
                ::metrics::gauge!(RECONCILIATION_DISCREPANCIES, "check" => *check)
                    .set(count as f64);
            }
            ::metrics::gauge!(RECONCILIATION_DURATION_SECONDS).set(started.elapsed().as_secs_f64());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            ::metrics::gauge!(RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS).set(now.as_secs_f64());
            if !report.is_clean() {
                tracing::warn!(
                    discrepancies = report.discrepancies.len(),
                    "reconciliation audit found discrepancies: run `ledger reconcile` for the report"
                );
            }
        }
        Err(error) => {
            tracing::warn!(%error, "metrics: the reconciliation audit failed");
            ::metrics::counter!(METRICS_COLLECTION_FAILURES_TOTAL, "collector" => "audit")
                .increment(1);
        }
    }
}
