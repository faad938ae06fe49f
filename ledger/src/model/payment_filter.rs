//! Which payments a listing asks for (`ListPayments`, `ledger payments list`)
//! and where one of its pages ends.
//!
//! A listing is in payment id order. A page token names the last payment of
//! the page it follows and carries a fingerprint of every filter it was
//! issued under, so a token used with other filters is refused, naming the
//! filters that changed, instead of silently continuing another listing.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::business_key::ID_NOT_PROVIDED;
use super::ids::{text, AccountId, ClientId, IdError, PaymentId, MAX35_TEXT_LENGTH_MAX};
use super::payment::PaymentState;

/// One filter of a [`PaymentFilter`], to name in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentFilterField {
    CreatedFrom,
    CreatedUntil,
    State,
    Account,
    Uetr,
    EndToEndId,
    InstructionId,
    CreatedBy,
}

impl PaymentFilterField {
    /// Every filter, in the order of their fingerprints in a page token.
    pub const ALL: [PaymentFilterField; 8] = [
        PaymentFilterField::CreatedFrom,
        PaymentFilterField::CreatedUntil,
        PaymentFilterField::State,
        PaymentFilterField::Account,
        PaymentFilterField::Uetr,
        PaymentFilterField::EndToEndId,
        PaymentFilterField::InstructionId,
        PaymentFilterField::CreatedBy,
    ];
}

/// An id that a payment's business key or instruction reference carries:
/// an end-to-end id, or an instruction id (InstrId, or TxId where the
/// message had no InstrId). ISO 20022 `Max35Text`; `NOTPROVIDED` is no id
/// (semantics §1), so it names no payment and is refused as a filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

/// Why a text is not a [`KeyId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyIdError {
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("NOTPROVIDED is no id: no payment is known by it")]
    NotProvided,
}

impl KeyId {
    pub fn parse(what: &'static str, value: &str) -> Result<KeyId, KeyIdError> {
        text(what, value, MAX35_TEXT_LENGTH_MAX)?;
        if value == ID_NOT_PROVIDED {
            return Err(KeyIdError::NotProvided);
        }
        Ok(KeyId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The payments a listing asks for: every filter given must hold. The
/// reader's [`super::PaymentVisibility`] applies on top, always.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// Created at or after this time.
    pub created_from: Option<SystemTime>,
    /// Created before this time.
    pub created_until: Option<SystemTime>,
    pub state: Option<PaymentState>,
    /// Debiting or crediting this account.
    pub account_id: Option<AccountId>,
    /// Keyed by this UETR.
    pub uetr: Option<uuid::Uuid>,
    /// Whose business key or instruction reference carries this end-to-end id.
    pub end_to_end_id: Option<KeyId>,
    /// Whose business key or instruction reference carries this instruction
    /// id (InstrId, or TxId where the message had no InstrId).
    pub instruction_id: Option<KeyId>,
    /// Created by a request of this client.
    pub created_by: Option<ClientId>,
}

/// Why a page token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageTokenError {
    /// Not a token a listing of payments issued.
    Malformed,
    /// Issued for a listing with other values of these filters.
    FiltersChanged(Vec<PaymentFilterField>),
}

/// `v1.<last payment id>.<fingerprint of each filter>`.
const PAGE_TOKEN_PREFIX: &str = "v1.";
/// Hex digits of one filter's fingerprint.
const FINGERPRINT_HEX_LENGTH: usize = 8;

impl PaymentFilter {
    /// The filters that contradict each other, each with why: an empty or
    /// reversed creation time range.
    pub fn contradictions(&self) -> Vec<(PaymentFilterField, String)> {
        let mut contradictions = Vec::new();
        if let (Some(from), Some(until)) = (self.created_from, self.created_until) {
            if until <= from {
                contradictions.push((
                    PaymentFilterField::CreatedUntil,
                    "not after the start of the range (created from, inclusive; created \
                     until, exclusive)"
                        .to_owned(),
                ));
            }
        }
        contradictions
    }

    /// The token of the page after the one that ended with `last`.
    pub fn page_token(&self, last: PaymentId) -> String {
        let mut token = format!("{PAGE_TOKEN_PREFIX}{}.", last.0);
        for field in PaymentFilterField::ALL {
            token.push_str(&self.fingerprint(field));
        }
        token
    }

    /// The last payment of the previous page, from its token; `None` for an
    /// empty token (the first page).
    pub fn page_after(&self, token: &str) -> Result<Option<PaymentId>, PageTokenError> {
        if token.is_empty() {
            return Ok(None);
        }
        let (last, fingerprints) = token
            .strip_prefix(PAGE_TOKEN_PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or(PageTokenError::Malformed)?;
        let last = last
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0 && id.to_string() == last)
            .ok_or(PageTokenError::Malformed)?;
        if fingerprints.len() != FINGERPRINT_HEX_LENGTH * PaymentFilterField::ALL.len()
            || !fingerprints
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        {
            return Err(PageTokenError::Malformed);
        }
        let changed: Vec<PaymentFilterField> = PaymentFilterField::ALL
            .into_iter()
            .enumerate()
            .filter(|(index, field)| {
                let start = index * FINGERPRINT_HEX_LENGTH;
                fingerprints[start..start + FINGERPRINT_HEX_LENGTH] != self.fingerprint(*field)
            })
            .map(|(_, field)| field)
            .collect();
        if !changed.is_empty() {
            return Err(PageTokenError::FiltersChanged(changed));
        }
        Ok(Some(PaymentId(last)))
    }

    /// The first bytes of the SHA-256 of the filter's value (its absence
    /// included), in hex: a listing's tokens tell a changed filter from an
    /// unchanged one. Not a secret: a token only ever resumes a listing of
    /// what its reader may see.
    fn fingerprint(&self, field: PaymentFilterField) -> String {
        let value: Option<String> = match field {
            PaymentFilterField::CreatedFrom => self.created_from.map(nanoseconds_since_epoch),
            PaymentFilterField::CreatedUntil => self.created_until.map(nanoseconds_since_epoch),
            PaymentFilterField::State => self.state.map(|state| state.as_str().to_owned()),
            PaymentFilterField::Account => self.account_id.map(|id| id.0.to_string()),
            PaymentFilterField::Uetr => self.uetr.map(|uetr| uetr.hyphenated().to_string()),
            PaymentFilterField::EndToEndId => self.end_to_end_id.as_ref().map(KeyId::to_string),
            PaymentFilterField::InstructionId => self.instruction_id.as_ref().map(KeyId::to_string),
            PaymentFilterField::CreatedBy => {
                self.created_by.as_ref().map(|id| id.as_str().to_owned())
            }
        };
        let mut hash = Sha256::new();
        match value {
            None => hash.update(b"-"),
            Some(value) => {
                hash.update(b"=");
                hash.update(value.as_bytes());
            }
        }
        hash.finalize()[..FINGERPRINT_HEX_LENGTH / 2]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

fn nanoseconds_since_epoch(time: SystemTime) -> String {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_nanos().to_string(),
        Err(before) => format!("-{}", before.duration().as_nanos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn filter() -> PaymentFilter {
        PaymentFilter {
            created_from: Some(UNIX_EPOCH + Duration::from_secs(1_000)),
            state: Some(PaymentState::Settled),
            end_to_end_id: Some(KeyId::parse("end-to-end id", "E2E-1").unwrap()),
            ..PaymentFilter::default()
        }
    }

    #[test]
    fn a_page_token_resumes_the_listing_it_was_issued_for() {
        let filter = filter();
        let token = filter.page_token(PaymentId(42));
        assert!(token.starts_with("v1.42."), "{token}");
        assert_eq!(filter.page_after(&token), Ok(Some(PaymentId(42))));
        assert_eq!(filter.page_after(""), Ok(None));
        let unfiltered = PaymentFilter::default();
        let token = unfiltered.page_token(PaymentId(7));
        assert_eq!(unfiltered.page_after(&token), Ok(Some(PaymentId(7))));
    }

    #[test]
    fn a_page_token_used_with_other_filters_names_each_filter_that_changed() {
        let filter = filter();
        let token = filter.page_token(PaymentId(42));
        let check = |changed: PaymentFilter, expected: Vec<PaymentFilterField>| {
            assert_eq!(
                changed.page_after(&token),
                Err(PageTokenError::FiltersChanged(expected)),
                "{changed:?}"
            );
        };
        check(
            PaymentFilter {
                state: Some(PaymentState::Pending),
                ..filter.clone()
            },
            vec![PaymentFilterField::State],
        );
        check(
            PaymentFilter {
                created_from: None,
                created_by: Some(ClientId::parse("bank-a").unwrap()),
                ..filter.clone()
            },
            vec![
                PaymentFilterField::CreatedFrom,
                PaymentFilterField::CreatedBy,
            ],
        );
        check(
            PaymentFilter {
                end_to_end_id: None,
                instruction_id: Some(KeyId::parse("instruction id", "E2E-1").unwrap()),
                ..filter.clone()
            },
            vec![
                PaymentFilterField::EndToEndId,
                PaymentFilterField::InstructionId,
            ],
        );
        check(
            PaymentFilter {
                created_from: Some(UNIX_EPOCH + Duration::from_nanos(1_000_000_000_001)),
                account_id: Some(AccountId(1)),
                uetr: Some(uuid::Uuid::nil()),
                created_until: Some(UNIX_EPOCH + Duration::from_secs(2_000)),
                ..filter.clone()
            },
            vec![
                PaymentFilterField::CreatedFrom,
                PaymentFilterField::CreatedUntil,
                PaymentFilterField::Account,
                PaymentFilterField::Uetr,
            ],
        );
    }

    #[test]
    fn a_page_token_this_listing_did_not_issue_is_malformed() {
        let filter = filter();
        let good = filter.page_token(PaymentId(42));
        let fingerprints = good.strip_prefix("v1.42.").unwrap();
        for bad in [
            "x".to_owned(),
            "42".to_owned(),
            "v1.".to_owned(),
            "v1.42".to_owned(),
            "v1.42.".to_owned(),
            format!("v2.42.{fingerprints}"),
            format!("v1.0.{fingerprints}"),
            format!("v1.-1.{fingerprints}"),
            format!("v1.042.{fingerprints}"),
            format!("v1.+42.{fingerprints}"),
            format!("v1.99999999999999999999.{fingerprints}"),
            format!("v1.42.{}", &fingerprints[1..]),
            format!("v1.42.{fingerprints}0"),
            format!("v1.42.{}", fingerprints.to_uppercase()),
            format!("v1.42.{}g", &fingerprints[1..]),
            format!("v1.42.{fingerprints}.1"),
        ] {
            assert_eq!(
                filter.page_after(&bad),
                Err(PageTokenError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn key_ids_are_max35_text_and_notprovided_names_nothing() {
        assert_eq!(
            KeyId::parse("end-to-end id", "E-1").unwrap().as_str(),
            "E-1"
        );
        assert_eq!(
            KeyId::parse("end-to-end id", "É-ü").unwrap().as_str(),
            "É-ü"
        );
        assert_eq!(
            KeyId::parse("end-to-end id", ID_NOT_PROVIDED),
            Err(KeyIdError::NotProvided)
        );
        assert!(matches!(
            KeyId::parse("end-to-end id", ""),
            Err(KeyIdError::Id(IdError::Empty { .. }))
        ));
        assert!(matches!(
            KeyId::parse("end-to-end id", &"x".repeat(36)),
            Err(KeyIdError::Id(IdError::TooLong { .. }))
        ));
        assert!(KeyId::parse("end-to-end id", &"x".repeat(35)).is_ok());
        assert!(matches!(
            KeyId::parse("end-to-end id", "a\nb"),
            Err(KeyIdError::Id(IdError::ControlCharacter { .. }))
        ));
    }

    #[test]
    fn an_empty_or_reversed_time_range_is_a_contradiction() {
        let at = |seconds| Some(UNIX_EPOCH + Duration::from_secs(seconds));
        let range = |from, until| PaymentFilter {
            created_from: from,
            created_until: until,
            ..PaymentFilter::default()
        };
        assert!(range(at(10), at(11)).contradictions().is_empty());
        assert!(range(at(10), None).contradictions().is_empty());
        assert!(range(None, at(10)).contradictions().is_empty());
        for (from, until) in [(10, 10), (11, 10)] {
            let contradictions = range(at(from), at(until)).contradictions();
            assert_eq!(contradictions.len(), 1);
            assert_eq!(contradictions[0].0, PaymentFilterField::CreatedUntil);
        }
    }
}
