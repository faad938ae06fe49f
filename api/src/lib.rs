//! The ledger service: the gRPC API (`grpc`, `server`), the conversion of
//! ISO 20022 messages into ledger messages (`convert`), the database default
//! (`database`), and the operator commands `ledger ingest` (`ingest`),
//! `ledger reconcile` (`reconcile`) and `ledger accounts|payments|prune-idempotency`
//! (`admin`). The `ledger` binary (`main.rs`) is glue
//! over these.

pub mod admin;
pub mod config;
pub mod confirmation;
pub mod consume;
pub mod convert;
pub mod database;
pub mod grpc;
pub mod holds;
pub mod ingest;
pub mod metrics;
pub mod reconcile;
pub mod relay;
pub mod server;
pub mod serving_line;
pub mod statement;
pub mod telemetry;
