//! A labelled corpus of bad payments: hundreds of pacs.008, pain.001,
//! pacs.002 and pacs.004 documents made from small templates
//! (`corpus/*.xml`) by a table of mutations (`corpus/cases.rs`), each with
//! the exact answer the contract gives it. Every case goes through
//! `SubmitPayment` on a real server and through `ledger ingest` of a file,
//! each on its own real database: answered as labelled, nothing accepted
//! that should be refused, no panic, and nothing written for a refusal
//! beyond what docs/semantics.md says a refusal stores.
//!
//! Run with `-- --nocapture` to see the summary tables.

mod support;
#[path = "support/server.rs"]
mod test_server;

#[path = "corpus/cases.rs"]
mod cases;
#[path = "corpus/documents.rs"]
mod documents;

use std::path::Path;

use cases::{Answer, Case};
use ledger::model::OverdraftRule;
use ledger::LedgerOptions;
use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_system_tests::fixtures::open;
use ledger_system_tests::TestDatabase;
use support::corpus_support::{self, snapshot, Tally, Writes};
use test_server::*;
use tonic::transport::Channel;
use tonic_types::StatusExt;

async fn open_extra_accounts(db: &TestDatabase) {
    for reference in documents::EXTRA_ACCOUNTS {
        db.ledger
            .open_account(&open(
                reference,
                "EUR",
                OverdraftRule::DebitsMustNotExceedCredits,
            ))
            .await
            .unwrap();
    }
}

fn outcome_name(result: &ledger_api::grpc::proto::TransactionResult) -> String {
    result
        .outcome()
        .as_str_name()
        .trim_start_matches("OUTCOME_")
        .to_owned()
}

/// How a document that should have been refused was taken: a false accept
/// when any transaction was applied or taken as a duplicate.
fn accepted_or_read<'a>(mut outcomes: impl Iterator<Item = &'a str>) -> &'static str {
    if outcomes.any(|outcome| matches!(outcome, "APPLIED" | "ALREADY_APPLIED" | "DUPLICATE")) {
        "FALSE ACCEPT"
    } else {
        "read and answered instead of refused"
    }
}

fn expected_outcomes(outcomes: &[(&str, &str)]) -> Vec<(String, String)> {
    outcomes
        .iter()
        .map(|(outcome, reason)| ((*outcome).to_owned(), (*reason).to_owned()))
        .collect()
}

// ------------------------------------------------------------------ gRPC

/// Submits `case` (its setup first) and returns what is wrong with the answer.
async fn check_over_grpc(
    server: &TestServer,
    client: &mut LedgerServiceClient<Channel>,
    number: usize,
    case: &Case,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, setup) in case.setup.iter().enumerate() {
        match client
            .submit_payment(submit(
                TOKEN_A,
                &format!("setup-{number}-{index}"),
                setup.render(),
            ))
            .await
        {
            Ok(response) => {
                let response = response.into_inner();
                if !response
                    .results
                    .iter()
                    .all(|result| outcome_name(result) == "APPLIED")
                {
                    problems.push(format!("setup {index} not applied: {:?}", response.results));
                }
            }
            Err(status) => problems.push(format!("setup {index} refused: {status:?}")),
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    let database = server.database.client().await;
    let before = snapshot(&database).await;
    let answer = client
        .submit_payment(submit(
            TOKEN_A,
            &format!("case-{number}"),
            case.document.render(),
        ))
        .await;
    let after = snapshot(&database).await;
    let writes = match (&case.grpc, answer) {
        (
            Answer::Refused {
                code,
                reason,
                paths,
            },
            Err(status),
        ) => {
            if status.code() != *code {
                problems.push(format!("code {:?}, expected {code:?}", status.code()));
            }
            let info = status.get_details_error_info().map(|info| info.reason);
            if info.as_deref() != *reason {
                problems.push(format!("ErrorInfo reason {info:?}, expected {reason:?}"));
            }
            let mut named: Vec<String> = status
                .get_details_bad_request()
                .map(|bad_request| {
                    bad_request
                        .field_violations
                        .into_iter()
                        .map(|violation| violation.field)
                        .collect()
                })
                .unwrap_or_default();
            named.sort();
            named.dedup();
            let mut expected = paths.clone();
            expected.sort();
            if named != expected {
                problems.push(format!(
                    "field violations name {named:?}, expected {expected:?} ({})",
                    status.message()
                ));
            }
            Writes::nothing()
        }
        (Answer::Refused { .. }, Ok(response)) => {
            let answered: Vec<(String, String)> = response
                .into_inner()
                .results
                .iter()
                .map(|result| (outcome_name(result), result.reason_code.clone()))
                .collect();
            problems.push(format!(
                "{}: answered {answered:?}",
                accepted_or_read(answered.iter().map(|(outcome, _)| outcome.as_str()))
            ));
            Writes::nothing()
        }
        (Answer::Outcomes(outcomes), Ok(response)) => {
            let response = response.into_inner();
            let answered: Vec<(String, String)> = response
                .results
                .iter()
                .map(|result| (outcome_name(result), result.reason_code.clone()))
                .collect();
            let expected = expected_outcomes(outcomes);
            if answered != expected {
                problems.push(format!("answered {answered:?}, expected {expected:?}"));
            }
            if response.replay {
                problems.push("answered as a replay".to_owned());
            }
            Writes::of(&expected, false)
        }
        (Answer::Outcomes(_), Err(status)) => {
            problems.push(format!("refused: {status:?}"));
            Writes::of(&[], false)
        }
    };
    problems.extend(writes.check(&before, &after));
    problems
}

fn summarize(title: &str, tally: &Tally) {
    println!("{}", tally.render(title));
    let (_, failed) = tally.total();
    assert!(
        failed == 0,
        "{failed} case(s) answered otherwise than labelled:\n{}",
        tally.failures.join("\n")
    );
}

async fn run_over_grpc(selected: &[(usize, Case)], title: &str) {
    corpus_support::count_service_panics();
    let server = TestServer::start().await;
    open_extra_accounts(&server.database).await;
    let mut client = server.client().await;
    let mut tally = Tally::default();
    for (number, case) in selected {
        let (panics_before, _) = corpus_support::service_panics();
        let mut problems = check_over_grpc(&server, &mut client, *number, case).await;
        let (panics, messages) = corpus_support::service_panics();
        if panics > panics_before {
            problems.push(format!(
                "PANIC in the service: {:?}",
                &messages[panics_before..]
            ));
        }
        tally.record(case.family.name(), &case.grpc.label(), problems, &case.name);
    }
    // The server is still up and serving.
    let response = client
        .submit_payment(submit(
            TOKEN_A,
            "after-the-corpus",
            pacs008("AFTER-THE-CORPUS", &[("E2E-AFTER-THE-CORPUS", "1.00")]),
        ))
        .await
        .expect("the server still serves after the corpus")
        .into_inner();
    assert_eq!(outcome_name(&response.results[0]), "APPLIED");
    server.shut_down().await;
    summarize(title, &tally);
}

fn numbered() -> Vec<(usize, Case)> {
    cases::all().into_iter().enumerate().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_labelled_case_is_answered_as_labelled_over_grpc() {
    run_over_grpc(&numbered(), "SubmitPayment over gRPC").await;
}

// ------------------------------------------------------------------ ingest

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the `ledger` binary with `arguments` against `db`, as an operator does.
async fn ingest(db: &TestDatabase, arguments: Vec<String>) -> Run {
    let database_url = ledger_system_tests::database_url(&db.config);
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(&arguments)
            .env("DATABASE_URL", database_url)
            .env_remove("LEDGER_DATA_DIR")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

fn report_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Whether the report names `path` as the gRPC API does: a line whose
/// reason is the codec's `path: rule`, or an invalid transaction at the
/// line's path whose reason names the element within it (`(at Elt)`).
/// `document`, the request field the API names for a message that is no
/// payment message, is a file refused whole (`FILE_ERROR`) for ingest.
fn report_names(lines: &[serde_json::Value], path: &str) -> bool {
    if path == "document" {
        return lines.iter().any(|line| line["outcome"] == "FILE_ERROR");
    }
    lines.iter().any(|line| {
        let message = line["reason_message"].as_str().unwrap_or_default();
        let line_path = line["path"].as_str().unwrap_or_default();
        if message.starts_with(&format!("{path}: ")) || message.contains(&format!(" {path}: ")) {
            return true;
        }
        match path.strip_prefix(line_path) {
            Some(rest) if !line_path.is_empty() => {
                let relative = rest.trim_start_matches('/');
                relative.is_empty() || message.contains(&format!("(at {relative})"))
            }
            _ => false,
        }
    })
}

async fn check_by_ingest(
    db: &TestDatabase,
    directory: &Path,
    number: usize,
    case: &Case,
) -> Vec<String> {
    let mut problems = Vec::new();
    let file = directory.join(format!("case-{number}.xml"));
    std::fs::write(&file, case.document.render()).unwrap();
    let report = directory.join(format!("case-{number}.jsonl"));
    let database = db.client().await;
    let before = snapshot(&database).await;
    let run = ingest(
        db,
        vec![
            "ingest".to_owned(),
            "--report".to_owned(),
            report.display().to_string(),
            file.display().to_string(),
        ],
    )
    .await;
    let after = snapshot(&database).await;
    if run.stderr.contains("panicked") || run.stdout.contains("panicked") {
        problems.push(format!("PANIC in ledger ingest: {}", run.stderr));
    }
    let lines = report_lines(&report);
    let transactions: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| !line["position"].is_null())
        .collect();
    let writes = match &case.ingest {
        Answer::Refused { paths, .. } => {
            if run.code != 1 {
                problems.push(format!(
                    "exit code {}, expected 1: {}",
                    run.code, run.stderr
                ));
            }
            let answered: Vec<&str> = transactions
                .iter()
                .map(|line| line["outcome"].as_str().unwrap_or_default())
                .filter(|outcome| !matches!(*outcome, "INVALID" | "NOT_APPLIED"))
                .collect();
            if !answered.is_empty() {
                problems.push(format!(
                    "{}: answered {answered:?}",
                    accepted_or_read(answered.iter().copied())
                ));
            }
            for path in paths {
                if !report_names(&lines, path) {
                    problems.push(format!("the report does not name {path}: {lines:?}"));
                }
            }
            Writes::nothing()
        }
        Answer::Outcomes(outcomes) => {
            let expected = expected_outcomes(outcomes);
            let answered: Vec<(String, String)> = transactions
                .iter()
                .map(|line| {
                    let outcome = line["outcome"].as_str().unwrap_or_default().to_owned();
                    let reason = if outcome == "REJECTED" {
                        line["reason"].as_str().unwrap_or_default().to_owned()
                    } else {
                        String::new()
                    };
                    (outcome, reason)
                })
                .collect();
            if answered != expected {
                problems.push(format!(
                    "answered {answered:?}, expected {expected:?}: {lines:?}"
                ));
            }
            let all_taken = expected.iter().all(|(outcome, _)| outcome != "REJECTED");
            let code = if all_taken { 0 } else { 1 };
            if run.code != code {
                problems.push(format!(
                    "exit code {}, expected {code}: {}",
                    run.code, run.stderr
                ));
            }
            if lines.iter().any(|line| line["outcome"] == "FILE_ERROR") {
                problems.push(format!("file errors: {lines:?}"));
            }
            Writes::of(&expected, true)
        }
    };
    problems.extend(writes.check(&before, &after));
    problems
}

async fn run_by_ingest(selected: &[(usize, Case)], title: &str) {
    let db = database_with_accounts(LedgerOptions::default()).await;
    open_extra_accounts(&db).await;
    let directory = tempfile::tempdir().unwrap();
    // Every setup first, in order, in one run: the cases' ids never meet.
    let mut setup_files = Vec::new();
    for (number, case) in selected {
        for (index, setup) in case.setup.iter().enumerate() {
            let file = directory.path().join(format!("setup-{number}-{index}.xml"));
            std::fs::write(&file, setup.render()).unwrap();
            setup_files.push(file.display().to_string());
        }
    }
    if !setup_files.is_empty() {
        let report = directory.path().join("setup.jsonl");
        let mut arguments = vec![
            "ingest".to_owned(),
            "--report".to_owned(),
            report.display().to_string(),
        ];
        arguments.extend(setup_files);
        let run = ingest(&db, arguments).await;
        let not_applied: Vec<serde_json::Value> = report_lines(&report)
            .into_iter()
            .filter(|line| line["outcome"] != "APPLIED")
            .collect();
        assert!(
            run.code == 0 && not_applied.is_empty(),
            "the setups are applied: {not_applied:#?}\n{}",
            run.stderr
        );
    }
    let mut tally = Tally::default();
    for (number, case) in selected {
        let problems = check_by_ingest(&db, directory.path(), *number, case).await;
        tally.record(
            case.family.name(),
            &case.ingest.label(),
            problems,
            &case.name,
        );
    }
    summarize(title, &tally);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_labelled_case_is_answered_as_labelled_by_ledger_ingest() {
    run_by_ingest(&numbered(), "ledger ingest").await;
}

// ------------------------------------------------------------------ the table

#[test]
fn the_corpus_has_at_least_300_cases_across_the_four_messages() {
    let all = cases::all();
    assert!(all.len() >= 300, "{} cases", all.len());
    for family in [
        documents::Family::Pacs008,
        documents::Family::Pain001,
        documents::Family::Pacs002,
        documents::Family::Pacs004,
    ] {
        assert!(
            all.iter().filter(|case| case.family == family).count() >= 30,
            "{family:?}"
        );
    }
    let mut names: Vec<&str> = all.iter().map(|case| case.name.as_str()).collect();
    names.sort();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count, "every case has a name of its own");
}
