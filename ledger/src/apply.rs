//! Applying a batch of commands in a fixed number of database round trips,
//! whatever its size: read what the batch needs in a few set-based
//! statements, decide every message in memory, in order, with the pure
//! [`decide`] (exactly as if each were applied after the other), then write
//! everything in a few set-based statements. The gRPC API (a batch of one)
//! and the file ingest (batches of hundreds) go through this one path.
//!
//! Round trips per batch: idempotency keys (locked) and records, pipelined; payments (locked) and account
//! mapping, pipelined; accounts (locked); new payments; then the updates and
//! inserts, pipelined. Plus BEGIN and COMMIT.

use std::collections::{BTreeSet, HashMap, HashSet};

use deadpool_postgres::Transaction;

use crate::model::{
    decide, AccountId, AccountScope, AccountSnapshot, Amount, Balances, BusinessKey, ClientId,
    Currency, DecisionInput, IdempotencyKey, InstructionReference, Outcome, PartySide, Payment,
    PaymentId, PaymentMessage, PaymentState, PlannedTransfer, ReasonCode, RecordedReturn,
    RejectionReason, ResolvedSides, ReturnId, TransferKind,
};
use crate::service::{ApplyCommand, ApplyResponse, Receipt};
use crate::store::{
    self, IdempotencyRecord, StateUpdate, StoreError, StoredReason, StoredReceipt, StoredResponse,
};

/// Runs statements together on the transaction's connection (tokio-postgres
/// pipelines concurrent queries: one round trip) and binds each result to
/// its name, or returns from the enclosing function with the error that
/// caused the failure. When one statement fails, the server answers every
/// later one with 25P02 (in failed transaction), and those answers can reach
/// their futures first; the cause is the one error that is not 25P02.
macro_rules! pipelined {
    ($($name:ident = $future:expr),+ $(,)?) => {
        let ($($name,)+) = tokio::join!($($future),+);
        let mut cause: Option<StoreError> = None;
        $(
            let $name = match $name {
                Ok(value) => Some(value),
                Err(error) => {
                    if cause.as_ref().is_none_or(StoreError::is_in_failed_transaction) {
                        cause = Some(error);
                    }
                    None
                }
            };
        )+
        if let Some(error) = cause {
            return Err(error);
        }
        $(let $name = $name.expect("no statement failed");)+
    };
}

/// The result of one command inside a transaction.
pub(crate) enum ItemResult {
    Response(ApplyResponse),
    KeyReused,
}

/// Applies `commands` inside a SERIALIZABLE transaction that has just begun
/// (no statement run yet: its first is the writer lock), one result per
/// command, in order. `statement_timeout_ms` limits every statement of it,
/// the wait for the writer lock included.
pub(crate) async fn apply_batch_in(
    tx: &Transaction<'_>,
    commands: &[ApplyCommand],
    statement_timeout_ms: Option<u64>,
) -> Result<Vec<ItemResult>, StoreError> {
    let loaded = load(tx, commands, statement_timeout_ms).await?;
    let plan = plan(commands, loaded)?;
    write(tx, commands, plan).await
}

type ClientKey = (ClientId, IdempotencyKey);

/// Everything the batch's decisions read, locked where it will be written.
struct Loaded {
    records: HashMap<ClientKey, IdempotencyRecord>,
    payments: HashMap<BusinessKey, Payment>,
    /// The business keys of the payments that recorded each instruction
    /// reference the batch's follow-ups name (canonical text).
    by_instruction: HashMap<String, Vec<BusinessKey>>,
    mapping: Mapping,
    accounts: HashMap<AccountId, AccountSnapshot>,
    /// The returns recorded for the loaded payments under the return ids
    /// the batch's returns name.
    returns: HashMap<BusinessKey, Vec<RecordedReturn>>,
}

/// The account mapping (semantics §5) for the references, agents and
/// currencies the batch names.
#[derive(Default)]
struct Mapping {
    by_reference: HashMap<String, AccountId>,
    settlement: HashMap<(String, String), AccountId>,
    clearing: HashMap<String, AccountId>,
}

impl Mapping {
    /// A side is its own account when the ledger holds it, else the
    /// settlement account of its agent, else the default clearing account;
    /// `Err` lists what was looked for.
    fn resolve(&self, currency: Currency, side: &PartySide) -> Result<AccountId, Vec<String>> {
        let mut looked_for = Vec::new();
        if let Some(reference) = &side.account {
            if let Some(id) = self.by_reference.get(reference.as_str()) {
                return Ok(*id);
            }
            looked_for.push(format!("account {reference}"));
        }
        if let Some(agent) = &side.agent {
            let key = (agent.as_str().to_owned(), currency.code().to_owned());
            if let Some(id) = self.settlement.get(&key) {
                return Ok(*id);
            }
            looked_for.push(format!("settlement account of {agent} in {currency}"));
        }
        if let Some(id) = self.clearing.get(currency.code()) {
            return Ok(*id);
        }
        looked_for.push(format!("clearing account in {currency}"));
        Err(looked_for)
    }

    fn resolve_sides(
        &self,
        message: &PaymentMessage,
    ) -> Option<Result<(AccountId, AccountId), Vec<String>>> {
        let instruction = message.instruction.as_ref()?;
        let currency = instruction.amount.currency();
        let debit = self.resolve(currency, &instruction.debtor);
        let credit = self.resolve(currency, &instruction.creditor);
        Some(match (debit, credit) {
            (Ok(debit), Ok(credit)) => Ok((debit, credit)),
            (debit, credit) => Err(debit
                .err()
                .into_iter()
                .chain(credit.err())
                .flatten()
                .collect()),
        })
    }
}

/// Loads what the batch's decisions read, in two round trips: the writer lock
/// with the idempotency records and the payments and account mapping every
/// message names (those of commands a record will answer included: loading
/// them decides nothing), then the accounts and returns those resolve to.
async fn load(
    tx: &Transaction<'_>,
    commands: &[ApplyCommand],
    statement_timeout_ms: Option<u64>,
) -> Result<Loaded, StoreError> {
    let keys: Vec<(&ClientId, &IdempotencyKey)> = commands
        .iter()
        .map(|command| (&command.client_id, &command.idempotency_key))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut business_keys = HashSet::new();
    let mut references = HashSet::new();
    let mut agents = HashSet::new();
    let mut currencies = HashSet::new();
    let mut instruction_references = HashSet::new();
    for message in commands.iter().flat_map(|command| &command.messages) {
        match &message.business_key {
            BusinessKey::Instruction(reference) => {
                instruction_references.insert(reference.canonical());
            }
            key => {
                business_keys.insert(key.canonical());
            }
        }
        let Some(instruction) = &message.instruction else {
            continue;
        };
        let currency = instruction.amount.currency().code();
        currencies.insert(currency);
        for side in [&instruction.debtor, &instruction.creditor] {
            if let Some(reference) = &side.account {
                references.insert(reference.as_str());
            }
            if let Some(agent) = &side.agent {
                agents.insert((agent.as_str(), currency));
            }
        }
    }
    let business_keys: Vec<String> = business_keys.into_iter().collect();
    let instruction_references: Vec<String> = instruction_references.into_iter().collect();
    let references: Vec<&str> = references.into_iter().collect();
    let agents: Vec<(&str, &str)> = agents.into_iter().collect();
    let currencies: Vec<&str> = currencies.into_iter().collect();
    // One round trip. The writer lock is sent first and every statement
    // behind it runs after it, so the transaction's snapshot (taken by the
    // first of them) follows every earlier batch's commit: these records and
    // rows are the latest, and no other batch writes until this one ends
    // (semantics §1: a concurrent duplicate waits, then finds the record).
    pipelined!(
        locked = store::lock_writer(tx, statement_timeout_ms),
        records = store::select_idempotency_records(tx, &keys),
        payments = store::select_payments_by_business_keys_for_update(tx, &business_keys),
        referenced = store::select_payments_by_instruction_references_for_update(
            tx,
            &instruction_references
        ),
        by_reference = store::select_account_ids_by_references(tx, &references),
        settlement = store::select_settlement_account_ids(tx, &agents),
        clearing = store::select_clearing_account_ids(tx, &currencies),
    );
    let () = locked;
    let records: HashMap<ClientKey, IdempotencyRecord> = records
        .into_iter()
        .map(|(client, key, record)| ((client, key), record))
        .collect();
    // Commands answered from a stored record decide nothing.
    let fresh_messages = || {
        commands
            .iter()
            .filter(|command| {
                !records.contains_key(&(command.client_id.clone(), command.idempotency_key.clone()))
            })
            .flat_map(|command| &command.messages)
    };
    let mut payments: HashMap<BusinessKey, Payment> = payments
        .into_iter()
        .map(|payment| (payment.business_key.clone(), payment))
        .collect();
    let mut by_instruction: HashMap<String, Vec<BusinessKey>> = HashMap::new();
    for (reference, payment) in referenced {
        by_instruction
            .entry(reference)
            .or_default()
            .push(payment.business_key.clone());
        payments.insert(payment.business_key.clone(), payment);
    }
    let mapping = Mapping {
        by_reference: by_reference.into_iter().collect(),
        settlement: settlement
            .into_iter()
            .map(|(bic, currency, id)| ((bic, currency), id))
            .collect(),
        clearing: clearing.into_iter().collect(),
    };

    // Lock every account a decision can touch, in id order.
    let mut account_ids = BTreeSet::new();
    for payment in payments.values() {
        account_ids.extend([payment.debit_account_id, payment.credit_account_id]);
    }
    for message in fresh_messages() {
        if let Some(Ok((debit, credit))) = mapping.resolve_sides(message) {
            account_ids.extend([debit, credit]);
        }
    }
    let ids: Vec<AccountId> = account_ids.into_iter().collect();
    // The returns the batch's returns could repeat (semantics §2: each
    // return id applies once per payment).
    let return_ids: Vec<ReturnId> = fresh_messages()
        .filter(|message| message.target_state == PaymentState::Returned)
        .map(|message| message.return_id.clone().unwrap_or_else(ReturnId::unnamed))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let return_id_texts: Vec<&str> = return_ids.iter().map(ReturnId::canonical).collect();
    let payment_ids: Vec<PaymentId> = payments
        .values()
        .map(|payment| payment.payment_id)
        .collect();
    pipelined!(
        snapshots = store::select_accounts_for_update(tx, &ids),
        recorded_returns = store::select_returns(tx, &payment_ids, &return_id_texts),
    );
    let key_of: HashMap<PaymentId, &BusinessKey> = payments
        .values()
        .map(|payment| (payment.payment_id, &payment.business_key))
        .collect();
    let mut returns: HashMap<BusinessKey, Vec<RecordedReturn>> = HashMap::new();
    for (payment_id, recorded) in recorded_returns {
        let key = key_of.get(&payment_id).ok_or_else(|| StoreError::Corrupt {
            table: "payment_returns",
            detail: format!("a return of payment {payment_id} that was not asked for"),
        })?;
        returns.entry((*key).clone()).or_default().push(recorded);
    }
    if snapshots.len() != ids.len() {
        return Err(StoreError::Corrupt {
            table: "accounts",
            detail: format!("accounts {ids:?} resolved but not all found"),
        });
    }
    Ok(Loaded {
        records,
        payments,
        by_instruction,
        mapping,
        accounts: snapshots
            .into_iter()
            .map(|snapshot| (snapshot.account_id, snapshot))
            .collect(),
        returns,
    })
}

/// What the batch writes, decided in memory. New payments carry placeholder
/// ids (negative, see [`placeholder`]) until they are inserted.
#[derive(Default)]
struct Plan {
    results: Vec<Planned>,
    effects: Effects,
}

/// What the batch's decisions so far change.
#[derive(Default, Clone)]
struct Effects {
    /// Business keys of the payments to create, in creation order, with the
    /// instruction reference each records.
    /// Payments this batch creates: key, instruction reference, and the
    /// command that created it (its client is recorded as the creator).
    created: Vec<(BusinessKey, Option<InstructionReference>, usize)>,
    /// Existing payments that changed state, with the state they were read in.
    changed: HashMap<BusinessKey, PaymentState>,
    /// Every payment as the batch leaves it.
    payments: HashMap<BusinessKey, Payment>,
    /// The payments that recorded each instruction reference, as the batch
    /// leaves them.
    by_instruction: HashMap<String, Vec<BusinessKey>>,
    accounts: HashMap<AccountId, AccountSnapshot>,
    touched_accounts: BTreeSet<AccountId>,
    /// Every return recorded for a payment, as far as the batch knows them:
    /// those loaded and those it applies.
    returns: HashMap<BusinessKey, Vec<RecordedReturn>>,
    /// Transfers to insert, a reversal with the return it posts.
    transfers: Vec<PlannedRow>,
    /// Returns to record, with the reason their message carried.
    new_returns: Vec<(PaymentId, RecordedReturn, Option<ReasonCode>)>,
    outbox: Vec<PlannedOutboxRow>,
    conflicts: Vec<PlannedConflict>,
}

enum Planned {
    /// A stored response of an earlier request.
    Replay(ApplyResponse),
    /// The same key as an earlier command of this batch, same request.
    ReplayOf(usize),
    KeyReused,
    /// Applied now; `stored` unless a refusal was transient.
    Fresh {
        receipts: Vec<Receipt>,
        stored: bool,
    },
}

/// A transfer as it will be written: its payment, a reversal's return, and
/// the balances of its debit and credit accounts right after it (in the
/// order the batch applies its transfers).
#[derive(Clone)]
struct PlannedRow {
    payment_id: PaymentId,
    transfer: PlannedTransfer,
    return_id: Option<ReturnId>,
    debit_balances_after: Balances,
    credit_balances_after: Balances,
}

#[derive(Clone)]
struct PlannedOutboxRow {
    business_key: BusinessKey,
    from: Option<PaymentState>,
    to: PaymentState,
    reason: Option<ReasonCode>,
    command: usize,
}

#[derive(Clone)]
struct PlannedConflict {
    business_key: BusinessKey,
    payment_id: Option<PaymentId>,
    reason: RejectionReason,
    requested_state: PaymentState,
    command: usize,
}

/// Whether the message was refused with a reason a retry may overcome.
fn refused_transiently(receipt: &Receipt) -> bool {
    matches!(&receipt.outcome, Outcome::Rejected(reason) if reason.is_transient())
}

/// The stand-in id of the `index`-th payment this batch creates.
fn placeholder(index: usize) -> PaymentId {
    PaymentId(-1 - index as i64)
}

/// Decides every command in order, each seeing what the earlier ones did.
fn plan(commands: &[ApplyCommand], loaded: Loaded) -> Result<Plan, StoreError> {
    let mut plan = Plan {
        results: Vec::with_capacity(commands.len()),
        effects: Effects {
            payments: loaded.payments,
            by_instruction: loaded.by_instruction,
            accounts: loaded.accounts,
            returns: loaded.returns,
            ..Effects::default()
        },
    };
    let mut stored_in_batch: HashMap<ClientKey, usize> = HashMap::new();
    for (index, command) in commands.iter().enumerate() {
        let client_key = (command.client_id.clone(), command.idempotency_key.clone());
        let planned = if let Some(record) = loaded.records.get(&client_key) {
            if record.request_fingerprint != command.fingerprint {
                Planned::KeyReused
            } else {
                Planned::Replay(ApplyResponse {
                    receipts: decode_receipts(&record.response)?,
                    response_bytes: record.response.clone(),
                    replay: true,
                })
            }
        } else if let Some(&earlier) = stored_in_batch.get(&client_key) {
            if commands[earlier].fingerprint != command.fingerprint {
                Planned::KeyReused
            } else {
                Planned::ReplayOf(earlier)
            }
        } else {
            // A request applies all of its messages or none (semantics §1):
            // the state before it, to go back to if one is refused
            // transiently. Only requests of several messages need it.
            let before = (command.messages.len() > 1).then(|| plan.effects.clone());
            let mut receipts: Vec<Receipt> = command
                .messages
                .iter()
                .map(|message| {
                    plan.effects
                        .message(&loaded.mapping, index, &command.debit_scope, message)
                })
                .collect();
            // A transient refusal is not stored: a retry under the same key
            // is a clean first attempt (messages applied meanwhile answer as
            // duplicates).
            let transient = receipts.iter().any(refused_transiently);
            if let (true, Some(before)) = (transient, before) {
                plan.effects = before;
                for receipt in &mut receipts {
                    if !refused_transiently(receipt) {
                        receipt.outcome = Outcome::Rejected(RejectionReason::RequestNotApplied);
                    }
                    let payment = plan.effects.payments.get(&receipt.business_key);
                    receipt.payment_id = payment.map(|payment| payment.payment_id);
                    receipt.state = payment.map(|payment| payment.state);
                }
            }
            if !transient {
                stored_in_batch.insert(client_key, index);
            }
            Planned::Fresh {
                receipts,
                stored: !transient,
            }
        };
        plan.results.push(planned);
    }
    Ok(plan)
}

impl Effects {
    /// Decides one message against the batch's state so far, and records
    /// what it changes.
    fn message(
        &mut self,
        mapping: &Mapping,
        command_index: usize,
        debit_scope: &AccountScope,
        message: &PaymentMessage,
    ) -> Receipt {
        // A follow-up that names a pain.001 original by its reference is
        // about the one payment that recorded it, under that payment's key.
        let business_key = match &message.business_key {
            BusinessKey::Instruction(reference) => {
                let refused = |reason| Receipt {
                    outcome: Outcome::Rejected(reason),
                    business_key: message.business_key.clone(),
                    payment_id: None,
                    state: None,
                };
                match self
                    .by_instruction
                    .get(&reference.canonical())
                    .map(Vec::as_slice)
                {
                    None | Some([]) => return refused(RejectionReason::OriginalNotFound),
                    Some([key]) => key.clone(),
                    Some(_) => return refused(RejectionReason::OriginalAmbiguous),
                }
            }
            key => key.clone(),
        };
        let business_key = &business_key;
        let payment = self.payments.get(business_key).cloned();
        let message_accounts: Option<ResolvedSides> = mapping.resolve_sides(message).map(|sides| {
            sides.map(|(debit, credit)| (self.account(debit).clone(), self.account(credit).clone()))
        });
        let payment_accounts = payment.as_ref().map(|payment| {
            (
                self.account(payment.debit_account_id),
                self.account(payment.credit_account_id),
            )
        });
        let decision = decide(DecisionInput {
            message,
            payment: payment.as_ref(),
            payment_accounts,
            message_accounts: message_accounts.as_ref(),
            debit_scope,
            payment_returns: self.returns.get(business_key).map_or(&[], Vec::as_slice),
        });
        // A client refused for its scope is told nothing of the payment.
        let told = match &decision.outcome {
            Outcome::Rejected(RejectionReason::DebitAccountOutOfScope { .. }) => None,
            _ => payment.as_ref(),
        };
        let existing_id = payment.as_ref().map(|payment| payment.payment_id);
        let mut receipt = Receipt {
            outcome: decision.outcome.clone(),
            business_key: business_key.clone(),
            payment_id: told.map(|payment| payment.payment_id),
            state: told.map(|payment| payment.state),
        };
        if let Some(change) = decision.change {
            // Assert before writing what the schema asserts again after.
            assert!(change.transfers.len() <= 2);
            assert!(change
                .balances_after
                .iter()
                .all(|(_, balances)| balances.all_non_negative()));
            let written = match payment {
                Some(payment) => {
                    assert_eq!(Some(payment.state), change.from);
                    // A payment created by this batch is inserted in its
                    // last state; an existing one is updated once.
                    if payment.payment_id.0 > 0 {
                        self.changed
                            .entry(business_key.clone())
                            .or_insert(payment.state);
                    }
                    let amount_returned = match &change.recorded_return {
                        Some(recorded) => Amount::from_minor_units(
                            payment.amount.currency(),
                            payment.amount_returned.minor_units() + recorded.amount.minor_units(),
                        )
                        .expect("a decision returns at most the payment's amount"),
                        None => payment.amount_returned,
                    };
                    Payment {
                        state: change.to,
                        amount_returned,
                        ..payment
                    }
                }
                None => {
                    let instruction = message
                        .instruction
                        .as_ref()
                        .expect("a new payment comes with an instruction");
                    let (debit, credit) = match &message_accounts {
                        Some(Ok((debit, credit))) => (debit.account_id, credit.account_id),
                        _ => unreachable!("a payment is created only from resolved sides"),
                    };
                    let payment_id = placeholder(self.created.len());
                    self.created.push((
                        business_key.clone(),
                        instruction.reference.clone(),
                        command_index,
                    ));
                    if let Some(reference) = &instruction.reference {
                        self.by_instruction
                            .entry(reference.canonical())
                            .or_default()
                            .push(business_key.clone());
                    }
                    Payment {
                        payment_id,
                        business_key: business_key.clone(),
                        state: change.to,
                        amount: instruction.amount,
                        debit_account_id: debit,
                        credit_account_id: credit,
                        amount_returned: Amount::from_minor_units(instruction.amount.currency(), 0)
                            .expect("zero is an amount"),
                    }
                }
            };
            let moves_state = change.moves_state();
            let return_id = change
                .recorded_return
                .as_ref()
                .map(|recorded| recorded.return_id.clone());
            // Each transfer's running balances, from the accounts' balances
            // before the change, transfer after transfer.
            let mut running: HashMap<AccountId, Balances> = change
                .balances_after
                .iter()
                .map(|(account_id, _)| (*account_id, self.account(*account_id).balances))
                .collect();
            for transfer in change.transfers {
                let posts_return = (transfer.kind == TransferKind::Reversal)
                    .then(|| return_id.clone().expect("a reversal posts a return"));
                let delta = transfer.kind.delta(transfer.amount.minor_units());
                let debit_after = running[&transfer.debit_account_id]
                    .with_debit(delta)
                    .expect("the decision checked every balance it moves");
                let credit_after = running[&transfer.credit_account_id]
                    .with_credit(delta)
                    .expect("the decision checked every balance it moves");
                running.insert(transfer.debit_account_id, debit_after);
                running.insert(transfer.credit_account_id, credit_after);
                self.transfers.push(PlannedRow {
                    payment_id: written.payment_id,
                    transfer,
                    return_id: posts_return,
                    debit_balances_after: debit_after,
                    credit_balances_after: credit_after,
                });
            }
            for (account_id, balances) in &change.balances_after {
                assert_eq!(
                    running[account_id], *balances,
                    "running balances end where the decision does"
                );
            }
            if let Some(recorded) = change.recorded_return {
                self.returns
                    .entry(business_key.clone())
                    .or_default()
                    .push(recorded.clone());
                self.new_returns
                    .push((written.payment_id, recorded, message.reason.clone()));
            }
            for (account_id, balances) in change.balances_after {
                self.accounts
                    .get_mut(&account_id)
                    .expect("every account a decision touches was locked")
                    .balances = balances;
                self.touched_accounts.insert(account_id);
            }
            // One outbox row per state change (semantics §4): a partial
            // return of a settled payment posts without one.
            if moves_state {
                self.outbox.push(PlannedOutboxRow {
                    business_key: business_key.clone(),
                    from: change.from,
                    to: change.to,
                    reason: message.reason.clone(),
                    command: command_index,
                });
            }
            receipt.payment_id = Some(written.payment_id);
            receipt.state = Some(written.state);
            self.payments.insert(business_key.clone(), written);
        }
        if let Outcome::Rejected(reason) = &decision.outcome {
            if reason.is_flagged_for_audit() {
                // The audit sees the payment the client was not told of.
                self.conflicts.push(PlannedConflict {
                    business_key: business_key.clone(),
                    payment_id: receipt.payment_id.or(existing_id),
                    reason: reason.clone(),
                    requested_state: message.target_state,
                    command: command_index,
                });
            }
        }
        receipt
    }

    fn account(&self, account_id: AccountId) -> &AccountSnapshot {
        self.accounts
            .get(&account_id)
            .expect("every account a decision reads was locked")
    }
}

/// Writes the plan: the new payments first (their ids are needed), then
/// everything else in one pipelined round trip.
async fn write(
    tx: &Transaction<'_>,
    commands: &[ApplyCommand],
    plan: Plan,
) -> Result<Vec<ItemResult>, StoreError> {
    let Plan {
        mut results,
        effects: mut plan,
    } = plan;
    let new_payments: Vec<store::NewPayment<'_>> = plan
        .created
        .iter()
        .map(|(key, instruction_reference, command)| {
            let payment = &plan.payments[key];
            store::NewPayment {
                created_by: &commands[*command].client_id,
                business_key: &payment.business_key,
                state: payment.state,
                amount: payment.amount,
                debit_account_id: payment.debit_account_id,
                credit_account_id: payment.credit_account_id,
                amount_returned: payment.amount_returned,
                instruction_reference: instruction_reference.as_ref(),
            }
        })
        .collect();
    let created_ids = store::insert_payments(tx, &new_payments).await?;
    drop(new_payments);
    let real = |id: PaymentId| -> PaymentId {
        if id.0 < 0 {
            created_ids[(-1 - id.0) as usize]
        } else {
            id
        }
    };
    for payment in plan.payments.values_mut() {
        payment.payment_id = real(payment.payment_id);
    }

    let updates: Vec<StateUpdate> = plan
        .changed
        .iter()
        .map(|(key, from)| {
            let payment = &plan.payments[key];
            StateUpdate {
                payment_id: payment.payment_id,
                from: *from,
                to: payment.state,
                amount_returned_minor: payment.amount_returned.minor_units(),
            }
        })
        .collect();
    let transfers: Vec<store::NewTransfer<'_>> = plan
        .transfers
        .iter()
        .map(|row| store::NewTransfer {
            payment_id: real(row.payment_id),
            transfer: &row.transfer,
            return_id: row.return_id.as_ref(),
            debit_balances_after: row.debit_balances_after,
            credit_balances_after: row.credit_balances_after,
        })
        .collect();
    let returns: Vec<store::NewReturn<'_>> = plan
        .new_returns
        .iter()
        .map(|(id, recorded, reason)| store::NewReturn {
            payment_id: real(*id),
            recorded,
            reason: reason.as_ref(),
        })
        .collect();
    let balances: Vec<(AccountId, Balances)> = plan
        .touched_accounts
        .iter()
        .map(|id| (*id, plan.accounts[id].balances))
        .collect();
    let outbox: Vec<store::NewOutboxRow<'_>> = plan
        .outbox
        .iter()
        .map(|row| store::NewOutboxRow {
            payment: &plan.payments[&row.business_key],
            from: row.from,
            to: row.to,
            reason: row.reason.as_ref(),
            origin: commands[row.command].origin.as_ref(),
        })
        .collect();
    let conflicts: Vec<store::NewConflict<'_>> = plan
        .conflicts
        .iter()
        .map(|conflict| store::NewConflict {
            business_key: &conflict.business_key,
            payment_id: conflict.payment_id.map(real),
            reason: &conflict.reason,
            requested_state: conflict.requested_state,
            client_id: &commands[conflict.command].client_id,
            idempotency_key: &commands[conflict.command].idempotency_key,
        })
        .collect();

    // Responses, with the real ids.
    let mut responses: Vec<Option<ApplyResponse>> = Vec::with_capacity(results.len());
    let mut records = Vec::new();
    for (index, planned) in results.iter_mut().enumerate() {
        let response = match planned {
            Planned::Fresh { receipts, stored } => {
                for receipt in receipts.iter_mut() {
                    receipt.payment_id = receipt.payment_id.map(real);
                }
                let response_bytes = encode_receipts(receipts);
                if *stored {
                    records.push(store::NewIdempotencyRecord {
                        client_id: &commands[index].client_id,
                        key: &commands[index].idempotency_key,
                        record: IdempotencyRecord {
                            request_fingerprint: commands[index].fingerprint,
                            response: response_bytes.clone(),
                        },
                    });
                }
                Some(ApplyResponse {
                    receipts: std::mem::take(receipts),
                    response_bytes,
                    replay: false,
                })
            }
            Planned::Replay(response) => Some(response.clone()),
            Planned::ReplayOf(earlier) => {
                let earlier: &ApplyResponse = responses[*earlier]
                    .as_ref()
                    .expect("a replayed command was answered");
                Some(ApplyResponse {
                    replay: true,
                    ..earlier.clone()
                })
            }
            Planned::KeyReused => None,
        };
        responses.push(response);
    }

    pipelined!(
        updated = store::update_payment_states(tx, &updates),
        transfers_inserted = store::insert_transfers(tx, &transfers),
        returns_inserted = store::insert_returns(tx, &returns),
        balances_updated = store::update_accounts_balances(tx, &balances),
        outbox_inserted = store::insert_outbox_rows(tx, &outbox),
        conflicts_inserted = store::insert_conflicts(tx, &conflicts),
        records_inserted = store::insert_idempotency_records(tx, &records),
    );
    let ((), (), (), (), (), (), ()) = (
        updated,
        transfers_inserted,
        returns_inserted,
        balances_updated,
        outbox_inserted,
        conflicts_inserted,
        records_inserted,
    );
    Ok(responses
        .into_iter()
        .map(|response| match response {
            Some(response) => ItemResult::Response(response),
            None => ItemResult::KeyReused,
        })
        .collect())
}

// ---------------------------------------------------------- stored responses

pub(crate) fn encode_receipts(receipts: &[Receipt]) -> Vec<u8> {
    let stored = StoredResponse {
        receipts: receipts.iter().map(stored_receipt).collect(),
    };
    serde_json::to_vec(&stored).expect("a response serializes")
}

fn stored_receipt(receipt: &Receipt) -> StoredReceipt {
    let reason = match &receipt.outcome {
        Outcome::Rejected(reason) => Some(StoredReason {
            code: reason.code().to_owned(),
            message: reason.message(),
            references: match reason {
                RejectionReason::AccountNotFound { references } => references.clone(),
                _ => Vec::new(),
            },
            account_id: match reason {
                RejectionReason::InsufficientFunds { account_id }
                | RejectionReason::BalanceLimitExceeded { account_id }
                | RejectionReason::DebitAccountOutOfScope { account_id } => Some(account_id.0),
                _ => None,
            },
            current_state: match reason {
                RejectionReason::StateConflict { current, .. } => Some(current.as_str().to_owned()),
                _ => None,
            },
            requested_state: match reason {
                RejectionReason::StateConflict { requested, .. } => {
                    Some(requested.as_str().to_owned())
                }
                _ => None,
            },
        }),
        _ => None,
    };
    StoredReceipt {
        outcome: receipt.outcome.code().to_owned(),
        reason,
        business_key: receipt.business_key.canonical(),
        payment_id: receipt.payment_id.map(|id| id.0),
        state: receipt.state.map(|state| state.as_str().to_owned()),
    }
}

pub(crate) fn decode_receipts(bytes: &[u8]) -> Result<Vec<Receipt>, StoreError> {
    let stored: StoredResponse =
        serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt {
            table: "idempotency_records",
            detail: error.to_string(),
        })?;
    stored
        .receipts
        .into_iter()
        .map(receipt_from_stored)
        .collect()
}

fn receipt_from_stored(stored: StoredReceipt) -> Result<Receipt, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        table: "idempotency_records",
        detail,
    };
    let state = |value: &Option<String>| -> Result<Option<PaymentState>, StoreError> {
        value
            .as_deref()
            .map(|value| {
                PaymentState::parse(value).ok_or_else(|| corrupt(format!("state {value}")))
            })
            .transpose()
    };
    let outcome = match stored.outcome.as_str() {
        "APPLIED" => Outcome::Applied,
        "ALREADY_APPLIED" => Outcome::AlreadyApplied,
        "DUPLICATE" => Outcome::Duplicate,
        "REJECTED" => {
            let reason = stored
                .reason
                .as_ref()
                .ok_or_else(|| corrupt("a refusal without its reason".to_owned()))?;
            let account_id = || {
                reason
                    .account_id
                    .map(AccountId)
                    .ok_or_else(|| corrupt("reason without account".to_owned()))
            };
            Outcome::Rejected(match reason.code.as_str() {
                "ACCOUNT_NOT_FOUND" => RejectionReason::AccountNotFound {
                    references: reason.references.clone(),
                },
                "CURRENCY_MISMATCH" => RejectionReason::CurrencyMismatch,
                "SAME_ACCOUNT" => RejectionReason::SameAccount,
                "INSUFFICIENT_FUNDS" => RejectionReason::InsufficientFunds {
                    account_id: account_id()?,
                },
                "BUSINESS_KEY_CONFLICT" => RejectionReason::BusinessKeyConflict,
                "STATE_CONFLICT" => RejectionReason::StateConflict {
                    current: state(&reason.current_state)?
                        .ok_or_else(|| corrupt("conflict without state".to_owned()))?,
                    requested: state(&reason.requested_state)?
                        .ok_or_else(|| corrupt("conflict without state".to_owned()))?,
                },
                "ORIGINAL_NOT_FOUND" => RejectionReason::OriginalNotFound,
                "RETURN_CURRENCY_MISMATCH" => RejectionReason::ReturnCurrencyMismatch,
                "ORIGINAL_AMBIGUOUS" => RejectionReason::OriginalAmbiguous,
                "RETURN_AMOUNT_MISMATCH" => RejectionReason::ReturnAmountMismatch,
                "RETURN_EXCEEDS_REMAINING" => RejectionReason::ReturnExceedsRemaining,
                "RETURN_ID_CONFLICT" => RejectionReason::ReturnIdConflict,
                "REQUEST_NOT_APPLIED" => RejectionReason::RequestNotApplied,
                "BALANCE_LIMIT_EXCEEDED" => RejectionReason::BalanceLimitExceeded {
                    account_id: account_id()?,
                },
                "DEBIT_ACCOUNT_OUT_OF_SCOPE" => RejectionReason::DebitAccountOutOfScope {
                    account_id: account_id()?,
                },
                other => return Err(corrupt(format!("reason {other}"))),
            })
        }
        other => return Err(corrupt(format!("outcome {other}"))),
    };
    Ok(Receipt {
        outcome,
        business_key: store::business_key_from_canonical(&stored.business_key)?,
        payment_id: stored.payment_id.map(PaymentId),
        state: state(&stored.state)?,
    })
}
