//! The fault schedule of the crash scenarios: faults planned at seeded
//! points of the run's progress (operations issued), injected by a thread
//! of their own while the clients run. The clients are held at a gate a
//! little past each planned point until its fault is injected, so every
//! fault hits requests in flight however fast or slow the machine is.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::processes::{LedgerServer, Postgres};
use crate::scorecard::Scorecard;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL one `serve`, start it again after a short pause.
    KillServe,
    /// `pg_ctl stop -m immediate`, start PostgreSQL again after a pause.
    CrashPostgres,
}

/// The shared progress: operations issued, and how far the clients may go.
#[derive(Debug)]
pub struct Progress {
    pub issued: AtomicU64,
    gate: AtomicU64,
    pub clients_done: AtomicBool,
}

impl Progress {
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress {
            issued: AtomicU64::new(0),
            gate: AtomicU64::new(u64::MAX),
            clients_done: AtomicBool::new(false),
        })
    }

    /// Takes the next operation number below `total`, waiting at the gate.
    pub async fn next(&self, total: u64) -> Option<u64> {
        loop {
            let issued = self.issued.load(Ordering::SeqCst);
            if issued >= total {
                return None;
            }
            if issued >= self.gate.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            if self
                .issued
                .compare_exchange(issued, issued + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Some(issued);
            }
        }
    }
}

/// `kills` serve kills and `crashes` PostgreSQL crashes at seeded points
/// between 5% and 90% of `total` operations, in order.
pub fn plan(seed: u64, total: u64, kills: usize, crashes: usize) -> Vec<(u64, Fault)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xFA17);
    let mut faults: Vec<(u64, Fault)> = std::iter::repeat_n(Fault::KillServe, kills)
        .chain(std::iter::repeat_n(Fault::CrashPostgres, crashes))
        .map(|fault| {
            let low = total / 20;
            let high = (total * 9 / 10).max(low + 1);
            (rng.random_range(low..high), fault)
        })
        .collect();
    faults.sort_by_key(|(at, _)| *at);
    faults
}

/// Injects `plan` against `servers` and `postgres` as the clients progress,
/// restarts a server that exits on its own, and gives everything back when
/// the clients are done.
pub fn inject(
    seed: u64,
    plan: Vec<(u64, Fault)>,
    mut servers: Vec<LedgerServer>,
    mut postgres: Postgres,
    progress: Arc<Progress>,
    window: u64,
    scorecard: Arc<Scorecard>,
) -> (Vec<LedgerServer>, Postgres) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the fault thread");
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED);
    let mut plan = plan.into_iter().peekable();
    if let Some((at, _)) = plan.peek() {
        progress.gate.store(at + window, Ordering::SeqCst);
    }
    loop {
        for server in servers.iter_mut() {
            if let Some(status) = server.exited() {
                scorecard.fault(format!("serve#{} exited by itself: {status}", server.slot));
                restart(server, &scorecard);
            }
        }
        if progress.clients_done.load(Ordering::SeqCst) {
            break;
        }
        let due = plan
            .peek()
            .is_some_and(|(at, _)| progress.issued.load(Ordering::SeqCst) >= *at);
        if !due {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let (at, fault) = plan.next().expect("peeked");
        // Let the requests issued up to the point get under way.
        std::thread::sleep(Duration::from_millis(rng.random_range(0..40)));
        match fault {
            Fault::KillServe => {
                let slot = rng.random_range(0..servers.len());
                let server = &mut servers[slot];
                if let Some(pid) = server.kill() {
                    scorecard.fault(format!(
                        "SIGKILL serve#{slot} (pid {pid}) at operation {at}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
                restart(server, &scorecard);
            }
            Fault::CrashPostgres => {
                match postgres.crash() {
                    Ok(()) => scorecard.fault(format!(
                        "pg_ctl stop -m immediate (PostgreSQL crashed) at operation {at}"
                    )),
                    Err(error) => scorecard.fault(format!("PostgreSQL crash FAILED: {error:#}")),
                }
                std::thread::sleep(Duration::from_millis(rng.random_range(500..2000)));
                match runtime.block_on(postgres.restart()) {
                    Ok(()) => scorecard.fault("PostgreSQL started again (crash recovery)"),
                    Err(error) => {
                        scorecard.fault(format!("PostgreSQL restart FAILED: {error:#}"));
                    }
                }
            }
        }
        let gate = plan.peek().map_or(u64::MAX, |(at, _)| at + window);
        progress.gate.store(gate, Ordering::SeqCst);
    }
    // Faults the clients finished before (none when the gate held).
    for (at, fault) in plan {
        scorecard.fault(format!("NOT INJECTED: {fault:?} planned at operation {at}"));
    }
    (servers, postgres)
}

fn restart(server: &mut LedgerServer, scorecard: &Scorecard) {
    match server.start(Duration::from_secs(120)) {
        Ok(pid) => scorecard.fault(format!("restart serve#{} (pid {pid})", server.slot)),
        Err(error) => scorecard.fault(format!("restart serve#{} FAILED: {error:#}", server.slot)),
    }
}
