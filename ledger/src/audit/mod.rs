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

mod collect;
mod matching;
mod report;
mod statement;

pub(crate) use collect::collect;
pub use matching::{ledger_transfer_reference, match_entries, LedgerEntry};
pub use report::{format_minor_units, AuditCounts, AuditReport, Discrepancy};
pub use statement::{
    CalendarDate, Direction, EntryReferences, StatementBalance, StatementEntry, StatementInput,
};

/// At most this many discrepancies of one check are reported; the report
/// says which checks were cut short.
pub const DISCREPANCIES_PER_CHECK_MAX: usize = 1_000;

/// The report names at most this many of the latest administrative changes.
pub const ADMIN_CHANGES_REPORTED_MAX: usize = 20;

/// Ledger transfers this many days outside a statement's period are still
/// match candidates for its entries.
pub const STATEMENT_PERIOD_MARGIN_DAYS: i32 = 1;
