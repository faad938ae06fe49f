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
pub mod audit;
mod error;
pub mod group_commit;
mod migrations;
pub mod model;
mod service;
pub mod store;

pub use error::LedgerError;
pub use group_commit::{GroupCommit, GroupCommitOptions, PendingAnswer};
pub use service::{
    ApplyCommand, ApplyResponse, FaultInjection, Ledger, LedgerOptions, OpenAccount, Receipt,
};
pub use store::{AccountMapping, FeedPosition, OutboxRow, StoreError, TimeRange, Transfer};
