//! `ambiguous-commit`: two `ledger serve` processes reach PostgreSQL only
//! through the harness's TCP proxy (`proxy.rs`), which drops connections
//! right after a `COMMIT` was forwarded and before its reply, and at random
//! other messages. 32 clients send payments (the `crash` scenario's) until
//! both a minimum number of payments was sent and the proxy dropped the
//! target number of connections after a COMMIT. Checks: every payment
//! resolves to applied once or not applied, what the clients were told
//! (`crash::check_told`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::client::{self, Resolution};
use crate::processes::{LedgerServer, Postgres};
use crate::proxy::Proxy;
use crate::scenarios::crash::{creditor, debtor, send_payment, CREDITORS, DEBTORS};
use crate::scenarios::{self, Overdraft, Run};
use crate::scorecard::Scorecard;

const CLIENTS: usize = 32;
const SERVERS: usize = 2;
/// Share of COMMITs after which the connection is dropped.
const COMMIT_DROP_PROBABILITY: f64 = 0.2;
/// Share of other frontend messages before which it is dropped.
const MID_DROP_PROBABILITY: f64 = 0.002;

pub async fn run(run: &Run) -> anyhow::Result<Arc<Scorecard>> {
    let minimum = run.operations(5_000, 200);
    let (commit_drops_target, cap) = match run.size {
        scenarios::Size::Full => (1_000, minimum * 10),
        scenarios::Size::Short => (20, minimum * 20),
    };
    let scorecard = Arc::new(Scorecard::new(
        "ambiguous-commit",
        run.seed,
        run.size.name(),
    ));
    let postgres = Postgres::start(&run.work_dir, "chaos").await?;
    let accounts: Vec<_> = (0..DEBTORS)
        .map(debtor)
        .chain((0..CREDITORS).map(creditor))
        .map(|reference| (reference, "EUR", Overdraft::Unrestricted))
        .collect();
    scenarios::open_accounts(run, &postgres, &accounts, None).await?;
    let proxy = Proxy::start(
        postgres.socket_path(),
        run.seed,
        COMMIT_DROP_PROBABILITY,
        MID_DROP_PROBABILITY,
    )
    .await?;
    let mut servers = Vec::new();
    for slot in 0..SERVERS {
        let mut server = LedgerServer::new(
            slot,
            &run.ledger_bin,
            &postgres.url_through(proxy.port),
            &run.work_dir,
            &[],
        );
        server.start(Duration::from_secs(60))?;
        servers.push(server);
    }
    proxy.stats.armed.store(true, Ordering::SeqCst);
    scorecard.fault(format!(
        "proxy armed: drops {}% of connections right after a COMMIT, {}% before any other message",
        COMMIT_DROP_PROBABILITY * 100.0,
        MID_DROP_PROBABILITY * 100.0
    ));
    scorecard.figure(
        "setup",
        format!(
            "at least {minimum} payments and until {commit_drops_target} connections were dropped \
             after a COMMIT (at most {cap} payments), {CLIENTS} clients, {SERVERS} serve processes \
             through the proxy"
        ),
    );

    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for client_number in 0..CLIENTS {
        let channels: Vec<_> = servers
            .iter()
            .map(|server| client::channel(&server.endpoint()))
            .collect();
        let (next, scorecard, stats) = (next.clone(), scorecard.clone(), proxy.stats.clone());
        let seed = run.seed;
        tasks.push(tokio::spawn(async move {
            let mut resolved = Vec::new();
            loop {
                let enough =
                    stats.dropped_after_commit.load(Ordering::SeqCst) >= commit_drops_target;
                let number = next.fetch_add(1, Ordering::SeqCst);
                if number >= cap || (number >= minimum && enough) {
                    break;
                }
                let id = format!("AC{seed}-{number}");
                let resolution =
                    send_payment(&channels, client_number, &id, number, &scorecard).await;
                resolved.push((number, resolution));
            }
            resolved
        }));
    }
    let mut resolutions: BTreeMap<u64, Resolution> = BTreeMap::new();
    for task in tasks {
        resolutions.extend(task.await?);
    }
    proxy.stats.armed.store(false, Ordering::SeqCst);
    drop(servers);
    let stats = &proxy.stats;
    let after_commit = stats.dropped_after_commit.load(Ordering::SeqCst);
    scorecard.fault(format!(
        "proxy disarmed: {after_commit} connections dropped after a COMMIT, {} before another \
         message, of {} COMMITs and {} connections",
        stats.dropped_mid_stream.load(Ordering::SeqCst),
        stats.commits_seen.load(Ordering::SeqCst),
        stats.connections.load(Ordering::SeqCst),
    ));
    // A number taken by a client that then stopped is not sent: the
    // checks cover the payments sent.
    scorecard.figure("payments sent", resolutions.len());
    scorecard.invariant(
        format!("at least {commit_drops_target} connections dropped right after a COMMIT"),
        (after_commit < commit_drops_target)
            .then(|| format!("{after_commit} dropped"))
            .into_iter()
            .collect(),
    );
    super::crash::check_told(run, &postgres, &scorecard, &resolutions).await;
    postgres.stop().await;
    Ok(scorecard)
}
