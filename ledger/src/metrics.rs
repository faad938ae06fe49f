//! The ledger's metrics: names, and the figures recorded where things happen
//! (transaction retries in `service.rs`, group commit in `group_commit.rs`),
//! through the `metrics` facade, which does no IO: without an installed
//! recorder (the server's `--metrics-listen`) every call is a no-op.
//!
//! Every name and label is listed in `docs/metrics.md`. Labels have bounded
//! values only (a conflict's SQLSTATE, a refusal's reason), never a key, an
//! account or a client.

use std::time::Duration;

use crate::service::Ledger;

/// Transaction attempts, the first included (counter).
pub const TRANSACTION_ATTEMPTS_TOTAL: &str = "ledger_transaction_attempts_total";
/// Attempts that conflicted and were run again, by `sqlstate` (counter).
pub const TRANSACTION_RETRIES_TOTAL: &str = "ledger_transaction_retries_total";
/// Transactions that conflicted on every attempt and gave up, by `sqlstate` (counter).
pub const TRANSACTION_GIVE_UPS_TOTAL: &str = "ledger_transaction_give_ups_total";
/// COMMITs sent with no answer back, resolved by looking the keys up (counter).
pub const TRANSACTION_COMMIT_OUTCOME_UNKNOWN_TOTAL: &str =
    "ledger_transaction_commit_outcome_unknown_total";
/// Time waited for a pooled connection (histogram, seconds).
pub const DB_POOL_WAIT_SECONDS: &str = "ledger_db_pool_wait_seconds";
/// Checkouts that got no connection: pool timeout or database refusal (counter).
pub const DB_POOL_CHECKOUT_FAILURES_TOTAL: &str = "ledger_db_pool_checkout_failures_total";
/// Connections the pool may open at most (gauge).
pub const DB_POOL_CONNECTIONS_MAX: &str = "ledger_db_pool_connections_max";
/// Connections open, by `state` (`idle`, `in_use`) (gauge).
pub const DB_POOL_CONNECTIONS: &str = "ledger_db_pool_connections";
/// Callers waiting for a connection now (gauge).
pub const DB_POOL_WAITERS: &str = "ledger_db_pool_waiters";
/// Batches applied by group commit, splits included (counter).
pub const GROUP_COMMIT_BATCHES_TOTAL: &str = "ledger_group_commit_batches_total";
/// Requests per batch taken from the queue (histogram, requests).
pub const GROUP_COMMIT_BATCH_SIZE: &str = "ledger_group_commit_batch_size";
/// Batches that failed as a whole and were split in halves (counter).
pub const GROUP_COMMIT_BATCH_SPLITS_TOTAL: &str = "ledger_group_commit_batch_splits_total";
/// Requests waiting in the queue when a batch was taken (gauge).
pub const GROUP_COMMIT_QUEUE_DEPTH: &str = "ledger_group_commit_queue_depth";
/// Time a request waited in the queue before its batch started (histogram, seconds).
pub const GROUP_COMMIT_QUEUE_WAIT_SECONDS: &str = "ledger_group_commit_queue_wait_seconds";
/// Connections the appliers' own pool may open: one per applier (gauge).
pub const GROUP_COMMIT_POOL_CONNECTIONS_MAX: &str = "ledger_group_commit_pool_connections_max";
/// Connections of the appliers' own pool open after the last batch (gauge):
/// below the maximum, an applier's connection broke and is opened again by
/// its next batch.
pub const GROUP_COMMIT_POOL_CONNECTIONS: &str = "ledger_group_commit_pool_connections";
/// Requests group commit did not apply, by `reason` (`queue_full`,
/// `deadline_expired`, `caller_gone`) (counter).
pub const GROUP_COMMIT_REQUESTS_NOT_APPLIED_TOTAL: &str =
    "ledger_group_commit_requests_not_applied_total";

/// The SQLSTATE a [`crate::store::StoreError::Conflict`] reason stands for: the
/// `sqlstate` label.
pub fn conflict_sqlstate(reason: &'static str) -> &'static str {
    match reason {
        "serialization failure" => "40001",
        "deadlock" => "40P01",
        "unique violation" => "23505",
        _ => "other",
    }
}

pub(crate) fn record_transaction_attempt() {
    metrics::counter!(TRANSACTION_ATTEMPTS_TOTAL).increment(1);
}

pub(crate) fn record_transaction_retry(reason: &'static str) {
    metrics::counter!(TRANSACTION_RETRIES_TOTAL, "sqlstate" => conflict_sqlstate(reason))
        .increment(1);
}

pub(crate) fn record_transaction_give_up(reason: &'static str) {
    metrics::counter!(TRANSACTION_GIVE_UPS_TOTAL, "sqlstate" => conflict_sqlstate(reason))
        .increment(1);
}

pub(crate) fn record_commit_outcome_unknown() {
    metrics::counter!(TRANSACTION_COMMIT_OUTCOME_UNKNOWN_TOTAL).increment(1);
}

pub(crate) fn record_pool_checkout(waited: Duration, got_connection: bool) {
    metrics::histogram!(DB_POOL_WAIT_SECONDS).record(waited.as_secs_f64());
    if !got_connection {
        metrics::counter!(DB_POOL_CHECKOUT_FAILURES_TOTAL).increment(1);
    }
}

/// Why group commit did not apply a request: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotApplied {
    QueueFull,
    DeadlineExpired,
    CallerGone,
}

pub(crate) fn record_group_commit_not_applied(reason: NotApplied) {
    let reason = match reason {
        NotApplied::QueueFull => "queue_full",
        NotApplied::DeadlineExpired => "deadline_expired",
        NotApplied::CallerGone => "caller_gone",
    };
    metrics::counter!(GROUP_COMMIT_REQUESTS_NOT_APPLIED_TOTAL, "reason" => reason).increment(1);
}

/// A batch taken from the queue: its size, and the requests still queued.
pub(crate) fn record_group_commit_batch_taken(batch_size: usize, queue_depth: usize) {
    metrics::histogram!(GROUP_COMMIT_BATCH_SIZE).record(batch_size as f64);
    metrics::gauge!(GROUP_COMMIT_QUEUE_DEPTH).set(queue_depth as f64);
}

pub(crate) fn record_group_commit_queue_wait(waited: Duration) {
    metrics::histogram!(GROUP_COMMIT_QUEUE_WAIT_SECONDS).record(waited.as_secs_f64());
}

pub(crate) fn record_group_commit_batch_applied() {
    metrics::counter!(GROUP_COMMIT_BATCHES_TOTAL).increment(1);
}

pub(crate) fn record_group_commit_batch_split() {
    metrics::counter!(GROUP_COMMIT_BATCH_SPLITS_TOTAL).increment(1);
}

/// The appliers' own pool (not read by the periodic collector, which sees
/// the request pool only): set by the appliers at start and after each batch.
pub(crate) fn record_group_commit_pool(status: PoolStatus) {
    metrics::gauge!(GROUP_COMMIT_POOL_CONNECTIONS_MAX).set(status.connections_max as f64);
    metrics::gauge!(GROUP_COMMIT_POOL_CONNECTIONS).set(status.connections_open as f64);
}

/// The connection pool now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub connections_max: usize,
    pub connections_open: usize,
    pub connections_idle: usize,
    pub waiters: usize,
}

impl Ledger {
    /// The connection pool now (no IO).
    pub fn pool_status(&self) -> PoolStatus {
        let status = self.pool().status();
        PoolStatus {
            connections_max: status.max_size,
            connections_open: status.size,
            connections_idle: status.available,
            waiters: status.waiting,
        }
    }

    /// Sets the pool's gauges from [`Ledger::pool_status`].
    pub fn record_pool_status(&self) {
        let status = self.pool_status();
        metrics::gauge!(DB_POOL_CONNECTIONS_MAX).set(status.connections_max as f64);
        metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(status.connections_idle as f64);
        metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(
            status
                .connections_open
                .saturating_sub(status.connections_idle) as f64,
        );
        metrics::gauge!(DB_POOL_WAITERS).set(status.waiters as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_conflict_reason_is_labelled_with_its_sqlstate() {
        for (reason, sqlstate) in [
            ("serialization failure", "40001"),
            ("deadlock", "40P01"),
            ("unique violation", "23505"),
        ] {
            assert_eq!(conflict_sqlstate(reason), sqlstate, "{reason}");
        }
    }
}
