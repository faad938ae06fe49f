//! Partial and multiple returns (semantics §2): each return of a payment
//! applied once under its own return id, a REVERSAL of its amount, together
//! at most the settled amount; the payment RETURNED once all of it was.

use ledger::model::{
    Amount, Outcome, PaymentId, PaymentMessage, PaymentState, RejectionReason, ReturnId,
};
use ledger::{LedgerOptions, Receipt};
use ledger_system_tests::fixtures::*;
use ledger_system_tests::{invariants, TestDatabase};

use PaymentState::{Pending, Rejected, Returned, Settled};

/// Unrestricted EUR accounts `BOB` and `CLEARING`, and payment `P1` of
/// 1,000.00 from BOB to CLEARING applied (key `k0`) in `state`: the database
/// and the payment's receipt.
async fn ledger_with_p1_of_1_000(state: PaymentState) -> (TestDatabase, Receipt) {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let created = apply(
        &db,
        "k0",
        transfer("P1", state, eur(1_000), "BOB", "CLEARING"),
    )
    .await;
    (db, created)
}

fn return_of(business_key: &str, return_id: &str, returned: Amount) -> PaymentMessage {
    PaymentMessage {
        returned_amount: Some(returned),
        return_id: Some(ReturnId::of_return_identification(return_id).unwrap()),
        ..status(business_key, Returned)
    }
}

async fn apply(db: &TestDatabase, idempotency_key: &str, message: PaymentMessage) -> Receipt {
    let response = db
        .ledger
        .apply(&command("bank-b", idempotency_key, message))
        .await
        .unwrap();
    assert!(!response.replay, "{idempotency_key} is a first attempt");
    response.receipts.into_iter().next().unwrap()
}

async fn balances_of(db: &TestDatabase, name: &str) -> [i64; 4] {
    let balances = db
        .ledger
        .get_account(&reference(name))
        .await
        .unwrap()
        .unwrap()
        .balances;
    [
        balances.debits_pending,
        balances.debits_posted,
        balances.credits_pending,
        balances.credits_posted,
    ]
}

/// The payment's state and how much of it was returned so far.
async fn returned_so_far(db: &TestDatabase, payment_id: PaymentId) -> (PaymentState, Amount) {
    let payment = db.ledger.get_payment(payment_id).await.unwrap().unwrap();
    (payment.state, payment.amount_returned)
}

/// Whether the database refuses `sql`, run with the payment's id as `$1`.
async fn database_refuses(client: &tokio_postgres::Client, sql: &str, payment_id: i64) -> bool {
    client.execute(sql, &[&payment_id]).await.is_err()
}

async fn assert_sound(db: &TestDatabase) {
    let violations = invariants::violations(&db.client().await).await;
    assert!(violations.is_empty(), "{violations:#?}");
    let report = db.ledger.audit(None).await.unwrap();
    assert!(
        report.discrepancies.is_empty(),
        "{:#?}",
        report.discrepancies
    );
}

async fn outbox_moves(db: &TestDatabase) -> Vec<String> {
    db.client()
        .await
        .query(
            "SELECT COALESCE(from_state, 'NONE') || '->' || to_state FROM outbox ORDER BY outbox_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn partial_returns_add_up_to_the_settled_amount_each_applied_once() {
    let (db, created) = ledger_with_p1_of_1_000(Settled).await;
    let payment_id = created.payment_id.unwrap();

    let first = apply(&db, "r1", return_of("P1", "R1", eur(300))).await;
    assert_eq!(first.outcome.code(), "APPLIED");
    assert_eq!(
        first.state,
        Some(Settled),
        "partly returned is still settled"
    );
    assert_eq!(returned_so_far(&db, payment_id).await, (Settled, eur(300)));
    assert_eq!(balances_of(&db, "BOB").await, [0, 1_000, 0, 300]);

    // The same return under another idempotency key posts nothing again.
    let again = apply(&db, "r1-again", return_of("P1", "R1", eur(300))).await;
    assert_eq!(again.outcome.code(), "ALREADY_APPLIED");
    // The same return id with another amount is a conflict, recorded.
    let other = apply(&db, "r1-other", return_of("P1", "R1", eur(200))).await;
    assert_eq!(
        other.outcome,
        Outcome::Rejected(RejectionReason::ReturnIdConflict)
    );
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "payment_conflicts").await, 1);
    // More than is left is refused, stored, and posts nothing.
    let beyond = apply(&db, "r2-beyond", return_of("P1", "R2", eur(701))).await;
    assert_eq!(
        beyond.outcome,
        Outcome::Rejected(RejectionReason::ReturnExceedsRemaining)
    );
    let replay = db
        .ledger
        .apply(&command(
            "bank-b",
            "r2-beyond",
            return_of("P1", "R2", eur(701)),
        ))
        .await
        .unwrap();
    assert!(replay.replay);
    assert_eq!(balances_of(&db, "BOB").await, [0, 1_000, 0, 300]);

    // What is left, in two parts: the second completes the return.
    let second = apply(&db, "r2", return_of("P1", "R2", eur(650))).await;
    assert_eq!(second.state, Some(Settled));
    let last = apply(&db, "r3", return_of("P1", "R3", eur(50))).await;
    assert_eq!(last.outcome.code(), "APPLIED");
    assert_eq!(last.state, Some(Returned));
    assert_eq!(
        returned_so_far(&db, payment_id).await,
        (Returned, eur(1_000))
    );
    assert_eq!(balances_of(&db, "BOB").await, [0, 1_000, 0, 1_000]);
    assert_eq!(balances_of(&db, "CLEARING").await, [0, 1_000, 0, 1_000]);
    // Nothing is left to return; an earlier return is still a replay.
    let more = apply(&db, "r4", return_of("P1", "R4", eur(1))).await;
    assert_eq!(
        more.outcome,
        Outcome::Rejected(RejectionReason::ReturnExceedsRemaining)
    );
    let earlier = apply(&db, "r2-late", return_of("P1", "R2", eur(650))).await;
    assert_eq!(earlier.outcome.code(), "ALREADY_APPLIED");

    // One confirmation per state change: settled, then wholly returned.
    assert_eq!(
        outbox_moves(&db).await,
        ["NONE->SETTLED", "SETTLED->RETURNED"]
    );
    assert_eq!(invariants::count(&client, "payment_returns").await, 3);
    let reversals: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM transfers WHERE kind = 'REVERSAL'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reversals, 3);
    assert_sound(&db).await;
}

#[tokio::test]
async fn a_partial_return_of_a_hold_settles_it_and_a_later_rejection_contradicts_it() {
    let (db, _) = ledger_with_p1_of_1_000(Pending).await;
    let returned = apply(&db, "r1", return_of("P1", "R1", eur(400))).await;
    assert_eq!(returned.state, Some(Settled));
    assert_eq!(balances_of(&db, "BOB").await, [0, 1_000, 0, 400]);
    assert_eq!(balances_of(&db, "CLEARING").await, [0, 400, 0, 1_000]);
    let settled = apply(&db, "s1", status("P1", Settled)).await;
    assert_eq!(settled.outcome.code(), "ALREADY_APPLIED");
    let rejected = apply(&db, "j1", status("P1", Rejected)).await;
    assert_eq!(rejected.outcome.code(), "REJECTED");
    assert_eq!(
        outbox_moves(&db).await,
        ["NONE->PENDING", "PENDING->SETTLED"]
    );
    assert_sound(&db).await;
}

#[tokio::test]
async fn returns_of_one_payment_in_one_request_are_applied_in_order_and_checked_together() {
    let (db, _) = ledger_with_p1_of_1_000(Settled).await;
    let request = ledger::ApplyCommand::new(
        ledger::model::ClientId::parse("bank-b").unwrap(),
        ledger::model::IdempotencyKey::parse("several").unwrap(),
        vec![
            return_of("P1", "R1", eur(600)),
            return_of("P1", "R1", eur(600)),
            return_of("P1", "R2", eur(600)),
            return_of("P1", "R3", eur(400)),
        ],
    );
    let response = db.ledger.apply(&request).await.unwrap();
    assert_eq!(
        outcome_codes(&response),
        [
            "APPLIED",
            "ALREADY_APPLIED",
            "RETURN_EXCEEDS_REMAINING",
            "APPLIED"
        ]
    );
    assert_eq!(response.receipts[3].state, Some(Returned));
    assert_eq!(balances_of(&db, "BOB").await, [0, 1_000, 0, 1_000]);
    // Applied one after another, in batches, the same answers.
    let replay = db.ledger.apply(&request).await.unwrap();
    assert!(replay.replay);
    assert_eq!(replay.receipts, response.receipts);
    assert_sound(&db).await;
}

#[tokio::test]
async fn the_database_refuses_a_second_reversal_of_one_return_and_more_returned_than_settled() {
    let (db, created) = ledger_with_p1_of_1_000(Settled).await;
    apply(&db, "r1", return_of("P1", "R1", eur(300))).await;
    let payment_id = created.payment_id.unwrap().0;
    let client = db.client().await;
    let twice = database_refuses(
        &client,
        "INSERT INTO transfers (payment_id, kind, debit_account_id, credit_account_id, \
         currency, amount_minor, return_id) \
         SELECT payment_id, kind, debit_account_id, credit_account_id, currency, \
         amount_minor, return_id FROM transfers WHERE kind = 'REVERSAL' AND payment_id = $1",
        payment_id,
    )
    .await;
    assert!(twice, "a return is reversed once");
    let posted_twice = database_refuses(
        &client,
        "INSERT INTO transfers (payment_id, kind, debit_account_id, credit_account_id, \
         currency, amount_minor) \
         SELECT payment_id, kind, debit_account_id, credit_account_id, currency, \
         amount_minor FROM transfers WHERE kind = 'POSTED' AND payment_id = $1",
        payment_id,
    )
    .await;
    assert!(posted_twice, "other kinds stay once per payment");
    let over = database_refuses(
        &client,
        "UPDATE payments SET amount_returned_minor = amount_minor + 1 WHERE payment_id = $1",
        payment_id,
    )
    .await;
    assert!(over, "never more returned than the amount");
    let returned_but_settled = database_refuses(
        &client,
        "UPDATE payments SET amount_returned_minor = amount_minor WHERE payment_id = $1",
        payment_id,
    )
    .await;
    assert!(returned_but_settled, "all of it returned is RETURNED");
    assert_sound(&db).await;
}
