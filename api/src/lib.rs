//! The ledger service: the gRPC API (`grpc`, `server`), the conversion of
//! ISO 20022 messages into ledger messages (`convert`), and the database
//! default (`database`). The `ledger` binary (`main.rs`) is glue over these.

pub mod confirmation;
pub mod convert;
pub mod database;
pub mod grpc;
pub mod reconcile;
pub mod server;
