//! The session-level advisory locks a batch takes on its connection before
//! BEGIN and releases after its end: the database's one writer lock, then the
//! idempotency-key locks. Taken outside any transaction, so the transaction
//! begun after them takes its snapshot after every earlier holder's commit.

use tokio_postgres::SimpleQueryMessage;

use super::StoreError;

/// The writer lock, in the two-key advisory lock space (which never meets the
/// one-key space of the idempotency-key locks): `'LDGR'`, 1. Every batch of
/// every ledger process on one database holds it from before its BEGIN until
/// after its end, so batches never run at once and never abort each other on
/// a popular account (ARCHITECTURE.md, hot accounts).
pub const WRITER_LOCK: (i32, i32) = (0x4C44_4752, 1);

/// Waits for the writer lock, then takes a lock per idempotency-key lock id
/// without waiting, in one round trip. Says for each id whether it was taken
/// (`false`: another session holds it, applying the same key right now). The
/// caller releases everything with [`unlock_session_locks`], also when this
/// fails (the writer lock may be held by then).
///
/// The wait is bounded by the connection's `statement_timeout`: a holder that
/// hangs outside a transaction stops the others for at most that long.
pub async fn lock_writer_then_try_each(
    client: &tokio_postgres::Client,
    lock_ids: &[i64],
) -> Result<Vec<bool>, StoreError> {
    let (class, object) = WRITER_LOCK;
    // The simple query protocol runs the two statements in order, in one
    // round trip; every value spliced in is a number formatted here.
    let ids: Vec<String> = lock_ids.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT pg_advisory_lock({class}, {object}); \
         SELECT pg_try_advisory_lock(id) FROM unnest('{{{}}}'::BIGINT[]) WITH ORDINALITY AS l (id, n) \
         ORDER BY n",
        ids.join(",")
    );
    let messages = client.simple_query(&sql).await?;
    let mut statements_completed = 0;
    let mut taken = Vec::with_capacity(lock_ids.len());
    for message in messages {
        match message {
            SimpleQueryMessage::CommandComplete(_) => statements_completed += 1,
            SimpleQueryMessage::Row(row) if statements_completed == 1 => {
                taken.push(match row.get(0) {
                    Some("t") => true,
                    Some("f") => false,
                    other => {
                        return Err(StoreError::Corrupt {
                            table: "pg_try_advisory_lock",
                            detail: format!("answered {other:?}"),
                        })
                    }
                });
            }
            _ => {}
        }
    }
    if statements_completed != 2 || taken.len() != lock_ids.len() {
        return Err(StoreError::Corrupt {
            table: "pg_try_advisory_lock",
            detail: format!(
                "{statements_completed} statements completed, {} answers for {} lock ids",
                taken.len(),
                lock_ids.len()
            ),
        });
    }
    Ok(taken)
}

/// Releases every session-level advisory lock of the connection.
pub async fn unlock_session_locks(client: &tokio_postgres::Client) -> Result<(), StoreError> {
    // The simple query protocol: one round trip, nothing to prepare.
    client
        .batch_execute("SELECT pg_advisory_unlock_all()")
        .await?;
    Ok(())
}
