//! What the audit reports: each [`Discrepancy`] it finds, with its stable
//! code, its subject and its detail in words (amounts formatted in the
//! currency's decimals by [`format_minor_units`]), and the [`AuditReport`]
//! that gathers them with the [`AuditCounts`] of what was looked at.

use crate::model::{AdminChange, Amount, Currency};

use super::statement::{CalendarDate, Direction};

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
            }
            | Discrepancy::ClosingBalanceMismatch {
                date,
                currency,
                statement_minor_units,
                ledger_minor_units,
                ..
            } => {
                let which = if matches!(self, Discrepancy::OpeningBalanceMismatch { .. }) {
                    "opening"
                } else {
                    "closing"
                };
                format!(
                    "{which} booked balance on {date}: statement {currency} {} <> ledger {}",
                    format_minor_units(*statement_minor_units, currency.minor_units()),
                    format_minor_units(*ledger_minor_units, currency.minor_units())
                )
            }
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
    /// opened accounts and re-pointed settlement and clearing accounts), at
    /// most [`ADMIN_CHANGES_REPORTED_MAX`](super::ADMIN_CHANGES_REPORTED_MAX),
    /// oldest first.
    pub latest_admin_changes: Vec<AdminChange>,
    pub discrepancies: Vec<Discrepancy>,
    /// Codes of the checks that found more than
    /// [`DISCREPANCIES_PER_CHECK_MAX`](super::DISCREPANCIES_PER_CHECK_MAX)
    /// problems (only that many are listed).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_format_with_the_currency_decimals() {
        assert_eq!(format_minor_units(-1250, 2), "-12.50");
        assert_eq!(format_minor_units(5, 3), "0.005");
        assert_eq!(format_minor_units(700, 0), "700");
    }
}
