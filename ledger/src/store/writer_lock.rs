//! The database's one writer lock (`migrations/V10__writer_lock.sql`).

use deadpool_postgres::Transaction;

use super::StoreError;

/// The table every batch locks: its name, for tests that hold the lock by hand.
pub const WRITER_LOCK_TABLE: &str = "writer_lock";

/// Limits the transaction's statements to `statement_timeout_ms` (when
/// given), then waits for the writer lock. Must be the first statement of a
/// SERIALIZABLE transaction: LOCK TABLE takes no snapshot, so the one the
/// next statement takes follows the commit of every earlier writer. Held
/// until the transaction ends; the wait is bounded by the statement timeout,
/// so a writer that hangs inside its transaction stops the others for at most
/// that long.
///
/// Statements sent behind it without waiting for its answer (pipelined) run
/// after it, in order.
pub async fn lock_writer(
    tx: &Transaction<'_>,
    statement_timeout_ms: Option<u64>,
) -> Result<(), StoreError> {
    // The simple query protocol: one message, run in order; the only value
    // spliced in is a number formatted here (SET takes no parameters).
    let set_timeout = statement_timeout_ms
        .map(|timeout_ms| format!("SET LOCAL statement_timeout = {timeout_ms}; "))
        .unwrap_or_default();
    tx.batch_execute(&format!(
        "{set_timeout}LOCK TABLE {WRITER_LOCK_TABLE} IN EXCLUSIVE MODE"
    ))
    .await?;
    Ok(())
}
