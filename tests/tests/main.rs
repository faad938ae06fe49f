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
//! - `lifecycle_properties`: property tests of holds, settlements, voids,
//!   expiries, immediate payments and returns, in any order and at once.
//! - `outbox_delivery`: relays' claims of undelivered outbox rows, per-payment order.
//! - `returns`: partial and multiple returns, each once, at most the settled amount.
//! - `schema`: references the database itself refuses, whoever writes.

mod apply;
mod audit;
mod confirmations;
mod exactly_once;
mod group_commit;
mod holds;
mod lifecycle_properties;
mod outbox_delivery;
mod returns;
mod schema;
mod transactions;
