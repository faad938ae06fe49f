//! A gRPC server on a fresh test database with two accounts (an unrestricted
//! debtor, a creditor that forbids overdraft), and the requests the tests send
//! it: shared by the test binaries that talk to the API over TCP.

// Each test binary uses the part it needs.
#![allow(dead_code)]

use std::time::Duration;

use ledger::model::OverdraftRule;
use ledger::LedgerOptions;
use ledger_api::grpc::auth::Tokens;
use ledger_api::grpc::proto;
use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::server::{self, ServerConfig};
use ledger_system_tests::fixtures::open;
use ledger_system_tests::TestDatabase;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::Request;

pub const TOKEN_A: &str = "token-a-0123456789abcdef";
pub const TOKEN_B: &str = "token-b-0123456789abcdef";
pub const DEBTOR_IBAN: &str = "DE89370400440532013000";
pub const CREDITOR_IBAN: &str = "FR1420041010050500013M02606";

/// A fresh database with the two accounts: `DEBTOR_IBAN` (unrestricted) and
/// `CREDITOR_IBAN` (forbids overdraft), both EUR.
pub async fn database_with_accounts(options: LedgerOptions) -> TestDatabase {
    let db = TestDatabase::create(options).await;
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

pub struct TestServer {
    /// The server's database; kept alive (with its pool) as long as the server.
    pub database: TestDatabase,
    pub address: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> TestServer {
        TestServer::start_with_options(config, LedgerOptions::default()).await
    }

    pub async fn start_with_options(config: ServerConfig, options: LedgerOptions) -> TestServer {
        let db = database_with_accounts(options).await;
        let (listener, address) = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        // bank-a administers too; bank-b has the older form's defaults
        // (submit and read, every account). A config with tokens keeps its own.
        let tokens = if config.tokens.is_empty() {
            Tokens::parse(&format!(
                "bank-a={TOKEN_A} roles=submit,read,admin\nbank-b={TOKEN_B}"
            ))
            .unwrap()
        } else {
            config.tokens.clone()
        };
        let config = ServerConfig {
            tokens,
            health_check_interval_ms: 50,
            ..config
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

    pub async fn channel(&self) -> Channel {
        for _ in 0..50 {
            if let Ok(channel) = Channel::from_shared(format!("http://{}", self.address))
                .unwrap()
                .connect()
                .await
            {
                return channel;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server did not come up");
    }

    pub async fn client(&self) -> LedgerServiceClient<Channel> {
        LedgerServiceClient::new(self.channel().await)
    }

    pub async fn shut_down(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

pub fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A pacs.008.001.08 with one transaction per (end-to-end id, amount).
pub fn pacs008(message_id: &str, transactions: &[(&str, &str)]) -> Vec<u8> {
    let mut body = String::new();
    for (index, (end_to_end_id, amount)) in transactions.iter().enumerate() {
        body.push_str(&format!(
            "<CdtTrfTxInf><PmtId><InstrId>I-{message_id}-{index}</InstrId><EndToEndId>{end_to_end_id}</EndToEndId></PmtId>\
             <IntrBkSttlmAmt Ccy=\"EUR\">{amount}</IntrBkSttlmAmt><IntrBkSttlmDt>2026-11-27</IntrBkSttlmDt><ChrgBr>SHAR</ChrgBr>\
             <InstgAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstgAgt>\
             <InstdAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></InstdAgt>\
             <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{DEBTOR_IBAN}</IBAN></Id></DbtrAcct>\
             <DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>\
             <CdtrAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></CdtrAgt>\
             <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><IBAN>{CREDITOR_IBAN}</IBAN></Id></CdtrAcct></CdtTrfTxInf>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><FIToFICstmrCdtTrf>\
         <GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-27T10:00:00Z</CreDtTm><NbOfTxs>{}</NbOfTxs>\
         <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>{body}</FIToFICstmrCdtTrf></Document>",
        transactions.len()
    )
    .into_bytes()
}

pub fn submit(token: &str, key: &str, document: Vec<u8>) -> Request<proto::SubmitPaymentRequest> {
    authed(
        token,
        proto::SubmitPaymentRequest {
            document,
            idempotency_key: key.to_owned(),
            ..Default::default()
        },
    )
}
