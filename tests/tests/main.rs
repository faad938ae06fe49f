//! System tests of the ledger against real PostgreSQL: one throwaway cluster
//! for this binary, one fresh database per test.
//!
//! Table of contents:
//! - `apply`: applying messages, refusals, replays, account mapping.
//! - `audit`: the reconciliation audit finds each break, and none under load.
//! - `transactions`: concurrency, commit loss, pool hygiene.
//! - `confirmations`: the outbox feed in commit order.
//! - `exactly_once`: property tests of the exactly-once contract.
//! - `group_commit`: the queue in front of the ledger, its batches and limits.
//! - `holds`: PENDING payments that expire.
//! - `outbox_delivery`: relays' claims of undelivered outbox rows, per-payment order.

mod apply;
mod audit;
mod confirmations;
mod exactly_once;
mod group_commit;
mod holds;
mod outbox_delivery;
mod transactions;
