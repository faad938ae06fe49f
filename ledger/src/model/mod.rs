//! The ledger's domain model. Pure: no IO, no SQL, no wire types.
//!
//! Architecture invariant: nothing in this module knows about PostgreSQL,
//! tonic, XML or serde. The store and the API convert to and from these types.

pub mod account;
pub mod admin_change;
pub mod business_key;
pub mod ids;
pub mod money;
pub mod payment;
pub mod payment_filter;
pub mod scope;

pub use account::{Account, AccountSnapshot, BalanceDelta, Balances, OverdraftRule};
pub use admin_change::{AdminAction, AdminChange};
pub use business_key::{BusinessKey, InstructionReference, Originator, ID_NOT_PROVIDED};
pub use ids::{
    AccountId, AccountReference, Bic, ClientId, IdError, IdempotencyKey, PaymentId, ReasonCode,
    RequestFingerprint, TransferId,
};
pub use money::{Amount, Currency, MoneyError};
pub use payment::{
    decide, ConfirmationStatus, Decision, DecisionInput, DocumentOrigin, Outcome, PartySide,
    Payment, PaymentInstruction, PaymentMessage, PaymentState, PlannedTransfer, RejectionReason,
    ResolvedSides, StateChange, TransferKind,
};
pub use payment::{RecordedReturn, ReturnId};
pub use payment_filter::{KeyId, KeyIdError, PageTokenError, PaymentFilter, PaymentFilterField};
pub use scope::{AccountPattern, AccountScope, PaymentVisibility, ScopeError};
