//! Finding payments over the wire (`ListPayments`) and from the command
//! line (`ledger payments list`): each filter, filters together, paging
//! through a listing while payments keep arriving, bad values named by
//! field, and the reader's scope on top of every filter.
//!
//! One real server on a real PostgreSQL database per test; payments are
//! submitted as ISO 20022 documents, as a client submits them.

#[path = "support/ledger_binary.rs"]
mod ledger_binary;
#[path = "support/server.rs"]
mod test_server;

use std::collections::BTreeSet;

use ledger::model::OverdraftRule;
use ledger_api::grpc::auth::Tokens;
use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::grpc::proto::{self, Outcome, PaymentState};
use ledger_api::server::ServerConfig;
use ledger_binary::ledger_binary;
use test_server::*;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

const READER: (&str, &str) = ("reader", "token-reader-000000000001");
const SUBMITTER: (&str, &str) = ("submitter", "token-submitter-00000001");

/// bank-a (every role), bank-b (submit and read, every account), a reader
/// of the `ACCT-A-*` accounts, and a submitter in that scope without `read`.
async fn start_server() -> TestServer {
    let tokens = Tokens::parse(&format!(
        "bank-a={TOKEN_A} roles=submit,read,admin\n\
         bank-b={TOKEN_B} roles=submit,read\n\
         {}={} roles=read scope=ACCT-A-*\n\
         {}={} roles=submit scope=ACCT-A-*",
        READER.0, READER.1, SUBMITTER.0, SUBMITTER.1,
    ))
    .unwrap();
    let server = TestServer::start_with(ServerConfig {
        tokens,
        ..ServerConfig::default()
    })
    .await;
    for reference in ["ACCT-A-1", "ACCT-X-1", "ACCT-X-2"] {
        server
            .database
            .ledger
            .open_account(&ledger_system_tests::fixtures::open(
                reference,
                "EUR",
                OverdraftRule::Unrestricted,
            ))
            .await
            .unwrap();
    }
    server
}

/// One credit transfer of a pacs.008.001.08.
#[derive(Clone, Default)]
struct Transfer<'a> {
    instruction_id: Option<&'a str>,
    end_to_end_id: &'a str,
    transaction_id: Option<&'a str>,
    uetr: Option<&'a str>,
    debtor: &'a str,
    creditor: &'a str,
}

fn account(reference: &str) -> String {
    if reference.starts_with("ACCT-") {
        format!("<Id><Othr><Id>{reference}</Id></Othr></Id>")
    } else {
        format!("<Id><IBAN>{reference}</IBAN></Id>")
    }
}

fn element(name: &str, value: Option<&str>) -> String {
    value.map_or(String::new(), |value| format!("<{name}>{value}</{name}>"))
}

/// A pacs.008.001.08 of these transfers, 1.00 EUR each, instructed by
/// COBADEFFXXX.
fn pacs008_of(message_id: &str, transfers: &[Transfer<'_>]) -> Vec<u8> {
    let body: String = transfers
        .iter()
        .map(|transfer| {
            format!(
                "<CdtTrfTxInf><PmtId>{}<EndToEndId>{}</EndToEndId>{}{}</PmtId>\
                 <IntrBkSttlmAmt Ccy=\"EUR\">1.00</IntrBkSttlmAmt><ChrgBr>SHAR</ChrgBr>\
                 <InstgAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstgAgt>\
                 <InstdAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></InstdAgt>\
                 <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct>{}</DbtrAcct>\
                 <DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>\
                 <CdtrAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></CdtrAgt>\
                 <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct>{}</CdtrAcct></CdtTrfTxInf>",
                element("InstrId", transfer.instruction_id),
                transfer.end_to_end_id,
                element("TxId", transfer.transaction_id),
                element("UETR", transfer.uetr),
                account(transfer.debtor),
                account(transfer.creditor),
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><FIToFICstmrCdtTrf>\
         <GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-30T10:00:00Z</CreDtTm><NbOfTxs>{}</NbOfTxs>\
         <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>{body}</FIToFICstmrCdtTrf></Document>",
        transfers.len()
    )
    .into_bytes()
}

/// A pain.001.001.03 of one transfer (held: PENDING) whose initiating party
/// is known by name only: its key is by the debtor account, and it records
/// its instruction reference (MsgId, InstrId, EndToEndId).
fn pain001(message_id: &str, instruction_id: &str, end_to_end_id: &str) -> Vec<u8> {
    format!(
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn>
<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-30T10:00:00</CreDtTm><NbOfTxs>1</NbOfTxs>
<InitgPty><Nm>Initiator Name</Nm></InitgPty></GrpHdr>
<PmtInf><PmtInfId>BATCH-1</PmtInfId><PmtMtd>TRF</PmtMtd><ReqdExctnDt>2026-11-30</ReqdExctnDt>
<Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{DEBTOR_IBAN}</IBAN></Id></DbtrAcct>
<DbtrAgt><FinInstnId><BIC>COBADEFFXXX</BIC></FinInstnId></DbtrAgt>
<CdtTrfTxInf><PmtId><InstrId>{instruction_id}</InstrId><EndToEndId>{end_to_end_id}</EndToEndId></PmtId>
<Amt><InstdAmt Ccy="EUR">5.00</InstdAmt></Amt>
<CdtrAgt><FinInstnId><BIC>BNPAFRPPXXX</BIC></FinInstnId></CdtrAgt>
<Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><IBAN>{CREDITOR_IBAN}</IBAN></Id></CdtrAcct>
</CdtTrfTxInf></PmtInf></CstmrCdtTrfInitn></Document>"#
    )
    .into_bytes()
}

/// Submits `document` as `token`; every transaction must apply. Returns the
/// payment ids in document order.
async fn submitted(
    client: &mut LedgerServiceClient<Channel>,
    token: &str,
    key: &str,
    document: Vec<u8>,
) -> Vec<i64> {
    let response = client
        .submit_payment(submit(token, key, document))
        .await
        .unwrap()
        .into_inner();
    response
        .results
        .iter()
        .map(|result| {
            assert_eq!(result.outcome(), Outcome::Applied, "{result:?}");
            result.payment_id
        })
        .collect()
}

async fn list(
    client: &mut LedgerServiceClient<Channel>,
    token: &str,
    request: proto::ListPaymentsRequest,
) -> Result<proto::ListPaymentsResponse, Status> {
    client
        .list_payments(authed(token, request))
        .await
        .map(tonic::Response::into_inner)
}

/// Every payment the request finds, page after page, in listing order.
async fn all_pages(
    client: &mut LedgerServiceClient<Channel>,
    token: &str,
    request: proto::ListPaymentsRequest,
) -> Vec<i64> {
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = list(
            client,
            token,
            proto::ListPaymentsRequest {
                page_token: page_token.clone(),
                ..request.clone()
            },
        )
        .await
        .unwrap();
        let page_size = if request.page_size == 0 {
            100
        } else {
            request.page_size
        };
        assert!(page.payments.len() <= page_size as usize);
        listed.extend(page.payments.iter().map(|payment| payment.payment_id));
        if page.next_page_token.is_empty() {
            return listed;
        }
        page_token = page.next_page_token;
    }
}

/// The field violations of an INVALID_ARGUMENT, sorted by field.
fn violations(status: &Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let mut violations: Vec<(String, String)> = status
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .into_iter()
        .map(|violation| (violation.field, violation.description))
        .collect();
    violations.sort();
    violations
}

fn fields(status: &Status) -> Vec<String> {
    violations(status)
        .into_iter()
        .map(|(field, _)| field)
        .collect()
}

async fn account_id(server: &TestServer, reference: &str) -> i64 {
    server
        .database
        .ledger
        .get_account(&ledger::model::AccountReference::parse(reference).unwrap())
        .await
        .unwrap()
        .unwrap()
        .account_id
        .0
}

/// Sets a payment's creation time (seconds since the Unix epoch), so that
/// time ranges can be tested to the second.
async fn created_at(server: &TestServer, payment_id: i64, unix_seconds: i64) {
    server
        .database
        .client()
        .await
        .execute(
            "UPDATE payments SET created_at = to_timestamp($2::BIGINT) WHERE payment_id = $1",
            &[&payment_id, &unix_seconds],
        )
        .await
        .unwrap();
}

const UETR_1: &str = "6f1c2d9e-8a55-4d1f-9b0e-1c2d3e4f5a6b";
const T0: i64 = 1_790_000_000;

/// The payments of the filter tests, by name.
struct Payments {
    /// pacs.008 by bank-a, InstrId I-1, EndToEndId E2E-1, ACCT-A-1 -> ACCT-X-1.
    a1: i64,
    /// pacs.008 by bank-a, no InstrId, TxId TX-2, EndToEndId E2E-2, ACCT-X-1 -> ACCT-X-2.
    a2: i64,
    /// pacs.008 by bank-b with UETR_1 (InstrId I-3, EndToEndId E2E-1 not in its key).
    b3: i64,
    /// pacs.008 by bank-b, InstrId I-4, a non-ASCII EndToEndId, DEBTOR -> CREDITOR.
    b4: i64,
    /// pain.001 by bank-b, held (PENDING): InstrId I-5, EndToEndId E2E-1.
    b5: i64,
    /// pacs.008 by the scoped submitter, InstrId I-6, EndToEndId E2E-6, ACCT-A-1 -> ACCT-X-2.
    s6: i64,
}

const NON_ASCII_END_TO_END_ID: &str = "E2É-ß-4";

async fn payments(server: &TestServer, client: &mut LedgerServiceClient<Channel>) -> Payments {
    let a1 = submitted(
        client,
        TOKEN_A,
        "a1",
        pacs008_of(
            "M-A1",
            &[Transfer {
                instruction_id: Some("I-1"),
                end_to_end_id: "E2E-1",
                debtor: "ACCT-A-1",
                creditor: "ACCT-X-1",
                ..Transfer::default()
            }],
        ),
    )
    .await[0];
    let a2 = submitted(
        client,
        TOKEN_A,
        "a2",
        pacs008_of(
            "M-A2",
            &[Transfer {
                transaction_id: Some("TX-2"),
                end_to_end_id: "E2E-2",
                debtor: "ACCT-X-1",
                creditor: "ACCT-X-2",
                ..Transfer::default()
            }],
        ),
    )
    .await[0];
    let b3 = submitted(
        client,
        TOKEN_B,
        "b3",
        pacs008_of(
            "M-B3",
            &[Transfer {
                instruction_id: Some("I-3"),
                end_to_end_id: "E2E-1",
                uetr: Some(UETR_1),
                debtor: DEBTOR_IBAN,
                creditor: CREDITOR_IBAN,
                ..Transfer::default()
            }],
        ),
    )
    .await[0];
    let b4 = submitted(
        client,
        TOKEN_B,
        "b4",
        pacs008_of(
            "M-B4",
            &[Transfer {
                instruction_id: Some("I-4"),
                end_to_end_id: NON_ASCII_END_TO_END_ID,
                debtor: DEBTOR_IBAN,
                creditor: CREDITOR_IBAN,
                ..Transfer::default()
            }],
        ),
    )
    .await[0];
    let b5 = submitted(client, TOKEN_B, "b5", pain001("M-B5", "I-5", "E2E-1")).await[0];
    let s6 = submitted(
        client,
        SUBMITTER.1,
        "s6",
        pacs008_of(
            "M-S6",
            &[Transfer {
                instruction_id: Some("I-6"),
                end_to_end_id: "E2E-6",
                debtor: "ACCT-A-1",
                creditor: "ACCT-X-2",
                ..Transfer::default()
            }],
        ),
    )
    .await[0];
    for (offset, payment_id) in [a1, a2, b3, b4, b5, s6].into_iter().enumerate() {
        created_at(server, payment_id, T0 + offset as i64).await;
    }
    Payments {
        a1,
        a2,
        b3,
        b4,
        b5,
        s6,
    }
}

#[tokio::test]
async fn each_filter_finds_exactly_the_payments_it_names() {
    let server = start_server().await;
    let mut client = server.client().await;
    let p = payments(&server, &mut client).await;
    let every = vec![p.a1, p.a2, p.b3, p.b4, p.b5, p.s6];
    let acct_a_1 = account_id(&server, "ACCT-A-1").await;
    let acct_x_2 = account_id(&server, "ACCT-X-2").await;
    let debtor = account_id(&server, DEBTOR_IBAN).await;
    type Request = proto::ListPaymentsRequest;
    let cases: Vec<(&str, Request, Vec<i64>)> = vec![
        ("no filter", Request::default(), every.clone()),
        (
            "created from, inclusive",
            Request {
                created_from_unix_seconds: T0 + 4,
                ..Request::default()
            },
            vec![p.b5, p.s6],
        ),
        (
            "created until, exclusive",
            Request {
                created_until_unix_seconds: T0 + 2,
                ..Request::default()
            },
            vec![p.a1, p.a2],
        ),
        (
            "a one-second range",
            Request {
                created_from_unix_seconds: T0 + 3,
                created_until_unix_seconds: T0 + 4,
                ..Request::default()
            },
            vec![p.b4],
        ),
        (
            "state",
            Request {
                state: PaymentState::Pending as i32,
                ..Request::default()
            },
            vec![p.b5],
        ),
        (
            "account, debited or credited",
            Request {
                account_id: acct_x_2,
                ..Request::default()
            },
            vec![p.a2, p.s6],
        ),
        (
            "UETR",
            Request {
                uetr: UETR_1.to_owned(),
                ..Request::default()
            },
            vec![p.b3],
        ),
        (
            "UETR in upper case",
            Request {
                uetr: UETR_1.to_uppercase(),
                ..Request::default()
            },
            vec![p.b3],
        ),
        (
            // In a business key (a1) and in a pain.001's instruction
            // reference (b5); b3's is not kept: its key is its UETR.
            "end-to-end id",
            Request {
                end_to_end_id: "E2E-1".to_owned(),
                ..Request::default()
            },
            vec![p.a1, p.b5],
        ),
        (
            "a non-ASCII end-to-end id",
            Request {
                end_to_end_id: NON_ASCII_END_TO_END_ID.to_owned(),
                ..Request::default()
            },
            vec![p.b4],
        ),
        (
            "instruction id",
            Request {
                instruction_id: "I-5".to_owned(),
                ..Request::default()
            },
            vec![p.b5],
        ),
        (
            "a TxId where the message had no InstrId",
            Request {
                instruction_id: "TX-2".to_owned(),
                ..Request::default()
            },
            vec![p.a2],
        ),
        (
            "an end-to-end id is not an instruction id",
            Request {
                instruction_id: "E2E-1".to_owned(),
                ..Request::default()
            },
            vec![],
        ),
        (
            "creating client",
            Request {
                created_by_client_id: "bank-b".to_owned(),
                ..Request::default()
            },
            vec![p.b3, p.b4, p.b5],
        ),
        (
            "an unknown client",
            Request {
                created_by_client_id: "bank-z".to_owned(),
                ..Request::default()
            },
            vec![],
        ),
        (
            "state and account",
            Request {
                state: PaymentState::Settled as i32,
                account_id: debtor,
                ..Request::default()
            },
            vec![p.b3, p.b4],
        ),
        (
            "end-to-end id and client",
            Request {
                end_to_end_id: "E2E-1".to_owned(),
                created_by_client_id: "bank-b".to_owned(),
                ..Request::default()
            },
            vec![p.b5],
        ),
        (
            "account, client and a time range",
            Request {
                account_id: acct_a_1,
                created_by_client_id: "submitter".to_owned(),
                created_from_unix_seconds: T0,
                created_until_unix_seconds: T0 + 6,
                ..Request::default()
            },
            vec![p.s6],
        ),
        (
            "filters no payment passes together",
            Request {
                uetr: UETR_1.to_owned(),
                state: PaymentState::Pending as i32,
                ..Request::default()
            },
            vec![],
        ),
    ];
    for (what, request, expected) in cases {
        // Whole, and a page of one at a time.
        let whole = list(&mut client, TOKEN_A, request.clone()).await.unwrap();
        let ids: Vec<i64> = whole.payments.iter().map(|p| p.payment_id).collect();
        assert_eq!(ids, expected, "{what}");
        assert!(whole.next_page_token.is_empty(), "{what}");
        let paged = all_pages(
            &mut client,
            TOKEN_A,
            Request {
                page_size: 1,
                ..request
            },
        )
        .await;
        assert_eq!(paged, expected, "{what}, a page of one at a time");
    }
    server.shut_down().await;
}

#[tokio::test]
async fn every_bad_filter_value_is_named_at_once() {
    let server = start_server().await;
    let mut client = server.client().await;
    type Request = proto::ListPaymentsRequest;
    let status = list(
        &mut client,
        TOKEN_A,
        Request {
            state: 99,
            account_id: -4,
            page_size: 1_001,
            created_from_unix_seconds: -1,
            created_until_unix_seconds: -2,
            uetr: "not-a-uuid".to_owned(),
            end_to_end_id: "x".repeat(36),
            instruction_id: "NOTPROVIDED".to_owned(),
            created_by_client_id: "bank\u{7}a".to_owned(),
            page_token: "v1.1.x".to_owned(),
        },
    )
    .await
    .unwrap_err();
    // The token is looked at only once the filters are valid.
    assert_eq!(
        fields(&status),
        [
            "account_id",
            "created_by_client_id",
            "created_from_unix_seconds",
            "created_until_unix_seconds",
            "end_to_end_id",
            "instruction_id",
            "page_size",
            "state",
            "uetr",
        ]
    );
    for (field, expected) in [
        ("instruction_id", "NOTPROVIDED"),
        ("end_to_end_id", "36 characters"),
        ("uetr", "UUID"),
        ("created_from_unix_seconds", "before 1970"),
    ] {
        let description = violations(&status)
            .into_iter()
            .find(|(named, _)| named == field)
            .unwrap()
            .1;
        assert!(description.contains(expected), "{field}: {description}");
    }
    for (what, request, expected) in [
        (
            "an empty range",
            Request {
                created_from_unix_seconds: T0,
                created_until_unix_seconds: T0,
                ..Request::default()
            },
            vec!["created_until_unix_seconds"],
        ),
        (
            "a reversed range",
            Request {
                created_from_unix_seconds: T0 + 1,
                created_until_unix_seconds: T0,
                ..Request::default()
            },
            vec!["created_until_unix_seconds"],
        ),
        (
            "an end-to-end id with a control character",
            Request {
                end_to_end_id: "a\tb".to_owned(),
                ..Request::default()
            },
            vec!["end_to_end_id"],
        ),
        (
            "an old-style page token",
            Request {
                page_token: "42".to_owned(),
                ..Request::default()
            },
            vec!["page_token"],
        ),
        (
            "a malformed page token",
            Request {
                page_token: "v1.42.zz".to_owned(),
                ..Request::default()
            },
            vec!["page_token"],
        ),
    ] {
        let status = list(&mut client, TOKEN_A, request).await.unwrap_err();
        assert_eq!(fields(&status), expected, "{what}");
    }
    server.shut_down().await;
}

#[tokio::test]
async fn a_page_token_continues_only_the_listing_it_came_from() {
    let server = start_server().await;
    let mut client = server.client().await;
    let p = payments(&server, &mut client).await;
    type Request = proto::ListPaymentsRequest;
    let first = Request {
        created_by_client_id: "bank-b".to_owned(),
        state: PaymentState::Settled as i32,
        page_size: 1,
        ..Request::default()
    };
    let page = list(&mut client, TOKEN_A, first.clone()).await.unwrap();
    assert_eq!(page.payments[0].payment_id, p.b3);
    let token = page.next_page_token;
    assert!(!token.is_empty());
    // The same filters, another page size: continues.
    let next = list(
        &mut client,
        TOKEN_A,
        Request {
            page_token: token.clone(),
            page_size: 10,
            ..first.clone()
        },
    )
    .await
    .unwrap();
    let ids: Vec<i64> = next.payments.iter().map(|p| p.payment_id).collect();
    assert_eq!(ids, [p.b4]);
    for (what, changed, expected) in [
        (
            "another client",
            Request {
                created_by_client_id: "bank-a".to_owned(),
                ..first.clone()
            },
            vec!["created_by_client_id"],
        ),
        (
            "a filter dropped and one added",
            Request {
                state: 0,
                end_to_end_id: "E2E-1".to_owned(),
                ..first.clone()
            },
            vec!["end_to_end_id", "state"],
        ),
        (
            "a time range added",
            Request {
                created_from_unix_seconds: T0,
                ..first.clone()
            },
            vec!["created_from_unix_seconds"],
        ),
    ] {
        let status = list(
            &mut client,
            TOKEN_A,
            Request {
                page_token: token.clone(),
                ..changed
            },
        )
        .await
        .unwrap_err();
        assert_eq!(fields(&status), expected, "{what}");
        assert!(
            violations(&status)[0].1.contains("page_token"),
            "{what}: {status:?}"
        );
    }
    server.shut_down().await;
}

/// Payments that arrive while the paging test reads its pages.
const NEW_PAYMENTS_MAX: u32 = 150;

#[tokio::test]
async fn paging_while_payments_arrive_lists_every_earlier_payment_once_in_order() {
    let server = start_server().await;
    let mut client = server.client().await;
    // 300 payments, in three documents of 100: half by bank-a, half by bank-b.
    let mut before = Vec::new();
    for (round, token) in [TOKEN_A, TOKEN_B, TOKEN_A].into_iter().enumerate() {
        let end_to_end_ids: Vec<String> = (0..100).map(|n| format!("E-{round}-{n}")).collect();
        let transactions: Vec<(&str, &str)> = end_to_end_ids
            .iter()
            .map(|id| (id.as_str(), "1.00"))
            .collect();
        before.extend(
            submitted(
                &mut client,
                token,
                &format!("bulk-{round}"),
                pacs008(&format!("BULK-{round}"), &transactions),
            )
            .await,
        );
    }
    let bank_a_before: BTreeSet<i64> = before[..100]
        .iter()
        .chain(&before[200..])
        .copied()
        .collect();
    assert_eq!(bank_a_before.len(), 200);

    // New payments keep arriving, from both clients, while the pages are read.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let arriving = {
        let mut client = server.client().await;
        tokio::spawn(async move {
            let mut arrived = Vec::new();
            // At most NEW_PAYMENTS_MAX, a few milliseconds apart, so the
            // pages overtake them and the listing ends.
            for n in 0..NEW_PAYMENTS_MAX {
                if stopped.try_recv().is_ok() {
                    break;
                }
                let token = if n % 2 == 0 { TOKEN_A } else { TOKEN_B };
                let end_to_end_id = format!("NEW-{n}");
                arrived.extend(
                    submitted(
                        &mut client,
                        token,
                        &format!("new-{n}"),
                        pacs008(&format!("NEW-{n}"), &[(end_to_end_id.as_str(), "1.00")]),
                    )
                    .await,
                );
                tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            }
            arrived
        })
    };
    let everything = all_pages(
        &mut client,
        TOKEN_B,
        proto::ListPaymentsRequest {
            page_size: 7,
            ..Default::default()
        },
    )
    .await;
    let by_bank_a = all_pages(
        &mut client,
        TOKEN_B,
        proto::ListPaymentsRequest {
            page_size: 9,
            created_by_client_id: "bank-a".to_owned(),
            ..Default::default()
        },
    )
    .await;
    // The task may have sent all it had to send already.
    let _ = stop.send(());
    let arrived = arriving.await.unwrap();
    assert!(!arrived.is_empty(), "no payment arrived during the paging");

    for (what, listed, expected) in [
        (
            "every payment",
            &everything,
            before.iter().copied().collect(),
        ),
        ("bank-a's", &by_bank_a, bank_a_before),
    ] {
        assert!(
            listed.windows(2).all(|pair| pair[0] < pair[1]),
            "{what}: listed out of order or twice"
        );
        let listed: BTreeSet<i64> = listed.iter().copied().collect();
        let missing: Vec<&i64> = expected.difference(&listed).collect();
        assert!(missing.is_empty(), "{what}: {missing:?} skipped");
        // Whatever else was listed arrived during the paging.
        assert!(
            listed.difference(&expected).all(|id| arrived.contains(id)),
            "{what}: a payment listed that is neither earlier nor new"
        );
    }
    server.shut_down().await;
}

#[tokio::test]
async fn filters_never_widen_what_a_scoped_client_sees() {
    let server = start_server().await;
    let mut client = server.client().await;
    let p = payments(&server, &mut client).await;
    type Request = proto::ListPaymentsRequest;
    for (what, token, request, expected) in [
        // The reader sees what touches ACCT-A-*: a1 and s6.
        (
            "the reader, no filter",
            READER.1,
            Request::default(),
            vec![p.a1, p.s6],
        ),
        (
            "the reader, bank-a's",
            READER.1,
            Request {
                created_by_client_id: "bank-a".to_owned(),
                ..Request::default()
            },
            vec![p.a1],
        ),
        (
            "the reader, by an end-to-end id of payments out of scope too",
            READER.1,
            Request {
                end_to_end_id: "E2E-1".to_owned(),
                ..Request::default()
            },
            vec![p.a1],
        ),
        (
            "the reader, by a UETR out of scope",
            READER.1,
            Request {
                uetr: UETR_1.to_owned(),
                ..Request::default()
            },
            vec![],
        ),
        // The submitter (no read role) sees only what it created.
        (
            "the submitter, no filter",
            SUBMITTER.1,
            Request::default(),
            vec![p.s6],
        ),
        (
            "the submitter, bank-a's",
            SUBMITTER.1,
            Request {
                created_by_client_id: "bank-a".to_owned(),
                ..Request::default()
            },
            vec![],
        ),
        (
            "the submitter, by its own id",
            SUBMITTER.1,
            Request {
                created_by_client_id: "submitter".to_owned(),
                instruction_id: "I-6".to_owned(),
                ..Request::default()
            },
            vec![p.s6],
        ),
    ] {
        let listed = all_pages(
            &mut client,
            token,
            Request {
                page_size: 1,
                ..request
            },
        )
        .await;
        assert_eq!(listed, expected, "{what}");
    }
    // bank-b, unscoped, sees everything a filter names.
    let listed = all_pages(
        &mut client,
        TOKEN_B,
        Request {
            end_to_end_id: "E2E-2".to_owned(),
            ..Request::default()
        },
    )
    .await;
    assert_eq!(listed, [p.a2]);
    server.shut_down().await;
}

/// `ledger payments list` with `arguments` against the server's database.
async fn cli(server: &TestServer, arguments: &[&str]) -> ledger_binary::Run {
    let mut all = vec!["payments".to_owned(), "list".to_owned()];
    all.extend(arguments.iter().map(|argument| argument.to_string()));
    ledger_binary(
        ledger_system_tests::database_url(&server.database.config),
        all,
    )
    .await
}

fn json_ids(run: &ledger_binary::Run) -> (Vec<i64>, String) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let ids = value["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|payment| payment["payment_id"].as_i64().unwrap())
        .collect();
    (ids, value["next_page_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_command_line_lists_with_the_same_filters_and_pages() {
    let server = start_server().await;
    let mut client = server.client().await;
    let p = payments(&server, &mut client).await;
    let from = "2026-09-21T14:13:24Z"; // T0 + 4
    assert_eq!(T0 + 4, 1_790_000_004);
    for (arguments, expected) in [
        (vec![], vec![p.a1, p.a2, p.b3, p.b4, p.b5, p.s6]),
        (vec!["--state", "pending"], vec![p.b5]),
        (vec!["--account", "ACCT-X-2"], vec![p.a2, p.s6]),
        (vec!["--from", from], vec![p.b5, p.s6]),
        (
            vec!["--from", "2026-09-21T16:13:23+02:00"],
            vec![p.b4, p.b5, p.s6],
        ),
        (
            vec!["--from", "2026-09-21T14:13:22.5Z", "--to", from],
            vec![p.b4],
        ),
        (vec!["--to", "2026-09-21"], vec![]),
        (vec!["--uetr", UETR_1], vec![p.b3]),
        (vec!["--end-to-end-id", "E2E-1"], vec![p.a1, p.b5]),
        (vec!["--instruction-id", "TX-2"], vec![p.a2]),
        (
            vec!["--client", "bank-b", "--state", "SETTLED"],
            vec![p.b3, p.b4],
        ),
    ] {
        let mut with_format = arguments.clone();
        with_format.extend(["--format", "json"]);
        let (ids, token) = json_ids(&cli(&server, &with_format).await);
        assert_eq!(ids, expected, "{arguments:?}");
        assert!(token.is_empty(), "{arguments:?}");
    }

    // Two at a time, the token printed on one page continuing the next.
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let mut arguments = vec!["--client", "bank-b", "--limit", "2", "--format", "json"];
        if !page_token.is_empty() {
            arguments.extend(["--page-token", page_token.as_str()]);
        }
        let (ids, next) = json_ids(&cli(&server, &arguments).await);
        listed.extend(ids);
        if next.is_empty() {
            break;
        }
        page_token = next;
    }
    assert_eq!(listed, [p.b3, p.b4, p.b5]);

    // The table, and the next page's token on standard error.
    let table = cli(&server, &["--state", "PENDING"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", table.stdout);
    assert!(lines[0].contains("business key"), "{}", table.stdout);
    assert!(
        lines[1].contains("PENDING") && lines[1].contains("5.00 EUR"),
        "{}",
        table.stdout
    );
    let paged = cli(&server, &["--limit", "1"]).await;
    let token = paged
        .stderr
        .lines()
        .find_map(|line| line.strip_prefix("more: --page-token "))
        .expect("the next page's token")
        .to_owned();
    let next = cli(
        &server,
        &["--limit", "1", "--page-token", &token, "--format", "json"],
    )
    .await;
    assert_eq!(json_ids(&next).0, [p.a2]);

    // Refusals: every bad value named at once, by its option; a token of
    // another listing; an unknown account.
    let refused = cli(
        &server,
        &[
            "--state",
            "DONE",
            "--uetr",
            "x",
            "--from",
            "yesterday",
            "--to",
            "2026-13-01",
            "--end-to-end-id",
            "NOTPROVIDED",
            "--client",
            "",
        ],
    )
    .await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    for option in [
        "--state",
        "--uetr",
        "--from",
        "--to",
        "--end-to-end-id",
        "--client",
    ] {
        assert!(
            refused.stderr.contains(&format!("invalid {option}:")),
            "{option}: {}",
            refused.stderr
        );
    }
    let other_listing = cli(
        &server,
        &["--limit", "1", "--page-token", &token, "--state", "SETTLED"],
    )
    .await;
    assert_eq!(other_listing.code, 1);
    assert!(
        other_listing.stderr.contains("invalid --page-token")
            && other_listing.stderr.contains("--state"),
        "{}",
        other_listing.stderr
    );
    let unknown = cli(&server, &["--account", "ACCT-NONE"]).await;
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stderr
            .contains("no account with reference ACCT-NONE"),
        "{}",
        unknown.stderr
    );
    assert_eq!(cli(&server, &["--limit", "0"]).await.code, 2);
    let help = cli(&server, &["--help"]).await;
    assert!(
        help.stdout.contains("Examples: `ledger payments list "),
        "{}",
        help.stdout
    );
    server.shut_down().await;
}
