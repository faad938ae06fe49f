//! The one table that maps the API's errors to gRPC status codes, with
//! `google.rpc` details. Documented in docs/api.md; change both together.

use std::time::Duration;

use ledger::LedgerError;

use super::auth::Role;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// The `ErrorInfo.domain` of every error this service reports.
pub const ERROR_DOMAIN: &str = "ledger.v1";

/// Problems of a whole request (a refused transaction is an outcome, not an error).
#[derive(Debug)]
pub enum ApiError {
    /// No, or an unknown, bearer token.
    Unauthenticated,
    /// Invalid input: every bad field, by path.
    InvalidArgument {
        message: String,
        violations: Vec<(String, String)>,
    },
    /// The idempotency key was used for a different request (semantics §1).
    IdempotencyKeyReused {
        key: String,
    },
    /// Retries of conflicting transactions ran out: retry with the same key.
    Contention,
    NotFound(String),
    AlreadyExists(String),
    /// The database is unreachable or timed out: retry with the same key.
    Unavailable,
    /// A request message longer than the server's limit, refused before it
    /// is read (`request_size::RequestSizeLimitLayer`).
    RequestTooLarge {
        size_bytes: usize,
        limit_bytes: usize,
    },
    /// The queue in front of the ledger is full: refused at once, nothing
    /// applied; retry with the same key after the delay.
    Overloaded {
        queue_capacity_max: usize,
    },
    /// The deadline passed while the request waited: not applied.
    DeadlineExpired,
    /// The client lacks the role the call needs (one of `roles`).
    RoleRequired {
        client_id: String,
        roles: Vec<Role>,
    },
    /// What the call names lies outside the client's account scope.
    OutOfScope {
        /// `ACCOUNT_OUT_OF_SCOPE` or `PAYMENT_OUT_OF_SCOPE`.
        reason: &'static str,
        what: String,
    },
    /// Our own fault: the cause is logged, never sent.
    Internal,
}

/// How long a client should wait before retrying a retryable error.
const RETRY_DELAY: Duration = Duration::from_millis(200);

impl ApiError {
    pub fn invalid(field: &str, description: impl Into<String>) -> ApiError {
        let description = description.into();
        ApiError::InvalidArgument {
            message: format!("invalid {field}: {description}"),
            violations: vec![(field.to_owned(), description)],
        }
    }

    /// The table: error -> code, message, details.
    pub fn into_status(self) -> Status {
        match self {
            ApiError::Unauthenticated => Status::unauthenticated(
                "missing or unknown bearer token (authorization: Bearer <token>)",
            ),
            ApiError::InvalidArgument {
                message,
                violations,
            } => Status::with_error_details(
                Code::InvalidArgument,
                message,
                ErrorDetails::with_bad_request(
                    violations
                        .into_iter()
                        .map(|(field, description)| FieldViolation::new(field, description))
                        .collect::<Vec<_>>(),
                ),
            ),
            ApiError::IdempotencyKeyReused { key } => Status::with_error_details(
                Code::AlreadyExists,
                format!("idempotency key {key:?} was already used for a different request"),
                ErrorDetails::with_error_info(
                    "IDEMPOTENCY_KEY_REUSED",
                    ERROR_DOMAIN,
                    [("idempotency_key".to_owned(), key)],
                ),
            ),
            ApiError::Contention => {
                let mut details = ErrorDetails::with_retry_info(Some(RETRY_DELAY));
                details.set_error_info("TRANSACTION_CONFLICT", ERROR_DOMAIN, []);
                Status::with_error_details(
                    Code::Aborted,
                    "conflicting concurrent requests; retry with the same idempotency key",
                    details,
                )
            }
            ApiError::NotFound(what) => Status::not_found(what),
            ApiError::AlreadyExists(what) => Status::already_exists(what),
            ApiError::Unavailable => Status::with_error_details(
                Code::Unavailable,
                "the ledger's database is unavailable; retry with the same idempotency key",
                ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
            ),
            ApiError::RequestTooLarge {
                size_bytes,
                limit_bytes,
            } => Status::with_error_details(
                Code::ResourceExhausted,
                format!("the request has {size_bytes} bytes, more than the limit of {limit_bytes}"),
                ErrorDetails::with_error_info(
                    "REQUEST_TOO_LARGE",
                    ERROR_DOMAIN,
                    [
                        ("size_bytes".to_owned(), size_bytes.to_string()),
                        ("limit_bytes".to_owned(), limit_bytes.to_string()),
                    ],
                ),
            ),
            ApiError::Overloaded { queue_capacity_max } => {
                let mut details = ErrorDetails::with_retry_info(Some(RETRY_DELAY));
                details.set_error_info(
                    "QUEUE_FULL",
                    ERROR_DOMAIN,
                    [(
                        "queue_capacity_max".to_owned(),
                        queue_capacity_max.to_string(),
                    )],
                );
                Status::with_error_details(
                    Code::ResourceExhausted,
                    "the ledger's queue is full; nothing was applied, retry with the same \
                     idempotency key",
                    details,
                )
            }
            ApiError::DeadlineExpired => Status::deadline_exceeded(
                "the deadline passed while the request waited; it was not applied",
            ),
            ApiError::RoleRequired { client_id, roles } => {
                let names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
                let role = names.join("|");
                Status::with_error_details(
                    Code::PermissionDenied,
                    format!("client {client_id} lacks the role this call needs: {role}"),
                    ErrorDetails::with_error_info(
                        "ROLE_REQUIRED",
                        ERROR_DOMAIN,
                        [
                            ("role".to_owned(), role),
                            ("client_id".to_owned(), client_id),
                        ],
                    ),
                )
            }
            ApiError::OutOfScope { reason, what } => Status::with_error_details(
                Code::PermissionDenied,
                format!("{what} is outside the accounts this client may use"),
                ErrorDetails::with_error_info(reason, ERROR_DOMAIN, [("subject".to_owned(), what)]),
            ),
            ApiError::Internal => Status::internal("internal error"),
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        error.into_status()
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> ApiError {
        match error {
            LedgerError::IdempotencyKeyReused { key, .. } => ApiError::IdempotencyKeyReused {
                key: key.as_str().to_owned(),
            },
            LedgerError::AccountExists { reference } => {
                ApiError::AlreadyExists(format!("an account with reference {reference} exists"))
            }
            LedgerError::AccountNotFound { reference } => {
                ApiError::NotFound(format!("no account with reference {reference}"))
            }
            LedgerError::InvalidInput { field, detail } => ApiError::invalid(field, detail),
            LedgerError::Contention { attempts } => {
                tracing::warn!(attempts, "transaction retries exhausted");
                ApiError::Contention
            }
            LedgerError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::Unavailable
            }
            LedgerError::Overloaded { queue_capacity_max } => {
                tracing::warn!(queue_capacity_max, "queue full, request refused");
                ApiError::Overloaded { queue_capacity_max }
            }
            LedgerError::DeadlineExpired => ApiError::DeadlineExpired,
            LedgerError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                ApiError::Internal
            }
        }
    }
}

/// A ledger error as the status a client receives (through the table above).
pub fn status(error: LedgerError) -> Status {
    ApiError::from(error).into_status()
}
