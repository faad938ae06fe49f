//! Support for the ingest tests and benchmark.

pub mod files;
