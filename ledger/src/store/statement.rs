//! The account statement's SQL: the snapshot's time and one account's
//! booked transfers over a period, each with its payment's keys. The
//! opening and closing balances are the audit's (`audit::select_booked_balances`),
//! so a statement and the audit that checks it count the same transfers.
//!
//! Each function runs one statement in the open transaction it is given (the
//! statement's REPEATABLE READ READ ONLY snapshot).

use deadpool_postgres::Transaction;

use super::audit::BOOKED_KINDS;
use super::{query, query_one, StoreError};
use crate::model::AccountId;

/// `now()` of the open transaction (its snapshot's time), UTC, RFC 3339
/// with microseconds.
pub async fn select_transaction_time(tx: &Transaction<'_>) -> Result<String, StoreError> {
    let row = query_one(
        tx,
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
        &[],
    )
    .await?;
    Ok(row.get(0))
}

/// A booked transfer of the statement's account, with what its payment
/// says of where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementTransferRow {
    pub transfer_id: i64,
    pub payment_id: i64,
    /// The payment's canonical business key.
    pub business_key: String,
    /// The payment's canonical instruction reference (pain.001 payments).
    pub instruction_reference: Option<String>,
    pub kind: String,
    /// Whether the account is the transfer's debit account (money leaves it).
    pub is_debit: bool,
    pub currency: String,
    pub amount_minor: i64,
    /// `created_at` as a UTC date, `YYYY-MM-DD`: the booking and value date.
    pub booking_date: String,
}

/// Booked transfers (`POSTED`, `POST_PENDING`, `REVERSAL`) of the account
/// created from the start of `from` to the end of `to` (UTC dates,
/// `YYYY-MM-DD`, inclusive), in booking order, at most `limit`.
pub async fn select_booked_transfers_in_period(
    tx: &Transaction<'_>,
    account_id: AccountId,
    from: &str,
    to: &str,
    limit: i64,
) -> Result<Vec<StatementTransferRow>, StoreError> {
    let sql = format!(
        "SELECT t.transfer_id, t.payment_id, p.business_key, p.instruction_reference, t.kind, \
           (t.debit_account_id = $1) AS is_debit, t.currency::TEXT AS currency, t.amount_minor, \
           to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS booking_date \
         FROM transfers t JOIN payments p USING (payment_id) \
         WHERE (t.debit_account_id = $1 OR t.credit_account_id = $1) \
           AND t.kind IN {BOOKED_KINDS} \
           AND t.created_at >= $2::TEXT::DATE AT TIME ZONE 'UTC' \
           AND t.created_at < ($3::TEXT::DATE + 1) AT TIME ZONE 'UTC' \
         ORDER BY t.created_at, t.transfer_id \
         LIMIT $4"
    );
    let rows = query(tx, &sql, &[&account_id.0, &from, &to, &limit]).await?;
    Ok(rows
        .iter()
        .map(|row| StatementTransferRow {
            transfer_id: row.get("transfer_id"),
            payment_id: row.get("payment_id"),
            business_key: row.get("business_key"),
            instruction_reference: row.get("instruction_reference"),
            kind: row.get("kind"),
            is_debit: row.get("is_debit"),
            currency: row.get("currency"),
            amount_minor: row.get("amount_minor"),
            booking_date: row.get("booking_date"),
        })
        .collect())
}
