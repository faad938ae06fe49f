//! The peers of `shared/bench`, under pgbench on the bench cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cpu::{postgres_cpu_ms, process_cpu_ms};

use crate::{config_for, connect, create_database, Options, Scenario};

/// The peers of `shared/bench`, driven by pgbench.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
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
            (Peer::PlainSql, Scenario::Uniform | Scenario::TwoServers) => "sql/pay.sql",
            (Peer::PlainSql, Scenario::Hot) => "sql/pay_hot.sql",
            (Peer::Pgledger, Scenario::Uniform | Scenario::TwoServers) => {
                "sql/pgledger_uniform.sql"
            }
            (Peer::Pgledger, Scenario::Hot) => "sql/pgledger_hot.sql",
        }
    }
}

/// A peer under pgbench on the same cluster, same number of clients.
pub async fn run_peer(
    cluster: &pg_embedded::Cluster,
    admin: &tokio_postgres::Client,
    peer: Peer,
    scenario: Scenario,
    clients: usize,
    options: &Options,
) -> Option<PeerFigures> {
    let bench = shared_bench()?;
    let pgbench = cluster.binaries().bindir().join("pgbench");
    let pgbench = if pgbench.exists() {
        pgbench
    } else {
        PathBuf::from("pgbench")
    };
    let name = format!(
        "bench_{}_{}_{clients}",
        peer.name(),
        scenario.name().replace('-', "_")
    );
    create_database(admin, &name).await;
    let config = config_for(cluster, &name);
    let client = connect(&config).await;
    for file in peer.setup() {
        let sql = std::fs::read_to_string(bench.join(file)).ok()?;
        client.batch_execute(&sql).await.expect("the peer's setup");
    }
    let script = peer.script(scenario);
    let info = cluster.connection_info();
    let child = Command::new(&pgbench)
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
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    // PostgreSQL's and pgbench's CPU while pgbench's connections are open
    // (their backends' time is gone once they exit): from 1 s after the
    // start to 1 s before the end.
    let window = options.seconds.saturating_sub(2);
    let sample = |pgbench: u32| postgres_cpu_ms(cluster.data_dir()).zip(process_cpu_ms(pgbench));
    let used = if window > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = sample(child.id());
        tokio::time::sleep(Duration::from_secs(window)).await;
        let after = sample(child.id());
        before
            .zip(after)
            .map(|((postgres, pgbench), (postgres_after, pgbench_after))| {
                (postgres_after - postgres, pgbench_after - pgbench)
            })
    } else {
        None
    };
    let output = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let payments_per_second: f64 = text
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())?;
    let payments = (payments_per_second * window as f64).max(1.0);
    Some(PeerFigures {
        payments_per_second,
        cpu: used.map(|(postgres_ms, pgbench_ms)| PeerCpu {
            postgres_ms_per_payment: postgres_ms / payments,
            pgbench_ms_per_payment: pgbench_ms / payments,
        }),
    })
}

/// What a peer did: payments a second, and the CPU each payment took.
pub struct PeerFigures {
    pub payments_per_second: f64,
    pub cpu: Option<PeerCpu>,
}

/// CPU milliseconds per payment of PostgreSQL and of pgbench, the peer's
/// load generator.
#[derive(Debug, Clone, Copy)]
pub struct PeerCpu {
    pub postgres_ms_per_payment: f64,
    pub pgbench_ms_per_payment: f64,
}

impl PeerCpu {
    pub fn total_ms_per_payment(self) -> f64 {
        self.postgres_ms_per_payment + self.pgbench_ms_per_payment
    }
}

pub fn shared_bench() -> Option<PathBuf> {
    let candidate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench");
    candidate.join("sql/pay.sql").exists().then_some(candidate)
}
