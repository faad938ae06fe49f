//! Every SQL statement of the ledger, one function each, the open transaction
//! passed in (zero-to-production's persistence shape).
//!
//! Architecture invariant: no SQL anywhere else in the workspace (tests that
//! break the database on purpose excepted). Functions here neither begin nor
//! commit transactions; [`crate::Ledger`] does, explicitly SERIALIZABLE.

pub mod admin_changes;
pub mod audit;
pub mod holds;
pub mod outbox_delivery;
pub mod payment_search;
pub mod statement;

mod accounts;
mod conflicts;
mod idempotency;
mod outbox;
mod payments;
mod returns;
mod transfers;
mod visibility;
mod writer_lock;

pub use accounts::*;
pub use conflicts::*;
pub use idempotency::*;
pub use outbox::*;
pub use payments::*;
pub use returns::*;
pub use transfers::*;
pub use writer_lock::*;

use deadpool_postgres::Transaction;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

/// Errors of the store layer: the ledger decides what is retried.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLSTATE 40001 or 40P01, or a unique violation that a concurrent
    /// transaction caused: retry the whole transaction.
    #[error("transaction conflict ({0}), retry")]
    Conflict(&'static str),
    /// The statement timeout (57014) fired.
    #[error("statement timeout")]
    Timeout,
    /// The connection or the server is gone.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] tokio_postgres::Error),
    /// The database was unavailable for a batch this request was part of
    /// (group commit); `detail` is the batch's cause.
    #[error("database unavailable: {detail}")]
    Unreachable { detail: String },
    /// Anything else: a bug or a broken invariant. Never shown to clients.
    #[error("database error: {0}")]
    Database(#[source] tokio_postgres::Error),
    /// A row holds a value the model refuses: the database was changed behind
    /// the ledger's back.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        match error.code() {
            Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE => {
                StoreError::Conflict("serialization failure")
            }
            Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED => {
                StoreError::Conflict("deadlock")
            }
            // A concurrent transaction inserted the same key first; a retry
            // sees its row and answers from it.
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
                StoreError::Conflict("unique violation")
            }
            Some(code) if *code == SqlState::QUERY_CANCELED => StoreError::Timeout,
            Some(code)
                if code.code().starts_with("08")
                    || code.code().starts_with("57P")
                    || *code == SqlState::TOO_MANY_CONNECTIONS =>
            {
                StoreError::Unavailable(error)
            }
            Some(_) => StoreError::Database(error),
            None => StoreError::Unavailable(error),
        }
    }
}

impl StoreError {
    /// 25P02: a statement sent after an earlier one of the same transaction
    /// failed. Never the cause, only its echo.
    pub(crate) fn is_in_failed_transaction(&self) -> bool {
        matches!(self, StoreError::Database(error)
            if error.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION))
    }
}

fn corrupt(table: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table,
        detail: detail.to_string(),
    }
}

async fn query_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&statement, params).await?)
}

async fn query(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query(&statement, params).await?)
}

async fn query_one(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Row, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&statement, params).await?)
}

async fn execute(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

/// A round trip to the database, for health checks.
pub async fn ping(tx: &Transaction<'_>) -> Result<(), StoreError> {
    query_one(tx, "SELECT 1", &[]).await?;
    Ok(())
}
