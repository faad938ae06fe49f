-- A status report or a return cannot name a pain.001's initiating party, so a
-- payment created from a pain.001 transaction records how follow-ups name it:
-- the pain.001's MsgId with the transaction's InstrId and EndToEndId, in the
-- canonical, length-prefixed form `ins:<len>:<MsgId><len>:<InstrId><len>:<EndToEndId>`.
-- Not unique: a reference that several payments recorded is ambiguous, and a
-- follow-up naming it is refused (ORIGINAL_AMBIGUOUS), never guessed.

ALTER TABLE payments
    ADD COLUMN instruction_reference TEXT
        CHECK (instruction_reference LIKE 'ins:%' AND char_length(instruction_reference) <= 200);
CREATE INDEX payments_instruction_reference ON payments (instruction_reference)
    WHERE instruction_reference IS NOT NULL;

-- A follow-up's name for its original is never a payment's own key.
ALTER TABLE payments ADD CONSTRAINT payments_business_key_is_a_key
    CHECK (business_key NOT LIKE 'ins:%');
