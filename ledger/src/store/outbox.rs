//! The outbox: one row per state change, written in the change's transaction,
//! and the confirmations feed that reads it in commit-safe order.

use std::time::SystemTime;

use deadpool_postgres::Transaction;
use serde::Serialize;
use tokio_postgres::Row;

use super::visibility::{visible_payment_condition, VisibilityParameters};
use super::{execute, query, StoreError};
use crate::model::{
    DocumentOrigin, Payment, PaymentId, PaymentState, PaymentVisibility, ReasonCode,
};

/// The confirmation an outbox row holds until the ISO 20022 writer produces
/// pacs.002 from it: a stable JSON structure.
#[derive(Debug, Serialize)]
struct OutboxPayload<'a> {
    format: &'static str,
    business_key: String,
    payment_id: i64,
    from_state: Option<&'static str>,
    to_state: &'static str,
    status: &'static str,
    reason: Option<&'a str>,
    amount_minor: i64,
    currency: &'a str,
    origin_message_id: Option<&'a str>,
    origin_message_name_id: Option<&'a str>,
}

/// One outbox row for one state change.
#[derive(Debug)]
pub struct NewOutboxRow<'a> {
    pub payment: &'a Payment,
    pub from: Option<PaymentState>,
    pub to: PaymentState,
    pub reason: Option<&'a ReasonCode>,
    pub origin: Option<&'a DocumentOrigin>,
}

/// Inserts outbox rows in the order given (their ids follow it), one
/// statement for all.
pub async fn insert_outbox_rows(
    tx: &Transaction<'_>,
    rows: &[NewOutboxRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut payment_ids = Vec::with_capacity(rows.len());
    let mut from_states = Vec::with_capacity(rows.len());
    let mut to_states = Vec::with_capacity(rows.len());
    let mut statuses = Vec::with_capacity(rows.len());
    let mut reasons = Vec::with_capacity(rows.len());
    let mut payloads = Vec::with_capacity(rows.len());
    for row in rows {
        let status = row.to.confirmation_status().code();
        let payload = OutboxPayload {
            format: "ledger.confirmation.v0",
            business_key: row.payment.business_key.canonical(),
            payment_id: row.payment.payment_id.0,
            from_state: row.from.map(PaymentState::as_str),
            to_state: row.to.as_str(),
            status,
            reason: row.reason.map(ReasonCode::as_str),
            amount_minor: row.payment.amount.minor_units(),
            currency: row.payment.amount.currency().code(),
            origin_message_id: row.origin.map(|origin| origin.message_id.as_str()),
            origin_message_name_id: row.origin.map(|origin| origin.message_name_id.as_str()),
        };
        payment_ids.push(row.payment.payment_id.0);
        from_states.push(row.from.map(PaymentState::as_str));
        to_states.push(row.to.as_str());
        statuses.push(status);
        reasons.push(row.reason.map(ReasonCode::as_str));
        payloads.push(tokio_postgres::types::Json(
            serde_json::to_value(&payload).expect("the payload serializes"),
        ));
    }
    let inserted = execute(
        tx,
        "INSERT INTO outbox (payment_id, from_state, to_state, status_code, reason_code, payload) \
         SELECT payment_id, from_state, to_state, status_code, reason_code, payload \
         FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::JSONB[]) \
           WITH ORDINALITY AS n (payment_id, from_state, to_state, status_code, reason_code, \
                                 payload, position) \
         ORDER BY position",
        &[
            &payment_ids,
            &from_states,
            &to_states,
            &statuses,
            &reasons,
            &payloads,
        ],
    )
    .await?;
    assert_eq!(inserted, rows.len() as u64, "every outbox row inserted");
    Ok(())
}

/// A position in the confirmations feed: after the row `outbox_id` of the
/// transaction `transaction_id` (both zero: the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FeedPosition {
    pub transaction_id: i64,
    pub outbox_id: i64,
}

/// One outbox row, as the confirmations feed delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub position: FeedPosition,
    pub outbox_id: i64,
    pub message_id: String,
    pub payment_id: PaymentId,
    pub business_key: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub status_code: String,
    pub reason_code: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at: SystemTime,
    /// The document whose application made this change, when known.
    pub origin: Option<DocumentOrigin>,
}

/// Rows after `after`, in commit-safe order, written only by transactions
/// older than every transaction still running, so no row can later appear
/// before one returned here.
pub async fn select_outbox_after(
    tx: &Transaction<'_>,
    after: FeedPosition,
    visible: &PaymentVisibility,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let parameters = VisibilityParameters::of(visible);
    let sql = format!(
        "SELECT {OUTBOX_ROW_COLUMNS} FROM {OUTBOX_ROW_TABLES} \
         WHERE (o.transaction_id, o.outbox_id) > ($1::BIGINT::TEXT::xid8, $2) \
           AND o.transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
           AND {} \
         ORDER BY o.transaction_id, o.outbox_id LIMIT $3",
        visible_payment_condition(4)
    );
    let rows = query(
        tx,
        &sql,
        &[
            &after.transaction_id,
            &after.outbox_id,
            &limit,
            &parameters.all,
            &parameters.created_by,
            &parameters.account_patterns,
        ],
    )
    .await?;
    Ok(rows.iter().map(outbox_row_from_row).collect())
}

/// The columns [`outbox_row_from_row`] reads, from [`OUTBOX_ROW_TABLES`].
pub(crate) const OUTBOX_ROW_COLUMNS: &str =
    "o.transaction_id::TEXT::BIGINT AS transaction_id, o.outbox_id, o.message_id, \
     o.payment_id, p.business_key, o.from_state, o.to_state, o.status_code, \
     o.reason_code, p.amount_minor, p.currency, o.created_at, \
     o.payload->>'origin_message_id' AS origin_message_id, \
     o.payload->>'origin_message_name_id' AS origin_message_name_id";

/// An outbox row `o` with its payment `p`.
pub(crate) const OUTBOX_ROW_TABLES: &str = "outbox o JOIN payments p USING (payment_id)";

/// An outbox row read with [`OUTBOX_ROW_COLUMNS`].
pub(crate) fn outbox_row_from_row(row: &Row) -> OutboxRow {
    let position = FeedPosition {
        transaction_id: row.get("transaction_id"),
        outbox_id: row.get("outbox_id"),
    };
    OutboxRow {
        position,
        outbox_id: position.outbox_id,
        message_id: row.get("message_id"),
        payment_id: PaymentId(row.get("payment_id")),
        business_key: row.get("business_key"),
        from_state: row.get("from_state"),
        to_state: row.get("to_state"),
        status_code: row.get("status_code"),
        reason_code: row.get("reason_code"),
        amount_minor: row.get("amount_minor"),
        currency: row.get::<_, String>("currency"),
        created_at: row.get("created_at"),
        origin: match (
            row.get::<_, Option<String>>("origin_message_id"),
            row.get::<_, Option<String>>("origin_message_name_id"),
        ) {
            (Some(message_id), Some(message_name_id)) => Some(DocumentOrigin {
                message_id,
                message_name_id,
            }),
            _ => None,
        },
    }
}
