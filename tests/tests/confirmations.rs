//! The confirmations feed follows commit order and never
//! skips a row, where a reader that asks for `outbox_id > cursor` does.

use ledger::model::{OverdraftRule, PaymentVisibility};
use ledger::FeedPosition;
use ledger_system_tests::fixtures::{open, reference};
use ledger_system_tests::TestDatabase;

/// Writes a payment and its outbox row in `tx`, as a state change would.
async fn write_state_change(
    tx: &tokio_postgres::Transaction<'_>,
    business_key: &str,
    debit: i64,
    credit: i64,
) -> i64 {
    let payment_id: i64 = tx
        .query_one(
            "INSERT INTO payments (business_key, state, currency, amount_minor, debit_account_id, \
             credit_account_id) VALUES ($1, 'SETTLED', 'EUR', 100, $2, $3) RETURNING payment_id",
            &[&business_key, &debit, &credit],
        )
        .await
        .unwrap()
        .get(0);
    tx.query_one(
        "INSERT INTO outbox (payment_id, to_state, status_code, payload) \
         VALUES ($1, 'SETTLED', 'ACSC', '{}') RETURNING outbox_id",
        &[&payment_id],
    )
    .await
    .unwrap()
    .get(0)
}

/// Reads the feed after `position` until `count` rows came, polling a
/// bounded number of times: an empty page means "nothing safe yet" while a
/// transaction anywhere in the cluster (other tests' too) is still running.
async fn feed_until(db: &TestDatabase, mut position: FeedPosition, count: usize) -> Vec<i64> {
    let mut delivered = Vec::new();
    for _ in 0..500 {
        if delivered.len() >= count {
            break;
        }
        let page = db
            .ledger
            .confirmations_after(position, &PaymentVisibility::all(), 3)
            .await
            .unwrap();
        match page.last() {
            Some(last) => position = last.position,
            None => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
        delivered.extend(page.iter().map(|row| row.outbox_id));
    }
    delivered
}

async fn naive_read_after(client: &tokio_postgres::Client, cursor: i64) -> Vec<i64> {
    client
        .query(
            "SELECT outbox_id FROM outbox WHERE outbox_id > $1 ORDER BY outbox_id",
            &[&cursor],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn a_reader_by_outbox_id_skips_a_late_commit_where_the_commit_order_feed_does_not() {
    let db = TestDatabase::with_defaults().await;
    let mut ids = Vec::new();
    for name in ["BOB", "CLEARING"] {
        db.ledger
            .open_account(&open(name, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
        ids.push(
            db.ledger
                .get_account(&reference(name))
                .await
                .unwrap()
                .unwrap()
                .account_id
                .0,
        );
    }
    let mut slow = db.client().await;
    let mut fast = db.client().await;
    let reader = db.client().await;

    // The slow transaction takes the lower outbox id but commits last.
    let slow_tx = slow.transaction().await.unwrap();
    let slow_id = write_state_change(&slow_tx, "ref:1:S1:S1:S", ids[0], ids[1]).await;
    let fast_tx = fast.transaction().await.unwrap();
    let fast_id = write_state_change(&fast_tx, "ref:1:F1:F1:F", ids[0], ids[1]).await;
    fast_tx.commit().await.unwrap();
    assert!(slow_id < fast_id);

    let naive_first = naive_read_after(&reader, 0).await;
    let feed_first = db
        .ledger
        .confirmations_after(FeedPosition::default(), &PaymentVisibility::all(), 100)
        .await
        .unwrap();
    slow_tx.commit().await.unwrap();
    let naive_cursor = *naive_first.last().unwrap();
    let naive_second = naive_read_after(&reader, naive_cursor).await;
    let feed_cursor = feed_first
        .last()
        .map_or(FeedPosition::default(), |row| row.position);
    let feed_second = feed_until(&db, feed_cursor, 2).await;

    // The naive reader saw only the fast row, moved its cursor past the slow
    // one, and never sees it.
    assert_eq!(naive_first, [fast_id]);
    assert!(naive_second.is_empty());
    // The feed waited while the slow transaction ran, then delivered both.
    assert!(
        feed_first.is_empty(),
        "nothing is delivered past a running writer"
    );
    assert_eq!(feed_second, [slow_id, fast_id]);
}

#[tokio::test]
async fn the_feed_resumes_after_any_position_without_repeating_or_skipping() {
    let db = TestDatabase::with_defaults().await;
    for name in ["BOB", "CLEARING"] {
        db.ledger
            .open_account(&open(name, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
    for index in 0..7 {
        db.ledger
            .apply(&ledger_system_tests::fixtures::command(
                "c",
                &format!("k{index}"),
                ledger_system_tests::fixtures::transfer(
                    &format!("P{index}"),
                    ledger::model::PaymentState::Settled,
                    ledger_system_tests::fixtures::eur(1),
                    "BOB",
                    "CLEARING",
                ),
            ))
            .await
            .unwrap();
    }
    let delivered = feed_until(&db, FeedPosition::default(), 7).await;
    assert_eq!(delivered, (1..=7).collect::<Vec<i64>>());
}
