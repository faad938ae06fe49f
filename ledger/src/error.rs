//! The ledger layer's one error enum. The gRPC API maps each variant to a
//! status code in one table; operating errors that are the
//! service's own fault stay opaque to clients.

use crate::model::{AccountReference, ClientId, IdempotencyKey};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The idempotency key was used before by this client for another request
    /// (semantics §1). Nothing was written.
    #[error(
        "idempotency key {key:?} of client {client_id:?} was already used for a different request"
    )]
    IdempotencyKeyReused {
        client_id: ClientId,
        key: IdempotencyKey,
    },
    /// An account with this external reference exists.
    #[error("an account with reference {reference} already exists")]
    AccountExists { reference: AccountReference },
    /// The named account does not exist.
    #[error("no account with reference {reference}")]
    AccountNotFound { reference: AccountReference },
    /// Invalid input refused before any IO: a bad amount, id or key.
    #[error("invalid {field}: {detail}")]
    InvalidInput { field: &'static str, detail: String },
    /// Serialization failures or deadlocks outlasted every retry. The client
    /// retries with the same idempotency key.
    #[error("too much contention, retry later (after {attempts} attempts)")]
    Contention { attempts: u32 },
    /// The database is unreachable or timed out. Retry with the same key.
    /// Transparent: the store's error already says "database unavailable".
    #[error(transparent)]
    Unavailable(StoreError),
    /// The queue in front of the ledger is full (group commit): refused at
    /// once, nothing applied. Retry with the same key after a pause.
    #[error("the ledger is overloaded ({queue_capacity_max} requests waiting), retry later")]
    Overloaded { queue_capacity_max: usize },
    /// The caller's deadline passed while the request waited in the queue:
    /// it was not applied. Retry with the same key.
    #[error("the request's deadline passed before it was applied; it was not applied")]
    DeadlineExpired,
    /// A bug or a broken invariant: logged, never detailed to clients.
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl LedgerError {
    /// Whether retrying the same request (same idempotency key) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LedgerError::Contention { .. }
                | LedgerError::Unavailable(_)
                | LedgerError::Overloaded { .. }
                | LedgerError::DeadlineExpired
        )
    }
}

impl From<StoreError> for LedgerError {
    fn from(error: StoreError) -> LedgerError {
        match error {
            StoreError::Unavailable(_) | StoreError::Timeout | StoreError::Unreachable { .. } => {
                LedgerError::Unavailable(error)
            }
            StoreError::Conflict(_) => LedgerError::Contention { attempts: 1 },
            StoreError::Database(_) | StoreError::Corrupt { .. } => LedgerError::Internal(error),
        }
    }
}
