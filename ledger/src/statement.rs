//! Account statements: what a camt.053 of one account over whole UTC days
//! says, read in one REPEATABLE READ READ ONLY snapshot
//! ([`crate::Ledger::statement`]); the API writes it as XML.
//!
//! A statement books what the audit's statement comparison expects
//! (`crate::audit`, semantics §6.6): one entry per transfer of kind
//! `POSTED`, `POST_PENDING` or `REVERSAL` on the account, on the UTC date of
//! its creation (booking and value date), named by
//! [`ledger_transfer_reference`]; the opening booked balance is the sum of
//! the booked transfers before the first day, the closing one the sum up to
//! the end of the last day (credits positive). So the opening balance of a
//! period is the closing balance of the one before, and `ledger reconcile`
//! of a statement the ledger wrote reports it clean.

use tokio_postgres::IsolationLevel;

use crate::audit::{ledger_transfer_reference, CalendarDate, Direction, StatementBalance};
use crate::error::LedgerError;
use crate::model::{Account, AccountReference, Amount, BusinessKey, Currency, TransferKind};
use crate::store::{self, statement as sql, StoreError};
use crate::Ledger;

/// A statement lists at most this many entries; a longer period is refused
/// (ask for shorter ones).
pub const STATEMENT_ENTRIES_MAX: usize = 100_000;

/// The days a statement covers, inclusive, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementPeriod {
    pub from: CalendarDate,
    pub to: CalendarDate,
}

/// One booked entry: a transfer of the account and its payment's references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub transfer_id: i64,
    pub payment_id: i64,
    pub kind: TransferKind,
    pub amount: Amount,
    pub direction: Direction,
    /// Booking and value date.
    pub booking_date: CalendarDate,
    /// [`ledger_transfer_reference`] of the transfer (camt.053 `AcctSvcrRef`).
    pub reference: String,
    /// The payment's canonical business key.
    pub business_key: String,
    pub end_to_end_id: Option<String>,
    /// `InstrId` (or `TxId` where the message had none).
    pub instruction_id: Option<String>,
    /// Lowercase, hyphenated.
    pub uetr: Option<String>,
    /// The `MsgId` of the message that created the payment, when its keys
    /// name it (a pain.001's, or a payment keyed by message and position).
    pub original_message_id: Option<String>,
}

/// An account's statement over a period, from one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStatement {
    /// The snapshot's time, UTC, RFC 3339 with microseconds.
    pub as_of: String,
    pub account: Account,
    pub period: StatementPeriod,
    /// Booked balance at the start of `period.from`.
    pub opening_booked: StatementBalance,
    /// Booked balance at the end of `period.to` (or now, for a period not over yet).
    pub closing_booked: StatementBalance,
    /// In booking order.
    pub entries: Vec<StatementLine>,
}

impl Ledger {
    /// The statement of the account named `reference` over `period`, or
    /// `None` if there is no such account, read in one REPEATABLE READ READ
    /// ONLY snapshot: the balances and the entries are of the same moment.
    /// A period ending before it starts, or with more than
    /// [`STATEMENT_ENTRIES_MAX`] entries, is `InvalidInput`.
    pub async fn statement(
        &self,
        reference: &AccountReference,
        period: StatementPeriod,
    ) -> Result<Option<AccountStatement>, LedgerError> {
        if period.to < period.from {
            return Err(LedgerError::InvalidInput {
                field: "to",
                detail: format!(
                    "the period ends ({}) before it starts ({})",
                    period.to, period.from
                ),
            });
        }
        let mut connection = self.checkout().await?;
        let tx = connection
            .begin(IsolationLevel::RepeatableRead, true)
            .await?;
        let read = read_statement(&tx, reference, period).await;
        let ended = tx.rollback().await.map_err(StoreError::from);
        connection.clean = ended.is_ok();
        let statement = read?;
        ended?;
        Ok(statement)
    }
}

async fn read_statement(
    tx: &deadpool_postgres::Transaction<'_>,
    reference: &AccountReference,
    period: StatementPeriod,
) -> Result<Option<AccountStatement>, LedgerError> {
    let Some(account) = store::select_account_by_reference(tx, reference).await? else {
        return Ok(None);
    };
    let as_of = sql::select_transaction_time(tx).await?;
    let from = period.from.to_string();
    let to = period.to.to_string();
    let balances = store::audit::select_booked_balances(tx, account.account_id, &from, &to).await?;
    let rows = sql::select_booked_transfers_in_period(
        tx,
        account.account_id,
        &from,
        &to,
        STATEMENT_ENTRIES_MAX as i64 + 1,
    )
    .await?;
    if rows.len() > STATEMENT_ENTRIES_MAX {
        return Err(LedgerError::InvalidInput {
            field: "period",
            detail: format!(
                "more than {STATEMENT_ENTRIES_MAX} booked entries from {from} to {to}: \
                 ask for shorter periods"
            ),
        });
    }
    let entries = rows
        .into_iter()
        .map(line_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let moved: i128 = entries
        .iter()
        .map(|entry| {
            let value = i128::from(entry.amount.minor_units());
            match entry.direction {
                Direction::Credit => value,
                Direction::Debit => -value,
            }
        })
        .sum();
    if balances.opening + moved != balances.closing {
        return Err(StoreError::Corrupt {
            table: "transfers",
            detail: format!(
                "account {}: opening {} + entries {moved} <> closing {}",
                reference, balances.opening, balances.closing
            ),
        }
        .into());
    }
    Ok(Some(AccountStatement {
        as_of,
        opening_booked: balance(account.currency, balances.opening)?,
        closing_booked: balance(account.currency, balances.closing)?,
        account,
        period,
        entries,
    }))
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "transfers",
        detail,
    }
}

/// A signed sum of minor units (credits positive) as a statement balance.
fn balance(currency: Currency, signed_minor_units: i128) -> Result<StatementBalance, StoreError> {
    let magnitude = i64::try_from(signed_minor_units.unsigned_abs())
        .map_err(|_| corrupt(format!("booked balance {signed_minor_units} out of range")))?;
    Ok(StatementBalance {
        amount: Amount::from_minor_units(currency, magnitude)
            .map_err(|error| corrupt(error.to_string()))?,
        direction: if signed_minor_units < 0 {
            Direction::Debit
        } else {
            Direction::Credit
        },
    })
}

fn line_from_row(row: sql::StatementTransferRow) -> Result<StatementLine, StoreError> {
    let currency = Currency::parse(&row.currency).map_err(|error| corrupt(error.to_string()))?;
    let mut line = StatementLine {
        transfer_id: row.transfer_id,
        payment_id: row.payment_id,
        kind: TransferKind::parse(&row.kind)
            .ok_or_else(|| corrupt(format!("kind {:?}", row.kind)))?,
        amount: Amount::from_minor_units(currency, row.amount_minor)
            .map_err(|error| corrupt(error.to_string()))?,
        direction: if row.is_debit {
            Direction::Debit
        } else {
            Direction::Credit
        },
        booking_date: CalendarDate::parse(&row.booking_date)
            .ok_or_else(|| corrupt(format!("date {:?}", row.booking_date)))?,
        reference: ledger_transfer_reference(row.transfer_id),
        business_key: row.business_key,
        end_to_end_id: None,
        instruction_id: None,
        uetr: None,
        original_message_id: None,
    };
    match BusinessKey::from_canonical(&line.business_key) {
        Ok(BusinessKey::Uetr(uuid)) => line.uetr = Some(uuid.hyphenated().to_string()),
        Ok(BusinessKey::Reference {
            instruction_id,
            end_to_end_id,
            ..
        }) => {
            line.instruction_id = instruction_id;
            line.end_to_end_id = end_to_end_id;
        }
        Ok(BusinessKey::Message { message_id, .. }) => {
            line.original_message_id = Some(message_id);
        }
        // Never a payment's own key; a hand-edited key: the ledger
        // reference alone names the entry.
        Ok(BusinessKey::Instruction(_)) | Err(_) => {}
    }
    if let Some(Ok(BusinessKey::Instruction(instruction))) = row
        .instruction_reference
        .as_deref()
        .map(BusinessKey::from_canonical)
    {
        line.original_message_id = Some(instruction.message_id().to_owned());
        if line.end_to_end_id.is_none() {
            line.end_to_end_id = instruction.end_to_end_id().map(str::to_owned);
        }
        if line.instruction_id.is_none() {
            line.instruction_id = instruction.instruction_id().map(str::to_owned);
        }
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bic, InstructionReference, Originator};

    fn row(
        business_key: String,
        instruction_reference: Option<String>,
    ) -> sql::StatementTransferRow {
        sql::StatementTransferRow {
            transfer_id: 42,
            payment_id: 7,
            business_key,
            instruction_reference,
            kind: "POSTED".to_owned(),
            is_debit: true,
            currency: "EUR".to_owned(),
            amount_minor: 1_250,
            booking_date: "2026-11-30".to_owned(),
        }
    }

    fn originator() -> Originator {
        Originator::bic(Bic::parse("BANKDEFFXXX").unwrap())
    }

    #[test]
    fn a_line_is_named_by_the_ledger_transfer_reference() {
        let key = BusinessKey::reference(originator(), Some("INSTR-1"), Some("E2E-1")).unwrap();
        let line = line_from_row(row(key.canonical(), None)).unwrap();
        assert_eq!(line.reference, ledger_transfer_reference(42));
        assert_eq!(line.direction, Direction::Debit);
        assert_eq!(line.kind, TransferKind::Posted);
        assert_eq!(line.end_to_end_id.as_deref(), Some("E2E-1"));
        assert_eq!(line.instruction_id.as_deref(), Some("INSTR-1"));
        assert_eq!(line.uetr, None);
    }

    #[test]
    fn a_payment_keyed_by_uetr_names_its_uetr() {
        let key = BusinessKey::uetr("2F0C8A7E-5B3D-4C1A-9E6F-000000000004").unwrap();
        let line = line_from_row(row(key.canonical(), None)).unwrap();
        assert_eq!(
            line.uetr.as_deref(),
            Some("2f0c8a7e-5b3d-4c1a-9e6f-000000000004")
        );
        assert_eq!(line.end_to_end_id, None);
    }

    #[test]
    fn a_pain001_payment_names_its_original_message() {
        let key = BusinessKey::reference(originator(), None, Some("E2E-1")).unwrap();
        let instruction =
            InstructionReference::new("P001-MSG", Some("INSTR-9"), Some("E2E-1")).unwrap();
        let line = line_from_row(row(key.canonical(), Some(instruction.canonical()))).unwrap();
        assert_eq!(line.original_message_id.as_deref(), Some("P001-MSG"));
        assert_eq!(line.instruction_id.as_deref(), Some("INSTR-9"));
        assert_eq!(line.end_to_end_id.as_deref(), Some("E2E-1"));
    }

    #[test]
    fn a_hand_edited_key_still_gives_a_line() {
        let line = line_from_row(row("not a key".to_owned(), None)).unwrap();
        assert_eq!(line.reference, ledger_transfer_reference(42));
        assert_eq!(line.end_to_end_id, None);
    }

    #[test]
    fn a_negative_sum_is_a_debit_balance() {
        let currency = Currency::parse("EUR").unwrap();
        let debit = balance(currency, -1_250).unwrap();
        assert_eq!(debit.direction, Direction::Debit);
        assert_eq!(debit.signed_minor_units(), -1_250);
        assert_eq!(balance(currency, 0).unwrap().direction, Direction::Credit);
        assert!(balance(currency, i128::from(i64::MAX) + 1).is_err());
    }
}
