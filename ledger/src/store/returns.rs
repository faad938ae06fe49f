//! Returns of payments (`payment_returns`): one row per return applied, its
//! id and amount, beside its `REVERSAL` transfer (same payment and return id).

use deadpool_postgres::Transaction;

use super::{corrupt, execute, query, StoreError};
use crate::model::{Amount, Currency, PaymentId, ReasonCode, RecordedReturn, ReturnId};

/// The returns recorded for `payment_ids` under any of `return_ids`
/// (canonical texts), each with its payment. The payments are locked by the
/// caller, so no return of theirs can appear meanwhile.
pub async fn select_returns(
    tx: &Transaction<'_>,
    payment_ids: &[PaymentId],
    return_ids: &[&str],
) -> Result<Vec<(PaymentId, RecordedReturn)>, StoreError> {
    if payment_ids.is_empty() || return_ids.is_empty() {
        return Ok(Vec::new());
    }
    let payment_ids: Vec<i64> = payment_ids.iter().map(|id| id.0).collect();
    let rows = query(
        tx,
        "SELECT payment_id, return_id, currency, amount_minor FROM payment_returns \
         WHERE payment_id = ANY($1::BIGINT[]) AND return_id = ANY($2::TEXT[]) \
         ORDER BY payment_id, return_id",
        &[&payment_ids, &return_ids],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let currency: String = row.get("currency");
            let currency =
                Currency::parse(&currency).map_err(|error| corrupt("payment_returns", error))?;
            let return_id: String = row.get("return_id");
            Ok((
                PaymentId(row.get("payment_id")),
                RecordedReturn {
                    return_id: ReturnId::from_canonical(&return_id)
                        .map_err(|error| corrupt("payment_returns", error))?,
                    amount: Amount::from_minor_units(currency, row.get("amount_minor"))
                        .map_err(|error| corrupt("payment_returns", error))?,
                },
            ))
        })
        .collect()
}

/// A return to record.
#[derive(Debug, Clone, Copy)]
pub struct NewReturn<'a> {
    pub payment_id: PaymentId,
    pub recorded: &'a RecordedReturn,
    /// The ISO 20022 reason the pacs.004 gave.
    pub reason: Option<&'a ReasonCode>,
}

/// Records returns, one statement for all. Their reversal transfers are
/// inserted in the same transaction (the foreign key is checked at COMMIT).
pub async fn insert_returns(
    tx: &Transaction<'_>,
    returns: &[NewReturn<'_>],
) -> Result<(), StoreError> {
    if returns.is_empty() {
        return Ok(());
    }
    let payment_ids: Vec<i64> = returns.iter().map(|r| r.payment_id.0).collect();
    let return_ids: Vec<&str> = returns
        .iter()
        .map(|r| r.recorded.return_id.canonical())
        .collect();
    let currencies: Vec<&str> = returns
        .iter()
        .map(|r| r.recorded.amount.currency().code())
        .collect();
    let amounts: Vec<i64> = returns
        .iter()
        .map(|r| r.recorded.amount.minor_units())
        .collect();
    let reasons: Vec<Option<&str>> = returns
        .iter()
        .map(|r| r.reason.map(ReasonCode::as_str))
        .collect();
    let inserted = execute(
        tx,
        "INSERT INTO payment_returns (payment_id, return_id, currency, amount_minor, reason_code) \
         SELECT payment_id, return_id, currency, amount_minor, reason_code \
         FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[]) \
           AS n (payment_id, return_id, currency, amount_minor, reason_code)",
        &[&payment_ids, &return_ids, &currencies, &amounts, &reasons],
    )
    .await?;
    assert_eq!(inserted, returns.len() as u64, "every return recorded");
    Ok(())
}
