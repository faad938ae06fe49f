//! The reconciliation audit (`docs/semantics.md` §6) finds a
//! clean ledger clean, names each way of breaking it on purpose, and audits
//! clean during concurrent traffic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ledger::audit::{AuditReport, Direction, EntryReferences, StatementEntry, StatementInput};
use ledger::model::{Amount, OverdraftRule, PaymentMessage, PaymentState};
use ledger::{ApplyResponse, Ledger};
use ledger_system_tests::fixtures::*;
use ledger_system_tests::{invariants, TestDatabase};

use PaymentState::{Pending, Rejected, Returned, Settled};

/// Accounts `ALICE`, `BOB` (unrestricted) and `CAROL` in EUR, and one
/// payment in every state and along every path: pending, settled directly,
/// settled from pending, rejected directly, rejected from pending (voided),
/// returned from settled, returned from pending.
async fn ledger_with_every_kind_of_payment() -> TestDatabase {
    let db = ledger_with_accounts(&["ALICE", "BOB", "CAROL"]).await;
    let paths: &[(&str, &[PaymentState])] = &[
        ("P-PENDING", &[Pending]),
        ("P-SETTLED", &[Settled]),
        ("P-PENDING-SETTLED", &[Pending, Settled]),
        ("P-REJECTED", &[Rejected]),
        ("P-PENDING-REJECTED", &[Pending, Rejected]),
        ("P-SETTLED-RETURNED", &[Settled, Returned]),
        ("P-PENDING-RETURNED", &[Pending, Returned]),
    ];
    for (number, (name, states)) in paths.iter().enumerate() {
        let payment = Payment {
            name,
            amount: eur(1_000 + number as i64),
            debtor: "ALICE",
            creditor: "BOB",
        };
        for response in apply_path(&db.ledger, "bank-a", &payment, states).await {
            assert_eq!(response.receipts[0].outcome.code(), "APPLIED", "{name}");
        }
    }
    db
}

/// A database with an unrestricted EUR account for each of `names`.
async fn ledger_with_accounts(names: &[&str]) -> TestDatabase {
    let db = TestDatabase::with_defaults().await;
    for name in names {
        db.ledger
            .open_account(&open(name, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
    db
}

/// One payment as its first message names it.
struct Payment<'a> {
    name: &'a str,
    amount: Amount,
    debtor: &'a str,
    creditor: &'a str,
}

/// The message that moves `payment` to `state` at `step` of its path: the
/// transfer that creates it first, a status after that.
fn step_message(payment: &Payment<'_>, step: usize, state: PaymentState) -> PaymentMessage {
    if step == 0 {
        transfer(
            payment.name,
            state,
            payment.amount,
            payment.debtor,
            payment.creditor,
        )
    } else {
        status(payment.name, state)
    }
}

/// Applies `payment` through `states`, one request per step under
/// `client`'s key `{name}-{step}`: each step's response.
async fn apply_path(
    ledger: &Ledger,
    client: &str,
    payment: &Payment<'_>,
    states: &[PaymentState],
) -> Vec<ApplyResponse> {
    let mut responses = Vec::new();
    for (step, state) in states.iter().enumerate() {
        let message = step_message(payment, step, *state);
        let idempotency_key = format!("{}-{step}", payment.name);
        responses.push(
            ledger
                .apply(&command(client, &idempotency_key, message))
                .await
                .unwrap(),
        );
    }
    responses
}

fn codes(report: &AuditReport) -> Vec<&'static str> {
    report
        .discrepancies
        .iter()
        .map(|discrepancy| discrepancy.code())
        .collect()
}

/// The running balances a transfer records (`V8__running_balances.sql`).
const RUNNING_COLUMNS: &str = "debit_debits_pending, debit_debits_posted, \
     debit_credits_pending, debit_credits_posted, credit_debits_pending, credit_debits_posted, \
     credit_credits_pending, credit_credits_posted";
/// The running balances of a POSTED transfer `p.amount_minor` appended now
/// between `d` and `c` (joined by [`RUNNING_JOIN`]): right, so that only the
/// check a test aims at finds it.
const RUNNING_AFTER_POSTED: &str = "d.debits_pending, d.debits_posted + p.amount_minor, \
     d.credits_pending, d.credits_posted, c.debits_pending, c.debits_posted, c.credits_pending, \
     c.credits_posted + p.amount_minor";
const RUNNING_JOIN: &str = "JOIN accounts d ON d.account_id = p.debit_account_id \
     JOIN accounts c ON c.account_id = p.credit_account_id";

fn assert_clean(report: &AuditReport) {
    let found: Vec<String> = report
        .discrepancies
        .iter()
        .map(|d| format!("{} {}: {}", d.code(), d.subject(), d.detail()))
        .collect();
    assert!(report.is_clean(), "{found:#?}");
}

/// The one discrepancy code the report holds, and the subjects it names.
fn only(report: &AuditReport, code: &str) -> Vec<String> {
    assert!(
        report.discrepancies.iter().all(|d| d.code() == code),
        "expected only {code}, got {:?}",
        codes(report)
    );
    assert!(!report.discrepancies.is_empty(), "expected {code}");
    report.discrepancies.iter().map(|d| d.subject()).collect()
}

async fn payment_id(db: &TestDatabase, name: &str) -> i64 {
    db.ledger
        .get_payment_by_business_key(&key(name))
        .await
        .unwrap()
        .unwrap()
        .payment_id
        .0
}

async fn audit(db: &TestDatabase) -> AuditReport {
    db.ledger.audit(None).await.unwrap()
}

/// Breaks the ledger with every kind of payment on purpose: runs `sql` with
/// the id of payment `name` as `$1`, behind the ledger's back. The payment's
/// id and the audit that follows.
async fn audit_after_tampering_with(name: &str, sql: &str) -> (i64, AuditReport) {
    let db = ledger_with_every_kind_of_payment().await;
    let payment = payment_id(&db, name).await;
    db.client().await.execute(sql, &[&payment]).await.unwrap();
    (payment, audit(&db).await)
}

/// The report holds only `code`, once, for `payment`.
fn assert_named_once_for_payment(report: &AuditReport, code: &str, payment: i64) {
    let subjects = only(report, code);
    assert_eq!(subjects.len(), 1);
    assert!(subjects[0].starts_with(&format!("payment {payment} ")));
}

#[tokio::test]
async fn a_ledger_with_payments_in_every_state_audits_clean() {
    let db = ledger_with_every_kind_of_payment().await;
    assert!(invariants::violations(&db.client().await).await.is_empty());
    let report = audit(&db).await;
    assert_clean(&report);
    assert_eq!(report.counts.accounts, 3);
    assert_eq!(report.counts.payments, 7);
    assert_eq!(report.counts.transfers, 11);
    assert_eq!(report.counts.outbox_rows, 11);
    assert!(!report.as_of.is_empty());
}

#[tokio::test]
async fn an_empty_ledger_audits_clean() {
    let db = TestDatabase::with_defaults().await;
    assert_clean(&audit(&db).await);
}

#[tokio::test]
async fn a_changed_stored_balance_is_named_as_a_balance_and_trial_balance_mismatch() {
    let db = ledger_with_every_kind_of_payment().await;
    db.client()
        .await
        .batch_execute(
            "UPDATE accounts SET credits_posted = credits_posted + 1 \
             WHERE external_reference = 'BOB'",
        )
        .await
        .unwrap();
    let report = audit(&db).await;
    assert_eq!(codes(&report), ["TRIAL_BALANCE", "BALANCE_MISMATCH"]);
    assert_eq!(report.discrepancies[0].subject(), "currency EUR");
    assert!(report.discrepancies[1].subject().starts_with("account BOB"));
}

#[tokio::test]
async fn a_deleted_outbox_row_is_named_for_its_payment() {
    let (payment, report) = audit_after_tampering_with(
        "P-PENDING-SETTLED",
        "DELETE FROM outbox WHERE payment_id = $1 AND to_state = 'SETTLED'",
    )
    .await;
    assert_named_once_for_payment(&report, "OUTBOX_MISMATCH", payment);
    assert!(report.discrepancies[0]
        .detail()
        .contains("does not end in the payment's state"));
}

#[tokio::test]
async fn an_outbox_row_without_its_state_change_is_named() {
    let (payment, report) = audit_after_tampering_with(
        "P-SETTLED",
        "INSERT INTO outbox (payment_id, from_state, to_state, status_code, payload) \
         VALUES ($1, 'SETTLED', 'RETURNED', 'ACSC', '{}')",
    )
    .await;
    assert_named_once_for_payment(&report, "OUTBOX_MISMATCH", payment);
}

#[tokio::test]
async fn a_transfer_inserted_behind_the_ledgers_back_is_named() {
    // A POSTED transfer for a payment that is still pending, balances untouched.
    let (payment, report) = audit_after_tampering_with(
        "P-PENDING",
        &format!(
            "INSERT INTO transfers (payment_id, kind, debit_account_id, credit_account_id, \
               currency, amount_minor, {RUNNING_COLUMNS}) \
             SELECT p.payment_id, 'POSTED', p.debit_account_id, p.credit_account_id, \
               p.currency, p.amount_minor, {RUNNING_AFTER_POSTED} \
             FROM payments p {RUNNING_JOIN} WHERE payment_id = $1"
        ),
    )
    .await;
    assert_eq!(
        codes(&report),
        [
            "BALANCE_MISMATCH",
            "BALANCE_MISMATCH",
            "TRANSFERS_DO_NOT_MATCH_STATE"
        ]
    );
    assert!(report.discrepancies[2]
        .subject()
        .starts_with(&format!("payment {payment} ")));
    assert!(report.discrepancies[2].detail().contains("PENDING,POSTED"));
}

#[tokio::test]
async fn a_state_changed_without_transfers_is_named_twice() {
    // The transfers and the outbox both disagree with the state.
    let (payment, report) = audit_after_tampering_with(
        "P-PENDING",
        "UPDATE payments SET state = 'SETTLED' WHERE payment_id = $1",
    )
    .await;
    assert_eq!(
        codes(&report),
        ["TRANSFERS_DO_NOT_MATCH_STATE", "OUTBOX_MISMATCH"]
    );
    for discrepancy in &report.discrepancies {
        assert!(discrepancy
            .subject()
            .starts_with(&format!("payment {payment} ")));
    }
}

#[tokio::test]
async fn a_transfer_with_another_amount_than_its_payment_is_named() {
    // The kinds are right, one leg is not (balances adjusted too).
    let db = ledger_with_every_kind_of_payment().await;
    let payment = payment_id(&db, "P-SETTLED").await;
    db.client()
        .await
        .batch_execute(&format!(
            "UPDATE transfers SET amount_minor = amount_minor + 5, \
               debit_debits_posted = debit_debits_posted + 5, \
               credit_credits_posted = credit_credits_posted + 5 WHERE payment_id = {payment}; \
             UPDATE accounts SET debits_posted = debits_posted + 5 WHERE external_reference = 'ALICE'; \
             UPDATE accounts SET credits_posted = credits_posted + 5 WHERE external_reference = 'BOB';"
        ))
        .await
        .unwrap();
    let report = audit(&db).await;
    // The running balances the changed transfer and the later ones recorded
    // are off by the 5 as well.
    let state: Vec<_> = report
        .discrepancies
        .iter()
        .filter(|d| d.code() == "TRANSFERS_DO_NOT_MATCH_STATE")
        .collect();
    assert_eq!(state.len(), 1);
    assert!(state[0].detail().contains("amount"));
    assert!(codes(&report).iter().all(|code| [
        "TRANSFERS_DO_NOT_MATCH_STATE",
        "RUNNING_BALANCE_MISMATCH"
    ]
    .contains(code)));
    assert!(codes(&report).contains(&"RUNNING_BALANCE_MISMATCH"));
}

#[tokio::test]
async fn a_business_key_applied_twice_is_named() {
    // The schema refuses a second payment with the same key
    // (UNIQUE), so this test's own database drops that constraint first, as a
    // corruption would, and copies a payment with its transfers and outbox row.
    let db = ledger_with_every_kind_of_payment().await;
    let original = payment_id(&db, "P-SETTLED").await;
    let client = db.client().await;
    client
        .batch_execute("ALTER TABLE payments DROP CONSTRAINT payments_business_key_key")
        .await
        .unwrap();
    let copy: i64 = client
        .query_one(
            "INSERT INTO payments (business_key, state, currency, amount_minor, \
               debit_account_id, credit_account_id) \
             SELECT business_key, state, currency, amount_minor, debit_account_id, credit_account_id \
             FROM payments WHERE payment_id = $1 RETURNING payment_id",
            &[&original],
        )
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!(
            "INSERT INTO transfers (payment_id, kind, debit_account_id, credit_account_id, currency, \
               amount_minor, {RUNNING_COLUMNS}) \
               SELECT {copy}, kind, p.debit_account_id, p.credit_account_id, p.currency, \
                 p.amount_minor, {RUNNING_AFTER_POSTED} \
               FROM transfers p {RUNNING_JOIN} WHERE payment_id = {original}; \
             INSERT INTO outbox (payment_id, from_state, to_state, status_code, payload) \
               SELECT {copy}, from_state, to_state, status_code, payload FROM outbox WHERE payment_id = {original}; \
             UPDATE accounts a SET debits_posted = debits_posted + p.amount_minor \
               FROM payments p WHERE p.payment_id = {copy} AND a.account_id = p.debit_account_id; \
             UPDATE accounts a SET credits_posted = credits_posted + p.amount_minor \
               FROM payments p WHERE p.payment_id = {copy} AND a.account_id = p.credit_account_id;"
        ))
        .await
        .unwrap();
    let report = audit(&db).await;
    let subjects = only(&report, "BUSINESS_KEY_APPLIED_TWICE");
    assert_eq!(subjects, [format!("business key {}", key("P-SETTLED"))]);
    assert!(report.discrepancies[0]
        .detail()
        .contains(&format!("{original}, {copy}")));
}

#[tokio::test]
async fn a_clean_ledger_audits_clean_every_time_under_concurrent_load() {
    // The DEFERRABLE snapshot never sees a transaction halfway.
    let db = ledger_with_accounts(&["ALICE", "BOB", "CAROL", "DAVE"]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for task in 0..4_usize {
        let ledger = db.ledger.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let accounts = ["ALICE", "BOB", "CAROL", "DAVE"];
            let mut applied = 0_usize;
            let mut number = 0_usize;
            while !stop.load(Ordering::SeqCst) || number < 10 {
                let name = format!("LOAD-{task}-{number}");
                let payment = Payment {
                    name: &name,
                    amount: eur(100 + number as i64),
                    debtor: accounts[(task + number) % 4],
                    creditor: accounts[(task + number + 1) % 4],
                };
                let steps: &[PaymentState] = match number % 4 {
                    0 => &[Settled],
                    1 => &[Pending, Settled],
                    2 => &[Pending, Rejected],
                    _ => &[Settled, Returned],
                };
                applied += apply_path(&ledger, "load", &payment, steps).await.len();
                number += 1;
            }
            applied
        }));
    }
    let mut audits = 0;
    while audits < 10 {
        let report = audit(&db).await;
        assert_clean(&report);
        audits += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let mut applied = 0;
    for writer in writers {
        applied += writer.await.unwrap();
    }
    assert!(applied >= 40);
    let report = audit(&db).await;
    assert_clean(&report);
    assert!(report.counts.payments >= 40);
}

#[tokio::test]
async fn a_statement_is_compared_with_the_ledger_in_the_same_snapshot() {
    // A statement of ALICE with one entry the ledger lacks,
    // missing one transfer the ledger booked, and a wrong closing balance.
    let db = ledger_with_every_kind_of_payment().await;
    let today: String = db
        .client()
        .await
        .query_one(
            "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let today = ledger::audit::CalendarDate::parse(&today).unwrap();
    let entry = |position: &str, end_to_end_id: &str, minor_units: i64, direction| StatementEntry {
        position: position.to_owned(),
        amount: eur(minor_units),
        direction,
        value_date: Some(today),
        booking_date: Some(today),
        references: EntryReferences {
            end_to_end_id: Some(end_to_end_id.to_owned()),
            transaction_id: Some(end_to_end_id.to_owned()),
            ..EntryReferences::default()
        },
    };
    // ALICE's booked transfers: P-SETTLED (1001), P-PENDING-SETTLED (1002),
    // P-SETTLED-RETURNED (1005 out and back), P-PENDING-RETURNED (1006 out and back).
    let statement = StatementInput {
        statement_id: "STMT-1".to_owned(),
        account: reference("ALICE"),
        from: today,
        to: today,
        opening_booked: Some(ledger::audit::StatementBalance {
            amount: eur(0),
            direction: Direction::Credit,
        }),
        closing_booked: Some(ledger::audit::StatementBalance {
            amount: eur(1),
            direction: Direction::Credit,
        }),
        entries: vec![
            entry("1", "P-SETTLED", 1_001, Direction::Debit),
            // P-PENDING-SETTLED (1002) is missing.
            entry("2", "P-SETTLED-RETURNED", 1_005, Direction::Debit),
            entry("3", "P-SETTLED-RETURNED", 1_005, Direction::Credit),
            entry("4", "P-PENDING-RETURNED", 1_006, Direction::Debit),
            entry("5", "P-PENDING-RETURNED", 1_006, Direction::Credit),
            entry("6", "NOT-IN-THE-LEDGER", 77, Direction::Credit),
        ],
    };
    let report = db.ledger.audit(Some(&statement)).await.unwrap();
    assert_eq!(
        codes(&report),
        [
            "STATEMENT_ENTRY_MISSING_IN_LEDGER",
            "LEDGER_ENTRY_MISSING_IN_STATEMENT",
            "CLOSING_BALANCE_MISMATCH"
        ]
    );
    assert_eq!(
        report.discrepancies[0].subject(),
        "statement STMT-1 account ALICE entry 6"
    );
    assert!(report.discrepancies[1]
        .detail()
        .contains(&key("P-PENDING-SETTLED").canonical()));
    assert!(report.discrepancies[2]
        .detail()
        .contains("statement EUR 0.01 <> ledger -20.03"));
    assert_eq!(report.counts.statement_entries, 6);
}

#[tokio::test]
async fn a_running_balance_that_differs_from_the_sums_of_the_transfers_is_named() {
    let (_, report) = audit_after_tampering_with(
        "P-SETTLED",
        "UPDATE transfers SET credit_credits_posted = credit_credits_posted + 1 \
         WHERE payment_id = $1",
    )
    .await;
    let subjects = only(&report, "RUNNING_BALANCE_MISMATCH");
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(report.discrepancies[0].detail().contains("credits posted"));
}

#[tokio::test]
async fn a_transfer_stamped_before_the_one_before_it_is_named() {
    let (_, report) = audit_after_tampering_with(
        "P-PENDING-RETURNED",
        "UPDATE transfers SET created_at = created_at - INTERVAL '1 day' \
         WHERE payment_id = $1 AND kind = 'REVERSAL'",
    )
    .await;
    let subjects = only(&report, "RUNNING_BALANCE_MISMATCH");
    // Out of order on both of its accounts.
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(report.discrepancies[0].detail().contains("stamped earlier"));
}

#[tokio::test]
async fn a_return_recorded_with_another_amount_than_its_reversal_is_named() {
    let (payment, report) = audit_after_tampering_with(
        "P-SETTLED-RETURNED",
        "UPDATE payment_returns SET amount_minor = amount_minor - 1 WHERE payment_id = $1",
    )
    .await;
    assert_named_once_for_payment(&report, "RETURN_MISMATCH", payment);
    assert!(report.discrepancies[0]
        .detail()
        .contains("differs from its recorded return"));
}

#[tokio::test]
async fn a_return_without_its_record_is_named() {
    let (payment, report) = audit_after_tampering_with(
        "P-PENDING-RETURNED",
        "DELETE FROM payment_returns WHERE payment_id = $1",
    )
    .await;
    assert_named_once_for_payment(&report, "RETURN_MISMATCH", payment);
}
