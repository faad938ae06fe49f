//! The idempotency key ingest derives for a transaction from the file's
//! identity and the transaction's position and ids.

use iso20022::Transaction;
use ledger::model::IdempotencyKey;
use sha2::{Digest, Sha256};

/// The prefix of every idempotency key ingest derives; the version changes
/// if the derivation ever does.
pub const KEY_PREFIX: &str = "ingest-v1:";

/// The ids of a transaction that go into its idempotency key (and, for
/// pain.001 and pacs.008, into its status report entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionIds {
    pub payment_info_id: Option<String>,
    pub instruction_id: Option<String>,
    pub end_to_end_id: Option<String>,
    pub transaction_id: Option<String>,
    pub uetr: Option<String>,
    /// The status report's StsId (pacs.002) or the return's RtrId (pacs.004).
    pub own_id: Option<String>,
}

impl TransactionIds {
    pub(super) fn of(transaction: &Transaction) -> TransactionIds {
        match transaction {
            Transaction::CreditTransfer(transfer) => TransactionIds {
                payment_info_id: transfer
                    .payment_info
                    .as_ref()
                    .map(|info| info.payment_info_id.clone()),
                instruction_id: transfer.instruction_id.clone(),
                end_to_end_id: Some(transfer.end_to_end_id.clone()),
                transaction_id: transfer.transaction_id.clone(),
                uetr: transfer.uetr.as_ref().map(|uetr| uetr.as_str().to_owned()),
                own_id: None,
            },
            Transaction::TransactionStatus(status) => TransactionIds {
                payment_info_id: status.original_payment_info_id.clone(),
                instruction_id: status.original_instruction_id.clone(),
                end_to_end_id: status.original_end_to_end_id.clone(),
                transaction_id: status.original_transaction_id.clone(),
                uetr: status
                    .original_uetr
                    .as_ref()
                    .map(|uetr| uetr.as_str().to_owned()),
                own_id: status.status_id.clone(),
            },
            Transaction::PaymentReturn(payment_return) => TransactionIds {
                payment_info_id: None,
                instruction_id: payment_return.original_instruction_id.clone(),
                end_to_end_id: payment_return.original_end_to_end_id.clone(),
                transaction_id: payment_return.original_transaction_id.clone(),
                uetr: payment_return
                    .original_uetr
                    .as_ref()
                    .map(|uetr| uetr.as_str().to_owned()),
                own_id: payment_return.return_id.clone(),
            },
            _ => TransactionIds::default(),
        }
    }
}

/// The idempotency key of the transaction at `position` (1-based, as the
/// reader counts) of the message `message_name_id` with group header MsgId
/// `message_id`: `ingest-v1:` and the hex SHA-256 of each part, absent parts
/// marked apart from empty ones, present ones length-prefixed, so no choice
/// of ids makes two transactions' encodings collide.
pub fn idempotency_key(
    message_name_id: &str,
    message_id: &str,
    position: u64,
    ids: &TransactionIds,
) -> IdempotencyKey {
    let mut hasher = Sha256::new();
    let position = position.to_string();
    let parts = [
        Some(message_name_id),
        Some(message_id),
        Some(position.as_str()),
        ids.payment_info_id.as_deref(),
        ids.instruction_id.as_deref(),
        ids.end_to_end_id.as_deref(),
        ids.transaction_id.as_deref(),
        ids.uetr.as_deref(),
        ids.own_id.as_deref(),
    ];
    for part in parts {
        match part {
            None => hasher.update([0u8]),
            Some(text) => {
                hasher.update([1u8]);
                hasher.update((text.len() as u64).to_be_bytes());
                hasher.update(text.as_bytes());
            }
        }
    }
    let digest = hasher.finalize();
    let mut key = String::with_capacity(KEY_PREFIX.len() + 64);
    key.push_str(KEY_PREFIX);
    for byte in digest {
        key.push(char::from_digit(u32::from(byte >> 4), 16).expect("a hex digit"));
        key.push(char::from_digit(u32::from(byte & 0xf), 16).expect("a hex digit"));
    }
    IdempotencyKey::parse(&key).expect("74 printable ASCII characters make a valid key")
}

#[cfg(test)]
mod tests {
    //! The idempotency key is a function of the file's
    //! identity and the transaction's position and ids, nothing else.
    use super::*;

    fn ids(end_to_end_id: &str) -> TransactionIds {
        TransactionIds {
            payment_info_id: Some("PMT-1".to_owned()),
            instruction_id: Some("I-1".to_owned()),
            end_to_end_id: Some(end_to_end_id.to_owned()),
            ..TransactionIds::default()
        }
    }

    #[test]
    fn the_key_is_stable_and_printable() {
        let key = idempotency_key("pain.001.001.09", "MSG-1", 1, &ids("E2E-1"));
        assert_eq!(
            key,
            idempotency_key("pain.001.001.09", "MSG-1", 1, &ids("E2E-1"))
        );
        assert!(key.as_str().starts_with(KEY_PREFIX));
        assert_eq!(key.as_str().len(), KEY_PREFIX.len() + 64);
    }

    #[test]
    fn every_part_of_the_identity_changes_the_key() {
        let base = idempotency_key("pain.001.001.09", "MSG-1", 1, &ids("E2E-1"));
        assert_ne!(
            base,
            idempotency_key("pain.001.001.03", "MSG-1", 1, &ids("E2E-1"))
        );
        assert_ne!(
            base,
            idempotency_key("pain.001.001.09", "MSG-2", 1, &ids("E2E-1"))
        );
        assert_ne!(
            base,
            idempotency_key("pain.001.001.09", "MSG-1", 2, &ids("E2E-1"))
        );
        assert_ne!(
            base,
            idempotency_key("pain.001.001.09", "MSG-1", 1, &ids("E2E-2"))
        );
    }

    #[test]
    fn parts_cannot_slide_into_each_other() {
        let a = TransactionIds {
            instruction_id: Some("AB".to_owned()),
            end_to_end_id: Some("C".to_owned()),
            ..TransactionIds::default()
        };
        let b = TransactionIds {
            instruction_id: Some("A".to_owned()),
            end_to_end_id: Some("BC".to_owned()),
            ..TransactionIds::default()
        };
        let empty = TransactionIds {
            instruction_id: Some(String::new()),
            ..TransactionIds::default()
        };
        let k = |ids: &TransactionIds| idempotency_key("pacs.008.001.08", "M", 1, ids);
        assert_ne!(k(&a), k(&b));
        assert_ne!(k(&empty), k(&TransactionIds::default()));
    }
}
