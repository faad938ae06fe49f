//! Benchmark of balances as of a moment (`Ledger::get_account_as_of`,
//! `GetAccount.as_of`, `ledger accounts show --as-of`): for accounts with
//! histories of 1 000, 100 000 and 1 000 000 transfers (generated with
//! set-based SQL, the account on alternating sides, with the running
//! balances `V8__running_balances.sql` records), it times lookups at random
//! moments of the history, checks every answer against the balances the
//! history implies, and prints the latency beside that of summing the
//! account's transfers up to the moment (what the lookup replaces).
//!
//! ```sh
//! cargo run --release -p ledger-api --example as_of_bench
//! cargo run --release -p ledger-api --example as_of_bench -- --sizes 1000,100000 --lookups 500
//! ```
//!
//! Without `DATABASE_URL` the database lives on the tests' throwaway embedded
//! cluster; with it, on that server.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ledger::model::{AccountId, OverdraftRule};
use ledger_system_tests::fixtures::open;
use ledger_system_tests::TestDatabase;

/// Seconds since the epoch of the first generated transfer; one a second.
const HISTORY_START_UNIX_SECONDS: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

struct Options {
    sizes: Vec<i64>,
    lookups: usize,
    sums: usize,
}

fn options() -> Options {
    let mut options = Options {
        sizes: vec![1_000, 100_000, 1_000_000],
        lookups: 1_000,
        sums: 20,
    };
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut value = || arguments.next().expect("a value after the option");
        match argument.as_str() {
            "--sizes" => {
                options.sizes = value()
                    .split(',')
                    .map(|size| size.parse().expect("sizes are integers"))
                    .collect();
            }
            "--lookups" => options.lookups = value().parse().expect("an integer"),
            "--sums" => options.sums = value().parse().expect("an integer"),
            other => panic!("unknown option {other}; use --sizes, --lookups, --sums"),
        }
    }
    assert!(options.sizes.iter().all(|size| *size > 0));
    options
}

/// A deterministic sequence for the moments looked up (no extra dependency).
struct Moments(u64);

impl Moments {
    /// A transfer position in 1..=size.
    fn next(&mut self, size: i64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        1 + ((self.0 >> 33) % size as u64) as i64
    }
}

/// The moment half a second after the `position`-th transfer.
fn moment(position: i64) -> SystemTime {
    UNIX_EPOCH
        + Duration::from_secs((HISTORY_START_UNIX_SECONDS + position) as u64)
        + Duration::from_millis(500)
}

/// The account `hot` of size `size` and its counterpart; `size` transfers
/// of 1 minor unit, the `i`-th at `HISTORY_START + i` seconds, `hot`
/// debited by the odd ones and credited by the even ones.
async fn generate_history(db: &TestDatabase, size: i64) -> AccountId {
    let hot = db
        .ledger
        .open_account(&open(
            &format!("HOT-{size}"),
            "EUR",
            OverdraftRule::Unrestricted,
        ))
        .await
        .unwrap()
        .account_id;
    let counterpart = db
        .ledger
        .open_account(&open(
            &format!("CP-{size}"),
            "EUR",
            OverdraftRule::Unrestricted,
        ))
        .await
        .unwrap()
        .account_id;
    let client = db.client().await;
    let payment_id: i64 = client
        .query_one(
            "INSERT INTO payments (business_key, state, currency, amount_minor, \
               debit_account_id, credit_account_id) \
             VALUES ($1, 'SETTLED', 'EUR', 1, $2, $3) RETURNING payment_id",
            &[
                &format!("uetr:00000000-0000-4000-8000-{size:012}"),
                &hot.0,
                &counterpart.0,
            ],
        )
        .await
        .unwrap()
        .get(0);
    // Reversals, so that one payment can hold them all (each under its own
    // return id); what is timed reads only the running balances.
    client
        .execute(
            "INSERT INTO transfers (payment_id, kind, debit_account_id, credit_account_id, \
               currency, amount_minor, return_id, created_at, \
               debit_debits_pending, debit_debits_posted, debit_credits_pending, \
               debit_credits_posted, credit_debits_pending, credit_debits_posted, \
               credit_credits_pending, credit_credits_posted) \
             SELECT $1, 'REVERSAL', \
               CASE WHEN i % 2 = 1 THEN $2::BIGINT ELSE $3::BIGINT END, \
               CASE WHEN i % 2 = 1 THEN $3::BIGINT ELSE $2::BIGINT END, \
               'EUR', 1, 'rtr:' || i, to_timestamp($5::DOUBLE PRECISION + i), \
               0, (i + 1) / 2, 0, i / 2, 0, i / 2, 0, (i + 1) / 2 \
             FROM generate_series(1, $4::BIGINT) AS i",
            &[
                &payment_id,
                &hot.0,
                &counterpart.0,
                &size,
                &(HISTORY_START_UNIX_SECONDS as f64),
            ],
        )
        .await
        .unwrap();
    client
        .execute(
            "UPDATE accounts SET debits_posted = CASE WHEN account_id = $1 THEN ($3::BIGINT + 1) / 2 \
               ELSE $3 / 2 END, credits_posted = CASE WHEN account_id = $1 THEN $3 / 2 \
               ELSE ($3 + 1) / 2 END WHERE account_id IN ($1, $2)",
            &[&hot.0, &counterpart.0, &size],
        )
        .await
        .unwrap();
    client.batch_execute("ANALYZE transfers").await.unwrap();
    hot
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn micros(duration: Duration) -> String {
    format!("{:.0}", duration.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() {
    let options = options();
    let db = TestDatabase::with_defaults().await;
    println!(
        "{:>10} {:>10} {:>12} {:>12} {:>12} {:>14} {:>12}",
        "transfers",
        "lookups",
        "as_of p50us",
        "as_of p99us",
        "as_of meanus",
        "sum p50us",
        "generate s"
    );
    let mut moments = Moments(42);
    for &size in &options.sizes {
        let started = Instant::now();
        let hot = generate_history(&db, size).await;
        let generated = started.elapsed();

        let mut took = Vec::with_capacity(options.lookups);
        for _ in 0..options.lookups {
            let position = moments.next(size);
            let started = Instant::now();
            let account = db
                .ledger
                .get_account_as_of(hot, moment(position))
                .await
                .unwrap()
                .unwrap();
            took.push(started.elapsed());
            // Exactly the balances after the `position`-th transfer.
            let balances = account.balances;
            assert_eq!(
                (balances.debits_posted, balances.credits_posted),
                ((position + 1) / 2, position / 2),
                "as of transfer {position}"
            );
            assert_eq!((balances.debits_pending, balances.credits_pending), (0, 0));
        }
        // Before the first transfer: nothing.
        let before = db
            .ledger
            .get_account_as_of(hot, moment(-1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(before.balances, ledger::model::Balances::default());

        let client = db.client().await;
        let mut sums = Vec::with_capacity(options.sums);
        for _ in 0..options.sums {
            let position = moments.next(size);
            let started = Instant::now();
            let row = client
                .query_one(
                    "SELECT COALESCE(SUM(amount_minor) FILTER (WHERE debit_account_id = $1), 0)::BIGINT, \
                       COALESCE(SUM(amount_minor) FILTER (WHERE credit_account_id = $1), 0)::BIGINT \
                     FROM transfers WHERE (debit_account_id = $1 OR credit_account_id = $1) \
                       AND created_at <= $2",
                    &[&hot.0, &moment(position)],
                )
                .await
                .unwrap();
            sums.push(started.elapsed());
            assert_eq!(
                (row.get::<_, i64>(0), row.get::<_, i64>(1)),
                ((position + 1) / 2, position / 2)
            );
        }
        let mean = took.iter().sum::<Duration>() / took.len() as u32;
        took.sort();
        sums.sort();
        println!(
            "{:>10} {:>10} {:>12} {:>12} {:>12} {:>14} {:>12.1}",
            size,
            took.len(),
            micros(percentile(&took, 0.5)),
            micros(percentile(&took, 0.99)),
            micros(mean),
            micros(percentile(&sums, 0.5)),
            generated.as_secs_f64()
        );
    }
}
