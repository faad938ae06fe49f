//! Two `ledger serve` processes on one database, each with its own group
//! commit applier, and every request sent to both at once: each payment is
//! applied exactly once, every answer is the first answer or its replay (a
//! duplicate waits for the database's writer lock, then finds the record),
//! and the audit is clean.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ledger::model::OverdraftRule;
use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::grpc::proto::{self, Outcome};
use ledger_api::serving_line::wait_for_serving_address;
use ledger_system_tests::fixtures::open;
use ledger_system_tests::{database_url, invariants, TestDatabase};
use tonic::transport::Channel;

const TOKEN: &str = "two-servers-token-0123456789";
const PAYMENTS: usize = 60;

struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(db: &TestDatabase) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", database_url(&db.config))
            .env("LEDGER_TOKENS", format!("bank-a={TOKEN}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ledger serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let address = wait_for_serving_address(stdout, Duration::from_secs(60))
            .expect("the server says where it listens");
        Server { child, address }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pacs008(number: usize) -> Vec<u8> {
    format!(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><FIToFICstmrCdtTrf>\
         <GrpHdr><MsgId>M-{number}</MsgId><CreDtTm>2026-11-30T10:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs>\
         <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>\
         <CdtTrfTxInf><PmtId><InstrId>I-{number}</InstrId><EndToEndId>E-{number}</EndToEndId></PmtId>\
         <IntrBkSttlmAmt Ccy=\"EUR\">1.00</IntrBkSttlmAmt><ChrgBr>SHAR</ChrgBr>\
         <InstgAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstgAgt>\
         <InstdAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></InstdAgt>\
         <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><Othr><Id>DEBTOR-{account}</Id></Othr></Id></DbtrAcct>\
         <DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>\
         <CdtrAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></CdtrAgt>\
         <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><Othr><Id>HOT</Id></Othr></Id></CdtrAcct>\
         </CdtTrfTxInf></FIToFICstmrCdtTrf></Document>",
        account = number % 4,
    )
    .into_bytes()
}

fn submit(key: &str, document: Vec<u8>) -> tonic::Request<proto::SubmitPaymentRequest> {
    let mut request = tonic::Request::new(proto::SubmitPaymentRequest {
        document,
        idempotency_key: key.to_owned(),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

/// Sends the request once: with one writer per database, neither server
/// ever refuses a duplicate the other is applying; it waits for it.
async fn answer(channel: Channel, key: String, document: Vec<u8>) -> proto::SubmitPaymentResponse {
    let mut client = LedgerServiceClient::new(channel);
    match client.submit_payment(submit(&key, document)).await {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("{key} was refused: {status:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_apply_each_request_sent_to_both_exactly_once() {
    let db = TestDatabase::with_defaults().await;
    for (reference, overdraft) in [
        ("DEBTOR-0", OverdraftRule::Unrestricted),
        ("DEBTOR-1", OverdraftRule::Unrestricted),
        ("DEBTOR-2", OverdraftRule::Unrestricted),
        ("DEBTOR-3", OverdraftRule::Unrestricted),
        ("HOT", OverdraftRule::Unrestricted),
    ] {
        db.ledger
            .open_account(&open(reference, "EUR", overdraft))
            .await
            .unwrap();
    }
    let first = Server::start(&db);
    let second = Server::start(&db);
    let (channel_a, channel_b) = (first.channel().await, second.channel().await);

    let tasks: Vec<_> = (0..PAYMENTS)
        .flat_map(|number| {
            let key = format!("K-{number}");
            let document = pacs008(number);
            [channel_a.clone(), channel_b.clone()]
                .map(|channel| tokio::spawn(answer(channel, key.clone(), document.clone())))
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    // Per payment: both answers carry the same result, at most one is first.
    for pair in answers.chunks(2) {
        assert_eq!(pair[0].results, pair[1].results);
        assert_eq!(pair[0].results[0].outcome(), Outcome::Applied);
        assert!(pair[0].replay || pair[1].replay, "applied twice: {pair:?}");
    }
    let client = db.client().await;
    assert_eq!(
        invariants::count(&client, "payments").await,
        PAYMENTS as i64
    );
    assert_eq!(
        invariants::count(&client, "transfers").await,
        PAYMENTS as i64
    );
    let violations = invariants::violations(&client).await;
    assert!(violations.is_empty(), "{violations:#?}");
    let audit = db.ledger.audit(None).await.unwrap();
    assert!(audit.is_clean(), "{:?}", audit.discrepancies);
}
