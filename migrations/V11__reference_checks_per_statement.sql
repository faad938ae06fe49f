-- The references of payments, transfers and outbox rows to the accounts and
-- payments they name, checked once per statement instead of once per row.
--
-- A declarative foreign key checks each inserted row with a query of its own
-- (plan lookup, executor start, index probe, key-share row lock). A batch
-- inserts every payment's row, transfer and outbox row with one statement
-- each, and those six checks a payment were a quarter to a third of the writer's
-- time in the database (docs/benchmarks.md, "Foreign keys checked per
-- statement"). The triggers below check every row a statement inserted with
-- one query over its transition table, probing the same unique indexes, and
-- raise foreign_key_violation (23503), as the foreign key did, naming the
-- first reference to nothing.
--
-- What a foreign key also guaranteed, and how it still holds:
-- * a referenced row is not deleted, nor its key changed, while something
--   refers to it: accounts and payments are never deleted and their keys
--   never change; the triggers at the end refuse DELETE, TRUNCATE and UPDATE
--   of those columns, for every role. Only the tables' owner can lift them
--   (ALTER TABLE ... DISABLE TRIGGER), as it could drop a foreign key;
-- * a concurrent transaction cannot delete the referenced row between the
--   check and the commit (the key-share lock): with DELETE refused, there is
--   no such transaction.
-- The foreign keys of the other tables (settlement and clearing accounts,
-- returns, conflicts) are written rarely and stay declarative.

ALTER TABLE payments
    DROP CONSTRAINT payments_debit_account_id_currency_fkey,
    DROP CONSTRAINT payments_credit_account_id_currency_fkey;
ALTER TABLE transfers
    DROP CONSTRAINT transfers_payment_id_fkey,
    DROP CONSTRAINT transfers_debit_account_id_currency_fkey,
    DROP CONSTRAINT transfers_credit_account_id_currency_fkey;
ALTER TABLE outbox
    DROP CONSTRAINT outbox_payment_id_fkey;

-- Two checks, each one function for the tables it applies to. Each is a
-- correlated NOT EXISTS kept as a subplan (OFFSET 0): one index probe a row,
-- whatever the planner guesses of the transition table, never a scan of the
-- referenced table. The message names the reference, not the row: the row
-- was not stored.

-- (debit_account_id, currency) and (credit_account_id, currency) name an
-- account in that currency.
CREATE FUNCTION rows_name_existing_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing RECORD;
BEGIN
    SELECT side.account_id, i.currency INTO missing
    FROM inserted i,
         LATERAL (VALUES (i.debit_account_id), (i.credit_account_id)) AS side (account_id)
    WHERE NOT EXISTS (
        SELECT 1 FROM accounts a
        WHERE a.account_id = side.account_id AND a.currency = i.currency
        OFFSET 0)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a row of % names account % in %, which does not exist',
            TG_TABLE_NAME, missing.account_id, missing.currency
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END;
$$;

-- payment_id names a payment.
CREATE FUNCTION rows_name_existing_payments() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing RECORD;
BEGIN
    SELECT i.payment_id INTO missing
    FROM inserted i
    WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.payment_id = i.payment_id OFFSET 0)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a row of % names payment %, which does not exist',
            TG_TABLE_NAME, missing.payment_id
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER payments_name_existing_accounts
    AFTER INSERT ON payments REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION rows_name_existing_accounts();
CREATE TRIGGER transfers_name_existing_payments
    AFTER INSERT ON transfers REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION rows_name_existing_payments();
CREATE TRIGGER transfers_name_existing_accounts
    AFTER INSERT ON transfers REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION rows_name_existing_accounts();
CREATE TRIGGER outbox_names_existing_payments
    AFTER INSERT ON outbox REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION rows_name_existing_payments();

-- Rows that others refer to stay, and no row's references change: what
-- the foreign keys re-checked on UPDATE cannot happen.

CREATE FUNCTION references_stay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% of % refused: its rows refer, or are referred, to others and are never removed nor re-pointed',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER accounts_stay
    BEFORE DELETE OR TRUNCATE OR UPDATE OF account_id, currency ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION references_stay();
CREATE TRIGGER payments_stay
    BEFORE DELETE OR TRUNCATE
        OR UPDATE OF payment_id, debit_account_id, credit_account_id, currency ON payments
    FOR EACH STATEMENT EXECUTE FUNCTION references_stay();
CREATE TRIGGER transfers_keep_their_references
    BEFORE UPDATE OF payment_id, debit_account_id, credit_account_id, currency ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION references_stay();
CREATE TRIGGER outbox_keeps_its_references
    BEFORE UPDATE OF payment_id ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION references_stay();
