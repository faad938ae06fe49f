//! Hostile XML through the service: every shape the codec refuses by its limits
//! (`iso20022/benches/hostile.rs`) is INVALID_ARGUMENT over gRPC with nothing written and
//! the connection still serving, and refused by `ledger ingest` with nothing applied.

#[path = "../../iso20022/benches/hostile.rs"]
mod hostile;

use std::process::{Command, Stdio};
use std::time::Duration;

use hostile::Shape;
use ledger::model::OverdraftRule;
use ledger::LedgerOptions;
use ledger_api::grpc::auth::Tokens;
use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::grpc::proto::{self, Outcome};
use ledger_api::server::{self, ServerConfig};
use ledger_system_tests::fixtures::open;
use ledger_system_tests::{invariants, TestDatabase};
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Request};

const TOKEN_A: &str = "token-a-0123456789abcdef";
const DEBTOR_IBAN: &str = "DE89370400440532013000";
const CREDITOR_IBAN: &str = "FR1420041010050500013M02606";

/// Each hostile shape at its reported size, and the rule its refusal names.
fn hostile_documents() -> Vec<(Shape, Vec<u8>, &'static str)> {
    Shape::ALL
        .iter()
        .map(|&shape| {
            let rule = match shape {
                Shape::AttributesOnDocument
                | Shape::AttributesOnGroupHeader
                | Shape::NamespaceDeclarations => "MAX_ATTRIBUTES",
                Shape::LongAttributeValue => "MAX_START_TAG_BYTES",
                Shape::NestedElements => "MAX_DEPTH",
                Shape::DistinctPrefixes => "unexpected element {urn:p0}X",
            };
            (
                shape,
                hostile::document(shape, shape.reported_count()),
                rule,
            )
        })
        .collect()
}

/// A database with the two accounts of the valid pacs.008 below.
async fn database() -> TestDatabase {
    let db = TestDatabase::create(LedgerOptions::default()).await;
    for (reference, overdraft) in [
        (DEBTOR_IBAN, OverdraftRule::Unrestricted),
        (CREDITOR_IBAN, OverdraftRule::DebitsMustNotExceedCredits),
    ] {
        db.ledger
            .open_account(&open(reference, "EUR", overdraft))
            .await
            .unwrap();
    }
    db
}

async fn count(db: &TestDatabase, table: &str) -> i64 {
    invariants::count(&db.client().await, table).await
}

async fn assert_nothing_written(db: &TestDatabase, context: &str) {
    for table in ["payments", "transfers", "outbox", "idempotency_records"] {
        assert_eq!(count(db, table).await, 0, "rows in {table} after {context}");
    }
}

struct TestServer {
    database: TestDatabase,
    address: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    async fn start() -> TestServer {
        let db = database().await;
        let (listener, address) = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let config = ServerConfig {
            tokens: Tokens::parse(&format!("bank-a={TOKEN_A}")).unwrap(),
            health_check_interval_ms: 50,
            ..ServerConfig::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, db.ledger.clone(), config, async {
            let _ = stopped.await;
        }));
        TestServer {
            database: db,
            address,
            stop: Some(stop),
            task,
        }
    }

    async fn client(&self) -> LedgerServiceClient<Channel> {
        for _ in 0..50 {
            if let Ok(channel) = Channel::from_shared(format!("http://{}", self.address))
                .unwrap()
                .connect()
                .await
            {
                return LedgerServiceClient::new(channel);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server did not come up");
    }

    async fn shut_down(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

fn submit(key: &str, document: Vec<u8>) -> Request<proto::SubmitPaymentRequest> {
    let mut request = Request::new(proto::SubmitPaymentRequest {
        document,
        idempotency_key: key.to_owned(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN_A}").parse().unwrap(),
    );
    request
}

/// A valid pacs.008.001.08 with one transaction between the two accounts.
fn valid_pacs008(message_id: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><FIToFICstmrCdtTrf>\
         <GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-27T10:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs>\
         <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>\
         <CdtTrfTxInf><PmtId><InstrId>I-{message_id}</InstrId><EndToEndId>E2E-{message_id}</EndToEndId></PmtId>\
         <IntrBkSttlmAmt Ccy=\"EUR\">1.00</IntrBkSttlmAmt><IntrBkSttlmDt>2026-11-27</IntrBkSttlmDt><ChrgBr>SHAR</ChrgBr>\
         <InstgAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstgAgt>\
         <InstdAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></InstdAgt>\
         <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{DEBTOR_IBAN}</IBAN></Id></DbtrAcct>\
         <DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>\
         <CdtrAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></CdtrAgt>\
         <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><IBAN>{CREDITOR_IBAN}</IBAN></Id></CdtrAcct></CdtTrfTxInf>\
         </FIToFICstmrCdtTrf></Document>"
    )
    .into_bytes()
}

#[tokio::test]
async fn every_hostile_document_is_invalid_argument_writes_nothing_and_the_connection_keeps_serving(
) {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    for (index, (shape, document, rule)) in hostile_documents().into_iter().enumerate() {
        let status = client
            .submit_payment(submit(&format!("hostile-{index}"), document))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{shape:?}: {status:?}"
        );
        assert!(
            status.message().contains(rule)
                || format!("{:?}", status.details()).contains(rule)
                || String::from_utf8_lossy(status.details()).contains(rule),
            "{shape:?}: {rule} not named in {status:?}"
        );
        assert_nothing_written(&server.database, &format!("{shape:?}")).await;
    }
    // the same connection still serves a valid request
    let response = client
        .submit_payment(submit("valid", valid_pacs008("MSG-VALID")))
        .await
        .unwrap()
        .into_inner();
    let outcomes: Vec<Outcome> = response.results.iter().map(|r| r.outcome()).collect();
    assert_eq!(outcomes, vec![Outcome::Applied], "{response:?}");
    assert_eq!(count(&server.database, "payments").await, 1);
    server.shut_down().await;
}

#[tokio::test]
async fn every_hostile_document_is_refused_by_ledger_ingest_and_nothing_is_applied() {
    let db = database().await;
    let directory = tempfile::tempdir().unwrap();
    for (shape, document, rule) in hostile_documents() {
        let file = directory.path().join(format!("{shape:?}.xml"));
        std::fs::write(&file, &document).unwrap();
        let database_url = ledger_system_tests::database_url(&db.config);
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_ledger"))
                .arg("ingest")
                .arg(&file)
                .env("DATABASE_URL", database_url)
                .env_remove("LEDGER_DATA_DIR")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{shape:?}: {output:?}");
        // ingest reads through an 8 KiB-or-more buffer: a token over MAX_TOKEN_BYTES is
        // cut off by the input guard before the start-tag limit sees it
        assert!(
            stderr.contains(rule) || stderr.contains("MAX_TOKEN_BYTES"),
            "{shape:?}: {rule} not named in {stderr}"
        );
        assert_nothing_written(&db, &format!("ingest of {shape:?}")).await;
    }
}
