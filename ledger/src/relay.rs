//! The ledger's half of the outbox relay (`docs/confirmations.md`): claim
//! undelivered rows, let the caller publish them, mark what the broker
//! acknowledged, all in one transaction; the outbox's lag; pruning of
//! delivered rows.
//!
//! Isolation: the claiming transaction is READ COMMITTED, the one exception
//! to SERIALIZABLE writes. It only sets `delivered_at` on rows it locked
//! (`FOR UPDATE SKIP LOCKED`), which no other writer touches, and it must
//! not take part in SERIALIZABLE's conflict detection: a relay's reads of
//! the outbox would otherwise count against the payment transactions that
//! insert into it, and could make them retry.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio_postgres::IsolationLevel;

use crate::error::LedgerError;
use crate::service::Ledger;
use crate::store::outbox_delivery::{self, OutboxLag};
use crate::store::{OutboxRow, StoreError};

/// Most rows one claim takes (one relay transaction).
pub const OUTBOX_CLAIM_ROWS_MAX: usize = 1_000;

/// The shortest retention of delivered rows [`Ledger::prune_delivered_outbox`]
/// accepts: a day, as for idempotency records (gRPC feed readers resume
/// from cursors within it).
pub const OUTBOX_RETENTION_MIN: Duration = Duration::from_secs(24 * 3600);

/// What one [`Ledger::deliver_outbox`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxDelivery {
    /// Rows claimed (and handed to the publisher).
    pub claimed_count: usize,
    /// Rows the publisher reported acknowledged, now marked delivered.
    pub delivered_count: usize,
}

impl Ledger {
    /// Claims at most `rows_max` undelivered outbox rows (each the earliest
    /// undelivered row of its payment; rows other relays hold are skipped),
    /// hands them to `publish`, and marks delivered the ids `publish`
    /// returns (those the broker acknowledged), in the claiming transaction.
    ///
    /// Rows not returned stay undelivered and are claimed again later. If
    /// this process dies before COMMIT, the database rolls the claim back
    /// and another relay publishes the rows again: the receiver drops the
    /// duplicates by message id. `publish` should be bounded in time: the
    /// transaction stays open while it runs (and the gRPC confirmations feed
    /// waits for transactions older than it).
    pub async fn deliver_outbox<Publish, Published>(
        &self,
        rows_max: usize,
        publish: Publish,
    ) -> Result<OutboxDelivery, LedgerError>
    where
        Publish: FnOnce(Vec<OutboxRow>) -> Published,
        Published: Future<Output = Vec<i64>>,
    {
        let rows_max = rows_max.clamp(1, OUTBOX_CLAIM_ROWS_MAX) as i64;
        let mut connection = self.checkout().await?;
        let tx = connection
            .begin(IsolationLevel::ReadCommitted, false)
            .await?;
        let rows = outbox_delivery::claim_undelivered_outbox_rows(&tx, rows_max).await?;
        if rows.is_empty() {
            tx.rollback().await.map_err(StoreError::from)?;
            connection.clean = true;
            return Ok(OutboxDelivery::default());
        }
        let claimed_count = rows.len();
        let claimed_ids: BTreeSet<i64> = rows.iter().map(|row| row.outbox_id).collect();
        let delivered_ids: BTreeSet<i64> = publish(rows).await.into_iter().collect();
        assert!(
            delivered_ids.is_subset(&claimed_ids),
            "only claimed rows are reported delivered"
        );
        let delivered_ids: Vec<i64> = delivered_ids.into_iter().collect();
        let marked_count = outbox_delivery::mark_outbox_rows_delivered(&tx, &delivered_ids).await?;
        assert_eq!(
            marked_count,
            delivered_ids.len() as u64,
            "a claimed row is still undelivered"
        );
        tx.commit().await.map_err(StoreError::from)?;
        connection.clean = true;
        Ok(OutboxDelivery {
            claimed_count,
            delivered_count: delivered_ids.len(),
        })
    }

    /// Undelivered outbox rows and the age of the oldest.
    pub async fn outbox_lag(&self) -> Result<OutboxLag, LedgerError> {
        let mut connection = self.checkout().await?;
        let tx = connection
            .begin(IsolationLevel::RepeatableRead, true)
            .await?;
        let lag = outbox_delivery::select_outbox_lag(&tx).await?;
        tx.commit().await.map_err(StoreError::from)?;
        connection.clean = true;
        Ok(lag)
    }

    /// Prunes the outbox rows delivered more than `older_than` ago (at least
    /// [`OUTBOX_RETENTION_MIN`]): their payload (the confirmation's content
    /// beyond the row's own columns) is emptied; the rows stay, one per state
    /// change, as the audit's record. Undelivered rows are never touched.
    /// Returns how many were pruned.
    pub async fn prune_delivered_outbox(&self, older_than: Duration) -> Result<u64, LedgerError> {
        if older_than < OUTBOX_RETENTION_MIN {
            return Err(LedgerError::InvalidInput {
                field: "older_than",
                detail: format!(
                    "the retention of delivered outbox rows is at least {} h",
                    OUTBOX_RETENTION_MIN.as_secs() / 3600
                ),
            });
        }
        let delivered_before = SystemTime::now() - older_than;
        let mut connection = self.checkout().await?;
        let tx = connection
            .begin(IsolationLevel::Serializable, false)
            .await?;
        let deleted_count =
            outbox_delivery::prune_payloads_delivered_before(&tx, delivered_before).await?;
        tx.commit().await.map_err(StoreError::from)?;
        connection.clean = true;
        Ok(deleted_count)
    }
}
