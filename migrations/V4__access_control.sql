-- Access control: who created each payment, and a record of every
-- administrative change.

-- The client whose request created the payment: a client with the `submit`
-- role reads back what it submitted. NULL for payments created before this
-- column existed (no client may claim them).
ALTER TABLE payments
    ADD COLUMN created_by_client_id TEXT
        CHECK (char_length(created_by_client_id) BETWEEN 1 AND 255);

-- Who changed which account or mapping, when, from what to what: written in
-- the same transaction as the change, never updated or deleted.
CREATE TABLE admin_changes (
    change_id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    changed_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    client_id       TEXT NOT NULL CHECK (char_length(client_id) BETWEEN 1 AND 255),
    action          TEXT NOT NULL
        CHECK (action IN ('OPEN_ACCOUNT', 'SET_SETTLEMENT_ACCOUNT', 'SET_CLEARING_ACCOUNT')),
    subject         TEXT NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 300),
    value_before    TEXT CHECK (char_length(value_before) BETWEEN 1 AND 1000),
    value_after     TEXT NOT NULL CHECK (char_length(value_after) BETWEEN 1 AND 1000)
);

CREATE FUNCTION admin_changes_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_changes is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER admin_changes_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON admin_changes
    FOR EACH STATEMENT EXECUTE FUNCTION admin_changes_are_append_only();

-- A debit outside the submitting client's scope is refused and recorded for
-- the audit beside the other flagged refusals.
ALTER TABLE payment_conflicts DROP CONSTRAINT payment_conflicts_reason_check;
ALTER TABLE payment_conflicts ADD CONSTRAINT payment_conflicts_reason_check
    CHECK (reason IN ('BUSINESS_KEY_CONFLICT', 'STATE_CONFLICT', 'DEBIT_ACCOUNT_OUT_OF_SCOPE'));
