-- Ledger core (issue 2): accounts, account mapping, payments, transfers,
-- idempotency records, outbox, and the conflicts the audit must see.
--
-- Append-only: never edit a migration that has shipped; add V2__... instead.
-- refinery records each applied migration with its checksum and refuses to
-- start when a shipped file was changed.
--
-- Amounts are integer minor units of the row's currency (BIGINT), never
-- floating point. Invariants are asserted here as well as in the Rust code.

CREATE TABLE accounts (
    account_id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_reference  TEXT NOT NULL UNIQUE
                        CHECK (char_length(external_reference) BETWEEN 1 AND 100),
    currency            CHAR(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    overdraft           TEXT NOT NULL
                        CHECK (overdraft IN ('DEBITS_MUST_NOT_EXCEED_CREDITS', 'UNRESTRICTED')),
    debits_pending      BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted       BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending     BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted      BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Lets transfers and payments reference (account, currency) together, so a
    -- posting between accounts of different currencies cannot be stored.
    UNIQUE (account_id, currency),
    CONSTRAINT accounts_overdraft_rule CHECK (
        overdraft = 'UNRESTRICTED'
        OR debits_pending::NUMERIC + debits_posted::NUMERIC <= credits_posted::NUMERIC
    )
);

-- Semantics §5: the account that stands for another institution, by the BIC
-- of the agent on that side, one per currency.
CREATE TABLE settlement_accounts (
    agent_bic   TEXT NOT NULL CHECK (agent_bic ~ '^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$'),
    currency    CHAR(3) NOT NULL,
    account_id  BIGINT NOT NULL,
    PRIMARY KEY (agent_bic, currency),
    FOREIGN KEY (account_id, currency) REFERENCES accounts (account_id, currency)
);

-- Semantics §5: the default clearing account, one per currency, used when a
-- side is neither held nor has a settlement account for its agent.
CREATE TABLE clearing_accounts (
    currency    CHAR(3) PRIMARY KEY,
    account_id  BIGINT NOT NULL,
    FOREIGN KEY (account_id, currency) REFERENCES accounts (account_id, currency)
);

CREATE TABLE payments (
    payment_id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_key        TEXT NOT NULL UNIQUE CHECK (char_length(business_key) BETWEEN 1 AND 200),
    state               TEXT NOT NULL CHECK (state IN ('PENDING', 'SETTLED', 'REJECTED', 'RETURNED')),
    currency            CHAR(3) NOT NULL,
    amount_minor        BIGINT NOT NULL CHECK (amount_minor > 0),
    debit_account_id    BIGINT NOT NULL,
    credit_account_id   BIGINT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (debit_account_id <> credit_account_id),
    FOREIGN KEY (debit_account_id, currency) REFERENCES accounts (account_id, currency),
    FOREIGN KEY (credit_account_id, currency) REFERENCES accounts (account_id, currency)
);

-- One row, one amount, one debit account, one credit account: an unbalanced
-- entry cannot be represented. Each kind at most once per payment: the schema
-- itself refuses to post a state change twice.
CREATE TABLE transfers (
    transfer_id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id          BIGINT NOT NULL REFERENCES payments (payment_id),
    kind                TEXT NOT NULL
                        CHECK (kind IN ('PENDING', 'POSTED', 'POST_PENDING', 'VOID_PENDING', 'REVERSAL')),
    debit_account_id    BIGINT NOT NULL,
    credit_account_id   BIGINT NOT NULL,
    currency            CHAR(3) NOT NULL,
    amount_minor        BIGINT NOT NULL CHECK (amount_minor > 0),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (debit_account_id <> credit_account_id),
    UNIQUE (payment_id, kind),
    FOREIGN KEY (debit_account_id, currency) REFERENCES accounts (account_id, currency),
    FOREIGN KEY (credit_account_id, currency) REFERENCES accounts (account_id, currency)
);
CREATE INDEX transfers_debit_account ON transfers (debit_account_id, transfer_id);
CREATE INDEX transfers_credit_account ON transfers (credit_account_id, transfer_id);

-- Semantics §1: one row per (client, key), holding the request fingerprint and
-- the response returned, byte for byte, to every replay.
CREATE TABLE idempotency_records (
    client_id           TEXT NOT NULL CHECK (char_length(client_id) BETWEEN 1 AND 255),
    idempotency_key     TEXT NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    request_fingerprint BYTEA NOT NULL CHECK (octet_length(request_fingerprint) = 32),
    response            BYTEA NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, idempotency_key)
);
CREATE INDEX idempotency_records_created_at ON idempotency_records (created_at);

-- Semantics §4: one row per state change, written in the transaction that
-- makes the change. States only move forward, so (payment, to_state) is unique.
CREATE TABLE outbox (
    outbox_id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id          BIGINT NOT NULL REFERENCES payments (payment_id),
    from_state          TEXT CHECK (from_state IN ('PENDING', 'SETTLED', 'REJECTED', 'RETURNED')),
    to_state            TEXT NOT NULL CHECK (to_state IN ('PENDING', 'SETTLED', 'REJECTED', 'RETURNED')),
    status_code         TEXT NOT NULL CHECK (status_code IN ('PDNG', 'ACSC', 'RJCT')),
    reason_code         TEXT CHECK (reason_code ~ '^[A-Z0-9]{1,4}$'),
    -- Stable message id for receivers' de-duplication (NATS Nats-Msg-Id).
    message_id          TEXT GENERATED ALWAYS AS ('LDGR' || lpad(outbox_id::TEXT, 20, '0')) STORED UNIQUE,
    payload             JSONB NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at        TIMESTAMPTZ,
    UNIQUE (payment_id, to_state),
    CHECK (from_state IS DISTINCT FROM to_state)
);
CREATE INDEX outbox_undelivered ON outbox (outbox_id) WHERE delivered_at IS NULL;

-- Semantics §1, §2: business-key and state conflicts, recorded for the audit.
CREATE TABLE payment_conflicts (
    conflict_id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_key        TEXT NOT NULL,
    payment_id          BIGINT REFERENCES payments (payment_id),
    reason              TEXT NOT NULL CHECK (reason IN ('BUSINESS_KEY_CONFLICT', 'STATE_CONFLICT')),
    requested_state     TEXT NOT NULL,
    client_id           TEXT NOT NULL,
    idempotency_key     TEXT NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
