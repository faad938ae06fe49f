//! Schema migrations, embedded from the workspace's `migrations/` folder at
//! build time and applied by refinery, which records each one with its
//! checksum and refuses to run when an applied migration was changed
//! (append-only) or is missing from the binary.

use tokio_postgres::Client;

use crate::error::LedgerError;
use crate::store::StoreError;

refinery::embed_migrations!("../migrations");

/// Applies pending migrations; returns the names of those applied now.
pub(crate) async fn run(client: &mut Client) -> Result<Vec<String>, LedgerError> {
    let report = migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run_async(client)
        .await
        .map_err(|error| {
            tracing::error!(%error, "migration failed");
            LedgerError::Internal(StoreError::Corrupt {
                table: "refinery_schema_history",
                detail: error.to_string(),
            })
        })?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|migration| migration.to_string())
        .collect())
}
