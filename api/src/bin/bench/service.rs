//! The service under load: `ledger serve` child processes on a fresh
//! database of the bench cluster, driven by the benchmark's clients.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::grpc::proto::{self, Outcome};
use ledger_api::serving_line::wait_for_serving_address;
use rand::{Rng, SeedableRng};
use tonic::transport::Channel;

use crate::cpu::CpuSample;
use crate::stats::{count, pg_stats, print_pg_stats};
use crate::{
    config_for, connect, create_database, pacs008, Options, Point, Scenario, ACCOUNTS, HOT_ACCOUNT,
    TOKEN,
};

/// The `ledger` binary beside this one (`cargo build --release -p ledger-api
/// --bins` builds both), or `LEDGER_BIN`.
pub fn ledger_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LEDGER_BIN") {
        return PathBuf::from(path);
    }
    let bench = std::env::current_exe().expect("the benchmark's path");
    let binary = bench.with_file_name("ledger");
    assert!(
        binary.exists(),
        "{} is missing: cargo build --release -p ledger-api --bins (or set LEDGER_BIN)",
        binary.display()
    );
    binary
}

/// Runs one `ledger` command against the database and waits for it.
pub fn run_ledger(ledger: &Path, database_url: &str, arguments: &[&str]) -> Output {
    let output = Command::new(ledger)
        .args(arguments)
        .env("DATABASE_URL", database_url)
        .env_remove("LEDGER_TOKENS")
        .output()
        .expect("the ledger binary runs");
    assert!(
        output.status.code().is_some_and(|code| code <= 1),
        "ledger {arguments:?} could not run:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The peak resident set size of a process so far, in KiB.
pub fn peak_rss_kib_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// One `ledger serve` process on the point's database.
struct ServerProcess {
    child: Child,
    address: String,
}

impl ServerProcess {
    fn start(ledger: &Path, database_url: &str, group_commit: bool) -> ServerProcess {
        let mut command = Command::new(ledger);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--pool-size-max", "16"])
            .env("DATABASE_URL", database_url)
            .env("LEDGER_TOKENS", format!("bench={TOKEN}"))
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !group_commit {
            command.args(["--group-commit-batch-size-max", "0"]);
        }
        if let Ok(appliers) = std::env::var("BENCH_APPLIERS") {
            command.args(["--group-commit-appliers-max", &appliers]);
        }
        let mut child = command.spawn().expect("ledger serve starts");
        // Its errors reach the bench's stderr; its start-up banner does not.
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if !line.starts_with("database: ") {
                    eprintln!("ledger serve: {line}");
                }
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let address = wait_for_serving_address(stdout, Duration::from_secs(60))
            .expect("ledger serve says where it listens");
        ServerProcess { child, address }
    }

    /// One connection per client, as separate processes would have.
    async fn channels(&self, count: usize) -> Vec<Channel> {
        let mut channels = Vec::with_capacity(count);
        for _ in 0..count {
            let channel = Channel::from_shared(format!("http://{}", self.address))
                .expect("an address")
                .connect()
                .await
                .expect("connect to ledger serve");
            channels.push(channel);
        }
        channels
    }

    /// Its peak RSS, then the process is killed (the measurement is over,
    /// every client has its answers).
    fn stop(mut self) -> Option<u64> {
        let peak = peak_rss_kib_of(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        peak
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn submit(key: &str, document: Vec<u8>) -> tonic::Request<proto::SubmitPaymentRequest> {
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
    replay_channel: Channel,
    client_number: usize,
    scenario: Scenario,
    replay_share: f64,
    measure_from: Instant,
    stop: Arc<AtomicBool>,
) -> ClientTally {
    let mut client = LedgerServiceClient::new(channel);
    // Replays go to the other server when there are two.
    let mut replay_client = LedgerServiceClient::new(replay_channel);
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
                Scenario::Uniform | Scenario::TwoServers => rng.random_range(0..ACCOUNTS),
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
        let answer = if replay {
            replay_client
                .submit_payment(submit(&key, document.clone()))
                .await
        } else {
            client.submit_payment(submit(&key, document.clone())).await
        };
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

/// One point of the service: `ledger` (migrate, serve, reconcile) on a
/// fresh database, driven by `clients` clients.
pub async fn run_service_point(
    ledger: &Path,
    cluster: &pg_embedded::Cluster,
    admin: &tokio_postgres::Client,
    scenario: Scenario,
    clients: usize,
    group_commit: bool,
    options: &Options,
) -> Point {
    let name = format!(
        "bench_{}_{}_{}",
        scenario.name().replace('-', "_"),
        clients,
        if group_commit { "gc" } else { "tx" }
    );
    create_database(admin, &name).await;
    let config = config_for(cluster, &name);
    let database_url = cluster.connection_string(&name);
    run_ledger(ledger, &database_url, &["migrate"]);

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

    let servers: Vec<ServerProcess> = (0..scenario.servers())
        .map(|_| ServerProcess::start(ledger, &database_url, group_commit))
        .collect();
    let mut channels = Vec::new();
    for server in &servers {
        channels.push(server.channels(clients).await);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let measure_from = Instant::now() + Duration::from_secs(options.warmup_seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|number| {
            // Client n sends to server n mod s and replays to the next one.
            let home = number % servers.len();
            let other = (number + 1) % servers.len();
            tokio::spawn(client(
                channels[home][number].clone(),
                channels[other][number].clone(),
                number,
                scenario,
                options.replay_share,
                measure_from,
                stop.clone(),
            ))
        })
        .collect();
    if options.cold_statistics || options.warmup_seconds == 0 {
        // Without a warm-up there is nothing yet to analyze.
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
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let server_pids: Vec<u32> = servers.iter().map(|server| server.child.id()).collect();
    let cpu_before = CpuSample::take(&server_pids, cluster.data_dir());
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    let cpu = CpuSample::take(&server_pids, cluster.data_dir()).since(cpu_before);
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
    let server_peak_rss_kib = servers.into_iter().map(ServerProcess::stop).max().flatten();
    if pg_stats() {
        print_pg_stats(&setup).await;
    }

    // A fast wrong answer is a failed benchmark.
    let audit = run_ledger(ledger, &database_url, &["reconcile"]);
    assert!(
        audit.status.success(),
        "{name}: the audit is not clean:\n{}{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
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
        server_peak_rss_kib,
        cpu,
    }
}
