//! Status reports (pacs.002) and returns (pacs.004) find the payment they
//! are about, for every pairing of original and follow-up (docs/semantics.md,
//! "Business key"): by UETR; a pacs.008 by its instructing agent and ids; a
//! pain.001 by the reference it recorded (OrgnlMsgId, OrgnlInstrId,
//! OrgnlEndToEndId). Each document goes through the codec and the same
//! conversion the gRPC API and the ingest use, and is applied to a real
//! ledger; partial returns also over the wire, through the gRPC API.

#[path = "support/server.rs"]
mod test_server;

use ledger::model::{Outcome, OverdraftRule, PaymentState, RejectionReason};
use ledger::{ApplyCommand, Receipt};
use ledger_system_tests::fixtures::open;
use ledger_system_tests::TestDatabase;

const DEBTOR_IBAN: &str = "DE89370400440532013000";
const CREDITOR_IBAN: &str = "FR1420041010050500013M02606";
const UETR: &str = "2f0c8a7e-5b3d-4c1a-9e6f-0a1b2c3d4e5f";

async fn ledger_with_accounts() -> TestDatabase {
    let db = TestDatabase::with_defaults().await;
    for reference in [DEBTOR_IBAN, CREDITOR_IBAN] {
        db.ledger
            .open_account(&open(reference, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
    db
}

/// Applies every transaction of `document` as one request under `key`.
async fn apply(db: &TestDatabase, key: &str, document: &str) -> Vec<Receipt> {
    let parsed = iso20022::parse_document(document.as_bytes())
        .unwrap_or_else(|error| panic!("{error}\n{document}"));
    let messages = parsed
        .transactions
        .iter()
        .filter_map(|transaction| {
            ledger_api::convert::payment_message(&parsed.kind, &parsed.group_header, transaction)
                .unwrap_or_else(|errors| panic!("{errors:?}"))
        })
        .collect();
    let command = ApplyCommand::new(
        ledger::model::ClientId::parse("bank-a").unwrap(),
        ledger::model::IdempotencyKey::parse(key).unwrap(),
        messages,
    );
    db.ledger.apply(&command).await.unwrap().receipts
}

fn optional(element: &str, value: Option<&str>) -> String {
    value.map_or(String::new(), |value| {
        format!("<{element}>{value}</{element}>")
    })
}

fn agent(element: &str, bic: &str) -> String {
    format!("<{element}><FinInstnId><BICFI>{bic}</BICFI></FinInstnId></{element}>")
}

fn pacs008(instruction_id: Option<&str>, end_to_end_id: &str, uetr: Option<&str>) -> String {
    format!(
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"><FIToFICstmrCdtTrf>
<GrpHdr><MsgId>P008-1</MsgId><CreDtTm>2026-11-30T10:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs>
<SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>
<CdtTrfTxInf><PmtId>{instruction}<EndToEndId>{end_to_end_id}</EndToEndId>{uetr}</PmtId>
<IntrBkSttlmAmt Ccy="EUR">100.00</IntrBkSttlmAmt><ChrgBr>SHAR</ChrgBr>
{instructing}{instructed}
<Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{DEBTOR_IBAN}</IBAN></Id></DbtrAcct>
{debtor_agent}{creditor_agent}
<Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><IBAN>{CREDITOR_IBAN}</IBAN></Id></CdtrAcct>
</CdtTrfTxInf></FIToFICstmrCdtTrf></Document>"#,
        instruction = optional("InstrId", instruction_id),
        uetr = optional("UETR", uetr),
        instructing = agent("InstgAgt", "BANKDEFFXXX"),
        instructed = agent("InstdAgt", "BANKFRPPXXX"),
        debtor_agent = agent("DbtrAgt", "BANKDEFFXXX"),
        creditor_agent = agent("CdtrAgt", "BANKFRPPXXX"),
    )
}

/// A pain.001.001.03 whose initiating party is known by name only, with one
/// transaction per end-to-end id given.
fn pain001(message_id: &str, instruction_id: Option<&str>, end_to_end_ids: &[&str]) -> String {
    let transactions: String = end_to_end_ids
        .iter()
        .map(|end_to_end_id| {
            format!(
                r#"<CdtTrfTxInf><PmtId>{instruction}<EndToEndId>{end_to_end_id}</EndToEndId></PmtId>
<Amt><InstdAmt Ccy="EUR">100.00</InstdAmt></Amt>
<CdtrAgt><FinInstnId><BIC>BANKFRPPXXX</BIC></FinInstnId></CdtrAgt>
<Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><IBAN>{CREDITOR_IBAN}</IBAN></Id></CdtrAcct>
</CdtTrfTxInf>"#,
                instruction = optional("InstrId", instruction_id),
            )
        })
        .collect();
    format!(
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn>
<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-30T10:00:00</CreDtTm><NbOfTxs>{count}</NbOfTxs>
<InitgPty><Nm>Initiator Name</Nm></InitgPty></GrpHdr>
<PmtInf><PmtInfId>BATCH-1</PmtInfId><PmtMtd>TRF</PmtMtd><ReqdExctnDt>2026-11-30</ReqdExctnDt>
<Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{DEBTOR_IBAN}</IBAN></Id></DbtrAcct>
<DbtrAgt><FinInstnId><BIC>BANKDEFFXXX</BIC></FinInstnId></DbtrAgt>
{transactions}</PmtInf></CstmrCdtTrfInitn></Document>"#,
        count = end_to_end_ids.len(),
    )
}

/// How a follow-up names its original.
struct Original<'a> {
    message_id: &'a str,
    message_name_id: &'a str,
    instruction_id: Option<&'a str>,
    end_to_end_id: Option<&'a str>,
    uetr: Option<&'a str>,
}

/// `OrgnlGrpInf` and the original's ids, as both follow-ups write them.
fn original_elements(original: &Original<'_>) -> String {
    format!(
        "<OrgnlGrpInf><OrgnlMsgId>{}</OrgnlMsgId><OrgnlMsgNmId>{}</OrgnlMsgNmId></OrgnlGrpInf>{}{}{}",
        original.message_id,
        original.message_name_id,
        optional("OrgnlInstrId", original.instruction_id),
        optional("OrgnlEndToEndId", original.end_to_end_id),
        optional("OrgnlUETR", original.uetr),
    )
}

fn pacs002(original: &Original<'_>, status: &str) -> String {
    format!(
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"><FIToFIPmtStsRpt>
<GrpHdr><MsgId>P002-1</MsgId><CreDtTm>2026-11-30T11:00:00Z</CreDtTm></GrpHdr>
<TxInfAndSts>{original}<TxSts>{status}</TxSts>
{instructing}{instructed}</TxInfAndSts></FIToFIPmtStsRpt></Document>"#,
        original = original_elements(original),
        instructing = agent("InstgAgt", "BANKFRPPXXX"),
        instructed = agent("InstdAgt", "BANKDEFFXXX"),
    )
}

fn pacs004(original: &Original<'_>, amount: &str) -> String {
    pacs004_under(original, "RTR-1", amount)
}

/// A pacs.004 whose return is `RtrId` `return_id`.
fn pacs004_under(original: &Original<'_>, return_id: &str, amount: &str) -> String {
    format!(
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.004.001.09"><PmtRtr>
<GrpHdr><MsgId>P004-1</MsgId><CreDtTm>2026-11-30T12:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs>
<SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>
<TxInf><RtrId>{return_id}</RtrId>{original}<RtrdIntrBkSttlmAmt Ccy="EUR">{amount}</RtrdIntrBkSttlmAmt>
{instructing}{instructed}<RtrRsnInf><Rsn><Cd>AC04</Cd></Rsn></RtrRsnInf></TxInf></PmtRtr></Document>"#,
        original = original_elements(original),
        instructing = agent("InstgAgt", "BANKFRPPXXX"),
        instructed = agent("InstdAgt", "BANKDEFFXXX"),
    )
}

/// Creates the originals, then checks that a pacs.002 `PDNG` (an earlier
/// state: already applied) and a pacs.004 of the whole amount (applied)
/// both land on the `which`-th of them, and that it ends RETURNED.
async fn assert_follow_ups_find(original_document: &str, which: usize, original: Original<'_>) {
    let db = ledger_with_accounts().await;
    let created = apply(&db, "original", original_document).await;
    assert!(
        created
            .iter()
            .all(|receipt| receipt.outcome == Outcome::Applied),
        "{created:?}"
    );
    let created = &created[which..];
    let payment_id = created[0].payment_id;

    let status = apply(&db, "status", &pacs002(&original, "PDNG")).await;
    assert_eq!(status[0].outcome, Outcome::AlreadyApplied, "{status:?}");
    assert_eq!(status[0].payment_id, payment_id);
    assert_eq!(status[0].business_key, created[0].business_key);

    let returned = apply(&db, "return", &pacs004(&original, "100.00")).await;
    assert_eq!(returned[0].outcome, Outcome::Applied, "{returned:?}");
    assert_eq!(returned[0].payment_id, payment_id);
    assert_eq!(returned[0].state, Some(PaymentState::Returned));
}

#[tokio::test]
async fn follow_ups_find_a_pacs008_by_its_uetr() {
    assert_follow_ups_find(
        &pacs008(Some("INSTR-1"), "E2E-1", Some(UETR)),
        0,
        Original {
            message_id: "P008-1",
            message_name_id: "pacs.008.001.08",
            instruction_id: None,
            end_to_end_id: None,
            uetr: Some(UETR),
        },
    )
    .await;
}

#[tokio::test]
async fn follow_ups_find_a_pacs008_without_uetr_by_its_instructing_agent_and_ids() {
    assert_follow_ups_find(
        &pacs008(Some("INSTR-1"), "E2E-1", None),
        0,
        Original {
            message_id: "P008-1",
            message_name_id: "pacs.008.001.08",
            instruction_id: Some("INSTR-1"),
            end_to_end_id: Some("E2E-1"),
            uetr: None,
        },
    )
    .await;
}

#[tokio::test]
async fn follow_ups_find_a_pain001_without_uetr_by_its_message_and_ids() {
    assert_follow_ups_find(
        &pain001("PAIN-1", Some("INSTR-1"), &["E2E-1"]),
        0,
        Original {
            message_id: "PAIN-1",
            message_name_id: "pain.001.001.03",
            instruction_id: Some("INSTR-1"),
            end_to_end_id: Some("E2E-1"),
            uetr: None,
        },
    )
    .await;
}

#[tokio::test]
async fn follow_ups_find_a_pain001_named_by_its_end_to_end_id_alone() {
    assert_follow_ups_find(
        &pain001("PAIN-1", None, &["E2E-1", "E2E-2"]),
        1,
        Original {
            message_id: "PAIN-1",
            message_name_id: "pain.001.001.03",
            instruction_id: None,
            end_to_end_id: Some("E2E-2"),
            uetr: None,
        },
    )
    .await;
}

#[tokio::test]
async fn a_follow_up_naming_a_pain001_reference_that_several_payments_share_is_refused_not_guessed()
{
    let db = ledger_with_accounts().await;
    let created = apply(
        &db,
        "original",
        &pain001("PAIN-1", None, &["NOTPROVIDED", "NOTPROVIDED"]),
    )
    .await;
    assert_eq!(created.len(), 2);
    assert!(created
        .iter()
        .all(|receipt| receipt.outcome == Outcome::Applied));
    assert_ne!(created[0].payment_id, created[1].payment_id);

    let original = Original {
        message_id: "PAIN-1",
        message_name_id: "pain.001.001.03",
        instruction_id: None,
        end_to_end_id: Some("NOTPROVIDED"),
        uetr: None,
    };
    let returned = apply(&db, "return", &pacs004(&original, "100.00")).await;
    assert_eq!(
        returned[0].outcome,
        Outcome::Rejected(RejectionReason::OriginalAmbiguous)
    );
}

#[tokio::test]
async fn a_follow_up_for_a_pain001_the_ledger_has_not_seen_waits_for_it() {
    let db = ledger_with_accounts().await;
    let original = Original {
        message_id: "PAIN-9",
        message_name_id: "pain.001.001.03",
        instruction_id: Some("INSTR-9"),
        end_to_end_id: Some("E2E-9"),
        uetr: None,
    };
    let early = apply(&db, "status", &pacs002(&original, "RJCT")).await;
    assert_eq!(
        early[0].outcome,
        Outcome::Rejected(RejectionReason::OriginalNotFound)
    );
    apply(
        &db,
        "original",
        &pain001("PAIN-9", Some("INSTR-9"), &["E2E-9"]),
    )
    .await;
    // The same key again, once the original is there: found, and the
    // rejection voids the hold the pain.001 made.
    let later = apply(&db, "status", &pacs002(&original, "RJCT")).await;
    assert_eq!(later[0].outcome, Outcome::Applied, "{later:?}");
    assert_eq!(later[0].state, Some(PaymentState::Rejected));
}

#[tokio::test]
async fn a_pain001_holds_the_funds_until_a_status_report_settles_or_voids_it() {
    let db = ledger_with_accounts().await;
    let held = apply(
        &db,
        "original",
        &pain001("PAIN-H", Some("INSTR-H"), &["E2E-SETTLE", "E2E-VOID"]),
    )
    .await;
    assert!(held
        .iter()
        .all(|receipt| receipt.outcome == Outcome::Applied
            && receipt.state == Some(PaymentState::Pending)));
    let original = |end_to_end_id| Original {
        message_id: "PAIN-H",
        message_name_id: "pain.001.001.03",
        instruction_id: Some("INSTR-H"),
        end_to_end_id: Some(end_to_end_id),
        uetr: None,
    };
    let settled = apply(&db, "acsc", &pacs002(&original("E2E-SETTLE"), "ACSC")).await;
    assert_eq!(settled[0].state, Some(PaymentState::Settled), "{settled:?}");
    let voided = apply(&db, "rjct", &pacs002(&original("E2E-VOID"), "RJCT")).await;
    assert_eq!(voided[0].state, Some(PaymentState::Rejected), "{voided:?}");
    // What is left: the settled one posted, nothing pending.
    let client = db.client().await;
    let pending: i64 = client
        .query_one(
            "SELECT coalesce(sum(debits_pending + credits_pending), 0)::BIGINT FROM accounts",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 0, "no reservation is left");
}

const BY_UETR: Original<'static> = Original {
    message_id: "P008-1",
    message_name_id: "pacs.008.001.08",
    instruction_id: None,
    end_to_end_id: None,
    uetr: Some(UETR),
};

#[tokio::test]
async fn a_return_of_part_of_a_payment_is_applied_and_the_payment_stays_settled() {
    let db = ledger_with_accounts().await;
    apply(&db, "original", &pacs008(None, "E2E-1", Some(UETR))).await;
    let partial = apply(&db, "return", &pacs004(&BY_UETR, "10.00")).await;
    assert_eq!(partial[0].outcome, Outcome::Applied);
    assert_eq!(partial[0].state, Some(PaymentState::Settled));
    let payment = db
        .ledger
        .get_payment(partial[0].payment_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payment.state, PaymentState::Settled);
    assert_eq!(payment.amount_returned.to_string(), "10.00 EUR");
    // Beyond what is left: refused, stored, nothing posted.
    let beyond = apply(&db, "return-2", &pacs004_under(&BY_UETR, "RTR-2", "90.01")).await;
    assert_eq!(
        beyond[0].outcome,
        Outcome::Rejected(RejectionReason::ReturnExceedsRemaining)
    );
}

#[tokio::test]
async fn a_return_without_rtr_id_is_known_by_its_message_and_position() {
    let db = ledger_with_accounts().await;
    apply(&db, "original", &pacs008(None, "E2E-1", Some(UETR))).await;
    let without_id = pacs004(&BY_UETR, "40.00").replace("<RtrId>RTR-1</RtrId>", "");
    let first = apply(&db, "return", &without_id).await;
    assert_eq!(first[0].outcome, Outcome::Applied);
    // The same document again under another key is the same return.
    let again = apply(&db, "return-again", &without_id).await;
    assert_eq!(again[0].outcome, Outcome::AlreadyApplied);
    // Another message is another return.
    let other = apply(
        &db,
        "return-other",
        &without_id.replace("<MsgId>P004-1</MsgId>", "<MsgId>P004-2</MsgId>"),
    )
    .await;
    assert_eq!(other[0].outcome, Outcome::Applied);
    let payment = db
        .ledger
        .get_payment(first[0].payment_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payment.amount_returned.to_string(), "80.00 EUR");
}

/// Partial returns over the wire: each pacs.004 submitted to the gRPC API,
/// the payment read back with `GetPayment`.
#[tokio::test]
async fn partial_returns_over_grpc_add_up_each_once_and_get_payment_shows_the_amount_returned() {
    use ledger_api::grpc::proto;
    use test_server::{authed, submit, TestServer, TOKEN_A};

    let server = TestServer::start().await;
    let client = server.client().await;
    let send = |key: &'static str, document: String| {
        let mut client = client.clone();
        async move {
            let response = client
                .submit_payment(submit(TOKEN_A, key, document.into_bytes()))
                .await
                .unwrap()
                .into_inner();
            let result = response.results[0].clone();
            (result.outcome(), result.reason_code.clone(), result.state())
        }
    };
    let created = send("original", pacs008(None, "E2E-1", Some(UETR))).await;
    assert_eq!(created.0, proto::Outcome::Applied);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let before_returns = std::time::SystemTime::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let get_payment = || {
        let mut client = client.clone();
        let request = authed(
            TOKEN_A,
            proto::GetPaymentRequest {
                key: Some(proto::get_payment_request::Key::BusinessKey(format!(
                    "uetr:{UETR}"
                ))),
            },
        );
        async move { client.get_payment(request).await.unwrap().into_inner() }
    };

    let first = send("r1", pacs004_under(&BY_UETR, "RTR-1", "30.00")).await;
    assert_eq!(
        first,
        (
            proto::Outcome::Applied,
            String::new(),
            proto::PaymentState::Settled
        )
    );
    let payment = get_payment().await;
    assert_eq!(payment.state(), proto::PaymentState::Settled);
    assert_eq!(payment.amount_returned.unwrap().units, "30.00");

    let replayed = send("r1-again", pacs004_under(&BY_UETR, "RTR-1", "30.00")).await;
    assert_eq!(replayed.0, proto::Outcome::AlreadyApplied);
    let conflict = send("r1-other", pacs004_under(&BY_UETR, "RTR-1", "20.00")).await;
    assert_eq!(
        (conflict.0, conflict.1.as_str()),
        (proto::Outcome::Rejected, "RETURN_ID_CONFLICT")
    );
    let beyond = send("r2-beyond", pacs004_under(&BY_UETR, "RTR-2", "70.01")).await;
    assert_eq!(
        (beyond.0, beyond.1.as_str()),
        (proto::Outcome::Rejected, "RETURN_EXCEEDS_REMAINING")
    );
    let rest = send("r2", pacs004_under(&BY_UETR, "RTR-2", "70.00")).await;
    assert_eq!(
        rest,
        (
            proto::Outcome::Applied,
            String::new(),
            proto::PaymentState::Returned
        )
    );
    let payment = get_payment().await;
    assert_eq!(payment.state(), proto::PaymentState::Returned);
    assert_eq!(payment.amount_returned.unwrap().units, "100.00");
    assert_eq!(payment.amount.unwrap().units, "100.00");

    // The debtor's balances now, and as they stood before the returns.
    let debtor = |as_of: Option<std::time::SystemTime>| {
        let mut client = client.clone();
        let request = authed(
            TOKEN_A,
            proto::GetAccountRequest {
                key: Some(proto::get_account_request::Key::ExternalReference(
                    DEBTOR_IBAN.to_owned(),
                )),
                as_of: as_of.map(prost_types::Timestamp::from),
            },
        );
        async move { client.get_account(request).await.unwrap().into_inner() }
    };
    let now = debtor(None).await;
    assert_eq!(
        (now.debits_posted.as_str(), now.credits_posted.as_str()),
        ("100.00", "100.00")
    );
    let then = debtor(Some(before_returns)).await;
    assert_eq!(
        (then.debits_posted.as_str(), then.credits_posted.as_str()),
        ("100.00", "0.00")
    );
    server.shut_down().await;
}
