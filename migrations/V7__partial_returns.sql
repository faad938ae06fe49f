-- Partial and multiple returns (docs/semantics.md, "Moves and their postings"):
-- a payment may be returned in several parts, each under its own return id,
-- each a REVERSAL transfer of its amount, together at most the payment's
-- amount.
--
-- Return ids are canonical text (`ledger/src/model/payment.rs`, `ReturnId`):
-- `rtr:<RtrId>`, `msg:<len>:<MsgId><len>:<position>` for a pacs.004 without
-- RtrId, `unnamed` for a return that names none.

-- The amount returned so far, in the payment's minor units. A payment is
-- RETURNED exactly when all of it was returned; a partly returned one stays
-- SETTLED.
ALTER TABLE payments
    ADD COLUMN amount_returned_minor BIGINT NOT NULL DEFAULT 0;
-- Payments returned before this migration were returned whole.
UPDATE payments SET amount_returned_minor = amount_minor WHERE state = 'RETURNED';
ALTER TABLE payments
    ADD CONSTRAINT payments_amount_returned_within_amount
        CHECK (amount_returned_minor BETWEEN 0 AND amount_minor),
    ADD CONSTRAINT payments_returned_exactly_when_wholly_returned
        CHECK ((state = 'RETURNED') = (amount_returned_minor = amount_minor)),
    ADD CONSTRAINT payments_returns_only_when_settled
        CHECK (amount_returned_minor = 0 OR state IN ('SETTLED', 'RETURNED'));

-- A reversal names the return it posts; no other kind does.
ALTER TABLE transfers ADD COLUMN return_id TEXT
    CHECK (char_length(return_id) BETWEEN 1 AND 300);
UPDATE transfers SET return_id = 'unnamed' WHERE kind = 'REVERSAL';
ALTER TABLE transfers ADD CONSTRAINT transfers_return_id_exactly_for_reversals
    CHECK ((kind = 'REVERSAL') = (return_id IS NOT NULL));

-- Each kind other than REVERSAL at most once per payment, as before; a
-- REVERSAL once per return. NULLs are distinct, so the unique constraint
-- only binds reversals.
ALTER TABLE transfers DROP CONSTRAINT transfers_payment_id_kind_key;
CREATE UNIQUE INDEX transfers_payment_kind_once_except_reversal ON transfers (payment_id, kind)
    WHERE kind <> 'REVERSAL';
ALTER TABLE transfers ADD CONSTRAINT transfers_payment_return_once
    UNIQUE (payment_id, return_id);

-- One row per return applied: its id, its amount, the ISO reason it carried.
-- Its reversal transfer is the row of transfers with the same
-- (payment_id, return_id), written in the same transaction.
CREATE TABLE payment_returns (
    payment_id      BIGINT NOT NULL REFERENCES payments (payment_id),
    return_id       TEXT NOT NULL CHECK (char_length(return_id) BETWEEN 1 AND 300),
    currency        CHAR(3) NOT NULL,
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    reason_code     TEXT CHECK (reason_code ~ '^[A-Z0-9]{1,4}$'),
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (payment_id, return_id),
    FOREIGN KEY (payment_id, return_id) REFERENCES transfers (payment_id, return_id)
        DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO payment_returns (payment_id, return_id, currency, amount_minor, recorded_at)
SELECT payment_id, return_id, currency, amount_minor, created_at
FROM transfers WHERE kind = 'REVERSAL';

-- A refusal of a return id already applied with another amount is recorded
-- for the audit beside the other flagged refusals.
ALTER TABLE payment_conflicts DROP CONSTRAINT payment_conflicts_reason_check;
ALTER TABLE payment_conflicts ADD CONSTRAINT payment_conflicts_reason_check
    CHECK (reason IN ('BUSINESS_KEY_CONFLICT', 'STATE_CONFLICT', 'DEBIT_ACCOUNT_OUT_OF_SCOPE',
                      'RETURN_ID_CONFLICT'));
