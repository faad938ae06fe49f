//! Delivery of outbox rows to a broker (`docs/confirmations.md`): a relay
//! claims undelivered rows by state, publishes them, and marks them
//! delivered in the claiming transaction.
//!
//! Per-payment order with any number of relays: a row is claimable only
//! while no earlier row of its payment is undelivered. The earlier row is
//! either delivered (committed), or held by a relay that has not committed
//! yet, which the claim sees as undelivered (READ COMMITTED: committed data
//! only) and so leaves the later row alone. A payment's later row is never
//! visible before its earlier one: the transaction that writes it starts
//! after the earlier one committed (`migrations/V2`), and within one
//! transaction rows are numbered in the order of the changes.

use std::time::{Duration, SystemTime};

use super::{
    execute, outbox_row_from_row, query, query_one, OutboxRow, StoreError, OUTBOX_ROW_COLUMNS,
    OUTBOX_ROW_TABLES,
};
use deadpool_postgres::Transaction;

/// Claims (locks with `FOR UPDATE SKIP LOCKED`) at most `limit` undelivered
/// rows, each the earliest undelivered row of its payment, oldest first.
/// Rows another transaction holds are skipped, and so are the later rows of
/// their payments: at most one row per payment per claim.
pub async fn claim_undelivered_outbox_rows(
    tx: &Transaction<'_>,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    assert!(limit > 0, "a claim asks for at least one row");
    let sql = format!(
        "SELECT {OUTBOX_ROW_COLUMNS} FROM {OUTBOX_ROW_TABLES} \
         WHERE o.delivered_at IS NULL \
           AND NOT EXISTS (SELECT 1 FROM outbox earlier \
                           WHERE earlier.payment_id = o.payment_id \
                             AND earlier.delivered_at IS NULL \
                             AND earlier.outbox_id < o.outbox_id) \
         ORDER BY o.outbox_id \
         LIMIT $1 \
         FOR UPDATE OF o SKIP LOCKED"
    );
    let rows = query(tx, &sql, &[&limit]).await?;
    let claimed: Vec<OutboxRow> = rows.iter().map(outbox_row_from_row).collect();
    for pair in claimed.windows(2) {
        assert!(
            pair[0].outbox_id < pair[1].outbox_id,
            "claimed oldest first"
        );
    }
    Ok(claimed)
}

/// Marks rows delivered (rows this transaction claimed). Returns how many
/// were marked.
pub async fn mark_outbox_rows_delivered(
    tx: &Transaction<'_>,
    outbox_ids: &[i64],
) -> Result<u64, StoreError> {
    if outbox_ids.is_empty() {
        return Ok(0);
    }
    execute(
        tx,
        "UPDATE outbox SET delivered_at = now() \
         WHERE outbox_id = ANY($1::BIGINT[]) AND delivered_at IS NULL",
        &[&outbox_ids],
    )
    .await
}

/// How far delivery lags: undelivered rows and the age of the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLag {
    pub undelivered_count: i64,
    /// `None` when nothing is undelivered.
    pub oldest_undelivered_age: Option<Duration>,
}

pub async fn select_outbox_lag(tx: &Transaction<'_>) -> Result<OutboxLag, StoreError> {
    let row = query_one(
        tx,
        "SELECT count(*) AS undelivered_count, \
                (extract(epoch FROM clock_timestamp() - min(created_at)) * 1000)::BIGINT \
                    AS oldest_undelivered_age_ms \
         FROM outbox WHERE delivered_at IS NULL",
        &[],
    )
    .await?;
    let oldest_undelivered_age_ms: Option<i64> = row.get("oldest_undelivered_age_ms");
    Ok(OutboxLag {
        undelivered_count: row.get("undelivered_count"),
        oldest_undelivered_age: oldest_undelivered_age_ms
            .map(|age_ms| Duration::from_millis(age_ms.max(0) as u64)),
    })
}

/// Empties the payload of rows delivered before `delivered_before` (not yet
/// emptied); the rows themselves stay: the audit's record of each state
/// change (semantics §6.4). Returns how many were emptied.
pub async fn prune_payloads_delivered_before(
    tx: &Transaction<'_>,
    delivered_before: SystemTime,
) -> Result<u64, StoreError> {
    execute(
        tx,
        "UPDATE outbox SET payload = '{}'::JSONB \
         WHERE delivered_at IS NOT NULL AND delivered_at < $1 AND payload <> '{}'::JSONB",
        &[&delivered_before],
    )
    .await
}
