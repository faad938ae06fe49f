//! The edge between the ISO 20022 codec and the ledger: every transaction of
//! a parsed message becomes a domain [`PaymentMessage`] (semantics §1, §2, §5).
//! Written by hand, in one place, for the gRPC API and the file ingest alike.

use iso20022::{
    Account, AccountId, Agent, CreditTransfer, GroupHeader, MessageFamily, MessageKind, Party,
    PaymentReturn, Transaction, TransactionStatus,
};
use ledger::model::{
    AccountReference, Amount, Bic, BusinessKey, Currency, PartySide, PaymentInstruction,
    PaymentMessage, PaymentState, ReasonCode,
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

/// Converts one transaction. `Ok(None)` for items that assert no payment
/// state (a pacs.002 group status).
pub fn payment_message(
    kind: &MessageKind,
    group: &GroupHeader,
    transaction: &Transaction,
) -> Result<Option<PaymentMessage>, Vec<FieldError>> {
    match transaction {
        Transaction::CreditTransfer(transfer) => credit_transfer(kind, group, transfer).map(Some),
        Transaction::TransactionStatus(status) => transaction_status(kind, group, status).map(Some),
        Transaction::PaymentReturn(payment_return) => {
            payment_return_message(kind, group, payment_return).map(Some)
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
    fn new(kind: &MessageKind, index: u64) -> Errors {
        Errors {
            base: transaction_path(kind, index),
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

fn party_id(party: Option<&Party>) -> Option<String> {
    let party = party?;
    party
        .bic
        .as_ref()
        .map(|bic| bic.as_str().to_owned())
        .or_else(|| party.other_id.clone())
        .or_else(|| party.lei.clone())
        .or_else(|| party.name.clone())
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

/// The business key (semantics §1): the UETR, else the originator with the
/// instruction (or transaction) id and the end-to-end id.
fn business_key(
    errors: &mut Errors,
    uetr: Option<&iso20022::Uetr>,
    originator: Option<String>,
    instruction_id: Option<&str>,
    end_to_end_id: Option<&str>,
) -> Option<BusinessKey> {
    if let Some(uetr) = uetr {
        return match BusinessKey::uetr(uetr.as_str()) {
            Ok(key) => Some(key),
            Err(error) => {
                errors.push("UETR", error.to_string());
                None
            }
        };
    }
    let (Some(originator), Some(instruction_id), Some(end_to_end_id)) =
        (originator, instruction_id, end_to_end_id)
    else {
        errors.push(
            "UETR",
            "no UETR, and not all of originator, instruction or transaction id and end-to-end id \
             to identify the payment by",
        );
        return None;
    };
    match BusinessKey::reference(&originator, instruction_id, end_to_end_id) {
        Ok(key) => Some(key),
        Err(error) => {
            errors.push("EndToEndId", error.to_string());
            None
        }
    }
}

/// pacs.008 and pain.001: a payment to settle (semantics §2).
fn credit_transfer(
    kind: &MessageKind,
    group: &GroupHeader,
    transfer: &CreditTransfer,
) -> Result<PaymentMessage, Vec<FieldError>> {
    let mut errors = Errors::new(kind, transfer.index);
    let info = transfer.payment_info.as_deref();
    let originator = match kind.family {
        MessageFamily::Pain001 => party_id(group.initiating_party.as_ref()).or_else(|| {
            bic_of(info.and_then(|info| info.debtor_agent.as_ref())).map(|bic| bic.to_string())
        }),
        _ => first_bic(&[
            transfer.instructing_agent.as_ref(),
            group.instructing_agent.as_ref(),
        ])
        .map(|bic| bic.to_string()),
    };
    let instruction_id = transfer
        .instruction_id
        .as_deref()
        .or(transfer.transaction_id.as_deref())
        .or(info.map(|info| info.payment_info_id.as_str()));
    let key = business_key(
        &mut errors,
        transfer.uetr.as_ref(),
        originator,
        instruction_id,
        Some(transfer.end_to_end_id.as_str()),
    );
    let element = match kind.family {
        MessageFamily::Pain001 => "Amt/InstdAmt",
        _ => "IntrBkSttlmAmt",
    };
    let amount = amount(&mut errors, element, transfer.amount());
    let debtor = PartySide {
        account: account_reference(
            transfer
                .debtor_account
                .as_ref()
                .or(info.and_then(|info| info.debtor_account.as_ref())),
        ),
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
            target_state: PaymentState::Settled,
            instruction: Some(PaymentInstruction {
                amount,
                debtor,
                creditor,
            }),
            reason: None,
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
    instructed_agent: Option<&'a Agent>,
    instruction_id: Option<&'a str>,
    transaction_id: Option<&'a str>,
    end_to_end_id: Option<&'a str>,
}

/// The original payment's business key. A status report or a return travels
/// back to the original's instructing agent, so the original's originator is
/// this message's instructed agent.
fn original_business_key(
    errors: &mut Errors,
    group: &GroupHeader,
    original: OriginalReferences<'_>,
) -> Option<BusinessKey> {
    let originator = first_bic(&[original.instructed_agent, group.instructed_agent.as_ref()])
        .map(|bic| bic.to_string());
    business_key(
        errors,
        original.uetr,
        originator,
        original.instruction_id.or(original.transaction_id),
        original.end_to_end_id,
    )
}

/// pacs.002: the state the original payment should be in.
fn transaction_status(
    kind: &MessageKind,
    group: &GroupHeader,
    status: &TransactionStatus,
) -> Result<PaymentMessage, Vec<FieldError>> {
    let mut errors = Errors::new(kind, status.index);
    let key = original_business_key(
        &mut errors,
        group,
        OriginalReferences {
            uetr: status.original_uetr.as_ref(),
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
        }),
        _ => None,
    };
    errors.finish(message)
}

/// pacs.004: the original payment is returned.
fn payment_return_message(
    kind: &MessageKind,
    group: &GroupHeader,
    payment_return: &PaymentReturn,
) -> Result<PaymentMessage, Vec<FieldError>> {
    let mut errors = Errors::new(kind, payment_return.index);
    let key = original_business_key(
        &mut errors,
        group,
        OriginalReferences {
            uetr: payment_return.original_uetr.as_ref(),
            instructed_agent: payment_return.instructed_agent.as_ref(),
            instruction_id: payment_return.original_instruction_id.as_deref(),
            transaction_id: payment_return.original_transaction_id.as_deref(),
            end_to_end_id: payment_return.original_end_to_end_id.as_deref(),
        },
    );
    let message = key.map(|business_key| PaymentMessage {
        business_key,
        target_state: PaymentState::Returned,
        instruction: None,
        reason: first_reason(&payment_return.return_reasons),
    });
    errors.finish(message)
}

#[cfg(test)]
mod tests {
    //! Guards issue 4: real status reports and returns become the messages
    //! the semantics say (§2).
    use super::*;

    fn messages_of(sample: &str) -> Vec<PaymentMessage> {
        let path = format!(
            "{}/../../shared/iso20022/samples/{sample}",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        let message = iso20022::parse_document(&bytes).expect("a valid sample");
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
    fn statuses_map_to_the_states_the_semantics_name() {
        assert_eq!(state_of_status("ACSC"), Some(PaymentState::Settled));
        assert_eq!(state_of_status("ACCC"), Some(PaymentState::Settled));
        assert_eq!(state_of_status("RJCT"), Some(PaymentState::Rejected));
        assert_eq!(state_of_status("PDNG"), Some(PaymentState::Pending));
        assert_eq!(state_of_status("ACSP"), Some(PaymentState::Pending));
        assert_eq!(state_of_status("XXXX"), None);
    }
}
