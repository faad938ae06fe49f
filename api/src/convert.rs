//! The edge between the ISO 20022 codec and the ledger: every transaction of
//! a parsed message becomes a domain [`PaymentMessage`] (semantics §1, §2, §5).
//! Written by hand, in one place, for the gRPC API and the file ingest alike.

use std::sync::Arc;

use iso20022::{
    Account, AccountId, Agent, CreditTransfer, GroupHeader, MessageFamily, MessageKind, Party,
    PaymentInfo, PaymentReturn, Transaction, TransactionStatus,
};
use ledger::model::{
    AccountReference, Amount, Bic, BusinessKey, Currency, InstructionReference, Originator,
    PartySide, PaymentInstruction, PaymentMessage, PaymentState, ReasonCode, ReturnId,
    ID_NOT_PROVIDED,
};

/// One thing wrong with a transaction, located by its path in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub description: String,
}

/// The path of a transaction's element in its document, for error reports.
/// `position` is 1-based, as the reader's `index` of a transaction is.
pub fn transaction_path(kind: &MessageKind, position: u64) -> String {
    match kind.family {
        MessageFamily::Pacs008 => format!("/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[{position}]"),
        MessageFamily::Pain001 => {
            format!("/Document/CstmrCdtTrfInitn/PmtInf/CdtTrfTxInf[{position}]")
        }
        MessageFamily::Pacs002 => format!("/Document/FIToFIPmtStsRpt/TxInfAndSts[{position}]"),
        MessageFamily::Pacs004 => format!("/Document/PmtRtr/TxInf[{position}]"),
        _ => format!("/Document/*[{position}]"),
    }
}

/// The paths of one message's transactions, in reading order: a pain.001
/// transaction is `PmtInf[k]/CdtTrfTxInf[j]`, counted per payment
/// information block as the reader and the schema count them; the others
/// are [`transaction_path`]. A block is told from the next by its shared
/// `PmtInf` value.
#[derive(Debug, Default)]
pub struct TransactionPaths {
    payment_info: Option<Arc<PaymentInfo>>,
    payment_info_ordinal: u64,
    payment_info_first_index: u64,
}

impl TransactionPaths {
    /// The path of `transaction`, the next one read of a message of `kind`.
    pub fn path_of(&mut self, kind: &MessageKind, transaction: &Transaction) -> String {
        match transaction {
            Transaction::CreditTransfer(transfer) if kind.family == MessageFamily::Pain001 => {
                let same_block = match (&transfer.payment_info, &self.payment_info) {
                    (Some(info), Some(current)) => Arc::ptr_eq(info, current),
                    _ => false,
                };
                if !same_block {
                    self.payment_info = transfer.payment_info.clone();
                    self.payment_info_ordinal += 1;
                    self.payment_info_first_index = transfer.index;
                }
                format!(
                    "/Document/CstmrCdtTrfInitn/PmtInf[{}]/CdtTrfTxInf[{}]",
                    self.payment_info_ordinal,
                    transfer.index + 1 - self.payment_info_first_index.min(transfer.index)
                )
            }
            Transaction::CreditTransfer(transfer) => transaction_path(kind, transfer.index),
            Transaction::TransactionStatus(status) => transaction_path(kind, status.index),
            Transaction::PaymentReturn(payment_return) => {
                transaction_path(kind, payment_return.index)
            }
            _ => "/Document".to_owned(),
        }
    }
}

/// Whether a message of this family can be submitted as payments.
pub fn is_payment_message(kind: &MessageKind) -> bool {
    matches!(
        kind.family,
        MessageFamily::Pacs008
            | MessageFamily::Pain001
            | MessageFamily::Pacs002
            | MessageFamily::Pacs004
    )
}

/// When a credit transfer settles: at once, or when a status report for it
/// says so (a hold: the funds are reserved until then; semantics §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    Immediate,
    OnConfirmation,
}

impl Settlement {
    /// A pain.001 is a customer's instruction, held until the clearing
    /// outcome is known; a pacs.008 is an interbank settlement.
    pub fn default_of(family: MessageFamily) -> Settlement {
        match family {
            MessageFamily::Pain001 => Settlement::OnConfirmation,
            _ => Settlement::Immediate,
        }
    }

    pub fn target_state(self) -> PaymentState {
        match self {
            Settlement::Immediate => PaymentState::Settled,
            Settlement::OnConfirmation => PaymentState::Pending,
        }
    }

    pub fn parse(text: &str) -> Option<Settlement> {
        match text {
            "immediate" => Some(Settlement::Immediate),
            "on-confirmation" => Some(Settlement::OnConfirmation),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Settlement::Immediate => "immediate",
            Settlement::OnConfirmation => "on-confirmation",
        }
    }
}

/// The message with the settlement chosen for it: a credit transfer (a
/// message with an instruction asserting PENDING or SETTLED) asserts the
/// state of `settlement`; any other message is returned as it is.
pub fn with_settlement(mut message: PaymentMessage, settlement: Settlement) -> PaymentMessage {
    let is_credit_transfer = message.instruction.is_some()
        && matches!(
            message.target_state,
            PaymentState::Pending | PaymentState::Settled
        );
    if is_credit_transfer {
        message.target_state = settlement.target_state();
    }
    message
}

/// Converts one transaction. `Ok(None)` for items that assert no payment
/// state (a pacs.002 group status). A credit transfer asserts the state of
/// its family's default settlement ([`Settlement::default_of`]).
pub fn payment_message(
    kind: &MessageKind,
    group: &GroupHeader,
    transaction: &Transaction,
) -> Result<Option<PaymentMessage>, Vec<FieldError>> {
    let path = TransactionPaths::default().path_of(kind, transaction);
    payment_message_at(kind, group, transaction, &path)
}

/// [`payment_message`] of a transaction at `path` (from [`TransactionPaths`]
/// over the whole message), which names its elements in errors.
pub fn payment_message_at(
    kind: &MessageKind,
    group: &GroupHeader,
    transaction: &Transaction,
    path: &str,
) -> Result<Option<PaymentMessage>, Vec<FieldError>> {
    match transaction {
        Transaction::CreditTransfer(transfer) => {
            credit_transfer(kind, group, transfer, path).map(Some)
        }
        Transaction::TransactionStatus(status) => transaction_status(group, status, path).map(Some),
        Transaction::PaymentReturn(payment_return) => {
            payment_return_message(group, payment_return, path).map(Some)
        }
        Transaction::GroupStatus(_) => Ok(None),
        _ => Err(vec![FieldError {
            path: "/Document".to_owned(),
            description: format!("{} is not a payment message", kind.id),
        }]),
    }
}

struct Errors {
    base: String,
    found: Vec<FieldError>,
}

impl Errors {
    fn at(path: &str) -> Errors {
        Errors {
            base: path.to_owned(),
            found: Vec::new(),
        }
    }

    fn push(&mut self, element: &str, description: impl Into<String>) {
        self.found.push(FieldError {
            path: format!("{}/{element}", self.base),
            description: description.into(),
        });
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        match value {
            Some(value) if self.found.is_empty() => Ok(value),
            _ => Err(self.found),
        }
    }
}

fn bic_of(agent: Option<&Agent>) -> Option<Bic> {
    agent
        .and_then(|agent| agent.bic.as_ref())
        .and_then(|bic| Bic::parse(bic.as_str()).ok())
}

/// The first BIC among agents in order of precedence: an agent given without
/// a BIC (by clearing member id or name only) does not hide the next one.
fn first_bic(agents: &[Option<&Agent>]) -> Option<Bic> {
    agents.iter().find_map(|agent| bic_of(*agent))
}

fn account_reference(account: Option<&Account>) -> Option<AccountReference> {
    let account = account?;
    let text = match &account.id {
        AccountId::Iban(iban) => iban.as_str().to_owned(),
        AccountId::Other(other) => other.clone(),
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    AccountReference::parse(&text).ok()
}

/// A party as an originator: by its BIC, LEI or other id, in that order.
/// A name identifies no one (two parties can share it), so a party known
/// only by name is no originator.
fn party_originator(party: Option<&Party>) -> Option<Originator> {
    let party = party?;
    if let Some(bic) = party
        .bic
        .as_ref()
        .and_then(|bic| Bic::parse(bic.as_str()).ok())
    {
        return Some(Originator::bic(bic));
    }
    if let Some(lei) = party
        .lei
        .as_deref()
        .and_then(|lei| Originator::lei(lei).ok())
    {
        return Some(lei);
    }
    party
        .other_id
        .as_deref()
        .and_then(|id| Originator::other_id(id).ok())
}

fn amount(errors: &mut Errors, element: &str, value: Option<iso20022::Amount>) -> Option<Amount> {
    let Some(value) = value else {
        errors.push(element, "the amount is missing");
        return None;
    };
    let currency = match Currency::parse(value.currency().as_str()) {
        Ok(currency) => currency,
        Err(error) => {
            errors.push(element, error.to_string());
            return None;
        }
    };
    match Amount::from_decimal(currency, value.value()) {
        Ok(amount) if !amount.is_zero() => Some(amount),
        Ok(_) => {
            errors.push(element, "the amount is zero");
            None
        }
        Err(error) => {
            errors.push(element, error.to_string());
            None
        }
    }
}

/// An id that identifies something: present, and not `NOTPROVIDED`.
fn identifying(id: Option<&str>) -> Option<&str> {
    id.filter(|id| *id != ID_NOT_PROVIDED)
}

/// What a transaction's business key is built from (semantics §1).
struct KeyParts<'a> {
    uetr: Option<&'a iso20022::Uetr>,
    originator: Option<Originator>,
    /// Where the originator comes from, to name in an error.
    originator_element: &'static str,
    /// InstrId, else TxId (each unless `NOTPROVIDED`).
    instruction_id: Option<&'a str>,
    end_to_end_id: Option<&'a str>,
    /// `(MsgId, position)`: the key of a transaction with no id of its own.
    /// `None` for follow-ups, which must name their original.
    message: Option<(&'a str, u64)>,
}

/// The business key (semantics §1): the UETR; else the originator with the
/// instruction (or transaction) id and the end-to-end id; else, for a
/// transaction that carries no id identifying it, the originator with the
/// message id and the transaction's position. Never a batch id
/// (`PmtInfId`): it is shared by every transaction of its block.
fn business_key(errors: &mut Errors, parts: KeyParts<'_>) -> Option<BusinessKey> {
    if let Some(uetr) = parts.uetr {
        return match BusinessKey::uetr(uetr.as_str()) {
            Ok(key) => Some(key),
            Err(error) => {
                errors.push("UETR", error.to_string());
                None
            }
        };
    }
    let Some(originator) = parts.originator else {
        errors.push(
            parts.originator_element,
            "no UETR, and no originator to scope the payment's ids by (a BIC, LEI or other id; \
             a name does not identify an originator)",
        );
        return None;
    };
    let instruction_id = identifying(parts.instruction_id);
    let end_to_end_id = identifying(parts.end_to_end_id);
    let key = match (instruction_id, end_to_end_id, parts.message) {
        (None, None, Some((message_id, position))) => {
            BusinessKey::message(originator, message_id, position)
        }
        (None, None, None) => {
            errors.push(
                "OrgnlEndToEndId",
                "names no original: no OrgnlUETR, and neither OrgnlInstrId, OrgnlTxId nor an \
                 OrgnlEndToEndId other than NOTPROVIDED",
            );
            return None;
        }
        (instruction_id, end_to_end_id, _) => {
            BusinessKey::reference(originator, instruction_id, end_to_end_id)
        }
    };
    match key {
        Ok(key) => Some(key),
        Err(error) => {
            errors.push("EndToEndId", error.to_string());
            None
        }
    }
}

/// pacs.008 and pain.001: a payment to settle, at once or on confirmation
/// (semantics §2).
fn credit_transfer(
    kind: &MessageKind,
    group: &GroupHeader,
    transfer: &CreditTransfer,
    path: &str,
) -> Result<PaymentMessage, Vec<FieldError>> {
    let mut errors = Errors::at(path);
    let info = transfer.payment_info.as_deref();
    let debtor_account = account_reference(
        transfer
            .debtor_account
            .as_ref()
            .or(info.and_then(|info| info.debtor_account.as_ref())),
    );
    // pain.001: the initiating party, or, when it is known by name only,
    // the debtor account it instructs from. pacs.008: the instructing agent.
    let (originator, originator_element) = match kind.family {
        MessageFamily::Pain001 => (
            party_originator(group.initiating_party.as_ref())
                .or_else(|| debtor_account.clone().map(Originator::debtor_account)),
            "/Document/CstmrCdtTrfInitn/GrpHdr/InitgPty",
        ),
        _ => (
            first_bic(&[
                transfer.instructing_agent.as_ref(),
                group.instructing_agent.as_ref(),
            ])
            .map(Originator::bic),
            "InstgAgt",
        ),
    };
    // How a status report or return will name a pain.001 transaction.
    let reference = match kind.family {
        MessageFamily::Pain001 => match InstructionReference::new(
            &group.message_id,
            transfer.instruction_id.as_deref(),
            Some(transfer.end_to_end_id.as_str()),
        ) {
            Ok(reference) => Some(reference),
            Err(error) => {
                errors.push("PmtId", error.to_string());
                None
            }
        },
        _ => None,
    };
    let key = business_key(
        &mut errors,
        KeyParts {
            uetr: transfer.uetr.as_ref(),
            originator,
            originator_element,
            instruction_id: identifying(transfer.instruction_id.as_deref())
                .or(identifying(transfer.transaction_id.as_deref())),
            end_to_end_id: Some(transfer.end_to_end_id.as_str()),
            message: Some((group.message_id.as_str(), transfer.index)),
        },
    );
    let element = match kind.family {
        MessageFamily::Pain001 => "Amt/InstdAmt",
        _ => "IntrBkSttlmAmt",
    };
    let amount = amount(&mut errors, element, transfer.amount());
    let debtor = PartySide {
        account: debtor_account,
        agent: first_bic(&[
            transfer.debtor_agent.as_ref(),
            info.and_then(|info| info.debtor_agent.as_ref()),
            transfer.instructing_agent.as_ref(),
            group.instructing_agent.as_ref(),
        ]),
    };
    let creditor = PartySide {
        account: account_reference(transfer.creditor_account.as_ref()),
        agent: first_bic(&[
            transfer.creditor_agent.as_ref(),
            transfer.instructed_agent.as_ref(),
            group.instructed_agent.as_ref(),
        ]),
    };
    let message = match (key, amount) {
        (Some(business_key), Some(amount)) => Some(PaymentMessage {
            business_key,
            target_state: Settlement::default_of(kind.family).target_state(),
            instruction: Some(PaymentInstruction {
                amount,
                debtor,
                creditor,
                reference,
            }),
            reason: None,
            returned_amount: None,
            return_id: None,
        }),
        _ => None,
    };
    errors.finish(message)
}

/// The state a pacs.002 transaction status asserts.
fn state_of_status(code: &str) -> Option<PaymentState> {
    match code {
        "ACSC" | "ACCC" => Some(PaymentState::Settled),
        "RJCT" => Some(PaymentState::Rejected),
        "PDNG" | "ACSP" | "ACTC" | "ACCP" | "ACWC" | "ACWP" | "ACFC" | "RCVD" => {
            Some(PaymentState::Pending)
        }
        _ => None,
    }
}

fn first_reason(reasons: &[iso20022::Reason]) -> Option<ReasonCode> {
    reasons
        .iter()
        .find_map(|reason| reason.code.as_deref())
        .and_then(|code| ReasonCode::parse(code).ok())
}

/// How a status report or a return names the original payment.
struct OriginalReferences<'a> {
    uetr: Option<&'a iso20022::Uetr>,
    /// `OrgnlMsgId` and `OrgnlMsgNmId`.
    message_id: Option<&'a str>,
    message_name_id: Option<&'a str>,
    instructed_agent: Option<&'a Agent>,
    instruction_id: Option<&'a str>,
    transaction_id: Option<&'a str>,
    end_to_end_id: Option<&'a str>,
}

/// The original payment's business key (semantics §1, the project's
/// decisions): by `OrgnlUETR` when given; else, for a pain.001 original
/// (`OrgnlMsgNmId` `pain.001.*`), by the reference it recorded
/// (`OrgnlMsgId`, `OrgnlInstrId`, `OrgnlEndToEndId`); else, for a pacs.008
/// original, by its instructing agent — a status report or a return travels
/// back to it, so it is this message's instructed agent — with
/// `OrgnlInstrId` (else `OrgnlTxId`) and `OrgnlEndToEndId`.
fn original_business_key(
    errors: &mut Errors,
    group: &GroupHeader,
    original: OriginalReferences<'_>,
) -> Option<BusinessKey> {
    let of_pain001 = original
        .message_name_id
        .is_some_and(|name| name.starts_with("pain.001"));
    if original.uetr.is_none() && of_pain001 {
        let Some(message_id) = original.message_id else {
            errors.push(
                "OrgnlGrpInf/OrgnlMsgId",
                "a pain.001 original without OrgnlUETR is named by its OrgnlMsgId, which is missing",
            );
            return None;
        };
        return match InstructionReference::new(
            message_id,
            original.instruction_id,
            original.end_to_end_id,
        ) {
            Ok(reference) => Some(BusinessKey::Instruction(reference)),
            Err(error) => {
                errors.push("OrgnlEndToEndId", error.to_string());
                None
            }
        };
    }
    let originator = first_bic(&[original.instructed_agent, group.instructed_agent.as_ref()])
        .map(Originator::bic);
    business_key(
        errors,
        KeyParts {
            uetr: original.uetr,
            originator,
            originator_element: "InstdAgt",
            instruction_id: identifying(original.instruction_id)
                .or(identifying(original.transaction_id)),
            end_to_end_id: original.end_to_end_id,
            message: None,
        },
    )
}

/// pacs.002: the state the original payment should be in.
fn transaction_status(
    group: &GroupHeader,
    status: &TransactionStatus,
    path: &str,
) -> Result<PaymentMessage, Vec<FieldError>> {
    let mut errors = Errors::at(path);
    let key = original_business_key(
        &mut errors,
        group,
        OriginalReferences {
            uetr: status.original_uetr.as_ref(),
            message_id: status.original_message_id.as_deref(),
            message_name_id: status.original_message_name_id.as_deref(),
            instructed_agent: status.instructed_agent.as_ref(),
            instruction_id: status.original_instruction_id.as_deref(),
            transaction_id: status.original_transaction_id.as_deref(),
            end_to_end_id: status.original_end_to_end_id.as_deref(),
        },
    );
    let target = match status.status.as_deref() {
        Some(code) => state_of_status(code).or_else(|| {
            errors.push(
                "TxSts",
                format!("status {code} asserts no payment state the ledger knows"),
            );
            None
        }),
        None => {
            errors.push("TxSts", "the transaction status is missing");
            None
        }
    };
    let message = match (key, target) {
        (Some(business_key), Some(target_state)) => Some(PaymentMessage {
            business_key,
            target_state,
            instruction: None,
            reason: (target_state == PaymentState::Rejected)
                .then(|| first_reason(&status.reasons))
                .flatten(),
            returned_amount: None,
            return_id: None,
        }),
        _ => None,
    };
    errors.finish(message)
}

/// pacs.004: the original payment is returned.
fn payment_return_message(
    group: &GroupHeader,
    payment_return: &PaymentReturn,
    path: &str,
) -> Result<PaymentMessage, Vec<FieldError>> {
    let mut errors = Errors::at(path);
    let key = original_business_key(
        &mut errors,
        group,
        OriginalReferences {
            uetr: payment_return.original_uetr.as_ref(),
            message_id: payment_return.original_message_id.as_deref(),
            message_name_id: payment_return.original_message_name_id.as_deref(),
            instructed_agent: payment_return.instructed_agent.as_ref(),
            instruction_id: payment_return.original_instruction_id.as_deref(),
            transaction_id: payment_return.original_transaction_id.as_deref(),
            end_to_end_id: payment_return.original_end_to_end_id.as_deref(),
        },
    );
    // The amount returned, which the ledger checks against what can be
    // returned (semantics §2).
    let returned_amount = amount(
        &mut errors,
        "RtrdIntrBkSttlmAmt",
        payment_return.returned_interbank_settlement_amount,
    );
    // Each return of a payment applies once under its id (semantics §2):
    // its RtrId, else its message and position, as re-sending a file is.
    let return_id = match payment_return
        .return_id
        .as_deref()
        .filter(|id| *id != ID_NOT_PROVIDED)
    {
        Some(id) => ReturnId::of_return_identification(id),
        None => ReturnId::of_message_position(&group.message_id, payment_return.index),
    };
    let return_id = return_id
        .map_err(|error| errors.push("RtrId", error.to_string()))
        .ok();
    let message = match (key, returned_amount, return_id) {
        (Some(business_key), Some(returned_amount), Some(return_id)) => Some(PaymentMessage {
            business_key,
            target_state: PaymentState::Returned,
            instruction: None,
            reason: first_reason(&payment_return.return_reasons),
            returned_amount: Some(returned_amount),
            return_id: Some(return_id),
        }),
        _ => None,
    };
    errors.finish(message)
}

#[cfg(test)]
mod tests {
    //! Real messages become the ledger messages the semantics say (§1, §2):
    //! the right business key, state and amounts.
    use super::*;

    fn sample(sample: &str) -> String {
        let path = format!(
            "{}/../../shared/iso20022/samples/{sample}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    fn messages_of(name: &str) -> Vec<PaymentMessage> {
        messages_of_document(&sample(name))
    }

    fn messages_of_document(document: &str) -> Vec<PaymentMessage> {
        let message = iso20022::parse_document(document.as_bytes()).expect("a valid document");
        message
            .transactions
            .iter()
            .filter_map(|transaction| {
                payment_message(&message.kind, &message.group_header, transaction)
                    .expect("convertible")
            })
            .collect()
    }

    #[test]
    fn a_pacs002_rejection_asserts_rejected_with_its_reason_for_the_original() {
        let messages = messages_of(
            "pacs.002/pacs.002.001.10__fednow20022-pr32__CustomerCreditTransfer_Scenario3_Step4_pacs.002_BankA_RJCT_AC04.xml",
        );
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].target_state, PaymentState::Rejected);
        assert_eq!(
            messages[0].reason.as_ref().map(ReasonCode::as_str),
            Some("AC04")
        );
        assert!(messages[0].instruction.is_none());
        assert!(
            messages[0]
                .business_key
                .canonical()
                .contains("Scenario03EtoEId001")
                || matches!(messages[0].business_key, BusinessKey::Uetr(_))
        );
    }

    const SEPA_PAIN001: &str = "pain.001/pain.001.001.03__sepa_king__pain.001.001.03.xml";
    const PACS004: &str = "pacs.004/pacs.004.001.09__cbpr-ur__pacs004_payment_return_sample.xml";

    const PACS004_RETURNED: &str =
        r#"<pacs:RtrdIntrBkSttlmAmt Ccy="GBP">125000</pacs:RtrdIntrBkSttlmAmt>"#;

    fn pacs004_returning(amount: &str, currency: &str) -> PaymentMessage {
        let document = sample(PACS004);
        assert!(document.contains(PACS004_RETURNED));
        let changed = document.replace(
            PACS004_RETURNED,
            &format!(
                r#"<pacs:RtrdIntrBkSttlmAmt Ccy="{currency}">{amount}</pacs:RtrdIntrBkSttlmAmt>"#
            ),
        );
        messages_of_document(&changed).remove(0)
    }

    #[test]
    fn a_pacs004_carries_the_amount_and_currency_it_returns() {
        let returned = |amount: &str, currency: &str| {
            pacs004_returning(amount, currency)
                .returned_amount
                .expect("a returned amount")
                .to_string()
        };
        assert_eq!(returned("125000", "GBP"), "125000.00 GBP");
        assert_eq!(returned("10.00", "EUR"), "10.00 EUR");
        assert_eq!(returned("10", "USD"), "10.00 USD");
    }

    #[test]
    fn returns_that_differ_only_in_their_amount_differ_in_their_fingerprint() {
        assert_ne!(
            pacs004_returning("125000", "GBP").fingerprint(),
            pacs004_returning("1.00", "GBP").fingerprint()
        );
        assert_ne!(
            pacs004_returning("125000", "GBP").fingerprint(),
            pacs004_returning("125000", "EUR").fingerprint()
        );
    }

    #[test]
    fn transactions_without_ids_of_one_payment_block_get_keys_of_their_own() {
        let document = sample(SEPA_PAIN001)
            .replace(
                "<EndToEndId>OriginatorID1234</EndToEndId>",
                "<EndToEndId>NOTPROVIDED</EndToEndId>",
            )
            .replace(
                "<EndToEndId>OriginatorID1235</EndToEndId>",
                "<EndToEndId>NOTPROVIDED</EndToEndId>",
            );
        let keys = canonical_keys(&messages_of_document(&document));
        // Keyed by the message and the position, never by PmtInfId; the
        // initiating party is known by name only, so its debtor account is
        // the originator.
        assert_eq!(
            keys,
            [
                "msg:27:acct:DE8720050000123456789015:Message-ID-47111:1",
                "msg:27:acct:DE8720050000123456789015:Message-ID-47111:2"
            ]
        );
        for key in &keys {
            assert!(!key.contains("Payment-Information-ID-4711"));
        }
    }

    fn canonical_keys(messages: &[PaymentMessage]) -> Vec<String> {
        messages
            .iter()
            .map(|message| message.business_key.canonical())
            .collect()
    }

    #[test]
    fn a_pain001_without_instruction_ids_is_keyed_by_its_end_to_end_ids_not_its_batch() {
        assert_eq!(
            canonical_keys(&messages_of(SEPA_PAIN001)),
            [
                "ref:27:acct:DE872005000012345678900:16:OriginatorID1234",
                "ref:27:acct:DE872005000012345678900:16:OriginatorID1235"
            ]
        );
    }

    #[test]
    fn an_initiating_party_with_an_id_is_the_originator_whatever_its_name() {
        let with_id = |id: &str| {
            let document = sample(SEPA_PAIN001).replace(
                "<Nm>Initiator Name</Nm>\n      </InitgPty>",
                &format!("<Nm>Initiator Name</Nm>\n        <Id><OrgId>{id}</OrgId></Id>\n      </InitgPty>"),
            );
            messages_of_document(&document)[0].business_key.canonical()
        };
        assert_eq!(
            with_id("<Othr><Id>CUST-42</Id></Othr>"),
            "ref:10:id:CUST-420:16:OriginatorID1234"
        );
        assert_eq!(
            with_id("<BICOrBEI>COBADEFFXXX</BICOrBEI>"),
            "ref:15:bic:COBADEFFXXX0:16:OriginatorID1234"
        );
        // An other id that reads like a BIC is still not the BIC.
        assert_ne!(
            with_id("<Othr><Id>COBADEFFXXX</Id></Othr>"),
            with_id("<BICOrBEI>COBADEFFXXX</BICOrBEI>")
        );
    }

    #[test]
    fn a_pacs004_asserts_returned_for_the_original_by_its_uetr() {
        let messages =
            messages_of("pacs.004/pacs.004.001.09__cbpr-ur__pacs004_payment_return_sample.xml");
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].target_state, PaymentState::Returned);
        assert_eq!(
            messages[0].business_key.canonical(),
            "uetr:c3d4e5f6-a7b8-4012-9def-123456789012"
        );
        assert!(messages[0].instruction.is_none());
    }

    #[test]
    fn a_pacs008_settles_with_its_amount_and_accounts() {
        let messages = messages_of("pacs.008/pacs.008.001.08__cbpr-ur__y2025_pacs.008.min.xml");
        assert_eq!(messages.len(), 1);
        let message = &messages[0];
        assert_eq!(message.target_state, PaymentState::Settled);
        assert_eq!(
            message.business_key.canonical(),
            "uetr:00000000-0000-4000-9a9f-b231a317421a"
        );
        let instruction = message.instruction.as_ref().unwrap();
        assert_eq!(instruction.amount.to_string(), "1000.00 EUR");
        // No accounts in this message: the sides are its agents (semantics §5).
        assert_eq!(
            instruction.debtor.agent.as_ref().map(Bic::as_str),
            Some("YZABGBKLXXX")
        );
        assert_eq!(
            instruction.creditor.agent.as_ref().map(Bic::as_str),
            Some("NOPQUSTUXXX")
        );
    }

    #[test]
    fn a_transaction_path_counts_from_one_as_the_reader_does() {
        let message = iso20022::parse_document(&std::fs::read(format!(
            "{}/../../shared/iso20022/samples/pacs.008/pacs.008.001.08__cbpr-ur__y2025_pacs.008.min.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap())
        .unwrap();
        let Transaction::CreditTransfer(first) = &message.transactions[0] else {
            panic!("a credit transfer");
        };
        assert_eq!(first.index, 1);
        assert_eq!(
            transaction_path(&message.kind, first.index),
            "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]"
        );
    }

    #[test]
    fn a_pain001_transaction_is_named_by_its_payment_information_block_and_its_place_in_it() {
        // Two PmtInf blocks, of one and two transactions.
        let message = iso20022::parse_document(
            sample("pain.001/pain.001.001.03.ch.02__sepa_king__pain.001.001.03.ch.02.xml")
                .as_bytes(),
        )
        .unwrap();
        let mut paths = TransactionPaths::default();
        let named: Vec<String> = message
            .transactions
            .iter()
            .map(|transaction| paths.path_of(&message.kind, transaction))
            .collect();
        let block = |ordinal: u32, position: u32| {
            format!("/Document/CstmrCdtTrfInitn/PmtInf[{ordinal}]/CdtTrfTxInf[{position}]")
        };
        assert_eq!(named, [block(1, 1), block(2, 1), block(2, 2)]);
    }

    #[test]
    fn statuses_map_to_the_states_the_semantics_name() {
        assert_eq!(state_of_status("ACSC"), Some(PaymentState::Settled));
        assert_eq!(state_of_status("ACCC"), Some(PaymentState::Settled));
        assert_eq!(state_of_status("RJCT"), Some(PaymentState::Rejected));
        assert_eq!(state_of_status("PDNG"), Some(PaymentState::Pending));
        assert_eq!(state_of_status("ACSP"), Some(PaymentState::Pending));
        assert_eq!(state_of_status("XXXX"), None);
    }
}
