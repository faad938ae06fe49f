-- Issue 4: a cursor over the outbox that never skips a row.
--
-- outbox_id comes from a sequence, taken before commit: a reader asking for
-- `outbox_id > cursor` skips a row whose transaction commits after one with a
-- higher id. Each row therefore records the id of the transaction that wrote
-- it, and readers only read rows written by transactions older than the
-- oldest one still running (pg_snapshot_xmin), in (transaction_id, outbox_id)
-- order. Under SERIALIZABLE, two state changes of one payment are in that
-- order too: the second transaction's snapshot, and so its transaction id,
-- comes after the first one's commit.

ALTER TABLE outbox ADD COLUMN transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_commit_order ON outbox (transaction_id, outbox_id);
