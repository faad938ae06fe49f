//! Payments by id, business key and instruction reference, and the visibility
//! filter every read of payments and confirmations applies.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::visibility::{visible_payment_condition, VisibilityParameters};
use super::{corrupt, execute, query, query_opt, StoreError};
use crate::model::{
    AccountId, Amount, BusinessKey, ClientId, Currency, InstructionReference, Payment, PaymentId,
    PaymentState, PaymentVisibility,
};

pub(super) const PAYMENT_COLUMNS: &str =
    "payment_id, business_key, state, currency, amount_minor, debit_account_id, credit_account_id, \
     amount_returned_minor";

/// The business key is stored in its canonical text; the model's parsers
/// re-read it so a hand-edited row is caught.
pub(crate) fn business_key_from_canonical(canonical: &str) -> Result<BusinessKey, StoreError> {
    BusinessKey::from_canonical(canonical).map_err(|error| corrupt("payments", error))
}

pub(super) fn payment_from_row(row: &Row) -> Result<Payment, StoreError> {
    let state: String = row.get("state");
    let currency: String = row.get("currency");
    let currency = Currency::parse(&currency).map_err(|error| corrupt("payments", error))?;
    Ok(Payment {
        payment_id: PaymentId(row.get("payment_id")),
        business_key: business_key_from_canonical(row.get("business_key"))?,
        state: PaymentState::parse(&state)
            .ok_or_else(|| corrupt("payments", format!("state {state:?}")))?,
        amount: Amount::from_minor_units(currency, row.get("amount_minor"))
            .map_err(|error| corrupt("payments", error))?,
        debit_account_id: AccountId(row.get("debit_account_id")),
        credit_account_id: AccountId(row.get("credit_account_id")),
        amount_returned: Amount::from_minor_units(currency, row.get("amount_returned_minor"))
            .map_err(|error| corrupt("payments", error))?,
    })
}

/// Reads and locks the payments under `business_keys` (canonical text), in
/// id order.
pub async fn select_payments_by_business_keys_for_update(
    tx: &Transaction<'_>,
    business_keys: &[String],
) -> Result<Vec<Payment>, StoreError> {
    if business_keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE business_key = ANY($1::TEXT[]) \
         ORDER BY payment_id FOR UPDATE"
    );
    let rows = query(tx, &sql, &[&business_keys]).await?;
    rows.iter().map(payment_from_row).collect()
}

/// The payments that recorded these instruction references (canonical
/// texts), locked, each with its reference.
pub async fn select_payments_by_instruction_references_for_update(
    tx: &Transaction<'_>,
    references: &[String],
) -> Result<Vec<(String, Payment)>, StoreError> {
    if references.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS}, instruction_reference FROM payments \
         WHERE instruction_reference = ANY($1::TEXT[]) ORDER BY payment_id FOR UPDATE"
    );
    let rows = query(tx, &sql, &[&references]).await?;
    rows.iter()
        .map(|row| Ok((row.get("instruction_reference"), payment_from_row(row)?)))
        .collect()
}

pub async fn select_payment_by_business_key(
    tx: &Transaction<'_>,
    business_key: &BusinessKey,
) -> Result<Option<Payment>, StoreError> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE business_key = $1");
    let row = query_opt(tx, &sql, &[&business_key.canonical()]).await?;
    row.as_ref().map(payment_from_row).transpose()
}

pub async fn select_payment_by_id(
    tx: &Transaction<'_>,
    payment_id: PaymentId,
) -> Result<Option<Payment>, StoreError> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1");
    let row = query_opt(tx, &sql, &[&payment_id.0]).await?;
    row.as_ref().map(payment_from_row).transpose()
}

/// Whether the payment is visible to a reader.
pub async fn select_payment_is_visible(
    tx: &Transaction<'_>,
    payment_id: PaymentId,
    visible: &PaymentVisibility,
) -> Result<bool, StoreError> {
    let parameters = VisibilityParameters::of(visible);
    let sql = format!(
        "SELECT {} FROM payments p WHERE p.payment_id = $1",
        visible_payment_condition(2)
    );
    let row = query_opt(
        tx,
        &sql,
        &[
            &payment_id.0,
            &parameters.all,
            &parameters.created_by,
            &parameters.account_patterns,
        ],
    )
    .await?;
    Ok(row.is_some_and(|row| row.get::<_, Option<bool>>(0) == Some(true)))
}

/// The fields of a new payment row.
#[derive(Debug)]
pub struct NewPayment<'a> {
    pub business_key: &'a BusinessKey,
    pub state: PaymentState,
    pub amount: Amount,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    /// What returns applied in the same batch returned of it.
    pub amount_returned: Amount,
    /// A pain.001 transaction's reference, for its follow-ups.
    pub instruction_reference: Option<&'a InstructionReference>,
    /// The client whose request created it.
    pub created_by: &'a ClientId,
}

/// Inserts new payments, one statement for all; returns their ids in the
/// order given.
pub async fn insert_payments(
    tx: &Transaction<'_>,
    payments: &[NewPayment<'_>],
) -> Result<Vec<PaymentId>, StoreError> {
    if payments.is_empty() {
        return Ok(Vec::new());
    }
    let business_keys: Vec<String> = payments
        .iter()
        .map(|p| p.business_key.canonical())
        .collect();
    let states: Vec<&str> = payments.iter().map(|p| p.state.as_str()).collect();
    let currencies: Vec<&str> = payments
        .iter()
        .map(|p| p.amount.currency().code())
        .collect();
    let amounts: Vec<i64> = payments.iter().map(|p| p.amount.minor_units()).collect();
    let debits: Vec<i64> = payments.iter().map(|p| p.debit_account_id.0).collect();
    let credits: Vec<i64> = payments.iter().map(|p| p.credit_account_id.0).collect();
    let references: Vec<Option<String>> = payments
        .iter()
        .map(|p| p.instruction_reference.map(InstructionReference::canonical))
        .collect();
    let creators: Vec<&str> = payments.iter().map(|p| p.created_by.as_str()).collect();
    // The ids ListPayments finds a payment by: its business key's, else (a
    // pain.001 keyed by UETR) its instruction reference's.
    let end_to_end_ids: Vec<Option<&str>> = payments
        .iter()
        .map(|p| {
            p.business_key
                .end_to_end_id()
                .or_else(|| p.instruction_reference.and_then(|r| r.end_to_end_id()))
        })
        .collect();
    let instruction_ids: Vec<Option<&str>> = payments
        .iter()
        .map(|p| {
            p.business_key
                .instruction_id()
                .or_else(|| p.instruction_reference.and_then(|r| r.instruction_id()))
        })
        .collect();
    let returned: Vec<i64> = payments
        .iter()
        .map(|p| p.amount_returned.minor_units())
        .collect();
    let rows = query(
        tx,
        "INSERT INTO payments \
         (business_key, state, currency, amount_minor, debit_account_id, credit_account_id, \
          instruction_reference, created_by_client_id, amount_returned_minor, \
          end_to_end_id, instruction_id) \
         SELECT business_key, state, currency, amount_minor, debit_account_id, credit_account_id, \
                instruction_reference, created_by_client_id, amount_returned_minor, \
                end_to_end_id, instruction_id \
         FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[], \
                     $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::TEXT[], $11::TEXT[]) \
           WITH ORDINALITY AS n (business_key, state, currency, amount_minor, \
                                 debit_account_id, credit_account_id, instruction_reference, \
                                 created_by_client_id, amount_returned_minor, \
                                 end_to_end_id, instruction_id, position) \
         ORDER BY position RETURNING payment_id, business_key",
        &[
            &business_keys,
            &states,
            &currencies,
            &amounts,
            &debits,
            &credits,
            &references,
            &creators,
            &returned,
            &end_to_end_ids,
            &instruction_ids,
        ],
    )
    .await?;
    let ids: std::collections::HashMap<String, i64> =
        rows.iter().map(|row| (row.get(1), row.get(0))).collect();
    business_keys
        .iter()
        .map(|key| {
            ids.get(key)
                .map(|id| PaymentId(*id))
                .ok_or_else(|| corrupt("payments", format!("{key} inserted without an id")))
        })
        .collect()
}

/// A payment's move from the state it was read in to its batch's last state,
/// with what its returns returned so far.
#[derive(Debug, Clone, Copy)]
pub struct StateUpdate {
    pub payment_id: PaymentId,
    pub from: PaymentState,
    pub to: PaymentState,
    pub amount_returned_minor: i64,
}

/// Moves payments from `from` to `to`, one statement for all; fails if any
/// is no longer in `from`.
pub async fn update_payment_states(
    tx: &Transaction<'_>,
    updates: &[StateUpdate],
) -> Result<(), StoreError> {
    if updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = updates.iter().map(|u| u.payment_id.0).collect();
    let from: Vec<&str> = updates.iter().map(|u| u.from.as_str()).collect();
    let to: Vec<&str> = updates.iter().map(|u| u.to.as_str()).collect();
    let returned: Vec<i64> = updates.iter().map(|u| u.amount_returned_minor).collect();
    let updated = execute(
        tx,
        "UPDATE payments p SET state = u.to_state, amount_returned_minor = u.amount_returned_minor, \
           updated_at = now() \
         FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[]) \
           AS u (payment_id, from_state, to_state, amount_returned_minor) \
         WHERE p.payment_id = u.payment_id AND p.state = u.from_state",
        &[&ids, &from, &to, &returned],
    )
    .await?;
    if updated != updates.len() as u64 {
        return Err(corrupt(
            "payments",
            format!("payments {ids:?} left their states under a row lock"),
        ));
    }
    Ok(())
}
