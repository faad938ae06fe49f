//! `ledger reconcile` as an operator runs it: camt.053
//! statements compared with the ledger, the report as a table, JSON and CSV,
//! and the exit codes (0 clean, 1 discrepancies, 2 the audit could not run).

use std::path::{Path, PathBuf};

#[path = "support/ledger_binary.rs"]
mod ledger_binary;

use ledger_binary::{ledger_binary, Run};

use ledger::model::{OverdraftRule, PaymentState};
use ledger_api::reconcile::{csv_field, statements_from_reader};
use ledger_system_tests::fixtures::{command, eur, key, open, transfer};
use ledger_system_tests::TestDatabase;

const ALICE: &str = "DE89370400440532013000";
const BOB: &str = "FR1420041010050500013M02606";

/// A ledger where ALICE paid BOB twice, both settled today: `P-1` (12.50)
/// and `P-2` (3.00).
async fn ledger_with_two_payments() -> TestDatabase {
    let db = TestDatabase::with_defaults().await;
    for name in [ALICE, BOB] {
        db.ledger
            .open_account(&open(name, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
    for (name, minor_units) in [("P-1", 1_250), ("P-2", 300)] {
        let message = transfer(name, PaymentState::Settled, eur(minor_units), ALICE, BOB);
        db.ledger
            .apply(&command("bank-a", name, message))
            .await
            .unwrap();
    }
    db
}

/// Today's date as the database books it (UTC).
async fn today(db: &TestDatabase) -> String {
    db.client()
        .await
        .query_one(
            "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// One booked entry: (amount, CRDT or DBIT, end-to-end id used as TxId too).
type Entry<'a> = (&'a str, &'a str, &'a str);

/// A camt.053.001.08 statement of `account` for `date` with the given
/// closing balance and entries (opening balance zero).
fn camt053(account: &str, date: &str, closing: (&str, &str), entries: &[Entry<'_>]) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>RECONCILE-TEST-1</MsgId><CreDtTm>{date}T23:59:00Z</CreDtTm></GrpHdr>
    <Stmt>
      <Id>STMT-{date}</Id>
      <CreDtTm>{date}T23:59:00Z</CreDtTm>
      <Acct><Id><IBAN>{account}</IBAN></Id></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{date}</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{}</Amt><CdtDbtInd>{}</CdtDbtInd><Dt><Dt>{date}</Dt></Dt></Bal>
"#,
        closing.0, closing.1
    );
    for (amount, direction, end_to_end_id) in entries {
        xml.push_str(&format!(
            r#"      <Ntry>
        <Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>{date}</Dt></BookgDt><ValDt><Dt>{date}</Dt></ValDt>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls><Refs><EndToEndId>{end_to_end_id}</EndToEndId><TxId>{end_to_end_id}</TxId></Refs></TxDtls></NtryDtls>
      </Ntry>
"#
        ));
    }
    xml.push_str("    </Stmt>\n  </BkToCstmrStmt>\n</Document>\n");
    xml
}

fn write_statement(directory: &Path, xml: &str) -> PathBuf {
    let path = directory.join("statement.xml");
    std::fs::write(&path, xml).unwrap();
    path
}

async fn reconcile(db: &TestDatabase, arguments: &[&str]) -> Run {
    let mut all = vec!["reconcile".to_owned()];
    all.extend(arguments.iter().map(|argument| argument.to_string()));
    ledger_binary(ledger_system_tests::database_url(&db.config), all).await
}

fn codes_in_json(stdout: &str) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_str(stdout).unwrap();
    report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|discrepancy| discrepancy["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_clean_ledger_reconciles_with_exit_code_0_in_every_format() {
    let db = ledger_with_two_payments().await;
    let table = reconcile(&db, &[]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.starts_with("reconcile: clean ("),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("2 payments, 2 transfers"));

    let json = reconcile(&db, &["--format", "json"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["clean"], true);
    assert_eq!(report["counts"]["transfers"], 2);
    assert_eq!(report["discrepancies"], serde_json::json!([]));

    let csv = reconcile(&db, &["--format", "csv"]).await;
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert_eq!(csv.stdout, "code,subject,detail\r\n");
}

#[tokio::test]
async fn a_changed_balance_exits_1_and_is_named_in_json_and_csv() {
    let db = ledger_with_two_payments().await;
    db.client()
        .await
        .execute(
            "UPDATE accounts SET debits_posted = debits_posted + 1 WHERE external_reference = $1",
            &[&ALICE],
        )
        .await
        .unwrap();
    let json = reconcile(&db, &["--format", "json"]).await;
    assert_eq!(json.code, 1, "{}", json.stderr);
    assert_eq!(
        codes_in_json(&json.stdout),
        ["TRIAL_BALANCE", "BALANCE_MISMATCH"]
    );

    let csv = reconcile(&db, &["--format", "csv"]).await;
    assert_eq!(csv.code, 1, "{}", csv.stderr);
    let lines: Vec<&str> = csv.stdout.split("\r\n").collect();
    assert_eq!(lines[0], "code,subject,detail");
    assert!(
        lines[1].starts_with("TRIAL_BALANCE,currency EUR,\""),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with(&format!("BALANCE_MISMATCH,account {ALICE} (id ")));
    assert_eq!(lines[3], "");

    let table = reconcile(&db, &[]).await;
    assert_eq!(table.code, 1);
    assert!(table.stdout.starts_with("reconcile: 2 discrepancies"));
    assert!(table.stdout.contains("BALANCE_MISMATCH"));
}

#[tokio::test]
async fn a_statement_with_a_missing_and_an_extra_entry_names_both() {
    // The statement lacks P-2 and has an entry the ledger never booked.
    let db = ledger_with_two_payments().await;
    let date = today(&db).await;
    let directory = tempfile::tempdir().unwrap();
    let xml = camt053(
        ALICE,
        &date,
        ("15.50", "DBIT"),
        &[("12.50", "DBIT", "P-1"), ("7.00", "CRDT", "NOT-IN-LEDGER")],
    );
    let path = write_statement(directory.path(), &xml);
    let run = reconcile(
        &db,
        &["--statement", path.to_str().unwrap(), "--format", "json"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let discrepancies = report["discrepancies"].as_array().unwrap();
    assert_eq!(
        codes_in_json(&run.stdout),
        [
            "STATEMENT_ENTRY_MISSING_IN_LEDGER",
            "LEDGER_ENTRY_MISSING_IN_STATEMENT"
        ]
    );
    assert_eq!(
        discrepancies[0]["subject"],
        format!("statement STMT-{date} account {ALICE} entry 2")
    );
    assert!(discrepancies[0]["detail"]
        .as_str()
        .unwrap()
        .contains("CRDT EUR 7.00"));
    assert!(discrepancies[1]["detail"]
        .as_str()
        .unwrap()
        .contains(&key("P-2").canonical()));
    assert_eq!(report["counts"]["statement_entries"], 2);
}

#[tokio::test]
async fn a_statement_that_matches_the_ledger_exits_0_and_a_wrong_closing_balance_exits_1() {
    let db = ledger_with_two_payments().await;
    let date = today(&db).await;
    let directory = tempfile::tempdir().unwrap();
    let entries = [("12.50", "DBIT", "P-1"), ("3.00", "DBIT", "P-2")];
    let path = write_statement(
        directory.path(),
        &camt053(ALICE, &date, ("15.50", "DBIT"), &entries),
    );
    let run = reconcile(&db, &["--statement", path.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("1 statement(s) with 2 booked entries"));

    let path = write_statement(
        directory.path(),
        &camt053(ALICE, &date, ("15.50", "CRDT"), &entries),
    );
    let run = reconcile(
        &db,
        &["--statement", path.to_str().unwrap(), "--format", "csv"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains(&format!(
        "CLOSING_BALANCE_MISMATCH,statement STMT-{date} account {ALICE},\
         closing booked balance on {date}: statement EUR 15.50 <> ledger -15.50\r\n"
    )));
}

#[tokio::test]
async fn an_audit_that_cannot_run_exits_2() {
    // An unreachable database, and a file that is no camt.053.
    let db = ledger_with_two_payments().await;
    let mut missing = db.config.clone();
    missing.dbname("no_such_database");
    let run = ledger_binary(
        ledger_system_tests::database_url(&missing),
        vec![
            "reconcile".to_owned(),
            "--format".to_owned(),
            "json".to_owned(),
        ],
    )
    .await;
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("the audit could not run"),
        "{}",
        run.stderr
    );

    let directory = tempfile::tempdir().unwrap();
    let path = write_statement(directory.path(), "<Document>not a statement</Document>");
    let run = reconcile(&db, &["--statement", path.to_str().unwrap()]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read the statement"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn reconcile_help_shows_an_example() {
    let run = ledger_binary(String::new(), vec!["reconcile".into(), "--help".into()]).await;
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("ledger reconcile --statement"));
    assert!(run.stdout.contains("--format <FORMAT>"));
}

#[tokio::test]
async fn a_real_camt053_sample_converts_and_names_its_unknown_account() {
    // genkgo-camt's camt.053.001.08 sample, read in place.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/iso20022/samples/camt.053/camt.053.001.08__genkgo-camt__camt053.v8.xml"
    );
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let statements = statements_from_reader(file).unwrap();
    assert_eq!(statements.len(), 1);
    let statement = &statements[0];
    assert_eq!(statement.statement_id, "253EURNL26VAYB8060476890");
    assert_eq!(statement.account.as_str(), "NL26VAYB8060476890");
    assert_eq!(statement.from.to_string(), "2014-12-30");
    assert_eq!(
        statement.opening_booked.unwrap().signed_minor_units(),
        1_815
    );
    assert!(!statement.entries.is_empty());

    let db = TestDatabase::with_defaults().await;
    let report = db.ledger.audit(Some(statement)).await.unwrap();
    assert!(report.has("STATEMENT_ACCOUNT_UNKNOWN"), "{report:?}");
}

#[test]
fn csv_fields_are_quoted_only_when_they_need_it() {
    assert_eq!(csv_field("TRIAL_BALANCE"), "TRIAL_BALANCE");
    assert_eq!(csv_field("a, b"), "\"a, b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
}
