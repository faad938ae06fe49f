//! Identifiers as types: each is parsed once at the edge and cannot hold an
//! invalid value afterwards.

use std::fmt;

use sha2::{Digest, Sha256};

/// Longest idempotency key and client id accepted, in bytes (semantics §1).
pub const IDEMPOTENCY_KEY_LENGTH_MAX: usize = 255;
pub const CLIENT_ID_LENGTH_MAX: usize = 255;
/// Longest external account reference: `scheme:` (up to 35) plus an id (up to 34), with room.
pub const ACCOUNT_REFERENCE_LENGTH_MAX: usize = 100;
/// ISO 20022 `Max35Text`, the length of InstrId, EndToEndId, TxId and party ids.
pub const MAX35_TEXT_LENGTH_MAX: usize = 35;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is {length} characters long, longer than {length_max}")]
    TooLong {
        what: &'static str,
        length: usize,
        length_max: usize,
    },
    #[error("{what} contains a character outside printable ASCII at position {position}")]
    NotPrintableAscii { what: &'static str, position: usize },
    #[error("{what} contains a control character at position {position}")]
    ControlCharacter { what: &'static str, position: usize },
    #[error("{what} {value:?} does not match the BIC pattern")]
    BicPattern { what: &'static str, value: String },
    #[error("{what} is not a valid UUID")]
    Uuid { what: &'static str },
    #[error("{value:?} is not a canonical business key (uetr:<uuid>, ref:<len>:<originator><len>:<instruction><len>:<end-to-end> or msg:<len>:<originator><len>:<message id><len>:<position>)")]
    Canonical { value: String },
    #[error("{value:?} is not a LEI (20 upper-case letters or digits)")]
    Lei { value: String },
    #[error("{value:?} is not an originator (bic:<BIC>, lei:<LEI>, id:<other id>, acct:<account> or a bare BIC)")]
    Originator { value: String },
    #[error("neither an instruction or transaction id nor an end-to-end id identifies the payment (NOTPROVIDED is no id)")]
    Unidentified,
    #[error("a BIC is upper case: write {value}")]
    BicLowerCase { value: String },
    #[error("account reference {scheme}:{id} names a scheme; an account is its bare Othr/Id or IBAN: write {id}")]
    AccountScheme { scheme: String, id: String },
}

fn printable_ascii(what: &'static str, value: &str, length_max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    if value.len() > length_max {
        return Err(IdError::TooLong {
            what,
            length: value.len(),
            length_max,
        });
    }
    if let Some(position) = value
        .bytes()
        .position(|byte| !(0x20..=0x7e).contains(&byte))
    {
        return Err(IdError::NotPrintableAscii { what, position });
    }
    Ok(())
}

pub(super) fn text(what: &'static str, value: &str, length_max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    let length = value.chars().count();
    if length > length_max {
        return Err(IdError::TooLong {
            what,
            length,
            length_max,
        });
    }
    if let Some(position) = value.chars().position(char::is_control) {
        return Err(IdError::ControlCharacter { what, position });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// The authenticated client a request comes from; idempotency keys are scoped by it.
    ClientId
);
string_id!(
    /// One delivery attempt of a request, chosen by the client: 1-255 printable ASCII.
    IdempotencyKey
);
string_id!(
    /// How ISO 20022 messages name an account: an IBAN (upper case, no
    /// spaces), or the bare `Othr/Id` (`0001234`). Unique per ledger account.
    AccountReference
);
string_id!(
    /// A BIC (ISO 9362), 8 or 11 characters: `[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?`.
    Bic
);
string_id!(
    /// An ISO 20022 external status or return reason code (`AC04`, `AM04`, ...): 1-4 upper-case letters or digits.
    ReasonCode
);

impl ClientId {
    pub fn parse(value: &str) -> Result<ClientId, IdError> {
        printable_ascii("client id", value, CLIENT_ID_LENGTH_MAX)?;
        Ok(ClientId(value.to_owned()))
    }
}

impl IdempotencyKey {
    pub fn parse(value: &str) -> Result<IdempotencyKey, IdError> {
        printable_ascii("idempotency key", value, IDEMPOTENCY_KEY_LENGTH_MAX)?;
        Ok(IdempotencyKey(value.to_owned()))
    }
}

/// ISO 20022 `ExternalAccountIdentification1Code`s: a reference that starts
/// with one of these and a colon was written as `scheme:id`, a form the
/// ledger does not use (an account is its bare `Othr/Id`).
const ACCOUNT_SCHEME_CODES: [&str; 5] = ["AIIN", "BBAN", "BGNB", "CUID", "UPIC"];

/// IBAN length bounds (ISO 13616): country, check digits, up to 30 more.
const IBAN_LENGTH_MIN: usize = 15;
const IBAN_LENGTH_MAX: usize = 34;

/// Whether `compact` (no spaces, upper case) is an IBAN by its shape and its
/// ISO 7064 mod-97 check digits.
fn is_iban(compact: &str) -> bool {
    let bytes = compact.as_bytes();
    if !(IBAN_LENGTH_MIN..=IBAN_LENGTH_MAX).contains(&bytes.len())
        || !bytes[..2].iter().all(u8::is_ascii_uppercase)
        || !bytes[2..4].iter().all(u8::is_ascii_digit)
        || !bytes[4..].iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let mut remainder: u32 = 0;
    for &byte in bytes[4..].iter().chain(&bytes[..4]) {
        let value = if byte.is_ascii_digit() {
            u32::from(byte - b'0')
        } else {
            u32::from(byte - b'A') + 10
        };
        remainder = if value < 10 {
            (remainder * 10 + value) % 97
        } else {
            (remainder * 100 + value) % 97
        };
    }
    remainder == 1
}

impl AccountReference {
    /// The one canonical form of an account reference (semantics §5), for
    /// opening, showing, mapping and matching alike: an IBAN in upper case
    /// without spaces (`de89 3704 0044 0532 0130 00` is
    /// `DE89370400440532013000`); any other id exactly as `Othr/Id` carries
    /// it, without a scheme (`0001234`, not `BBAN:0001234`).
    pub fn parse(value: &str) -> Result<AccountReference, IdError> {
        text("account reference", value, ACCOUNT_REFERENCE_LENGTH_MAX)?;
        if value.trim() != value {
            return Err(IdError::ControlCharacter {
                what: "account reference (leading or trailing space)",
                position: 0,
            });
        }
        let compact: String = value
            .chars()
            .filter(|character| *character != ' ')
            .map(|character| character.to_ascii_uppercase())
            .collect();
        if is_iban(&compact) {
            return Ok(AccountReference(compact));
        }
        if let Some((scheme, id)) = value.split_once(':') {
            if ACCOUNT_SCHEME_CODES.contains(&scheme.to_ascii_uppercase().as_str()) {
                return Err(IdError::AccountScheme {
                    scheme: scheme.to_owned(),
                    id: id.chars().take(40).collect(),
                });
            }
        }
        Ok(AccountReference(value.to_owned()))
    }
}

impl Bic {
    pub fn parse(value: &str) -> Result<Bic, IdError> {
        let bytes = value.as_bytes();
        let upper = |byte: &u8| byte.is_ascii_uppercase();
        let upper_or_digit = |byte: &u8| byte.is_ascii_uppercase() || byte.is_ascii_digit();
        let valid = (bytes.len() == 8 || bytes.len() == 11)
            && bytes[..6].iter().all(upper)
            && (upper(&bytes[6]) || (b'2'..=b'9').contains(&bytes[6]))
            && upper_or_digit(&bytes[7])
            && bytes[7] != b'O'
            && bytes[8..].iter().all(upper_or_digit);
        if !valid {
            let upper = value.to_ascii_uppercase();
            if upper != value && Bic::parse(&upper).is_ok() {
                return Err(IdError::BicLowerCase { value: upper });
            }
            return Err(IdError::BicPattern {
                what: "BIC",
                value: value.chars().take(16).collect(),
            });
        }
        Ok(Bic(value.to_owned()))
    }
}

impl ReasonCode {
    pub fn parse(value: &str) -> Result<ReasonCode, IdError> {
        printable_ascii("reason code", value, 4)?;
        if !value
            .bytes()
            .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
        {
            return Err(IdError::NotPrintableAscii {
                what: "reason code",
                position: 0,
            });
        }
        Ok(ReasonCode(value.to_owned()))
    }
}

/// SHA-256 over a canonical encoding of what a request asked for (semantics §1).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestFingerprint([u8; 32]);

impl RequestFingerprint {
    /// Fingerprints a method name and the canonical bytes of its request. The
    /// method is part of the hash, so the same bytes sent to two methods differ.
    pub fn of(method: &str, canonical_request: &[u8]) -> RequestFingerprint {
        let mut hasher = Sha256::new();
        hasher.update((method.len() as u64).to_be_bytes());
        hasher.update(method.as_bytes());
        hasher.update(canonical_request);
        RequestFingerprint(hasher.finalize().into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> RequestFingerprint {
        RequestFingerprint(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RequestFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0[..8] {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("…")
    }
}

macro_rules! row_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

row_id!(
    /// A ledger account, as numbered by the database.
    AccountId
);
row_id!(
    /// A payment, as numbered by the database.
    PaymentId
);
row_id!(
    /// A transfer (one posting between two accounts), as numbered by the database.
    TransferId
);

#[cfg(test)]
mod tests {
    //! Malformed identifiers never reach the store.
    use super::*;

    #[test]
    fn idempotency_keys_must_be_1_to_255_printable_ascii_characters() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("3f1c0a2e-8d5b-4a8e-9f00-123456789abc").is_ok());
        assert_eq!(
            IdempotencyKey::parse(""),
            Err(IdError::Empty {
                what: "idempotency key"
            })
        );
        assert!(matches!(
            IdempotencyKey::parse(&"k".repeat(256)),
            Err(IdError::TooLong { length: 256, .. })
        ));
        assert!(matches!(
            IdempotencyKey::parse("key\n"),
            Err(IdError::NotPrintableAscii { position: 3, .. })
        ));
        assert!(matches!(
            IdempotencyKey::parse("clé"),
            Err(IdError::NotPrintableAscii { position: 2, .. })
        ));
    }

    #[test]
    fn bics_follow_the_iso_9362_pattern() {
        for valid in ["DEUTDEFF", "DEUTDEFF500", "NEDSZAJJXXX", "BOFAUS3N"] {
            assert!(Bic::parse(valid).is_ok(), "{valid}");
        }
        for invalid in [
            "DEUTDEF",
            "deutdeff",
            "DEUTDEFF5",
            "DEUT1EFF",
            "DEUTDE1F",
            "DEUTDEFO",
            "",
            "DEUTDEFF50X1",
        ] {
            assert!(Bic::parse(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn fingerprints_depend_on_the_method_and_the_request() {
        let a = RequestFingerprint::of("Submit", b"abc");
        assert_eq!(a, RequestFingerprint::of("Submit", b"abc"));
        assert_ne!(a, RequestFingerprint::of("Submit", b"abd"));
        assert_ne!(a, RequestFingerprint::of("Submi", b"tabc"));
    }

    #[test]
    fn account_references_refuse_blank_padded_and_control_characters() {
        assert!(AccountReference::parse("DE89370400440532013000").is_ok());
        assert!(AccountReference::parse("0001234").is_ok());
        assert!(AccountReference::parse("").is_err());
        assert!(AccountReference::parse(" DE89").is_err());
        assert!(AccountReference::parse("DE\u{0}89").is_err());
        assert!(AccountReference::parse(&"x".repeat(101)).is_err());
    }

    #[test]
    fn an_iban_has_one_form_whatever_its_case_and_spacing() {
        for written in [
            "DE89370400440532013000",
            "de89370400440532013000",
            "DE89 3704 0044 0532 0130 00",
            "de89 3704 0044 0532 0130 00",
        ] {
            assert_eq!(
                AccountReference::parse(written).unwrap().as_str(),
                "DE89370400440532013000",
                "{written}"
            );
        }
        assert_eq!(
            AccountReference::parse("fr14 2004 1010 0505 0001 3m02 606")
                .unwrap()
                .as_str(),
            "FR1420041010050500013M02606"
        );
    }

    #[test]
    fn other_ids_are_kept_as_written_and_a_scheme_prefix_is_refused_with_the_bare_form() {
        assert_eq!(
            AccountReference::parse("acct-0001234").unwrap().as_str(),
            "acct-0001234",
            "not an IBAN: case is kept"
        );
        assert_eq!(
            AccountReference::parse("de89 3704 0044 0532 0130 01")
                .unwrap()
                .as_str(),
            "de89 3704 0044 0532 0130 01",
            "wrong check digits: not an IBAN, kept as an other id"
        );
        let error = AccountReference::parse("BBAN:0001234").unwrap_err();
        assert_eq!(
            error.to_string(),
            "account reference BBAN:0001234 names a scheme; an account is its bare Othr/Id or \
             IBAN: write 0001234"
        );
        assert!(AccountReference::parse("bban:0001234").is_err());
        assert!(AccountReference::parse("LOCAL:0001234").is_ok());
    }

    #[test]
    fn a_lower_case_bic_is_refused_with_its_upper_case_form() {
        assert_eq!(
            Bic::parse("deutdeff").unwrap_err().to_string(),
            "a BIC is upper case: write DEUTDEFF"
        );
        assert!(matches!(
            Bic::parse("deut1eff"),
            Err(IdError::BicPattern { .. })
        ));
    }
}
