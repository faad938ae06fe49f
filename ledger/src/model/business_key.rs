//! The identity of a payment in the real world (semantics §1): the business
//! key, the originator that scopes its ids, and the reference by which a
//! status report or a return names a pain.001 original.

use std::fmt;

use super::ids::{text, AccountReference, Bic, IdError, MAX35_TEXT_LENGTH_MAX};

/// The ISO 20022 placeholder for an id the sender did not provide: it
/// identifies nothing, so it is treated as no id at all.
pub const ID_NOT_PROVIDED: &str = "NOTPROVIDED";

/// Who issued a payment's ids, and by what kind of identifier (semantics §1):
/// ids of different kinds never compare equal, and a bare name never
/// identifies an originator.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Originator {
    /// An agent or party by its BIC.
    Bic(Bic),
    /// A party by its LEI (ISO 17442).
    Lei(String),
    /// A party by its other identification (`OrgId/Othr/Id` or `PrvtId/Othr/Id`).
    OtherId(String),
    /// A pain.001 initiating party known by name only: its debtor account
    /// identifies it instead.
    DebtorAccount(AccountReference),
    /// A key stored before originators said their kind: read, never built.
    Unqualified(String),
}

impl Originator {
    pub fn bic(bic: Bic) -> Originator {
        Originator::Bic(bic)
    }

    /// A LEI: 20 upper-case letters or digits.
    pub fn lei(value: &str) -> Result<Originator, IdError> {
        if value.len() != 20
            || !value
                .bytes()
                .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
        {
            return Err(IdError::Lei {
                value: value.chars().take(24).collect(),
            });
        }
        Ok(Originator::Lei(value.to_owned()))
    }

    pub fn other_id(value: &str) -> Result<Originator, IdError> {
        text("originator's other id", value, MAX35_TEXT_LENGTH_MAX)?;
        Ok(Originator::OtherId(value.to_owned()))
    }

    pub fn debtor_account(account: AccountReference) -> Originator {
        Originator::DebtorAccount(account)
    }

    /// Parses the qualified form [`Originator::qualified`] writes
    /// (`bic:DEUTDEFFXXX`, `lei:…`, `id:…`, `acct:…`); a bare BIC is a BIC.
    pub fn parse_qualified(value: &str) -> Result<Originator, IdError> {
        let bad = || IdError::Originator {
            value: value.chars().take(64).collect(),
        };
        match value.split_once(':') {
            Some(("bic", bic)) => Ok(Originator::Bic(Bic::parse(bic)?)),
            Some(("lei", lei)) => Originator::lei(lei),
            Some(("id", id)) => Originator::other_id(id),
            Some(("acct", account)) => {
                Ok(Originator::DebtorAccount(AccountReference::parse(account)?))
            }
            _ => Bic::parse(value).map(Originator::Bic).map_err(|_| bad()),
        }
    }

    /// `kind:id`, the form in a business key's canonical text.
    pub fn qualified(&self) -> String {
        match self {
            Originator::Bic(bic) => format!("bic:{bic}"),
            Originator::Lei(lei) => format!("lei:{lei}"),
            Originator::OtherId(id) => format!("id:{id}"),
            Originator::DebtorAccount(account) => format!("acct:{account}"),
            Originator::Unqualified(text) => text.clone(),
        }
    }

    /// [`Originator::qualified`] for logs and traces: a debtor account
    /// shows only its last four characters, never the full account number.
    pub fn loggable(&self) -> String {
        match self {
            Originator::DebtorAccount(account) => {
                let text = account.as_str();
                let tail: String = text
                    .chars()
                    .skip(text.chars().count().saturating_sub(4))
                    .collect();
                format!("acct:…{tail}")
            }
            other => other.qualified(),
        }
    }

    fn from_stored(value: &str) -> Result<Originator, IdError> {
        match value.split_once(':') {
            Some(("bic" | "lei" | "id" | "acct", _)) => Originator::parse_qualified(value),
            _ => {
                text("originator", value, MAX35_TEXT_LENGTH_MAX)?;
                Ok(Originator::Unqualified(value.to_owned()))
            }
        }
    }
}

impl fmt::Debug for Originator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.qualified())
    }
}

impl fmt::Display for Originator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.qualified())
    }
}

/// The identity of one payment in the real world, taken from the message
/// content (semantics §1): the UETR when the message carries one, else the
/// originator with the instruction (or transaction) id and the end-to-end id,
/// else, when the message gives no id that identifies the transaction, the
/// originator with the message id and the transaction's position in it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum BusinessKey {
    Uetr(uuid::Uuid),
    Reference {
        originator: Originator,
        /// InstrId, or TxId where the message has no InstrId.
        instruction_id: Option<String>,
        end_to_end_id: Option<String>,
    },
    Message {
        originator: Originator,
        /// `GrpHdr/MsgId`.
        message_id: String,
        /// The transaction's 1-based position in the message.
        position: u64,
    },
    /// Not a payment's own key: a status report's or return's name for a
    /// pain.001 original, which the store resolves to the one payment that
    /// recorded this reference. Never stored as a payment's key.
    Instruction(InstructionReference),
}

/// How a status report or a return names a pain.001 transaction (semantics
/// §1, the project's decisions): the pain.001's `MsgId` with the
/// transaction's `InstrId` and `EndToEndId` (`OrgnlMsgId`, `OrgnlInstrId`,
/// `OrgnlEndToEndId`). A follow-up cannot name the pain.001's initiating
/// party, so the payment records this beside its business key, and the
/// follow-up finds it by this.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InstructionReference {
    message_id: String,
    instruction_id: Option<String>,
    end_to_end_id: Option<String>,
}

impl InstructionReference {
    /// `NOTPROVIDED` counts as no id; the message id is required, the ids
    /// may both be absent (then every id-less transaction of the message
    /// shares the reference, and a follow-up naming it is ambiguous).
    pub fn new(
        message_id: &str,
        instruction_id: Option<&str>,
        end_to_end_id: Option<&str>,
    ) -> Result<InstructionReference, IdError> {
        text("message id", message_id, MAX35_TEXT_LENGTH_MAX)?;
        Ok(InstructionReference {
            message_id: message_id.to_owned(),
            instruction_id: identifying_id("instruction id", instruction_id)?,
            end_to_end_id: identifying_id("end-to-end id", end_to_end_id)?,
        })
    }

    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    pub fn instruction_id(&self) -> Option<&str> {
        self.instruction_id.as_deref()
    }

    pub fn end_to_end_id(&self) -> Option<&str> {
        self.end_to_end_id.as_deref()
    }

    /// `ins:<len>:<MsgId><len>:<InstrId><len>:<EndToEndId>`, an absent id
    /// with length 0: the text stored in `payments.instruction_reference`.
    pub fn canonical(&self) -> String {
        let mut canonical = String::from("ins:");
        push_part(&mut canonical, &self.message_id);
        push_part(&mut canonical, self.instruction_id.as_deref().unwrap_or(""));
        push_part(&mut canonical, self.end_to_end_id.as_deref().unwrap_or(""));
        canonical
    }
}

impl fmt::Debug for InstructionReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

fn push_part(canonical: &mut String, value: &str) {
    canonical.push_str(&value.len().to_string());
    canonical.push(':');
    canonical.push_str(value);
}

/// An id of a business key: absent when empty or `NOTPROVIDED`.
fn identifying_id(what: &'static str, value: Option<&str>) -> Result<Option<String>, IdError> {
    match value {
        None | Some(ID_NOT_PROVIDED) => Ok(None),
        Some(value) => {
            text(what, value, MAX35_TEXT_LENGTH_MAX)?;
            Ok(Some(value.to_owned()))
        }
    }
}

impl BusinessKey {
    pub fn uetr(value: &str) -> Result<BusinessKey, IdError> {
        let uuid = uuid::Uuid::parse_str(value).map_err(|_| IdError::Uuid { what: "UETR" })?;
        Ok(BusinessKey::Uetr(uuid))
    }

    /// A key by the originator's ids. `NOTPROVIDED` counts as no id, and at
    /// least one of the two ids must identify something.
    pub fn reference(
        originator: Originator,
        instruction_id: Option<&str>,
        end_to_end_id: Option<&str>,
    ) -> Result<BusinessKey, IdError> {
        let instruction_id = identifying_id("instruction id", instruction_id)?;
        let end_to_end_id = identifying_id("end-to-end id", end_to_end_id)?;
        if instruction_id.is_none() && end_to_end_id.is_none() {
            return Err(IdError::Unidentified);
        }
        Ok(BusinessKey::Reference {
            originator,
            instruction_id,
            end_to_end_id,
        })
    }

    /// A key by the message that carried the transaction, for transactions
    /// with no id of their own.
    pub fn message(
        originator: Originator,
        message_id: &str,
        position: u64,
    ) -> Result<BusinessKey, IdError> {
        text("message id", message_id, MAX35_TEXT_LENGTH_MAX)?;
        if position == 0 {
            return Err(IdError::Empty { what: "position" });
        }
        Ok(BusinessKey::Message {
            originator,
            message_id: message_id.to_owned(),
            position,
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
        let (kind, mut rest) = canonical.split_once(':').ok_or_else(bad)?;
        let mut parts = Vec::with_capacity(3);
        for _ in 0..3 {
            let (length, tail) = rest.split_once(':').ok_or_else(bad)?;
            if length.is_empty() || (length.len() > 1 && length.starts_with('0')) {
                return Err(bad());
            }
            let length: usize = length.parse().map_err(|_| bad())?;
            let part = tail.get(..length).ok_or_else(bad)?;
            parts.push(part);
            rest = &tail[length..];
        }
        if !rest.is_empty() {
            return Err(bad());
        }
        fn id(part: &str) -> Option<&str> {
            (!part.is_empty()).then_some(part)
        }
        if kind == "ins" {
            let reference = InstructionReference::new(parts[0], id(parts[1]), id(parts[2]))?;
            return Ok(BusinessKey::Instruction(reference));
        }
        let originator = Originator::from_stored(parts[0])?;
        match kind {
            "ref" => {
                if parts[1] == ID_NOT_PROVIDED || parts[2] == ID_NOT_PROVIDED {
                    // Stored before NOTPROVIDED meant no id: kept as it was.
                    return Ok(BusinessKey::Reference {
                        originator,
                        instruction_id: id(parts[1]).map(str::to_owned),
                        end_to_end_id: id(parts[2]).map(str::to_owned),
                    });
                }
                BusinessKey::reference(originator, id(parts[1]), id(parts[2]))
            }
            "msg" => {
                let position: u64 = parts[2].parse().map_err(|_| bad())?;
                if position.to_string() != parts[2] {
                    return Err(bad());
                }
                BusinessKey::message(originator, parts[1], position)
            }
            _ => Err(bad()),
        }
    }

    /// The end-to-end id a `Reference` key carries; none for the others.
    pub fn end_to_end_id(&self) -> Option<&str> {
        match self {
            BusinessKey::Reference { end_to_end_id, .. } => end_to_end_id.as_deref(),
            _ => None,
        }
    }

    /// The instruction id (InstrId, or TxId where the message had none) a
    /// `Reference` key carries; none for the others.
    pub fn instruction_id(&self) -> Option<&str> {
        match self {
            BusinessKey::Reference { instruction_id, .. } => instruction_id.as_deref(),
            _ => None,
        }
    }

    /// The canonical text stored in the database's unique column. Components
    /// are length-prefixed (an absent id has length 0), so no choice of ids
    /// can make two keys collide.
    pub fn canonical(&self) -> String {
        self.render(Originator::qualified)
    }

    /// The canonical text for logs and traces: a debtor account that
    /// identifies the originator is shortened ([`Originator::loggable`]).
    pub fn loggable(&self) -> String {
        self.render(Originator::loggable)
    }

    fn render(&self, originator_text: fn(&Originator) -> String) -> String {
        let part = push_part;
        match self {
            BusinessKey::Uetr(uuid) => format!("uetr:{}", uuid.hyphenated()),
            BusinessKey::Reference {
                originator,
                instruction_id,
                end_to_end_id,
            } => {
                let mut canonical = String::from("ref:");
                part(&mut canonical, &originator_text(originator));
                part(&mut canonical, instruction_id.as_deref().unwrap_or(""));
                part(&mut canonical, end_to_end_id.as_deref().unwrap_or(""));
                canonical
            }
            BusinessKey::Message {
                originator,
                message_id,
                position,
            } => {
                let mut canonical = String::from("msg:");
                part(&mut canonical, &originator_text(originator));
                part(&mut canonical, message_id);
                part(&mut canonical, &position.to_string());
                canonical
            }
            BusinessKey::Instruction(reference) => reference.canonical(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bic(value: &str) -> Originator {
        Originator::bic(Bic::parse(value).unwrap())
    }

    #[test]
    fn a_key_shown_in_logs_never_carries_a_full_account_number() {
        let account = AccountReference::parse("DE89370400440532013000").unwrap();
        let key = BusinessKey::reference(
            Originator::debtor_account(account),
            Some("I-1"),
            Some("E-1"),
        )
        .unwrap();
        let logged = key.loggable();
        assert!(!logged.contains("DE89370400440532013000"), "{logged}");
        assert!(logged.contains("acct:…3000"), "{logged}");
        assert!(key.canonical().contains("DE89370400440532013000"));
        let by_bic = BusinessKey::reference(bic("BANKDEFF"), Some("I-1"), None).unwrap();
        assert_eq!(
            by_bic.loggable(),
            by_bic.canonical(),
            "only accounts are shortened"
        );
    }

    #[test]
    fn business_keys_built_from_different_ids_never_share_a_canonical_form() {
        let keys = [
            BusinessKey::reference(bic("BANKDEFF"), Some("AB"), Some("C")).unwrap(),
            BusinessKey::reference(bic("BANKDEFF"), Some("A"), Some("BC")).unwrap(),
            BusinessKey::reference(bic("BANKDEFF"), None, Some("ABC")).unwrap(),
            BusinessKey::reference(bic("BANKDEFF"), Some("ABC"), None).unwrap(),
            BusinessKey::reference(
                Originator::other_id("BANKDEFF").unwrap(),
                Some("A"),
                Some("BC"),
            )
            .unwrap(),
            BusinessKey::message(bic("BANKDEFF"), "A", 1).unwrap(),
            BusinessKey::message(bic("BANKDEFF"), "A", 11).unwrap(),
            BusinessKey::uetr("eb6305c9-1f7f-49de-aed0-16487c27b42d").unwrap(),
        ];
        let canonical: std::collections::HashSet<String> =
            keys.iter().map(BusinessKey::canonical).collect();
        assert_eq!(canonical.len(), keys.len());
        for key in &keys {
            assert_eq!(&BusinessKey::from_canonical(&key.canonical()).unwrap(), key);
        }
        assert_eq!(
            keys[0].canonical(),
            "ref:12:bic:BANKDEFF2:AB1:C",
            "the originator says its kind"
        );
        assert_eq!(keys[2].canonical(), "ref:12:bic:BANKDEFF0:3:ABC");
        assert_eq!(keys[5].canonical(), "msg:12:bic:BANKDEFF1:A1:1");
        assert_eq!(
            keys[7].canonical(),
            "uetr:eb6305c9-1f7f-49de-aed0-16487c27b42d"
        );
        for bad in [
            "",
            "ref:",
            "ref:2:AB1:C1:",
            "ref:2:AB1:C1:DX",
            "ref:9:AB1:C1:D",
            "ref:12:bic:BANKDEFF0:0:",
            "ref:12:bic:BANKDEFF01:A1:C",
            "msg:12:bic:BANKDEFF1:A1:0",
            "msg:12:bic:BANKDEFF1:A2:01",
            "msg:12:bic:BANKDEFF1:A1:x",
            "ref:9:bic:bankx1:A1:C",
            "uetr:x",
            "xyz",
        ] {
            assert!(BusinessKey::from_canonical(bad).is_err(), "{bad}");
        }
        assert!(BusinessKey::uetr("not-a-uuid").is_err());
        assert!(BusinessKey::reference(bic("BANKDEFF"), Some(&"y".repeat(36)), None).is_err());
        assert!(BusinessKey::message(bic("BANKDEFF"), "", 1).is_err());
    }

    #[test]
    fn keys_stored_before_originators_said_their_kind_are_still_read() {
        let key = BusinessKey::from_canonical("ref:11:DEMOBANKXXX6:DEMO-111:NOTPROVIDED").unwrap();
        assert_eq!(
            key,
            BusinessKey::Reference {
                originator: Originator::Unqualified("DEMOBANKXXX".to_owned()),
                instruction_id: Some("DEMO-1".to_owned()),
                end_to_end_id: Some("NOTPROVIDED".to_owned()),
            }
        );
        assert_eq!(key.canonical(), "ref:11:DEMOBANKXXX6:DEMO-111:NOTPROVIDED");
    }

    #[test]
    fn notprovided_is_no_id_and_a_key_needs_at_least_one_id() {
        assert_eq!(
            BusinessKey::reference(bic("BANKDEFF"), Some("I-1"), Some(ID_NOT_PROVIDED)).unwrap(),
            BusinessKey::reference(bic("BANKDEFF"), Some("I-1"), None).unwrap()
        );
        assert_eq!(
            BusinessKey::reference(
                bic("BANKDEFF"),
                Some(ID_NOT_PROVIDED),
                Some(ID_NOT_PROVIDED)
            ),
            Err(IdError::Unidentified)
        );
        assert_eq!(
            BusinessKey::reference(bic("BANKDEFF"), None, None),
            Err(IdError::Unidentified)
        );
    }

    #[test]
    fn originators_of_different_kinds_never_compare_equal() {
        let as_bic = bic("BANKDEFFXXX");
        let as_other = Originator::other_id("BANKDEFFXXX").unwrap();
        assert_ne!(as_bic, as_other);
        assert_ne!(
            BusinessKey::reference(as_bic, Some("I"), Some("E")).unwrap(),
            BusinessKey::reference(as_other, Some("I"), Some("E")).unwrap()
        );
        assert_eq!(
            Originator::parse_qualified("COBADEFFXXX").unwrap(),
            bic("COBADEFFXXX")
        );
        assert_eq!(
            Originator::parse_qualified("lei:5493001KJTIIGC8Y1R12").unwrap(),
            Originator::lei("5493001KJTIIGC8Y1R12").unwrap()
        );
        assert_eq!(
            Originator::parse_qualified("id:CUST-1").unwrap(),
            Originator::other_id("CUST-1").unwrap()
        );
        for bad in ["", "Acme Corp", "lei:SHORT", "bic:cobadeff", "name:Acme"] {
            assert!(Originator::parse_qualified(bad).is_err(), "{bad}");
        }
    }
}
