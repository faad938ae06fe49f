//! Group commit: requests queued in front of the ledger and applied in
//! batches by one applier, each with its own answer and exactly-once intact.

use std::time::Duration;

use ledger::model::{Outcome, PaymentState};
use ledger::{GroupCommit, GroupCommitOptions, LedgerError, LedgerOptions};
use ledger_system_tests::fixtures::*;
use ledger_system_tests::{invariants, TestDatabase};

fn queue(db: &TestDatabase, queue_capacity_max: usize, batch_size_max: usize) -> GroupCommit {
    GroupCommit::start(
        db.ledger.clone(),
        GroupCommitOptions {
            queue_capacity_max,
            batch_size_max,
            appliers_max: 1,
        },
    )
}

fn payment(key: &str) -> ledger::ApplyCommand {
    command(
        "bank-a",
        key,
        transfer(key, PaymentState::Settled, eur(1), "BOB", "CLEARING"),
    )
}

/// Waits until a statement of another session waits for a lock: the
/// applier is inside its batch, held there by the test's row lock.
async fn wait_for_a_blocked_statement(client: &tokio_postgres::Client) {
    for _ in 0..500 {
        let blocked: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND datname = current_database()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if blocked > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the applier never reached the locked row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_requests_each_get_their_own_answer_and_apply_once() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let group_commit = queue(&db, 1_024, 64);
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let group_commit = group_commit.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for payment_number in 0..10 {
                    let key = format!("P-{task}-{payment_number}");
                    let answer = group_commit.apply(payment(&key), None).await.unwrap();
                    answers.push((key, answer));
                }
                answers
            })
        })
        .collect();
    for task in tasks {
        for (key, answer) in task.await.unwrap() {
            assert_eq!(answer.receipts[0].outcome, Outcome::Applied, "{key}");
            assert_eq!(
                answer.receipts[0].business_key,
                key_of(&key),
                "an answer went to the wrong request"
            );
            assert!(!answer.replay);
        }
    }
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "payments").await, 320);
    assert_eq!(invariants::count(&client, "transfers").await, 320);
    let violations = invariants::violations(&client).await;
    assert!(violations.is_empty(), "{violations:#?}");
}

fn key_of(business_key: &str) -> ledger::model::BusinessKey {
    key(business_key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_through_the_queue_apply_once_and_share_the_first_answer() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let group_commit = queue(&db, 1_024, 16);
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let group_commit = group_commit.clone();
            tokio::spawn(async move { group_commit.apply(payment("SAME"), None).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    let first: Vec<_> = answers.iter().filter(|answer| !answer.replay).collect();
    assert_eq!(first.len(), 1, "exactly one request is the first");
    for answer in &answers {
        assert_eq!(answer.response_bytes, first[0].response_bytes);
    }
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "transfers").await, 1);
    assert_eq!(invariants::count(&client, "idempotency_records").await, 1);
}

#[tokio::test]
async fn a_request_whose_deadline_passed_while_it_waited_is_not_applied() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let group_commit = queue(&db, 16, 16);
    let expired = group_commit
        .apply(payment("LATE"), Some(Duration::ZERO))
        .await;
    assert!(matches!(expired, Err(LedgerError::DeadlineExpired)));
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "payments").await, 0);
    assert_eq!(invariants::count(&client, "idempotency_records").await, 0);
    // The same key later is a clean first attempt.
    let applied = group_commit.apply(payment("LATE"), None).await.unwrap();
    assert_eq!(applied.receipts[0].outcome, Outcome::Applied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_refuses_at_once_and_the_refused_request_is_never_applied() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let group_commit = queue(&db, 1, 1);
    // Hold the applier inside its first batch: another session locks BOB.
    let mut holder = db.client().await;
    let hold = holder.transaction().await.unwrap();
    hold.execute(
        "SELECT 1 FROM accounts WHERE external_reference = 'BOB' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    let first = group_commit.submit(payment("FIRST"), None).unwrap();
    wait_for_a_blocked_statement(&db.client().await).await;
    let second = group_commit.submit(payment("SECOND"), None).unwrap();
    let refused = group_commit.submit(payment("THIRD"), None);
    assert!(matches!(
        refused,
        Err(LedgerError::Overloaded {
            queue_capacity_max: 1
        })
    ));
    hold.rollback().await.unwrap();
    assert_eq!(
        first.answer().await.unwrap().receipts[0].outcome,
        Outcome::Applied
    );
    assert_eq!(
        second.answer().await.unwrap().receipts[0].outcome,
        Outcome::Applied
    );
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "payments").await, 2);
}

#[tokio::test]
async fn a_reused_key_in_a_batch_fails_only_its_own_request() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let group_commit = queue(&db, 16, 16);
    let first = group_commit.submit(payment("A"), None).unwrap();
    // The same key for another request, in the same batch.
    let reused = group_commit
        .submit(
            command(
                "bank-a",
                "A",
                transfer("OTHER", PaymentState::Settled, eur(2), "BOB", "CLEARING"),
            ),
            None,
        )
        .unwrap();
    let other = group_commit.submit(payment("B"), None).unwrap();
    assert_eq!(
        first.answer().await.unwrap().receipts[0].outcome,
        Outcome::Applied
    );
    assert!(matches!(
        reused.answer().await,
        Err(LedgerError::IdempotencyKeyReused { .. })
    ));
    assert_eq!(
        other.answer().await.unwrap().receipts[0].outcome,
        Outcome::Applied
    );
}
