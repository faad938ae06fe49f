//! Every payment-message version read since its official XSD was added goes through the
//! real gRPC server: pacs.008.001.11 and pain.001.001.04 to .07 as originals (APPLIED),
//! then pacs.002.001.09 and .13 and pacs.004.001.11 and .12 as follow-ups that find them.
//! The returns are APPLIED; a status report settling its original is APPLIED when the
//! original was held (PENDING) and ALREADY_APPLIED when it had settled on arrival.

#[path = "support/server.rs"]
mod test_server;

use test_server::*;

use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::grpc::proto::{self, Outcome, PaymentState};
use tonic::transport::Channel;

const UETR: &str = "7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f";

fn agent(element: &str, bic: &str) -> String {
    format!("<{element}><FinInstnId><BICFI>{bic}</BICFI></FinInstnId></{element}>")
}

fn document(id: &str, body: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:{id}\">{body}</Document>"
    )
    .into_bytes()
}

/// A pacs.008.001.11 of 100.00 EUR with a UETR.
fn pacs008_001_11() -> Vec<u8> {
    document(
        "pacs.008.001.11",
        &format!(
            "<FIToFICstmrCdtTrf><GrpHdr><MsgId>P008-11</MsgId><CreDtTm>2026-11-30T10:00:00Z</CreDtTm>\
             <NbOfTxs>1</NbOfTxs><SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>\
             <CdtTrfTxInf><PmtId><InstrId>INSTR-11</InstrId><EndToEndId>E2E-11</EndToEndId><UETR>{UETR}</UETR></PmtId>\
             <IntrBkSttlmAmt Ccy=\"EUR\">100.00</IntrBkSttlmAmt><ChrgBr>SHAR</ChrgBr>{}{}\
             <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{DEBTOR_IBAN}</IBAN></Id></DbtrAcct>{}{}\
             <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><IBAN>{CREDITOR_IBAN}</IBAN></Id></CdtrAcct>\
             </CdtTrfTxInf></FIToFICstmrCdtTrf>",
            agent("InstgAgt", "COBADEFFXXX"),
            agent("InstdAgt", "BNPAFRPPXXX"),
            agent("DbtrAgt", "COBADEFFXXX"),
            agent("CdtrAgt", "BNPAFRPPXXX"),
        ),
    )
}

/// A pain.001 of `id` with one transaction of 100.00 EUR; its message id is `id` too, and
/// its ids are made of it (a pain.001's business key is its debtor account and ids).
fn pain001(id: &str) -> Vec<u8> {
    document(
        id,
        &format!(
            "<CstmrCdtTrfInitn><GrpHdr><MsgId>{id}</MsgId><CreDtTm>2026-11-30T10:00:00</CreDtTm>\
             <NbOfTxs>1</NbOfTxs><InitgPty><Nm>Initiator</Nm></InitgPty></GrpHdr>\
             <PmtInf><PmtInfId>BATCH-1</PmtInfId><PmtMtd>TRF</PmtMtd><ReqdExctnDt>2026-11-30</ReqdExctnDt>\
             <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{DEBTOR_IBAN}</IBAN></Id></DbtrAcct>{}\
             <CdtTrfTxInf><PmtId><InstrId>I-{id}</InstrId><EndToEndId>E-{id}</EndToEndId></PmtId>\
             <Amt><InstdAmt Ccy=\"EUR\">100.00</InstdAmt></Amt>{}\
             <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><IBAN>{CREDITOR_IBAN}</IBAN></Id></CdtrAcct>\
             </CdtTrfTxInf></PmtInf></CstmrCdtTrfInitn>",
            agent("DbtrAgt", "COBADEFFXXX"),
            agent("CdtrAgt", "BNPAFRPPXXX"),
        ),
    )
}

/// `OrgnlGrpInf` and the original's ids: a pain.001 by its message id (`original`, also
/// its message name) and ids, a pacs.008.001.11 by its UETR.
fn original_elements(original: &str) -> String {
    if original.starts_with("pain.001") {
        format!(
            "<OrgnlGrpInf><OrgnlMsgId>{original}</OrgnlMsgId><OrgnlMsgNmId>{original}</OrgnlMsgNmId></OrgnlGrpInf>\
             <OrgnlInstrId>I-{original}</OrgnlInstrId><OrgnlEndToEndId>E-{original}</OrgnlEndToEndId>"
        )
    } else {
        format!(
            "<OrgnlGrpInf><OrgnlMsgId>P008-11</OrgnlMsgId><OrgnlMsgNmId>pacs.008.001.11</OrgnlMsgNmId></OrgnlGrpInf>\
             <OrgnlEndToEndId>E2E-11</OrgnlEndToEndId><OrgnlUETR>{UETR}</OrgnlUETR>"
        )
    }
}

/// A pacs.002 of `id` reporting the original named by `original` settled.
fn pacs002_settled(id: &str, original: &str) -> Vec<u8> {
    document(
        id,
        &format!(
            "<FIToFIPmtStsRpt><GrpHdr><MsgId>{id}</MsgId><CreDtTm>2026-11-30T11:00:00Z</CreDtTm></GrpHdr>\
             <TxInfAndSts>{}<TxSts>ACSC</TxSts>{}{}</TxInfAndSts></FIToFIPmtStsRpt>",
            original_elements(original),
            agent("InstgAgt", "BNPAFRPPXXX"),
            agent("InstdAgt", "COBADEFFXXX"),
        ),
    )
}

/// A pacs.004 of `id` returning the whole 100.00 EUR of the original named by `original`.
fn pacs004_returning(id: &str, original: &str) -> Vec<u8> {
    document(
        id,
        &format!(
            "<PmtRtr><GrpHdr><MsgId>{id}</MsgId><CreDtTm>2026-11-30T12:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs>\
             <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>\
             <TxInf><RtrId>RTR-{id}</RtrId>{}<RtrdIntrBkSttlmAmt Ccy=\"EUR\">100.00</RtrdIntrBkSttlmAmt>{}{}\
             <RtrRsnInf><Rsn><Cd>AC04</Cd></Rsn></RtrRsnInf></TxInf></PmtRtr>",
            original_elements(original),
            agent("InstgAgt", "BNPAFRPPXXX"),
            agent("InstdAgt", "COBADEFFXXX"),
        ),
    )
}

/// Submits `document` under the key `id` and returns its one result.
async fn submit_one(
    client: &mut LedgerServiceClient<Channel>,
    id: &str,
    document: Vec<u8>,
) -> proto::TransactionResult {
    let response = client
        .submit_payment(submit(TOKEN_A, id, document))
        .await
        .unwrap_or_else(|status| panic!("{id}: {status:?}"))
        .into_inner();
    assert_eq!(response.results.len(), 1, "{id}");
    response.results.into_iter().next().unwrap()
}

#[tokio::test]
async fn every_new_payment_version_is_accepted_through_the_grpc_api_and_finds_its_original() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut originals = std::collections::HashMap::new();
    let pacs008 = ("pacs.008.001.11", pacs008_001_11());
    let pain001s = [
        "pain.001.001.04",
        "pain.001.001.05",
        "pain.001.001.06",
        "pain.001.001.07",
    ]
    .map(|id| (id, pain001(id)));
    for (id, document) in std::iter::once(pacs008).chain(pain001s) {
        let result = submit_one(&mut client, id, document).await;
        assert_eq!(result.outcome(), Outcome::Applied, "{id}: {result:?}");
        // a pain.001 may be held (PENDING) until a status report settles it
        assert!(
            matches!(
                result.state(),
                PaymentState::Settled | PaymentState::Pending
            ),
            "{id}: {result:?}"
        );
        originals.insert(id, (result.payment_id, result.state()));
    }
    // (follow-up, the original it names); the pacs.002s settle before the returns
    let follow_ups = [
        ("pacs.002.001.09", "pain.001.001.04"),
        ("pacs.002.001.13", "pain.001.001.05"),
        ("pacs.004.001.11", "pacs.008.001.11"),
        ("pacs.004.001.12", "pain.001.001.05"),
    ];
    for (id, original) in follow_ups {
        let (payment_id, original_state) = originals[original];
        let (document, expected) = if id.starts_with("pacs.002") {
            // settling a held payment applies; a settled one is already in that state
            let outcome = if original_state == PaymentState::Pending {
                Outcome::Applied
            } else {
                Outcome::AlreadyApplied
            };
            (
                pacs002_settled(id, original),
                (outcome, PaymentState::Settled),
            )
        } else {
            (
                pacs004_returning(id, original),
                (Outcome::Applied, PaymentState::Returned),
            )
        };
        let result = submit_one(&mut client, id, document).await;
        assert_eq!(result.payment_id, payment_id, "{id}: {result:?}");
        assert_eq!(
            (result.outcome(), result.state()),
            expected,
            "{id}: {result:?}"
        );
    }
    server.shut_down().await;
}
