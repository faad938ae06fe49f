//! The double-entry payments ledger: exactly-once application of final-state
//! payment messages on PostgreSQL.
//!
//! - [`model`]: the pure domain (money, ids, states, the decision of what a
//!   message posts). No IO.
//! - [`store`]: every SQL statement, one function each, the open transaction
//!   passed in.
//! - [`Ledger`]: the Rust API the gRPC server and the file ingest call; runs
//!   each application (or batch) in one SERIALIZABLE transaction with retries.

mod apply;
mod as_of;
pub mod audit;
mod error;
pub mod group_commit;
mod holds;
pub mod metrics;
mod migrations;
pub mod model;
mod relay;
mod service;
mod statement;
pub mod store;

pub use error::LedgerError;
pub use group_commit::{GroupCommit, GroupCommitOptions, PendingAnswer};
pub use holds::{ExpiredHolds, HOLDS_PER_ROUND_MAX, HOLD_EXPIRY_CLIENT_ID, HOLD_EXPIRY_REASON};
pub use relay::{OutboxDelivery, OUTBOX_CLAIM_ROWS_MAX, OUTBOX_RETENTION_MIN};
pub use service::{
    ApplyCommand, ApplyResponse, FaultInjection, Ledger, LedgerOptions, OpenAccount, Receipt,
};
pub use statement::{AccountStatement, StatementLine, StatementPeriod, STATEMENT_ENTRIES_MAX};
pub use store::outbox_delivery::OutboxLag;
pub use store::{AccountMapping, FeedPosition, OutboxRow, StoreError, TimeRange, Transfer};
