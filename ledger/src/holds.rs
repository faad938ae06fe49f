//! Holds that expire: a PENDING payment that no status report settled or
//! voided in time is moved to REJECTED through the same path as a message
//! (semantics §2): one `ApplyCommand` per hold, under an idempotency key of
//! its own, so that several processes expiring at once apply each once.

use std::time::SystemTime;

use crate::error::LedgerError;
use crate::model::{ClientId, IdempotencyKey, Outcome, PaymentMessage, PaymentState, ReasonCode};
use crate::service::{ApplyCommand, Ledger};

/// The client an expiry is applied as (its idempotency keys are
/// `expire:<payment id>`); not a client token can name, as it has a colon
/// no configured client needs.
pub const HOLD_EXPIRY_CLIENT_ID: &str = "ledger:hold-expiry";

/// The ISO 20022 status reason of an expired hold's confirmation: `AB03`,
/// "settlement aborted due to timeout" (ExternalStatusReason1Code): no
/// settlement or rejection came in time.
pub const HOLD_EXPIRY_REASON: &str = "AB03";

/// Most holds one round expires (one batch, one transaction).
pub const HOLDS_PER_ROUND_MAX: usize = 500;

/// What [`Ledger::expire_holds`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpiredHolds {
    /// Holds found older than the cutoff.
    pub found_count: usize,
    /// Moved to REJECTED by this call.
    pub expired_count: usize,
    /// Settled, voided or expired by someone else meanwhile: left as they are.
    pub already_decided_count: usize,
}

impl Ledger {
    /// Expires the holds created before `created_before`, at most
    /// [`HOLDS_PER_ROUND_MAX`] per call (call again while `found_count`
    /// equals it). Each becomes REJECTED with reason [`HOLD_EXPIRY_REASON`]
    /// and its confirmation in the outbox, exactly once however many
    /// processes run this at once.
    pub async fn expire_holds(
        &self,
        created_before: SystemTime,
    ) -> Result<ExpiredHolds, LedgerError> {
        let holds = self
            .holds_created_before(created_before, HOLDS_PER_ROUND_MAX)
            .await?;
        let client_id = ClientId::parse(HOLD_EXPIRY_CLIENT_ID).expect("a valid client id");
        let reason = ReasonCode::parse(HOLD_EXPIRY_REASON).expect("a valid reason code");
        let commands: Vec<ApplyCommand> = holds
            .iter()
            .map(|(payment_id, business_key)| {
                let key = IdempotencyKey::parse(&format!("expire:{payment_id}"))
                    .expect("a valid idempotency key");
                ApplyCommand::new(
                    client_id.clone(),
                    key,
                    vec![PaymentMessage {
                        business_key: business_key.clone(),
                        target_state: PaymentState::Rejected,
                        instruction: None,
                        reason: Some(reason.clone()),
                        returned_amount: None,
                        return_id: None,
                    }],
                )
            })
            .collect();
        let mut expired = ExpiredHolds {
            found_count: holds.len(),
            ..ExpiredHolds::default()
        };
        for result in self.apply_batch(&commands).await? {
            match result {
                Ok(response) if !response.replay => match response.receipts[0].outcome {
                    Outcome::Applied => expired.expired_count += 1,
                    _ => expired.already_decided_count += 1,
                },
                // Another process expired it first (its batch ran before
                // this one: batches hold the writer lock one at a time).
                Ok(_) => expired.already_decided_count += 1,
                Err(error) => return Err(error),
            }
        }
        Ok(expired)
    }
}
