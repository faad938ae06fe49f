//! `ledger-chaos`: a fault harness with a scorecard. Each scenario runs the
//! real `ledger` binary (`ledger serve`, `ledger ingest`, `ledger relay`)
//! against a real durable PostgreSQL (and nats-server where needed) on
//! 127.0.0.1, injects faults on a seeded schedule (SIGKILL by PID,
//! `pg_ctl stop -m immediate`), then checks its invariants and prints a
//! scorecard. Exit code 0: every invariant held; 1: a violation; 2: the
//! harness could not run. See docs/reliability.md.
//!
//! ```sh
//! cargo build --release -p ledger-api -p ledger-chaos --bins
//! target/release/ledger-chaos crash --seed 7 --size full
//! ```

mod client;
mod faults;
mod processes;
mod proxy;
mod scenarios;
mod scorecard;

use std::process::ExitCode;

use scenarios::{Run, Size};

const USAGE: &str =
    "usage: ledger-chaos SCENARIO [--seed N] [--size full|short] [--count N] [--keep] [--sabotage]
scenarios: crash, replay-storm, bank, ingest-crash, ambiguous-commit, confirmations
  --seed N       the seed of every random choice (default: from the clock; printed)
  --size         full (the documented sizes) or short (seconds; what the tests run)
  --count N      overrides the scenario's number of operations
  --keep         keeps the run's directory (PostgreSQL data, server logs)
  --sabotage     corrupts one balance in SQL before the checks, and for confirmations
                 deletes one stream message too (the checks must fail)
environment: LEDGER_BIN, the ledger binary (default: `ledger` next to this executable)";

fn main() -> ExitCode {
    let mut arguments = std::env::args().skip(1);
    let Some(scenario) = arguments.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let mut seed = None;
    let mut size = Size::Full;
    let mut count = None;
    let mut keep = false;
    let mut sabotage = false;
    while let Some(argument) = arguments.next() {
        let parsed = match argument.as_str() {
            "--keep" => {
                keep = true;
                true
            }
            "--sabotage" => {
                sabotage = true;
                true
            }
            "--seed" => arguments
                .next()
                .and_then(|v| v.parse().ok())
                .map(|v| seed = Some(v))
                .is_some(),
            "--count" => arguments
                .next()
                .and_then(|v| v.parse().ok())
                .map(|v| count = Some(v))
                .is_some(),
            "--size" => match arguments.next().as_deref() {
                Some("full") => {
                    size = Size::Full;
                    true
                }
                Some("short") => {
                    size = Size::Short;
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if !parsed {
            eprintln!("bad argument {argument}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 % 1_000_000)
            .unwrap_or(1)
    });
    let ledger_bin = match processes::ledger_binary() {
        Ok(path) => path,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let work_dir = std::env::temp_dir().join(format!("ledger-chaos-{}", std::process::id()));
    if let Err(error) = std::fs::create_dir_all(&work_dir).and_then(|()| {
        // Run as root, the cluster runs as `postgres`, which must reach it.
        std::fs::set_permissions(
            &work_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
    }) {
        eprintln!("error: cannot create {}: {error}", work_dir.display());
        return ExitCode::from(2);
    }
    let run = Run {
        seed,
        size,
        count,
        work_dir: work_dir.clone(),
        ledger_bin,
        sabotage,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let outcome = runtime.block_on(async {
        match scenario.as_str() {
            "crash" => scenarios::crash::run(&run).await,
            "replay-storm" => scenarios::replay_storm::run(&run).await,
            "bank" => scenarios::bank::run(&run).await,
            "ingest-crash" => scenarios::ingest_crash::run(&run).await,
            "ambiguous-commit" => scenarios::ambiguous_commit::run(&run).await,
            "confirmations" => scenarios::confirmations::run(&run).await,
            other => Err(anyhow::anyhow!("unknown scenario {other}\n{USAGE}")),
        }
    });
    drop(runtime);
    let code = match outcome {
        Ok(scorecard) => {
            if scorecard.print() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("error: the harness could not run: {error:#}");
            ExitCode::from(2)
        }
    };
    if keep {
        println!("run directory kept: {}", work_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    code
}
