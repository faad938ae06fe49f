//! Support for the ingest tests and benchmark.

pub mod corpus_support;
pub mod files;
