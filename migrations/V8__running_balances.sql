-- Balances as of any moment (docs/semantics.md, "Balances as of a moment"):
-- every transfer records the balances of both its accounts right after it,
-- so an account's balances at time T are those recorded by its latest
-- transfer created at or before T, found through an index, however long
-- the account's history.
--
-- `debit_*` are the debit account's four sums after the transfer,
-- `credit_*` the credit account's. The ledger computes them in memory in
-- the order it applies transfers (`ledger/src/apply.rs`), under the
-- accounts' row locks, and writes them with the transfer.

ALTER TABLE transfers
    ADD COLUMN debit_debits_pending   BIGINT,
    ADD COLUMN debit_debits_posted    BIGINT,
    ADD COLUMN debit_credits_pending  BIGINT,
    ADD COLUMN debit_credits_posted   BIGINT,
    ADD COLUMN credit_debits_pending  BIGINT,
    ADD COLUMN credit_debits_posted   BIGINT,
    ADD COLUMN credit_credits_pending BIGINT,
    ADD COLUMN credit_credits_posted  BIGINT;

-- The transfers written before: their running sums, per account in
-- transfer id order (the order the ledger applied them: an account's row
-- lock is held from reading its balances to COMMIT).
WITH effects AS (
    SELECT transfer_id, debit_account_id AS account_id, TRUE AS on_debit_side,
        CASE kind WHEN 'PENDING' THEN amount_minor
                  WHEN 'POST_PENDING' THEN -amount_minor
                  WHEN 'VOID_PENDING' THEN -amount_minor ELSE 0 END AS debits_pending,
        CASE kind WHEN 'PENDING' THEN 0 WHEN 'VOID_PENDING' THEN 0 ELSE amount_minor END
            AS debits_posted,
        0::BIGINT AS credits_pending, 0::BIGINT AS credits_posted
    FROM transfers
    UNION ALL
    SELECT transfer_id, credit_account_id, FALSE, 0, 0,
        CASE kind WHEN 'PENDING' THEN amount_minor
                  WHEN 'POST_PENDING' THEN -amount_minor
                  WHEN 'VOID_PENDING' THEN -amount_minor ELSE 0 END,
        CASE kind WHEN 'PENDING' THEN 0 WHEN 'VOID_PENDING' THEN 0 ELSE amount_minor END
    FROM transfers),
running AS (
    SELECT transfer_id, on_debit_side,
        SUM(debits_pending) OVER w AS debits_pending,
        SUM(debits_posted) OVER w AS debits_posted,
        SUM(credits_pending) OVER w AS credits_pending,
        SUM(credits_posted) OVER w AS credits_posted
    FROM effects
    WINDOW w AS (PARTITION BY account_id ORDER BY transfer_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
UPDATE transfers t SET
    debit_debits_pending = d.debits_pending, debit_debits_posted = d.debits_posted,
    debit_credits_pending = d.credits_pending, debit_credits_posted = d.credits_posted,
    credit_debits_pending = c.debits_pending, credit_debits_posted = c.debits_posted,
    credit_credits_pending = c.credits_pending, credit_credits_posted = c.credits_posted
FROM running d, running c
WHERE d.transfer_id = t.transfer_id AND d.on_debit_side
  AND c.transfer_id = t.transfer_id AND NOT c.on_debit_side;

ALTER TABLE transfers
    ALTER COLUMN debit_debits_pending   SET NOT NULL,
    ALTER COLUMN debit_debits_posted    SET NOT NULL,
    ALTER COLUMN debit_credits_pending  SET NOT NULL,
    ALTER COLUMN debit_credits_posted   SET NOT NULL,
    ALTER COLUMN credit_debits_pending  SET NOT NULL,
    ALTER COLUMN credit_debits_posted   SET NOT NULL,
    ALTER COLUMN credit_credits_pending SET NOT NULL,
    ALTER COLUMN credit_credits_posted  SET NOT NULL,
    ADD CONSTRAINT transfers_running_balances_not_negative CHECK (
        debit_debits_pending >= 0 AND debit_debits_posted >= 0
        AND debit_credits_pending >= 0 AND debit_credits_posted >= 0
        AND credit_debits_pending >= 0 AND credit_debits_posted >= 0
        AND credit_credits_pending >= 0 AND credit_credits_posted >= 0),
    -- The transfer itself is in the sums after it.
    ADD CONSTRAINT transfers_running_balances_include_the_transfer CHECK (
        CASE kind
            WHEN 'PENDING' THEN debit_debits_pending >= amount_minor
                AND credit_credits_pending >= amount_minor
            WHEN 'VOID_PENDING' THEN TRUE
            ELSE debit_debits_posted >= amount_minor AND credit_credits_posted >= amount_minor
        END);

-- A transfer's time is taken when it is written, under its accounts' row
-- locks, not when its transaction began: an account's transfers are then
-- in the same order by time as by id, so "its latest transfer at or before
-- T" is the one whose sums are its balances at T.
ALTER TABLE transfers ALTER COLUMN created_at SET DEFAULT clock_timestamp();

-- The latest transfer of an account at or before T, on either side.
CREATE INDEX transfers_debit_account_as_of
    ON transfers (debit_account_id, created_at, transfer_id);
CREATE INDEX transfers_credit_account_as_of
    ON transfers (credit_account_id, created_at, transfer_id);
