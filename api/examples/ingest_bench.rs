//! Benchmark of `ledger ingest`: generates a pain.001 of N
//! transactions (streamed to a temporary file), opens the accounts it needs
//! on a fresh test database (four debtors with unrestricted overdraft, the
//! creditors through a EUR clearing account), runs the release `ledger
//! ingest` as a child process, and prints its wall time, transactions per
//! second and peak RSS (VmHWM polled from /proc). Then, on a second fresh
//! database, it does the same writes as set-based SQL (payments, transfers,
//! outbox rows, idempotency records, one balance update per account) in one
//! SERIALIZABLE transaction and prints its time beside; and it runs the
//! peer of `shared/bench`, the set-based script `sql/batch_unnest.sql` (100
//! payments per SERIALIZABLE transaction, one client) under pgbench for the
//! same number of payments, and prints the ratio.
//!
//! ```sh
//! export CARGO_TARGET_DIR=/work/target-audit   # or leave it unset
//! cargo build --release -p ledger-api --bin ledger --example ingest_bench
//! $CARGO_TARGET_DIR/release/examples/ingest_bench                        # 100 000 transactions
//! $CARGO_TARGET_DIR/release/examples/ingest_bench --transactions 1000000 --batch-size 1000
//! ```
//!
//! Without `DATABASE_URL` the databases live on a durable embedded cluster
//! (fsync on) the example starts in a temporary directory, as the gRPC
//! benchmark's do; with it, on that server.

#[path = "../tests/support/files.rs"]
mod files;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use files::{Pain001, CLEARING};
use ledger_system_tests::{invariants, TestDatabase};

const DEBTORS: u64 = 4;
const TRANSACTIONS_PER_BLOCK: u64 = 100;

/// A durable embedded cluster for the run, when no `DATABASE_URL` is set;
/// it stops when dropped.
struct DurableCluster {
    cluster: pg_embedded::Cluster,
    directory: tempfile::TempDir,
}

impl DurableCluster {
    fn start_unless_configured() -> Option<DurableCluster> {
        if std::env::var("DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
            return None;
        }
        let directory = tempfile::tempdir().expect("a temporary directory");
        // Run as root, the cluster runs as `postgres`, which must reach it.
        std::fs::set_permissions(
            directory.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("open the directory to the cluster's user");
        let cluster = pg_embedded::Cluster::start(pg_embedded::ClusterOptions::new(
            directory.path().join("postgres"),
        ))
        .expect("a durable PostgreSQL cluster");
        // The test support opens its databases on DATABASE_URL's server.
        std::env::set_var("DATABASE_URL", cluster.connection_string("postgres"));
        Some(DurableCluster { cluster, directory })
    }
}

impl Drop for DurableCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = &self.directory;
    }
}

/// The peer of `shared/bench`: `sql/batch_unnest.sql` (100 payments per
/// SERIALIZABLE transaction) under pgbench, one client, `transactions / 100`
/// times, on a fresh database of the same server. Payments per second.
async fn batch_script_peer(transactions: u64) -> Option<f64> {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/sql");
    let schema = std::fs::read_to_string(bench.join("schema.sql")).ok()?;
    // A database of the peer's own, on the server the ledger's databases use.
    let mut config: tokio_postgres::Config = std::env::var("DATABASE_URL").ok()?.parse().ok()?;
    let name = format!("ingest_bench_batch_peer_{}", std::process::id());
    {
        config.dbname("postgres");
        let (admin, connection) = config.connect(tokio_postgres::NoTls).await.ok()?;
        tokio::spawn(connection);
        // One statement each: DROP and CREATE DATABASE refuse a transaction block.
        for statement in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            if let Err(error) = admin.batch_execute(&statement).await {
                eprintln!("batch script peer: {statement}: {error}");
                return None;
            }
        }
    }
    config.dbname(&name);
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.ok()?;
    tokio::spawn(connection);
    client.batch_execute(&schema).await.ok()?;
    let pgbench = pg_embedded::find_binaries()
        .map(|binaries| binaries.bindir().join("pgbench"))
        .ok()
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("pgbench"));
    let mut command = Command::new(pgbench);
    command.args([
        "-n",
        "-f",
        &bench.join("batch_unnest.sql").to_string_lossy(),
        "-c",
        "1",
        "-t",
        &(transactions / 100).max(1).to_string(),
    ]);
    for host in config.get_hosts() {
        match host {
            tokio_postgres::config::Host::Tcp(name) => command.args(["-h", name]),
            tokio_postgres::config::Host::Unix(path) => {
                command.args(["-h", &path.to_string_lossy()])
            }
        };
    }
    if let Some(port) = config.get_ports().first() {
        command.args(["-p", &port.to_string()]);
    }
    if let Some(user) = config.get_user() {
        command.args(["-U", user]);
    }
    if let Some(password) = config.get_password() {
        command.env("PGPASSWORD", String::from_utf8_lossy(password).as_ref());
    }
    command.arg(&name);
    let output = command.output().ok()?;
    if !output.status.success() {
        eprintln!("pgbench: {}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse::<f64>().ok())
        .map(|transactions_per_second| transactions_per_second * 100.0)
}

struct Options {
    transactions: u64,
    batch_size: u64,
    skip_sql: bool,
}

fn options() -> Options {
    let mut options = Options {
        transactions: 100_000,
        batch_size: 500,
        skip_sql: false,
    };
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut number = |name: &str| -> u64 {
            arguments
                .next()
                .and_then(|value| value.replace('_', "").parse().ok())
                .unwrap_or_else(|| panic!("{name} takes a number"))
        };
        match argument.as_str() {
            "--transactions" => options.transactions = number("--transactions"),
            "--batch-size" => options.batch_size = number("--batch-size"),
            "--skip-sql" => options.skip_sql = true,
            other => {
                panic!("unknown argument {other}; use --transactions N, --batch-size N, --skip-sql")
            }
        }
    }
    options
}

/// The release `ledger` binary beside this example's directory.
fn ledger_binary() -> PathBuf {
    let example = std::env::current_exe().expect("the example's path");
    let binary = example
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/examples/")
        .join("ledger");
    assert!(
        binary.exists(),
        "{} is missing: cargo build --release -p ledger-api --bin ledger",
        binary.display()
    );
    binary
}

/// The peak resident set size of a process so far, in KiB.
fn read_peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

struct Measured {
    wall: Duration,
    peak_rss_kib: u64,
    code: Option<i32>,
    summary: String,
}

/// Runs `ledger ingest` and polls its peak RSS until it exits (VmHWM only
/// grows, so the last reading before exit is the peak, give or take what
/// the last 10 ms allocated).
fn run_ingest(url: &str, file: &Path, batch_size: u64) -> Measured {
    let started = Instant::now();
    let mut child = Command::new(ledger_binary())
        .arg("ingest")
        .arg("--batch-size")
        .arg(batch_size.to_string())
        .arg("--progress-every-seconds")
        .arg("5")
        .arg(file)
        .env("DATABASE_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ledger ingest");
    let pid = child.id();
    let mut peak_rss_kib = 0;
    let status = loop {
        if let Some(rss) = read_peak_rss_kib(pid) {
            peak_rss_kib = peak_rss_kib.max(rss);
        }
        if let Some(status) = child.try_wait().expect("wait for ledger ingest") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = started.elapsed();
    let mut summary = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut summary).unwrap();
    }
    Measured {
        wall,
        peak_rss_kib,
        code: status.code(),
        summary,
    }
}

/// The same writes as ingest, as set-based SQL in one SERIALIZABLE
/// transaction: payments, one POSTED transfer each, one outbox row each, one
/// idempotency record each, and the balances.
async fn set_based(db: &TestDatabase, transactions: u64) -> Duration {
    let mut client = db.client().await;
    let debtor_ids: Vec<i64> = {
        let mut ids = Vec::new();
        for number in 0..DEBTORS {
            let row = client
                .query_one(
                    "SELECT account_id FROM accounts WHERE external_reference = $1",
                    &[&files::debtor(number)],
                )
                .await
                .unwrap();
            ids.push(row.get(0));
        }
        ids
    };
    let clearing_id: i64 = client
        .query_one(
            "SELECT account_id FROM accounts WHERE external_reference = $1",
            &[&CLEARING],
        )
        .await
        .unwrap()
        .get(0);
    let count = transactions as i64;
    let per_block = TRANSACTIONS_PER_BLOCK as i64;
    let started = Instant::now();
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::Serializable)
        .start()
        .await
        .unwrap();
    tx.execute(
        "INSERT INTO payments (business_key, state, currency, amount_minor, \
                               debit_account_id, credit_account_id) \
         SELECT 'ref:16:Ingest Test Corp' || length('I-' || i) || ':I-' || i \
                || length('E2E-SQL-' || i) || ':E2E-SQL-' || i, \
                'SETTLED', 'EUR', 100 + i % 1000, \
                ($2::BIGINT[])[((i - 1) / $3) % array_length($2::BIGINT[], 1) + 1], $4 \
         FROM generate_series(1, $1::BIGINT) AS i",
        &[&count, &debtor_ids, &per_block, &clearing_id],
    )
    .await
    .unwrap();
    tx.execute(
        // Each transfer carries both accounts' sums after it (running balances):
        // the debtors are only debited and the clearing account only credited.
        "INSERT INTO transfers (payment_id, kind, debit_account_id, credit_account_id, \
                                currency, amount_minor, \
                                debit_debits_pending, debit_debits_posted, \
                                debit_credits_pending, debit_credits_posted, \
                                credit_debits_pending, credit_debits_posted, \
                                credit_credits_pending, credit_credits_posted) \
         SELECT p.payment_id, 'POSTED', p.debit_account_id, p.credit_account_id, p.currency, \
                p.amount_minor, \
                d.debits_pending, d.debits_posted + SUM(p.amount_minor) OVER ( \
                    PARTITION BY p.debit_account_id ORDER BY p.payment_id), \
                d.credits_pending, d.credits_posted, \
                c.debits_pending, c.debits_posted, \
                c.credits_pending, c.credits_posted + SUM(p.amount_minor) OVER ( \
                    PARTITION BY p.credit_account_id ORDER BY p.payment_id) \
         FROM payments p \
         JOIN accounts d ON d.account_id = p.debit_account_id \
         JOIN accounts c ON c.account_id = p.credit_account_id \
         ORDER BY p.payment_id",
        &[],
    )
    .await
    .unwrap();
    tx.execute(
        "INSERT INTO outbox (payment_id, from_state, to_state, status_code, payload) \
         SELECT payment_id, NULL, 'SETTLED', 'ACSC', jsonb_build_object( \
                  'format', 'ledger.confirmation.v0', 'business_key', business_key, \
                  'payment_id', payment_id, 'from_state', NULL, 'to_state', 'SETTLED', \
                  'status', 'ACSC', 'reason', NULL, 'amount_minor', amount_minor, \
                  'currency', currency, 'origin_message_id', 'SQL-1', \
                  'origin_message_name_id', 'pain.001.001.09') \
         FROM payments ORDER BY payment_id",
        &[],
    )
    .await
    .unwrap();
    tx.execute(
        "INSERT INTO idempotency_records (client_id, idempotency_key, request_fingerprint, \
                                          response) \
         SELECT 'ingest', 'ingest-v1:' || encode(sha256(convert_to(business_key, 'UTF8')), 'hex'), \
                sha256(convert_to('fingerprint' || business_key, 'UTF8')), \
                convert_to(jsonb_build_object('receipts', jsonb_build_array(jsonb_build_object( \
                  'outcome', 'APPLIED', 'reason', NULL, 'business_key', business_key, \
                  'payment_id', payment_id, 'state', 'SETTLED')))::TEXT, 'UTF8') \
         FROM payments",
        &[],
    )
    .await
    .unwrap();
    tx.execute(
        "UPDATE accounts a SET debits_posted = a.debits_posted + s.debits, \
                               credits_posted = a.credits_posted + s.credits \
         FROM (SELECT account_id, SUM(debits) AS debits, SUM(credits) AS credits FROM ( \
                 SELECT debit_account_id AS account_id, amount_minor AS debits, 0 AS credits \
                 FROM payments \
                 UNION ALL \
                 SELECT credit_account_id, 0, amount_minor FROM payments) AS moves \
               GROUP BY account_id) AS s \
         WHERE a.account_id = s.account_id",
        &[],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let options = options();
    let _cluster = DurableCluster::start_unless_configured();
    println!(
        "ingest of a pain.001 on a durable PostgreSQL (fsync on{})",
        if _cluster.is_some() {
            ", embedded"
        } else {
            ", DATABASE_URL's server"
        }
    );
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("pain001.xml");
    let started = Instant::now();
    {
        let mut file = Pain001::new("BENCH-1", options.transactions);
        file.transactions_per_block = TRANSACTIONS_PER_BLOCK;
        file.debtors = DEBTORS;
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        file.write(&mut out).unwrap();
        out.flush().unwrap();
    }
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!(
        "generated {} transactions ({:.1} MiB pain.001.001.09) in {:.1} s",
        options.transactions,
        bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );

    let db = files::ledger_for_files(DEBTORS).await;
    let measured = run_ingest(
        &ledger_system_tests::database_url(&db.config),
        &path,
        options.batch_size,
    );
    print!("{}", measured.summary);
    assert_eq!(measured.code, Some(0), "ledger ingest failed");
    let client = db.client().await;
    let payments = invariants::count(&client, "payments").await;
    assert_eq!(
        payments as u64, options.transactions,
        "every payment applied"
    );
    let wall = measured.wall.as_secs_f64();
    println!(
        "ledger ingest (release, --batch-size {}): {} transactions in {wall:.2} s wall, \
         {:.0} transactions/s, peak RSS {:.1} MiB",
        options.batch_size,
        options.transactions,
        options.transactions as f64 / wall,
        measured.peak_rss_kib as f64 / 1024.0
    );

    if !options.skip_sql {
        let db = files::ledger_for_files(DEBTORS).await;
        let sql = set_based(&db, options.transactions).await;
        let client = db.client().await;
        assert_eq!(
            invariants::count(&client, "payments").await as u64,
            options.transactions
        );
        let violations = invariants::violations(&client).await;
        assert!(violations.is_empty(), "{violations:#?}");
        println!(
            "set-based SQL, same writes in one SERIALIZABLE transaction: {:.2} s, \
             {:.0} transactions/s ({:.1}x faster than ingest)",
            sql.as_secs_f64(),
            options.transactions as f64 / sql.as_secs_f64(),
            wall / sql.as_secs_f64()
        );
    }
    match batch_script_peer(options.transactions).await {
        Some(peer) => println!(
            "shared/bench sql/batch_unnest.sql (pgbench, 1 client, 100 payments a transaction): \
             {peer:.0} payments/s; ingest / batch script {:.2}x",
            options.transactions as f64 / wall / peer
        ),
        None => println!("batch script peer not run (shared/bench or pgbench missing)"),
    }
}
