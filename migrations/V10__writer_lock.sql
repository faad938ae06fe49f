-- The database's one writer lock (ARCHITECTURE.md, "hot accounts").
--
-- Every batch the ledger applies, from any process on this database (servers,
-- `ledger ingest`, hold expiry), begins with
-- `LOCK TABLE writer_lock IN EXCLUSIVE MODE` as the first statement of its
-- SERIALIZABLE transaction. LOCK TABLE takes no snapshot, so the snapshot
-- the batch then takes follows the commit of every earlier batch; the lock is
-- released by COMMIT or ROLLBACK (or a lost connection), with no statement of
-- its own. Batches therefore never run at once and never abort each other,
-- neither on a hot account nor through SERIALIZABLE's page-level predicate
-- locks.
--
-- EXCLUSIVE conflicts with itself but not with ACCESS SHARE: reading the
-- table (pg_dump) never holds up a writer. The table holds no rows.
CREATE TABLE writer_lock ();

COMMENT ON TABLE writer_lock IS
    'Locked IN EXCLUSIVE MODE by every ledger batch before its snapshot; holds no rows.';

-- The idempotency keys were locked with session-level advisory locks before
-- each batch; the writer lock makes them redundant and the ledger no longer
-- takes them.
