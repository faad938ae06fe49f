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
    #[error("{value:?} is not a canonical business key (uetr:<uuid> or ref:<len>:<originator><len>:<instruction><len>:<end-to-end>)")]
    Canonical { value: String },
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

fn text(what: &'static str, value: &str, length_max: usize) -> Result<(), IdError> {
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
    /// How ISO 20022 messages name an account: an IBAN, or `Othr/Id`
    /// prefixed with its scheme (`BBAN:12345`). Unique per ledger account.
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

impl AccountReference {
    pub fn parse(value: &str) -> Result<AccountReference, IdError> {
        text("account reference", value, ACCOUNT_REFERENCE_LENGTH_MAX)?;
        if value.trim() != value {
            return Err(IdError::ControlCharacter {
                what: "account reference (leading or trailing space)",
                position: 0,
            });
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

/// The identity of one payment in the real world, taken from the message
/// content (semantics §1): the UETR when the message carries one, else the
/// originator with the instruction and end-to-end ids.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum BusinessKey {
    Uetr(uuid::Uuid),
    Reference {
        /// The instructing agent's BIC or the initiating party's id.
        originator: String,
        /// InstrId, or TxId where the message has no InstrId.
        instruction_id: String,
        end_to_end_id: String,
    },
}

impl BusinessKey {
    pub fn uetr(value: &str) -> Result<BusinessKey, IdError> {
        let uuid = uuid::Uuid::parse_str(value).map_err(|_| IdError::Uuid { what: "UETR" })?;
        Ok(BusinessKey::Uetr(uuid))
    }

    pub fn reference(
        originator: &str,
        instruction_id: &str,
        end_to_end_id: &str,
    ) -> Result<BusinessKey, IdError> {
        text("originator", originator, MAX35_TEXT_LENGTH_MAX)?;
        text("instruction id", instruction_id, MAX35_TEXT_LENGTH_MAX)?;
        text("end-to-end id", end_to_end_id, MAX35_TEXT_LENGTH_MAX)?;
        Ok(BusinessKey::Reference {
            originator: originator.to_owned(),
            instruction_id: instruction_id.to_owned(),
            end_to_end_id: end_to_end_id.to_owned(),
        })
    }

    /// Parses the text [`BusinessKey::canonical`] produces.
    pub fn from_canonical(canonical: &str) -> Result<BusinessKey, IdError> {
        let bad = || IdError::Canonical {
            value: canonical.chars().take(64).collect(),
        };
        if let Some(uetr) = canonical.strip_prefix("uetr:") {
            return BusinessKey::uetr(uetr);
        }
        let mut rest = canonical.strip_prefix("ref:").ok_or_else(bad)?;
        let mut parts = Vec::with_capacity(3);
        for _ in 0..3 {
            let (length, tail) = rest.split_once(':').ok_or_else(bad)?;
            let length: usize = length.parse().map_err(|_| bad())?;
            let part = tail.get(..length).ok_or_else(bad)?;
            parts.push(part);
            rest = &tail[length..];
        }
        if !rest.is_empty() {
            return Err(bad());
        }
        BusinessKey::reference(parts[0], parts[1], parts[2])
    }

    /// The canonical text stored in the database's unique column. Components
    /// are length-prefixed, so no choice of ids can make two keys collide.
    pub fn canonical(&self) -> String {
        match self {
            BusinessKey::Uetr(uuid) => format!("uetr:{}", uuid.hyphenated()),
            BusinessKey::Reference {
                originator,
                instruction_id,
                end_to_end_id,
            } => format!(
                "ref:{}:{originator}{}:{instruction_id}{}:{end_to_end_id}",
                originator.len(),
                instruction_id.len(),
                end_to_end_id.len()
            ),
        }
    }
}

impl fmt::Debug for BusinessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

impl fmt::Display for BusinessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
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
    //! Guards issue 2: malformed identifiers never reach the store.
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
    fn business_keys_built_from_different_ids_never_share_a_canonical_form() {
        let a = BusinessKey::reference("AB", "C", "D").unwrap();
        let b = BusinessKey::reference("A", "BC", "D").unwrap();
        assert_ne!(a.canonical(), b.canonical());
        for key in [&a, &b] {
            assert_eq!(&BusinessKey::from_canonical(&key.canonical()).unwrap(), key);
        }
        for bad in [
            "",
            "ref:",
            "ref:2:AB1:C1:",
            "ref:2:AB1:C1:DX",
            "ref:9:AB1:C1:D",
            "uetr:x",
            "xyz",
        ] {
            assert!(BusinessKey::from_canonical(bad).is_err(), "{bad}");
        }
        let uetr = BusinessKey::uetr("eb6305c9-1f7f-49de-aed0-16487c27b42d").unwrap();
        assert_eq!(
            BusinessKey::from_canonical(&uetr.canonical()).unwrap(),
            uetr
        );
        assert_eq!(
            uetr.canonical(),
            "uetr:eb6305c9-1f7f-49de-aed0-16487c27b42d"
        );
        assert!(BusinessKey::uetr("not-a-uuid").is_err());
        assert!(BusinessKey::reference("", "x", "y").is_err());
        assert!(BusinessKey::reference("x", &"y".repeat(36), "z").is_err());
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
        assert!(AccountReference::parse("BBAN:0001234").is_ok());
        assert!(AccountReference::parse("").is_err());
        assert!(AccountReference::parse(" DE89").is_err());
        assert!(AccountReference::parse("DE\u{0}89").is_err());
        assert!(AccountReference::parse(&"x".repeat(101)).is_err());
    }
}
