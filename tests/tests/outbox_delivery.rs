//! Relays claim undelivered outbox rows by state: at most the earliest
//! undelivered row of each payment, never a row another relay holds, and
//! only what the broker acknowledged is marked delivered.

use std::time::Duration;

use ledger::model::PaymentState;
use ledger::LedgerOptions;
use ledger_system_tests::fixtures::{command, eur, status, transfer};
use ledger_system_tests::TestDatabase;

/// Payment `name` created PENDING and then SETTLED: two outbox rows.
async fn pending_then_settled(db: &TestDatabase, name: &str) {
    for (suffix, message) in [
        (
            "create",
            transfer(name, PaymentState::Pending, eur(100), "BOB", "CLEARING"),
        ),
        ("settle", status(name, PaymentState::Settled)),
    ] {
        db.ledger
            .apply(&command("bank-a", &format!("{name}-{suffix}"), message))
            .await
            .expect("the state change applies");
    }
}

/// The outbox ids, oldest first.
async fn outbox_ids(db: &TestDatabase) -> Vec<i64> {
    db.client()
        .await
        .query("SELECT outbox_id FROM outbox ORDER BY outbox_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn a_claim_takes_only_the_earliest_undelivered_row_of_each_payment() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    pending_then_settled(&db, "P1").await;
    pending_then_settled(&db, "P2").await;
    let rows = outbox_ids(&db).await;
    assert_eq!(rows.len(), 4);
    let mut claimed = Vec::new();
    for _ in 0..2 {
        db.ledger
            .deliver_outbox(100, |batch| {
                claimed.push(batch.iter().map(|row| row.outbox_id).collect::<Vec<_>>());
                async move { batch.iter().map(|row| row.outbox_id).collect() }
            })
            .await
            .unwrap();
    }
    assert_eq!(
        claimed,
        vec![vec![rows[0], rows[2]], vec![rows[1], rows[3]]]
    );
    assert_eq!(db.ledger.outbox_lag().await.unwrap().undelivered_count, 0);
}

#[tokio::test]
async fn a_relay_holding_a_payments_row_keeps_its_later_rows_from_other_relays() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    pending_then_settled(&db, "HELD").await;
    let rows = outbox_ids(&db).await;
    let (claimed_sender, claimed_receiver) = tokio::sync::oneshot::channel();
    let (release_sender, release_receiver) = tokio::sync::oneshot::channel::<()>();
    let ledger = db.ledger.clone();
    let holder = tokio::spawn(async move {
        ledger
            .deliver_outbox(100, move |batch| async move {
                let ids: Vec<i64> = batch.iter().map(|row| row.outbox_id).collect();
                claimed_sender.send(ids.clone()).unwrap();
                release_receiver.await.unwrap();
                ids
            })
            .await
            .unwrap()
    });
    assert_eq!(claimed_receiver.await.unwrap(), vec![rows[0]]);
    // Another relay gets nothing: the earlier row is held, the later waits.
    let other = db
        .ledger
        .deliver_outbox(100, |batch| async move {
            assert!(batch.is_empty(), "nothing else is claimable");
            Vec::new()
        })
        .await
        .unwrap();
    assert_eq!(other.claimed_count, 0);
    release_sender.send(()).unwrap();
    assert_eq!(holder.await.unwrap().delivered_count, 1);
    let mut later = Vec::new();
    db.ledger
        .deliver_outbox(100, |batch| {
            later = batch.iter().map(|row| row.outbox_id).collect();
            async move { batch.iter().map(|row| row.outbox_id).collect() }
        })
        .await
        .unwrap();
    assert_eq!(later, vec![rows[1]]);
}

#[tokio::test]
async fn rows_the_broker_did_not_acknowledge_stay_undelivered_and_are_claimed_again() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    pending_then_settled(&db, "NACK").await;
    let delivery = db
        .ledger
        .deliver_outbox(100, |_batch| async move { Vec::new() })
        .await
        .unwrap();
    assert_eq!((delivery.claimed_count, delivery.delivered_count), (1, 0));
    let lag = db.ledger.outbox_lag().await.unwrap();
    assert_eq!(lag.undelivered_count, 2);
    assert!(lag.oldest_undelivered_age.is_some());
    let again = db
        .ledger
        .deliver_outbox(100, |batch| async move {
            batch.iter().map(|row| row.outbox_id).collect()
        })
        .await
        .unwrap();
    assert_eq!(again.delivered_count, 1, "the same row, claimed again");
}

#[tokio::test]
async fn pruning_refuses_a_retention_under_a_day_and_keeps_recent_rows() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    pending_then_settled(&db, "KEPT").await;
    assert!(db
        .ledger
        .prune_delivered_outbox(Duration::from_secs(3600))
        .await
        .is_err());
    assert_eq!(
        db.ledger
            .prune_delivered_outbox(ledger::OUTBOX_RETENTION_MIN)
            .await
            .unwrap(),
        0
    );
    assert_eq!(outbox_ids(&db).await.len(), 2);
}

#[tokio::test]
async fn pruning_empties_the_payload_of_old_delivered_rows_and_keeps_the_audits_record() {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    pending_then_settled(&db, "OLD").await;
    db.ledger
        .deliver_outbox(100, |batch| async move {
            batch.iter().map(|row| row.outbox_id).collect()
        })
        .await
        .unwrap();
    let client = db.client().await;
    client
        .execute(
            "UPDATE outbox SET delivered_at = now() - INTERVAL '2 days'",
            &[],
        )
        .await
        .unwrap();
    let pruned = db
        .ledger
        .prune_delivered_outbox(ledger::OUTBOX_RETENTION_MIN)
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    assert_eq!(outbox_ids(&db).await.len(), 2, "the rows stay");
    let empty: i64 = client
        .query_one(
            "SELECT count(*) FROM outbox WHERE payload = '{}'::JSONB",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(empty, 2);
    let report = db.ledger.audit(None).await.unwrap();
    assert!(report.is_clean(), "{:#?}", report.discrepancies);
    let again = db
        .ledger
        .prune_delivered_outbox(ledger::OUTBOX_RETENTION_MIN)
        .await
        .unwrap();
    assert_eq!(again, 0, "a pruned row is not pruned twice");
}
