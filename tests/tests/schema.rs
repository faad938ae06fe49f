//! What the schema itself refuses, whoever writes: a payment, transfer or
//! outbox row that refers to no account or payment (checked once per
//! statement, `V11__reference_checks_per_statement.sql`), and the removal or
//! re-pointing of rows that others refer to.

use ledger::model::PaymentState::Settled;
use ledger::LedgerOptions;
use ledger_system_tests::fixtures::*;
use ledger_system_tests::{invariants, TestDatabase};

/// SQLSTATE foreign_key_violation: what the declarative foreign keys raised.
const FOREIGN_KEY_VIOLATION: &str = "23503";

/// Accounts BOB and CLEARING (EUR) and payment P1 of 1,000.00 between them,
/// settled by the ledger; the database and P1's id.
async fn ledger_with_p1() -> (TestDatabase, i64) {
    let db = TestDatabase::with_two_accounts(LedgerOptions::default()).await;
    let response = db
        .ledger
        .apply(&command(
            "bank-b",
            "k1",
            transfer("P1", Settled, eur(1_000), "BOB", "CLEARING"),
        ))
        .await
        .unwrap();
    let payment_id = response.receipts[0].payment_id.unwrap().0;
    (db, payment_id)
}

/// Asserts that the database refuses `sql` as the foreign keys did
/// (foreign_key_violation) with a message that contains `naming`.
async fn assert_refused(client: &tokio_postgres::Client, sql: &str, naming: &str) {
    let error = client
        .batch_execute(sql)
        .await
        .expect_err(&format!("the database refuses {sql}"));
    let database_error = error.as_db_error().expect("a refusal by the database");
    let message = database_error.message();
    assert_eq!(
        database_error.code().code(),
        FOREIGN_KEY_VIOLATION,
        "{sql}: {message}"
    );
    assert!(message.contains(naming), "{sql}: {message}");
}

/// CLEARING's account id, as an SQL expression.
const CLEARING_ID: &str = "(SELECT account_id FROM accounts WHERE external_reference = 'CLEARING')";

async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// An INSERT of one payment of `currency` from BOB's account to `credit`.
fn insert_payment(business_key: &str, currency: &str, credit: &str) -> String {
    format!(
        "INSERT INTO payments (business_key, state, currency, amount_minor, \
           debit_account_id, credit_account_id, created_by_client_id) \
         SELECT 'uetr:{business_key}', 'SETTLED', '{currency}', 100, account_id, {credit}, 'bank-b' \
         FROM accounts WHERE external_reference = 'BOB'"
    )
}

/// An INSERT of a copy of P1's POSTED transfer with `payment` and `credit`
/// (SQL expressions) as its payment and credit account.
fn insert_transfer_like_p1s(payment: &str, credit: &str) -> String {
    format!(
        "INSERT INTO transfers (payment_id, kind, debit_account_id, credit_account_id, \
           currency, amount_minor, debit_debits_pending, debit_debits_posted, \
           debit_credits_pending, debit_credits_posted, credit_debits_pending, \
           credit_debits_posted, credit_credits_pending, credit_credits_posted) \
         SELECT {payment}, 'POSTED', debit_account_id, {credit}, currency, amount_minor, \
           debit_debits_pending, debit_debits_posted, debit_credits_pending, \
           debit_credits_posted, credit_debits_pending, credit_debits_posted, \
           credit_credits_pending, credit_credits_posted \
         FROM transfers WHERE kind = 'POSTED'"
    )
}

#[tokio::test]
async fn a_payment_naming_no_account_or_an_account_of_another_currency_is_refused() {
    let (db, _) = ledger_with_p1().await;
    let client = db.client().await;

    assert_refused(
        &client,
        &insert_payment("P2", "EUR", "999999"),
        "names account 999999 in EUR, which does not exist",
    )
    .await;

    assert_refused(
        &client,
        &insert_payment("P3", "USD", CLEARING_ID),
        "in USD, which does not exist",
    )
    .await;

    assert_eq!(count(&client, "payments").await, 1, "only P1 is stored");
    client
        .batch_execute(&insert_payment("P4", "EUR", CLEARING_ID))
        .await
        .expect("a payment between existing accounts of its currency is stored");
}

#[tokio::test]
async fn a_transfer_naming_no_payment_or_no_account_is_refused() {
    let (db, _) = ledger_with_p1().await;
    let client = db.client().await;

    assert_refused(
        &client,
        &insert_transfer_like_p1s("-7", "credit_account_id"),
        "names payment -7, which does not exist",
    )
    .await;

    // Another payment, so that the copy is not P1's POSTED transfer again.
    client
        .batch_execute(&insert_payment("P2", "EUR", CLEARING_ID))
        .await
        .unwrap();
    let p2 = "(SELECT payment_id FROM payments WHERE business_key = 'uetr:P2')";
    assert_refused(
        &client,
        &insert_transfer_like_p1s(p2, "424242"),
        "names account 424242 in EUR, which does not exist",
    )
    .await;

    assert_eq!(count(&client, "transfers").await, 1, "only P1's transfer");
}

#[tokio::test]
async fn an_outbox_row_naming_no_payment_is_refused() {
    let (db, _) = ledger_with_p1().await;
    let client = db.client().await;
    let rows_before = count(&client, "outbox").await;
    assert_refused(
        &client,
        "INSERT INTO outbox (payment_id, to_state, status_code, payload) \
         VALUES (31337, 'SETTLED', 'ACSC', '{}')",
        "names payment 31337, which does not exist",
    )
    .await;
    assert_eq!(count(&client, "outbox").await, rows_before);
}

#[tokio::test]
async fn one_row_naming_nothing_refuses_the_whole_statement_that_inserted_it() {
    let (db, _) = ledger_with_p1().await;
    let client = db.client().await;
    // 500 payments between BOB and CLEARING, the 317th to an account that is not there.
    assert_refused(
        &client,
        "INSERT INTO payments (business_key, state, currency, amount_minor, \
           debit_account_id, credit_account_id, created_by_client_id) \
         SELECT 'uetr:bulk-' || n, 'SETTLED', 'EUR', 100, bob.account_id, \
           CASE WHEN n = 317 THEN 8888888 ELSE clearing.account_id END, 'bank-b' \
         FROM generate_series(1, 500) AS n, \
           (SELECT account_id FROM accounts WHERE external_reference = 'BOB') AS bob, \
           (SELECT account_id FROM accounts WHERE external_reference = 'CLEARING') AS clearing",
        "account 8888888",
    )
    .await;
    assert_eq!(
        count(&client, "payments").await,
        1,
        "none of the 500 is stored"
    );
}

#[tokio::test]
async fn accounts_and_payments_are_never_removed_nor_their_references_changed() {
    let (db, p1) = ledger_with_p1().await;
    let client = db.client().await;
    // An account nothing refers to yet is kept all the same: the check is per
    // table, not per row.
    db.ledger
        .open_account(&open(
            "UNUSED",
            "EUR",
            ledger::model::OverdraftRule::Unrestricted,
        ))
        .await
        .unwrap();

    let refused = [
        "DELETE FROM accounts WHERE external_reference = 'UNUSED'".to_owned(),
        "TRUNCATE accounts CASCADE".to_owned(),
        "UPDATE accounts SET currency = 'USD' WHERE external_reference = 'UNUSED'".to_owned(),
        "UPDATE accounts SET account_id = DEFAULT".to_owned(),
        format!("DELETE FROM payments WHERE payment_id = {p1}"),
        "TRUNCATE payments CASCADE".to_owned(),
        "UPDATE payments SET credit_account_id = \
           (SELECT account_id FROM accounts WHERE external_reference = 'UNUSED')"
            .to_owned(),
        "UPDATE payments SET currency = 'EUR'".to_owned(),
        "UPDATE transfers SET payment_id = payment_id".to_owned(),
        "UPDATE transfers SET debit_account_id = debit_account_id".to_owned(),
        "UPDATE outbox SET payment_id = payment_id".to_owned(),
    ];
    for sql in refused {
        assert_refused(&client, &sql, "never removed nor re-pointed").await;
    }

    // What the ledger itself changes in place stays possible: balances,
    // payment states, deliveries.
    for sql in [
        "UPDATE accounts SET credits_posted = credits_posted WHERE external_reference = 'BOB'",
        "UPDATE payments SET updated_at = now()",
        "UPDATE outbox SET delivered_at = now()",
    ] {
        client.batch_execute(sql).await.expect(sql);
    }
    assert_eq!(count(&client, "accounts").await, 3);
    let violations = invariants::violations(&client).await;
    assert!(violations.is_empty(), "{violations:#?}");
}
