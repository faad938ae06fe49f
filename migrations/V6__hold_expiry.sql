-- Holds (PENDING payments) expire after a configured time: finding the ones
-- created before a cutoff must not scan every payment.
CREATE INDEX payments_pending_by_creation ON payments (created_at, payment_id)
    WHERE state = 'PENDING';
