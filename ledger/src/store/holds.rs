//! Holds: PENDING payments, found by age so that they can expire.

use std::time::SystemTime;

use deadpool_postgres::Transaction;

use super::{business_key_from_canonical, query, StoreError};
use crate::model::{BusinessKey, PaymentId};

/// PENDING payments created before `created_before`, oldest first, at most
/// `limit` (by the partial index `payments_pending_by_creation`).
pub async fn select_holds_created_before(
    tx: &Transaction<'_>,
    created_before: SystemTime,
    limit: usize,
) -> Result<Vec<(PaymentId, BusinessKey)>, StoreError> {
    let rows = query(
        tx,
        "SELECT payment_id, business_key FROM payments \
         WHERE state = 'PENDING' AND created_at < $1 \
         ORDER BY created_at, payment_id LIMIT $2",
        &[&created_before, &(limit as i64)],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let key: String = row.get(1);
            Ok((PaymentId(row.get(0)), business_key_from_canonical(&key)?))
        })
        .collect()
}
