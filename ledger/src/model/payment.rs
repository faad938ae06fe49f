//! Payments, the messages that assert their state, and the pure decision of
//! what applying a message posts (semantics §2 and §3).
//!
//! Nothing here does IO. The store reads the payment and its accounts inside a
//! transaction, calls [`decide`], and writes what it returns.

use std::fmt;

use super::account::{AccountSnapshot, BalanceDelta, Balances, OverdraftRule};
use super::business_key::{BusinessKey, InstructionReference};
use super::ids::{
    text, AccountId, AccountReference, Bic, IdError, PaymentId, ReasonCode, RequestFingerprint,
};
use super::money::Amount;
use super::scope::AccountScope;

/// Where a payment stands. "None" (the ledger has never seen it) is the absence
/// of a payment: `Option<PaymentState>`.
///
/// The order is partial: `PENDING < SETTLED < RETURNED` and `PENDING < REJECTED`;
/// SETTLED and RETURNED contradict REJECTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PaymentState {
    Pending,
    Settled,
    Rejected,
    Returned,
}

impl PaymentState {
    pub const ALL: [PaymentState; 4] = [
        PaymentState::Pending,
        PaymentState::Settled,
        PaymentState::Rejected,
        PaymentState::Returned,
    ];

    /// Whether `self` comes strictly after `earlier` in the state order.
    pub fn is_later_than(self, earlier: PaymentState) -> bool {
        use PaymentState::*;
        matches!(
            (earlier, self),
            (Pending, Settled) | (Pending, Returned) | (Settled, Returned) | (Pending, Rejected)
        )
    }

    /// Whether the two states are on different branches of the order: one of
    /// them rejected, the other settled (or settled and then returned).
    pub fn contradicts(self, other: PaymentState) -> bool {
        use PaymentState::*;
        matches!(
            (self, other),
            (Rejected, Settled) | (Rejected, Returned) | (Settled, Rejected) | (Returned, Rejected)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Pending => "PENDING",
            PaymentState::Settled => "SETTLED",
            PaymentState::Rejected => "REJECTED",
            PaymentState::Returned => "RETURNED",
        }
    }

    pub fn parse(value: &str) -> Option<PaymentState> {
        PaymentState::ALL
            .into_iter()
            .find(|state| state.as_str() == value)
    }

    /// The pacs.002 transaction status that confirms a move into this state.
    pub fn confirmation_status(self) -> ConfirmationStatus {
        match self {
            PaymentState::Pending => ConfirmationStatus::Pending,
            PaymentState::Settled | PaymentState::Returned => ConfirmationStatus::Settled,
            PaymentState::Rejected => ConfirmationStatus::Rejected,
        }
    }
}

impl fmt::Display for PaymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ISO 20022 transaction status a confirmation carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmationStatus {
    /// `PDNG`
    Pending,
    /// `ACSC`: accepted, settlement completed (a return settles too).
    Settled,
    /// `RJCT`
    Rejected,
}

impl ConfirmationStatus {
    pub fn code(self) -> &'static str {
        match self {
            ConfirmationStatus::Pending => "PDNG",
            ConfirmationStatus::Settled => "ACSC",
            ConfirmationStatus::Rejected => "RJCT",
        }
    }
}

/// One side of a payment as a message names it (semantics §5): the account,
/// and the agent that services it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartySide {
    pub account: Option<AccountReference>,
    pub agent: Option<Bic>,
}

/// What a payment moves, from whom to whom: present in messages that can
/// create a payment (pacs.008, pain.001), optional in status and return messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInstruction {
    pub amount: Amount,
    pub debtor: PartySide,
    pub creditor: PartySide,
    /// For a pain.001 transaction: how its status reports and returns will
    /// name it, recorded with the payment it creates.
    pub reference: Option<InstructionReference>,
}

/// A message asserting the state a payment should be in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMessage {
    pub business_key: BusinessKey,
    pub target_state: PaymentState,
    pub instruction: Option<PaymentInstruction>,
    /// For a rejection or a return: the ISO 20022 reason code it carries.
    pub reason: Option<ReasonCode>,
    /// For a return: the amount it returns (pacs.004 `RtrdIntrBkSttlmAmt`),
    /// in the payment's currency, at most what is left to return; `None`
    /// returns the payment's whole amount.
    pub returned_amount: Option<Amount>,
    /// For a return: the id it is applied once under (pacs.004 `RtrId`, else
    /// its message and position); `None` is [`ReturnId::unnamed`].
    pub return_id: Option<ReturnId>,
}

/// Longest id a pacs.004 names a return by (`RtrId`, `MsgId`: `Max35Text`,
/// with room).
pub const RETURN_ID_PART_LENGTH_MAX: usize = 140;

/// Identifies one return of one payment (semantics §2): several returns of a
/// payment are allowed, each applied once under its id. Canonical text:
/// `rtr:<RtrId>`; `msg:<len>:<MsgId><len>:<position>` for a pacs.004
/// transaction without `RtrId`; `unnamed` for a return that names no id (at
/// most one per payment; the returns recorded before returns had ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReturnId(String);

impl ReturnId {
    const UNNAMED: &'static str = "unnamed";

    /// The return a pacs.004 `RtrId` names.
    pub fn of_return_identification(return_identification: &str) -> Result<ReturnId, IdError> {
        text(
            "return id",
            return_identification,
            RETURN_ID_PART_LENGTH_MAX,
        )?;
        Ok(ReturnId(format!("rtr:{return_identification}")))
    }

    /// The return of a pacs.004 transaction without `RtrId`: its message's
    /// `MsgId` and its 1-based position in the message.
    pub fn of_message_position(message_id: &str, position: u64) -> Result<ReturnId, IdError> {
        text("message id", message_id, RETURN_ID_PART_LENGTH_MAX)?;
        let position = position.to_string();
        Ok(ReturnId(format!(
            "msg:{}:{message_id}{}:{position}",
            message_id.len(),
            position.len()
        )))
    }

    /// The return of a message that names none.
    pub fn unnamed() -> ReturnId {
        ReturnId(ReturnId::UNNAMED.to_owned())
    }

    /// Re-reads a canonical text the store holds.
    pub fn from_canonical(canonical: &str) -> Result<ReturnId, IdError> {
        text("return id", canonical, 2 * RETURN_ID_PART_LENGTH_MAX + 20)?;
        let well_formed = canonical == ReturnId::UNNAMED
            || canonical
                .strip_prefix("rtr:")
                .is_some_and(|id| !id.is_empty())
            || canonical
                .strip_prefix("msg:")
                .is_some_and(|id| !id.is_empty());
        if !well_formed {
            return Err(IdError::Canonical {
                value: canonical.to_owned(),
            });
        }
        Ok(ReturnId(canonical.to_owned()))
    }

    pub fn canonical(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReturnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One return applied to a payment: its id and the amount it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedReturn {
    pub return_id: ReturnId,
    pub amount: Amount,
}

impl PaymentMessage {
    /// The fingerprint of applying this message (semantics §1): SHA-256 over
    /// a canonical, length-prefixed encoding of every field.
    pub fn fingerprint(&self) -> RequestFingerprint {
        PaymentMessage::fingerprint_of_all(std::slice::from_ref(self))
    }

    /// The fingerprint of applying `messages` together, in this order.
    pub fn fingerprint_of_all(messages: &[PaymentMessage]) -> RequestFingerprint {
        let mut canonical = Vec::with_capacity(256 * messages.len());
        for message in messages {
            message.write_canonical(&mut canonical);
        }
        RequestFingerprint::of("ledger.ApplyPaymentMessages", &canonical)
    }

    fn write_canonical(&self, canonical: &mut Vec<u8>) {
        // Absent fields are written as NUL, which no present field can hold
        // (references, BICs and reason codes refuse control characters).
        const ABSENT: &str = "\u{0}";
        let mut field = |value: &str| {
            canonical.extend_from_slice(&(value.len() as u32).to_be_bytes());
            canonical.extend_from_slice(value.as_bytes());
        };
        field(&self.business_key.canonical());
        field(self.target_state.as_str());
        match &self.instruction {
            None => field(ABSENT),
            Some(instruction) => {
                field(&instruction.amount.minor_units().to_string());
                field(instruction.amount.currency().code());
                for side in [&instruction.debtor, &instruction.creditor] {
                    field(
                        side.account
                            .as_ref()
                            .map_or(ABSENT, AccountReference::as_str),
                    );
                    field(side.agent.as_ref().map_or(ABSENT, Bic::as_str));
                }
            }
        }
        field(self.reason.as_ref().map_or(ABSENT, ReasonCode::as_str));
        // Written only when present, so that a message without it keeps the
        // fingerprint it always had. No business key's canonical text is
        // this marker, so the next message's fields cannot be mistaken for it.
        if let Some(amount) = &self.returned_amount {
            field("returned_amount");
            field(&amount.minor_units().to_string());
            field(amount.currency().code());
        }
        if let Some(return_id) = &self.return_id {
            field("return_id");
            field(return_id.canonical());
        }
        if let Some(reference) = self
            .instruction
            .as_ref()
            .and_then(|instruction| instruction.reference.as_ref())
        {
            field("instruction_reference");
            field(&reference.canonical());
        }
    }
}

/// The ISO 20022 message a request came in, so that confirmations can name
/// it (pacs.002 `OrgnlGrpInf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentOrigin {
    /// `GrpHdr/MsgId`.
    pub message_id: String,
    /// The message definition, e.g. `pacs.008.001.08`.
    pub message_name_id: String,
}

/// A payment as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub payment_id: PaymentId,
    pub business_key: BusinessKey,
    pub state: PaymentState,
    pub amount: Amount,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    /// What its returns returned so far, in its currency: zero unless
    /// SETTLED (partly returned) or RETURNED (all of it).
    pub amount_returned: Amount,
}

/// How a transfer moves balances (TigerBeetle's vocabulary: a *pending*
/// transfer reserves, and is later *posted* or *voided*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransferKind {
    /// Reserves: debits_pending and credits_pending grow.
    Pending,
    /// Posts in one step: debits_posted and credits_posted grow.
    Posted,
    /// Posts an earlier pending transfer: pending shrinks, posted grows.
    PostPending,
    /// Voids an earlier pending transfer: pending shrinks.
    VoidPending,
    /// Moves a settled amount back, creditor to debtor, for a return.
    Reversal,
}

impl TransferKind {
    pub const ALL: [TransferKind; 5] = [
        TransferKind::Pending,
        TransferKind::Posted,
        TransferKind::PostPending,
        TransferKind::VoidPending,
        TransferKind::Reversal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Pending => "PENDING",
            TransferKind::Posted => "POSTED",
            TransferKind::PostPending => "POST_PENDING",
            TransferKind::VoidPending => "VOID_PENDING",
            TransferKind::Reversal => "REVERSAL",
        }
    }

    pub fn parse(value: &str) -> Option<TransferKind> {
        TransferKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }

    /// The change this transfer makes to its debit account's balances (the
    /// credit account's change mirrors it: debits become credits).
    pub fn delta(self, amount_minor: i64) -> BalanceDelta {
        let a = amount_minor;
        match self {
            TransferKind::Pending => BalanceDelta {
                pending: a,
                posted: 0,
            },
            TransferKind::Posted | TransferKind::Reversal => BalanceDelta {
                pending: 0,
                posted: a,
            },
            TransferKind::PostPending => BalanceDelta {
                pending: -a,
                posted: a,
            },
            TransferKind::VoidPending => BalanceDelta {
                pending: -a,
                posted: 0,
            },
        }
    }
}

/// A transfer the decision asks the store to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTransfer {
    pub kind: TransferKind,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    pub amount: Amount,
}

/// Why a well-formed message was refused. Stable codes, the API's reason strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectionReason {
    /// A side maps to no account: not held, no settlement account for its
    /// agent, no default clearing account. Names what was looked for.
    AccountNotFound { references: Vec<String> },
    /// The amount's currency differs from an account's currency.
    CurrencyMismatch,
    /// Both sides resolve to the same account.
    SameAccount,
    /// The debit would take an account that forbids overdraft below zero.
    InsufficientFunds { account_id: AccountId },
    /// The business key names a payment with other content.
    BusinessKeyConflict,
    /// The message contradicts a terminal state the payment already has.
    StateConflict {
        current: PaymentState,
        requested: PaymentState,
    },
    /// The message needs a payment the ledger has never seen. Transient: the
    /// refusal is not stored, so a retry under the same key applies once the
    /// original has arrived.
    OriginalNotFound,
    /// A balance would exceed what the ledger can represent.
    BalanceLimitExceeded { account_id: AccountId },
    /// A return's amount is in another currency than the payment's.
    ReturnCurrencyMismatch,
    /// A status report or return names a pain.001 transaction by a
    /// reference that several payments recorded: it is not guessed.
    OriginalAmbiguous,
    /// A return of nothing (an amount of zero).
    ReturnAmountMismatch,
    /// A return asks for more than what is left to return of the payment
    /// (its amount less what earlier returns returned). Stored; nothing posted.
    ReturnExceedsRemaining,
    /// A return id already applied to the payment with another amount.
    /// Stored and recorded for the audit; nothing posted.
    ReturnIdConflict,
    /// Another message of the same request was refused transiently
    /// (`ORIGINAL_NOT_FOUND`): a request applies all of its messages or none,
    /// so nothing of it was applied. Transient like the refusal that caused it.
    RequestNotApplied,
    /// The message would debit an account outside the submitting client's
    /// scope. Stored under the key like other refusals; nothing posted.
    DebitAccountOutOfScope { account_id: AccountId },
}

impl RejectionReason {
    pub fn code(&self) -> &'static str {
        match self {
            RejectionReason::AccountNotFound { .. } => "ACCOUNT_NOT_FOUND",
            RejectionReason::CurrencyMismatch => "CURRENCY_MISMATCH",
            RejectionReason::SameAccount => "SAME_ACCOUNT",
            RejectionReason::InsufficientFunds { .. } => "INSUFFICIENT_FUNDS",
            RejectionReason::BusinessKeyConflict => "BUSINESS_KEY_CONFLICT",
            RejectionReason::StateConflict { .. } => "STATE_CONFLICT",
            RejectionReason::OriginalNotFound => "ORIGINAL_NOT_FOUND",
            RejectionReason::BalanceLimitExceeded { .. } => "BALANCE_LIMIT_EXCEEDED",
            RejectionReason::ReturnCurrencyMismatch => "RETURN_CURRENCY_MISMATCH",
            RejectionReason::OriginalAmbiguous => "ORIGINAL_AMBIGUOUS",
            RejectionReason::ReturnAmountMismatch => "RETURN_AMOUNT_MISMATCH",
            RejectionReason::ReturnExceedsRemaining => "RETURN_EXCEEDS_REMAINING",
            RejectionReason::ReturnIdConflict => "RETURN_ID_CONFLICT",
            RejectionReason::RequestNotApplied => "REQUEST_NOT_APPLIED",
            RejectionReason::DebitAccountOutOfScope { .. } => "DEBIT_ACCOUNT_OUT_OF_SCOPE",
        }
    }

    /// A transient refusal is not stored under the idempotency key.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RejectionReason::OriginalNotFound | RejectionReason::RequestNotApplied
        )
    }

    /// Refusals the reconciliation audit must see (semantics §1, §2).
    pub fn is_flagged_for_audit(&self) -> bool {
        matches!(
            self,
            RejectionReason::BusinessKeyConflict
                | RejectionReason::StateConflict { .. }
                | RejectionReason::DebitAccountOutOfScope { .. }
                | RejectionReason::ReturnIdConflict
        )
    }

    pub fn message(&self) -> String {
        match self {
            RejectionReason::AccountNotFound { references } => {
                format!("no account for {}", references.join(", "))
            }
            RejectionReason::CurrencyMismatch => {
                "the amount's currency differs from an account's currency".to_owned()
            }
            RejectionReason::SameAccount => "debtor and creditor are the same account".to_owned(),
            RejectionReason::InsufficientFunds { account_id } => {
                format!("account {account_id} forbids overdraft and lacks the funds")
            }
            RejectionReason::BusinessKeyConflict => {
                "a payment with this business key exists with other content".to_owned()
            }
            RejectionReason::StateConflict { current, requested } => {
                format!("the payment is {current}; {requested} contradicts it")
            }
            RejectionReason::OriginalNotFound => {
                "the payment this message refers to is not in the ledger (yet)".to_owned()
            }
            RejectionReason::BalanceLimitExceeded { account_id } => {
                format!("a balance of account {account_id} would exceed the ledger's limit")
            }
            RejectionReason::ReturnCurrencyMismatch => {
                "the returned amount's currency differs from the payment's currency".to_owned()
            }
            RejectionReason::OriginalAmbiguous => {
                "several payments match the original this message names (OrgnlMsgId, \
                 OrgnlInstrId, OrgnlEndToEndId); name it by its UETR"
                    .to_owned()
            }
            RejectionReason::ReturnAmountMismatch => "the returned amount is zero".to_owned(),
            RejectionReason::ReturnExceedsRemaining => {
                "the returned amount exceeds what is left to return of the payment".to_owned()
            }
            RejectionReason::ReturnIdConflict => {
                "a return with this id was applied to the payment with another amount".to_owned()
            }
            RejectionReason::RequestNotApplied => {
                "another transaction of this request was refused transiently; nothing of the \
                 request was applied, retry it under the same idempotency key"
                    .to_owned()
            }
            RejectionReason::DebitAccountOutOfScope { account_id } => {
                format!("account {account_id} is outside the accounts this client may debit")
            }
        }
    }
}

/// The outcome of applying one message (semantics §1, §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The payment moved to the message's state; transfers were posted.
    Applied,
    /// The message asserts the payment's current or an earlier state.
    AlreadyApplied,
    /// A resubmission of the message that created the payment's current state.
    Duplicate,
    /// Refused; nothing posted.
    Rejected(RejectionReason),
}

impl Outcome {
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Applied => "APPLIED",
            Outcome::AlreadyApplied => "ALREADY_APPLIED",
            Outcome::Duplicate => "DUPLICATE",
            Outcome::Rejected(_) => "REJECTED",
        }
    }
}

/// A state change the store must write: the payment row, the transfers, the
/// balance updates and one outbox row, all in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub from: Option<PaymentState>,
    pub to: PaymentState,
    pub transfers: Vec<PlannedTransfer>,
    /// The new balances of the accounts involved, overdraft rules checked.
    pub balances_after: Vec<(AccountId, Balances)>,
    /// The return this change applies, whose `REVERSAL` is among `transfers`.
    pub recorded_return: Option<RecordedReturn>,
}

impl StateChange {
    /// Whether the payment's state moves (and an outbox row is written): a
    /// partial return of a SETTLED payment posts without moving it.
    pub fn moves_state(&self) -> bool {
        self.from != Some(self.to)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// Present exactly when `outcome` is `Applied`.
    pub change: Option<StateChange>,
}

impl Decision {
    fn unchanged(outcome: Outcome) -> Decision {
        debug_assert!(outcome != Outcome::Applied);
        Decision {
            outcome,
            change: None,
        }
    }

    fn rejected(reason: RejectionReason) -> Decision {
        Decision::unchanged(Outcome::Rejected(reason))
    }
}

/// The accounts a message's sides resolved to (semantics §5), or the
/// references that resolved to nothing.
pub type ResolvedSides = Result<(AccountSnapshot, AccountSnapshot), Vec<String>>;

/// Everything [`decide`] looks at, read by the store in the transaction.
#[derive(Debug, Clone)]
pub struct DecisionInput<'a> {
    pub message: &'a PaymentMessage,
    /// The payment under the message's business key, if the ledger has it.
    pub payment: Option<&'a Payment>,
    /// The accounts of the existing payment (debit, credit), when it exists.
    pub payment_accounts: Option<(&'a AccountSnapshot, &'a AccountSnapshot)>,
    /// The message's sides resolved to accounts, when it carries an instruction.
    pub message_accounts: Option<&'a ResolvedSides>,
    /// The accounts the submitting client may debit.
    pub debit_scope: &'a AccountScope,
    /// The returns recorded for the existing payment: at least the one
    /// under the message's return id, when there is one.
    pub payment_returns: &'a [RecordedReturn],
}

/// Decides what applying `input.message` does. Pure: same input, same decision.
///
/// A client limited to a scope may debit only the accounts in it, and act
/// only on payments that touch it: a message whose own debtor account lies
/// outside, that names an existing payment neither of whose accounts is in
/// the scope, or whose transfers would debit an account outside, is refused
/// (`DEBIT_ACCOUNT_OUT_OF_SCOPE`) before anything else is said about the
/// payment it names.
pub fn decide(input: DecisionInput<'_>) -> Decision {
    let scope = input.debit_scope;
    if scope.is_unrestricted() {
        return decide_in_any_scope(&input);
    }
    if let Some(Ok((debit, _))) = input.message_accounts {
        if !scope.allows(&debit.external_reference) {
            return Decision::rejected(RejectionReason::DebitAccountOutOfScope {
                account_id: debit.account_id,
            });
        }
    }
    if let Some((debit, credit)) = input.payment_accounts {
        if !scope.allows(&debit.external_reference) && !scope.allows(&credit.external_reference) {
            return Decision::rejected(RejectionReason::DebitAccountOutOfScope {
                account_id: debit.account_id,
            });
        }
    }
    let decision = decide_in_any_scope(&input);
    let Some(change) = &decision.change else {
        return decision;
    };
    let message_accounts = input
        .message_accounts
        .and_then(|sides| sides.as_ref().ok())
        .map(|(debit, credit)| (debit, credit));
    let accounts: Vec<&AccountSnapshot> = [message_accounts, input.payment_accounts]
        .into_iter()
        .flatten()
        .flat_map(|(debit, credit)| [debit, credit])
        .collect();
    let reference_of = |account_id: AccountId| {
        accounts
            .iter()
            .find(|account| account.account_id == account_id)
            .map(|account| &account.external_reference)
            .expect("a decision posts only between the accounts it was given")
    };
    match change
        .transfers
        .iter()
        .find(|transfer| !scope.allows(reference_of(transfer.debit_account_id)))
    {
        Some(transfer) => Decision::rejected(RejectionReason::DebitAccountOutOfScope {
            account_id: transfer.debit_account_id,
        }),
        None => decision,
    }
}

fn decide_in_any_scope(input: &DecisionInput<'_>) -> Decision {
    let message = input.message;
    match input.payment {
        None => decide_new(message, input.message_accounts),
        Some(payment) => {
            let (debit, credit) = input
                .payment_accounts
                .expect("the store loads an existing payment's accounts");
            assert_eq!(debit.account_id, payment.debit_account_id);
            assert_eq!(credit.account_id, payment.credit_account_id);
            decide_existing(
                message,
                payment,
                (debit, credit),
                input.message_accounts,
                input.payment_returns,
            )
        }
    }
}

fn decide_new(message: &PaymentMessage, resolved: Option<&ResolvedSides>) -> Decision {
    let Some(instruction) = &message.instruction else {
        return Decision::rejected(RejectionReason::OriginalNotFound);
    };
    // A return needs the original payment's accounts (semantics §5):
    // NONE -> RETURNED is not a move the ledger makes.
    if message.target_state == PaymentState::Returned {
        return Decision::rejected(RejectionReason::OriginalNotFound);
    }
    let resolved = resolved.expect("the store resolves the sides of a message with an instruction");
    let (debit, credit) = match resolved {
        Ok((debit, credit)) => (debit, credit),
        Err(references) => {
            return Decision::rejected(RejectionReason::AccountNotFound {
                references: references.clone(),
            })
        }
    };
    let amount = instruction.amount;
    if debit.currency != amount.currency() || credit.currency != amount.currency() {
        return Decision::rejected(RejectionReason::CurrencyMismatch);
    }
    if debit.account_id == credit.account_id {
        return Decision::rejected(RejectionReason::SameAccount);
    }
    let transfers = transfers_between(None, message.target_state, amount, debit, credit);
    change(None, message.target_state, transfers, (debit, credit), None)
}

fn decide_existing(
    message: &PaymentMessage,
    payment: &Payment,
    (debit, credit): (&AccountSnapshot, &AccountSnapshot),
    resolved: Option<&ResolvedSides>,
    payment_returns: &[RecordedReturn],
) -> Decision {
    if let Some(instruction) = &message.instruction {
        let same_accounts = matches!(
            resolved,
            Some(Ok((message_debit, message_credit)))
                if message_debit.account_id == payment.debit_account_id
                    && message_credit.account_id == payment.credit_account_id
        );
        if instruction.amount != payment.amount || !same_accounts {
            return Decision::rejected(RejectionReason::BusinessKeyConflict);
        }
    }
    // A resubmission of an instruction is a duplicate, in any state.
    if message.instruction.is_some() && message.target_state == payment.state {
        return Decision::unchanged(Outcome::Duplicate);
    }
    if message.target_state == PaymentState::Returned {
        return decide_return(message, payment, (debit, credit), payment_returns);
    }
    let current = payment.state;
    let requested = message.target_state;
    if requested == current {
        return Decision::unchanged(if message.instruction.is_some() {
            Outcome::Duplicate
        } else {
            Outcome::AlreadyApplied
        });
    }
    if requested.contradicts(current) {
        return Decision::rejected(RejectionReason::StateConflict { current, requested });
    }
    if !requested.is_later_than(current) {
        return Decision::unchanged(Outcome::AlreadyApplied);
    }
    let transfers = transfers_between(Some(current), requested, payment.amount, debit, credit);
    change(Some(current), requested, transfers, (debit, credit), None)
}

/// A return of part or all of a payment (semantics §2): applied once under
/// its return id, at most what is left to return, a `REVERSAL` of its amount
/// (after a `POST_PENDING` when the payment was still held). The payment is
/// RETURNED once all of it was returned; until then it stays (or becomes)
/// SETTLED.
fn decide_return(
    message: &PaymentMessage,
    payment: &Payment,
    (debit, credit): (&AccountSnapshot, &AccountSnapshot),
    payment_returns: &[RecordedReturn],
) -> Decision {
    let returned = message.returned_amount.unwrap_or(payment.amount);
    if returned.currency() != payment.amount.currency() {
        return Decision::rejected(RejectionReason::ReturnCurrencyMismatch);
    }
    let return_id = message.return_id.clone().unwrap_or_else(ReturnId::unnamed);
    if let Some(recorded) = payment_returns
        .iter()
        .find(|recorded| recorded.return_id == return_id)
    {
        return if recorded.amount == returned {
            Decision::unchanged(Outcome::AlreadyApplied)
        } else {
            Decision::rejected(RejectionReason::ReturnIdConflict)
        };
    }
    let current = payment.state;
    if PaymentState::Returned.contradicts(current) {
        return Decision::rejected(RejectionReason::StateConflict {
            current,
            requested: PaymentState::Returned,
        });
    }
    if returned.is_zero() {
        return Decision::rejected(RejectionReason::ReturnAmountMismatch);
    }
    assert!(payment.amount_returned.minor_units() <= payment.amount.minor_units());
    let remaining_minor = payment.amount.minor_units() - payment.amount_returned.minor_units();
    if returned.minor_units() > remaining_minor {
        return Decision::rejected(RejectionReason::ReturnExceedsRemaining);
    }
    let to = if returned.minor_units() == remaining_minor {
        PaymentState::Returned
    } else {
        PaymentState::Settled
    };
    let mut transfers = Vec::with_capacity(2);
    if current == PaymentState::Pending {
        transfers.push(PlannedTransfer {
            kind: TransferKind::PostPending,
            debit_account_id: debit.account_id,
            credit_account_id: credit.account_id,
            amount: payment.amount,
        });
    }
    transfers.push(PlannedTransfer {
        kind: TransferKind::Reversal,
        debit_account_id: credit.account_id,
        credit_account_id: debit.account_id,
        amount: returned,
    });
    change(
        Some(current),
        to,
        transfers,
        (debit, credit),
        Some(RecordedReturn {
            return_id,
            amount: returned,
        }),
    )
}

/// The transfers that take a payment's postings from those of state `from`
/// to those of state `to`: exactly the difference, nothing more. Returns are
/// not moves of this kind: [`decide_return`] posts them.
fn transfers_between(
    from: Option<PaymentState>,
    to: PaymentState,
    amount: Amount,
    debit: &AccountSnapshot,
    credit: &AccountSnapshot,
) -> Vec<PlannedTransfer> {
    use PaymentState as S;
    use TransferKind as K;
    let kinds: &[TransferKind] = match (from, to) {
        (None, S::Pending) => &[K::Pending],
        (None, S::Settled) => &[K::Posted],
        (None, S::Rejected) => &[],
        (Some(S::Pending), S::Settled) => &[K::PostPending],
        (Some(S::Pending), S::Rejected) => &[K::VoidPending],
        // Returns post through `decide_return`, by the amount each returns.
        (from, to) => unreachable!("no move from {from:?} to {to:?}"),
    };
    kinds
        .iter()
        .map(|&kind| PlannedTransfer {
            kind,
            debit_account_id: debit.account_id,
            credit_account_id: credit.account_id,
            amount,
        })
        .collect()
}

fn change(
    from: Option<PaymentState>,
    to: PaymentState,
    transfers: Vec<PlannedTransfer>,
    (debit, credit): (&AccountSnapshot, &AccountSnapshot),
    recorded_return: Option<RecordedReturn>,
) -> Decision {
    let mut balances = [
        (debit.account_id, debit.balances, debit.overdraft),
        (credit.account_id, credit.balances, credit.overdraft),
    ];
    for transfer in &transfers {
        let delta = transfer.kind.delta(transfer.amount.minor_units());
        for (account_id, account_balances, _) in balances.iter_mut() {
            let applied = if *account_id == transfer.debit_account_id {
                account_balances.with_debit(delta)
            } else if *account_id == transfer.credit_account_id {
                account_balances.with_credit(delta)
            } else {
                unreachable!("transfers only touch the payment's two accounts")
            };
            match applied {
                Some(next) => *account_balances = next,
                None => {
                    return Decision::rejected(RejectionReason::BalanceLimitExceeded {
                        account_id: *account_id,
                    })
                }
            }
        }
    }
    for (account_id, account_balances, overdraft) in &balances {
        if *overdraft == OverdraftRule::DebitsMustNotExceedCredits
            && !account_balances.debits_within_credits()
        {
            return Decision::rejected(RejectionReason::InsufficientFunds {
                account_id: *account_id,
            });
        }
    }
    Decision {
        outcome: Outcome::Applied,
        change: Some(StateChange {
            from,
            to,
            transfers,
            balances_after: balances
                .iter()
                .map(|(account_id, account_balances, _)| (*account_id, *account_balances))
                .collect(),
            recorded_return,
        }),
    }
}

#[cfg(test)]
mod tests;
