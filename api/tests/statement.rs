//! Statements out: `ledger statement` and `GetStatement` write an account's
//! camt.053.001.08 that validates against the XSD, that `ledger reconcile
//! --statement` reports clean, and that names exactly the entry someone
//! removed, altered or duplicated; periods chain (each opening balance is
//! the previous closing balance); and a client reads only the statements of
//! its scope.
//!
//! A real PostgreSQL database per test; the binary runs as an operator would.

#[path = "support/ledger_binary.rs"]
mod ledger_binary;
#[path = "support/server.rs"]
mod test_server;

use ledger_binary::ledger_binary;
use test_server::*;

use std::path::{Path, PathBuf};
use std::process::Command;

use ledger::audit::{CalendarDate, Direction};
use ledger::model::{
    AccountReference, BusinessKey, OverdraftRule, PaymentInstruction, PaymentMessage, PaymentState,
    TransferKind,
};
use ledger::{AccountStatement, Ledger, StatementPeriod};
use ledger_api::grpc::auth::Tokens;
use ledger_api::grpc::proto;
use ledger_api::reconcile::statements_from_reader;
use ledger_api::server::ServerConfig;
use ledger_system_tests::fixtures::{account_side, command, eur, open, status, transfer};
use ledger_system_tests::TestDatabase;
use tonic::Code;

const ALICE: &str = "DE89370400440532013000";
const BOB: &str = "FR1420041010050500013M02606";
const CLEARING: &str = "EURCLEARING01";
const XSD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/iso20022/xsd/camt.053.001.08.xsd"
);
const UETR: &str = "2f0c8a7e-5b3d-4c1a-9e6f-000000000004";

/// Yesterday and today, as the database books them (UTC).
async fn yesterday_and_today(db: &TestDatabase) -> (String, String) {
    let row = db
        .client()
        .await
        .query_one(
            "SELECT to_char((now() AT TIME ZONE 'UTC')::DATE - 1, 'YYYY-MM-DD'), \
                    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// A ledger where, yesterday, ALICE paid BOB `P-1` (12.50); today ALICE
/// paid BOB `P-2` (3.00), which BOB returned, BOB paid ALICE 20.00 by UETR,
/// and ALICE's `P-3` (1.00) to the clearing account is held (pending, not
/// booked).
async fn ledger_with_two_days_of_payments() -> TestDatabase {
    let db = TestDatabase::with_defaults().await;
    for name in [ALICE, BOB, CLEARING] {
        db.ledger
            .open_account(&open(name, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
    let messages = [
        transfer("P-1", PaymentState::Settled, eur(1_250), ALICE, BOB),
        transfer("P-2", PaymentState::Settled, eur(300), ALICE, BOB),
        status("P-2", PaymentState::Returned),
        PaymentMessage {
            business_key: BusinessKey::uetr(UETR).unwrap(),
            target_state: PaymentState::Settled,
            instruction: Some(PaymentInstruction {
                amount: eur(2_000),
                debtor: account_side(BOB),
                creditor: account_side(ALICE),
                reference: None,
            }),
            reason: None,
            returned_amount: None,
            return_id: None,
        },
        transfer("P-3", PaymentState::Pending, eur(100), ALICE, CLEARING),
    ];
    for (number, message) in messages.into_iter().enumerate() {
        let response = db
            .ledger
            .apply(&command("bank-a", &format!("key-{number}"), message))
            .await
            .unwrap();
        assert!(
            response.receipts[0].outcome.code() == "APPLIED",
            "{response:?}"
        );
    }
    // P-1 was booked yesterday.
    db.client()
        .await
        .execute(
            "UPDATE transfers SET created_at = created_at - INTERVAL '1 day' \
             WHERE payment_id = (SELECT min(payment_id) FROM payments)",
            &[],
        )
        .await
        .unwrap();
    db
}

fn date(text: &str) -> CalendarDate {
    CalendarDate::parse(text).unwrap()
}

async fn statement_of(ledger: &Ledger, account: &str, from: &str, to: &str) -> AccountStatement {
    ledger
        .statement(
            &AccountReference::parse(account).unwrap(),
            StatementPeriod {
                from: date(from),
                to: date(to),
            },
        )
        .await
        .unwrap()
        .expect("the account exists")
}

fn signed(balance: &ledger::audit::StatementBalance) -> i128 {
    balance.signed_minor_units()
}

/// `ledger statement` of ALICE from `from` to `to` into a file in `directory`.
async fn write_statement(db: &TestDatabase, directory: &Path, from: &str, to: &str) -> PathBuf {
    let path = directory.join("statement.xml");
    let run = ledger_binary(
        ledger_system_tests::database_url(&db.config),
        [
            "statement",
            "--account",
            ALICE,
            "--from",
            from,
            "--to",
            to,
            "--out",
        ]
        .iter()
        .map(|argument| argument.to_string())
        .chain([path.display().to_string()])
        .collect(),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "", "the document goes to the file");
    path
}

/// `ledger reconcile --statement FILE --format json`: its exit code and its
/// discrepancies as (code, subject).
async fn reconcile(db: &TestDatabase, path: &Path) -> (i32, Vec<(String, String)>) {
    let run = ledger_binary(
        ledger_system_tests::database_url(&db.config),
        vec![
            "reconcile".to_owned(),
            "--statement".to_owned(),
            path.display().to_string(),
            "--format".to_owned(),
            "json".to_owned(),
        ],
    )
    .await;
    assert_ne!(run.code, 2, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let found = report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|discrepancy| {
            (
                discrepancy["code"].as_str().unwrap().to_owned(),
                discrepancy["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (run.code, found)
}

fn xmllint(path: &Path) {
    let output = Command::new("xmllint")
        .args(["--noout", "--schema", XSD])
        .arg(path)
        .output()
        .unwrap_or_else(|error| {
            panic!("xmllint is required (Debian package libxml2-utils): {error}")
        });
    assert!(
        output.status.success(),
        "xmllint refused the statement:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(path).unwrap()
    );
}

/// A statement document split into what comes before its entries, each
/// `Ntry` element, and what comes after.
struct Entries {
    head: String,
    entries: Vec<String>,
    tail: String,
}

impl Entries {
    fn split(document: &str) -> Entries {
        let start = document.find("      <Ntry>\n").expect("an entry");
        let end = document.rfind("      </Ntry>\n").expect("an entry") + "      </Ntry>\n".len();
        let entries = document[start..end]
            .split_inclusive("      </Ntry>\n")
            .map(str::to_owned)
            .collect();
        Entries {
            head: document[..start].to_owned(),
            entries,
            tail: document[end..].to_owned(),
        }
    }

    /// The position (0-based) of the entry naming `text`.
    fn position_of(&self, text: &str) -> usize {
        self.entries
            .iter()
            .position(|entry| entry.contains(text))
            .unwrap_or_else(|| panic!("no entry with {text}"))
    }

    fn join(&self) -> String {
        format!("{}{}{}", self.head, self.entries.concat(), self.tail)
    }
}

#[tokio::test]
async fn a_statement_the_ledger_writes_validates_against_the_xsd() {
    let db = ledger_with_two_days_of_payments().await;
    let (yesterday, today) = yesterday_and_today(&db).await;
    let directory = tempfile::tempdir().unwrap();
    let path = write_statement(&db, directory.path(), &yesterday, &today).await;
    xmllint(&path);
    let document = std::fs::read_to_string(&path).unwrap();
    assert!(
        document.contains(&format!("<UETR>{UETR}</UETR>")),
        "{document}"
    );
    assert!(document.contains("<EndToEndId>P-1</EndToEndId>"));
    assert!(document.contains("<SubFmlyCd>RRTN</SubFmlyCd>"));
    assert!(
        !document.contains("<Amt Ccy=\"EUR\">1.00</Amt>"),
        "a hold is not booked"
    );

    let other = tempfile::tempdir().unwrap();
    let run = ledger_binary(
        ledger_system_tests::database_url(&db.config),
        [
            "statement",
            "--account",
            CLEARING,
            "--from",
            &today,
            "--to",
            &today,
        ]
        .iter()
        .map(|argument| argument.to_string())
        .collect(),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let path = other.path().join("clearing.xml");
    std::fs::write(&path, &run.stdout).unwrap();
    xmllint(&path);
    assert!(run.stdout.contains("<Othr>"), "{}", run.stdout);
    assert!(!run.stdout.contains("<Ntry>"), "only a hold on it");
}

#[tokio::test]
async fn reconcile_reports_a_statement_the_ledger_wrote_clean() {
    let db = ledger_with_two_days_of_payments().await;
    let (yesterday, today) = yesterday_and_today(&db).await;
    let directory = tempfile::tempdir().unwrap();
    for (from, to) in [
        (&yesterday, &yesterday),
        (&today, &today),
        (&yesterday, &today),
    ] {
        let path = write_statement(&db, directory.path(), from, to).await;
        assert_eq!(reconcile(&db, &path).await, (0, vec![]), "{from} to {to}");
    }
}

/// The statement of ALICE over both days, its entries split out, the
/// ledger's statement beside it, and the statement's id.
async fn written_statement(db: &TestDatabase) -> (Entries, AccountStatement, String) {
    let (yesterday, today) = yesterday_and_today(db).await;
    let directory = tempfile::tempdir().unwrap();
    let path = write_statement(db, directory.path(), &yesterday, &today).await;
    let entries = Entries::split(&std::fs::read_to_string(path).unwrap());
    let statement = statement_of(&db.ledger, ALICE, &yesterday, &today).await;
    let id = ledger_api::statement::statement_id(&statement);
    assert_eq!(entries.entries.len(), 4);
    (entries, statement, id)
}

async fn reconcile_text(db: &TestDatabase, document: &str) -> (i32, Vec<(String, String)>) {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("changed.xml");
    std::fs::write(&path, document).unwrap();
    reconcile(db, &path).await
}

#[tokio::test]
async fn a_statement_with_an_entry_removed_names_exactly_that_transfer() {
    let db = ledger_with_two_days_of_payments().await;
    let (mut entries, statement, id) = written_statement(&db).await;
    let position = entries.position_of("<EndToEndId>P-2</EndToEndId>");
    entries.entries.remove(position);
    let removed = &statement.entries[position];
    assert_eq!(removed.kind, TransferKind::Posted);
    assert_eq!(
        reconcile_text(&db, &entries.join()).await,
        (
            1,
            vec![(
                "LEDGER_ENTRY_MISSING_IN_STATEMENT".to_owned(),
                format!(
                    "statement {id} account {ALICE} transfer {}",
                    removed.transfer_id
                )
            )]
        )
    );
}

#[tokio::test]
async fn a_statement_with_an_amount_altered_names_exactly_that_entry() {
    let db = ledger_with_two_days_of_payments().await;
    let (mut entries, _, id) = written_statement(&db).await;
    let position = entries.position_of("<EndToEndId>P-1</EndToEndId>");
    let entry = &mut entries.entries[position];
    assert!(entry.contains("<Amt Ccy=\"EUR\">12.50</Amt>"), "{entry}");
    *entry = entry.replace(
        "<Amt Ccy=\"EUR\">12.50</Amt>",
        "<Amt Ccy=\"EUR\">12.51</Amt>",
    );
    assert_eq!(
        reconcile_text(&db, &entries.join()).await,
        (
            1,
            vec![(
                "STATEMENT_AMOUNT_MISMATCH".to_owned(),
                format!("statement {id} account {ALICE} entry {}", position + 1)
            )]
        )
    );
}

#[tokio::test]
async fn a_statement_with_an_entry_duplicated_names_exactly_the_copy() {
    let db = ledger_with_two_days_of_payments().await;
    let (mut entries, _, id) = written_statement(&db).await;
    let position = entries.position_of(&format!("<UETR>{UETR}</UETR>"));
    let copy = entries.entries[position].clone();
    entries.entries.push(copy);
    assert_eq!(
        reconcile_text(&db, &entries.join()).await,
        (
            1,
            vec![(
                "STATEMENT_ENTRY_MISSING_IN_LEDGER".to_owned(),
                format!("statement {id} account {ALICE} entry 5")
            )]
        )
    );
}

#[tokio::test]
async fn a_duplicate_beside_its_original_is_named_even_when_the_payment_has_a_return() {
    // P-2's payment and its return are both on ALICE: the copy of the
    // payment's entry must not be taken for the return.
    let db = ledger_with_two_days_of_payments().await;
    let (mut entries, _, id) = written_statement(&db).await;
    let position = entries.position_of("<EndToEndId>P-2</EndToEndId>");
    let copy = entries.entries[position].clone();
    entries.entries.insert(position + 1, copy);
    assert_eq!(
        reconcile_text(&db, &entries.join()).await,
        (
            1,
            vec![(
                "STATEMENT_ENTRY_MISSING_IN_LEDGER".to_owned(),
                format!("statement {id} account {ALICE} entry {}", position + 2)
            )]
        )
    );
}

#[tokio::test]
async fn the_opening_balance_of_a_period_is_the_closing_balance_of_the_one_before() {
    let db = ledger_with_two_days_of_payments().await;
    let (yesterday, today) = yesterday_and_today(&db).await;
    let first = statement_of(&db.ledger, ALICE, &yesterday, &yesterday).await;
    let second = statement_of(&db.ledger, ALICE, &today, &today).await;
    let both = statement_of(&db.ledger, ALICE, &yesterday, &today).await;

    assert_eq!(signed(&first.opening_booked), 0);
    assert_eq!(signed(&first.closing_booked), -1_250);
    assert_eq!(first.closing_booked.direction, Direction::Debit);
    assert_eq!(
        signed(&second.opening_booked),
        signed(&first.closing_booked)
    );
    // -12.50, then -3.00 + 3.00 (returned) + 20.00.
    assert_eq!(signed(&second.closing_booked), 750);
    assert_eq!(second.closing_booked, both.closing_booked);
    assert_eq!(first.opening_booked, both.opening_booked);
    let kinds: Vec<TransferKind> = second.entries.iter().map(|entry| entry.kind).collect();
    assert_eq!(
        kinds,
        [
            TransferKind::Posted,
            TransferKind::Reversal,
            TransferKind::Posted
        ]
    );
    assert_eq!(
        both.entries.len(),
        first.entries.len() + second.entries.len()
    );

    let tomorrow_and_after = statement_of(&db.ledger, ALICE, "9999-12-30", "9999-12-31").await;
    assert_eq!(tomorrow_and_after.opening_booked, second.closing_booked);
    assert_eq!(tomorrow_and_after.entries, vec![]);
}

#[tokio::test]
async fn a_period_that_ends_before_it_starts_or_an_unknown_account_is_refused() {
    let db = ledger_with_two_days_of_payments().await;
    let run = ledger_binary(
        ledger_system_tests::database_url(&db.config),
        [
            "statement",
            "--account",
            ALICE,
            "--from",
            "2026-02-02",
            "--to",
            "2026-02-01",
        ]
        .iter()
        .map(|argument| argument.to_string())
        .collect(),
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("before it starts"), "{}", run.stderr);

    let run = ledger_binary(
        ledger_system_tests::database_url(&db.config),
        [
            "statement",
            "--account",
            "GB82WEST12345698765432",
            "--from",
            "2026-02-01",
            "--to",
            "2026-02-01",
        ]
        .iter()
        .map(|argument| argument.to_string())
        .collect(),
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("no account"), "{}", run.stderr);
}

// ------------------------------------------------------------------ gRPC

const SCOPED_READER: &str = "token-scoped-reader-0001";
const SUBMITTER: &str = "token-submitter-00000001";

fn request(reference: &str, from: &str, to: &str) -> proto::GetStatementRequest {
    proto::GetStatementRequest {
        external_reference: reference.to_owned(),
        from_date: from.to_owned(),
        to_date: to.to_owned(),
    }
}

#[tokio::test]
async fn get_statement_returns_the_document_of_an_account_in_scope() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let (_, today) = yesterday_and_today(&server.database).await;
    let response = client
        .get_statement(authed(TOKEN_B, request(DEBTOR_IBAN, &today, &today)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.entry_count, 0);
    let statements = statements_from_reader(&response.document[..]).unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0].statement_id, response.statement_id);
    assert_eq!(statements[0].account.as_str(), DEBTOR_IBAN);
    assert_eq!(statements[0].from, date(&today));

    let refused = client
        .get_statement(authed(TOKEN_B, request(DEBTOR_IBAN, &today, "someday")))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    server.shut_down().await;
}

#[tokio::test]
async fn get_statement_refuses_an_account_outside_the_scope_with_permission_denied() {
    let tokens = Tokens::parse(&format!(
        "reader={SCOPED_READER} roles=read scope=DE89*\nsubmitter={SUBMITTER} roles=submit"
    ))
    .unwrap();
    let server = TestServer::start_with(ServerConfig {
        tokens,
        ..ServerConfig::default()
    })
    .await;
    let mut client = server.client().await;
    let (_, today) = yesterday_and_today(&server.database).await;

    let outside = client
        .get_statement(authed(
            SCOPED_READER,
            request(CREDITOR_IBAN, &today, &today),
        ))
        .await
        .unwrap_err();
    assert_eq!(outside.code(), Code::PermissionDenied, "{outside:?}");
    let unknown_outside = client
        .get_statement(authed(
            SCOPED_READER,
            request("GB82WEST12345698765432", &today, &today),
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown_outside.code(), Code::PermissionDenied);
    let without_read = client
        .get_statement(authed(SUBMITTER, request(DEBTOR_IBAN, &today, &today)))
        .await
        .unwrap_err();
    assert_eq!(without_read.code(), Code::PermissionDenied);

    let inside = client
        .get_statement(authed(SCOPED_READER, request(DEBTOR_IBAN, &today, &today)))
        .await
        .unwrap()
        .into_inner();
    assert!(!inside.document.is_empty());
    server.shut_down().await;
}
