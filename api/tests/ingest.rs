//! `ledger ingest` as an operator runs it, against a real
//! PostgreSQL database: every transaction of a file applied exactly once
//! across re-runs, kills and concurrent runs; bad files refused whole or
//! skipped transaction by transaction; the JSON-lines report, the status
//! report (validated with xmllint against the official XSD), exit codes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ledger::model::OverdraftRule;
use ledger_system_tests::fixtures::open;
use ledger_system_tests::{invariants, TestDatabase};
use support::files::{self, ledger_for_files, Pain001};

const XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/iso20022/xsd");

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// A count from the summary, e.g. `summary("applied")`.
    fn summary(&self, label: &str) -> u64 {
        self.stdout
            .lines()
            .find_map(|line| {
                let rest = line.trim_start().strip_prefix(label)?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or_else(|| panic!("no {label:?} in the summary:\n{}", self.stdout))
    }
}

fn ledger_command(database_url: &str, arguments: &[String]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
    command
        .args(arguments)
        .env("DATABASE_URL", database_url)
        .env_remove("LEDGER_DATA_DIR")
        .stdin(Stdio::null());
    command
}

/// Runs the `ledger` binary with `arguments` against `database_url`.
async fn ledger_binary(database_url: String, arguments: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let output = ledger_command(&database_url, &arguments).output().unwrap();
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

fn ingest_arguments(arguments: &[&str], files: &[&Path]) -> Vec<String> {
    let mut all = vec!["ingest".to_owned()];
    all.extend(arguments.iter().map(|argument| argument.to_string()));
    all.extend(files.iter().map(|file| file.display().to_string()));
    all
}

async fn ingest(db: &TestDatabase, arguments: &[&str], files: &[&Path]) -> Run {
    ledger_binary(
        ledger_system_tests::database_url(&db.config),
        ingest_arguments(arguments, files),
    )
    .await
}

fn write_file(directory: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn report_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn outcomes(lines: &[serde_json::Value], outcome: &str) -> usize {
    lines
        .iter()
        .filter(|line| line["outcome"] == outcome)
        .count()
}

async fn count(db: &TestDatabase, table: &str) -> i64 {
    invariants::count(&db.client().await, table).await
}

/// Every invariant the audit checks holds.
async fn assert_sound(db: &TestDatabase) {
    let violations = invariants::violations(&db.client().await).await;
    assert!(violations.is_empty(), "{violations:#?}");
    let audit = db.ledger.audit(None).await.unwrap();
    assert!(audit.is_clean(), "{audit:#?}");
}

/// Each table holds exactly one row per transaction: applied once.
async fn assert_applied_once(db: &TestDatabase, transactions: i64) {
    for table in ["payments", "transfers", "outbox", "idempotency_records"] {
        assert_eq!(count(db, table).await, transactions, "rows in {table}");
    }
    assert_sound(db).await;
}

/// Runs `xmllint --schema`; fails the test (never skips) when xmllint is missing.
fn xmllint(xsd: &str, xml: &Path) {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(format!("{XSD}/{xsd}"))
        .arg(xml)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint is required (Debian package libxml2-utils: apt-get install -y libxml2-utils): {e}")
        });
    assert!(
        out.status.success(),
        "xmllint refused {}:\n{}\n{}",
        xml.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(xml).unwrap_or_default()
    );
}

#[tokio::test]
async fn ingest_applies_every_transaction_and_a_second_ingest_applies_nothing() {
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let file = write_file(
        directory.path(),
        "pain001.xml",
        &Pain001::new("TWICE-1", 250).to_bytes(),
    );
    let report = directory.path().join("report.jsonl");
    let report_argument = report.display().to_string();

    let first = ingest(
        &db,
        &["--batch-size", "100", "--report", &report_argument],
        &[&file],
    )
    .await;
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(first.summary("applied"), 250);
    assert!(first.stdout.contains("transactions/s"), "{}", first.stdout);
    let lines = report_lines(&report);
    assert_eq!(lines.len(), 250, "one report line per transaction");
    assert_eq!(outcomes(&lines, "APPLIED"), 250);
    let first_line = &lines[0];
    assert_eq!(first_line["position"], 1);
    assert_eq!(
        first_line["path"],
        "/Document/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[1]"
    );
    assert_eq!(
        lines[149]["path"],
        "/Document/CstmrCdtTrfInitn/PmtInf[2]/CdtTrfTxInf[50]"
    );
    assert!(first_line["idempotency_key"]
        .as_str()
        .unwrap()
        .starts_with("ingest-v1:"));
    assert!(first_line["business_key"]
        .as_str()
        .unwrap()
        .contains("E2E-TWICE-1-1"));
    assert_eq!(first_line["state"], "PENDING", "a pain.001 is held");
    assert_eq!(first_line["replay"], false);
    assert!(first_line["payment_id"].as_i64().unwrap() > 0);
    assert_applied_once(&db, 250).await;
    let balances = invariants::balances(&db.client().await).await;

    let second = ingest(&db, &["--report", &report_argument], &[&file]).await;
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(second.summary("applied"), 0);
    assert_eq!(second.summary("already applied"), 250);
    assert_eq!(second.summary("replays"), 250);
    let lines = report_lines(&report);
    assert_eq!(lines.len(), 250);
    assert!(lines.iter().all(|line| line["replay"] == true));
    assert_applied_once(&db, 250).await;
    assert_eq!(invariants::balances(&db.client().await).await, balances);
}

#[tokio::test]
async fn an_ingest_killed_mid_file_and_run_again_applies_every_transaction_exactly_once() {
    const TRANSACTIONS: u64 = 3_000;
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let file = write_file(
        directory.path(),
        "pain001.xml",
        &Pain001::new("KILLED-1", TRANSACTIONS).to_bytes(),
    );
    let url = ledger_system_tests::database_url(&db.config);
    let arguments = ingest_arguments(&["--batch-size", "5"], &[&file]);
    let mut child = ledger_command(&url, &arguments)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL) as soon as its first batches are in the database.
    let client = db.client().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let applied = invariants::count(&client, "idempotency_records").await;
        if applied >= 10 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "ingest ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no batch applied in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal, not exited");
    let applied_before_kill = count(&db, "idempotency_records").await as u64;
    assert!(
        applied_before_kill < TRANSACTIONS,
        "killed mid-file ({applied_before_kill} applied)"
    );
    assert_eq!(count(&db, "payments").await as u64, applied_before_kill);
    assert_sound(&db).await;

    let again = ingest(&db, &["--batch-size", "200"], &[&file]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.summary("already applied"), applied_before_kill);
    assert_eq!(again.summary("applied"), TRANSACTIONS - applied_before_kill);
    assert_applied_once(&db, TRANSACTIONS as i64).await;
    let reconcile = ledger_binary(url, vec!["reconcile".to_owned()]).await;
    assert_eq!(reconcile.code, 0, "{reconcile:?}");
}

#[tokio::test]
async fn two_ingests_of_the_same_file_at_once_apply_each_transaction_once() {
    const TRANSACTIONS: u64 = 600;
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let file = write_file(
        directory.path(),
        "pain001.xml",
        &Pain001::new("TWO-AT-ONCE", TRANSACTIONS).to_bytes(),
    );
    let reports = [
        directory.path().join("a.jsonl"),
        directory.path().join("b.jsonl"),
    ];
    let [report_a, report_b] = reports.each_ref().map(|path| path.display().to_string());
    let url = ledger_system_tests::database_url(&db.config);
    let (run_a, run_b) = tokio::join!(
        ledger_binary(
            url.clone(),
            ingest_arguments(&["--batch-size", "20", "--report", &report_a], &[&file])
        ),
        ledger_binary(
            url.clone(),
            ingest_arguments(&["--batch-size", "20", "--report", &report_b], &[&file])
        ),
    );
    let runs = [run_a, run_b];
    for run in &runs {
        assert_eq!(run.code, 0, "{run:?}");
    }
    let applied: u64 = runs.iter().map(|run| run.summary("applied")).sum();
    let already: u64 = runs.iter().map(|run| run.summary("already applied")).sum();
    assert_eq!(applied, TRANSACTIONS, "each transaction applied by one run");
    assert_eq!(
        already, TRANSACTIONS,
        "and answered as a replay to the other"
    );
    for report in &reports {
        assert_eq!(report_lines(report).len(), TRANSACTIONS as usize);
    }
    assert_applied_once(&db, TRANSACTIONS as i64).await;
}

#[tokio::test]
async fn ingest_settles_a_pain001_at_once_when_told_and_a_second_choice_is_a_reused_key() {
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let file = write_file(
        directory.path(),
        "pain001.xml",
        &Pain001::new("AT-ONCE-1", 10).to_bytes(),
    );
    let report = directory.path().join("report.jsonl");
    let report_argument = report.display().to_string();
    let arguments = ["--settlement", "immediate", "--report", &report_argument];
    let settled = ingest(&db, &arguments, &[&file]).await;
    assert_eq!(settled.code, 0, "{settled:?}");
    let lines = report_lines(&report);
    assert!(
        lines.iter().all(|line| line["state"] == "SETTLED"),
        "{lines:?}"
    );
    // The settlement is part of what each transaction asked for.
    let held = ingest(&db, &["--settlement", "on-confirmation"], &[&file]).await;
    assert_eq!(held.code, 1, "{held:?}");
    assert_eq!(held.summary("applied"), 0);
    assert_applied_once(&db, 10).await;
}

/// 60 transactions in blocks of 20; the 27th (PmtInf[2]/CdtTrfTxInf[7]) has a
/// creditor IBAN with broken check digits.
fn file_with_one_bad_transaction() -> Pain001 {
    let mut file = Pain001::new("ONE-BAD-1", 60);
    file.transactions_per_block = 20;
    file.broken_positions = vec![27];
    file
}

const BAD_PATH: &str = "PmtInf[2]/CdtTrfTxInf[7]";

#[tokio::test]
async fn under_reject_file_a_file_with_one_bad_transaction_applies_nothing_and_names_its_path() {
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let file = write_file(
        directory.path(),
        "pain001.xml",
        &file_with_one_bad_transaction().to_bytes(),
    );
    let report = directory.path().join("report.jsonl");
    let report_argument = report.display().to_string();
    let run = ingest(&db, &["--report", &report_argument], &[&file]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(BAD_PATH), "{}", run.stderr);
    assert!(run.stderr.contains("IBAN"), "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing of it applied"),
        "{}",
        run.stderr
    );
    assert_eq!(run.summary("applied"), 0);
    assert_eq!(run.summary("invalid"), 1);
    assert_eq!(run.summary("not applied"), 59);
    assert_eq!(count(&db, "payments").await, 0);
    assert_eq!(count(&db, "idempotency_records").await, 0);
    let lines = report_lines(&report);
    assert_eq!(lines.len(), 60);
    assert_eq!(outcomes(&lines, "NOT_APPLIED"), 59);
    let invalid: Vec<_> = lines
        .iter()
        .filter(|line| line["outcome"] == "INVALID")
        .collect();
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0]["position"], 27);
    assert!(invalid[0]["path"].as_str().unwrap().ends_with(BAD_PATH));
    assert!(invalid[0]["reason_message"]
        .as_str()
        .unwrap()
        .contains("IBAN"));
}

#[tokio::test]
async fn under_skip_the_good_transactions_are_applied_and_the_bad_one_is_reported() {
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let file = write_file(
        directory.path(),
        "pain001.xml",
        &file_with_one_bad_transaction().to_bytes(),
    );
    let report = directory.path().join("report.jsonl");
    let report_argument = report.display().to_string();
    let arguments = [
        "--on-error",
        "skip",
        "--batch-size",
        "7",
        "--report",
        &report_argument,
    ];
    let run = ingest(&db, &arguments, &[&file]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.summary("applied"), 59);
    assert_eq!(run.summary("invalid"), 1);
    let lines = report_lines(&report);
    assert_eq!(lines.len(), 60);
    let positions: Vec<u64> = lines
        .iter()
        .map(|line| line["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=60).collect::<Vec<_>>(), "in file order");
    assert_eq!(lines[26]["outcome"], "INVALID");
    assert!(lines[26]["path"].as_str().unwrap().ends_with(BAD_PATH));
    assert_eq!(
        lines[27]["path"],
        "/Document/CstmrCdtTrfInitn/PmtInf[2]/CdtTrfTxInf[8]"
    );
    assert_applied_once(&db, 59).await;

    let again = ingest(&db, &["--on-error", "skip"], &[&file]).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert_eq!(again.summary("applied"), 0);
    assert_eq!(again.summary("already applied"), 59);
    assert_applied_once(&db, 59).await;
}

#[tokio::test]
async fn a_truncated_file_is_refused_whole_or_applied_up_to_the_cut_and_completed_later() {
    const TRANSACTIONS: u64 = 200;
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let whole = Pain001::new("TRUNCATED-1", TRANSACTIONS).to_bytes();
    let cut = &whole[..whole.len() * 3 / 5];
    let complete_before_cut = String::from_utf8_lossy(cut)
        .matches("</CdtTrfTxInf>")
        .count() as u64;
    assert!(complete_before_cut > 0 && complete_before_cut < TRANSACTIONS);
    let truncated = write_file(directory.path(), "truncated.xml", cut);

    let refused = ingest(&db, &[], &[&truncated]).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("refused"), "{}", refused.stderr);
    assert_eq!(count(&db, "payments").await, 0);

    let report = directory.path().join("report.jsonl");
    let report_argument = report.display().to_string();
    let arguments = [
        "--on-error",
        "skip",
        "--batch-size",
        "50",
        "--report",
        &report_argument,
    ];
    let skipped = ingest(&db, &arguments, &[&truncated]).await;
    assert_eq!(skipped.code, 1, "{skipped:?}");
    assert!(
        skipped
            .stderr
            .contains("transactions after it were not read"),
        "{}",
        skipped.stderr
    );
    assert_eq!(skipped.summary("applied"), complete_before_cut);
    let lines = report_lines(&report);
    assert_eq!(lines.last().unwrap()["outcome"], "FILE_ERROR");
    assert_eq!(outcomes(&lines, "APPLIED") as u64, complete_before_cut);
    assert_applied_once(&db, complete_before_cut as i64).await;

    let repaired = write_file(directory.path(), "repaired.xml", &whole);
    let completed = ingest(&db, &["--on-error", "skip"], &[&repaired]).await;
    assert_eq!(completed.code, 0, "{completed:?}");
    assert_eq!(completed.summary("already applied"), complete_before_cut);
    assert_eq!(
        completed.summary("applied"),
        TRANSACTIONS - complete_before_cut
    );
    assert_applied_once(&db, TRANSACTIONS as i64).await;
}

#[tokio::test]
async fn a_pain002_status_report_goes_back_to_the_sender_and_validates_against_the_xsd() {
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let file = write_file(
        directory.path(),
        "pain001.xml",
        &file_with_one_bad_transaction().to_bytes(),
    );
    let status_report = directory.path().join("pain002.xml");
    let status_argument = status_report.display().to_string();
    let arguments = ["--on-error", "skip", "--status-report", &status_argument];
    let run = ingest(&db, &arguments, &[&file]).await;
    assert_eq!(run.code, 1, "{run:?}");
    xmllint("pain.002.001.10.xsd", &status_report);
    let text = std::fs::read_to_string(&status_report).unwrap();
    assert!(text.contains("<GrpSts>PART</GrpSts>"), "{text}");
    assert_eq!(
        text.matches("<TxSts>PDNG</TxSts>").count(),
        59,
        "a pain.001's transactions are held until the clearing outcome"
    );
    assert_eq!(text.matches("<TxSts>RJCT</TxSts>").count(), 1);
    assert!(text.contains("<Cd>FF01</Cd>"), "{text}");
    assert!(text.contains("<OrgnlPmtInfId>PMT-ONE-BAD-1-2</OrgnlPmtInfId>"));
    assert!(!directory.path().join("pain002.xml.spool").exists());

    // A refused file is reported rejected as a whole.
    let refused_report = directory.path().join("refused.xml");
    let refused_argument = refused_report.display().to_string();
    let run = ingest(&db, &["--status-report", &refused_argument], &[&file]).await;
    assert_eq!(run.code, 1, "{run:?}");
    xmllint("pain.002.001.10.xsd", &refused_report);
    let text = std::fs::read_to_string(&refused_report).unwrap();
    assert!(text.contains("<GrpSts>RJCT</GrpSts>"), "{text}");
}

#[tokio::test]
async fn a_pacs008_with_an_app_header_is_ingested_and_answered_with_a_valid_pacs002() {
    let db = ledger_for_files(4).await;
    let creditor = files::iban_de(60050101, 42);
    db.ledger
        .open_account(&open(
            &creditor,
            "EUR",
            OverdraftRule::DebitsMustNotExceedCredits,
        ))
        .await
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let file = write_file(
        directory.path(),
        "pacs008.xml",
        &files::pacs008("PACS8-1", 30, &files::debtor(0), &creditor),
    );
    let status_report = directory.path().join("pacs002.xml");
    let status_argument = status_report.display().to_string();
    let run = ingest(&db, &["--status-report", &status_argument], &[&file]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary("applied"), 30);
    xmllint("pacs.002.001.10.xsd", &status_report);
    let text = std::fs::read_to_string(&status_report).unwrap();
    assert!(text.contains("<GrpSts>ACSC</GrpSts>"), "{text}");
    assert!(text.contains("<OrgnlTxId>TX-30</OrgnlTxId>"), "{text}");
    assert_eq!(text.matches("<TxSts>ACSC</TxSts>").count(), 30);
    assert_applied_once(&db, 30).await;

    // The same payments paid back from an account that forbids overdraft and
    // holds 30.00: the first 30 go through, the rest are rejected.
    let back = write_file(
        directory.path(),
        "back.xml",
        &files::pacs008("PACS8-BACK", 35, &creditor, &files::debtor(0)),
    );
    let run = ingest(&db, &[], &[&back]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.summary("applied"), 30);
    assert_eq!(run.summary("rejected"), 5);
    assert!(
        run.stdout.contains("INSUFFICIENT_FUNDS 5"),
        "{}",
        run.stdout
    );
    assert_sound(&db).await;
}

/// A pacs.002.001.10 from the creditor's bank back to COBADEFFXXX with one
/// status per original `(position, status)` of a `files::pacs008` message.
fn pacs002(message_id: &str, original: &str, statuses: &[(u64, &str)]) -> Vec<u8> {
    let mut body = String::new();
    for (position, status) in statuses {
        let reason = match *status {
            "RJCT" => "<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf>",
            _ => "",
        };
        body.push_str(&format!(
            "<TxInfAndSts><OrgnlInstrId>I-{original}-{position}</OrgnlInstrId>\
             <OrgnlEndToEndId>E2E-{original}-{position}</OrgnlEndToEndId>\
             <TxSts>{status}</TxSts>{reason}</TxInfAndSts>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10\"><FIToFIPmtStsRpt>\
         <GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-27T11:00:00Z</CreDtTm>\
         <InstgAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></InstgAgt>\
         <InstdAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstdAgt></GrpHdr>\n\
         <OrgnlGrpInfAndSts><OrgnlMsgId>{original}</OrgnlMsgId>\
         <OrgnlMsgNmId>pacs.008.001.08</OrgnlMsgNmId></OrgnlGrpInfAndSts>\n\
         {body}</FIToFIPmtStsRpt></Document>\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_pacs002_file_asserts_states_and_a_status_for_a_missing_original_applies_on_a_later_run()
{
    let db = ledger_for_files(4).await;
    let creditor = files::iban_de(60050101, 7);
    db.ledger
        .open_account(&open(&creditor, "EUR", OverdraftRule::Unrestricted))
        .await
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let payments = write_file(
        directory.path(),
        "pacs008.xml",
        &files::pacs008("ORIG-1", 3, &files::debtor(0), &creditor),
    );
    assert_eq!(ingest(&db, &[], &[&payments]).await.code, 0);
    // Settled twice over, a rejection that contradicts a settlement, and a
    // status for a payment the ledger has not seen yet.
    let statuses = write_file(
        directory.path(),
        "pacs002.xml",
        &pacs002(
            "STS-1",
            "ORIG-1",
            &[(1, "ACSC"), (2, "ACCC"), (3, "RJCT"), (4, "ACSC")],
        ),
    );
    let first = ingest(&db, &[], &[&statuses]).await;
    assert_eq!(first.code, 1, "{first:?}");
    assert_eq!(first.summary("already applied"), 2);
    assert_eq!(first.summary("rejected"), 2);
    assert!(
        first.stdout.contains("ORIGINAL_NOT_FOUND 1"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("STATE_CONFLICT 1"),
        "{}",
        first.stdout
    );

    // The fourth payment arrives (the same file with one more transaction:
    // the first three are replays); the status report now applies to it,
    // and the stored answers are replayed.
    let more = write_file(
        directory.path(),
        "pacs008-more.xml",
        &files::pacs008("ORIG-1", 4, &files::debtor(0), &creditor),
    );
    let run = ingest(&db, &[], &[&more]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!((run.summary("applied"), run.summary("replays")), (1, 3));
    let again = ingest(&db, &[], &[&statuses]).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert_eq!(again.summary("already applied"), 3);
    assert!(
        again.stdout.contains("STATE_CONFLICT 1"),
        "{}",
        again.stdout
    );
    assert!(
        !again.stdout.contains("ORIGINAL_NOT_FOUND"),
        "{}",
        again.stdout
    );
    assert_sound(&db).await;
}

#[tokio::test]
async fn exit_code_two_means_ingest_could_not_run() {
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let file = write_file(
        directory.path(),
        "pain001.xml",
        &Pain001::new("EXIT-2", 3).to_bytes(),
    );

    let missing = ingest(&db, &[], &[&directory.path().join("missing.xml")]).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("cannot read"), "{}", missing.stderr);

    let too_big = ingest(&db, &["--batch-size", "1001"], &[&file]).await;
    assert_eq!(too_big.code, 2, "{too_big:?}");
    assert!(
        too_big.stderr.contains("batch_size_max"),
        "{}",
        too_big.stderr
    );

    let nowhere = ledger_binary(
        "host=/nonexistent-ledger-socket-dir dbname=ledger user=ledger".to_owned(),
        ingest_arguments(&[], &[&file]),
    )
    .await;
    assert_eq!(nowhere.code, 2, "{nowhere:?}");
    assert_eq!(count(&db, "payments").await, 0);

    let not_a_payment = write_file(
        directory.path(),
        "camt053.xml",
        std::fs::read(format!(
            "{}/../../shared/iso20022/samples/camt.053/{}",
            env!("CARGO_MANIFEST_DIR"),
            first_sample("camt.053")
        ))
        .unwrap()
        .as_slice(),
    );
    let refused = ingest(&db, &[], &[&not_a_payment, &file]).await;
    assert_eq!(
        refused.code, 1,
        "a refused file is a problem of the input: {refused:?}"
    );
    assert!(
        refused.stderr.contains("not a payment message"),
        "{}",
        refused.stderr
    );
    assert_eq!(refused.summary("applied"), 3, "the other files are applied");
}

fn first_sample(family: &str) -> String {
    let directory = format!(
        "{}/../../shared/iso20022/samples/{family}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.remove(0)
}

#[tokio::test]
async fn help_shows_examples_and_the_exit_codes() {
    let run = ledger_binary(
        String::new(),
        vec!["ingest".to_owned(), "--help".to_owned()],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    for expected in [
        "Examples:",
        "--on-error",
        "--status-report",
        "Exit code 0",
        "2 when",
        "--retry-rejected",
    ] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
    }
}

/// Lines of a run's standard error that name one transaction.
fn named_transactions(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|line| line.contains(": transaction ") && line.contains(" at /Document/"))
        .collect()
}

#[tokio::test]
async fn a_rerun_says_its_rejections_are_stored_answers_and_retry_rejected_applies_them_once() {
    let db = ledger_for_files(4).await;
    let account = files::iban_de(60050101, 99);
    db.ledger
        .open_account(&open(
            &account,
            "EUR",
            OverdraftRule::DebitsMustNotExceedCredits,
        ))
        .await
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let fund = |message_id: &str, transactions: u64| {
        write_file(
            directory.path(),
            &format!("{message_id}.xml"),
            &files::pacs008(message_id, transactions, &files::debtor(0), &account),
        )
    };
    // The account holds 2.00; five payments of 1.00 out of it: two are
    // applied, three rejected for insufficient funds.
    assert_eq!(ingest(&db, &[], &[&fund("FUND-1", 2)]).await.code, 0);
    let out = write_file(
        directory.path(),
        "out.xml",
        &files::pacs008("OUT-1", 5, &account, &files::debtor(1)),
    );
    let first = ingest(&db, &[], &[&out]).await;
    assert_eq!(first.code, 1, "{first:?}");
    assert_eq!(
        (first.summary("applied"), first.summary("rejected")),
        (2, 3)
    );
    assert_eq!(first.summary("stored rejections"), 0, "{}", first.stdout);

    // Run again: the three rejections are the stored first answers, and the
    // summary and the named transactions say so.
    let again = ingest(&db, &[], &[&out]).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert_eq!(again.summary("replays"), 5);
    assert_eq!(again.summary("stored rejections"), 3);
    assert_eq!(again.summary("retried"), 0);
    assert!(
        again.stdout.contains("--retry-rejected"),
        "{}",
        again.stdout
    );
    let named = named_transactions(&again);
    assert_eq!(named.len(), 3, "{}", again.stderr);
    assert!(
        named.iter().all(|line| line.contains("INSUFFICIENT_FUNDS")
            && line.contains("the answer stored when it was first ingested")),
        "{named:#?}"
    );

    // Retried before the cause is fixed: rejected again, afresh.
    let too_early = ingest(&db, &["--retry-rejected"], &[&out]).await;
    assert_eq!(too_early.code, 1, "{too_early:?}");
    assert_eq!(too_early.summary("retried"), 3);
    assert_eq!(too_early.summary("rejected"), 3);
    assert_eq!(too_early.summary("stored rejections"), 0);
    assert_eq!(too_early.summary("already applied"), 2, "not retried");

    // The cause fixed (3.00 more on the account), without the flag nothing
    // changes; with it, the three are applied, under the second retry key.
    assert_eq!(ingest(&db, &[], &[&fund("FUND-2", 3)]).await.code, 0);
    let without_flag = ingest(&db, &[], &[&out]).await;
    assert_eq!(without_flag.code, 1, "{without_flag:?}");
    assert_eq!(without_flag.summary("stored rejections"), 3);
    let payments_before_retry = count(&db, "payments").await;
    let report = directory.path().join("retry.jsonl");
    let report_argument = report.display().to_string();
    let retry = ingest(
        &db,
        &["--retry-rejected", "--report", &report_argument],
        &[&out],
    )
    .await;
    assert_eq!(retry.code, 0, "{retry:?}");
    assert_eq!(retry.summary("applied"), 3);
    assert_eq!(retry.summary("retried"), 3);
    assert_eq!(retry.summary("already applied"), 2);
    assert_eq!(count(&db, "payments").await, payments_before_retry + 3);
    let lines = report_lines(&report);
    let retried: Vec<_> = lines
        .iter()
        .filter(|line| line["retry_round"] == 2)
        .collect();
    assert_eq!(retried.len(), 3, "{lines:#?}");
    assert!(retried.iter().all(|line| line["outcome"] == "APPLIED"
        && line["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("ingest-v1-retry-2:")));
    assert_eq!(
        lines.iter().filter(|line| line["retry_round"] == 0).count(),
        2,
        "the applied ones are not retried"
    );

    // The same retry once more applies nothing.
    let balances = invariants::balances(&db.client().await).await;
    let once_more = ingest(&db, &["--retry-rejected"], &[&out]).await;
    assert_eq!(once_more.code, 0, "{once_more:?}");
    assert_eq!(once_more.summary("applied"), 0);
    assert_eq!(once_more.summary("retried"), 0);
    assert_eq!(once_more.summary("already applied"), 5);
    assert_eq!(count(&db, "payments").await, payments_before_retry + 3);
    assert_eq!(invariants::balances(&db.client().await).await, balances);
    assert_sound(&db).await;
}

#[tokio::test]
async fn retry_rejected_leaves_a_stored_state_conflict_alone() {
    let db = ledger_for_files(4).await;
    let creditor = files::iban_de(60050101, 8);
    db.ledger
        .open_account(&open(&creditor, "EUR", OverdraftRule::Unrestricted))
        .await
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let payments = write_file(
        directory.path(),
        "pacs008.xml",
        &files::pacs008("CONFLICT-1", 2, &files::debtor(0), &creditor),
    );
    assert_eq!(ingest(&db, &[], &[&payments]).await.code, 0);
    let statuses = write_file(
        directory.path(),
        "pacs002.xml",
        &pacs002("STS-C", "CONFLICT-1", &[(1, "ACSC"), (2, "RJCT")]),
    );
    let first = ingest(&db, &[], &[&statuses]).await;
    assert!(
        first.stdout.contains("STATE_CONFLICT 1"),
        "{}",
        first.stdout
    );
    let retry = ingest(&db, &["--retry-rejected"], &[&statuses]).await;
    assert_eq!(retry.code, 1, "{retry:?}");
    assert_eq!(retry.summary("retried"), 0);
    assert_eq!(retry.summary("stored rejections"), 1);
    assert!(
        retry.stdout.contains("STATE_CONFLICT 1"),
        "{}",
        retry.stdout
    );
    assert_eq!(
        count(&db, "idempotency_records").await,
        4,
        "no retry key stored"
    );
    assert_sound(&db).await;
}

#[tokio::test]
async fn without_a_report_the_first_ten_refusals_are_named_on_stderr_and_the_rest_counted() {
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let mut pain001 = Pain001::new("NAMED-1", 40);
    pain001.broken_positions = (11..=25).collect();
    let file = write_file(directory.path(), "pain001.xml", &pain001.to_bytes());

    let run = ingest(&db, &["--on-error", "skip"], &[&file]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.summary("invalid"), 15);
    let named = named_transactions(&run);
    assert_eq!(named.len(), 10, "{}", run.stderr);
    assert!(
        named[0].contains(
            "transaction 11 at /Document/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[11]: INVALID: "
        ),
        "{}",
        named[0]
    );
    assert!(
        named
            .iter()
            .all(|line| line.contains("IBAN") && line.ends_with("(at CdtrAcct/Id/IBAN)")),
        "the rule, then the element in the transaction: {named:#?}"
    );
    assert!(
        run.stderr
            .contains("and 5 more rejected or invalid transaction(s): use --report FILE"),
        "{}",
        run.stderr
    );

    // With a report, the rest are there.
    let report = directory.path().join("report.jsonl");
    let report_argument = report.display().to_string();
    let arguments = ["--on-error", "skip", "--report", &report_argument];
    let run = ingest(&db, &arguments, &[&file]).await;
    assert_eq!(named_transactions(&run).len(), 10, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "and 5 more rejected or invalid transaction(s): every one is in the report {report_argument}"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(outcomes(&report_lines(&report), "INVALID"), 15);

    // A clean file names nothing.
    let clean = write_file(
        directory.path(),
        "clean.xml",
        &Pain001::new("NAMED-CLEAN", 5).to_bytes(),
    );
    let run = ingest(&db, &[], &[&clean]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(named_transactions(&run).is_empty(), "{}", run.stderr);
    assert!(!run.stderr.contains("more rejected"), "{}", run.stderr);
}

#[tokio::test]
async fn a_missing_or_unreadable_input_file_stops_ingest_before_the_database_with_nothing_on_stdout(
) {
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let good = write_file(
        directory.path(),
        "good.xml",
        &Pain001::new("MISSING-1", 3).to_bytes(),
    );
    let missing = directory.path().join("missing.xml");
    let report = directory.path().join("report.jsonl");
    let report_argument = report.display().to_string();
    for inputs in [
        vec![good.as_path(), missing.as_path()],
        vec![missing.as_path(), good.as_path()],
        vec![good.as_path(), directory.path()],
    ] {
        let run = ingest(&db, &["--report", &report_argument], &inputs).await;
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(run.stdout, "", "nothing on stdout");
        assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
        assert!(
            run.stderr.contains("nothing was ingested"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("database:"), "{}", run.stderr);
        assert!(!report.exists(), "no report started");
    }
    assert!(
        ingest(&db, &[], &[&good, &missing])
            .await
            .stderr
            .contains(&format!("{}: cannot read", missing.display())),
        "the missing file is named"
    );
    assert_eq!(
        count(&db, "payments").await,
        0,
        "the good file was not applied"
    );

    // No database is opened either: one that does not exist is not noticed.
    let nowhere = ledger_binary(
        "host=/nonexistent-ledger-socket-dir dbname=ledger user=ledger".to_owned(),
        ingest_arguments(&[], &[&good, &missing]),
    )
    .await;
    assert_eq!(nowhere.code, 2, "{nowhere:?}");
    assert!(!nowhere.stderr.contains("database"), "{}", nowhere.stderr);
}

#[tokio::test]
async fn an_invalid_transaction_s_status_names_its_rule_first_over_as_many_additional_info_as_it_needs(
) {
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let file = write_file(
        directory.path(),
        "pain001.xml",
        &file_with_one_bad_transaction().to_bytes(),
    );
    let status_report = directory.path().join("pain002.xml");
    let status_argument = status_report.display().to_string();
    let arguments = ["--on-error", "skip", "--status-report", &status_argument];
    let run = ingest(&db, &arguments, &[&file]).await;
    assert_eq!(run.code, 1, "{run:?}");
    xmllint("pain.002.001.10.xsd", &status_report);
    let text = std::fs::read_to_string(&status_report).unwrap();
    let infos: Vec<&str> = text
        .split("<AddtlInf>")
        .skip(1)
        .map(|rest| &rest[..rest.find("</AddtlInf>").unwrap()])
        .collect();
    assert!(!infos.is_empty(), "{text}");
    assert!(
        infos.iter().all(|info| info.chars().count() <= 105),
        "{infos:#?}"
    );
    let joined = infos.join(" ");
    assert!(
        !infos[0].starts_with('/'),
        "the rule, not the path, comes first: {infos:#?}"
    );
    assert!(joined.contains("IBAN"), "{joined}");
    assert!(
        joined.contains("(at CdtrAcct/Id/IBAN)"),
        "the element, relative to the transaction: {joined}"
    );
    assert!(
        !joined.contains("/Document/CstmrCdtTrfInitn/PmtInf[2]/CdtTrfTxInf[7]/"),
        "the path is not repeated: {joined}"
    );
}

#[tokio::test]
async fn a_camt053_statement_given_to_ingest_points_to_reconcile() {
    let db = ledger_for_files(4).await;
    let directory = tempfile::tempdir().unwrap();
    let statement = write_file(
        directory.path(),
        "statement.xml",
        std::fs::read(format!(
            "{}/../../shared/iso20022/samples/camt.053/{}",
            env!("CARGO_MANIFEST_DIR"),
            first_sample("camt.053")
        ))
        .unwrap()
        .as_slice(),
    );
    let run = ingest(&db, &[], &[&statement]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "ledger reconcile --statement {}",
            statement.display()
        )),
        "{}",
        run.stderr
    );

    // A payment message is not sent to reconcile.
    let pain001 = write_file(
        directory.path(),
        "pain001.xml",
        &Pain001::new("NOT-A-STATEMENT", 1).to_bytes(),
    );
    let run = ingest(&db, &[], &[&pain001]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("reconcile"), "{}", run.stderr);
}
