//! Benchmark of SubmitPayment over gRPC: the real server (`ledger serve`
//! child processes on 127.0.0.1, their peak RSS measured) on a durable embedded PostgreSQL (fsync on), driven by C
//! concurrent clients, each on its own connection, submitting one-transaction
//! pacs.008 documents with unique idempotency keys plus a share of replays,
//! for a fixed time after a warm-up. Each point runs twice in the same run:
//! with group commit (the default server) and with one transaction per
//! request (`--group-commit-batch-size-max 0`); the peers run under pgbench
//! on the same cluster with the same number of clients: the plain-SQL script
//! (`shared/bench/sql/pay.sql` or `pay_hot.sql`, one SERIALIZABLE
//! transaction per payment) and pgledger (`shared/bench/pgledger/`).
//!
//! Scenarios: `uniform` (random debtor and creditor among 10,000 accounts),
//! `hot` (every payment credits one account) and `two-servers` (uniform,
//! with two `ledger serve` processes on one database: each client sends to
//! one and its replays to the other).
//!
//! Every point checks itself: the reconciliation audit must be clean, and
//! the payments in the database must be exactly the requests answered
//! APPLIED (no replay applied twice); otherwise the benchmark fails.
//!
//! The test suite runs a seconds-long smoke version (`tests/bench_smoke.rs`):
//! correctness only, no timing.
//!
//! ```sh
//! cargo build --release -p ledger-api --bins
//! target/release/ledger-bench                          # 64 clients, 10 s a point
//! target/release/ledger-bench --clients 1,8,32,64 --seconds 20
//! ```

mod compare;
mod cpu;
mod peers;
mod service;
mod stats;

use std::collections::BTreeMap;

use compare::compare_point;
use peers::{run_peer, Peer};
use service::{ledger_binary, run_service_point};

const TOKEN: &str = "bench-token-0123456789abcdef";
const ACCOUNTS: usize = 10_000;
const HOT_ACCOUNT: usize = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Uniform,
    Hot,
    TwoServers,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Uniform => "uniform",
            Scenario::Hot => "hot",
            Scenario::TwoServers => "two-servers",
        }
    }

    /// How many `ledger serve` processes share the database.
    fn servers(self) -> usize {
        match self {
            Scenario::Uniform | Scenario::Hot => 1,
            Scenario::TwoServers => 2,
        }
    }
}

/// SubmitPayment over gRPC against its peers, durable, in one run
/// (docs/benchmarks.md).
#[derive(clap::Parser)]
#[command(name = "ledger-bench")]
struct Options {
    /// Concurrent clients per point, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    clients: Vec<usize>,
    /// Measured seconds per point.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of load before each point's measurement.
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
    /// Share of calls that replay an earlier key (0 to 1).
    #[arg(long, default_value_t = 0.1, value_parser = share)]
    replay_share: f64,
    /// One scenario only (default: all three).
    #[arg(long = "scenario", value_enum)]
    scenario: Option<Scenario>,
    /// Skip the pgbench peers (plain SQL, pgledger).
    #[arg(long = "no-peers", action = clap::ArgAction::SetFalse)]
    peers: bool,
    /// Skip the server with one transaction per request.
    #[arg(long = "no-per-request", action = clap::ArgAction::SetFalse)]
    per_request: bool,
    /// The earlier setup: every table analyzed while empty, and no
    /// statistics during the run (the first seconds of a new database).
    #[arg(long)]
    cold_statistics: bool,
    /// Compare the server (A: the `ledger` beside this binary, or
    /// `LEDGER_BIN`) with this other build of it (B): alternated rounds of
    /// group-commit points, then medians, spreads and how often B was
    /// ahead. The peers and the per-request server are not run.
    #[arg(long, value_name = "LEDGER")]
    compare_with: Option<std::path::PathBuf>,
    /// Rounds of A and B per point with `--compare-with`.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
}

impl Options {
    fn scenarios(&self) -> Vec<Scenario> {
        match self.scenario {
            Some(scenario) => vec![scenario],
            None => vec![Scenario::Uniform, Scenario::Hot, Scenario::TwoServers],
        }
    }
}

fn share(text: &str) -> Result<f64, String> {
    let share: f64 = text.parse().map_err(|error| format!("{error}"))?;
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err("a share from 0 to 1".to_owned())
    }
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

struct Point {
    payments_per_second: f64,
    latencies_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
    /// The largest peak RSS among the point's server processes.
    server_peak_rss_kib: Option<u64>,
    /// CPU used in the measured window by the servers, PostgreSQL and the
    /// load generator.
    cpu: cpu::CpuSample,
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

fn row(label: &str, point: &Point) {
    let errors = point.errors_text();
    println!(
        "{label:<28} {:>9.0}/s  p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  errors: {errors}",
        point.payments_per_second,
        percentile(&point.latencies_us, 0.50),
        percentile(&point.latencies_us, 0.95),
        percentile(&point.latencies_us, 0.99),
        point.latencies_us.last().map_or(f64::NAN, |max| *max as f64 / 1_000.0),
    );
    if let Some(kib) = point.server_peak_rss_kib {
        println!(
            "{:<28} {:>9.0} MiB",
            "  server peak RSS",
            kib as f64 / 1024.0
        );
    }
    // Where each answered call's CPU went.
    let cpu = point.cpu;
    println!(
        "{:<28} server {:.2}, PostgreSQL {:.2}, load generator {:.2} \
         (total {:.2}: at most {:.0}/s on {} cores)",
        "  CPU ms per call",
        cpu.server_ms / point.calls(),
        cpu.postgres_ms / point.calls(),
        cpu.load_generator_ms / point.calls(),
        point.cpu_ms_per_call(),
        point.cpu_ceiling_per_second(),
        cpu::cores(),
    );
}

impl Point {
    /// Client-visible errors by gRPC code, or "none".
    fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".to_owned();
        }
        self.errors
            .iter()
            .map(|(code, count)| format!("{code} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Answered calls in the measured window.
    fn calls(&self) -> f64 {
        self.latencies_us.len().max(1) as f64
    }

    /// CPU of every party (servers, PostgreSQL, load generator) per call.
    fn cpu_ms_per_call(&self) -> f64 {
        self.cpu.total_ms() / self.calls()
    }

    /// Calls a second at this point's CPU per call with every core busy.
    fn cpu_ceiling_per_second(&self) -> f64 {
        cpu::ceiling_per_second(self.cpu_ms_per_call())
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let options = <Options as clap::Parser>::parse();
    let data = std::env::temp_dir().join(format!("ledger-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data).expect("a directory");
    // Run as root, the cluster runs as `postgres`, which must reach the data dir.
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("open the directory to the cluster's user");
    let mut cluster =
        pg_embedded::Cluster::start(pg_embedded::ClusterOptions::new(data.join("postgres")))
            .expect("a durable PostgreSQL cluster");
    let mut admin = connect(&config_for(&cluster, "postgres")).await;
    if stats::pg_stats() {
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
        // Known once the library is loaded; ALTER SYSTEM refuses to run in a
        // transaction block, so one statement each. Planning is counted, and
        // the statements of the reference-check triggers.
        for setting in [
            "pg_stat_statements.track_planning = on",
            "pg_stat_statements.track = 'all'",
        ] {
            admin
                .batch_execute(&format!("ALTER SYSTEM SET {setting}"))
                .await
                .expect("configure pg_stat_statements");
        }
        admin
            .batch_execute("SELECT pg_reload_conf()")
            .await
            .expect("reload the configuration");
    }
    println!(
        "SubmitPayment over gRPC, durable PostgreSQL (fsync on), {} s per point after {} s warm-up, {}% replays",
        options.seconds,
        options.warmup_seconds,
        options.replay_share * 100.0
    );
    let ledger = ledger_binary();
    for scenario in options.scenarios() {
        for &clients in &options.clients {
            println!("\n{} scenario, {clients} clients", scenario.name());
            if let Some(other) = &options.compare_with {
                compare_point(
                    [&ledger, other],
                    &cluster,
                    &admin,
                    scenario,
                    clients,
                    &options,
                )
                .await;
                continue;
            }
            let grouped =
                run_service_point(&ledger, &cluster, &admin, scenario, clients, true, &options)
                    .await;
            row("service, group commit", &grouped);
            if options.per_request {
                let single = run_service_point(
                    &ledger, &cluster, &admin, scenario, clients, false, &options,
                )
                .await;
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
                        Some(figures) => {
                            let tps = figures.payments_per_second;
                            println!("{:<28} {tps:>9.0}/s", format!("{label} (pgbench)"));
                            if let Some(cpu) = figures.cpu {
                                println!(
                                    "{:<28} PostgreSQL {:.2}, pgbench {:.2} (total {:.2}: at most {:.0}/s on {} cores)",
                                    "  CPU ms per payment",
                                    cpu.postgres_ms_per_payment,
                                    cpu.pgbench_ms_per_payment,
                                    cpu.total_ms_per_payment(),
                                    cpu::ceiling_per_second(cpu.total_ms_per_payment()),
                                    cpu::cores(),
                                );
                            }
                            // The second figure says whether a ratio was within
                            // reach at all: the service's CPU ceiling over the
                            // peer's measured throughput.
                            println!(
                                "{:<28} {:>9.2}x  (the service's CPU ceiling / {label}: {:.2}x)",
                                format!("group commit / {label}"),
                                grouped.payments_per_second / tps,
                                grouped.cpu_ceiling_per_second() / tps,
                            );
                        }
                        None => println!("{label} not run (shared/bench or pgbench missing)"),
                    }
                }
            }
        }
    }
    drop(admin);
    cluster.stop().expect("stop the cluster");
    drop(cluster);
    let _ = std::fs::remove_dir_all(&data);
}
