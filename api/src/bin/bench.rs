//! Benchmark of SubmitPayment over gRPC: the real server (in this process,
//! on 127.0.0.1) on a durable embedded PostgreSQL (fsync on), driven by C
//! concurrent clients, each on its own connection, submitting one-transaction
//! pacs.008 documents with unique idempotency keys plus a share of replays,
//! for a fixed time after a warm-up. Each point runs twice in the same run:
//! with group commit (the default server) and with one transaction per
//! request (`--group-commit-batch-size-max 0`); the peers run under pgbench
//! on the same cluster with the same number of clients: the plain-SQL script
//! (`shared/bench/sql/pay.sql` or `pay_hot.sql`, one SERIALIZABLE
//! transaction per payment) and pgledger (`shared/bench/pgledger/`).
//!
//! Scenarios: `uniform` (random debtor and creditor among 10,000 accounts)
//! and `hot` (every payment credits one account).
//!
//! Every point checks itself: the reconciliation audit must be clean, and
//! the payments in the database must be exactly the requests answered
//! APPLIED (no replay applied twice); otherwise the benchmark fails.
//!
//! The test suite runs a seconds-long smoke version (`tests/bench_smoke.rs`):
//! correctness only, no timing.
//!
//! ```sh
//! cargo build --release -p ledger-api --bin ledger-bench
//! target/release/ledger-bench                          # 64 clients, 10 s a point
//! target/release/ledger-bench --clients 1,8,32,64 --seconds 20
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::{GroupCommitOptions, Ledger, LedgerOptions};
use ledger_api::grpc::auth::Tokens;
use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::grpc::proto::{self, Outcome};
use ledger_api::server::{self, ServerConfig};
use rand::{Rng, SeedableRng};
use tonic::transport::Channel;

const TOKEN: &str = "bench-token-0123456789abcdef";
const ACCOUNTS: usize = 10_000;
const HOT_ACCOUNT: usize = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Uniform,
    Hot,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Uniform => "uniform",
            Scenario::Hot => "hot",
        }
    }
}

struct Options {
    clients: Vec<usize>,
    seconds: u64,
    warmup_seconds: u64,
    replay_share: f64,
    scenarios: Vec<Scenario>,
    peers: bool,
    per_request: bool,
    /// The earlier setup: every table analyzed while empty, and no
    /// statistics during the run (the first seconds of a new database).
    cold_statistics: bool,
}

fn options() -> Options {
    let mut options = Options {
        clients: vec![64],
        seconds: 10,
        warmup_seconds: 2,
        replay_share: 0.1,
        scenarios: vec![Scenario::Uniform, Scenario::Hot],
        peers: true,
        per_request: true,
        cold_statistics: false,
    };
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut value = || {
            arguments
                .next()
                .unwrap_or_else(|| panic!("{argument} takes a value"))
        };
        match argument.as_str() {
            "--clients" => {
                options.clients = value()
                    .split(',')
                    .map(|count| count.parse().expect("--clients 1,8,32,64"))
                    .collect()
            }
            "--seconds" => options.seconds = value().parse().expect("--seconds N"),
            "--warmup-seconds" => {
                options.warmup_seconds = value().parse().expect("--warmup-seconds N")
            }
            "--replay-share" => options.replay_share = value().parse().expect("--replay-share 0.1"),
            "--scenario" => {
                options.scenarios = match value().as_str() {
                    "uniform" => vec![Scenario::Uniform],
                    "hot" => vec![Scenario::Hot],
                    other => panic!("unknown scenario {other}: uniform or hot"),
                }
            }
            "--no-peers" => options.peers = false,
            "--no-per-request" => options.per_request = false,
            "--cold-statistics" => options.cold_statistics = true,
            other => panic!(
                "unknown argument {other}; use --clients LIST, --seconds N, --warmup-seconds N, \
                 --replay-share X, --scenario uniform|hot, --no-peers, --no-per-request, \
                 --cold-statistics"
            ),
        }
    }
    options
}

fn account(index: usize) -> String {
    format!("ACCT-{index:05}")
}

fn pacs008(message_id: &str, debtor: usize, creditor: usize) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><FIToFICstmrCdtTrf>\
         <GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-30T10:00:00Z</CreDtTm><NbOfTxs>1</NbOfTxs>\
         <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>\
         <CdtTrfTxInf><PmtId><InstrId>{message_id}</InstrId><EndToEndId>{message_id}</EndToEndId></PmtId>\
         <IntrBkSttlmAmt Ccy=\"EUR\">1.00</IntrBkSttlmAmt><ChrgBr>SHAR</ChrgBr>\
         <InstgAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstgAgt>\
         <InstdAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></InstdAgt>\
         <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><Othr><Id>{debtor}</Id></Othr></Id></DbtrAcct>\
         <DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>\
         <CdtrAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></CdtrAgt>\
         <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><Othr><Id>{creditor}</Id></Othr></Id></CdtrAcct>\
         </CdtTrfTxInf></FIToFICstmrCdtTrf></Document>",
        debtor = account(debtor),
        creditor = account(creditor),
    )
    .into_bytes()
}

fn submit(key: &str, document: Vec<u8>) -> tonic::Request<proto::SubmitPaymentRequest> {
    let mut request = tonic::Request::new(proto::SubmitPaymentRequest {
        document,
        idempotency_key: key.to_owned(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("ascii"),
    );
    request
}

/// What one client saw during the measured window.
#[derive(Default)]
struct ClientTally {
    latencies_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
    /// First answers APPLIED, over the whole run (warm-up included).
    applied: u64,
    /// Replays answered as replays, and replays answered otherwise.
    replays_ok: u64,
    replays_wrong: u64,
}

async fn client(
    channel: Channel,
    client_number: usize,
    scenario: Scenario,
    replay_share: f64,
    measure_from: Instant,
    stop: Arc<AtomicBool>,
) -> ClientTally {
    let mut client = LedgerServiceClient::new(channel);
    let mut rng = rand::rngs::StdRng::seed_from_u64(client_number as u64);
    let mut tally = ClientTally::default();
    // Each key sent, its document, and whether it was ever answered.
    let mut sent: Vec<(String, Vec<u8>, bool)> = Vec::new();
    let mut number = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let replay = !sent.is_empty() && rng.random_bool(replay_share);
        let (index, key, document, answered) = if replay {
            let index = rng.random_range(0..sent.len());
            let (key, document, answered) = sent[index].clone();
            (index, key, document, answered)
        } else {
            number += 1;
            let key = format!("B{client_number}-{number}");
            let creditor = match scenario {
                Scenario::Hot => HOT_ACCOUNT,
                Scenario::Uniform => rng.random_range(0..ACCOUNTS),
            };
            let mut debtor = rng.random_range(1..ACCOUNTS);
            if debtor == creditor {
                debtor = (debtor % (ACCOUNTS - 1)) + 1;
            }
            (
                sent.len(),
                key.clone(),
                pacs008(&key, debtor, creditor),
                false,
            )
        };
        let started = Instant::now();
        let answer = client.submit_payment(submit(&key, document.clone())).await;
        let elapsed = started.elapsed();
        let measured = started >= measure_from;
        match answer {
            Ok(response) => {
                let response = response.into_inner();
                if answered {
                    if response.replay {
                        tally.replays_ok += 1;
                    } else {
                        tally.replays_wrong += 1;
                    }
                } else if response.results[0].outcome() == Outcome::Applied && !response.replay {
                    tally.applied += 1;
                }
                if replay {
                    sent[index].2 = true;
                } else {
                    sent.push((key, document, true));
                }
                if measured {
                    tally.latencies_us.push(elapsed.as_micros() as u64);
                }
            }
            Err(status) => {
                if measured {
                    *tally
                        .errors
                        .entry(format!("{:?}", status.code()))
                        .or_default() += 1;
                }
                // A retryable refusal of a first attempt: the key is sent
                // again later, which may then apply it for the first time.
                if !replay {
                    sent.push((key, document, false));
                }
            }
        }
    }
    tally
}

struct Point {
    payments_per_second: f64,
    latencies_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

fn percentile(sorted: &[u64], share: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * share).round() as usize;
    sorted[index] as f64 / 1_000.0
}

async fn create_database(admin: &tokio_postgres::Client, name: &str) {
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .expect("drop an old database");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a database");
}

fn config_for(cluster: &pg_embedded::Cluster, dbname: &str) -> tokio_postgres::Config {
    cluster
        .connection_string(dbname)
        .parse()
        .expect("a connection string")
}

async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

async fn run_service_point(
    cluster: &pg_embedded::Cluster,
    admin: &tokio_postgres::Client,
    scenario: Scenario,
    clients: usize,
    group_commit: bool,
    options: &Options,
) -> Point {
    let name = format!(
        "bench_{}_{}_{}",
        scenario.name(),
        clients,
        if group_commit { "gc" } else { "tx" }
    );
    create_database(admin, &name).await;
    let config = config_for(cluster, &name);
    let ledger = Ledger::connect(
        config.clone(),
        LedgerOptions {
            pool_size_max: 16,
            ..LedgerOptions::default()
        },
    )
    .expect("a pool");
    ledger.migrate().await.expect("migrate");
    let setup = connect(&config).await;
    setup
        .execute(
            "INSERT INTO accounts (external_reference, currency, overdraft) \
             SELECT 'ACCT-' || lpad(n::text, 5, '0'), 'EUR', 'UNRESTRICTED' \
             FROM generate_series(0, $1::INT - 1) AS n",
            &[&(ACCOUNTS as i32)],
        )
        .await
        .expect("open the accounts");
    // Statistics for the accounts just opened. The empty tables are left
    // unanalyzed, as on a new server: told they are empty, the planner
    // would cache sequential scans for the foreign-key checks and the
    // lookups, and keep them while the tables grow (until autovacuum).
    let vacuum = if options.cold_statistics {
        "VACUUM ANALYZE"
    } else {
        "VACUUM ANALYZE accounts"
    };
    setup.batch_execute(vacuum).await.expect("vacuum");
    if pg_stats() {
        setup
            .batch_execute(
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; \
                 SELECT pg_stat_statements_reset(); SELECT pg_stat_reset_shared('wal'); \
                 SELECT pg_stat_reset_shared('bgwriter'); SELECT pg_stat_reset();",
            )
            .await
            .expect("reset the statistics");
    }

    let (listener, address) = server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind");
    let config = ServerConfig {
        tokens: Tokens::parse(&format!("bench={TOKEN}")).expect("tokens"),
        group_commit: group_commit.then(|| GroupCommitOptions {
            appliers_max: std::env::var("BENCH_APPLIERS")
                .ok()
                .and_then(|count| count.parse().ok())
                .unwrap_or(1),
            ..GroupCommitOptions::default()
        }),
        ..ServerConfig::default()
    };
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(listener, ledger.clone(), config, async {
        let _ = server_stopped.await;
    }));
    let mut channels = Vec::new();
    for _ in 0..clients {
        let channel = loop {
            match Channel::from_shared(format!("http://{address}"))
                .unwrap()
                .connect()
                .await
            {
                Ok(channel) => break channel,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        channels.push(channel);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let measure_from = Instant::now() + Duration::from_secs(options.warmup_seconds);
    let tasks: Vec<_> = channels
        .into_iter()
        .enumerate()
        .map(|(number, channel)| {
            tokio::spawn(client(
                channel,
                number,
                scenario,
                options.replay_share,
                measure_from,
                stop.clone(),
            ))
        })
        .collect();
    let run = Duration::from_secs(options.warmup_seconds + options.seconds);
    if options.cold_statistics || options.warmup_seconds == 0 {
        // Without a warm-up there is nothing yet to analyze.
        tokio::time::sleep(run).await;
    } else {
        // What autovacuum does within a running server's first minute: the
        // tables the run fills get statistics, and every plan cached while
        // they were nearly empty (the foreign-key checks' and the pool's
        // prepared statements') is planned again. Half-way through the
        // warm-up, so the measured window is the steady state.
        let analyze_at = Duration::from_millis(options.warmup_seconds * 500);
        tokio::time::sleep(analyze_at).await;
        setup
            .batch_execute("ANALYZE payments, transfers, outbox, idempotency_records")
            .await
            .expect("analyze");
        tokio::time::sleep(run.saturating_sub(analyze_at)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let measured_seconds = measure_from.elapsed().as_secs_f64();
    let mut latencies_us = Vec::new();
    let mut errors = BTreeMap::new();
    let (mut applied, mut replays_ok, mut replays_wrong) = (0, 0, 0);
    for task in tasks {
        let tally = task.await.expect("a client");
        latencies_us.extend(tally.latencies_us);
        for (code, count) in tally.errors {
            *errors.entry(code).or_default() += count;
        }
        applied += tally.applied;
        replays_ok += tally.replays_ok;
        replays_wrong += tally.replays_wrong;
    }
    let _ = stop_server.send(());
    let _ = serving.await;
    if pg_stats() {
        print_pg_stats(&setup).await;
    }

    // A fast wrong answer is a failed benchmark.
    let report = ledger.audit(None).await.expect("the audit runs");
    assert!(
        report.is_clean(),
        "{name}: the audit found {:?}",
        report.discrepancies
    );
    let payments = count(&setup, "payments").await;
    // Every payment was answered APPLIED once, except those whose only
    // answers were errors (a deadline passed after the commit).
    assert!(
        payments as u64 >= applied,
        "{name}: {payments} payments for {applied} answered APPLIED"
    );
    let keys = count(&setup, "idempotency_records").await;
    assert_eq!(
        payments, keys,
        "{name}: every payment has exactly one request stored"
    );
    assert_eq!(
        replays_wrong, 0,
        "{name}: a replay was not answered as a replay"
    );
    let _ = replays_ok;
    latencies_us.sort_unstable();
    Point {
        payments_per_second: latencies_us.len() as f64 / measured_seconds,
        latencies_us,
        errors,
    }
}

fn pg_stats() -> bool {
    std::env::var_os("BENCH_PG_STATS").is_some()
}

async fn print_pg_stats(client: &tokio_postgres::Client) {
    let rows = client
        .query(
            "SELECT calls, total_exec_time, rows, shared_blks_hit, shared_blks_read, \
               shared_blks_dirtied, wal_records, wal_fpi, wal_bytes::BIGINT, \
               left(regexp_replace(query, '\\s+', ' ', 'g'), 110) \
             FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 14",
            &[],
        )
        .await
        .expect("pg_stat_statements");
    println!("  calls  total_ms  ms/call rows/call hit/call read/call dirt/call walrec/call fpi/call walKB/call query");
    for row in rows {
        let calls: i64 = row.get(0);
        let total: f64 = row.get(1);
        let per = |v: i64| v as f64 / calls.max(1) as f64;
        println!(
            "{calls:>7} {total:>9.0} {:>8.3} {:>9.1} {:>8.1} {:>9.1} {:>9.1} {:>11.1} {:>8.1} {:>10.1} {}",
            total / calls.max(1) as f64,
            per(row.get(2)),
            per(row.get(3)),
            per(row.get(4)),
            per(row.get(5)),
            per(row.get(6)),
            per(row.get(7)),
            per(row.get::<_, i64>(8)) / 1024.0,
            row.get::<_, String>(9)
        );
    }
    let wal = client
        .query_one(
            "SELECT wal_records, wal_fpi, wal_bytes::BIGINT, wal_sync, wal_write FROM pg_stat_wal",
            &[],
        )
        .await
        .expect("pg_stat_wal");
    let bg = client
        .query_one(
            "SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_backend \
             FROM pg_stat_bgwriter",
            &[],
        )
        .await
        .expect("pg_stat_bgwriter");
    println!(
        "  WAL: records {} fpi {} bytes {} MiB syncs {} writes {}; checkpoints timed {} requested {}, buffers {} backend {}",
        wal.get::<_, i64>(0),
        wal.get::<_, i64>(1),
        wal.get::<_, i64>(2) / 1024 / 1024,
        wal.get::<_, i64>(3),
        wal.get::<_, i64>(4),
        bg.get::<_, i64>(0),
        bg.get::<_, i64>(1),
        bg.get::<_, i64>(2),
        bg.get::<_, i64>(3),
    );
    for row in client
        .query(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, pg_relation_size(relid) / 8192, \
               seq_scan, seq_tup_read, coalesce(idx_scan, 0) \
             FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd > 0 ORDER BY relname",
            &[],
        )
        .await
        .expect("pg_stat_user_tables")
    {
        println!(
            "  table {:<22} ins {:>7} upd {:>7} hot {:>7} pages {:>6} seq_scan {:>7} seq_tup_read {:>10} idx_scan {:>8}",
            row.get::<_, String>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
            row.get::<_, i64>(3),
            row.get::<_, i64>(4),
            row.get::<_, i64>(5),
            row.get::<_, i64>(6),
            row.get::<_, i64>(7)
        );
    }
}

async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0)
}

/// The peers of `shared/bench`, driven by pgbench.
#[derive(Debug, Clone, Copy)]
enum Peer {
    /// `sql/pay.sql` (or `pay_hot.sql`): one SERIALIZABLE transaction per payment.
    PlainSql,
    /// pgledger (PL/pgSQL, READ COMMITTED with row locks), `sql/pgledger_*.sql`.
    Pgledger,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::PlainSql => "sql",
            Peer::Pgledger => "pgledger",
        }
    }

    /// The files loaded into an empty database, in order.
    fn setup(self) -> &'static [&'static str] {
        match self {
            Peer::PlainSql => &["sql/schema.sql"],
            Peer::Pgledger => &[
                "pgledger/uuid-to-ulid.sql",
                "pgledger/ulid-to-uuid.sql",
                "pgledger/pgledger.sql",
                "sql/pgledger_setup.sql",
            ],
        }
    }

    fn script(self, scenario: Scenario) -> &'static str {
        match (self, scenario) {
            (Peer::PlainSql, Scenario::Uniform) => "sql/pay.sql",
            (Peer::PlainSql, Scenario::Hot) => "sql/pay_hot.sql",
            (Peer::Pgledger, Scenario::Uniform) => "sql/pgledger_uniform.sql",
            (Peer::Pgledger, Scenario::Hot) => "sql/pgledger_hot.sql",
        }
    }
}

/// A peer under pgbench on the same cluster, same number of clients.
async fn run_peer(
    cluster: &pg_embedded::Cluster,
    admin: &tokio_postgres::Client,
    peer: Peer,
    scenario: Scenario,
    clients: usize,
    options: &Options,
) -> Option<f64> {
    let bench = shared_bench()?;
    let pgbench = cluster.binaries().bindir().join("pgbench");
    let pgbench = if pgbench.exists() {
        pgbench
    } else {
        PathBuf::from("pgbench")
    };
    let name = format!("bench_{}_{}_{clients}", peer.name(), scenario.name());
    create_database(admin, &name).await;
    let config = config_for(cluster, &name);
    let client = connect(&config).await;
    for file in peer.setup() {
        let sql = std::fs::read_to_string(bench.join(file)).ok()?;
        client.batch_execute(&sql).await.expect("the peer's setup");
    }
    let script = peer.script(scenario);
    let info = cluster.connection_info();
    let output = Command::new(&pgbench)
        .args([
            "-n",
            "-f",
            &bench.join(script).to_string_lossy(),
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &options.seconds.to_string(),
            "--max-tries=10",
            "-h",
            &info.socket_dir.to_string_lossy(),
            "-p",
            &info.port.to_string(),
            "-U",
            &info.superuser,
            &name,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
}

fn shared_bench() -> Option<PathBuf> {
    let candidate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench");
    candidate.join("sql/pay.sql").exists().then_some(candidate)
}

fn row(label: &str, point: &Point) {
    let errors = if point.errors.is_empty() {
        "none".to_owned()
    } else {
        point
            .errors
            .iter()
            .map(|(code, count)| format!("{code} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "{label:<28} {:>9.0}/s  p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  errors: {errors}",
        point.payments_per_second,
        percentile(&point.latencies_us, 0.50),
        percentile(&point.latencies_us, 0.95),
        percentile(&point.latencies_us, 0.99),
        point.latencies_us.last().map_or(f64::NAN, |max| *max as f64 / 1_000.0),
    );
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let options = options();
    let data = std::env::temp_dir().join(format!("ledger-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data).expect("a directory");
    // Run as root, the cluster runs as `postgres`, which must reach the data dir.
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("open the directory to the cluster's user");
    let mut cluster =
        pg_embedded::Cluster::start(pg_embedded::ClusterOptions::new(data.join("postgres")))
            .expect("a durable PostgreSQL cluster");
    let mut admin = connect(&config_for(&cluster, "postgres")).await;
    if pg_stats() {
        admin
            .batch_execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            .await
            .expect("preload pg_stat_statements");
        drop(admin);
        cluster.stop().expect("stop the cluster");
        drop(cluster);
        cluster =
            pg_embedded::Cluster::start(pg_embedded::ClusterOptions::new(data.join("postgres")))
                .expect("a durable PostgreSQL cluster");
        admin = connect(&config_for(&cluster, "postgres")).await;
    }
    println!(
        "SubmitPayment over gRPC, durable PostgreSQL (fsync on), {} s per point after {} s warm-up, {}% replays",
        options.seconds,
        options.warmup_seconds,
        options.replay_share * 100.0
    );
    for &scenario in &options.scenarios {
        for &clients in &options.clients {
            println!("\n{} scenario, {clients} clients", scenario.name());
            let grouped =
                run_service_point(&cluster, &admin, scenario, clients, true, &options).await;
            row("service, group commit", &grouped);
            if options.per_request {
                let single =
                    run_service_point(&cluster, &admin, scenario, clients, false, &options).await;
                row("service, tx per request", &single);
                println!(
                    "{:<28} {:>9.2}x",
                    "group commit / per request",
                    grouped.payments_per_second / single.payments_per_second
                );
            }
            if options.peers {
                for (peer, label) in [(Peer::PlainSql, "plain SQL"), (Peer::Pgledger, "pgledger")] {
                    match run_peer(&cluster, &admin, peer, scenario, clients, &options).await {
                        Some(tps) => {
                            println!("{:<28} {tps:>9.0}/s", format!("{label} (pgbench)"));
                            println!(
                                "{:<28} {:>9.2}x",
                                format!("group commit / {label}"),
                                grouped.payments_per_second / tps
                            );
                        }
                        None => println!("{label} not run (shared/bench or pgbench missing)"),
                    }
                }
            }
        }
    }
    if let Some(kib) = peak_rss_kib() {
        println!(
            "\npeak RSS of this process (server and load generator): {:.0} MiB",
            kib as f64 / 1024.0
        );
    }
    drop(admin);
    cluster.stop().expect("stop the cluster");
    drop(cluster);
    let _ = std::fs::remove_dir_all(&data);
}
