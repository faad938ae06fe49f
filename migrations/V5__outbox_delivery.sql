-- Delivery of the outbox to a broker (docs/confirmations.md).
--
-- `outbox.delivered_at` (V1) is set by a relay in the transaction that
-- claimed the row, after the broker acknowledged it. Relays claim rows by
-- state, not by position: a row is claimable while it is undelivered and
-- no earlier row of its payment is undelivered, so a payment's
-- confirmations leave in the order of its state changes whatever the number
-- of relays (`ledger/src/store/outbox_delivery.rs`).

-- A claim asks, per candidate row, whether its payment has an earlier
-- undelivered row: answered from this index alone.
CREATE INDEX outbox_undelivered_by_payment ON outbox (payment_id, outbox_id)
    WHERE delivered_at IS NULL;

-- Pruning delivered rows past the retention reads them by delivery time.
CREATE INDEX outbox_delivered_at ON outbox (delivered_at)
    WHERE delivered_at IS NOT NULL;
