//! Transfers: written once, read per account and per payment.

use std::time::SystemTime;

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{corrupt, execute, query, StoreError};
use crate::model::{
    AccountId, Amount, Balances, Currency, PaymentId, PlannedTransfer, ReturnId, TransferId,
    TransferKind,
};

/// A transfer to insert: its payment, what the decision planned, for a
/// `REVERSAL` the return it posts, and the balances of its debit and credit
/// accounts right after it (`V8__running_balances.sql`).
#[derive(Debug, Clone, Copy)]
pub struct NewTransfer<'a> {
    pub payment_id: PaymentId,
    pub transfer: &'a PlannedTransfer,
    pub return_id: Option<&'a ReturnId>,
    pub debit_balances_after: Balances,
    pub credit_balances_after: Balances,
}

/// Inserts transfers in the order given, one statement for all.
pub async fn insert_transfers(
    tx: &Transaction<'_>,
    transfers: &[NewTransfer<'_>],
) -> Result<(), StoreError> {
    for new in transfers {
        assert_eq!(
            new.transfer.kind == TransferKind::Reversal,
            new.return_id.is_some(),
            "a reversal, and only a reversal, names its return"
        );
    }
    let return_ids: Vec<Option<&str>> = transfers
        .iter()
        .map(|new| new.return_id.map(ReturnId::canonical))
        .collect();
    // The eight running sums, the debit account's then the credit account's.
    let running: [Vec<i64>; 8] = std::array::from_fn(|column| {
        transfers
            .iter()
            .map(|new| {
                let balances = if column < 4 {
                    new.debit_balances_after
                } else {
                    new.credit_balances_after
                };
                match column % 4 {
                    0 => balances.debits_pending,
                    1 => balances.debits_posted,
                    2 => balances.credits_pending,
                    _ => balances.credits_posted,
                }
            })
            .collect()
    });
    let transfers: Vec<(PaymentId, &PlannedTransfer)> = transfers
        .iter()
        .map(|new| (new.payment_id, new.transfer))
        .collect();
    if transfers.is_empty() {
        return Ok(());
    }
    let payment_ids: Vec<i64> = transfers.iter().map(|(id, _)| id.0).collect();
    let kinds: Vec<&str> = transfers.iter().map(|(_, t)| t.kind.as_str()).collect();
    let debits: Vec<i64> = transfers
        .iter()
        .map(|(_, t)| t.debit_account_id.0)
        .collect();
    let credits: Vec<i64> = transfers
        .iter()
        .map(|(_, t)| t.credit_account_id.0)
        .collect();
    let currencies: Vec<&str> = transfers
        .iter()
        .map(|(_, t)| t.amount.currency().code())
        .collect();
    let amounts: Vec<i64> = transfers
        .iter()
        .map(|(_, t)| t.amount.minor_units())
        .collect();
    let inserted = execute(
        tx,
        "INSERT INTO transfers \
         (payment_id, kind, debit_account_id, credit_account_id, currency, amount_minor, \
          return_id, debit_debits_pending, debit_debits_posted, debit_credits_pending, \
          debit_credits_posted, credit_debits_pending, credit_debits_posted, \
          credit_credits_pending, credit_credits_posted) \
         SELECT payment_id, kind, debit_account_id, credit_account_id, currency, amount_minor, \
                return_id, ddp, ddpo, dcp, dcpo, cdp, cdpo, ccp, ccpo \
         FROM unnest($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::BIGINT[], \
                     $7::TEXT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], \
                     $12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::BIGINT[]) \
           WITH ORDINALITY AS n (payment_id, kind, debit_account_id, credit_account_id, \
                                 currency, amount_minor, return_id, ddp, ddpo, dcp, dcpo, \
                                 cdp, cdpo, ccp, ccpo, position) \
         ORDER BY position",
        &[
            &payment_ids,
            &kinds,
            &debits,
            &credits,
            &currencies,
            &amounts,
            &return_ids,
            &running[0],
            &running[1],
            &running[2],
            &running[3],
            &running[4],
            &running[5],
            &running[6],
            &running[7],
        ],
    )
    .await?;
    assert_eq!(inserted, transfers.len() as u64, "every transfer inserted");
    Ok(())
}

/// A posted transfer as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub transfer_id: TransferId,
    pub payment_id: PaymentId,
    pub kind: TransferKind,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    pub amount: Amount,
    pub created_at: SystemTime,
}

/// A half-open range of creation times, `[from, until)`; either end open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub from: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

/// Transfers touching `account_id`, oldest first, after `after` (keyset pagination).
pub async fn select_transfers_of_account(
    tx: &Transaction<'_>,
    account_id: AccountId,
    after: Option<TransferId>,
    created: &TimeRange,
    limit: i64,
) -> Result<Vec<Transfer>, StoreError> {
    let after = after.map_or(0, |id| id.0);
    let rows = query(
        tx,
        "SELECT transfer_id, payment_id, kind, debit_account_id, credit_account_id, currency, \
         amount_minor, created_at FROM transfers \
         WHERE (debit_account_id = $1 OR credit_account_id = $1) AND transfer_id > $2 \
           AND ($4::TIMESTAMPTZ IS NULL OR created_at >= $4) \
           AND ($5::TIMESTAMPTZ IS NULL OR created_at < $5) \
         ORDER BY transfer_id LIMIT $3",
        &[&account_id.0, &after, &limit, &created.from, &created.until],
    )
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

/// Transfers of one payment, in the order they were posted.
pub async fn select_transfers_of_payment(
    tx: &Transaction<'_>,
    payment_id: PaymentId,
) -> Result<Vec<Transfer>, StoreError> {
    let rows = query(
        tx,
        "SELECT transfer_id, payment_id, kind, debit_account_id, credit_account_id, currency, \
         amount_minor, created_at FROM transfers WHERE payment_id = $1 ORDER BY transfer_id",
        &[&payment_id.0],
    )
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

fn transfer_from_row(row: &Row) -> Result<Transfer, StoreError> {
    let kind: String = row.get("kind");
    let currency: String = row.get("currency");
    let currency = Currency::parse(&currency).map_err(|error| corrupt("transfers", error))?;
    Ok(Transfer {
        transfer_id: TransferId(row.get("transfer_id")),
        payment_id: PaymentId(row.get("payment_id")),
        kind: TransferKind::parse(&kind)
            .ok_or_else(|| corrupt("transfers", format!("kind {kind:?}")))?,
        debit_account_id: AccountId(row.get("debit_account_id")),
        credit_account_id: AccountId(row.get("credit_account_id")),
        amount: Amount::from_minor_units(currency, row.get("amount_minor"))
            .map_err(|error| corrupt("transfers", error))?,
        created_at: row.get("created_at"),
    })
}
