//! The gRPC API end to end, over TCP, with a real tonic
//! client against a real database.

#[path = "support/server.rs"]
mod test_server;

use test_server::*;

use std::time::Duration;

use ledger::LedgerOptions;
use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::grpc::proto::{self, Outcome, PaymentState};
use ledger_api::server::ServerConfig;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_types::StatusExt;

/// Submits `document` under `key` from a client of its own, in a task: for
/// requests that wait while the test does something else.
fn spawn_submit(
    channel: &Channel,
    key: &str,
    document: Vec<u8>,
) -> tokio::task::JoinHandle<Result<tonic::Response<proto::SubmitPaymentResponse>, tonic::Status>> {
    let mut client = LedgerServiceClient::new(channel.clone());
    let request = submit(TOKEN_A, key, document);
    tokio::spawn(async move { client.submit_payment(request).await })
}

/// A refusal the client may retry: `code`, an ErrorInfo with `reason`, and
/// a RetryInfo asking for 200 ms.
fn assert_retryable(status: &tonic::Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(
        status
            .get_details_error_info()
            .expect("an ErrorInfo")
            .reason,
        reason
    );
    assert_eq!(
        status
            .get_details_retry_info()
            .expect("a RetryInfo")
            .retry_delay,
        Some(Duration::from_millis(200))
    );
}

fn outcomes(response: &proto::SubmitPaymentResponse) -> Vec<(Outcome, String)> {
    response
        .results
        .iter()
        .map(|result| (result.outcome(), result.reason_code.clone()))
        .collect()
}

#[tokio::test]
async fn a_submitted_pacs008_is_applied_once_and_its_replay_is_the_same_answer() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let document = pacs008("MSG-1", &[("E2E-1", "10.00"), ("E2E-2", "5.25")]);

    let first = client
        .submit_payment(submit(TOKEN_A, "k-1", document.clone()))
        .await
        .unwrap()
        .into_inner();
    let replay = client
        .submit_payment(submit(TOKEN_A, "k-1", document))
        .await
        .unwrap()
        .into_inner();

    assert!(!first.replay);
    assert!(replay.replay);
    assert_eq!(first.results, replay.results);
    assert_eq!(
        outcomes(&first),
        [
            (Outcome::Applied, String::new()),
            (Outcome::Applied, String::new())
        ]
    );
    assert_eq!(first.results[1].index, 1);
    assert_eq!(first.results[0].state(), PaymentState::Settled);
    let account = client
        .get_account(authed(
            TOKEN_A,
            proto::GetAccountRequest {
                key: Some(proto::get_account_request::Key::ExternalReference(
                    CREDITOR_IBAN.to_owned(),
                )),
                as_of: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.credits_posted, "15.25");
    let payment = client
        .get_payment(authed(
            TOKEN_A,
            proto::GetPaymentRequest {
                key: Some(proto::get_payment_request::Key::BusinessKey(
                    first.results[0].business_key.clone(),
                )),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(payment.payment_id, first.results[0].payment_id);
    assert_eq!(payment.amount.unwrap().units, "10.00");
    server.shut_down().await;
}

#[tokio::test]
async fn a_reused_key_with_another_request_is_already_exists_with_its_reason() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    client
        .submit_payment(submit(
            TOKEN_A,
            "k-1",
            pacs008("MSG-1", &[("E2E-1", "1.00")]),
        ))
        .await
        .unwrap();
    let status = client
        .submit_payment(submit(
            TOKEN_A,
            "k-1",
            pacs008("MSG-2", &[("E2E-2", "1.00")]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    let info = status.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(info.domain, "ledger.v1");
    server.shut_down().await;
}

#[tokio::test]
async fn idempotency_keys_of_two_clients_never_meet() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let a = client
        .submit_payment(submit(
            TOKEN_A,
            "same",
            pacs008("MSG-A", &[("E2E-A", "1.00")]),
        ))
        .await
        .unwrap()
        .into_inner();
    let b = client
        .submit_payment(submit(
            TOKEN_B,
            "same",
            pacs008("MSG-B", &[("E2E-B", "2.00")]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!a.replay && !b.replay);
    assert_ne!(a.results[0].payment_id, b.results[0].payment_id);
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_duplicates_over_the_wire_apply_once() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let document = pacs008("MSG-RACE", &[("E2E-RACE", "3.00")]);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let mut client = LedgerServiceClient::new(channel.clone());
            let document = document.clone();
            tokio::spawn(async move {
                client
                    .submit_payment(submit(TOKEN_A, "race", document))
                    .await
            })
        })
        .collect();
    let mut fresh = 0;
    let mut results = Vec::new();
    for task in tasks {
        let response = task.await.unwrap().unwrap().into_inner();
        fresh += usize::from(!response.replay);
        results.push(response.results);
    }
    assert_eq!(fresh, 1);
    assert!(results.iter().all(|result| *result == results[0]));
    assert_eq!(results[0][0].outcome(), Outcome::Applied);
    server.shut_down().await;
}

#[tokio::test]
async fn a_refused_transaction_is_an_outcome_and_the_call_succeeds() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    // The creditor account forbids overdraft: paying from it needs funds.
    let mut reversed = String::from_utf8(pacs008("MSG-R", &[("E2E-R", "1.00")])).unwrap();
    reversed = reversed
        .replace(DEBTOR_IBAN, "SWAP")
        .replace(CREDITOR_IBAN, DEBTOR_IBAN)
        .replace("SWAP", CREDITOR_IBAN);
    let response = client
        .submit_payment(submit(TOKEN_A, "k", reversed.into_bytes()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.results[0].outcome(), Outcome::Rejected);
    assert_eq!(response.results[0].reason_code, "INSUFFICIENT_FUNDS");
    assert!(!response.results[0].reason_message.is_empty());
    server.shut_down().await;
}

#[tokio::test]
async fn invalid_documents_name_every_bad_field_in_a_bad_request() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let broken = String::from_utf8(pacs008("MSG-X", &[("E2E-1", "1.001"), ("E2E-2", "2.00")]))
        .unwrap()
        .replace(CREDITOR_IBAN, "FR0000000000000000000000000");
    let status = client
        .submit_payment(submit(TOKEN_A, "k", broken.into_bytes()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad_request = status.get_details_bad_request().expect("a BadRequest");
    let fields: Vec<&str> = bad_request
        .field_violations
        .iter()
        .map(|violation| violation.field.as_str())
        .collect();
    assert!(
        fields
            .iter()
            .any(|field| field.contains("CdtTrfTxInf[1]/IntrBkSttlmAmt")),
        "{fields:?}"
    );
    assert!(
        fields
            .iter()
            .any(|field| field.contains("CdtTrfTxInf[2]/CdtrAcct")),
        "{fields:?}"
    );
    // Hostile input is refused the same way, never crashes the server.
    let hostile = b"<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x \"y\">]><Document/>".to_vec();
    let status = client
        .submit_payment(submit(TOKEN_A, "k2", hostile))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    server.shut_down().await;
}

#[tokio::test]
async fn calls_without_a_known_token_or_key_are_refused_with_their_code() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let document = pacs008("MSG-1", &[("E2E-1", "1.00")]);
    let anonymous = client
        .submit_payment(Request::new(proto::SubmitPaymentRequest {
            document: document.clone(),
            idempotency_key: "k".to_owned(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let wrong = client
        .submit_payment(submit("not-a-known-token-at-all", "k", document.clone()))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let keyless = client
        .submit_payment(submit(TOKEN_A, "", document.clone()))
        .await
        .unwrap_err();
    assert_eq!(keyless.code(), Code::InvalidArgument);
    let too_long = client
        .submit_payment(submit(TOKEN_A, &"k".repeat(256), document.clone()))
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument);
    // The metadata entry works too; a disagreeing field is refused.
    let mut by_metadata = submit(TOKEN_A, "", document.clone());
    by_metadata
        .metadata_mut()
        .insert("idempotency-key", "meta-key".parse().unwrap());
    assert!(client.submit_payment(by_metadata).await.is_ok());
    let mut disagreeing = submit(TOKEN_A, "field-key", document);
    disagreeing
        .metadata_mut()
        .insert("idempotency-key", "meta-key".parse().unwrap());
    assert_eq!(
        client.submit_payment(disagreeing).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    server.shut_down().await;
}

#[tokio::test]
async fn a_confirmation_stream_resumes_from_its_cursor_and_misses_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    client
        .submit_payment(submit(
            TOKEN_A,
            "k1",
            pacs008("MSG-1", &[("E2E-1", "1.00"), ("E2E-2", "2.00")]),
        ))
        .await
        .unwrap();
    let mut stream = client
        .stream_confirmations(authed(
            TOKEN_A,
            proto::StreamConfirmationsRequest {
                cursor: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.status_code, "ACSC");
    // The confirmation is a pacs.002 naming the submitted document.
    let report = iso20022::parse_document(&first.document).expect("a valid pacs.002");
    assert_eq!(report.kind.id, "pacs.002.001.10");
    let Some(iso20022::Transaction::TransactionStatus(status)) = report
        .transactions
        .iter()
        .find(|item| matches!(item, iso20022::Transaction::TransactionStatus(_)))
    else {
        panic!("a transaction status");
    };
    assert_eq!(status.status.as_deref(), Some("ACSC"));
    assert_eq!(status.original_end_to_end_id.as_deref(), Some("E2E-1"));
    assert_eq!(status.original_message_id.as_deref(), Some("MSG-1"));
    drop(stream); // disconnect after one confirmation

    client
        .submit_payment(submit(
            TOKEN_A,
            "k2",
            pacs008("MSG-2", &[("E2E-3", "3.00")]),
        ))
        .await
        .unwrap();
    let mut resumed = client
        .stream_confirmations(authed(
            TOKEN_A,
            proto::StreamConfirmationsRequest {
                cursor: first.cursor.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut seen = vec![first.message_id.clone()];
    for _ in 0..2 {
        let next = tokio::time::timeout(Duration::from_secs(10), resumed.next())
            .await
            .expect("the stream delivers")
            .unwrap()
            .unwrap();
        seen.push(next.message_id);
    }
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 3, "three distinct confirmations: {seen:?}");
    // The stream stays open for new ones.
    client
        .submit_payment(submit(
            TOKEN_A,
            "k3",
            pacs008("MSG-3", &[("E2E-4", "4.00")]),
        ))
        .await
        .unwrap();
    let live = tokio::time::timeout(Duration::from_secs(10), resumed.next())
        .await
        .expect("a live confirmation arrives")
        .unwrap()
        .unwrap();
    assert!(!seen.contains(&live.message_id));
    server.shut_down().await;
}

#[tokio::test]
async fn health_reports_serving_and_reflection_lists_the_service() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "ledger.v1.LedgerService".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list
        .service
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    assert!(names.contains(&"ledger.v1.LedgerService"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    server.shut_down().await;
}

#[tokio::test]
async fn a_request_over_the_size_limit_is_resource_exhausted_before_it_is_read() {
    let server = TestServer::start_with(ServerConfig {
        request_size_max_bytes: 2_048,
        ..ServerConfig::default()
    })
    .await;
    let mut client = server.client().await;
    let big: Vec<(String, String)> = (0..20)
        .map(|index| (format!("E2E-{index}"), "1.00".to_owned()))
        .collect();
    let pairs: Vec<(&str, &str)> = big.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let document = pacs008("MSG-BIG", &pairs);
    assert!(document.len() > 2_048);
    let status = client
        .submit_payment(submit(TOKEN_A, "big", document))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let info = status.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "REQUEST_TOO_LARGE");
    assert_eq!(info.domain, "ledger.v1");
    assert_eq!(info.metadata["limit_bytes"], "2048");
    // Nothing was applied, and the connection still serves a request within the limit.
    let small = pacs008("MSG-SMALL", &[("E2E-S", "1.00")]);
    assert!(small.len() < 2_048);
    let response = client
        .submit_payment(submit(TOKEN_A, "small", small))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.results[0].outcome(), Outcome::Applied);
    let listed = client
        .list_payments(authed(
            TOKEN_A,
            proto::ListPaymentsRequest {
                state: 0,
                account_id: 0,
                page_size: 100,
                page_token: String::new(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.payments.len(), 1);
    server.shut_down().await;
}

/// Holds every account row in a transaction of its own, so that applying a
/// payment waits; `release` lets it go on.
struct AccountLock {
    client: tokio_postgres::Client,
}

impl AccountLock {
    async fn hold(server: &TestServer) -> AccountLock {
        let client = server.database.client().await;
        client
            .batch_execute("BEGIN; SELECT 1 FROM accounts FOR UPDATE")
            .await
            .unwrap();
        AccountLock { client }
    }

    async fn release(self) {
        self.client.batch_execute("ROLLBACK").await.unwrap();
    }
}

/// Waits until `count` statements of the server wait for a lock.
async fn wait_for_lock_waiters(server: &TestServer, count: i64) {
    let observer = server.database.client().await;
    for _ in 0..500 {
        let waiting: i64 = observer
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{count} requests never came to wait for the lock");
}

#[tokio::test]
async fn a_request_over_the_concurrency_limit_is_shed_at_once_never_queued() {
    let server = TestServer::start_with(ServerConfig {
        concurrent_requests_per_connection_max: 1,
        ..ServerConfig::default()
    })
    .await;
    let channel = server.channel().await;
    let lock = AccountLock::hold(&server).await;
    // The one request this connection may run: it waits for the lock.
    let mut first_client = LedgerServiceClient::new(channel.clone());
    let first = tokio::spawn(async move {
        first_client
            .submit_payment(submit(
                TOKEN_A,
                "held",
                pacs008("MSG-H", &[("E2E-H", "1.00")]),
            ))
            .await
    });
    wait_for_lock_waiters(&server, 1).await;

    // A second request on the same connection is refused at once.
    let mut second_client = LedgerServiceClient::new(channel.clone());
    let get_account = || {
        authed(
            TOKEN_A,
            proto::GetAccountRequest {
                key: Some(proto::get_account_request::Key::ExternalReference(
                    DEBTOR_IBAN.to_owned(),
                )),
                as_of: None,
            },
        )
    };
    let shed = tokio::time::timeout(
        Duration::from_secs(5),
        second_client.get_account(get_account()),
    )
    .await
    .expect("an overloaded server answers at once, it never queues")
    .unwrap_err();
    // tonic's load shedding answers RESOURCE_EXHAUSTED (tonic 0.14's
    // Status::from_error for tower's Overloaded).
    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");

    // Once the held request is done, the connection serves again.
    lock.release().await;
    let applied = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("the held request finishes")
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(applied.results[0].outcome(), Outcome::Applied);
    let account = second_client
        .get_account(get_account())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.debits_posted, "1.00");
    server.shut_down().await;
}

#[tokio::test]
async fn a_conflict_with_a_writer_outside_the_ledger_that_outlasts_the_retries_is_aborted_with_retry_info(
) {
    // Batches never conflict with each other (they take turns on the writer
    // lock), but a writer outside the ledger can: a session that updates the
    // accounts after the request's snapshot was taken makes its row lock a
    // serialization failure. With one attempt, that is ABORTED at once.
    let server = TestServer::start_with_options(
        ServerConfig {
            group_commit: None,
            ..ServerConfig::default()
        },
        LedgerOptions {
            transaction_attempts_max: 1,
            ..LedgerOptions::default()
        },
    )
    .await;
    let channel = server.channel().await;
    let document = pacs008("MSG-CONFLICT", &[("E2E-CONFLICT", "7.00")]);
    let outside = server.database.client().await;
    outside
        .batch_execute("BEGIN; UPDATE accounts SET debits_pending = debits_pending")
        .await
        .unwrap();
    let first = spawn_submit(&channel, "conflict", document.clone());
    wait_for_lock_waiters(&server, 1).await;
    outside.batch_execute("COMMIT").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("answered once the outside writer committed")
        .unwrap()
        .expect_err("the conflicting request is not applied");
    assert_retryable(&status, Code::Aborted, "TRANSACTION_CONFLICT");

    // Retried under the same key, it is a clean first attempt.
    let retried = LedgerServiceClient::new(channel)
        .submit_payment(submit(TOKEN_A, "conflict", document))
        .await
        .unwrap()
        .into_inner();
    assert!(!retried.replay);
    assert_eq!(retried.results[0].outcome(), Outcome::Applied);
    server.shut_down().await;
}

#[tokio::test]
async fn a_concurrent_duplicate_waits_for_the_first_request_and_is_answered_with_its_replay() {
    // Without group commit each request is its own transaction. The first
    // holds the database's writer lock while it waits for a row lock; the
    // duplicate waits for the writer lock, then finds the first's stored
    // answer (semantics §1): never applied twice, never refused.
    let server = TestServer::start_with_options(
        ServerConfig {
            group_commit: None,
            ..ServerConfig::default()
        },
        LedgerOptions::default(),
    )
    .await;
    let channel = server.channel().await;
    let document = pacs008("MSG-DUP", &[("E2E-DUP", "7.00")]);
    let lock = AccountLock::hold(&server).await;
    let first = spawn_submit(&channel, "dup", document.clone());
    wait_for_lock_waiters(&server, 1).await;
    let duplicate = spawn_submit(&channel, "dup", document.clone());
    wait_for_lock_waiters(&server, 2).await;
    lock.release().await;
    let mut answers = Vec::new();
    for call in [first, duplicate] {
        let answer = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("answered once the row lock is free")
            .unwrap()
            .expect("neither call is refused")
            .into_inner();
        answers.push(answer);
    }
    assert_eq!(
        answers.iter().filter(|answer| !answer.replay).count(),
        1,
        "one applied, the other its replay"
    );
    assert_eq!(answers[0].results, answers[1].results);
    assert_eq!(answers[0].results[0].outcome(), Outcome::Applied);

    let mut client = LedgerServiceClient::new(channel);
    let account = client
        .get_account(authed(
            TOKEN_A,
            proto::GetAccountRequest {
                key: Some(proto::get_account_request::Key::ExternalReference(
                    CREDITOR_IBAN.to_owned(),
                )),
                as_of: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.credits_posted, "7.00", "applied once");
    server.shut_down().await;
}

/// A `MakeWriter` into a buffer the test reads.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// current_thread (tokio::test's default): the server's tasks run on this
// thread, where the capturing subscriber is the default.
#[tokio::test]
async fn the_request_span_carries_request_id_client_and_business_keys_never_the_token() {
    use tracing_subscriber::layer::SubscriberExt;
    // tracing caches each callsite's interest process-wide, computed on the
    // thread that first reaches it while at most one dispatcher exists: a
    // sibling test's thread without a subscriber would cache `never` for the
    // grpc span and hide it here too. A global default registry (which logs
    // nothing) keeps every callsite enabled; the scoped subscriber below does
    // the capturing for this thread.
    static GLOBAL_DEFAULT: std::sync::Once = std::sync::Once::new();
    GLOBAL_DEFAULT.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone()),
    );
    let _default = tracing::subscriber::set_default(subscriber);

    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut request = submit(
        TOKEN_A,
        "span-key",
        pacs008(
            "MSG-SPAN",
            &[("E2E-SPAN-1", "1.00"), ("E2E-SPAN-2", "2.00")],
        ),
    );
    request
        .metadata_mut()
        .insert("x-request-id", "request-7f3a".parse().unwrap());
    let response = client.submit_payment(request).await.unwrap().into_inner();
    let refused = client
        .get_account(authed(
            "wrong-token-0123456789abcdef",
            proto::GetAccountRequest {
                key: None,
                as_of: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    server.shut_down().await;

    let text = logs.text();
    let answered = text
        .lines()
        .find(|line| line.contains("payment request answered"))
        .unwrap_or_else(|| panic!("no line for the submitted payment in:\n{text}"));
    for expected in [
        "grpc{",
        "path=/ledger.v1.LedgerService/SubmitPayment",
        "request_id=\"request-7f3a\"",
        "client_id=\"bank-a\"",
        "submit_payment{",
        "idempotency_key=\"span-key\"",
        &response.results[0].business_key,
        &response.results[1].business_key,
    ] {
        assert!(
            answered.contains(expected),
            "{expected:?} missing in {answered}"
        );
    }
    // Tokens are never logged, the known one nor the wrong one, at any level.
    assert!(!text.contains(TOKEN_A), "the bearer token was logged");
    assert!(!text.contains("wrong-token-0123456789abcdef"));
    assert!(!text.contains("Bearer"));
}

#[tokio::test]
async fn payments_are_listed_a_page_at_a_time_and_filtered_by_state() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    client
        .submit_payment(submit(
            TOKEN_A,
            "k",
            pacs008(
                "MSG-L",
                &[("E2E-1", "1.00"), ("E2E-2", "2.00"), ("E2E-3", "3.00")],
            ),
        ))
        .await
        .unwrap();
    let list = |page_token: String, state: PaymentState| {
        authed(
            TOKEN_A,
            proto::ListPaymentsRequest {
                state: state as i32,
                account_id: 0,
                page_size: 2,
                page_token,
                ..Default::default()
            },
        )
    };
    let first = client
        .list_payments(list(String::new(), PaymentState::Unspecified))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.payments.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .list_payments(list(
            first.next_page_token.clone(),
            PaymentState::Unspecified,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.payments.len(), 1);
    assert!(second.next_page_token.is_empty());
    let amounts: Vec<String> = first
        .payments
        .iter()
        .chain(&second.payments)
        .map(|payment| payment.amount.clone().unwrap().units)
        .collect();
    assert_eq!(amounts, ["1.00", "2.00", "3.00"]);
    let rejected = client
        .list_payments(list(String::new(), PaymentState::Rejected))
        .await
        .unwrap()
        .into_inner();
    assert!(rejected.payments.is_empty());
    let bad_token = client
        .list_payments(list("x".to_owned(), PaymentState::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(bad_token.code(), Code::InvalidArgument);
    server.shut_down().await;
}

#[tokio::test]
async fn a_client_deadline_reaches_the_database_as_a_statement_timeout() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    // Hold the accounts' rows so the payment's transaction must wait.
    let mut blocker = server.database.client().await;
    let blocking = blocker.transaction().await.unwrap();
    blocking
        .execute("SELECT 1 FROM accounts FOR UPDATE", &[])
        .await
        .unwrap();

    let mut request = submit(TOKEN_A, "deadline", pacs008("MSG-D", &[("E2E-D", "1.00")]));
    request.set_timeout(Duration::from_millis(300));
    let status = client.submit_payment(request).await.unwrap_err();
    assert!(
        matches!(
            status.code(),
            Code::DeadlineExceeded | Code::Unavailable | Code::Cancelled
        ),
        "{status:?}"
    );
    // Well before the server's own 30 s limit, nothing waits in the database any more.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let observer = server.database.client().await;
    let waiting: i64 = observer
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        waiting, 0,
        "the statement was cancelled at the client's deadline"
    );
    blocking.rollback().await.unwrap();
    server.shut_down().await;
}

#[tokio::test]
async fn the_account_mapping_is_changed_and_read_through_the_api() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let settlement = client
        .set_settlement_account(authed(
            TOKEN_A,
            proto::SetSettlementAccountRequest {
                agent_bic: "BNPAFRPPXXX".to_owned(),
                external_reference: CREDITOR_IBAN.to_owned(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(settlement.currency, "EUR");
    client
        .set_clearing_account(authed(
            TOKEN_A,
            proto::SetClearingAccountRequest {
                external_reference: DEBTOR_IBAN.to_owned(),
            },
        ))
        .await
        .unwrap();
    let listed = client
        .list_account_mappings(authed(TOKEN_A, proto::ListAccountMappingsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .mappings;
    let summary: Vec<(String, String)> = listed
        .iter()
        .map(|mapping| {
            (
                mapping.agent_bic.clone(),
                mapping.external_reference.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("BNPAFRPPXXX".to_owned(), CREDITOR_IBAN.to_owned()),
            (String::new(), DEBTOR_IBAN.to_owned())
        ]
    );
    let unknown = client
        .set_clearing_account(authed(
            TOKEN_A,
            proto::SetClearingAccountRequest {
                external_reference: "NO-SUCH-ACCOUNT".to_owned(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let bad_bic = client
        .set_settlement_account(authed(
            TOKEN_A,
            proto::SetSettlementAccountRequest {
                agent_bic: "not a bic".to_owned(),
                external_reference: CREDITOR_IBAN.to_owned(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_bic.code(), Code::InvalidArgument);
    server.shut_down().await;
}

#[tokio::test]
async fn health_turns_not_serving_and_calls_answer_unavailable_while_the_database_is_gone() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut client = LedgerServiceClient::new(channel.clone());
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    // Take the database away under the running server.
    let name = server.database.name.clone();
    let admin = ledger_system_tests::connect(&{
        let mut config = server.database.config.clone();
        config.dbname("postgres");
        config
    })
    .await;
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();

    let status = client
        .submit_payment(submit(TOKEN_A, "k", pacs008("MSG-U", &[("E2E-U", "1.00")])))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.get_details_retry_info().is_some(),
        "a retryable error says when"
    );
    let mut not_serving = false;
    for _ in 0..100 {
        let check = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "ledger.v1.LedgerService".to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        if check.status == tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
        {
            not_serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(not_serving, "health reports NOT_SERVING");
    server.shut_down().await;
}

#[tokio::test]
async fn transfers_are_listed_within_a_time_range() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let submitted = client
        .submit_payment(submit(
            TOKEN_A,
            "k",
            pacs008("MSG-T", &[("E2E-1", "1.00"), ("E2E-2", "2.00")]),
        ))
        .await
        .unwrap()
        .into_inner();
    let payment = client
        .get_payment(authed(
            TOKEN_A,
            proto::GetPaymentRequest {
                key: Some(proto::get_payment_request::Key::PaymentId(
                    submitted.results[0].payment_id,
                )),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let list = |from: i64, until: i64| {
        let request = authed(
            TOKEN_A,
            proto::ListTransfersRequest {
                account_id: payment.debit_account_id,
                page_size: 10,
                page_token: String::new(),
                created_from_unix_seconds: from,
                created_until_unix_seconds: until,
            },
        );
        let mut client = client.clone();
        async move { client.list_transfers(request).await }
    };
    assert_eq!(list(0, 0).await.unwrap().into_inner().transfers.len(), 2);
    assert_eq!(
        list(now - 3_600, now + 3_600)
            .await
            .unwrap()
            .into_inner()
            .transfers
            .len(),
        2
    );
    assert!(list(now + 3_600, 0)
        .await
        .unwrap()
        .into_inner()
        .transfers
        .is_empty());
    assert!(list(0, now - 3_600)
        .await
        .unwrap()
        .into_inner()
        .transfers
        .is_empty());
    assert_eq!(list(-5, 0).await.unwrap_err().code(), Code::InvalidArgument);
    let keyless = client
        .get_payment(authed(TOKEN_A, proto::GetPaymentRequest { key: None }))
        .await
        .unwrap_err();
    assert_eq!(keyless.code(), Code::InvalidArgument);
    server.shut_down().await;
}

#[tokio::test]
async fn with_group_commit_a_concurrent_duplicate_waits_in_the_queue_and_receives_the_first_answer()
{
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let document = pacs008("MSG-GC-DUP", &[("E2E-GC-DUP", "7.00")]);
    let lock = AccountLock::hold(&server).await;
    let first = spawn_submit(&channel, "gc-dup", document.clone());
    wait_for_lock_waiters(&server, 1).await;
    let duplicate = spawn_submit(&channel, "gc-dup", document.clone());
    lock.release().await;
    let first = first
        .await
        .unwrap()
        .expect("the first applies")
        .into_inner();
    let duplicate = duplicate
        .await
        .unwrap()
        .expect("the duplicate is answered")
        .into_inner();
    assert!(!first.replay);
    assert_eq!(first.results[0].outcome(), Outcome::Applied);
    assert!(duplicate.replay);
    assert_eq!(duplicate.results, first.results);
    server.shut_down().await;
}

#[tokio::test]
async fn with_group_commit_a_full_queue_is_resource_exhausted_with_retry_info_at_once() {
    let server = TestServer::start_with(ServerConfig {
        group_commit: Some(ledger::GroupCommitOptions {
            queue_capacity_max: 1,
            batch_size_max: 1,
            appliers_max: 1,
        }),
        ..ServerConfig::default()
    })
    .await;
    let channel = server.channel().await;
    let lock = AccountLock::hold(&server).await;
    let send = |key: &str, end_to_end_id: &str| {
        spawn_submit(
            &channel,
            key,
            pacs008(&format!("MSG-{key}"), &[(end_to_end_id, "1.00")]),
        )
    };
    // The first holds the applier; the second fills the queue.
    let first = send("q-1", "E2E-Q1");
    wait_for_lock_waiters(&server, 1).await;
    let second = send("q-2", "E2E-Q2");
    // Sequencing only (no timing is asserted): the second reaches the queue.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut client = LedgerServiceClient::new(channel.clone());
    let third = tokio::time::timeout(
        Duration::from_secs(5),
        client.submit_payment(submit(
            TOKEN_A,
            "q-3",
            pacs008("MSG-q-3", &[("E2E-Q3", "1.00")]),
        )),
    )
    .await
    .expect("refused at once, not queued")
    .expect_err("the queue is full");
    assert_retryable(&third, Code::ResourceExhausted, "QUEUE_FULL");
    lock.release().await;
    for request in [first, second] {
        let answer = request.await.unwrap().unwrap().into_inner();
        assert_eq!(answer.results[0].outcome(), Outcome::Applied);
    }
    server.shut_down().await;
}
