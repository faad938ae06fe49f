//! Holds that expire: `ledger expire-holds` once, and the task `serve` runs
//! every so often ([`ledger::Ledger::expire_holds`] does the work, safely in
//! several processes at once).

use std::time::{Duration, SystemTime};

use ledger::{ExpiredHolds, Ledger, HOLDS_PER_ROUND_MAX};

use crate::admin::{duration_text, parse_duration};
use crate::confirmation::iso_date_time;

/// How long a hold waits for a status report by default.
pub const HOLD_EXPIRY_DEFAULT: &str = "7d";

/// The options of `ledger expire-holds`.
#[derive(Debug, clap::Args)]
pub struct ExpireHoldsArgs {
    /// Expire the holds (PENDING payments) created longer ago than this:
    /// `7d`, `36h`, `90m`.
    #[arg(long, value_parser = parse_duration, default_value = HOLD_EXPIRY_DEFAULT)]
    pub older_than: Duration,
}

/// Expires every hold created before `created_before`, a round at a time.
pub async fn expire_all_before(
    ledger: &Ledger,
    created_before: SystemTime,
) -> Result<ExpiredHolds, ledger::LedgerError> {
    let mut total = ExpiredHolds::default();
    loop {
        let round = ledger.expire_holds(created_before).await?;
        total.found_count += round.found_count;
        total.expired_count += round.expired_count;
        total.already_decided_count += round.already_decided_count;
        // A full round may have left more; one that found fewer did not.
        if round.found_count < HOLDS_PER_ROUND_MAX || round.expired_count == 0 {
            return Ok(total);
        }
    }
}

pub async fn expire_holds(ledger: &Ledger, args: &ExpireHoldsArgs) -> anyhow::Result<()> {
    let cutoff = SystemTime::now() - args.older_than;
    let expired = expire_all_before(ledger, cutoff).await?;
    println!(
        "expired {} holds created before {} (older than {}); {} were settled, voided or \
         expired meanwhile",
        expired.expired_count,
        iso_date_time(cutoff),
        duration_text(args.older_than),
        expired.already_decided_count
    );
    Ok(())
}

/// `serve`'s task: every `check_interval`, expires the holds older than
/// `expiry`. A failed round is logged and tried again at the next tick.
pub async fn expire_holds_every(ledger: Ledger, expiry: Duration, check_interval: Duration) {
    let mut ticks = tokio::time::interval(check_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match expire_all_before(&ledger, SystemTime::now() - expiry).await {
            Ok(expired) if expired.expired_count > 0 => {
                tracing::info!(expired = expired.expired_count, "holds expired")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "expiring holds failed; trying again later"),
        }
    }
}
