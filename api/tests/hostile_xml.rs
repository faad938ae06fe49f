//! Hostile XML through the service: every shape the codec refuses by its limits
//! (`iso20022/benches/hostile.rs`) is INVALID_ARGUMENT over gRPC with nothing written and
//! the connection still serving, and refused by `ledger ingest` with nothing applied.

#[path = "../../iso20022/benches/hostile.rs"]
mod hostile;
#[path = "support/server.rs"]
mod test_server;

use test_server::*;

use std::process::{Command, Stdio};

use hostile::Shape;
use ledger::LedgerOptions;
use ledger_api::grpc::proto::Outcome;
use ledger_system_tests::{invariants, TestDatabase};
use tonic::Code;

/// Each hostile shape at its reported size, and the rule its refusal names.
fn hostile_documents() -> Vec<(Shape, Vec<u8>, &'static str)> {
    Shape::ALL
        .iter()
        .map(|&shape| {
            let rule = match shape {
                Shape::AttributesOnDocument
                | Shape::AttributesOnGroupHeader
                | Shape::NamespaceDeclarations => "MAX_ATTRIBUTES",
                Shape::LongAttributeValue => "MAX_START_TAG_BYTES",
                Shape::NestedElements => "MAX_DEPTH",
                Shape::DistinctPrefixes => "unexpected element {urn:p0}X",
            };
            (
                shape,
                hostile::document(shape, shape.reported_count()),
                rule,
            )
        })
        .collect()
}

async fn database() -> TestDatabase {
    database_with_accounts(LedgerOptions::default()).await
}

async fn count(db: &TestDatabase, table: &str) -> i64 {
    invariants::count(&db.client().await, table).await
}

async fn assert_nothing_written(db: &TestDatabase, context: &str) {
    for table in ["payments", "transfers", "outbox", "idempotency_records"] {
        assert_eq!(count(db, table).await, 0, "rows in {table} after {context}");
    }
}

#[tokio::test]
async fn every_hostile_document_is_invalid_argument_writes_nothing_and_the_connection_keeps_serving(
) {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    for (index, (shape, document, rule)) in hostile_documents().into_iter().enumerate() {
        let status = client
            .submit_payment(submit(TOKEN_A, &format!("hostile-{index}"), document))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{shape:?}: {status:?}"
        );
        assert!(
            status.message().contains(rule)
                || format!("{:?}", status.details()).contains(rule)
                || String::from_utf8_lossy(status.details()).contains(rule),
            "{shape:?}: {rule} not named in {status:?}"
        );
        assert_nothing_written(&server.database, &format!("{shape:?}")).await;
    }
    // the same connection still serves a valid request
    let response = client
        .submit_payment(submit(
            TOKEN_A,
            "valid",
            pacs008("MSG-VALID", &[("E2E-MSG-VALID", "1.00")]),
        ))
        .await
        .unwrap()
        .into_inner();
    let outcomes: Vec<Outcome> = response.results.iter().map(|r| r.outcome()).collect();
    assert_eq!(outcomes, vec![Outcome::Applied], "{response:?}");
    assert_eq!(count(&server.database, "payments").await, 1);
    server.shut_down().await;
}

#[tokio::test]
async fn every_hostile_document_is_refused_by_ledger_ingest_and_nothing_is_applied() {
    let db = database().await;
    let directory = tempfile::tempdir().unwrap();
    for (shape, document, rule) in hostile_documents() {
        let file = directory.path().join(format!("{shape:?}.xml"));
        std::fs::write(&file, &document).unwrap();
        let database_url = ledger_system_tests::database_url(&db.config);
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_ledger"))
                .arg("ingest")
                .arg(&file)
                .env("DATABASE_URL", database_url)
                .env_remove("LEDGER_DATA_DIR")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{shape:?}: {output:?}");
        // ingest reads through an 8 KiB-or-more buffer: a token over MAX_TOKEN_BYTES is
        // cut off by the input guard before the start-tag limit sees it
        assert!(
            stderr.contains(rule) || stderr.contains("MAX_TOKEN_BYTES"),
            "{shape:?}: {rule} not named in {stderr}"
        );
        assert_nothing_written(&db, &format!("ingest of {shape:?}")).await;
    }
}
