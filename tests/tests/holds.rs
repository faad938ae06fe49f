//! Holds that expire: a PENDING payment that no status report settled or
//! voided in time becomes REJECTED through the same path as a message, once.

use std::time::{Duration, SystemTime};

use ledger::model::{OverdraftRule, PaymentState};
use ledger::{HOLD_EXPIRY_CLIENT_ID, HOLD_EXPIRY_REASON};
use ledger_system_tests::fixtures::*;
use ledger_system_tests::{invariants, TestDatabase};

async fn ledger_with_accounts() -> TestDatabase {
    let db = TestDatabase::with_defaults().await;
    for (name, overdraft) in [
        ("PAYER", OverdraftRule::Unrestricted),
        ("PAYEE", OverdraftRule::Unrestricted),
    ] {
        db.ledger
            .open_account(&open(name, "EUR", overdraft))
            .await
            .unwrap();
    }
    db
}

async fn hold(db: &TestDatabase, end_to_end_id: &str) {
    let response = db
        .ledger
        .apply(&command(
            "bank-a",
            &format!("hold-{end_to_end_id}"),
            transfer(
                end_to_end_id,
                PaymentState::Pending,
                eur(1_000),
                "PAYER",
                "PAYEE",
            ),
        ))
        .await
        .unwrap();
    assert_eq!(outcome_codes(&response), ["APPLIED"]);
}

async fn state_of(db: &TestDatabase, end_to_end_id: &str) -> PaymentState {
    db.ledger
        .get_payment_by_business_key(&key(end_to_end_id))
        .await
        .unwrap()
        .unwrap()
        .state
}

async fn pending_debits_of_payer(db: &TestDatabase) -> i64 {
    db.ledger
        .get_account(&reference("PAYER"))
        .await
        .unwrap()
        .unwrap()
        .balances
        .debits_pending
}

fn a_second_from_now() -> SystemTime {
    SystemTime::now() + Duration::from_secs(1)
}

#[tokio::test]
async fn a_hold_older_than_the_cutoff_is_rejected_with_its_confirmation_and_its_funds_released() {
    let db = ledger_with_accounts().await;
    hold(&db, "E2E-OLD").await;
    assert_eq!(pending_debits_of_payer(&db).await, 1_000);
    let expired = db.ledger.expire_holds(a_second_from_now()).await.unwrap();
    assert_eq!((expired.found_count, expired.expired_count), (1, 1));
    assert_eq!(state_of(&db, "E2E-OLD").await, PaymentState::Rejected);
    assert_eq!(
        pending_debits_of_payer(&db).await,
        0,
        "the reservation is released"
    );
    // The outbox itself: the feed holds rows back while any transaction in
    // the cluster (other tests' too) is older.
    let last = db
        .client()
        .await
        .query_one(
            "SELECT to_state, reason_code FROM outbox ORDER BY outbox_id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(last.get::<_, String>(0), "REJECTED");
    assert_eq!(
        last.get::<_, Option<String>>(1).as_deref(),
        Some(HOLD_EXPIRY_REASON)
    );
    let violations = invariants::violations(&db.client().await).await;
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test]
async fn a_hold_younger_than_the_cutoff_and_a_settled_payment_are_left_alone() {
    let db = ledger_with_accounts().await;
    hold(&db, "E2E-YOUNG").await;
    hold(&db, "E2E-SETTLED").await;
    db.ledger
        .apply(&command(
            "clearing",
            "acsc-1",
            status("E2E-SETTLED", PaymentState::Settled),
        ))
        .await
        .unwrap();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3_600);
    let expired = db.ledger.expire_holds(an_hour_ago).await.unwrap();
    assert_eq!(expired.found_count, 0);
    let expired = db.ledger.expire_holds(a_second_from_now()).await.unwrap();
    assert_eq!((expired.found_count, expired.expired_count), (1, 1));
    assert_eq!(state_of(&db, "E2E-YOUNG").await, PaymentState::Rejected);
    assert_eq!(state_of(&db, "E2E-SETTLED").await, PaymentState::Settled);
}

#[tokio::test]
async fn expiring_in_several_processes_at_once_rejects_each_hold_once() {
    let db = ledger_with_accounts().await;
    for n in 0..20 {
        hold(&db, &format!("E2E-{n}")).await;
    }
    let cutoff = a_second_from_now();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let ledger = db.ledger.clone();
            tokio::spawn(async move { ledger.expire_holds(cutoff).await.unwrap() })
        })
        .collect();
    let mut expired_count = 0;
    for run in runs {
        expired_count += run.await.unwrap().expired_count;
    }
    assert_eq!(expired_count, 20, "every hold expired by exactly one run");
    let client = db.client().await;
    let rejections: i64 = client
        .query_one(
            "SELECT count(*) FROM outbox WHERE to_state = 'REJECTED'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rejections, 20, "one confirmation per hold");
    let keys: i64 = client
        .query_one(
            "SELECT count(*) FROM idempotency_records WHERE client_id = $1",
            &[&HOLD_EXPIRY_CLIENT_ID],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys, 20);
    let violations = invariants::violations(&client).await;
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test]
async fn a_status_report_after_the_expiry_is_answered_as_a_conflict_with_the_rejection() {
    let db = ledger_with_accounts().await;
    hold(&db, "E2E-LATE").await;
    db.ledger.expire_holds(a_second_from_now()).await.unwrap();
    let late = db
        .ledger
        .apply(&command(
            "clearing",
            "acsc-late",
            status("E2E-LATE", PaymentState::Settled),
        ))
        .await
        .unwrap();
    assert_eq!(outcome_codes(&late), ["STATE_CONFLICT"]);
    assert_eq!(state_of(&db, "E2E-LATE").await, PaymentState::Rejected);
}
