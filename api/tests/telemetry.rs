//! Traces as an operator's collector sees them: `ledger serve
//! --otlp-endpoint` exports its spans over OTLP/gRPC to a receiver that
//! this test runs in-process (the OTLP TraceService, from
//! `opentelemetry-proto`), and a payment submitted over gRPC shows up there
//! as the request's span with its RPC, the payment's span under it and the
//! database transaction with its attempt; never the client's token. A bad
//! endpoint stops `serve` at start, naming the setting; a collector that is
//! down costs traces, never payments.

#[path = "support/server.rs"]
mod test_server;

use test_server::*;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ledger::LedgerOptions;
use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::grpc::proto::Outcome;
use ledger_api::serving_line::wait_for_serving_address;
use ledger_system_tests::database_url;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use tokio::time::Instant;

/// How long the spans may take to arrive (the batch processor sends every
/// `OTEL_BSP_SCHEDULE_DELAY`, set to 100 ms here).
const SPANS_WAIT_MAX: Duration = Duration::from_secs(30);

/// One exported span, flattened: its name, its attributes as text, and its
/// resource's `service.name`.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    name: String,
    attributes: Vec<(String, String)>,
    service_name: String,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

impl ReceivedSpan {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

fn text_of(value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.as_ref().and_then(|value| value.value.as_ref()) {
        Some(Value::StringValue(text)) => text.clone(),
        Some(Value::IntValue(number)) => number.to_string(),
        Some(Value::BoolValue(flag)) => flag.to_string(),
        Some(Value::DoubleValue(number)) => number.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|attribute| (attribute.key.clone(), text_of(&attribute.value)))
        .collect()
}

/// The OTLP receiver: keeps every span it is sent.
#[derive(Debug, Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service_name = resource_spans
                .resource
                .as_ref()
                .map(|resource| pairs(&resource.attributes))
                .unwrap_or_default()
                .into_iter()
                .find(|(key, _)| key == "service.name")
                .map(|(_, value)| value)
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    spans.push(ReceivedSpan {
                        name: span.name.clone(),
                        attributes: pairs(&span.attributes),
                        service_name: service_name.clone(),
                        span_id: span.span_id.clone(),
                        parent_span_id: span.parent_span_id.clone(),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Receiver {
    /// Serves the TraceService on a free loopback port until the test ends.
    async fn start() -> (Receiver, SocketAddr) {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(receiver.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        (receiver, address)
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until `found` picks something out of the spans received.
    async fn wait_for<T>(&self, what: &str, found: impl Fn(&[ReceivedSpan]) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(value) = found(&self.spans()) {
                return value;
            }
            assert!(
                started.elapsed() < SPANS_WAIT_MAX,
                "no {what} among the spans received: {:#?}",
                self.spans()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `ledger serve` on `database`, killed when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(database_url: String, otlp_endpoint: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--otlp-endpoint",
                otlp_endpoint,
            ])
            .env("DATABASE_URL", database_url)
            .env("LEDGER_TOKENS", format!("bank-a={TOKEN_A}"))
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env_remove("RUST_LOG")
            .env_remove("LEDGER_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let address =
            wait_for_serving_address(child.stdout.take().unwrap(), Duration::from_secs(60))
                .expect("the server says where it listens");
        Server { child, address }
    }

    async fn client(&self) -> LedgerServiceClient<tonic::transport::Channel> {
        LedgerServiceClient::connect(format!("http://{}", self.address))
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_submitted_payment_reaches_the_collector_as_spans_named_after_its_rpc() {
    let (receiver, receiver_address) = Receiver::start().await;
    let database = database_with_accounts(LedgerOptions::default()).await;
    let server = Server::start(
        database_url(&database.config),
        &format!("http://{receiver_address}"),
    );
    let mut client = server.client().await;
    let response = client
        .submit_payment(submit(
            TOKEN_A,
            "traced-1",
            pacs008("MSG-TRACED", &[("E2E-TRACED", "12.50")]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.results[0].outcome(), Outcome::Applied);

    let request = receiver
        .wait_for("request span of SubmitPayment", |spans| {
            spans
                .iter()
                .find(|span| {
                    span.name == "grpc"
                        && span.attribute("path") == Some("/ledger.v1.LedgerService/SubmitPayment")
                })
                .cloned()
        })
        .await;
    assert_eq!(request.service_name, "ledger");
    assert_eq!(request.attribute("client_id"), Some("bank-a"));
    let payment = receiver
        .wait_for("submit_payment span", |spans| {
            spans
                .iter()
                .find(|span| span.name == "submit_payment")
                .cloned()
        })
        .await;
    assert_eq!(payment.parent_span_id, request.span_id, "{payment:#?}");
    assert_eq!(payment.attribute("idempotency_key"), Some("traced-1"));
    let transaction = receiver
        .wait_for("db_transaction span", |spans| {
            spans
                .iter()
                .find(|span| span.name == "db_transaction")
                .cloned()
        })
        .await;
    assert_eq!(
        transaction.attribute("attempt"),
        Some("1"),
        "{transaction:#?}"
    );

    for span in receiver.spans() {
        for (key, value) in &span.attributes {
            assert!(
                !value.contains(TOKEN_A),
                "span {} carries the token in {key}",
                span.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn payments_are_answered_while_the_collector_is_down() {
    // A port nothing listens on: exports fail, the server does not.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let database = database_with_accounts(LedgerOptions::default()).await;
    let server = Server::start(
        database_url(&database.config),
        &format!("http://127.0.0.1:{closed_port}"),
    );
    let mut client = server.client().await;
    for index in 0..3 {
        let response = client
            .submit_payment(submit(
                TOKEN_A,
                &format!("untraced-{index}"),
                pacs008(
                    &format!("MSG-U{index}"),
                    &[(&format!("E2E-U{index}"), "1.00")],
                ),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.results[0].outcome(), Outcome::Applied);
    }
}

#[test]
fn an_otlp_endpoint_without_a_scheme_stops_serve_at_start_naming_the_setting() {
    for (endpoint, problem) in [
        ("127.0.0.1:4317", "must be an http:// URL"),
        ("https://collector.example:4317", "must be an http:// URL"),
        ("http://", "must be an http:// URL with a host"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--otlp-endpoint",
                endpoint,
            ])
            .env("LEDGER_TOKENS", format!("bank-a={TOKEN_A}"))
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .env_remove("LEDGER_CONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{endpoint}: {stderr}");
        assert!(
            stderr.contains(&format!("setting `otlp_endpoint` = {endpoint:?}"))
                && stderr.contains(problem),
            "{endpoint}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{endpoint}: nothing served");
    }
}
