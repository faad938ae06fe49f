//! The bank statement the audit compares the ledger with, as the audit
//! sees it once converted from camt.053 at the edge: [`StatementInput`] with
//! its booked [`StatementEntry`]s (amount, [`Direction`], dates and
//! [`EntryReferences`]) and its opening and closing [`StatementBalance`]s,
//! and the [`CalendarDate`] that dates them.

use std::fmt;

use crate::model::{AccountReference, Amount};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_only_when_real() {
        assert_eq!(
            CalendarDate::parse("2024-02-29").unwrap().to_string(),
            "2024-02-29"
        );
        assert_eq!(CalendarDate::parse("2025-02-29"), None);
        assert_eq!(CalendarDate::parse("2025-13-01"), None);
    }
}
