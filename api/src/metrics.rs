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
/// (`key_reused`, `request_in_progress`) (counter).
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
        LedgerError::RequestInProgress => "request_in_progress",
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
