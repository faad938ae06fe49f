//! `--retry-rejected`: applying again a transaction whose stored answer is a
//! rejection, exactly once.
//!
//! A rejection is stored under the transaction's idempotency key, so running
//! the file again replays it. A retry is the same command under another key,
//! derived from the original key and the retry round `n` (1, 2, ...):
//! `ingest-v1-retry-<n>:` and the hex SHA-256 of a marker, the original key
//! and `n`. A run sends round 1 for a replayed rejection; if round 1 is
//! itself a replayed rejection (an earlier retry that failed again), round 2,
//! and so on, until an answer that is not a replayed rejection. So:
//!
//! - the same retry run twice: the second run finds round 1's stored answer
//!   (APPLIED, now a replay) and applies nothing;
//! - a retry that is rejected again is stored under its round's key; the next
//!   retry run walks to the next round and tries once more;
//! - two retry runs at once send the same round's key: the ledger serializes
//!   them and the loser gets the replay;
//! - the payment's business key still keeps a retry from paying twice.

use ledger::model::{IdempotencyKey, Outcome};
use ledger::{ApplyCommand, ApplyResponse, LedgerError};
use sha2::{Digest, Sha256};

use super::run::{Fatal, Run};

/// The prefix of retry keys; the round follows it.
pub const RETRY_KEY_PREFIX: &str = "ingest-v1-retry-";

/// Retry rounds walked for one transaction in one run: a transaction whose
/// retries were rejected this many times is answered with the last stored
/// rejection.
pub const RETRY_ROUNDS_MAX: u32 = 64;

/// The idempotency key of retry round `round` (1-based) of the transaction
/// whose first key is `original`.
pub fn retry_key(original: &IdempotencyKey, round: u32) -> IdempotencyKey {
    assert!(round >= 1, "retry rounds count from 1");
    let mut hasher = Sha256::new();
    for part in [
        b"ingest-retry".as_slice(),
        original.as_str().as_bytes(),
        &round.to_be_bytes(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut key = format!("{RETRY_KEY_PREFIX}{round}:");
    for byte in digest {
        key.push_str(&format!("{byte:02x}"));
    }
    IdempotencyKey::parse(&key).expect("a short printable ASCII key is valid")
}

/// The command of retry round `round` of `command`: the same request (so the
/// same fingerprint) under the round's key.
pub fn retry_command(command: &ApplyCommand, round: u32) -> ApplyCommand {
    ApplyCommand {
        idempotency_key: retry_key(&command.idempotency_key, round),
        ..command.clone()
    }
}

/// Whether `answer` is a rejection stored by an earlier attempt that a retry
/// could turn into an applied payment: a replay whose outcome is REJECTED,
/// but not a conflict (BUSINESS_KEY_CONFLICT, STATE_CONFLICT), which no fix
/// makes apply and which each attempt would record for the audit again.
pub fn is_retryable_stored_rejection(answer: &Result<ApplyResponse, LedgerError>) -> bool {
    match answer {
        Ok(response) if response.replay => response.receipts.iter().any(|receipt| {
            matches!(&receipt.outcome, Outcome::Rejected(reason) if !reason.is_flagged_for_audit())
        }),
        _ => false,
    }
}

impl Run<'_> {
    /// `--retry-rejected`: sends each command whose answer is a stored
    /// rejection again under the key of the next retry round, until its
    /// answer is not a stored rejection (see [`retry`](self)). `rounds[i]` is the
    /// round `answers[i]` came from (0: the command's own key).
    pub(super) async fn retry_stored_rejections(
        &self,
        commands: &[ApplyCommand],
        answers: &mut [Result<ApplyResponse, LedgerError>],
        rounds: &mut [u32],
    ) -> Result<(), Fatal> {
        let mut waiting: Vec<usize> = (0..commands.len())
            .filter(|&index| is_retryable_stored_rejection(&answers[index]))
            .collect();
        let mut round = 0;
        while !waiting.is_empty() {
            round += 1;
            if round > RETRY_ROUNDS_MAX {
                eprintln!(
                    "ingest: {} transaction(s) were retried {} times already; their last stored rejection stands",
                    waiting.len(),
                    RETRY_ROUNDS_MAX
                );
                break;
            }
            let retries: Vec<ApplyCommand> = waiting
                .iter()
                .map(|&index| retry_command(&commands[index], round))
                .collect();
            let retried = self.apply(&retries).await?;
            let mut still_waiting = Vec::new();
            for (index, answer) in waiting.into_iter().zip(retried) {
                answers[index] = answer;
                rounds[index] = round;
                if is_retryable_stored_rejection(&answers[index]) {
                    still_waiting.push(index);
                }
            }
            waiting = still_waiting;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> IdempotencyKey {
        IdempotencyKey::parse(text).unwrap()
    }

    #[test]
    fn a_retry_key_is_a_function_of_the_original_key_and_the_round() {
        let original = key("ingest-v1:00ff");
        assert_eq!(retry_key(&original, 1), retry_key(&original, 1));
        assert_ne!(retry_key(&original, 1), retry_key(&original, 2));
        assert_ne!(
            retry_key(&original, 1),
            retry_key(&key("ingest-v1:00fe"), 1)
        );
        assert_ne!(retry_key(&original, 1), original);
    }

    #[test]
    fn a_retry_key_names_its_round() {
        let retry = retry_key(&key("ingest-v1:00ff"), 12);
        assert!(
            retry.as_str().starts_with("ingest-v1-retry-12:"),
            "{retry:?}"
        );
        assert_eq!(retry.as_str().len(), "ingest-v1-retry-12:".len() + 64);
    }

    #[test]
    #[should_panic(expected = "retry rounds count from 1")]
    fn there_is_no_retry_round_zero() {
        retry_key(&key("ingest-v1:00ff"), 0);
    }
}
