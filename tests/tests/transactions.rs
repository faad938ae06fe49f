//! Concurrent duplicates, lost commits and connection hygiene.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ledger::model::{Outcome, OverdraftRule, PaymentState};
use ledger::{LedgerError, LedgerOptions};
use ledger_system_tests::fixtures::*;
use ledger_system_tests::{invariants, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_duplicates_of_one_request_apply_it_exactly_once() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let command = command(
        "c",
        "race",
        transfer("P1", PaymentState::Settled, eur(42), "BOB", "CLEARING"),
    );
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let ledger = db.ledger.clone();
            let command = command.clone();
            tokio::spawn(async move { ledger.apply(&command).await })
        })
        .collect();
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.unwrap().unwrap());
    }
    let first: Vec<_> = responses
        .iter()
        .filter(|response| !response.replay)
        .collect();
    assert_eq!(
        first.len(),
        1,
        "exactly one attempt applied, the rest replayed"
    );
    assert_eq!(first[0].receipts[0].outcome, Outcome::Applied);
    assert!(responses
        .iter()
        .all(|response| response.response_bytes == first[0].response_bytes));
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "transfers").await, 1);
    assert!(invariants::violations(&client).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_business_duplicates_under_different_keys_post_once() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let message = transfer("P1", PaymentState::Settled, eur(42), "BOB", "CLEARING");
    let tasks: Vec<_> = (0..12)
        .map(|index| {
            let ledger = db.ledger.clone();
            let command = command("c", &format!("key-{index}"), message.clone());
            tokio::spawn(async move { ledger.apply(&command).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().unwrap().receipts[0].outcome.code());
    }
    outcomes.sort();
    assert_eq!(
        outcomes.iter().filter(|code| **code == "APPLIED").count(),
        1
    );
    assert_eq!(
        outcomes.iter().filter(|code| **code == "DUPLICATE").count(),
        11
    );
    assert_eq!(invariants::count(&db.client().await, "transfers").await, 1);
}

#[tokio::test]
async fn a_connection_lost_before_commit_is_resolved_by_lookup_and_applies_once() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    db.ledger
        .options()
        .fault_injection
        .terminate_backend_before_commit
        .store(1, Ordering::SeqCst);
    let command = command(
        "c",
        "k1",
        transfer("P1", PaymentState::Settled, eur(9), "BOB", "CLEARING"),
    );

    let response = db.ledger.apply(&command).await.unwrap();

    assert_eq!(response.receipts[0].outcome, Outcome::Applied);
    assert!(!response.replay);
    let fault = &db
        .ledger
        .options()
        .fault_injection
        .terminate_backend_before_commit;
    assert_eq!(fault.load(Ordering::SeqCst), 0, "the fault fired");
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "transfers").await, 1);
    assert_eq!(invariants::count(&client, "idempotency_records").await, 1);
}

#[tokio::test]
async fn a_commit_whose_acknowledgement_is_lost_is_answered_from_the_stored_response() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    db.ledger
        .options()
        .fault_injection
        .lose_commit_acknowledgement
        .store(1, Ordering::SeqCst);
    let command = command(
        "c",
        "k1",
        transfer("P1", PaymentState::Settled, eur(9), "BOB", "CLEARING"),
    );

    let response = db.ledger.apply(&command).await.unwrap();

    // The lookup found the committed record: the answer is the first
    // attempt's own stored response, not a second application.
    assert_eq!(response.receipts[0].outcome, Outcome::Applied);
    assert!(!response.replay);
    let replay = db.ledger.apply(&command).await.unwrap();
    assert!(replay.replay);
    assert_eq!(replay.response_bytes, response.response_bytes);
    assert_eq!(invariants::count(&db.client().await, "transfers").await, 1);
}

#[tokio::test]
async fn a_cancelled_application_never_leaves_a_pooled_connection_inside_a_transaction() {
    let options = LedgerOptions {
        pool_size_max: 1,
        ..LedgerOptions::default()
    };
    let db = TestDatabase::with_two_accounts(options).await;
    // Hold a lock on the account so the application blocks mid-transaction.
    let mut blocker = db.client().await;
    let blocking = blocker.transaction().await.unwrap();
    blocking
        .execute(
            "SELECT 1 FROM accounts WHERE external_reference = 'BOB' FOR UPDATE",
            &[],
        )
        .await
        .unwrap();
    let command = command(
        "c",
        "k1",
        transfer("P1", PaymentState::Settled, eur(1), "BOB", "CLEARING"),
    );
    let cancelled =
        tokio::time::timeout(Duration::from_millis(300), db.ledger.apply(&command)).await;
    assert!(
        cancelled.is_err(),
        "the application was blocked and then cancelled"
    );
    blocking.rollback().await.unwrap();

    // The single pooled connection was inside a transaction when cancelled:
    // it must have been discarded, not handed to the next caller.
    let response = db.ledger.apply(&command).await.unwrap();
    assert_eq!(response.receipts[0].outcome, Outcome::Applied);
    let idle_in_transaction: i64 = blocker
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(idle_in_transaction, 0);
    assert_eq!(invariants::count(&blocker, "transfers").await, 1);
}

#[tokio::test]
async fn contention_that_outlasts_every_retry_is_a_retryable_error_and_writes_nothing() {
    let options = LedgerOptions {
        transaction_attempts_max: 2,
        statement_timeout_ms: 200,
        ..LedgerOptions::default()
    };
    let db = TestDatabase::with_two_accounts(options).await;
    let mut blocker = db.client().await;
    let blocking = blocker.transaction().await.unwrap();
    blocking
        .execute("SELECT 1 FROM accounts FOR UPDATE", &[])
        .await
        .unwrap();
    let command = command(
        "c",
        "k1",
        transfer("P1", PaymentState::Settled, eur(1), "BOB", "CLEARING"),
    );
    let result = db.ledger.apply(&command).await;
    blocking.rollback().await.unwrap();
    match result {
        Err(error @ LedgerError::Unavailable(_)) => assert!(error.is_retryable()),
        other => panic!("expected a retryable Unavailable, got {other:?}"),
    }
    assert_eq!(invariants::count(&blocker, "idempotency_records").await, 0);
    // The client retries with the same key and gets a clean first attempt.
    let retried = db.ledger.apply(&command).await.unwrap();
    assert_eq!(retried.receipts[0].outcome, Outcome::Applied);
    assert!(!retried.replay);
}

#[tokio::test]
async fn a_batch_shares_one_transaction_while_each_command_keeps_its_own_outcome() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let batch = vec![
        command(
            "c",
            "k1",
            transfer("P1", PaymentState::Pending, eur(5), "BOB", "CLEARING"),
        ),
        command("c", "k2", status("P1", PaymentState::Settled)),
        command(
            "c",
            "k1",
            transfer("P1", PaymentState::Pending, eur(5), "BOB", "CLEARING"),
        ),
        command(
            "c",
            "k1",
            transfer("P9", PaymentState::Pending, eur(5), "BOB", "CLEARING"),
        ),
        command(
            "c",
            "k3",
            transfer("P1", PaymentState::Settled, eur(5), "BOB", "CLEARING"),
        ),
    ];
    let results = db.ledger.apply_batch(&batch).await.unwrap();
    let summary: Vec<String> = results
        .iter()
        .map(|result| match result {
            Ok(response) => format!(
                "{}{}",
                response.receipts[0].outcome.code(),
                if response.replay { " (replay)" } else { "" }
            ),
            Err(error) => format!("error: {error}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "APPLIED",
            "APPLIED",
            "APPLIED (replay)",
            "error: idempotency key \"k1\" of client \"c\" was already used for a different request",
            "DUPLICATE",
        ]
    );
    let too_big = LedgerOptions::default().batch_size_max + 1;
    let oversized = vec![batch[0].clone(); too_big];
    assert!(matches!(
        db.ledger.apply_batch(&oversized).await,
        Err(LedgerError::InvalidInput { .. })
    ));
}

#[tokio::test]
async fn a_command_with_several_messages_stores_one_answer_and_applies_nothing_while_one_is_transient(
) {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let client = ledger::model::ClientId::parse("c").unwrap();
    let key = |text: &str| ledger::model::IdempotencyKey::parse(text).unwrap();
    let two = ledger::ApplyCommand::new(
        client.clone(),
        key("both"),
        vec![
            transfer("P1", PaymentState::Settled, eur(1), "BOB", "CLEARING"),
            transfer("P2", PaymentState::Settled, eur(2), "BOB", "CLEARING"),
        ],
    );
    let first = db.ledger.apply(&two).await.unwrap();
    let replay = db.ledger.apply(&two).await.unwrap();
    assert_eq!(first.receipts.len(), 2);
    assert!(replay.replay);
    assert_eq!(replay.response_bytes, first.response_bytes);

    // One message waits for its original: the request is all or nothing,
    // so the other is not applied either, and nothing is stored; a retry
    // under the same key is a clean first attempt.
    let waiting = ledger::ApplyCommand::new(
        client,
        key("waiting"),
        vec![
            status("P3", PaymentState::Settled),
            transfer("P4", PaymentState::Settled, eur(4), "BOB", "CLEARING"),
        ],
    );
    let refused = db.ledger.apply(&waiting).await.unwrap();
    assert_eq!(
        outcome_codes(&refused),
        ["ORIGINAL_NOT_FOUND", "REQUEST_NOT_APPLIED"]
    );
    let retried = db.ledger.apply(&waiting).await.unwrap();
    assert!(!retried.replay);
    assert_eq!(
        outcome_codes(&retried),
        ["ORIGINAL_NOT_FOUND", "REQUEST_NOT_APPLIED"]
    );
    assert_eq!(invariants::count(&db.client().await, "transfers").await, 2);
}

/// Holds the writer lock in a transaction of its own, as another process's
/// batch does between its BEGIN and its COMMIT.
async fn hold_the_writer_lock(
    client: &mut tokio_postgres::Client,
) -> tokio_postgres::Transaction<'_> {
    let holder = client.transaction().await.unwrap();
    holder
        .batch_execute(&format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            ledger::store::WRITER_LOCK_TABLE
        ))
        .await
        .unwrap();
    holder
}

#[tokio::test]
async fn a_batch_waits_for_the_writer_lock_another_session_holds_and_then_sees_what_committed_meanwhile(
) {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let mut other = db.client().await;
    let holder = hold_the_writer_lock(&mut other).await;
    let ledger = db.ledger.clone();
    let applying = tokio::spawn(async move {
        let command = command(
            "c",
            "waits",
            transfer("P1", PaymentState::Settled, eur(42), "BOB", "LATE"),
        );
        ledger.apply(&command).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !applying.is_finished(),
        "the batch ran beside another writer"
    );
    // The creditor account is opened while the batch waits: its snapshot,
    // taken after the lock, must see it.
    db.ledger
        .open_account(&open("LATE", "EUR", OverdraftRule::Unrestricted))
        .await
        .unwrap();
    assert_eq!(invariants::count(&db.client().await, "payments").await, 0);
    holder.rollback().await.unwrap();

    let applied = applying.await.unwrap().unwrap();
    assert_eq!(
        outcome_codes(&applied),
        ["APPLIED"],
        "the snapshot was taken before the lock was granted"
    );
    // Once answered, no transaction of the ledger holds the lock.
    let mut checker = db.client().await;
    let check = tokio::time::timeout(Duration::from_secs(5), hold_the_writer_lock(&mut checker))
        .await
        .expect("the writer lock outlived the answer");
    check.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicate_that_arrives_while_the_first_waits_for_the_writer_lock_is_answered_with_its_replay(
) {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let mut other = db.client().await;
    let holder = hold_the_writer_lock(&mut other).await;
    let command = command(
        "c",
        "dup",
        transfer("P1", PaymentState::Settled, eur(42), "BOB", "CLEARING"),
    );
    let spawn_apply = |command: ledger::ApplyCommand| {
        let ledger = db.ledger.clone();
        tokio::spawn(async move { ledger.apply(&command).await })
    };
    let first = spawn_apply(command.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let duplicate = spawn_apply(command.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!first.is_finished() && !duplicate.is_finished());
    holder.rollback().await.unwrap();

    let answers = [
        first.await.unwrap().unwrap(),
        duplicate.await.unwrap().unwrap(),
    ];
    assert_eq!(
        answers.iter().filter(|answer| !answer.replay).count(),
        1,
        "one applied, the other its replay"
    );
    assert_eq!(answers[0].response_bytes, answers[1].response_bytes);
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "transfers").await, 1);
    assert!(invariants::violations(&client).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_of_two_ledgers_on_one_database_never_abort_each_other_on_a_hot_account() {
    // One attempt only: a batch that another batch aborted would come back
    // as Contention instead of being retried out of sight.
    let options = LedgerOptions {
        transaction_attempts_max: 1,
        ..LedgerOptions::default()
    };
    let db = TestDatabase::with_two_accounts(options.clone()).await;
    let second = ledger::Ledger::connect(db.config.clone(), options).unwrap();
    const TASKS_PER_LEDGER: usize = 6;
    const BATCHES_PER_TASK: usize = 8;
    const COMMANDS_PER_BATCH: usize = 4;
    let mut tasks = Vec::new();
    for (ledger_index, ledger) in [db.ledger.clone(), second.clone()].into_iter().enumerate() {
        for task in 0..TASKS_PER_LEDGER {
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(async move {
                for batch in 0..BATCHES_PER_TASK {
                    let commands: Vec<_> = (0..COMMANDS_PER_BATCH)
                        .map(|index| {
                            let name = format!("L{ledger_index}-T{task}-B{batch}-C{index}");
                            // Every payment debits and credits the same two accounts.
                            command(
                                "c",
                                &name,
                                transfer(&name, PaymentState::Settled, eur(1), "BOB", "CLEARING"),
                            )
                        })
                        .collect();
                    let answers = ledger
                        .apply_batch(&commands)
                        .await
                        .expect("the batch applied");
                    for answer in answers {
                        assert_eq!(
                            answer.expect("applied").receipts[0].outcome,
                            Outcome::Applied
                        );
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let client = db.client().await;
    let payments_expected = (2 * TASKS_PER_LEDGER * BATCHES_PER_TASK * COMMANDS_PER_BATCH) as i64;
    assert_eq!(
        invariants::count(&client, "payments").await,
        payments_expected
    );
    assert!(invariants::violations(&client).await.is_empty());
    second.close();
}

#[tokio::test]
async fn new_payments_get_ascending_ids_in_the_order_a_batch_creates_them() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let commands: Vec<_> = ["A", "B", "C", "D"]
        .into_iter()
        .map(|name| {
            // C names an account the ledger does not hold and has no
            // settlement or clearing account for: refused, no payment.
            let creditor = if name == "C" { "NOBODY" } else { "CLEARING" };
            command(
                "c",
                name,
                transfer(name, PaymentState::Settled, eur(1), "BOB", creditor),
            )
        })
        .collect();
    let answers = db.ledger.apply_batch(&commands).await.unwrap();
    let ids: Vec<Option<i64>> = answers
        .iter()
        .map(|answer| {
            answer.as_ref().unwrap().receipts[0]
                .payment_id
                .map(|id| id.0)
        })
        .collect();
    let [Some(a), Some(b), c, Some(d)] = ids[..] else {
        panic!("A, B and D created: {ids:?}");
    };
    assert!(a < b && b < d, "{ids:?}");
    assert_eq!(c, None, "C refused without a payment: {ids:?}");
    let later = db
        .ledger
        .apply(&command(
            "c",
            "E",
            transfer("E", PaymentState::Settled, eur(1), "BOB", "CLEARING"),
        ))
        .await
        .unwrap();
    assert!(later.receipts[0].payment_id.unwrap().0 > d);
    assert!(invariants::violations(&db.client().await).await.is_empty());
}
