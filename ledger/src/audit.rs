//! The reconciliation audit (`docs/semantics.md` §6): what it
//! reports ([`AuditReport`], [`Discrepancy`] with a stable code per kind),
//! the statement it compares with ([`StatementInput`], converted from
//! camt.053 at the edge), and [`crate::Ledger::audit`].
//!
//! The audit reads in one SERIALIZABLE READ ONLY DEFERRABLE transaction: one
//! consistent snapshot that no concurrent writer can invalidate, so it runs
//! during live traffic without false alarms and never fails to serialize.
//! Checks 1-5 are set-based SQL (`store::audit`) that return only what is
//! wrong; the statement comparison reads the account's booked transfers over
//! the statement's period and matches them by reference in one pass here.
//!
//! Statement matching. The ledger books a statement entry for each transfer
//! of kind `POSTED`, `POST_PENDING` or `REVERSAL` on the account (pending
//! transfers are not booked), on the UTC date of its `created_at`, which is
//! both its booking and its value date; a debit of the account is `DBIT`. An
//! entry matches a transfer by, in this order: its `AcctSvcrRef` equal to the
//! transfer's ledger reference ([`ledger_transfer_reference`]); its UETR equal
//! to the payment's; its `EndToEndId` with its `TxId` (or `InstrId`) equal to
//! the payment's end-to-end and instruction ids; its `EndToEndId` alone
//! (unless `NOTPROVIDED`). Among several candidates it takes the one in the
//! same direction with the same amount, then in the same direction, oldest
//! first. An entry whose `AcctSvcrRef` names a transfer another entry
//! matched already is a duplicate (missing in the ledger), never matched by a
//! weaker key to another transfer of the same payment. Transfers up to a day outside the period are candidates too (so a
//! date off by one is a value-date mismatch, not two missing entries), but
//! only those inside it are reported missing from the statement.

use std::collections::HashMap;
use std::fmt;

use deadpool_postgres::Transaction;

use crate::error::LedgerError;
use crate::model::{AccountReference, AdminChange, Amount, BusinessKey, Currency};
use crate::store::{self, audit as sql, StoreError};

/// At most this many discrepancies of one check are reported; the report
/// says which checks were cut short.
pub const DISCREPANCIES_PER_CHECK_MAX: usize = 1_000;

/// The report names at most this many of the latest administrative changes.
pub const ADMIN_CHANGES_REPORTED_MAX: usize = 20;

/// Ledger transfers this many days outside a statement's period are still
/// match candidates for its entries.
pub const STATEMENT_PERIOD_MARGIN_DAYS: i32 = 1;

/// The reference by which a statement's `AcctSvcrRef` names a ledger
/// transfer: `LDGRT` and the transfer id, zero-padded to 20 digits (the
/// outbox's message ids are `LDGR` and 20 digits).
pub fn ledger_transfer_reference(transfer_id: i64) -> String {
    format!("LDGRT{transfer_id:020}")
}

// ------------------------------------------------------------ statement input

/// A calendar date (ISO 8601, no time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CalendarDate {
    year: i32,
    month: u8,
    day: u8,
}

impl CalendarDate {
    pub fn new(year: i32, month: u8, day: u8) -> Option<CalendarDate> {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        ((1..=9999).contains(&year) && (1..=days).contains(&day)).then_some(CalendarDate {
            year,
            month,
            day,
        })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<CalendarDate> {
        let mut parts = text.splitn(3, '-');
        let year = parts.next()?;
        let month = parts.next()?;
        let day = parts.next()?;
        if year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return None;
        }
        CalendarDate::new(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Credit or debit, from the account's point of view (camt.053 `CdtDbtInd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Credit,
    Debit,
}

impl Direction {
    /// `CRDT` or `DBIT`.
    pub fn code(self) -> &'static str {
        match self {
            Direction::Credit => "CRDT",
            Direction::Debit => "DBIT",
        }
    }
}

/// A booked balance of a statement: an amount and whether it is a credit
/// (the account holds money) or a debit balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementBalance {
    pub amount: Amount,
    pub direction: Direction,
}

impl StatementBalance {
    /// Minor units, credit positive.
    pub fn signed_minor_units(&self) -> i128 {
        let value = i128::from(self.amount.minor_units());
        match self.direction {
            Direction::Credit => value,
            Direction::Debit => -value,
        }
    }
}

/// The references a statement entry carries (camt.053 `AcctSvcrRef`,
/// `Refs/EndToEndId`, `TxId`, `InstrId`, `UETR`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryReferences {
    pub account_servicer_reference: Option<String>,
    pub end_to_end_id: Option<String>,
    pub transaction_id: Option<String>,
    pub instruction_id: Option<String>,
    pub uetr: Option<String>,
}

impl fmt::Display for EntryReferences {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in [
            ("AcctSvcrRef", &self.account_servicer_reference),
            ("EndToEndId", &self.end_to_end_id),
            ("TxId", &self.transaction_id),
            ("InstrId", &self.instruction_id),
            ("UETR", &self.uetr),
        ] {
            if let Some(value) = value {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{name}={value}")?;
                first = false;
            }
        }
        if first {
            f.write_str("no references")?;
        }
        Ok(())
    }
}

/// A booked entry of a statement (an `Ntry` with status `BOOK`, or one
/// transaction of a batch entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementEntry {
    /// Where it is in the statement, for messages (`3` or `3.2` for the
    /// second transaction of the third entry).
    pub position: String,
    pub amount: Amount,
    pub direction: Direction,
    pub value_date: Option<CalendarDate>,
    pub booking_date: Option<CalendarDate>,
    pub references: EntryReferences,
}

/// One account statement to compare with the ledger (semantics §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementInput {
    /// The statement's own id (camt.053 `Stmt/Id`).
    pub statement_id: String,
    /// The account it covers, as the ledger names accounts.
    pub account: AccountReference,
    /// The days it covers, inclusive (UTC).
    pub from: CalendarDate,
    pub to: CalendarDate,
    /// Balance at the start of `from` (`OPBD`), if the statement gives one.
    pub opening_booked: Option<StatementBalance>,
    /// Balance at the end of `to` (`CLBD`), if the statement gives one.
    pub closing_booked: Option<StatementBalance>,
    pub entries: Vec<StatementEntry>,
}

// ------------------------------------------------------------------ report

/// One thing the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discrepancy {
    /// §6.1: the stored debits and credits of a currency differ.
    TrialBalance {
        currency: String,
        debits_pending: i128,
        credits_pending: i128,
        debits_posted: i128,
        credits_posted: i128,
    },
    /// §6.2: an account's stored balances differ from the sums of its transfers.
    BalanceMismatch {
        account_id: i64,
        account: String,
        currency: String,
        /// debits pending, debits posted, credits pending, credits posted.
        stored: [i128; 4],
        from_transfers: [i128; 4],
    },
    /// §6.2: a transfer's recorded running balances of one of its accounts
    /// differ from the sums of the account's transfers up to it, or it was
    /// stamped before the account's transfer before it.
    RunningBalanceMismatch {
        account_id: i64,
        transfer_id: i64,
        /// debits pending, debits posted, credits pending, credits posted.
        recorded: [i128; 4],
        from_transfers: [i128; 4],
        out_of_order: bool,
    },
    /// §6.3: a payment's transfers are not what its state implies.
    TransfersDoNotMatchState {
        payment_id: i64,
        business_key: String,
        state: String,
        kinds: String,
        legs_match: bool,
    },
    /// §6.3 for returns: a payment's returns are not each reversed once by
    /// a transfer of their amount, add up to more than its amount or to
    /// another amount than it records, or it is RETURNED other than exactly
    /// when all of it was returned.
    ReturnMismatch {
        payment_id: i64,
        business_key: String,
        state: String,
        amount_minor: i64,
        amount_returned_minor: i64,
        returns_minor: i128,
        returns: String,
        problem: String,
    },
    /// §6.4: a payment's outbox rows are not one per state change.
    OutboxMismatch {
        payment_id: i64,
        business_key: String,
        state: String,
        moves: String,
        problem: String,
    },
    /// §6.5: one business key held by several payments.
    BusinessKeyAppliedTwice {
        business_key: String,
        payment_ids: Vec<i64>,
    },
    /// §6.6: the statement's account is not in the ledger.
    StatementAccountUnknown {
        statement_id: String,
        account: String,
    },
    /// §6.6: a booked statement entry with no ledger transfer.
    StatementEntryMissingInLedger {
        statement_id: String,
        account: String,
        position: String,
        amount: Amount,
        direction: Direction,
        value_date: Option<CalendarDate>,
        references: String,
    },
    /// §6.6: a booked ledger transfer in the period with no statement entry.
    LedgerEntryMissingInStatement {
        statement_id: String,
        account: String,
        transfer_id: i64,
        payment_id: i64,
        business_key: String,
        kind: String,
        amount: Amount,
        direction: Direction,
        booking_date: CalendarDate,
    },
    StatementAmountMismatch {
        statement_id: String,
        account: String,
        position: String,
        transfer_id: i64,
        statement_amount: Amount,
        ledger_amount: Amount,
    },
    StatementDirectionMismatch {
        statement_id: String,
        account: String,
        position: String,
        transfer_id: i64,
        statement_direction: Direction,
        ledger_direction: Direction,
    },
    StatementValueDateMismatch {
        statement_id: String,
        account: String,
        position: String,
        transfer_id: i64,
        statement_date: CalendarDate,
        ledger_date: CalendarDate,
    },
    OpeningBalanceMismatch {
        statement_id: String,
        account: String,
        date: CalendarDate,
        currency: Currency,
        statement_minor_units: i128,
        ledger_minor_units: i128,
    },
    ClosingBalanceMismatch {
        statement_id: String,
        account: String,
        date: CalendarDate,
        currency: Currency,
        statement_minor_units: i128,
        ledger_minor_units: i128,
    },
}

/// Minor units as a decimal of the currency (`-12.50`).
pub fn format_minor_units(minor_units: i128, decimals: u8) -> String {
    if decimals == 0 {
        return minor_units.to_string();
    }
    let sign = if minor_units < 0 { "-" } else { "" };
    let magnitude = minor_units.unsigned_abs();
    let scale = 10_u128.pow(u32::from(decimals));
    format!(
        "{sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = usize::from(decimals)
    )
}

fn format_amount(amount: &Amount) -> String {
    format!("{} {}", amount.currency().code(), amount.to_decimal())
}

fn format_columns(columns: &[i128; 4]) -> String {
    format!(
        "debits pending {}, debits posted {}, credits pending {}, credits posted {}",
        columns[0], columns[1], columns[2], columns[3]
    )
}

impl Discrepancy {
    /// The stable code of this kind of discrepancy.
    pub fn code(&self) -> &'static str {
        match self {
            Discrepancy::TrialBalance { .. } => "TRIAL_BALANCE",
            Discrepancy::BalanceMismatch { .. } => "BALANCE_MISMATCH",
            Discrepancy::RunningBalanceMismatch { .. } => "RUNNING_BALANCE_MISMATCH",
            Discrepancy::TransfersDoNotMatchState { .. } => "TRANSFERS_DO_NOT_MATCH_STATE",
            Discrepancy::ReturnMismatch { .. } => "RETURN_MISMATCH",
            Discrepancy::OutboxMismatch { .. } => "OUTBOX_MISMATCH",
            Discrepancy::BusinessKeyAppliedTwice { .. } => "BUSINESS_KEY_APPLIED_TWICE",
            Discrepancy::StatementAccountUnknown { .. } => "STATEMENT_ACCOUNT_UNKNOWN",
            Discrepancy::StatementEntryMissingInLedger { .. } => {
                "STATEMENT_ENTRY_MISSING_IN_LEDGER"
            }
            Discrepancy::LedgerEntryMissingInStatement { .. } => {
                "LEDGER_ENTRY_MISSING_IN_STATEMENT"
            }
            Discrepancy::StatementAmountMismatch { .. } => "STATEMENT_AMOUNT_MISMATCH",
            Discrepancy::StatementDirectionMismatch { .. } => "STATEMENT_DIRECTION_MISMATCH",
            Discrepancy::StatementValueDateMismatch { .. } => "STATEMENT_VALUE_DATE_MISMATCH",
            Discrepancy::OpeningBalanceMismatch { .. } => "OPENING_BALANCE_MISMATCH",
            Discrepancy::ClosingBalanceMismatch { .. } => "CLOSING_BALANCE_MISMATCH",
        }
    }

    /// What it is about: `currency EUR`, `account DE89…`, `payment 12`,
    /// `statement S1 account DE89… entry 3`.
    pub fn subject(&self) -> String {
        match self {
            Discrepancy::TrialBalance { currency, .. } => format!("currency {currency}"),
            Discrepancy::BalanceMismatch {
                account_id,
                account,
                ..
            } => format!("account {account} (id {account_id})"),
            Discrepancy::RunningBalanceMismatch {
                account_id,
                transfer_id,
                ..
            } => format!("account id {account_id} transfer {transfer_id}"),
            Discrepancy::TransfersDoNotMatchState {
                payment_id,
                business_key,
                ..
            }
            | Discrepancy::ReturnMismatch {
                payment_id,
                business_key,
                ..
            }
            | Discrepancy::OutboxMismatch {
                payment_id,
                business_key,
                ..
            } => format!("payment {payment_id} ({business_key})"),
            Discrepancy::BusinessKeyAppliedTwice { business_key, .. } => {
                format!("business key {business_key}")
            }
            Discrepancy::StatementAccountUnknown {
                statement_id,
                account,
            }
            | Discrepancy::OpeningBalanceMismatch {
                statement_id,
                account,
                ..
            }
            | Discrepancy::ClosingBalanceMismatch {
                statement_id,
                account,
                ..
            } => format!("statement {statement_id} account {account}"),
            Discrepancy::StatementEntryMissingInLedger {
                statement_id,
                account,
                position,
                ..
            }
            | Discrepancy::StatementAmountMismatch {
                statement_id,
                account,
                position,
                ..
            }
            | Discrepancy::StatementDirectionMismatch {
                statement_id,
                account,
                position,
                ..
            }
            | Discrepancy::StatementValueDateMismatch {
                statement_id,
                account,
                position,
                ..
            } => format!("statement {statement_id} account {account} entry {position}"),
            Discrepancy::LedgerEntryMissingInStatement {
                statement_id,
                account,
                transfer_id,
                ..
            } => format!("statement {statement_id} account {account} transfer {transfer_id}"),
        }
    }

    /// What is wrong, in words, with the numbers.
    pub fn detail(&self) -> String {
        match self {
            Discrepancy::TrialBalance {
                debits_pending,
                credits_pending,
                debits_posted,
                credits_posted,
                ..
            } => format!(
                "debits posted {debits_posted} <> credits posted {credits_posted}, or debits \
                 pending {debits_pending} <> credits pending {credits_pending} (minor units)"
            ),
            Discrepancy::BalanceMismatch {
                currency,
                stored,
                from_transfers,
                ..
            } => format!(
                "stored balances ({}) differ from the sums of its transfers ({}), minor units of {currency}",
                format_columns(stored),
                format_columns(from_transfers)
            ),
            Discrepancy::RunningBalanceMismatch {
                recorded,
                from_transfers,
                out_of_order,
                ..
            } => {
                if *out_of_order {
                    "stamped earlier than the account's transfer before it: balances as of a \
                     time would not be a prefix of its history"
                        .to_owned()
                } else {
                    format!(
                        "recorded running balances ({}) differ from the sums of the account's \
                         transfers up to it ({}), minor units",
                        format_columns(recorded),
                        format_columns(from_transfers)
                    )
                }
            }
            Discrepancy::TransfersDoNotMatchState {
                state,
                kinds,
                legs_match,
                ..
            } => {
                let kinds = if kinds.is_empty() { "none" } else { kinds };
                if *legs_match {
                    format!("state {state} does not allow the transfers posted: {kinds}")
                } else {
                    format!(
                        "state {state}, transfers {kinds}: a transfer's amount, currency or \
                         accounts differ from the payment's"
                    )
                }
            }
            Discrepancy::ReturnMismatch {
                state,
                amount_minor,
                amount_returned_minor,
                returns_minor,
                returns,
                problem,
                ..
            } => {
                let returns = if returns.is_empty() { "none" } else { returns };
                format!(
                    "{problem} (state {state}, amount {amount_minor}, recorded as returned \
                     {amount_returned_minor}, returns {returns_minor}: {returns}; minor units, \
                     recorded/reversed)"
                )
            }
            Discrepancy::OutboxMismatch {
                state,
                moves,
                problem,
                ..
            } => {
                let moves = if moves.is_empty() { "none" } else { moves };
                format!("{problem} (state {state}, outbox rows: {moves})")
            }
            Discrepancy::BusinessKeyAppliedTwice { payment_ids, .. } => {
                let ids: Vec<String> = payment_ids.iter().map(i64::to_string).collect();
                format!(
                    "applied as {} payments: {}",
                    payment_ids.len(),
                    ids.join(", ")
                )
            }
            Discrepancy::StatementAccountUnknown { .. } => {
                "the ledger holds no account with this reference".to_owned()
            }
            Discrepancy::StatementEntryMissingInLedger {
                amount,
                direction,
                value_date,
                references,
                ..
            } => format!(
                "{} {} value date {} ({references}) has no booked transfer in the ledger",
                direction.code(),
                format_amount(amount),
                value_date.map_or_else(|| "none".to_owned(), |date| date.to_string()),
            ),
            Discrepancy::LedgerEntryMissingInStatement {
                payment_id,
                business_key,
                kind,
                amount,
                direction,
                booking_date,
                ..
            } => format!(
                "{kind} transfer {} {} on {booking_date} of payment {payment_id} ({business_key}) \
                 is not in the statement",
                direction.code(),
                format_amount(amount),
            ),
            Discrepancy::StatementAmountMismatch {
                transfer_id,
                statement_amount,
                ledger_amount,
                ..
            } => format!(
                "statement {} <> ledger {} (transfer {transfer_id})",
                format_amount(statement_amount),
                format_amount(ledger_amount)
            ),
            Discrepancy::StatementDirectionMismatch {
                transfer_id,
                statement_direction,
                ledger_direction,
                ..
            } => format!(
                "statement {} <> ledger {} (transfer {transfer_id})",
                statement_direction.code(),
                ledger_direction.code()
            ),
            Discrepancy::StatementValueDateMismatch {
                transfer_id,
                statement_date,
                ledger_date,
                ..
            } => format!(
                "statement value date {statement_date} <> ledger {ledger_date} (transfer {transfer_id})"
            ),
            Discrepancy::OpeningBalanceMismatch {
                date,
                currency,
                statement_minor_units,
                ledger_minor_units,
                ..
            } => format!(
                "opening booked balance on {date}: statement {currency} {} <> ledger {}",
                format_minor_units(*statement_minor_units, currency.minor_units()),
                format_minor_units(*ledger_minor_units, currency.minor_units())
            ),
            Discrepancy::ClosingBalanceMismatch {
                date,
                currency,
                statement_minor_units,
                ledger_minor_units,
                ..
            } => format!(
                "closing booked balance on {date}: statement {currency} {} <> ledger {}",
                format_minor_units(*statement_minor_units, currency.minor_units()),
                format_minor_units(*ledger_minor_units, currency.minor_units())
            ),
        }
    }
}

/// How much the audit looked at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditCounts {
    pub accounts: i64,
    pub payments: i64,
    pub transfers: i64,
    pub outbox_rows: i64,
    /// Refusals recorded for the audit (`BUSINESS_KEY_CONFLICT`,
    /// `STATE_CONFLICT`): reported, not discrepancies (the ledger refused them).
    pub conflicts_recorded: i64,
    /// Administrative changes recorded (accounts opened, mappings set).
    pub admin_changes_recorded: i64,
    pub statements: usize,
    pub statement_entries: usize,
}

/// What the audit found, read from one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditReport {
    /// The snapshot's time, UTC, RFC 3339.
    pub as_of: String,
    pub counts: AuditCounts,
    /// Context, not findings: the latest administrative changes (who
    /// opened accounts and re-pointed settlement and clearing accounts),
    /// at most [`ADMIN_CHANGES_REPORTED_MAX`], oldest first.
    pub latest_admin_changes: Vec<AdminChange>,
    pub discrepancies: Vec<Discrepancy>,
    /// Codes of the checks that found more than
    /// [`DISCREPANCIES_PER_CHECK_MAX`] problems (only that many are listed).
    pub truncated: Vec<&'static str>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.discrepancies.is_empty()
    }

    /// Whether any discrepancy has this code.
    pub fn has(&self, code: &str) -> bool {
        self.discrepancies
            .iter()
            .any(|discrepancy| discrepancy.code() == code)
    }
}

// ------------------------------------------------------------------ running

impl crate::Ledger {
    /// Audits the ledger (semantics §6), and compares it with `statement`
    /// when given, in one SERIALIZABLE READ ONLY DEFERRABLE snapshot.
    pub async fn audit(
        &self,
        statement: Option<&StatementInput>,
    ) -> Result<AuditReport, LedgerError> {
        self.audit_statements(statement.map_or(&[][..], std::slice::from_ref))
            .await
    }

    /// [`crate::Ledger::audit`] with any number of statements (a camt.053
    /// file may hold several), all compared in the same snapshot.
    pub async fn audit_statements(
        &self,
        statements: &[StatementInput],
    ) -> Result<AuditReport, LedgerError> {
        self.audit_in_snapshot(statements).await
    }
}

/// Runs every check in the open (snapshot) transaction.
pub(crate) async fn collect(
    tx: &Transaction<'_>,
    statements: &[StatementInput],
) -> Result<AuditReport, StoreError> {
    let limit = DISCREPANCIES_PER_CHECK_MAX as i64 + 1;
    let counts = sql::select_table_counts(tx).await?;
    let mut report = AuditReport {
        as_of: counts.as_of.clone(),
        counts: AuditCounts {
            accounts: counts.accounts,
            payments: counts.payments,
            transfers: counts.transfers,
            outbox_rows: counts.outbox_rows,
            conflicts_recorded: counts.conflicts,
            admin_changes_recorded: counts.admin_changes,
            statements: statements.len(),
            statement_entries: statements
                .iter()
                .map(|statement| statement.entries.len())
                .sum(),
        },
        latest_admin_changes: crate::store::admin_changes::select_latest_admin_changes(
            tx,
            ADMIN_CHANGES_REPORTED_MAX,
        )
        .await?,
        ..AuditReport::default()
    };
    let mut add = |code: &'static str, found: Vec<Discrepancy>| {
        if found.len() > DISCREPANCIES_PER_CHECK_MAX {
            report.truncated.push(code);
        }
        report
            .discrepancies
            .extend(found.into_iter().take(DISCREPANCIES_PER_CHECK_MAX));
    };

    let rows = sql::select_trial_balance_differences(tx, limit).await?;
    add(
        "TRIAL_BALANCE",
        rows.into_iter()
            .map(|row| Discrepancy::TrialBalance {
                currency: row.currency,
                debits_pending: row.debits_pending,
                credits_pending: row.credits_pending,
                debits_posted: row.debits_posted,
                credits_posted: row.credits_posted,
            })
            .collect(),
    );
    let rows = sql::select_balance_mismatches(tx, limit).await?;
    add(
        "BALANCE_MISMATCH",
        rows.into_iter()
            .map(|row| Discrepancy::BalanceMismatch {
                account_id: row.account_id.0,
                account: row.external_reference,
                currency: row.currency,
                stored: row.stored,
                from_transfers: row.from_transfers,
            })
            .collect(),
    );
    let rows = sql::select_running_balance_mismatches(tx, limit).await?;
    add(
        "RUNNING_BALANCE_MISMATCH",
        rows.into_iter()
            .map(|row| Discrepancy::RunningBalanceMismatch {
                account_id: row.account_id,
                transfer_id: row.transfer_id,
                recorded: row.recorded,
                from_transfers: row.from_transfers,
                out_of_order: row.out_of_order,
            })
            .collect(),
    );
    let rows = sql::select_transfers_not_matching_state(tx, limit).await?;
    add(
        "TRANSFERS_DO_NOT_MATCH_STATE",
        rows.into_iter()
            .map(|row| Discrepancy::TransfersDoNotMatchState {
                payment_id: row.payment_id,
                business_key: row.business_key,
                state: row.state,
                kinds: row.kinds,
                legs_match: row.legs_match,
            })
            .collect(),
    );
    let rows = sql::select_return_mismatches(tx, limit).await?;
    add(
        "RETURN_MISMATCH",
        rows.into_iter()
            .map(|row| Discrepancy::ReturnMismatch {
                payment_id: row.payment_id,
                business_key: row.business_key,
                state: row.state,
                amount_minor: row.amount_minor,
                amount_returned_minor: row.amount_returned_minor,
                returns_minor: row.returns_minor,
                returns: row.returns,
                problem: row.problem,
            })
            .collect(),
    );
    let rows = sql::select_outbox_mismatches(tx, limit).await?;
    add(
        "OUTBOX_MISMATCH",
        rows.into_iter()
            .map(|row| Discrepancy::OutboxMismatch {
                payment_id: row.payment_id,
                business_key: row.business_key,
                state: row.state,
                moves: row.moves,
                problem: row.problem,
            })
            .collect(),
    );
    let rows = sql::select_business_keys_applied_twice(tx, limit).await?;
    add(
        "BUSINESS_KEY_APPLIED_TWICE",
        rows.into_iter()
            .map(|row| Discrepancy::BusinessKeyAppliedTwice {
                business_key: row.business_key,
                payment_ids: row.payment_ids,
            })
            .collect(),
    );
    for statement in statements {
        let found = compare_statement(tx, statement).await?;
        add("STATEMENT", found);
    }
    Ok(report)
}

/// Semantics §6.6 for one statement.
async fn compare_statement(
    tx: &Transaction<'_>,
    statement: &StatementInput,
) -> Result<Vec<Discrepancy>, StoreError> {
    let Some(account) = store::select_account_by_reference(tx, &statement.account).await? else {
        return Ok(vec![Discrepancy::StatementAccountUnknown {
            statement_id: statement.statement_id.clone(),
            account: statement.account.as_str().to_owned(),
        }]);
    };
    let from = statement.from.to_string();
    let to = statement.to.to_string();
    let rows = sql::select_booked_transfers_of_account(
        tx,
        account.account_id,
        &from,
        &to,
        STATEMENT_PERIOD_MARGIN_DAYS,
    )
    .await?;
    let ledger_entries = rows
        .into_iter()
        .map(LedgerEntry::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let mut found = match_entries(statement, &ledger_entries);
    let balances = sql::select_booked_balances(tx, account.account_id, &from, &to).await?;
    let mut compare_balance = |given: &Option<StatementBalance>, ledger: i128, opening: bool| {
        let Some(given) = given else { return };
        let statement_minor_units = given.signed_minor_units();
        if given.amount.currency() == account.currency && statement_minor_units == ledger {
            return;
        }
        let statement_id = statement.statement_id.clone();
        let account_text = statement.account.as_str().to_owned();
        found.push(if opening {
            Discrepancy::OpeningBalanceMismatch {
                statement_id,
                account: account_text,
                date: statement.from,
                currency: account.currency,
                statement_minor_units,
                ledger_minor_units: ledger,
            }
        } else {
            Discrepancy::ClosingBalanceMismatch {
                statement_id,
                account: account_text,
                date: statement.to,
                currency: account.currency,
                statement_minor_units,
                ledger_minor_units: ledger,
            }
        });
    };
    compare_balance(&statement.opening_booked, balances.opening, true);
    compare_balance(&statement.closing_booked, balances.closing, false);
    Ok(found)
}

/// A booked transfer of the statement's account, as a statement entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub transfer_id: i64,
    pub payment_id: i64,
    pub business_key: String,
    pub kind: String,
    pub amount: Amount,
    pub direction: Direction,
    pub booking_date: CalendarDate,
    pub in_period: bool,
}

impl LedgerEntry {
    fn from_row(row: sql::BookedTransferRow) -> Result<LedgerEntry, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "transfers",
            detail,
        };
        let currency =
            Currency::parse(&row.currency).map_err(|error| corrupt(error.to_string()))?;
        Ok(LedgerEntry {
            amount: Amount::from_minor_units(currency, row.amount_minor)
                .map_err(|error| corrupt(error.to_string()))?,
            booking_date: CalendarDate::parse(&row.booking_date)
                .ok_or_else(|| corrupt(format!("date {:?}", row.booking_date)))?,
            direction: if row.is_debit {
                Direction::Debit
            } else {
                Direction::Credit
            },
            transfer_id: row.transfer_id,
            payment_id: row.payment_id,
            business_key: row.business_key,
            kind: row.kind,
            in_period: row.in_period,
        })
    }
}

/// The keys a statement entry can be matched by, strongest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum MatchKey {
    LedgerReference(String),
    Uetr(String),
    EndToEndAndInstruction(String, String),
    EndToEnd(String),
}

const END_TO_END_NOT_PROVIDED: &str = crate::model::ID_NOT_PROVIDED;

fn ledger_keys(entry: &LedgerEntry) -> Vec<MatchKey> {
    let mut keys = vec![MatchKey::LedgerReference(ledger_transfer_reference(
        entry.transfer_id,
    ))];
    match BusinessKey::from_canonical(&entry.business_key) {
        Ok(BusinessKey::Uetr(uuid)) => keys.push(MatchKey::Uetr(uuid.hyphenated().to_string())),
        Ok(BusinessKey::Reference {
            instruction_id,
            end_to_end_id: Some(end_to_end_id),
            ..
        }) => {
            if let Some(instruction_id) = instruction_id {
                keys.push(MatchKey::EndToEndAndInstruction(
                    end_to_end_id.clone(),
                    instruction_id,
                ));
            }
            if end_to_end_id != END_TO_END_NOT_PROVIDED {
                keys.push(MatchKey::EndToEnd(end_to_end_id));
            }
        }
        // Keyed without an end-to-end id (or by its message): by ledger
        // reference only.
        Ok(_) => {}
        // A hand-edited key matches by ledger reference only.
        Err(_) => {}
    }
    keys
}

fn statement_keys(references: &EntryReferences) -> Vec<MatchKey> {
    let mut keys = Vec::new();
    if let Some(reference) = &references.account_servicer_reference {
        keys.push(MatchKey::LedgerReference(reference.clone()));
    }
    if let Some(uetr) = &references.uetr {
        keys.push(MatchKey::Uetr(uetr.to_ascii_lowercase()));
    }
    if let Some(end_to_end_id) = &references.end_to_end_id {
        for instruction in [&references.transaction_id, &references.instruction_id]
            .into_iter()
            .flatten()
        {
            keys.push(MatchKey::EndToEndAndInstruction(
                end_to_end_id.clone(),
                instruction.clone(),
            ));
        }
        if end_to_end_id != END_TO_END_NOT_PROVIDED {
            keys.push(MatchKey::EndToEnd(end_to_end_id.clone()));
        }
    }
    keys
}

/// Matches a statement's entries with the ledger's booked transfers of its
/// account (pure): one pass over each side, by hashed reference.
pub fn match_entries(statement: &StatementInput, ledger: &[LedgerEntry]) -> Vec<Discrepancy> {
    let mut index: HashMap<MatchKey, Vec<usize>> = HashMap::new();
    for (position, entry) in ledger.iter().enumerate() {
        for key in ledger_keys(entry) {
            index.entry(key).or_default().push(position);
        }
    }
    let statement_id = || statement.statement_id.clone();
    let account = || statement.account.as_str().to_owned();
    let mut matched = vec![false; ledger.len()];
    let mut found = Vec::new();
    for entry in &statement.entries {
        let rank = |&position: &usize| {
            let ledger_entry = &ledger[position];
            match (
                ledger_entry.direction == entry.direction,
                ledger_entry.amount == entry.amount,
            ) {
                (true, true) => 0,
                (true, false) => 1,
                _ => 2,
            }
        };
        let mut candidate = None;
        for key in statement_keys(&entry.references) {
            let Some(positions) = index.get(&key) else {
                continue;
            };
            candidate = positions
                .iter()
                .copied()
                .filter(|&position| !matched[position])
                .min_by_key(rank);
            // A ledger reference names one transfer: an entry naming one
            // already matched is a duplicate, never another transfer of
            // the same payment (its return, say).
            if candidate.is_some() || matches!(key, MatchKey::LedgerReference(_)) {
                break;
            }
        }
        let Some(position) = candidate else {
            found.push(Discrepancy::StatementEntryMissingInLedger {
                statement_id: statement_id(),
                account: account(),
                position: entry.position.clone(),
                amount: entry.amount,
                direction: entry.direction,
                value_date: entry.value_date.or(entry.booking_date),
                references: entry.references.to_string(),
            });
            continue;
        };
        matched[position] = true;
        let ledger_entry = &ledger[position];
        if ledger_entry.amount != entry.amount {
            found.push(Discrepancy::StatementAmountMismatch {
                statement_id: statement_id(),
                account: account(),
                position: entry.position.clone(),
                transfer_id: ledger_entry.transfer_id,
                statement_amount: entry.amount,
                ledger_amount: ledger_entry.amount,
            });
        }
        if ledger_entry.direction != entry.direction {
            found.push(Discrepancy::StatementDirectionMismatch {
                statement_id: statement_id(),
                account: account(),
                position: entry.position.clone(),
                transfer_id: ledger_entry.transfer_id,
                statement_direction: entry.direction,
                ledger_direction: ledger_entry.direction,
            });
        }
        if let Some(date) = entry.value_date.or(entry.booking_date) {
            if date != ledger_entry.booking_date {
                found.push(Discrepancy::StatementValueDateMismatch {
                    statement_id: statement_id(),
                    account: account(),
                    position: entry.position.clone(),
                    transfer_id: ledger_entry.transfer_id,
                    statement_date: date,
                    ledger_date: ledger_entry.booking_date,
                });
            }
        }
    }
    for (ledger_entry, matched) in ledger.iter().zip(matched) {
        if !matched && ledger_entry.in_period {
            found.push(Discrepancy::LedgerEntryMissingInStatement {
                statement_id: statement_id(),
                account: account(),
                transfer_id: ledger_entry.transfer_id,
                payment_id: ledger_entry.payment_id,
                business_key: ledger_entry.business_key.clone(),
                kind: ledger_entry.kind.clone(),
                amount: ledger_entry.amount,
                direction: ledger_entry.direction,
                booking_date: ledger_entry.booking_date,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor_units: i64) -> Amount {
        Amount::from_minor_units(Currency::parse("EUR").unwrap(), minor_units).unwrap()
    }

    fn date(text: &str) -> CalendarDate {
        CalendarDate::parse(text).unwrap()
    }

    fn ledger_entry(transfer_id: i64, end_to_end_id: &str, minor_units: i64) -> LedgerEntry {
        LedgerEntry {
            transfer_id,
            payment_id: transfer_id,
            business_key: BusinessKey::reference(
                crate::model::Originator::bic(crate::model::Bic::parse("BANKDEFFXXX").unwrap()),
                Some(end_to_end_id),
                Some(end_to_end_id),
            )
            .unwrap()
            .canonical(),
            kind: "POSTED".to_owned(),
            amount: eur(minor_units),
            direction: Direction::Debit,
            booking_date: date("2025-03-01"),
            in_period: true,
        }
    }

    fn statement_entry(position: &str, end_to_end_id: &str, minor_units: i64) -> StatementEntry {
        StatementEntry {
            position: position.to_owned(),
            amount: eur(minor_units),
            direction: Direction::Debit,
            value_date: Some(date("2025-03-01")),
            booking_date: None,
            references: EntryReferences {
                end_to_end_id: Some(end_to_end_id.to_owned()),
                ..EntryReferences::default()
            },
        }
    }

    fn statement(entries: Vec<StatementEntry>) -> StatementInput {
        StatementInput {
            statement_id: "S1".to_owned(),
            account: AccountReference::parse("DE89370400440532013000").unwrap(),
            from: date("2025-03-01"),
            to: date("2025-03-01"),
            opening_booked: None,
            closing_booked: None,
            entries,
        }
    }

    fn codes(found: &[Discrepancy]) -> Vec<&'static str> {
        found.iter().map(Discrepancy::code).collect()
    }

    #[test]
    fn matching_entries_report_nothing() {
        let found = match_entries(
            &statement(vec![statement_entry("1", "E2E-1", 100)]),
            &[ledger_entry(1, "E2E-1", 100)],
        );
        assert_eq!(found, vec![]);
    }

    #[test]
    fn an_entry_on_either_side_alone_is_named() {
        let found = match_entries(
            &statement(vec![statement_entry("1", "E2E-ONLY-IN-STATEMENT", 100)]),
            &[ledger_entry(7, "E2E-ONLY-IN-LEDGER", 100)],
        );
        assert_eq!(
            codes(&found),
            [
                "STATEMENT_ENTRY_MISSING_IN_LEDGER",
                "LEDGER_ENTRY_MISSING_IN_STATEMENT"
            ]
        );
        assert!(found[0].detail().contains("E2E-ONLY-IN-STATEMENT"));
        assert!(found[1].subject().contains("transfer 7"));
    }

    #[test]
    fn amount_direction_and_date_differences_are_named() {
        let mut entry = statement_entry("1", "E2E-1", 101);
        entry.direction = Direction::Credit;
        entry.value_date = Some(date("2025-03-02"));
        let found = match_entries(&statement(vec![entry]), &[ledger_entry(1, "E2E-1", 100)]);
        assert_eq!(
            codes(&found),
            [
                "STATEMENT_AMOUNT_MISMATCH",
                "STATEMENT_DIRECTION_MISMATCH",
                "STATEMENT_VALUE_DATE_MISMATCH"
            ]
        );
    }

    #[test]
    fn a_transfer_outside_the_period_is_a_candidate_but_never_missing() {
        let mut outside = ledger_entry(1, "E2E-1", 100);
        outside.in_period = false;
        assert_eq!(match_entries(&statement(vec![]), &[outside]), vec![]);
    }

    #[test]
    fn the_ledger_reference_matches_by_account_servicer_reference() {
        let mut entry = statement_entry("1", "NOTPROVIDED", 100);
        entry.references.account_servicer_reference = Some(ledger_transfer_reference(42));
        let found = match_entries(&statement(vec![entry]), &[ledger_entry(42, "OTHER", 100)]);
        assert_eq!(found, vec![]);
    }

    #[test]
    fn a_second_entry_naming_a_matched_ledger_reference_is_missing_in_the_ledger() {
        // Transfers 1 and 2 are one payment's (same end-to-end id): the
        // copy of transfer 1's entry is not taken for transfer 2.
        let named = |position: &str, transfer_id: i64| {
            let mut entry = statement_entry(position, "E2E-1", 100);
            entry.references.account_servicer_reference =
                Some(ledger_transfer_reference(transfer_id));
            entry
        };
        let mut returned = ledger_entry(2, "E2E-1", 100);
        returned.direction = Direction::Credit;
        let mut second = named("3", 2);
        second.direction = Direction::Credit;
        let found = match_entries(
            &statement(vec![named("1", 1), named("2", 1), second]),
            &[ledger_entry(1, "E2E-1", 100), returned],
        );
        assert_eq!(codes(&found), ["STATEMENT_ENTRY_MISSING_IN_LEDGER"]);
        assert!(found[0].subject().ends_with("entry 2"), "{found:?}");
    }

    #[test]
    fn minor_units_format_with_the_currency_decimals() {
        assert_eq!(format_minor_units(-1250, 2), "-12.50");
        assert_eq!(format_minor_units(5, 3), "0.005");
        assert_eq!(format_minor_units(700, 0), "700");
    }

    #[test]
    fn dates_parse_only_when_real() {
        assert_eq!(date("2024-02-29").to_string(), "2024-02-29");
        assert_eq!(CalendarDate::parse("2025-02-29"), None);
        assert_eq!(CalendarDate::parse("2025-13-01"), None);
    }
}
