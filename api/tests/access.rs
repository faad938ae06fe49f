//! Access control over the wire: every RPC against every role set, in and
//! out of a client's account scope; scoped submissions; what a scoped client
//! sees; the older token form; and the record of administrative changes
//! (over RPC, from the `ledger` binary, and its append-only table).
//!
//! One real server on a real PostgreSQL database per test; the effects of a
//! call are read back from the database with SQL.

#[path = "support/server.rs"]
mod test_server;

use test_server::*;

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::Duration;

use ledger::model::{AccountReference, AccountScope};
use ledger_api::grpc::auth::Tokens;
use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::grpc::proto::{self, Outcome};
use ledger_api::server::ServerConfig;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The clients of the access tests, each with its token, by role set.
const ROOT: (&str, &str) = ("root", "token-root-000000000001");
const SUBMITTER: (&str, &str) = ("submitter", "token-submitter-0000001");
const READER: (&str, &str) = ("reader", "token-reader-000000001");
const ADMIN: (&str, &str) = ("admin", "token-admin-0000000001");
const BOTH: (&str, &str) = ("both", "token-both-00000000001");
const LEGACY: (&str, &str) = ("legacy", "token-legacy-000000001");

/// The scope of every scoped client.
const SCOPE_A: &str = "ACCT-A-*";

fn access_tokens() -> Tokens {
    Tokens::parse(&format!(
        "{}={} roles=submit,read,admin\n\
         {}={} roles=submit scope={SCOPE_A}\n\
         {}={} roles=read scope={SCOPE_A}\n\
         {}={} roles=admin\n\
         {}={} roles=submit,read scope={SCOPE_A}\n\
         {}={}",
        ROOT.0,
        ROOT.1,
        SUBMITTER.0,
        SUBMITTER.1,
        READER.0,
        READER.1,
        ADMIN.0,
        ADMIN.1,
        BOTH.0,
        BOTH.1,
        LEGACY.0,
        LEGACY.1,
    ))
    .unwrap()
}

async fn start_server(tokens: Tokens) -> TestServer {
    TestServer::start_with(ServerConfig {
        tokens,
        ..ServerConfig::default()
    })
    .await
}

/// A UETR (a version 4 UUID) of its own for each `n`.
fn uetr(n: u64) -> String {
    format!("2f0c8a7e-5b3d-4c1a-9e6f-{n:012x}")
}

/// A pacs.008.001.08 of one transaction from `debtor` to `creditor` (account
/// references given as `Othr/Id`, or IBANs), named by `uetr(n)`.
fn transfer_document(
    n: u64,
    debtor: &str,
    creditor: &str,
    currency: &str,
    amount: &str,
) -> Vec<u8> {
    let account = |reference: &str| {
        if reference.starts_with("ACCT-") {
            format!("<Id><Othr><Id>{reference}</Id></Othr></Id>")
        } else {
            format!("<Id><IBAN>{reference}</IBAN></Id>")
        }
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><FIToFICstmrCdtTrf>\
         <GrpHdr><MsgId>M-{n}</MsgId><CreDtTm>2026-11-30T10:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs>\
         <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>\
         <CdtTrfTxInf><PmtId><InstrId>I-{n}</InstrId><EndToEndId>E-{n}</EndToEndId><UETR>{uetr}</UETR></PmtId>\
         <IntrBkSttlmAmt Ccy=\"{currency}\">{amount}</IntrBkSttlmAmt><ChrgBr>SHAR</ChrgBr>\
         <InstgAgt><FinInstnId><BICFI>BANKDEFFXXX</BICFI></FinInstnId></InstgAgt>\
         <InstdAgt><FinInstnId><BICFI>BANKFRPPXXX</BICFI></FinInstnId></InstdAgt>\
         <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct>{debtor_account}</DbtrAcct>\
         <DbtrAgt><FinInstnId><BICFI>BANKDEFFXXX</BICFI></FinInstnId></DbtrAgt>\
         <CdtrAgt><FinInstnId><BICFI>BANKFRPPXXX</BICFI></FinInstnId></CdtrAgt>\
         <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct>{creditor_account}</CdtrAcct></CdtTrfTxInf>\
         </FIToFICstmrCdtTrf></Document>",
        uetr = uetr(n),
        debtor_account = account(debtor),
        creditor_account = account(creditor),
    )
    .into_bytes()
}

/// A pacs.004.001.09 returning `amount` of the payment named by `uetr(n)`.
fn return_document(n: u64, currency: &str, amount: &str) -> Vec<u8> {
    format!(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.004.001.09\"><PmtRtr>\
         <GrpHdr><MsgId>R-{n}</MsgId><CreDtTm>2026-11-30T12:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs>\
         <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>\
         <TxInf><RtrId>RTR-{n}</RtrId><OrgnlGrpInf><OrgnlMsgId>M-{n}</OrgnlMsgId>\
         <OrgnlMsgNmId>pacs.008.001.08</OrgnlMsgNmId></OrgnlGrpInf><OrgnlUETR>{uetr}</OrgnlUETR>\
         <RtrdIntrBkSttlmAmt Ccy=\"{currency}\">{amount}</RtrdIntrBkSttlmAmt>\
         <InstgAgt><FinInstnId><BICFI>BANKFRPPXXX</BICFI></FinInstnId></InstgAgt>\
         <InstdAgt><FinInstnId><BICFI>BANKDEFFXXX</BICFI></FinInstnId></InstdAgt>\
         <RtrRsnInf><Rsn><Cd>AC04</Cd></Rsn></RtrRsnInf></TxInf></PmtRtr></Document>",
        uetr = uetr(n),
    )
    .into_bytes()
}

/// Opens EUR accounts (no overdraft limit) through the ledger directly.
async fn open_accounts(server: &TestServer, references: &[(&str, &str)]) {
    for (reference, currency) in references {
        server
            .database
            .ledger
            .open_account(&ledger_system_tests::fixtures::open(
                reference,
                currency,
                ledger::model::OverdraftRule::Unrestricted,
            ))
            .await
            .unwrap();
    }
}

async fn sql_i64(server: &TestServer, query: &str) -> i64 {
    let client = server.database.client().await;
    client.query_one(query, &[]).await.unwrap().get(0)
}

/// What a call may have written, counted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    accounts: i64,
    payments: i64,
    transfers: i64,
    outbox: i64,
    admin_changes: i64,
    settlement_accounts: i64,
    clearing_accounts: i64,
    idempotency_records: i64,
    payment_conflicts: i64,
    /// Every balance column of every account, summed with weights so that
    /// any change shows.
    balances: String,
}

async fn written(server: &TestServer) -> Written {
    let client = server.database.client().await;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM payments), \
                    (SELECT count(*) FROM transfers), (SELECT count(*) FROM outbox), \
                    (SELECT count(*) FROM admin_changes), \
                    (SELECT count(*) FROM settlement_accounts), \
                    (SELECT count(*) FROM clearing_accounts), \
                    (SELECT count(*) FROM idempotency_records), \
                    (SELECT count(*) FROM payment_conflicts), \
                    (SELECT coalesce(string_agg(format('%s:%s/%s/%s/%s', external_reference, \
                        debits_pending, debits_posted, credits_pending, credits_posted), ' ' \
                        ORDER BY account_id), '') FROM accounts), \
                    (SELECT coalesce(string_agg(format('%s:%s', agent_bic, account_id), ' ' \
                        ORDER BY agent_bic), '') FROM settlement_accounts)",
            &[],
        )
        .await
        .unwrap();
    let balances: String = row.get(9);
    let mappings: String = row.get(10);
    Written {
        accounts: row.get(0),
        payments: row.get(1),
        transfers: row.get(2),
        outbox: row.get(3),
        admin_changes: row.get(4),
        settlement_accounts: row.get(5),
        clearing_accounts: row.get(6),
        idempotency_records: row.get(7),
        payment_conflicts: row.get(8),
        balances: format!("{balances} | {mappings}"),
    }
}

/// Asserts that a rejected submission stored its answer (the idempotency
/// record) and nothing else: no payment, transfer, balance or confirmation.
/// (A row for the reconciliation audit in `payment_conflicts` may be added.)
fn assert_only_the_answer_is_stored(before: &Written, after: &Written, what: &str) {
    assert_eq!(
        Written {
            idempotency_records: before.idempotency_records + 1,
            payment_conflicts: after.payment_conflicts,
            ..before.clone()
        },
        *after,
        "{what}: a rejection posted something"
    );
}

async fn account_id(server: &TestServer, reference: &str) -> i64 {
    server
        .database
        .ledger
        .get_account(&AccountReference::parse(reference).unwrap())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no account {reference}"))
        .account_id
        .0
}

/// Submits `document` as `token` and returns the single result.
async fn submit_one(
    client: &mut LedgerServiceClient<Channel>,
    token: &str,
    key: &str,
    document: Vec<u8>,
) -> Result<proto::SubmitPaymentResponse, Status> {
    client
        .submit_payment(submit(token, key, document))
        .await
        .map(|response| response.into_inner())
}

/// How a scoped client's transfer between two (reference, currency)
/// accounts was answered.
enum TransferAnswer {
    OutOfScope,
    CurrencyMismatch,
    Applied,
}

/// Checks a transfer's answer: refused when its debtor is outside the
/// client's scope (the scope is decided before the currencies are), else
/// refused when the currencies differ, else applied.
fn transfer_answer(
    name: &str,
    debtor_in_scope: bool,
    debtor: (&str, &str),
    creditor: (&str, &str),
    result: &proto::TransactionResult,
) -> TransferAnswer {
    if !debtor_in_scope {
        assert_eq!(result.outcome(), Outcome::Rejected, "{name} {result:?}");
        assert_eq!(
            result.reason_code, "DEBIT_ACCOUNT_OUT_OF_SCOPE",
            "{result:?}"
        );
        TransferAnswer::OutOfScope
    } else if debtor.1 != creditor.1 {
        assert_eq!(result.outcome(), Outcome::Rejected, "{name} {result:?}");
        TransferAnswer::CurrencyMismatch
    } else {
        assert_eq!(result.outcome(), Outcome::Applied, "{name} {result:?}");
        TransferAnswer::Applied
    }
}

fn only_result(response: &proto::SubmitPaymentResponse) -> &proto::TransactionResult {
    assert_eq!(response.results.len(), 1, "{response:?}");
    &response.results[0]
}

/// Asserts `status` is PERMISSION_DENIED with ErrorInfo `reason` (and, for
/// ROLE_REQUIRED, the `role` and `client_id` metadata).
fn assert_denied(status: &Status, reason: &str, role: Option<&str>, client_id: &str, what: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("{what}: no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "{what}: {status:?}");
    assert_eq!(info.domain, "ledger.v1", "{what}");
    if let Some(role) = role {
        assert_eq!(info.metadata["role"], role, "{what}: {info:?}");
        assert_eq!(info.metadata["client_id"], client_id, "{what}: {info:?}");
    }
}

// --- The table of every RPC by role set and scope ---------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    SubmitPayment,
    GetPaymentById,
    GetPaymentByBusinessKey,
    ListPayments,
    StreamConfirmations,
    OpenAccount,
    GetAccountByReference,
    GetAccountById,
    ListTransfers,
    SetSettlementAccount,
    SetClearingAccount,
    ListAccountMappings,
    ListAdminChanges,
    GetStatement,
}

const RPCS: [Rpc; 14] = [
    Rpc::SubmitPayment,
    Rpc::GetPaymentById,
    Rpc::GetPaymentByBusinessKey,
    Rpc::ListPayments,
    Rpc::StreamConfirmations,
    Rpc::OpenAccount,
    Rpc::GetAccountByReference,
    Rpc::GetAccountById,
    Rpc::ListTransfers,
    Rpc::SetSettlementAccount,
    Rpc::SetClearingAccount,
    Rpc::ListAccountMappings,
    Rpc::ListAdminChanges,
    Rpc::GetStatement,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The account (or payment) the call names is in the client's scope
    /// (for a submit-only client: a payment it created).
    In,
    Out,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// Answered; for a list, what it holds is checked against the client's
    /// visibility separately.
    Ok,
    /// SubmitPayment answered with this transaction outcome and reason code.
    Answered(Outcome, &'static str),
    /// PERMISSION_DENIED ROLE_REQUIRED naming this role (or roles).
    RoleRequired(&'static str),
    /// PERMISSION_DENIED with this reason.
    OutOfScope(&'static str),
}

/// Which role sets a call needs, as a table: the client's roles (submit,
/// read, admin), whether it is scoped, and the scope of what the call names.
fn expected(rpc: Rpc, client: (&str, &str), scope: Scope) -> Expect {
    let name = client.0;
    let submit = matches!(name, "submitter" | "both" | "legacy");
    let read = matches!(name, "reader" | "both" | "legacy");
    let admin = name == "admin";
    let scoped = matches!(name, "submitter" | "reader" | "both");
    let out = scope == Scope::Out && scoped;
    use Expect::{Answered, Ok, OutOfScope, RoleRequired};
    match rpc {
        Rpc::SubmitPayment if !submit => RoleRequired("submit"),
        Rpc::SubmitPayment if out => Answered(Outcome::Rejected, "DEBIT_ACCOUNT_OUT_OF_SCOPE"),
        Rpc::SubmitPayment => Answered(Outcome::Applied, ""),
        Rpc::GetPaymentById | Rpc::GetPaymentByBusinessKey if !(read || submit) => {
            RoleRequired("read|submit")
        }
        Rpc::GetPaymentById | Rpc::GetPaymentByBusinessKey if out => {
            OutOfScope("PAYMENT_OUT_OF_SCOPE")
        }
        Rpc::GetPaymentById | Rpc::GetPaymentByBusinessKey => Ok,
        Rpc::ListPayments | Rpc::StreamConfirmations if !(read || submit) => {
            RoleRequired("read|submit")
        }
        Rpc::ListPayments | Rpc::StreamConfirmations => Ok,
        Rpc::OpenAccount
        | Rpc::SetSettlementAccount
        | Rpc::SetClearingAccount
        | Rpc::ListAdminChanges
            if !admin =>
        {
            RoleRequired("admin")
        }
        Rpc::OpenAccount
        | Rpc::SetSettlementAccount
        | Rpc::SetClearingAccount
        | Rpc::ListAdminChanges => Ok,
        Rpc::GetAccountByReference
        | Rpc::GetAccountById
        | Rpc::ListTransfers
        | Rpc::GetStatement
            if !read =>
        {
            RoleRequired("read")
        }
        Rpc::GetAccountByReference
        | Rpc::GetAccountById
        | Rpc::ListTransfers
        | Rpc::GetStatement
            if out =>
        {
            OutOfScope("ACCOUNT_OUT_OF_SCOPE")
        }
        Rpc::GetAccountByReference
        | Rpc::GetAccountById
        | Rpc::ListTransfers
        | Rpc::GetStatement => Ok,
        Rpc::ListAccountMappings if !(read || admin) => RoleRequired("read|admin"),
        Rpc::ListAccountMappings => Ok,
    }
}

/// The payments the table's reads name, made before the table runs.
struct Fixture {
    /// Created by `submitter`, ACCT-A-1 to ACCT-B-1.
    submitters: (i64, String),
    /// Created by `root`, ACCT-A-1 to ACCT-A-2: in scope A, not the submitter's.
    root_in_scope: (i64, String),
    /// Created by `root`, ACCT-B-1 to ACCT-B-2: outside scope A.
    root_out_of_scope: (i64, String),
}

/// Whether `client` may see the payment, by the rule (not by the server).
async fn is_visible(server: &TestServer, client: &str, payment_id: i64) -> bool {
    let db = server.database.client().await;
    let row = db
        .query_one(
            "SELECT p.created_by_client_id, d.external_reference, c.external_reference \
             FROM payments p JOIN accounts d ON d.account_id = p.debit_account_id \
             JOIN accounts c ON c.account_id = p.credit_account_id WHERE p.payment_id = $1",
            &[&payment_id],
        )
        .await
        .unwrap();
    let created_by: Option<String> = row.get(0);
    let debtor: String = row.get(1);
    let creditor: String = row.get(2);
    let scope = AccountScope::parse(SCOPE_A).unwrap();
    let in_scope = |reference: &str| scope.allows(&AccountReference::parse(reference).unwrap());
    let created = created_by.as_deref() == Some(client);
    match client {
        "submitter" => created,
        "reader" => in_scope(&debtor) || in_scope(&creditor),
        "both" => created || in_scope(&debtor) || in_scope(&creditor),
        "legacy" | "root" => true,
        other => panic!("{other} reads no payment"),
    }
}

struct Table<'a> {
    server: &'a TestServer,
    client: LedgerServiceClient<Channel>,
    fixture: Fixture,
    /// A counter for the documents, keys and references the calls make.
    next: u64,
}

impl Table<'_> {
    /// Makes the call `rpc` as `client` naming something `scope`, checks
    /// the answer against `expected`, and that a refusal wrote nothing.
    async fn check(&mut self, rpc: Rpc, client: (&str, &str), scope: Scope) {
        let what = format!("{rpc:?} as {} {scope:?} scope", client.0);
        let expect = expected(rpc, client, scope);
        self.next += 1;
        let n = self.next;
        let token = client.1;
        let (account_a, account_b) = ("ACCT-A-1", "ACCT-B-1");
        let account = match scope {
            Scope::In => account_a,
            Scope::Out => account_b,
        };
        let payment = match (client.0, scope) {
            ("submitter", Scope::In) => &self.fixture.submitters,
            (_, Scope::In) => &self.fixture.root_in_scope,
            (_, Scope::Out) => &self.fixture.root_out_of_scope,
        }
        .clone();
        let before = written(self.server).await;
        let answer: Result<Expect, Status> = match rpc {
            Rpc::SubmitPayment => {
                let (debtor, creditor) = match scope {
                    Scope::In => (account_a, account_b),
                    Scope::Out => (account_b, account_a),
                };
                let key = format!("table-{n}");
                let document = transfer_document(1_000 + n, debtor, creditor, "EUR", "1.00");
                match submit_one(&mut self.client, token, &key, document.clone()).await {
                    Ok(response) => {
                        let result = only_result(&response).clone();
                        assert!(!response.replay, "{what}");
                        let replay = submit_one(&mut self.client, token, &key, document)
                            .await
                            .unwrap();
                        assert!(replay.replay, "{what}");
                        assert_eq!(replay.results, response.results, "{what}");
                        Ok(Expect::Answered(
                            result.outcome(),
                            match result.reason_code.as_str() {
                                "" => "",
                                "DEBIT_ACCOUNT_OUT_OF_SCOPE" => "DEBIT_ACCOUNT_OUT_OF_SCOPE",
                                other => panic!("{what}: unexpected reason {other}"),
                            },
                        ))
                    }
                    Err(status) => Err(status),
                }
            }
            Rpc::GetPaymentById | Rpc::GetPaymentByBusinessKey => {
                let key = if rpc == Rpc::GetPaymentById {
                    proto::get_payment_request::Key::PaymentId(payment.0)
                } else {
                    proto::get_payment_request::Key::BusinessKey(payment.1.clone())
                };
                self.client
                    .get_payment(authed(token, proto::GetPaymentRequest { key: Some(key) }))
                    .await
                    .map(|response| {
                        assert_eq!(response.get_ref().payment_id, payment.0, "{what}");
                        Expect::Ok
                    })
            }
            Rpc::ListPayments => {
                let request = proto::ListPaymentsRequest {
                    account_id: account_id(self.server, account).await,
                    page_size: 1_000,
                    ..Default::default()
                };
                match self.client.list_payments(authed(token, request)).await {
                    Ok(response) => {
                        let payments = response.into_inner().payments;
                        for listed in &payments {
                            assert!(
                                is_visible(self.server, client.0, listed.payment_id).await,
                                "{what}: payment {} is not {}'s to see",
                                listed.payment_id,
                                client.0
                            );
                        }
                        // What the client sees on its own account is listed.
                        if scope == Scope::In {
                            let ids: Vec<i64> = payments.iter().map(|p| p.payment_id).collect();
                            assert!(ids.contains(&payment.0), "{what}: {ids:?}");
                        }
                        Ok(Expect::Ok)
                    }
                    Err(status) => Err(status),
                }
            }
            Rpc::StreamConfirmations => {
                let request = proto::StreamConfirmationsRequest {
                    cursor: String::new(),
                };
                match self
                    .client
                    .stream_confirmations(authed(token, request))
                    .await
                {
                    Ok(response) => {
                        let mut stream = response.into_inner();
                        // Every client with a role here sees at least one
                        // payment made before the table: its first confirmation.
                        let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
                            .await
                            .unwrap_or_else(|_| panic!("{what}: no confirmation"))
                            .expect("an open stream")
                            .unwrap();
                        assert!(
                            is_visible(self.server, client.0, first.payment_id).await,
                            "{what}: {first:?}"
                        );
                        Ok(Expect::Ok)
                    }
                    Err(status) => Err(status),
                }
            }
            Rpc::OpenAccount => {
                let reference = match scope {
                    Scope::In => format!("ACCT-A-NEW-{n}"),
                    Scope::Out => format!("ACCT-B-NEW-{n}"),
                };
                self.client
                    .open_account(authed(
                        token,
                        proto::OpenAccountRequest {
                            external_reference: reference,
                            currency: "EUR".to_owned(),
                            overdraft: proto::OverdraftRule::Unrestricted as i32,
                        },
                    ))
                    .await
                    .map(|_| Expect::Ok)
            }
            Rpc::GetAccountByReference | Rpc::GetAccountById => {
                let key = if rpc == Rpc::GetAccountById {
                    proto::get_account_request::Key::AccountId(
                        account_id(self.server, account).await,
                    )
                } else {
                    proto::get_account_request::Key::ExternalReference(account.to_owned())
                };
                self.client
                    .get_account(authed(
                        token,
                        proto::GetAccountRequest {
                            key: Some(key),
                            as_of: None,
                        },
                    ))
                    .await
                    .map(|response| {
                        assert_eq!(response.get_ref().external_reference, account, "{what}");
                        Expect::Ok
                    })
            }
            Rpc::ListTransfers => {
                let id = account_id(self.server, account).await;
                self.client
                    .list_transfers(authed(
                        token,
                        proto::ListTransfersRequest {
                            account_id: id,
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|response| {
                        let transfers = response.into_inner().transfers;
                        assert!(!transfers.is_empty(), "{what}");
                        assert!(
                            transfers
                                .iter()
                                .all(|t| t.debit_account_id == id || t.credit_account_id == id),
                            "{what}"
                        );
                        Expect::Ok
                    })
            }
            Rpc::SetSettlementAccount => self
                .client
                .set_settlement_account(authed(
                    token,
                    proto::SetSettlementAccountRequest {
                        agent_bic: "BANKDEFFXXX".to_owned(),
                        external_reference: account.to_owned(),
                    },
                ))
                .await
                .map(|_| Expect::Ok),
            Rpc::SetClearingAccount => self
                .client
                .set_clearing_account(authed(
                    token,
                    proto::SetClearingAccountRequest {
                        external_reference: account.to_owned(),
                    },
                ))
                .await
                .map(|_| Expect::Ok),
            Rpc::ListAccountMappings => self
                .client
                .list_account_mappings(authed(token, proto::ListAccountMappingsRequest {}))
                .await
                .map(|response| {
                    let mappings = response.into_inner().mappings;
                    let references: Vec<&str> = mappings
                        .iter()
                        .map(|mapping| mapping.external_reference.as_str())
                        .collect();
                    // The fixture maps BANKFRPPXXX to ACCT-A-2 and
                    // BANKITMMXXX to ACCT-B-2.
                    let scoped = matches!(client.0, "reader" | "both");
                    assert!(references.contains(&"ACCT-A-2"), "{what}: {references:?}");
                    assert_eq!(
                        references.contains(&"ACCT-B-2"),
                        !scoped,
                        "{what}: {references:?}"
                    );
                    if scoped {
                        assert!(
                            references
                                .iter()
                                .all(|reference| reference.starts_with("ACCT-A-")),
                            "{what}: {references:?}"
                        );
                    }
                    Expect::Ok
                }),
            Rpc::ListAdminChanges => self
                .client
                .list_admin_changes(authed(token, proto::ListAdminChangesRequest::default()))
                .await
                .map(|response| {
                    assert!(!response.get_ref().changes.is_empty(), "{what}");
                    Expect::Ok
                }),
            Rpc::GetStatement => self
                .client
                .get_statement(authed(
                    token,
                    proto::GetStatementRequest {
                        external_reference: account.to_owned(),
                        from_date: "2000-01-01".to_owned(),
                        to_date: "2999-12-31".to_owned(),
                    },
                ))
                .await
                .map(|response| {
                    let statement = response.into_inner();
                    assert!(statement.entry_count > 0, "{what}");
                    Expect::Ok
                }),
        };
        let after = written(self.server).await;
        match (&expect, answer) {
            (Expect::RoleRequired(role), Err(status)) => {
                assert_denied(&status, "ROLE_REQUIRED", Some(role), client.0, &what);
                assert_eq!(before, after, "{what}: a refusal wrote something");
            }
            (Expect::OutOfScope(reason), Err(status)) => {
                assert_denied(&status, reason, None, client.0, &what);
                assert_eq!(before, after, "{what}: a refusal wrote something");
            }
            (Expect::Answered(Outcome::Rejected, _), Ok(answered)) => {
                assert_eq!(answered, expect, "{what}");
                // Only the idempotency record: nothing posted, no payment.
                assert_only_the_answer_is_stored(&before, &after, &what);
            }
            (_, Ok(answered)) => {
                assert_eq!(answered, expect, "{what}");
                let is_read = matches!(
                    rpc,
                    Rpc::GetPaymentById
                        | Rpc::GetPaymentByBusinessKey
                        | Rpc::ListPayments
                        | Rpc::StreamConfirmations
                        | Rpc::GetAccountByReference
                        | Rpc::GetAccountById
                        | Rpc::ListTransfers
                        | Rpc::ListAccountMappings
                        | Rpc::ListAdminChanges
                        | Rpc::GetStatement
                );
                if is_read {
                    assert_eq!(before, after, "{what}: a read wrote something");
                }
            }
            (_, Err(status)) => panic!("{what}: expected {expect:?}, got {status:?}"),
        }
    }
}

/// Submits `document` as `root` and returns (payment id, business key).
async fn root_payment(
    client: &mut LedgerServiceClient<Channel>,
    token: &str,
    n: u64,
    debtor: &str,
    creditor: &str,
) -> (i64, String) {
    let response = submit_one(
        client,
        token,
        &format!("fixture-{n}"),
        transfer_document(n, debtor, creditor, "EUR", "10.00"),
    )
    .await
    .unwrap();
    let result = only_result(&response);
    assert_eq!(result.outcome(), Outcome::Applied, "{response:?}");
    (result.payment_id, result.business_key.clone())
}

#[tokio::test]
async fn every_rpc_answers_each_role_set_in_and_out_of_scope_and_a_refusal_writes_nothing() {
    let server = start_server(access_tokens()).await;
    open_accounts(
        &server,
        &[
            ("ACCT-A-1", "EUR"),
            ("ACCT-A-2", "EUR"),
            ("ACCT-B-1", "EUR"),
            ("ACCT-B-2", "EUR"),
        ],
    )
    .await;
    let mut client = server.client().await;
    let submitters = root_payment(&mut client, SUBMITTER.1, 1, "ACCT-A-1", "ACCT-B-1").await;
    let root_in_scope = root_payment(&mut client, ROOT.1, 2, "ACCT-A-1", "ACCT-A-2").await;
    let root_out_of_scope = root_payment(&mut client, ROOT.1, 3, "ACCT-B-1", "ACCT-B-2").await;
    for (bic, reference) in [("BANKFRPPXXX", "ACCT-A-2"), ("BANKITMMXXX", "ACCT-B-2")] {
        client
            .set_settlement_account(authed(
                ROOT.1,
                proto::SetSettlementAccountRequest {
                    agent_bic: bic.to_owned(),
                    external_reference: reference.to_owned(),
                },
            ))
            .await
            .unwrap();
    }
    let mut table = Table {
        server: &server,
        client,
        fixture: Fixture {
            submitters,
            root_in_scope,
            root_out_of_scope,
        },
        next: 0,
    };
    let mut checked = 0;
    for rpc in RPCS {
        for client in [SUBMITTER, READER, ADMIN, BOTH, LEGACY] {
            for scope in [Scope::In, Scope::Out] {
                table.check(rpc, client, scope).await;
                checked += 1;
            }
        }
    }
    assert_eq!(checked, RPCS.len() * 5 * 2);
    server.shut_down().await;
}

#[tokio::test]
async fn a_call_without_a_known_token_is_refused_as_unauthenticated_and_writes_nothing() {
    let server = start_server(access_tokens()).await;
    let mut client = server.client().await;
    let before = written(&server).await;
    let status = client
        .submit_payment(submit(
            "token-nobody-0000000001",
            "k",
            transfer_document(1, DEBTOR_IBAN, CREDITOR_IBAN, "EUR", "1.00"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = client
        .list_admin_changes(tonic::Request::new(
            proto::ListAdminChangesRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(before, written(&server).await);
    server.shut_down().await;
}

// --- Scoped submissions ------------------------------------------------------

async fn balance_of(server: &TestServer, reference: &str) -> (i64, i64) {
    let client = server.database.client().await;
    let row = client
        .query_one(
            "SELECT debits_posted, credits_posted FROM accounts WHERE external_reference = $1",
            &[&reference],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_payment_debiting_an_account_outside_the_scope_is_rejected_and_its_replay_answers_the_same(
) {
    let server = start_server(access_tokens()).await;
    open_accounts(&server, &[("ACCT-A-1", "EUR"), ("ACCT-B-1", "EUR")]).await;
    let mut client = server.client().await;
    let before = written(&server).await;
    let document = transfer_document(1, "ACCT-B-1", "ACCT-A-1", "EUR", "25.00");
    let first = submit_one(&mut client, BOTH.1, "out", document.clone())
        .await
        .unwrap();
    let result = only_result(&first);
    assert_eq!(result.outcome(), Outcome::Rejected, "{first:?}");
    assert_eq!(result.reason_code, "DEBIT_ACCOUNT_OUT_OF_SCOPE");
    assert_eq!(result.payment_id, 0, "no payment is created: {first:?}");
    assert!(!first.replay);
    let replay = submit_one(&mut client, BOTH.1, "out", document)
        .await
        .unwrap();
    assert!(replay.replay);
    assert_eq!(replay.results, first.results);
    assert_only_the_answer_is_stored(
        &before,
        &written(&server).await,
        "only the answer is stored",
    );
    assert_eq!(balance_of(&server, "ACCT-B-1").await, (0, 0));
    assert_eq!(balance_of(&server, "ACCT-A-1").await, (0, 0));

    // In scope, the same client's payment is applied and posted.
    let document = transfer_document(2, "ACCT-A-1", "ACCT-B-1", "EUR", "25.00");
    let applied = submit_one(&mut client, BOTH.1, "in", document)
        .await
        .unwrap();
    assert_eq!(
        only_result(&applied).outcome(),
        Outcome::Applied,
        "{applied:?}"
    );
    assert_eq!(balance_of(&server, "ACCT-A-1").await, (2_500, 0));
    assert_eq!(balance_of(&server, "ACCT-B-1").await, (0, 2_500));
    let creator = sql_i64(
        &server,
        "SELECT count(*) FROM payments WHERE created_by_client_id = 'both'",
    )
    .await;
    assert_eq!(creator, 1, "the payment records its creator");
    server.shut_down().await;
}

/// A server with `ACCT-A-1` and `ACCT-B-1`, whose holders may each submit and
/// read within their own: `BOTH` (`ACCT-A-*`) and `holder-b` (`ACCT-B-*`).
async fn server_with_a_holder_of_each_account() -> TestServer {
    let tokens = Tokens::parse(&format!(
        "{}={} roles=submit,read scope=ACCT-A-*\n\
         holder-b=token-holder-b-000000001 roles=submit,read scope=ACCT-B-*",
        BOTH.0, BOTH.1
    ))
    .unwrap();
    let server = start_server(tokens).await;
    open_accounts(&server, &[("ACCT-A-1", "EUR"), ("ACCT-B-1", "EUR")]).await;
    server
}

#[tokio::test]
async fn only_a_client_whose_scope_holds_the_creditor_account_may_return_a_payment() {
    let server = server_with_a_holder_of_each_account().await;
    let mut client = server.client().await;
    let paid = submit_one(
        &mut client,
        BOTH.1,
        "pay",
        transfer_document(1, "ACCT-A-1", "ACCT-B-1", "EUR", "40.00"),
    )
    .await
    .unwrap();
    assert_eq!(only_result(&paid).outcome(), Outcome::Applied, "{paid:?}");
    let before = written(&server).await;

    // The debtor's client may not return it: a return debits the creditor.
    let refused = submit_one(
        &mut client,
        BOTH.1,
        "return-a",
        return_document(1, "EUR", "40.00"),
    )
    .await
    .unwrap();
    let result = only_result(&refused);
    assert_eq!(result.outcome(), Outcome::Rejected, "{refused:?}");
    assert_eq!(result.reason_code, "DEBIT_ACCOUNT_OUT_OF_SCOPE");
    assert_only_the_answer_is_stored(&before, &written(&server).await, "the return");

    let returned = submit_one(
        &mut client,
        "token-holder-b-000000001",
        "return-b",
        return_document(1, "EUR", "40.00"),
    )
    .await
    .unwrap();
    let result = only_result(&returned);
    assert_eq!(result.outcome(), Outcome::Applied, "{returned:?}");
    assert_eq!(result.state(), proto::PaymentState::Returned);
    assert_eq!(balance_of(&server, "ACCT-A-1").await, (4_000, 4_000));
    assert_eq!(balance_of(&server, "ACCT-B-1").await, (4_000, 4_000));
    server.shut_down().await;
}

// --- What a scoped client sees ----------------------------------------------

/// The payments made by `payments_in_and_out_of_scope`, by who must see them.
struct Seen {
    by_submitter: Vec<i64>,
    by_reader: Vec<i64>,
    by_both: Vec<i64>,
    every: Vec<i64>,
}

async fn payments_in_and_out_of_scope(server: &TestServer) -> Seen {
    open_accounts(
        server,
        &[
            ("ACCT-A-1", "EUR"),
            ("ACCT-A-2", "EUR"),
            ("ACCT-B-1", "EUR"),
            ("ACCT-B-2", "EUR"),
        ],
    )
    .await;
    let mut client = server.client().await;
    let mut seen = Seen {
        by_submitter: Vec::new(),
        by_reader: Vec::new(),
        by_both: Vec::new(),
        every: Vec::new(),
    };
    for (n, token, debtor, creditor) in [
        (1, ROOT.1, "ACCT-A-1", "ACCT-A-2"),
        (2, ROOT.1, "ACCT-B-1", "ACCT-B-2"),
        (3, SUBMITTER.1, "ACCT-A-1", "ACCT-B-1"),
        (4, ROOT.1, "ACCT-B-2", "ACCT-A-2"),
        (5, BOTH.1, "ACCT-A-2", "ACCT-B-2"),
        (6, ROOT.1, "ACCT-B-2", "ACCT-B-1"),
        (7, LEGACY.1, "ACCT-B-1", "ACCT-B-2"),
    ] {
        let (payment_id, _) = root_payment(&mut client, token, n, debtor, creditor).await;
        let touches_a = debtor.starts_with("ACCT-A-") || creditor.starts_with("ACCT-A-");
        if token == SUBMITTER.1 {
            seen.by_submitter.push(payment_id);
        }
        if touches_a {
            seen.by_reader.push(payment_id);
        }
        if touches_a || token == BOTH.1 {
            seen.by_both.push(payment_id);
        }
        seen.every.push(payment_id);
    }
    seen
}

#[tokio::test]
async fn list_payments_shows_a_scoped_client_only_the_payments_it_may_see() {
    let server = start_server(access_tokens()).await;
    let seen = payments_in_and_out_of_scope(&server).await;
    let mut client = server.client().await;
    for (token, expected) in [
        (SUBMITTER.1, &seen.by_submitter),
        (READER.1, &seen.by_reader),
        (BOTH.1, &seen.by_both),
        (LEGACY.1, &seen.every),
    ] {
        // Pages of two, to see that paging keeps to the scope too.
        let mut listed = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = client
                .list_payments(authed(
                    token,
                    proto::ListPaymentsRequest {
                        page_size: 2,
                        page_token: page_token.clone(),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            listed.extend(page.payments.iter().map(|payment| payment.payment_id));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        listed.sort();
        let mut expected = expected.clone();
        expected.sort();
        assert_eq!(listed, expected, "{token}");
    }
    server.shut_down().await;
}

/// Reads `token`'s confirmations from the start until one of `last`
/// arrives, and returns the payment ids seen.
async fn confirmed_payments(
    client: &mut LedgerServiceClient<Channel>,
    token: &str,
    last: i64,
) -> Vec<i64> {
    let mut stream = client
        .stream_confirmations(authed(
            token,
            proto::StreamConfirmationsRequest {
                cursor: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    loop {
        let confirmation = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| panic!("{token}: payment {last} not confirmed; saw {seen:?}"))
            .expect("an open stream")
            .unwrap();
        seen.push(confirmation.payment_id);
        if confirmation.payment_id == last {
            return seen;
        }
    }
}

#[tokio::test]
async fn stream_confirmations_shows_a_scoped_client_only_the_payments_it_may_see() {
    let server = start_server(access_tokens()).await;
    let mut seen = payments_in_and_out_of_scope(&server).await;
    let mut client = server.client().await;
    // A last payment each client sees, so that its stream is known to have
    // passed every confirmation before it.
    let fence_submitter = root_payment(&mut client, SUBMITTER.1, 100, "ACCT-A-2", "ACCT-A-1")
        .await
        .0;
    seen.by_submitter.push(fence_submitter);
    seen.by_reader.push(fence_submitter);
    seen.by_both.push(fence_submitter);
    seen.every.push(fence_submitter);
    for (token, expected) in [
        (SUBMITTER.1, &seen.by_submitter),
        (READER.1, &seen.by_reader),
        (BOTH.1, &seen.by_both),
        (LEGACY.1, &seen.every),
    ] {
        let confirmed = confirmed_payments(&mut client, token, fence_submitter).await;
        // One confirmation per payment (each settles at once).
        assert_eq!(&confirmed, expected, "{token}");
    }
    server.shut_down().await;
}

// --- Random scoped submissions ----------------------------------------------

/// A small deterministic generator (xorshift64*), so a failure repeats.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

#[tokio::test]
async fn random_payments_of_scoped_clients_never_debit_an_account_outside_their_scope() {
    let clients: [(&str, &str, &str); 4] = [
        ("client-a", "token-client-a-00000001", "ACCT-A-*"),
        ("client-b", "token-client-b-00000001", "ACCT-B-*"),
        ("client-c", "token-client-c-00000001", "ACCT-C-1,ACCT-A-2"),
        (
            "client-x",
            "token-client-x-00000001",
            "ACCT-A-1,ACCT-B-*,ACCT-C-2",
        ),
    ];
    let tokens = Tokens::parse(
        &clients
            .iter()
            .map(|(name, token, scope)| format!("{name}={token} roles=submit,read scope={scope}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let server = start_server(tokens).await;
    let accounts = [
        ("ACCT-A-1", "EUR"),
        ("ACCT-A-2", "EUR"),
        ("ACCT-A-3", "USD"),
        ("ACCT-B-1", "EUR"),
        ("ACCT-B-2", "USD"),
        ("ACCT-B-3", "USD"),
        ("ACCT-C-1", "EUR"),
        ("ACCT-C-2", "USD"),
    ];
    open_accounts(&server, &accounts).await;
    let scopes: HashMap<&str, AccountScope> = clients
        .iter()
        .map(|(name, _, scope)| (*name, AccountScope::parse(scope).unwrap()))
        .collect();
    let mut client = server.client().await;
    let mut random = Random(0x5eed_0000_0000_0001);
    // Payment number -> (debtor, creditor, currency, amount), when applied.
    let mut applied: BTreeMap<u64, (&str, &str, &str, String)> = BTreeMap::new();
    // Payment id -> the client whose return was applied.
    let mut returned_by: HashMap<i64, &str> = HashMap::new();
    let (mut rejected_out_of_scope, mut applied_count) = (0, 0);
    // First the clients at once, 40 payments each, so that the server's
    // batches mix clients of different scopes.
    let channel = server.channel().await;
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(index, (name, token, _))| {
            let (name, token, accounts) = (*name, *token, accounts);
            let scope = scopes[name].clone();
            let mut client = LedgerServiceClient::new(channel.clone());
            tokio::spawn(async move {
                let mut random = Random(0x5eed_0000_0000_0100 + index as u64);
                let mut outcomes = Vec::new();
                for i in 0..40u64 {
                    let n = 10_000 + 100 * index as u64 + i;
                    let debtor = accounts[random.below(accounts.len())];
                    let creditor = accounts[(random.below(accounts.len() - 1)
                        + 1
                        + accounts.iter().position(|a| a == &debtor).unwrap())
                        % accounts.len()];
                    let amount = format!("{}.{:02}", 1 + random.below(500), random.below(100));
                    let response = submit_one(
                        &mut client,
                        token,
                        &format!("c-{n}"),
                        transfer_document(n, debtor.0, creditor.0, debtor.1, &amount),
                    )
                    .await
                    .unwrap();
                    let result = only_result(&response).clone();
                    let in_scope = scope.allows(&AccountReference::parse(debtor.0).unwrap());
                    outcomes.push((n, name, in_scope, debtor, creditor, amount, result));
                }
                outcomes
            })
        })
        .collect();
    for task in tasks {
        for (n, name, in_scope, debtor, creditor, amount, result) in task.await.unwrap() {
            match transfer_answer(name, in_scope, debtor, creditor, &result) {
                TransferAnswer::OutOfScope => rejected_out_of_scope += 1,
                TransferAnswer::CurrencyMismatch => {}
                TransferAnswer::Applied => {
                    applied.insert(n, (debtor.0, creditor.0, debtor.1, amount));
                    applied_count += 1;
                }
            }
        }
    }
    // Then one request at a time, returns among them.
    for n in 1..=100u64 {
        let (name, token, _) = clients[random.below(clients.len())];
        let scope = &scopes[name];
        let in_scope = |reference: &str| scope.allows(&AccountReference::parse(reference).unwrap());
        // One in five a return of an earlier payment, when there is one.
        if random.below(5) == 0 && !applied.is_empty() {
            let pick = *applied.keys().nth(random.below(applied.len())).unwrap();
            let (_, creditor, currency, amount) = applied[&pick].clone();
            let response = submit_one(
                &mut client,
                token,
                &format!("r-{n}"),
                return_document(pick, currency, &amount),
            )
            .await
            .unwrap();
            let result = only_result(&response);
            if in_scope(creditor) {
                assert_eq!(result.outcome(), Outcome::Applied, "{name} {response:?}");
                returned_by.insert(result.payment_id, name);
                applied.remove(&pick);
            } else {
                assert_eq!(
                    result.reason_code, "DEBIT_ACCOUNT_OUT_OF_SCOPE",
                    "{response:?}"
                );
            }
            continue;
        }
        let debtor = accounts[random.below(accounts.len())];
        let creditor = accounts[random.below(accounts.len())];
        if debtor.0 == creditor.0 {
            continue;
        }
        let amount = format!("{}.{:02}", 1 + random.below(500), random.below(100));
        let response = submit_one(
            &mut client,
            token,
            &format!("p-{n}"),
            transfer_document(n, debtor.0, creditor.0, debtor.1, &amount),
        )
        .await
        .unwrap();
        let result = only_result(&response);
        match transfer_answer(name, in_scope(debtor.0), debtor, creditor, result) {
            TransferAnswer::OutOfScope => rejected_out_of_scope += 1,
            TransferAnswer::CurrencyMismatch => {}
            TransferAnswer::Applied => {
                applied.insert(n, (debtor.0, creditor.0, debtor.1, amount));
                applied_count += 1;
            }
        }
    }
    assert!(rejected_out_of_scope > 10 && applied_count > 10 && !returned_by.is_empty());

    // Every transfer debits an account in the scope of the client that
    // caused it: the payment's creator, or for a reversal, who returned it.
    let db = server.database.client().await;
    let rows = db
        .query(
            "SELECT t.payment_id, t.kind, p.created_by_client_id, a.external_reference \
             FROM transfers t JOIN payments p USING (payment_id) \
             JOIN accounts a ON a.account_id = t.debit_account_id",
            &[],
        )
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        let payment_id: i64 = row.get(0);
        let kind: String = row.get(1);
        let created_by: Option<String> = row.get(2);
        let debited: String = row.get(3);
        let client = if kind == "REVERSAL" {
            returned_by[&payment_id].to_owned()
        } else {
            created_by.expect("a payment made over the API records its creator")
        };
        assert!(
            scopes[client.as_str()].allows(&AccountReference::parse(&debited).unwrap()),
            "{kind} transfer of payment {payment_id} debits {debited}, outside {client}'s scope"
        );
    }
    // Balances sum to zero per currency.
    let sums = db
        .query(
            "SELECT currency, sum(credits_posted - debits_posted)::BIGINT, \
                    sum(credits_pending - debits_pending)::BIGINT \
             FROM accounts GROUP BY currency",
            &[],
        )
        .await
        .unwrap();
    for row in sums {
        let currency: String = row.get(0);
        assert_eq!(row.get::<_, i64>(1), 0, "{currency} posted");
        assert_eq!(row.get::<_, i64>(2), 0, "{currency} pending");
    }
    server.shut_down().await;
}

// --- The older token form ----------------------------------------------------

#[tokio::test]
async fn the_older_token_form_still_authenticates_with_submit_and_read_but_not_admin() {
    let tokens = Tokens::parse("old-a=token-old-a-000000001, old-b=token-old-b-000000001").unwrap();
    let server = start_server(tokens).await;
    let mut client = server.client().await;
    for (name, token) in [
        ("old-a", "token-old-a-000000001"),
        ("old-b", "token-old-b-000000001"),
    ] {
        let response = submit_one(
            &mut client,
            token,
            "k-1",
            transfer_document(
                if name == "old-a" { 1 } else { 2 },
                DEBTOR_IBAN,
                CREDITOR_IBAN,
                "EUR",
                "3.00",
            ),
        )
        .await
        .unwrap();
        let result = only_result(&response);
        assert_eq!(result.outcome(), Outcome::Applied, "{name}: {response:?}");
        client
            .get_payment(authed(
                token,
                proto::GetPaymentRequest {
                    key: Some(proto::get_payment_request::Key::PaymentId(
                        result.payment_id,
                    )),
                },
            ))
            .await
            .unwrap();
        client
            .get_account(authed(
                token,
                proto::GetAccountRequest {
                    key: Some(proto::get_account_request::Key::ExternalReference(
                        DEBTOR_IBAN.to_owned(),
                    )),
                    as_of: None,
                },
            ))
            .await
            .unwrap();
        let before = written(&server).await;
        let status = client
            .open_account(authed(
                token,
                proto::OpenAccountRequest {
                    external_reference: format!("ACCT-{name}"),
                    currency: "EUR".to_owned(),
                    overdraft: proto::OverdraftRule::Unrestricted as i32,
                },
            ))
            .await
            .unwrap_err();
        assert_denied(&status, "ROLE_REQUIRED", Some("admin"), name, name);
        let status = client
            .list_admin_changes(authed(token, proto::ListAdminChangesRequest::default()))
            .await
            .unwrap_err();
        assert_denied(&status, "ROLE_REQUIRED", Some("admin"), name, name);
        assert_eq!(before, written(&server).await);
    }
    server.shut_down().await;
}

// --- The record of administrative changes ------------------------------------

#[tokio::test]
async fn administrative_changes_through_the_api_are_listed_in_order_with_their_author_and_paged() {
    let server = start_server(access_tokens()).await;
    let mut client = server.client().await;
    // The support opened two accounts already; those are recorded too.
    let earlier = sql_i64(&server, "SELECT count(*) FROM admin_changes").await;
    for reference in ["ACCT-X-1", "ACCT-X-2"] {
        client
            .open_account(authed(
                ADMIN.1,
                proto::OpenAccountRequest {
                    external_reference: reference.to_owned(),
                    currency: "EUR".to_owned(),
                    overdraft: proto::OverdraftRule::DebitsMustNotExceedCredits as i32,
                },
            ))
            .await
            .unwrap();
    }
    for reference in ["ACCT-X-1", "ACCT-X-2"] {
        client
            .set_settlement_account(authed(
                ADMIN.1,
                proto::SetSettlementAccountRequest {
                    agent_bic: "BANKDEFFXXX".to_owned(),
                    external_reference: reference.to_owned(),
                },
            ))
            .await
            .unwrap();
    }
    client
        .set_clearing_account(authed(
            ADMIN.1,
            proto::SetClearingAccountRequest {
                external_reference: "ACCT-X-1".to_owned(),
            },
        ))
        .await
        .unwrap();

    let mut changes = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_admin_changes(authed(
                ADMIN.1,
                proto::ListAdminChangesRequest {
                    page_size: 2,
                    page_token: page_token.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.changes.len() <= 2);
        pages += 1;
        changes.extend(page.changes);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(changes.len() as i64, earlier + 5);
    assert!(pages >= 4, "{pages} pages");
    assert!(
        changes
            .windows(2)
            .all(|pair| pair[0].change_id < pair[1].change_id),
        "oldest first"
    );
    let ours: Vec<(&str, &str, &str, &str)> = changes[earlier as usize..]
        .iter()
        .map(|change| {
            assert_eq!(change.client_id, "admin", "{change:?}");
            assert!(change.changed_at_unix_seconds > 0, "{change:?}");
            (
                change.action.as_str(),
                change.subject.as_str(),
                change.value_before.as_str(),
                change.value_after.as_str(),
            )
        })
        .collect();
    assert_eq!(ours[0].0, "OPEN_ACCOUNT");
    assert_eq!(ours[0].1, "account ACCT-X-1");
    assert_eq!(ours[0].2, "");
    assert!(ours[0].3.contains("currency=EUR"), "{:?}", ours[0]);
    assert_eq!(ours[1].1, "account ACCT-X-2");
    assert_eq!(
        ours[2..],
        [
            (
                "SET_SETTLEMENT_ACCOUNT",
                "settlement BANKDEFFXXX EUR",
                "",
                "ACCT-X-1"
            ),
            (
                "SET_SETTLEMENT_ACCOUNT",
                "settlement BANKDEFFXXX EUR",
                "ACCT-X-1",
                "ACCT-X-2"
            ),
            ("SET_CLEARING_ACCOUNT", "clearing EUR", "", "ACCT-X-1"),
        ]
    );
    // A page token continues after the change it names.
    let after_third = client
        .list_admin_changes(authed(
            ADMIN.1,
            proto::ListAdminChangesRequest {
                page_size: 100,
                page_token: changes[2].change_id.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after_third.changes, changes[3..]);
    assert!(after_third.next_page_token.is_empty());
    server.shut_down().await;
}

#[tokio::test]
async fn the_admin_changes_table_refuses_update_and_delete() {
    let server = start_server(access_tokens()).await;
    let db = server.database.client().await;
    let before = sql_i64(&server, "SELECT count(*) FROM admin_changes").await;
    assert!(before > 0, "the support's accounts are recorded");
    for statement in [
        "UPDATE admin_changes SET client_id = 'someone-else'",
        "DELETE FROM admin_changes",
        "TRUNCATE admin_changes",
    ] {
        let error = db.batch_execute(statement).await.unwrap_err();
        let error = error.as_db_error().expect("a database error");
        assert!(
            error.message().contains("append-only"),
            "{statement}: {error:?}"
        );
    }
    assert_eq!(
        sql_i64(&server, "SELECT count(*) FROM admin_changes").await,
        before
    );
    assert_eq!(
        sql_i64(
            &server,
            "SELECT count(*) FROM admin_changes WHERE client_id = 'someone-else'"
        )
        .await,
        0
    );
    server.shut_down().await;
}

/// Runs the `ledger` binary against `server`'s database as operator `user`.
async fn ledger_cli(server: &TestServer, user: &str, arguments: &[&str]) -> String {
    let database_url = ledger_system_tests::database_url(&server.database.config);
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
    command
        .args(arguments)
        .env("DATABASE_URL", database_url)
        .env_remove("LEDGER_DATA_DIR")
        .env_remove("LEDGER_TOKENS")
        .env_remove("LEDGER_TOKENS_FILE")
        .env_remove("RUST_LOG")
        .env_remove("LOGNAME")
        .env("USER", user);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{arguments:?}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_audit_log_command_prints_changes_made_with_the_cli_under_the_operators_name() {
    let server = start_server(access_tokens()).await;
    ledger_cli(
        &server,
        "alice",
        &[
            "accounts",
            "open",
            "--reference",
            "ACCT-CLI-1",
            "--other-id",
            "--currency",
            "EUR",
            "--overdraft",
            "unrestricted",
        ],
    )
    .await;
    ledger_cli(
        &server,
        "alice",
        &["accounts", "map-clearing", "--reference", "ACCT-CLI-1"],
    )
    .await;
    // An admin's change over the API is in the same log.
    let mut client = server.client().await;
    client
        .set_clearing_account(authed(
            ADMIN.1,
            proto::SetClearingAccountRequest {
                external_reference: DEBTOR_IBAN.to_owned(),
            },
        ))
        .await
        .unwrap();

    let log = ledger_cli(&server, "alice", &["audit-log"]).await;
    let lines: Vec<&str> = log.lines().collect();
    let ours: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| !line.contains("test-operator"))
        .collect();
    assert_eq!(ours.len(), 3, "{log}");
    assert!(
        ours[0].contains("cli:alice OPEN_ACCOUNT account ACCT-CLI-1: (none) ->"),
        "{log}"
    );
    assert!(
        ours[1].contains("cli:alice SET_CLEARING_ACCOUNT clearing EUR: (none) -> ACCT-CLI-1"),
        "{log}"
    );
    assert!(
        ours[2].contains(&format!(
            "admin SET_CLEARING_ACCOUNT clearing EUR: ACCT-CLI-1 -> {DEBTOR_IBAN}"
        )),
        "{log}"
    );

    // --after and --limit page through it.
    let first_id: i64 = ours[0].split_whitespace().next().unwrap().parse().unwrap();
    let page = ledger_cli(
        &server,
        "alice",
        &[
            "audit-log",
            "--after",
            &first_id.to_string(),
            "--limit",
            "1",
        ],
    )
    .await;
    assert_eq!(page.lines().count(), 1, "{page}");
    assert_eq!(page.lines().next().unwrap(), ours[1]);
    let last_id: i64 = ours[2].split_whitespace().next().unwrap().parse().unwrap();
    let none = ledger_cli(
        &server,
        "alice",
        &["audit-log", "--after", &last_id.to_string()],
    )
    .await;
    assert_eq!(none.trim(), "no administrative changes");
    server.shut_down().await;
}

/// A pain.001.001.03 of one transaction (a hold) from `debtor` to `creditor`.
fn hold_document(n: u64, debtor: &str, creditor: &str, amount: &str) -> Vec<u8> {
    format!(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\"><CstmrCdtTrfInitn>\
         <GrpHdr><MsgId>H-{n}</MsgId><CreDtTm>2026-11-30T10:00:00</CreDtTm><NbOfTxs>1</NbOfTxs>\
         <InitgPty><Nm>Initiator</Nm></InitgPty></GrpHdr>\
         <PmtInf><PmtInfId>B-{n}</PmtInfId><PmtMtd>TRF</PmtMtd><ReqdExctnDt>2026-11-30</ReqdExctnDt>\
         <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><Othr><Id>{debtor}</Id></Othr></Id></DbtrAcct>\
         <DbtrAgt><FinInstnId><BIC>BANKDEFFXXX</BIC></FinInstnId></DbtrAgt>\
         <CdtTrfTxInf><PmtId><InstrId>HI-{n}</InstrId><EndToEndId>HE-{n}</EndToEndId></PmtId>\
         <Amt><InstdAmt Ccy=\"EUR\">{amount}</InstdAmt></Amt>\
         <CdtrAgt><FinInstnId><BIC>BANKFRPPXXX</BIC></FinInstnId></CdtrAgt>\
         <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><Othr><Id>{creditor}</Id></Othr></Id></CdtrAcct>\
         </CdtTrfTxInf></PmtInf></CstmrCdtTrfInitn></Document>"
    )
    .into_bytes()
}

/// A pacs.002.001.10 with status `status` (`ACSC` settles, `RJCT` voids) for
/// the hold `hold_document(n, ...)` made.
fn hold_status_document(n: u64, report: u64, status: &str) -> Vec<u8> {
    format!(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10\"><FIToFIPmtStsRpt>\
         <GrpHdr><MsgId>S-{report}</MsgId><CreDtTm>2026-11-30T11:00:00Z</CreDtTm></GrpHdr>\
         <TxInfAndSts><OrgnlGrpInf><OrgnlMsgId>H-{n}</OrgnlMsgId>\
         <OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId></OrgnlGrpInf>\
         <OrgnlInstrId>HI-{n}</OrgnlInstrId><OrgnlEndToEndId>HE-{n}</OrgnlEndToEndId>\
         <TxSts>{status}</TxSts>\
         <InstgAgt><FinInstnId><BICFI>BANKFRPPXXX</BICFI></FinInstnId></InstgAgt>\
         <InstdAgt><FinInstnId><BICFI>BANKDEFFXXX</BICFI></FinInstnId></InstdAgt>\
         </TxInfAndSts></FIToFIPmtStsRpt></Document>"
    )
    .into_bytes()
}

/// Makes the hold `hold_document(n, "ACCT-B-1", "ACCT-A-1", "30.00")` as
/// `client_id` (whose scope must hold ACCT-B-1).
async fn hold(server: &TestServer, client_id: &str, n: u64) -> ledger::Receipt {
    let document = hold_document(n, "ACCT-B-1", "ACCT-A-1", "30.00");
    let parsed = iso20022::parse_document(&document).unwrap();
    let messages = parsed
        .transactions
        .iter()
        .filter_map(|transaction| {
            ledger_api::convert::payment_message(&parsed.kind, &parsed.group_header, transaction)
                .unwrap()
        })
        .map(|mut message| {
            message.target_state = ledger::model::PaymentState::Pending;
            message
        })
        .collect();
    let command = ledger::ApplyCommand::new(
        ledger::model::ClientId::parse(client_id).unwrap(),
        ledger::model::IdempotencyKey::parse(&format!("hold-{n}")).unwrap(),
        messages,
    )
    .with_debit_scope(AccountScope::parse("ACCT-B-*").unwrap());
    let mut receipts = server
        .database
        .ledger
        .apply(&command)
        .await
        .unwrap()
        .receipts;
    assert_eq!(receipts.len(), 1);
    receipts.remove(0)
}

#[tokio::test]
async fn only_a_client_whose_scope_holds_the_debtor_account_may_settle_or_void_a_hold() {
    let server = server_with_a_holder_of_each_account().await;
    let mut client = server.client().await;
    let holder_b = "token-holder-b-000000001";
    for (n, status, settled) in [(1, "ACSC", true), (2, "RJCT", false)] {
        // Over the API a pain.001 settles at once; a hold is made through
        // the ledger, as a client with scope B would make it.
        let held = hold(&server, "holder-b", n).await;
        assert_eq!(held.outcome, ledger::model::Outcome::Applied, "{held:?}");
        assert_eq!(
            held.state,
            Some(ledger::model::PaymentState::Pending),
            "{held:?}"
        );
        let before = written(&server).await;

        // The creditor's client may not settle or void a hold on the debtor.
        let refused = submit_one(
            &mut client,
            BOTH.1,
            &format!("status-a-{n}"),
            hold_status_document(n, 10 + n, status),
        )
        .await
        .unwrap();
        let result = only_result(&refused);
        assert_eq!(result.outcome(), Outcome::Rejected, "{status}: {refused:?}");
        assert_eq!(result.reason_code, "DEBIT_ACCOUNT_OUT_OF_SCOPE", "{status}");
        assert_only_the_answer_is_stored(&before, &written(&server).await, status);

        let applied = submit_one(
            &mut client,
            holder_b,
            &format!("status-b-{n}"),
            hold_status_document(n, 20 + n, status),
        )
        .await
        .unwrap();
        let result = only_result(&applied);
        assert_eq!(result.outcome(), Outcome::Applied, "{status}: {applied:?}");
        let expected_state = if settled {
            proto::PaymentState::Settled
        } else {
            proto::PaymentState::Rejected
        };
        assert_eq!(result.state(), expected_state, "{status}");
    }
    // The settled hold is posted; the voided one released.
    assert_eq!(balance_of(&server, "ACCT-B-1").await, (3_000, 0));
    assert_eq!(balance_of(&server, "ACCT-A-1").await, (0, 3_000));
    server.shut_down().await;
}

#[tokio::test]
async fn a_scoped_reader_cannot_tell_an_account_id_outside_its_scope_from_one_that_does_not_exist()
{
    let server = start_server(access_tokens()).await;
    open_accounts(&server, &[("ACCT-A-1", "EUR"), ("ACCT-B-1", "EUR")]).await;
    let mut client = server.client().await;
    let existing = account_id(&server, "ACCT-B-1").await;
    let missing = existing + 1_000;
    for id in [existing, missing] {
        let status = client
            .get_account(authed(
                READER.1,
                proto::GetAccountRequest {
                    key: Some(proto::get_account_request::Key::AccountId(id)),
                    as_of: None,
                },
            ))
            .await
            .unwrap_err();
        assert_denied(
            &status,
            "ACCOUNT_OUT_OF_SCOPE",
            None,
            READER.0,
            "GetAccount",
        );
        let status = client
            .list_transfers(authed(
                READER.1,
                proto::ListTransfersRequest {
                    account_id: id,
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_denied(
            &status,
            "ACCOUNT_OUT_OF_SCOPE",
            None,
            READER.0,
            "ListTransfers",
        );
    }
    // An unscoped reader is told the truth.
    let status = client
        .get_account(authed(
            LEGACY.1,
            proto::GetAccountRequest {
                key: Some(proto::get_account_request::Key::AccountId(missing)),
                as_of: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    server.shut_down().await;
}

#[tokio::test]
async fn in_one_document_a_transaction_out_of_scope_is_rejected_and_the_one_in_scope_applied() {
    let server = start_server(access_tokens()).await;
    open_accounts(&server, &[("ACCT-A-1", "EUR"), ("ACCT-B-1", "EUR")]).await;
    let mut client = server.client().await;
    // Two transactions of two single-transaction documents, spliced.
    let first =
        String::from_utf8(transfer_document(1, "ACCT-A-1", "ACCT-B-1", "EUR", "5.00")).unwrap();
    let second =
        String::from_utf8(transfer_document(2, "ACCT-B-1", "ACCT-A-1", "EUR", "7.00")).unwrap();
    let transaction = |document: &str| {
        let start = document.find("<CdtTrfTxInf>").unwrap();
        let end = document.find("</CdtTrfTxInf>").unwrap() + "</CdtTrfTxInf>".len();
        document[start..end].to_owned()
    };
    let document = first
        .replace("<NbOfTxs>1</NbOfTxs>", "<NbOfTxs>2</NbOfTxs>")
        .replace(
            "</CdtTrfTxInf>",
            &format!("</CdtTrfTxInf>{}", transaction(&second)),
        );
    let response = submit_one(&mut client, SUBMITTER.1, "two", document.into_bytes())
        .await
        .unwrap();
    let outcomes: Vec<(Outcome, &str)> = response
        .results
        .iter()
        .map(|result| (result.outcome(), result.reason_code.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Outcome::Applied, ""),
            (Outcome::Rejected, "DEBIT_ACCOUNT_OUT_OF_SCOPE")
        ],
        "{response:?}"
    );
    assert_eq!(balance_of(&server, "ACCT-A-1").await, (500, 0));
    assert_eq!(balance_of(&server, "ACCT-B-1").await, (0, 500));
    server.shut_down().await;
}
