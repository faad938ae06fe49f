//! The gRPC service `ledger.v1.LedgerService`: tonic types stay here and are
//! converted to and from domain types by hand.

pub mod auth;
pub mod errors;
pub mod request_size;

use std::pin::Pin;
use std::time::{Duration, UNIX_EPOCH};

use iso20022::MessageReader;
use ledger::model::{
    AccountId, AccountReference, Amount, Bic, BusinessKey, Currency, DocumentOrigin,
    IdempotencyKey, Outcome, OverdraftRule, PaymentId, PaymentState, TransferId,
};
use ledger::model::{ClientId, KeyId, PageTokenError, PaymentFilter, PaymentFilterField};
use ledger::{ApplyCommand, FeedPosition, GroupCommit, Ledger, OpenAccount, OutboxRow, TimeRange};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::convert::{self, Settlement};
use auth::Role;
use errors::ApiError;

/// Generated from `proto/ledger/v1/ledger.proto`.
pub mod proto {
    #![allow(clippy::all, missing_docs, missing_debug_implementations)]
    tonic::include_proto!("ledger.v1");

    /// The encoded descriptor set, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/ledger_descriptor.bin"));
}

use proto::ledger_service_server::LedgerService;

/// Limits of the service, each with its unit.
#[derive(Debug, Clone)]
pub struct ServiceLimits {
    /// Most transactions one submitted document may carry.
    pub transactions_per_request_max: usize,
    /// Largest page of ListTransfers.
    pub page_size_max: u32,
    /// How often a confirmation stream with nothing new looks again.
    pub stream_poll_interval_ms: u64,
    /// Confirmations buffered per stream before the reader waits for the client.
    pub stream_buffer_max: usize,
}

impl Default for ServiceLimits {
    fn default() -> ServiceLimits {
        ServiceLimits {
            transactions_per_request_max: 10_000,
            page_size_max: 1_000,
            stream_poll_interval_ms: 100,
            stream_buffer_max: 256,
        }
    }
}

/// The service: a ledger, its limits, and the signal that ends open streams
/// when the server shuts down (a graceful shutdown waits for every response
/// to finish, and a confirmation stream otherwise never does).
#[derive(Debug, Clone)]
pub struct Service {
    ledger: Ledger,
    /// SubmitPayment's queue (group commit), when the server runs one.
    group_commit: Option<GroupCommit>,
    limits: ServiceLimits,
    shutting_down: tokio::sync::watch::Receiver<bool>,
}

impl Service {
    pub fn new(
        ledger: Ledger,
        limits: ServiceLimits,
        shutting_down: tokio::sync::watch::Receiver<bool>,
    ) -> Service {
        Service {
            ledger,
            group_commit: None,
            limits,
            shutting_down,
        }
    }

    /// Sends SubmitPayment through `group_commit`'s queue, when given.
    pub fn with_group_commit(mut self, group_commit: Option<GroupCommit>) -> Service {
        self.group_commit = group_commit;
        self
    }
}

fn state_to_proto(state: Option<PaymentState>) -> proto::PaymentState {
    match state {
        None => proto::PaymentState::Unspecified,
        Some(PaymentState::Pending) => proto::PaymentState::Pending,
        Some(PaymentState::Settled) => proto::PaymentState::Settled,
        Some(PaymentState::Rejected) => proto::PaymentState::Rejected,
        Some(PaymentState::Returned) => proto::PaymentState::Returned,
    }
}

fn money(amount: Amount) -> proto::Money {
    proto::Money {
        currency: amount.currency().code().to_owned(),
        units: amount.to_decimal().to_string(),
    }
}

/// A balance in units of its currency, from its integer minor units and the
/// currency's exponent: exact for every balance, however large.
fn units(currency: Currency, minor_units: i64) -> String {
    currency
        .decimal_of_minor_units(i128::from(minor_units))
        .to_string()
}

fn payment_to_proto(payment: ledger::model::Payment) -> proto::Payment {
    proto::Payment {
        payment_id: payment.payment_id.0,
        business_key: payment.business_key.canonical(),
        state: state_to_proto(Some(payment.state)) as i32,
        amount: Some(money(payment.amount)),
        debit_account_id: payment.debit_account_id.0,
        credit_account_id: payment.credit_account_id.0,
        amount_returned: Some(money(payment.amount_returned)),
    }
}

/// A time given in seconds since the Unix epoch; 0 means "no bound".
fn unix_seconds(seconds: i64) -> Result<Option<std::time::SystemTime>, ApiError> {
    match seconds {
        0 => Ok(None),
        seconds if seconds > 0 => Ok(Some(UNIX_EPOCH + Duration::from_secs(seconds as u64))),
        _ => Err(ApiError::invalid(
            "created_*_unix_seconds",
            "a time before 1970",
        )),
    }
}

/// A page token this service issued: the last row's id, in decimal.
fn parse_page_token(token: &str) -> Result<Option<i64>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    token
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(Some)
        .ok_or_else(|| ApiError::invalid("page_token", "not a page token this service issued"))
}

/// ListPayments' request field of each filter, to name in an error.
fn payment_filter_field_name(field: PaymentFilterField) -> &'static str {
    match field {
        PaymentFilterField::CreatedFrom => "created_from_unix_seconds",
        PaymentFilterField::CreatedUntil => "created_until_unix_seconds",
        PaymentFilterField::State => "state",
        PaymentFilterField::Account => "account_id",
        PaymentFilterField::Uetr => "uetr",
        PaymentFilterField::EndToEndId => "end_to_end_id",
        PaymentFilterField::InstructionId => "instruction_id",
        PaymentFilterField::CreatedBy => "created_by_client_id",
    }
}

/// A ListPaymentsRequest's filters (an unset field filters nothing), or
/// every bad value, each by its field.
fn payment_filter(
    body: &proto::ListPaymentsRequest,
    violations: &mut Vec<(String, String)>,
) -> PaymentFilter {
    let mut bad = |field: PaymentFilterField, description: String| {
        violations.push((payment_filter_field_name(field).to_owned(), description));
    };
    let mut time = |field: PaymentFilterField, seconds: i64| match seconds {
        0 => None,
        seconds if seconds > 0 => Some(UNIX_EPOCH + Duration::from_secs(seconds as u64)),
        _ => {
            bad(field, "a time before 1970; 0 for no bound".to_owned());
            None
        }
    };
    let created_from = time(
        PaymentFilterField::CreatedFrom,
        body.created_from_unix_seconds,
    );
    let created_until = time(
        PaymentFilterField::CreatedUntil,
        body.created_until_unix_seconds,
    );
    let state = match proto::PaymentState::try_from(body.state) {
        Ok(proto::PaymentState::Unspecified) => None,
        Ok(proto::PaymentState::Pending) => Some(PaymentState::Pending),
        Ok(proto::PaymentState::Settled) => Some(PaymentState::Settled),
        Ok(proto::PaymentState::Rejected) => Some(PaymentState::Rejected),
        Ok(proto::PaymentState::Returned) => Some(PaymentState::Returned),
        Err(_) => {
            bad(
                PaymentFilterField::State,
                format!("unknown payment state {}", body.state),
            );
            None
        }
    };
    let account_id = match body.account_id {
        0 => None,
        id if id > 0 => Some(AccountId(id)),
        id => {
            bad(
                PaymentFilterField::Account,
                format!("{id} is no account id; 0 for all"),
            );
            None
        }
    };
    let uetr = match body.uetr.as_str() {
        "" => None,
        text => uuid::Uuid::parse_str(text)
            .map_err(|_| bad(PaymentFilterField::Uetr, "not a UUID".to_owned()))
            .ok(),
    };
    let mut key_id = |field: PaymentFilterField, what: &'static str, text: &str| match text {
        "" => None,
        text => KeyId::parse(what, text)
            .map_err(|error| bad(field, error.to_string()))
            .ok(),
    };
    let end_to_end_id = key_id(
        PaymentFilterField::EndToEndId,
        "end-to-end id",
        &body.end_to_end_id,
    );
    let instruction_id = key_id(
        PaymentFilterField::InstructionId,
        "instruction id",
        &body.instruction_id,
    );
    let created_by = match body.created_by_client_id.as_str() {
        "" => None,
        text => ClientId::parse(text)
            .map_err(|error| bad(PaymentFilterField::CreatedBy, error.to_string()))
            .ok(),
    };
    let filter = PaymentFilter {
        created_from,
        created_until,
        state,
        account_id,
        uetr,
        end_to_end_id,
        instruction_id,
        created_by,
    };
    for (field, description) in filter.contradictions() {
        bad(field, description);
    }
    filter
}

fn account_to_proto(account: ledger::model::Account) -> proto::Account {
    let currency = account.currency;
    proto::Account {
        account_id: account.account_id.0,
        external_reference: account.external_reference.as_str().to_owned(),
        currency: currency.code().to_owned(),
        overdraft: match account.overdraft {
            OverdraftRule::DebitsMustNotExceedCredits => {
                proto::OverdraftRule::DebitsMustNotExceedCredits
            }
            OverdraftRule::Unrestricted => proto::OverdraftRule::Unrestricted,
        } as i32,
        debits_pending: units(currency, account.balances.debits_pending),
        debits_posted: units(currency, account.balances.debits_posted),
        credits_pending: units(currency, account.balances.credits_pending),
        credits_posted: units(currency, account.balances.credits_posted),
        available: currency
            .decimal_of_minor_units(
                i128::from(account.balances.credits_posted)
                    - i128::from(account.balances.debits_posted)
                    - i128::from(account.balances.debits_pending),
            )
            .to_string(),
    }
}

/// The idempotency key: the request field, else the `idempotency-key`
/// metadata entry; both given must agree.
fn idempotency_key(
    field: &str,
    metadata: &tonic::metadata::MetadataMap,
) -> Result<IdempotencyKey, ApiError> {
    let from_metadata = match metadata.get("idempotency-key") {
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::invalid(
                "idempotency-key",
                "the metadata value is not printable ASCII",
            )
        })?),
        None => None,
    };
    let key = match (field, from_metadata) {
        ("", None) => {
            return Err(ApiError::invalid(
                "idempotency_key",
                "missing: set the idempotency_key field or the idempotency-key metadata",
            ))
        }
        ("", Some(metadata)) => metadata,
        (field, None) => field,
        (field, Some(metadata)) if field == metadata => field,
        (_, Some(_)) => {
            return Err(ApiError::invalid(
                "idempotency_key",
                "the field and the idempotency-key metadata differ",
            ))
        }
    };
    IdempotencyKey::parse(key)
        .map_err(|error| ApiError::invalid("idempotency_key", error.to_string()))
}

fn document_errors(errors: iso20022::Errors) -> ApiError {
    let violations: Vec<(String, String)> = errors
        .iter()
        .map(|error| (error.location().to_owned(), error.kind.to_string()))
        .collect();
    ApiError::InvalidArgument {
        message: format!(
            "the document is not valid ISO 20022 ({} problems)",
            violations.len()
        ),
        violations,
    }
}

/// Reads and converts a submitted document: one domain message per
/// transaction, with its position, or every problem found.
/// A submitted document, read: its transactions as ledger messages with
/// their positions, and where it came from.
struct ReadDocument {
    messages: Vec<(u32, ledger::model::PaymentMessage)>,
    origin: DocumentOrigin,
}

fn read_document(document: &[u8], transactions_max: usize) -> Result<ReadDocument, ApiError> {
    let mut reader = MessageReader::new(document).map_err(document_errors)?;
    let kind = reader.kind();
    if !convert::is_payment_message(&kind) {
        return Err(ApiError::invalid(
            "document",
            format!(
                "{} is not a payment message; submit pacs.008, pain.001, pacs.002 or pacs.004",
                kind.id
            ),
        ));
    }
    let group = reader.group_header().clone();
    let mut messages = Vec::new();
    let mut parse_errors = Vec::new();
    let mut violations = Vec::new();
    let mut position: u32 = 0;
    let mut paths = convert::TransactionPaths::default();
    while let Some(item) = reader.next_transaction() {
        match item {
            Err(errors) => parse_errors.extend(errors),
            Ok(transaction) => match convert::payment_message_at(
                &kind,
                &group,
                &transaction,
                &paths.path_of(&kind, &transaction),
            ) {
                Ok(Some(message)) => {
                    messages.push((position, message));
                    position += 1;
                }
                Ok(None) => {}
                Err(errors) => {
                    position += 1;
                    violations.extend(
                        errors
                            .into_iter()
                            .map(|error| (error.path, error.description)),
                    );
                }
            },
        }
        if messages.len() > transactions_max {
            return Err(ApiError::invalid(
                "document",
                format!("more than {transactions_max} transactions in one request"),
            ));
        }
    }
    if !parse_errors.is_empty() {
        return Err(document_errors(iso20022::Errors(parse_errors)));
    }
    if !violations.is_empty() {
        return Err(ApiError::InvalidArgument {
            message: format!(
                "{} transactions cannot be applied as they are",
                violations.len()
            ),
            violations,
        });
    }
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "document",
            "no transaction asserts a payment state",
        ));
    }
    Ok(ReadDocument {
        messages,
        origin: DocumentOrigin {
            message_id: group.message_id.clone(),
            message_name_id: kind.id.to_owned(),
        },
    })
}

/// The client's deadline, from the `grpc-timeout` header (`<digits><unit>`,
/// units H, M, S, m, u, n), so that the database gives up when the client has.
fn grpc_timeout(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3_600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// A confirmations cursor: `<transaction id>.<outbox id>`.
fn parse_cursor(cursor: &str) -> Result<FeedPosition, ApiError> {
    if cursor.is_empty() {
        return Ok(FeedPosition::default());
    }
    let invalid = || {
        ApiError::invalid(
            "cursor",
            "not a cursor this service issued (two non-negative integers joined by '.')",
        )
    };
    // Digits only: a sign would make `-1` a position past every row (it
    // reads as 2^64-1 in xid8), and the stream would stay empty for ever.
    let part = |text: &str| -> Result<i64, ApiError> {
        if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(invalid());
        }
        text.parse().map_err(|_| invalid())
    };
    let (transaction_id, outbox_id) = cursor.split_once('.').ok_or_else(invalid)?;
    Ok(FeedPosition {
        transaction_id: part(transaction_id)?,
        outbox_id: part(outbox_id)?,
    })
}

fn format_cursor(position: FeedPosition) -> String {
    format!("{}.{}", position.transaction_id, position.outbox_id)
}

fn confirmation(row: OutboxRow) -> proto::Confirmation {
    let document = crate::confirmation::pacs002(&row).unwrap_or_default();
    proto::Confirmation {
        document,
        cursor: format_cursor(row.position),
        message_id: row.message_id,
        payment_id: row.payment_id.0,
        business_key: row.business_key,
        state: state_to_proto(PaymentState::parse(&row.to_state)) as i32,
        status_code: row.status_code,
        reason_code: row.reason_code.unwrap_or_default(),
    }
}

/// Business keys named in a request's span; a larger document logs the first ones.
const BUSINESS_KEYS_LOGGED_MAX: usize = 10;

type ConfirmationStream = Pin<Box<dyn Stream<Item = Result<proto::Confirmation, Status>> + Send>>;

#[tonic::async_trait]
impl LedgerService for Service {
    async fn submit_payment(
        &self,
        request: Request<proto::SubmitPaymentRequest>,
    ) -> Result<Response<proto::SubmitPaymentResponse>, Status> {
        let access = auth::access_of(&request)?;
        access.require(Role::Submit)?;
        let key = idempotency_key(&request.get_ref().idempotency_key, request.metadata())?;
        let read = read_document(
            &request.get_ref().document,
            self.limits.transactions_per_request_max,
        )?;
        let settlement = match proto::Settlement::try_from(request.get_ref().settlement) {
            Ok(proto::Settlement::Unspecified) => access.settlement,
            Ok(proto::Settlement::Immediate) => Some(Settlement::Immediate),
            Ok(proto::Settlement::OnConfirmation) => Some(Settlement::OnConfirmation),
            Err(_) => return Err(ApiError::invalid("settlement", "unknown settlement").into()),
        };
        let (positions, messages): (Vec<u32>, Vec<_>) = read
            .messages
            .into_iter()
            .map(|(position, message)| match settlement {
                Some(settlement) => (position, convert::with_settlement(message, settlement)),
                None => (position, message),
            })
            .unzip();
        // A child of the request's `grpc` span (path, request id, client id):
        // everything logged while the payment is applied carries the keys.
        let span = tracing::info_span!(
            "submit_payment",
            idempotency_key = key.as_str(),
            transactions = messages.len(),
            business_keys = %messages
                .iter()
                .take(BUSINESS_KEYS_LOGGED_MAX)
                .map(|message| message.business_key.loggable())
                .collect::<Vec<_>>()
                .join(" "),
        );
        let command = ApplyCommand::new(access.client_id.clone(), key, messages)
            .with_origin(read.origin)
            .with_debit_scope(access.scope.clone());
        let time_left = grpc_timeout(request.metadata());
        let response = async {
            let response = match &self.group_commit {
                Some(group_commit) => group_commit.apply(command, time_left).await,
                None => self.ledger.apply_within(&command, time_left).await,
            }
            .inspect_err(crate::metrics::record_payment_error)
            .map_err(errors::status)?;
            crate::metrics::record_payment_response(&response);
            tracing::info!(replay = response.replay, "payment request answered");
            Ok::<_, Status>(response)
        }
        .instrument(span)
        .await?;
        let results = response
            .receipts
            .iter()
            .zip(positions)
            .map(|(receipt, index)| {
                let (outcome, reason_code, reason_message) = match &receipt.outcome {
                    Outcome::Applied => (proto::Outcome::Applied, String::new(), String::new()),
                    Outcome::AlreadyApplied => {
                        (proto::Outcome::AlreadyApplied, String::new(), String::new())
                    }
                    Outcome::Duplicate => (proto::Outcome::Duplicate, String::new(), String::new()),
                    Outcome::Rejected(reason) => (
                        proto::Outcome::Rejected,
                        reason.code().to_owned(),
                        reason.message(),
                    ),
                };
                proto::TransactionResult {
                    index,
                    payment_id: receipt.payment_id.map_or(0, |id| id.0),
                    business_key: receipt.business_key.canonical(),
                    outcome: outcome as i32,
                    reason_code,
                    reason_message,
                    state: state_to_proto(receipt.state) as i32,
                }
            })
            .collect();
        Ok(Response::new(proto::SubmitPaymentResponse {
            results,
            replay: response.replay,
        }))
    }

    async fn get_payment(
        &self,
        request: Request<proto::GetPaymentRequest>,
    ) -> Result<Response<proto::Payment>, Status> {
        let access = auth::access_of(&request)?;
        access.require_any(&[Role::Read, Role::Submit])?;
        let payment = match &request.get_ref().key {
            Some(proto::get_payment_request::Key::PaymentId(id)) => self
                .ledger
                .get_payment(PaymentId(*id))
                .await
                .map_err(errors::status)?,
            Some(proto::get_payment_request::Key::BusinessKey(text)) => {
                let key = BusinessKey::from_canonical(text)
                    .map_err(|error| ApiError::invalid("business_key", error.to_string()))?;
                self.ledger
                    .get_payment_by_business_key(&key)
                    .await
                    .map_err(errors::status)?
            }
            None => return Err(ApiError::invalid("key", "give payment_id or business_key").into()),
        };
        let visibility = access.payment_visibility();
        let out_of_scope = |what: String| ApiError::OutOfScope {
            reason: "PAYMENT_OUT_OF_SCOPE",
            what,
        };
        // A client that does not see every payment is told the same of a
        // payment that does not exist as of one it may not see.
        let payment = match payment {
            Some(payment) => payment,
            None if visibility.is_all() => {
                return Err(ApiError::NotFound("no such payment".to_owned()).into())
            }
            None => return Err(out_of_scope("the payment asked for".to_owned()).into()),
        };
        let visible = self
            .ledger
            .payment_is_visible(payment.payment_id, &visibility)
            .await
            .map_err(errors::status)?;
        if !visible {
            return Err(out_of_scope("the payment asked for".to_owned()).into());
        }
        Ok(Response::new(payment_to_proto(payment)))
    }

    async fn list_payments(
        &self,
        request: Request<proto::ListPaymentsRequest>,
    ) -> Result<Response<proto::ListPaymentsResponse>, Status> {
        let access = auth::access_of(&request)?;
        access.require_any(&[Role::Read, Role::Submit])?;
        let body = request.get_ref();
        let mut violations = Vec::new();
        let page_size = match self.page_size(body.page_size) {
            Ok(size) => size,
            Err(ApiError::InvalidArgument {
                violations: bad, ..
            }) => {
                violations.extend(bad);
                0
            }
            Err(error) => return Err(error.into()),
        };
        let filter = payment_filter(body, &mut violations);
        // A token is checked against the filters only once they are valid.
        let after = if violations.is_empty() {
            match filter.page_after(&body.page_token) {
                Ok(after) => after,
                Err(PageTokenError::Malformed) => {
                    violations.push((
                        "page_token".to_owned(),
                        "not a page token ListPayments issued".to_owned(),
                    ));
                    None
                }
                Err(PageTokenError::FiltersChanged(fields)) => {
                    violations.extend(fields.into_iter().map(|field| {
                        (
                            payment_filter_field_name(field).to_owned(),
                            "differs from the listing the page_token continues: keep every \
                             filter of the first page, or start again without a page_token"
                                .to_owned(),
                        )
                    }));
                    None
                }
            }
        } else {
            None
        };
        if !violations.is_empty() {
            return Err(ApiError::InvalidArgument {
                message: format!(
                    "invalid ListPaymentsRequest: {}",
                    violations
                        .iter()
                        .map(|(field, description)| format!("{field}: {description}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                violations,
            }
            .into());
        }
        let payments = self
            .ledger
            .list_payments(
                &filter,
                &access.payment_visibility(),
                after,
                page_size as usize,
            )
            .await
            .map_err(errors::status)?;
        let next_page_token = match payments.last() {
            Some(last) if payments.len() == page_size as usize => {
                filter.page_token(last.payment_id)
            }
            _ => String::new(),
        };
        Ok(Response::new(proto::ListPaymentsResponse {
            payments: payments.into_iter().map(payment_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn open_account(
        &self,
        request: Request<proto::OpenAccountRequest>,
    ) -> Result<Response<proto::Account>, Status> {
        let access = auth::access_of(&request)?;
        access.require(Role::Admin)?;
        let body = request.get_ref();
        let mut violations = Vec::new();
        let reference = AccountReference::parse(&body.external_reference)
            .map_err(|error| violations.push(("external_reference".to_owned(), error.to_string())))
            .ok();
        let currency = Currency::parse(&body.currency)
            .map_err(|error| violations.push(("currency".to_owned(), error.to_string())))
            .ok();
        let overdraft = match proto::OverdraftRule::try_from(body.overdraft) {
            Ok(proto::OverdraftRule::DebitsMustNotExceedCredits) => {
                Some(OverdraftRule::DebitsMustNotExceedCredits)
            }
            Ok(proto::OverdraftRule::Unrestricted) => Some(OverdraftRule::Unrestricted),
            _ => {
                violations.push((
                    "overdraft".to_owned(),
                    "choose an overdraft rule".to_owned(),
                ));
                None
            }
        };
        let (Some(external_reference), Some(currency), Some(overdraft)) =
            (reference, currency, overdraft)
        else {
            return Err(ApiError::InvalidArgument {
                message: "invalid account".to_owned(),
                violations,
            }
            .into());
        };
        let account = self
            .ledger
            .open_account(&OpenAccount {
                external_reference,
                currency,
                overdraft,
                opened_by: access.client_id.clone(),
            })
            .await
            .map_err(errors::status)?;
        Ok(Response::new(account_to_proto(account)))
    }

    async fn get_account(
        &self,
        request: Request<proto::GetAccountRequest>,
    ) -> Result<Response<proto::Account>, Status> {
        let access = auth::access_of(&request)?;
        access.require(Role::Read)?;
        let account = match &request.get_ref().key {
            Some(proto::get_account_request::Key::AccountId(id)) => self
                .ledger
                .get_account_by_id(AccountId(*id))
                .await
                .map_err(errors::status)?,
            Some(proto::get_account_request::Key::ExternalReference(text)) => {
                let reference = AccountReference::parse(text)
                    .map_err(|error| ApiError::invalid("external_reference", error.to_string()))?;
                // Before the lookup: a scoped client learns nothing of
                // whether an account outside its scope exists.
                access.require_readable(&reference)?;
                self.ledger
                    .get_account(&reference)
                    .await
                    .map_err(errors::status)?
            }
            None => {
                return Err(
                    ApiError::invalid("key", "give account_id or external_reference").into(),
                )
            }
        };
        // A scoped client is told the same of an account that does not
        // exist as of one outside its scope.
        let account = match account {
            Some(account) => account,
            None if access.scope.is_unrestricted() => {
                return Err(ApiError::NotFound("no such account".to_owned()).into())
            }
            None => {
                return Err(ApiError::OutOfScope {
                    reason: "ACCOUNT_OUT_OF_SCOPE",
                    what: "the account asked for".to_owned(),
                }
                .into())
            }
        };
        access.require_readable(&account.external_reference)?;
        // The balances as they stood then, after the same checks.
        let account = match &request.get_ref().as_of {
            None => account,
            Some(as_of) => {
                let as_of = std::time::SystemTime::try_from(*as_of)
                    .map_err(|error| ApiError::invalid("as_of", error.to_string()))?;
                self.ledger
                    .get_account_as_of(account.account_id, as_of)
                    .await
                    .map_err(errors::status)?
                    .ok_or_else(|| ApiError::NotFound("no such account".to_owned()))?
            }
        };
        Ok(Response::new(account_to_proto(account)))
    }

    async fn list_transfers(
        &self,
        request: Request<proto::ListTransfersRequest>,
    ) -> Result<Response<proto::ListTransfersResponse>, Status> {
        let access = auth::access_of(&request)?;
        access.require(Role::Read)?;
        let body = request.get_ref();
        if !access.scope.is_unrestricted() {
            let account = self
                .ledger
                .get_account_by_id(AccountId(body.account_id))
                .await
                .map_err(errors::status)?;
            match account {
                Some(account) => access.require_readable(&account.external_reference)?,
                None => {
                    return Err(ApiError::OutOfScope {
                        reason: "ACCOUNT_OUT_OF_SCOPE",
                        what: format!("account {}", body.account_id),
                    }
                    .into())
                }
            }
        }
        let page_size = self.page_size(body.page_size)?;
        let after = parse_page_token(&body.page_token)?.map(TransferId);
        let transfers = self
            .ledger
            .list_transfers(
                AccountId(body.account_id),
                after,
                TimeRange {
                    from: unix_seconds(body.created_from_unix_seconds)?,
                    until: unix_seconds(body.created_until_unix_seconds)?,
                },
                page_size as usize,
            )
            .await
            .map_err(errors::status)?;
        let next_page_token = match transfers.last() {
            Some(last) if transfers.len() == page_size as usize => last.transfer_id.0.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(proto::ListTransfersResponse {
            transfers: transfers
                .into_iter()
                .map(|transfer| proto::Transfer {
                    transfer_id: transfer.transfer_id.0,
                    payment_id: transfer.payment_id.0,
                    kind: transfer.kind.as_str().to_owned(),
                    debit_account_id: transfer.debit_account_id.0,
                    credit_account_id: transfer.credit_account_id.0,
                    amount: Some(money(transfer.amount)),
                    created_at_unix_seconds: transfer
                        .created_at
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |since| since.as_secs() as i64),
                })
                .collect(),
            next_page_token,
        }))
    }

    async fn set_settlement_account(
        &self,
        request: Request<proto::SetSettlementAccountRequest>,
    ) -> Result<Response<proto::AccountMapping>, Status> {
        let access = auth::access_of(&request)?;
        access.require(Role::Admin)?;
        let body = request.get_ref();
        let agent = Bic::parse(&body.agent_bic)
            .map_err(|error| ApiError::invalid("agent_bic", error.to_string()))?;
        let reference = AccountReference::parse(&body.external_reference)
            .map_err(|error| ApiError::invalid("external_reference", error.to_string()))?;
        self.ledger
            .set_settlement_account(&access.client_id, &agent, &reference)
            .await
            .map_err(errors::status)?;
        self.mapping(Some(agent), &reference).await
    }

    async fn set_clearing_account(
        &self,
        request: Request<proto::SetClearingAccountRequest>,
    ) -> Result<Response<proto::AccountMapping>, Status> {
        let access = auth::access_of(&request)?;
        access.require(Role::Admin)?;
        let reference = AccountReference::parse(&request.get_ref().external_reference)
            .map_err(|error| ApiError::invalid("external_reference", error.to_string()))?;
        self.ledger
            .set_clearing_account(&access.client_id, &reference)
            .await
            .map_err(errors::status)?;
        self.mapping(None, &reference).await
    }

    async fn list_account_mappings(
        &self,
        request: Request<proto::ListAccountMappingsRequest>,
    ) -> Result<Response<proto::ListAccountMappingsResponse>, Status> {
        let access = auth::access_of(&request)?;
        access.require_any(&[Role::Read, Role::Admin])?;
        // An admin sees every mapping; a reader those naming its accounts.
        let sees_all = access.has(Role::Admin) || access.scope.is_unrestricted();
        let mappings = self
            .ledger
            .account_mappings()
            .await
            .map_err(errors::status)?;
        Ok(Response::new(proto::ListAccountMappingsResponse {
            mappings: mappings
                .into_iter()
                .filter(|mapping| {
                    sees_all || access.scope.allows(&mapping.account.external_reference)
                })
                .map(|mapping| proto::AccountMapping {
                    agent_bic: mapping
                        .agent
                        .map(|bic| bic.as_str().to_owned())
                        .unwrap_or_default(),
                    currency: mapping.account.currency.code().to_owned(),
                    account_id: mapping.account.account_id.0,
                    external_reference: mapping.account.external_reference.as_str().to_owned(),
                })
                .collect(),
        }))
    }

    type StreamConfirmationsStream = ConfirmationStream;

    async fn stream_confirmations(
        &self,
        request: Request<proto::StreamConfirmationsRequest>,
    ) -> Result<Response<ConfirmationStream>, Status> {
        let access = auth::access_of(&request)?;
        access.require_any(&[Role::Read, Role::Submit])?;
        let visible = access.payment_visibility();
        let mut position = parse_cursor(&request.get_ref().cursor)?;
        let (sender, receiver) = tokio::sync::mpsc::channel(self.limits.stream_buffer_max);
        let ledger = self.ledger.clone();
        let poll_interval = Duration::from_millis(self.limits.stream_poll_interval_ms);
        let page = self.limits.stream_buffer_max;
        let mut shutting_down = self.shutting_down.clone();
        tokio::spawn(async move {
            loop {
                if *shutting_down.borrow() {
                    let _ = sender
                        .send(Err(Status::unavailable(
                            "the server is shutting down; resume from your last cursor",
                        )))
                        .await;
                    return;
                }
                let rows = match ledger.confirmations_after(position, &visible, page).await {
                    Ok(rows) => rows,
                    Err(error) => {
                        let _ = sender.send(Err(errors::status(error))).await;
                        return;
                    }
                };
                let caught_up = rows.len() < page;
                for row in rows {
                    position = row.position;
                    if sender.send(Ok(confirmation(row))).await.is_err() {
                        return; // The client went away.
                    }
                }
                if caught_up {
                    tokio::select! {
                        _ = tokio::time::sleep(poll_interval) => {}
                        _ = shutting_down.changed() => {}
                        _ = sender.closed() => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn list_admin_changes(
        &self,
        request: Request<proto::ListAdminChangesRequest>,
    ) -> Result<Response<proto::ListAdminChangesResponse>, Status> {
        let access = auth::access_of(&request)?;
        access.require(Role::Admin)?;
        let body = request.get_ref();
        let page_size = self.page_size(body.page_size)?;
        let after = parse_page_token(&body.page_token)?;
        let changes = self
            .ledger
            .admin_changes(after, page_size as usize)
            .await
            .map_err(errors::status)?;
        let next_page_token = match changes.last() {
            Some(last) if changes.len() == page_size as usize => last.change_id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(proto::ListAdminChangesResponse {
            changes: changes
                .into_iter()
                .map(|change| proto::AdminChange {
                    change_id: change.change_id,
                    changed_at_unix_seconds: change
                        .changed_at
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |since| since.as_secs() as i64),
                    client_id: change.client_id.to_string(),
                    action: change.action.as_str().to_owned(),
                    subject: change.subject,
                    value_before: change.value_before.unwrap_or_default(),
                    value_after: change.value_after,
                })
                .collect(),
            next_page_token,
        }))
    }

    async fn get_statement(
        &self,
        request: Request<proto::GetStatementRequest>,
    ) -> Result<Response<proto::GetStatementResponse>, Status> {
        let access = auth::access_of(&request)?;
        access.require(Role::Read)?;
        let body = request.get_ref();
        let reference = AccountReference::parse(&body.external_reference)
            .map_err(|error| ApiError::invalid("external_reference", error.to_string()))?;
        // Before the lookup: a scoped client learns nothing of whether an
        // account outside its scope exists.
        access.require_readable(&reference)?;
        let period = crate::statement::period(&body.from_date, &body.to_date)
            .map_err(|(field, detail)| ApiError::invalid(&format!("{field}_date"), detail))?;
        let statement = self
            .ledger
            .statement(&reference, period)
            .await
            .map_err(errors::status)?
            .ok_or_else(|| ApiError::NotFound("no such account".to_owned()))?;
        let document = crate::statement::camt053(&statement)
            .map_err(|error| ApiError::invalid("external_reference", error.to_string()))?;
        Ok(Response::new(proto::GetStatementResponse {
            document,
            statement_id: crate::statement::statement_id(&statement),
            entry_count: statement.entries.len() as u32,
        }))
    }
}

impl Service {
    /// The page size asked for: 0 means 100; more than the maximum is refused.
    fn page_size(&self, asked: u32) -> Result<u32, ApiError> {
        match asked {
            0 => Ok(100),
            size if size > self.limits.page_size_max => Err(ApiError::invalid(
                "page_size",
                format!("at most {}", self.limits.page_size_max),
            )),
            size => Ok(size),
        }
    }

    async fn mapping(
        &self,
        agent: Option<Bic>,
        reference: &AccountReference,
    ) -> Result<Response<proto::AccountMapping>, Status> {
        let account = self
            .ledger
            .get_account(reference)
            .await
            .map_err(errors::status)?
            .ok_or_else(|| ApiError::NotFound(format!("no account with reference {reference}")))?;
        Ok(Response::new(proto::AccountMapping {
            agent_bic: agent.map(|bic| bic.as_str().to_owned()).unwrap_or_default(),
            currency: account.currency.code().to_owned(),
            account_id: account.account_id.0,
            external_reference: account.external_reference.as_str().to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_are_shown_in_units_of_their_currency_however_large() {
        let eur = Currency::parse("EUR").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        let bhd = Currency::parse("BHD").unwrap();
        for (currency, minor_units, expected) in [
            (eur, 0, "0.00"),
            (eur, 1_050, "10.50"),
            (eur, 999_999_999_999_999_999, "9999999999999999.99"),
            (eur, 1_000_000_000_000_000_000, "10000000000000000.00"),
            (eur, i64::MAX, "92233720368547758.07"),
            (jpy, 1_000_000_000_000_000_000, "1000000000000000000"),
            (bhd, 1_000_000_000_000_000_001, "1000000000000000.001"),
        ] {
            assert_eq!(units(currency, minor_units), expected, "{minor_units}");
        }
    }

    #[test]
    fn a_confirmation_cursor_with_a_sign_or_anything_but_digits_is_refused() {
        assert_eq!(parse_cursor("").ok(), Some(FeedPosition::default()));
        let position = parse_cursor("42.7").ok().unwrap();
        assert_eq!((position.transaction_id, position.outbox_id), (42, 7));
        for bad in [
            "-1.0",
            "0.-1",
            "-1.-1",
            "+1.0",
            "1",
            "1.",
            ".1",
            "1.2.3",
            "a.b",
            " 1.2",
            "99999999999999999999.1",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
