//! Holds over the API: when a submitted document's credit transfers settle
//! (at once, or on confirmation), chosen by the message, the request or the
//! client's configuration, and part of what the request asked for.

#[path = "support/ledger_binary.rs"]
mod ledger_binary;
#[path = "support/server.rs"]
mod test_server;

use ledger_api::grpc::auth::Tokens;
use ledger_api::grpc::proto;
use ledger_api::server::ServerConfig;
use ledger_api::serving_line::wait_for_serving_address;
use ledger_binary::ledger_binary;
use test_server::*;
use tonic::Code;

const TOKEN_PSP: &str = "token-psp-0123456789abcdef";

fn pain001(message_id: &str, end_to_end_id: &str) -> Vec<u8> {
    format!(
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn>
<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-30T10:00:00</CreDtTm><NbOfTxs>1</NbOfTxs>
<InitgPty><Id><OrgId><BICOrBEI>BANKDEFFXXX</BICOrBEI></OrgId></Id></InitgPty></GrpHdr>
<PmtInf><PmtInfId>BATCH-1</PmtInfId><PmtMtd>TRF</PmtMtd><ReqdExctnDt>2026-11-30</ReqdExctnDt>
<Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{DEBTOR_IBAN}</IBAN></Id></DbtrAcct>
<DbtrAgt><FinInstnId><BIC>BANKDEFFXXX</BIC></FinInstnId></DbtrAgt>
<CdtTrfTxInf><PmtId><InstrId>I-{end_to_end_id}</InstrId><EndToEndId>{end_to_end_id}</EndToEndId></PmtId>
<Amt><InstdAmt Ccy="EUR">25.00</InstdAmt></Amt>
<CdtrAgt><FinInstnId><BIC>BANKFRPPXXX</BIC></FinInstnId></CdtrAgt>
<Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><IBAN>{CREDITOR_IBAN}</IBAN></Id></CdtrAcct>
</CdtTrfTxInf></PmtInf></CstmrCdtTrfInitn></Document>"#
    )
    .into_bytes()
}

fn with_settlement(
    token: &str,
    key: &str,
    document: Vec<u8>,
    settlement: proto::Settlement,
) -> tonic::Request<proto::SubmitPaymentRequest> {
    let mut request = submit(token, key, document);
    request.get_mut().settlement = settlement as i32;
    request
}

async fn state_after(
    client: &mut proto::ledger_service_client::LedgerServiceClient<tonic::transport::Channel>,
    request: tonic::Request<proto::SubmitPaymentRequest>,
) -> proto::PaymentState {
    let response = client.submit_payment(request).await.unwrap().into_inner();
    assert_eq!(response.results.len(), 1);
    let result = &response.results[0];
    assert_eq!(result.outcome(), proto::Outcome::Applied, "{result:?}");
    result.state()
}

#[tokio::test]
async fn a_pain001_is_held_and_a_pacs008_settles_unless_the_request_says_otherwise() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let held = state_after(
        &mut client,
        submit(TOKEN_A, "p1", pain001("PAIN-1", "E2E-1")),
    )
    .await;
    assert_eq!(held, proto::PaymentState::Pending);
    let settled = state_after(
        &mut client,
        submit(TOKEN_A, "p2", pacs008("P008-2", &[("E2E-2", "25.00")])),
    )
    .await;
    assert_eq!(settled, proto::PaymentState::Settled);
    let at_once = state_after(
        &mut client,
        with_settlement(
            TOKEN_A,
            "p3",
            pain001("PAIN-3", "E2E-3"),
            proto::Settlement::Immediate,
        ),
    )
    .await;
    assert_eq!(at_once, proto::PaymentState::Settled);
    let on_confirmation = state_after(
        &mut client,
        with_settlement(
            TOKEN_A,
            "p4",
            pacs008("P008-4", &[("E2E-4", "25.00")]),
            proto::Settlement::OnConfirmation,
        ),
    )
    .await;
    assert_eq!(on_confirmation, proto::PaymentState::Pending);
    let account = client
        .get_account(authed(
            TOKEN_A,
            proto::GetAccountRequest {
                key: Some(proto::get_account_request::Key::ExternalReference(
                    DEBTOR_IBAN.to_owned(),
                )),
                as_of: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        account.debits_pending, "50.00",
        "two holds reserve 2 x 25.00"
    );
    assert_eq!(account.debits_posted, "50.00");
    assert_eq!(
        account.available, "-100.00",
        "posted credits less posted and pending debits"
    );
    server.shut_down().await;
}

#[tokio::test]
async fn the_settlement_is_part_of_the_request_so_another_choice_under_the_same_key_is_refused() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let document = pain001("PAIN-K", "E2E-K");
    state_after(&mut client, submit(TOKEN_A, "same-key", document.clone())).await;
    let replay = client
        .submit_payment(with_settlement(
            TOKEN_A,
            "same-key",
            document.clone(),
            proto::Settlement::OnConfirmation,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        replay.replay,
        "the default for a pain.001 is the same choice"
    );
    let other = client
        .submit_payment(with_settlement(
            TOKEN_A,
            "same-key",
            document,
            proto::Settlement::Immediate,
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::AlreadyExists, "{other:?}");
    let unknown = client
        .submit_payment({
            let mut request = submit(TOKEN_A, "unknown", pain001("PAIN-U", "E2E-U"));
            request.get_mut().settlement = 7;
            request
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    server.shut_down().await;
}

#[tokio::test]
async fn a_client_configured_to_settle_at_once_settles_its_pain001_unless_a_request_says_otherwise()
{
    let server = TestServer::start_with(ServerConfig {
        tokens: Tokens::parse(&format!(
            "psp={TOKEN_PSP} settlement=immediate\nbank-a={TOKEN_A}"
        ))
        .unwrap(),
        ..ServerConfig::default()
    })
    .await;
    let mut client = server.client().await;
    let psp = state_after(
        &mut client,
        submit(TOKEN_PSP, "k1", pain001("PAIN-P", "E2E-P")),
    )
    .await;
    assert_eq!(psp, proto::PaymentState::Settled);
    let held_by_request = state_after(
        &mut client,
        with_settlement(
            TOKEN_PSP,
            "k2",
            pain001("PAIN-Q", "E2E-Q"),
            proto::Settlement::OnConfirmation,
        ),
    )
    .await;
    assert_eq!(held_by_request, proto::PaymentState::Pending);
    let other_client = state_after(
        &mut client,
        submit(TOKEN_A, "k3", pain001("PAIN-R", "E2E-R")),
    )
    .await;
    assert_eq!(other_client, proto::PaymentState::Pending);
    server.shut_down().await;
}

#[tokio::test]
async fn expire_holds_from_the_command_line_rejects_the_holds_older_than_asked() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let held = state_after(
        &mut client,
        submit(TOKEN_A, "h1", pain001("PAIN-X", "E2E-X")),
    )
    .await;
    assert_eq!(held, proto::PaymentState::Pending);
    let database_url = ledger_system_tests::database_url(&server.database.config);
    let expire = |older_than: &str| {
        ledger_binary(
            database_url.clone(),
            ["expire-holds", "--older-than", older_than]
                .map(String::from)
                .to_vec(),
        )
    };
    let young = expire("1h").await;
    assert_eq!(young.code, 0, "{}", young.stderr);
    assert!(young.stdout.contains("expired 0 holds"), "{}", young.stdout);
    let old = expire("0s").await;
    assert_eq!(old.code, 0, "{}", old.stderr);
    assert!(old.stdout.contains("expired 1 holds"), "{}", old.stdout);
    let payment = client
        .get_payment(authed(
            TOKEN_A,
            proto::GetPaymentRequest {
                key: Some(proto::get_payment_request::Key::PaymentId(1)),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(payment.state(), proto::PaymentState::Rejected);
    server.shut_down().await;
}

#[tokio::test]
async fn serve_expires_a_hold_nobody_confirmed_on_its_own() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let db = database_with_accounts(ledger::LedgerOptions::default()).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args([
            "--hold-expiry",
            "1s",
            "--hold-expiry-check-interval-seconds",
            "1",
        ])
        .env(
            "DATABASE_URL",
            ledger_system_tests::database_url(&db.config),
        )
        .env("LEDGER_TOKENS", format!("bank-a={TOKEN_A}"))
        .env_remove("LEDGER_DATA_DIR")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let address = wait_for_serving_address(child.stdout.take().unwrap(), Duration::from_secs(60))
        .expect("the server says where it listens");
    let mut client =
        proto::ledger_service_client::LedgerServiceClient::connect(format!("http://{address}"))
            .await
            .unwrap();
    let held = state_after(
        &mut client,
        submit(TOKEN_A, "h1", pain001("PAIN-S", "E2E-S")),
    )
    .await;
    assert_eq!(held, proto::PaymentState::Pending);
    let started = Instant::now();
    let state = loop {
        let payment = client
            .get_payment(authed(
                TOKEN_A,
                proto::GetPaymentRequest {
                    key: Some(proto::get_payment_request::Key::PaymentId(1)),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        if payment.state() != proto::PaymentState::Pending
            || started.elapsed() > Duration::from_secs(30)
        {
            break payment.state();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(state, proto::PaymentState::Rejected, "the hold expired");
}
