//! Business-key and state conflicts, recorded for the audit.

use deadpool_postgres::Transaction;

use super::{execute, StoreError};
use crate::model::{
    BusinessKey, ClientId, IdempotencyKey, PaymentId, PaymentState, RejectionReason,
};

#[derive(Debug)]
pub struct NewConflict<'a> {
    pub business_key: &'a BusinessKey,
    pub payment_id: Option<PaymentId>,
    pub reason: &'a RejectionReason,
    pub requested_state: PaymentState,
    pub client_id: &'a ClientId,
    pub idempotency_key: &'a IdempotencyKey,
}

/// Records refusals flagged for the audit, one statement for all.
pub async fn insert_conflicts(
    tx: &Transaction<'_>,
    conflicts: &[NewConflict<'_>],
) -> Result<(), StoreError> {
    if conflicts.is_empty() {
        return Ok(());
    }
    let business_keys: Vec<String> = conflicts
        .iter()
        .map(|c| c.business_key.canonical())
        .collect();
    let payment_ids: Vec<Option<i64>> = conflicts
        .iter()
        .map(|c| c.payment_id.map(|id| id.0))
        .collect();
    let reasons: Vec<&str> = conflicts.iter().map(|c| c.reason.code()).collect();
    let requested: Vec<&str> = conflicts
        .iter()
        .map(|c| c.requested_state.as_str())
        .collect();
    let clients: Vec<&str> = conflicts.iter().map(|c| c.client_id.as_str()).collect();
    let keys: Vec<&str> = conflicts
        .iter()
        .map(|c| c.idempotency_key.as_str())
        .collect();
    execute(
        tx,
        "INSERT INTO payment_conflicts \
         (business_key, payment_id, reason, requested_state, client_id, idempotency_key) \
         SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
                              $6::TEXT[])",
        &[
            &business_keys,
            &payment_ids,
            &reasons,
            &requested,
            &clients,
            &keys,
        ],
    )
    .await?;
    Ok(())
}
