//! The reconciliation audit's SQL (issue 5): set-based queries over the ledger tables.
