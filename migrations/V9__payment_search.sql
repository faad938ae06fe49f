-- Finding payments (ListPayments, `ledger payments list`) by creation time,
-- by the creating client, by account, and by the ids of their business key
-- without scanning every payment.
--
-- A payment's ids are stored only inside its canonical texts:
-- `business_key` (`uetr:<uuid>`, `ref:<len>:<originator><len>:<instruction
-- id><len>:<end-to-end id>` or `msg:...`) and, for a pain.001 transaction,
-- `instruction_reference` (`ins:<len>:<MsgId><len>:<InstrId><len>:<EndToEndId>`).
-- A UETR is found by the unique index on `business_key` itself
-- (`business_key = 'uetr:' || uuid`). The end-to-end and instruction ids get
-- columns of their own, written by the ledger with each new payment (plain
-- values: no function runs per insert), and read out of the texts of the
-- payments stored so far, once, by the function below. Each length is in
-- bytes (UTF-8), as the ledger writes it.

-- Part `part_number` (0-based) of a `ref:` or `ins:` canonical text; NULL
-- for other kinds, an empty part, or a text that is not of this form (the
-- ledger reports such a row as corrupt when it reads it). The lengths count
-- UTF-8 bytes, so the text is cut as UTF-8 whatever the database encoding;
-- `convert_to`/`convert_from` are only STABLE because an encoding's name is
-- looked up, and UTF-8 never changes: the function is immutable in fact.
CREATE FUNCTION payment_key_part(canonical TEXT, part_number INT) RETURNS TEXT
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    bytes BYTEA;
    part_start INT;
    colon INT;
    length_text TEXT;
    part_length INT;
BEGIN
    IF left(canonical, 4) NOT IN ('ref:', 'ins:') THEN
        RETURN NULL;
    END IF;
    bytes := convert_to(canonical, 'UTF8');
    part_start := 5;
    FOR part IN 0..part_number LOOP
        colon := position('\x3a'::BYTEA IN substring(bytes FROM part_start));
        IF colon < 2 OR colon > 5 THEN
            RETURN NULL;
        END IF;
        length_text := convert_from(substring(bytes FROM part_start FOR colon - 1), 'UTF8');
        IF length_text !~ '^(0|[1-9][0-9]*)$' THEN
            RETURN NULL;
        END IF;
        part_length := length_text::INT;
        part_start := part_start + colon;
        IF part_start + part_length - 1 > octet_length(bytes) THEN
            RETURN NULL;
        END IF;
        IF part = part_number THEN
            RETURN NULLIF(convert_from(substring(bytes FROM part_start FOR part_length), 'UTF8'), '');
        END IF;
        part_start := part_start + part_length;
    END LOOP;
    RETURN NULL;
END;
$$;

-- The end-to-end id a payment is known by: its business key's, else (a
-- pain.001 keyed by UETR) its instruction reference's. Both come from the
-- same transaction, so where both have one it is the same. The instruction
-- id (InstrId, or TxId where the message had no InstrId) the same way.
ALTER TABLE payments
    ADD COLUMN end_to_end_id TEXT CHECK (char_length(end_to_end_id) BETWEEN 1 AND 255),
    ADD COLUMN instruction_id TEXT CHECK (char_length(instruction_id) BETWEEN 1 AND 255);
UPDATE payments SET
    end_to_end_id = COALESCE(payment_key_part(business_key, 2),
                             payment_key_part(instruction_reference, 2)),
    instruction_id = COALESCE(payment_key_part(business_key, 1),
                              payment_key_part(instruction_reference, 1))
WHERE left(business_key, 4) = 'ref:' OR instruction_reference IS NOT NULL;
DROP FUNCTION payment_key_part(TEXT, INT);

CREATE INDEX payments_by_end_to_end_id ON payments (end_to_end_id, payment_id)
    WHERE end_to_end_id IS NOT NULL;
CREATE INDEX payments_by_instruction_id ON payments (instruction_id, payment_id)
    WHERE instruction_id IS NOT NULL;

-- The other filters, each in listing order (payment id) within its value.
CREATE INDEX payments_by_creation ON payments (created_at, payment_id);
CREATE INDEX payments_by_creating_client ON payments (created_by_client_id, payment_id)
    WHERE created_by_client_id IS NOT NULL;
CREATE INDEX payments_by_debit_account ON payments (debit_account_id, payment_id);
CREATE INDEX payments_by_credit_account ON payments (credit_account_id, payment_id);
