//! Property tests of the exactly-once contract
//! (semantics §1-§4) against real PostgreSQL.
//!
//! Each case generates a few payments over a small pool of accounts, the
//! messages of their life (new payments, later states, returns, contradictory
//! terminals), business duplicates under new keys, conflicting content, and
//! reuses of an idempotency key for another request. The deliveries are then
//! applied (a) sequentially, shuffled, with random replays, and checked
//! against a simple in-memory model; (b) concurrently from 8 tasks over
//! separate connections, each replaying parts of the set; (c) sequentially
//! in random batches through `apply_batch`, whose set-based planner must
//! answer every command as if the commands were applied one after another.
//!
//! Partial returns: a settled (or held) payment returned in parts, each
//! under its own return id, all of it or less, sometimes with an extra
//! return of the whole amount that can only fit if it comes first. Each
//! return is applied at most once, the total returned never exceeds the
//! amount, and the uncontested ones converge whatever the order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ledger::model::{Amount, OverdraftRule, PaymentMessage, PaymentState, ReturnId};
use ledger::{
    ApplyCommand, ApplyResponse, GroupCommit, GroupCommitOptions, LedgerError, LedgerOptions,
    PendingAnswer,
};
use ledger_system_tests::fixtures::{command, eur, open, status, transfer};
use ledger_system_tests::{invariants, TestDatabase};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use PaymentState::{Pending, Rejected, Returned, Settled};

const ACCOUNTS: [&str; 4] = ["ACC-0", "ACC-1", "ACC-2", "ACC-3"];
const CASES_SEQUENTIAL: u32 = 256;
const CASES_CONCURRENT: u32 = 64;
const CASES_BATCHED: u32 = 128;
/// Largest random batch the batched property test sends.
const BATCH_SIZE_MAX: usize = 12;
const TASKS_CONCURRENT: usize = 8;
/// Bound on the rounds of retrying ORIGINAL_NOT_FOUND refusals, as a client would.
const RETRY_ROUNDS_MAX: usize = 8;

/// The life of one payment, as the messages about it assert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    SettleDirect,
    RejectDirect,
    PendingOnly,
    PendingThenSettle,
    PendingThenReject,
    SettleThenReturn,
    PendingSettleReturn,
    /// Settled, then returned in parts, each under its own return id.
    SettleThenPartialReturns,
    /// Held, then returned in parts: the first return settles the hold.
    PendingThenPartialReturns,
    /// Settle and reject for one pending payment: the first applied stands.
    Contradictory,
}

#[derive(Debug, Clone)]
struct PaymentSpec {
    amount_minor: i64,
    debtor: usize,
    creditor_offset: usize,
    path: Path,
    /// Send the creating message again under a new idempotency key.
    business_duplicate: bool,
    /// Send a message with the same business key and another amount.
    conflicting_content: bool,
    /// For partial returns: the weights the returned amount is split by.
    return_weights: Vec<i64>,
    /// For partial returns: whether they add up to the whole amount.
    returns_whole: bool,
    /// For partial returns: also send a return of the whole amount under
    /// another id, which fits only before any other.
    excess_return: bool,
}

impl PaymentSpec {
    fn has_partial_returns(&self) -> bool {
        matches!(
            self.path,
            Path::SettleThenPartialReturns | Path::PendingThenPartialReturns
        )
    }

    /// The amounts of its partial returns, in order: together the whole
    /// amount or less, each at least one minor unit.
    fn return_amounts(&self) -> Vec<i64> {
        if !self.has_partial_returns() {
            return Vec::new();
        }
        let target = if self.returns_whole {
            self.amount_minor
        } else {
            self.amount_minor - 1
        };
        let weight_total: i64 = self.return_weights.iter().sum();
        let mut amounts: Vec<i64> = self
            .return_weights
            .iter()
            .map(|weight| target * weight / weight_total)
            .collect();
        let assigned: i64 = amounts.iter().sum();
        *amounts.last_mut().expect("at least one part") += target - assigned;
        amounts.retain(|amount| *amount > 0);
        amounts
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    payments: Vec<PaymentSpec>,
    /// Drives shuffles, replays and key reuse, so a failing case reproduces.
    seed: u64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let path = prop_oneof![
        Just(Path::SettleDirect),
        Just(Path::RejectDirect),
        Just(Path::PendingOnly),
        Just(Path::PendingThenSettle),
        Just(Path::PendingThenReject),
        Just(Path::SettleThenReturn),
        Just(Path::PendingSettleReturn),
        Just(Path::SettleThenPartialReturns),
        Just(Path::PendingThenPartialReturns),
        Just(Path::Contradictory),
    ];
    let payment = (
        1..=10_000i64,
        0..ACCOUNTS.len(),
        1..ACCOUNTS.len(),
        path,
        any::<bool>(),
        prop::bool::weighted(0.2),
        (
            prop::collection::vec(1..=4i64, 1..=3),
            any::<bool>(),
            prop::bool::weighted(0.3),
        ),
    )
        .prop_map(
            |(
                amount_minor,
                debtor,
                creditor_offset,
                path,
                business_duplicate,
                conflicting_content,
                (return_weights, returns_whole, excess_return),
            )| {
                PaymentSpec {
                    amount_minor,
                    debtor,
                    creditor_offset,
                    path,
                    business_duplicate,
                    conflicting_content,
                    return_weights,
                    returns_whole,
                    excess_return,
                }
            },
        );
    (prop::collection::vec(payment, 1..=5), any::<u64>())
        .prop_map(|(payments, seed)| Scenario { payments, seed })
}

/// One request as a client sends it: who, under which key, what.
#[derive(Debug, Clone)]
struct Delivery {
    command: ApplyCommand,
    /// Index into `Scenario::payments`.
    payment: usize,
}

fn business_key(payment: usize) -> String {
    format!("P{payment}")
}

fn return_of(key: &str, return_id: &str, amount_minor: i64) -> PaymentMessage {
    PaymentMessage {
        returned_amount: Some(eur(amount_minor)),
        return_id: Some(ReturnId::of_return_identification(return_id).unwrap()),
        ..status(key, Returned)
    }
}

fn target_messages(index: usize, spec: &PaymentSpec) -> Vec<PaymentMessage> {
    let key = business_key(index);
    let debtor = ACCOUNTS[spec.debtor];
    let creditor = ACCOUNTS[(spec.debtor + spec.creditor_offset) % ACCOUNTS.len()];
    let create = |state| transfer(&key, state, eur(spec.amount_minor), debtor, creditor);
    let later = |state| status(&key, state);
    let partial_returns = || {
        let mut returns: Vec<PaymentMessage> = spec
            .return_amounts()
            .into_iter()
            .enumerate()
            .map(|(part, amount)| return_of(&key, &format!("R{part}"), amount))
            .collect();
        if spec.excess_return {
            returns.push(return_of(&key, "RX", spec.amount_minor));
        }
        returns
    };
    match spec.path {
        Path::SettleDirect => vec![create(Settled)],
        Path::RejectDirect => vec![create(Rejected)],
        Path::PendingOnly => vec![create(Pending)],
        Path::PendingThenSettle => vec![create(Pending), later(Settled)],
        Path::PendingThenReject => vec![create(Pending), later(Rejected)],
        Path::SettleThenReturn => vec![create(Settled), later(Returned)],
        Path::PendingSettleReturn => vec![create(Pending), later(Settled), later(Returned)],
        Path::SettleThenPartialReturns => std::iter::once(create(Settled))
            .chain(partial_returns())
            .collect(),
        Path::PendingThenPartialReturns => std::iter::once(create(Pending))
            .chain(partial_returns())
            .collect(),
        Path::Contradictory => vec![create(Pending), later(Settled), later(Rejected)],
    }
}

/// The state a payment ends in when its (non-contradictory) messages are each
/// applied once, in their natural order, and the amount its returns returned.
fn natural_final_state(spec: &PaymentSpec) -> (PaymentState, i64) {
    let returned: i64 = spec.return_amounts().iter().sum();
    if spec.has_partial_returns() {
        let state = if returned == spec.amount_minor {
            Returned
        } else if returned > 0 || spec.path == Path::SettleThenPartialReturns {
            Settled
        } else {
            Pending
        };
        return (state, returned);
    }
    let state = natural_final_state_of(spec.path);
    let returned = if state == Returned {
        spec.amount_minor
    } else {
        0
    };
    (state, returned)
}

fn natural_final_state_of(path: Path) -> PaymentState {
    match path {
        Path::SettleDirect | Path::PendingThenSettle => Settled,
        Path::RejectDirect | Path::PendingThenReject => Rejected,
        Path::PendingOnly => Pending,
        Path::SettleThenReturn | Path::PendingSettleReturn => Returned,
        Path::Contradictory => unreachable!("contradictory paths have no single natural end"),
        Path::SettleThenPartialReturns | Path::PendingThenPartialReturns => {
            unreachable!("partial returns end by their amounts")
        }
    }
}

/// Builds the deliveries of a scenario: every natural message under its own
/// key, business duplicates, conflicting content, and key reuse.
fn deliveries(scenario: &Scenario, rng: &mut StdRng) -> Vec<Delivery> {
    let client = "client-a";
    let mut deliveries = Vec::new();
    let mut key_number = 0;
    let mut next_key = || {
        key_number += 1;
        format!("key-{key_number}")
    };
    for (index, spec) in scenario.payments.iter().enumerate() {
        let messages = target_messages(index, spec);
        if spec.business_duplicate {
            deliveries.push(Delivery {
                command: command(client, &next_key(), messages[0].clone()),
                payment: index,
            });
        }
        if spec.conflicting_content {
            let mut conflicting = messages[0].clone();
            let instruction = conflicting.instruction.as_mut().expect("creating message");
            instruction.amount = eur(spec.amount_minor + 1);
            deliveries.push(Delivery {
                command: command(client, &next_key(), conflicting),
                payment: index,
            });
        }
        for message in messages {
            deliveries.push(Delivery {
                command: command(client, &next_key(), message),
                payment: index,
            });
        }
    }
    // Reuse an existing key for another delivery's request: whichever of the
    // two arrives first owns the key; the other is refused.
    if deliveries.len() >= 2 && rng.random_bool(0.5) {
        let owner = rng.random_range(0..deliveries.len());
        let source = rng.random_range(0..deliveries.len());
        if deliveries[owner].command.fingerprint != deliveries[source].command.fingerprint {
            let mut reuse = deliveries[source].clone();
            reuse.command.idempotency_key = deliveries[owner].command.idempotency_key.clone();
            deliveries.push(reuse);
        }
    }
    deliveries
}

/// Payments whose final state does not depend on delivery order: no
/// contradictory terminals, no conflicting content, no reused keys.
fn uncontested(scenario: &Scenario, deliveries: &[Delivery]) -> BTreeSet<usize> {
    let mut owners: HashMap<&str, BTreeSet<_>> = HashMap::new();
    for delivery in deliveries {
        owners
            .entry(delivery.command.idempotency_key.as_str())
            .or_default()
            .insert(delivery.command.fingerprint.as_bytes().to_vec());
    }
    let reused: BTreeSet<usize> = deliveries
        .iter()
        .filter(|delivery| owners[delivery.command.idempotency_key.as_str()].len() > 1)
        .map(|delivery| delivery.payment)
        .collect();
    scenario
        .payments
        .iter()
        .enumerate()
        .filter(|(index, spec)| {
            // An extra whole return makes which returns fit depend on order.
            let order_decides_returns = spec.has_partial_returns() && spec.excess_return;
            spec.path != Path::Contradictory
                && !spec.conflicting_content
                && !order_decides_returns
                && !reused.contains(index)
        })
        .map(|(index, _)| index)
        .collect()
}

// ------------------------------------------------------------------ model

#[derive(Debug, Clone)]
struct ModelPayment {
    state: PaymentState,
    amount: Amount,
    debtor: String,
    creditor: String,
    state_changes: usize,
    /// Return id -> amount, each return applied once.
    returns: BTreeMap<String, i64>,
    /// Answers APPLIED, state change or not.
    applied: usize,
}

impl ModelPayment {
    fn returned(&self) -> i64 {
        self.returns.values().sum()
    }
}

/// The contract restated as simply as possible, independent of the ledger's code.
#[derive(Debug, Default)]
struct Model {
    /// key -> (fingerprint, outcome code of the stored response)
    keys: HashMap<String, (Vec<u8>, &'static str)>,
    payments: BTreeMap<String, ModelPayment>,
}

#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Fresh(&'static str),
    Replay(&'static str),
    KeyReused,
    OriginalNotFound,
}

impl Model {
    fn apply(&mut self, command: &ApplyCommand) -> Expected {
        let key = command.idempotency_key.as_str().to_owned();
        let fingerprint = command.fingerprint.as_bytes().to_vec();
        if let Some((stored, outcome)) = self.keys.get(&key) {
            return if *stored == fingerprint {
                Expected::Replay(outcome)
            } else {
                Expected::KeyReused
            };
        }
        let message = &command.messages[0];
        let business_key = message.business_key.canonical();
        let target = message.target_state;
        let outcome = match self.payments.get_mut(&business_key) {
            None => match &message.instruction {
                Some(instruction) if target != Returned => {
                    self.payments.insert(
                        business_key,
                        ModelPayment {
                            state: target,
                            amount: instruction.amount,
                            debtor: instruction.debtor.account.as_ref().unwrap().to_string(),
                            creditor: instruction.creditor.account.as_ref().unwrap().to_string(),
                            state_changes: 1,
                            returns: BTreeMap::new(),
                            applied: 1,
                        },
                    );
                    "APPLIED"
                }
                _ => return Expected::OriginalNotFound,
            },
            Some(payment) => {
                let conflicting = message.instruction.as_ref().is_some_and(|instruction| {
                    instruction.amount != payment.amount
                        || instruction.debtor.account.as_ref().unwrap().as_str() != payment.debtor
                        || instruction.creditor.account.as_ref().unwrap().as_str()
                            != payment.creditor
                });
                let order = |state| match state {
                    Pending => (0, 0),
                    Settled => (1, 0),
                    Returned => (2, 0),
                    Rejected => (1, 1),
                };
                let (current_rank, current_branch) = order(payment.state);
                let (target_rank, target_branch) = order(target);
                if conflicting {
                    "REJECTED"
                } else if target == payment.state && message.instruction.is_some() {
                    "DUPLICATE"
                } else if target == Returned {
                    // A return: once per return id, at most what is left.
                    let return_id = message
                        .return_id
                        .clone()
                        .unwrap_or_else(ReturnId::unnamed)
                        .canonical()
                        .to_owned();
                    let amount = message
                        .returned_amount
                        .unwrap_or(payment.amount)
                        .minor_units();
                    let left = payment.amount.minor_units() - payment.returned();
                    match payment.returns.get(&return_id) {
                        Some(recorded) if *recorded == amount => "ALREADY_APPLIED",
                        Some(_) => "REJECTED",
                        None if payment.state == Rejected || amount > left => "REJECTED",
                        None => {
                            payment.returns.insert(return_id, amount);
                            let state = if amount == left { Returned } else { Settled };
                            if state != payment.state {
                                payment.state_changes += 1;
                            }
                            payment.state = state;
                            payment.applied += 1;
                            "APPLIED"
                        }
                    }
                } else if target == payment.state {
                    if message.instruction.is_some() {
                        "DUPLICATE"
                    } else {
                        "ALREADY_APPLIED"
                    }
                } else if current_rank > 0 && target_rank > 0 && current_branch != target_branch {
                    "REJECTED"
                } else if target_rank <= current_rank {
                    "ALREADY_APPLIED"
                } else {
                    payment.state = target;
                    payment.state_changes += 1;
                    payment.applied += 1;
                    "APPLIED"
                }
            }
        };
        self.keys.insert(key, (fingerprint, outcome));
        Expected::Fresh(outcome)
    }
}

/// Balances a set of final payment states imply, by account:
/// [debits_pending, debits_posted, credits_pending, credits_posted].
fn implied_balances<'a>(
    payments: impl Iterator<Item = (PaymentState, i64, i64, &'a str, &'a str)>,
) -> BTreeMap<String, [i64; 4]> {
    let mut balances: BTreeMap<String, [i64; 4]> = ACCOUNTS
        .iter()
        .map(|name| (name.to_string(), [0; 4]))
        .collect();
    for (state, amount, returned, debtor, creditor) in payments {
        // What was returned went back from the creditor to the debtor.
        let (debtor_effect, creditor_effect) = match state {
            Pending => ([amount, 0, 0, 0], [0, 0, amount, 0]),
            Settled | Returned => ([0, amount, 0, returned], [0, returned, 0, amount]),
            Rejected => ([0; 4], [0; 4]),
        };
        assert!(
            (0..=amount).contains(&returned),
            "returned {returned} of {amount}"
        );
        assert_eq!(state == Returned, returned == amount, "{state} {returned}");
        for (name, effect) in [(debtor, debtor_effect), (creditor, creditor_effect)] {
            let entry = balances.get_mut(name).expect("known account");
            for (total, part) in entry.iter_mut().zip(effect) {
                *total += part;
            }
        }
    }
    balances
}

fn observed(result: &Result<ApplyResponse, LedgerError>) -> Expected {
    match result {
        Ok(response)
            if response.receipts[0].outcome.code() == "REJECTED"
                && matches!(
                    &response.receipts[0].outcome,
                    ledger::model::Outcome::Rejected(reason) if reason.is_transient()
                ) =>
        {
            Expected::OriginalNotFound
        }
        Ok(response) if response.replay => Expected::Replay(response.receipts[0].outcome.code()),
        Ok(response) => Expected::Fresh(response.receipts[0].outcome.code()),
        Err(LedgerError::IdempotencyKeyReused { .. }) => Expected::KeyReused,
        Err(error) => panic!("unexpected ledger error: {error:?}"),
    }
}

async fn prepare(db: &TestDatabase) {
    db.truncate().await;
    for name in ACCOUNTS {
        db.ledger
            .open_account(&open(name, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
}

/// A payment as the ledger holds it at the end: state, amount, amount
/// returned, debtor and creditor accounts.
type FinalPayment = (PaymentState, i64, i64, String, String);

/// Final states of the payments as the ledger holds them.
async fn ledger_final_states(
    db: &TestDatabase,
    scenario: &Scenario,
) -> BTreeMap<usize, FinalPayment> {
    let mut states = BTreeMap::new();
    let client = db.client().await;
    for index in 0..scenario.payments.len() {
        let row = client
            .query_opt(
                "SELECT p.state, p.amount_minor, p.amount_returned_minor, d.external_reference, \
                 c.external_reference \
                 FROM payments p JOIN accounts d ON d.account_id = p.debit_account_id \
                 JOIN accounts c ON c.account_id = p.credit_account_id WHERE p.business_key = $1",
                &[&ledger_system_tests::fixtures::key(&business_key(index)).canonical()],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            let state: String = row.get(0);
            states.insert(
                index,
                (
                    PaymentState::parse(&state).unwrap(),
                    row.get(1),
                    row.get(2),
                    row.get(3),
                    row.get(4),
                ),
            );
        }
    }
    states
}

/// Checks shared by both properties, on the ledger's final contents.
async fn check_final_ledger(
    db: &TestDatabase,
    scenario: &Scenario,
    deliveries: &[Delivery],
    responses: &[(usize, Result<ApplyResponse, LedgerError>)],
) -> BTreeMap<usize, FinalPayment> {
    let client = db.client().await;
    // Two oracles on purpose: the test crate's own invariant queries, and the
    // reconciliation audit operators run, written independently.
    let violations = invariants::violations(&client).await;
    assert!(violations.is_empty(), "{violations:#?}");
    let audit = db.ledger.audit(None).await.unwrap();
    assert!(audit.is_clean(), "{audit:#?}");

    // Every response under one key is the same stored bytes.
    let mut bytes_by_key: HashMap<&str, &[u8]> = HashMap::new();
    let mut stored_keys = BTreeSet::new();
    for (index, result) in responses {
        let Ok(response) = result else { continue };
        if observed(result) == Expected::OriginalNotFound {
            continue;
        }
        let key = deliveries[*index].command.idempotency_key.as_str();
        stored_keys.insert(key);
        let first = bytes_by_key.entry(key).or_insert(&response.response_bytes);
        assert_eq!(*first, response.response_bytes.as_slice(), "key {key}");
    }
    // A refused reuse wrote nothing: one record per key that answered.
    assert_eq!(
        invariants::count(&client, "idempotency_records").await,
        stored_keys.len() as i64
    );

    let states = ledger_final_states(db, scenario).await;
    // Order independence: uncontested payments end where their natural order ends.
    for index in uncontested(scenario, deliveries) {
        let expected = natural_final_state(&scenario.payments[index]);
        assert_eq!(
            states.get(&index).map(|state| (state.0, state.2)),
            Some(expected),
            "payment {index}"
        );
    }
    // Balances are exactly what the final states and returns imply.
    let implied = implied_balances(states.values().map(
        |(state, amount, returned, debtor, creditor)| {
            (
                *state,
                *amount,
                *returned,
                debtor.as_str(),
                creditor.as_str(),
            )
        },
    ));
    assert_eq!(invariants::balances(&client).await, implied);

    // Each state change was applied (and confirmed) exactly once, and each
    // return applied once: an APPLIED return recorded one return; an
    // APPLIED answer to anything else wrote one outbox row, a return one
    // when it moved the state.
    let mut applied_per_payment: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
    for (index, result) in responses {
        if matches!(observed(result), Expected::Fresh("APPLIED")) {
            let is_return = deliveries[*index].command.messages[0].target_state == Returned;
            let (others, returns) = applied_per_payment
                .entry(deliveries[*index].payment)
                .or_default();
            *if is_return { returns } else { others } += 1;
        }
    }
    for index in 0..scenario.payments.len() {
        let canonical = ledger_system_tests::fixtures::key(&business_key(index)).canonical();
        let count = |table: &'static str| {
            let client = &client;
            let canonical = canonical.clone();
            async move {
                let count: i64 = client
                    .query_one(
                        &format!(
                            "SELECT COUNT(*) FROM {table} JOIN payments p USING (payment_id) \
                             WHERE p.business_key = $1"
                        ),
                        &[&canonical],
                    )
                    .await
                    .unwrap()
                    .get(0);
                count
            }
        };
        let outbox_rows = count("outbox").await;
        let returns_recorded = count("payment_returns").await;
        let (others, returns) = applied_per_payment.get(&index).copied().unwrap_or((0, 0));
        assert_eq!(
            returns_recorded, returns,
            "payment {index}: returns vs APPLIED returns"
        );
        assert!(
            (others..=others + returns).contains(&outbox_rows),
            "payment {index}: {outbox_rows} outbox rows, {others} APPLIED answers, {returns} \
             APPLIED returns"
        );
    }
    states
}

/// Retries deliveries refused with ORIGINAL_NOT_FOUND, as a client would.
async fn retry_originals_not_found(
    db: &TestDatabase,
    deliveries: &[Delivery],
    responses: &mut Vec<(usize, Result<ApplyResponse, LedgerError>)>,
    mut on_response: impl FnMut(usize, &Result<ApplyResponse, LedgerError>),
) {
    for _ in 0..RETRY_ROUNDS_MAX {
        let waiting: BTreeSet<usize> = {
            let mut last: BTreeMap<usize, bool> = BTreeMap::new();
            for (index, result) in responses.iter() {
                last.insert(*index, observed(result) == Expected::OriginalNotFound);
            }
            last.into_iter()
                .filter(|(_, waiting)| *waiting)
                .map(|(index, _)| index)
                .collect()
        };
        if waiting.is_empty() {
            return;
        }
        for index in waiting {
            let result = db.ledger.apply(&deliveries[index].command).await;
            on_response(index, &result);
            responses.push((index, result));
        }
    }
}

/// How the sequential checks send their deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    OneByOne,
    /// In consecutive batches of random sizes, 1 to [`BATCH_SIZE_MAX`].
    InBatches,
    /// All at once, in order, through a group-commit queue whose applier
    /// takes batches of up to a random size, 1 to [`BATCH_SIZE_MAX`].
    ThroughGroupCommit,
}

fn run_sequential(cases: u32, sending: Sending) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDatabase::create(LedgerOptions::default()));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&scenario(), |scenario| {
            runtime.block_on(check_sequential(&db, &scenario, sending));
            Ok(())
        })
        .unwrap();
}

#[test]
fn sequential_replays_duplicates_and_reorderings_apply_each_state_change_exactly_once() {
    run_sequential(CASES_SEQUENTIAL, Sending::OneByOne);
}

/// Batched ingest: a batch answers each command exactly as
/// applying them one after another would, including a payment created and
/// moved in the same batch and a key repeated inside one batch.
#[test]
fn batches_answer_every_command_as_if_applied_one_after_another() {
    run_sequential(CASES_BATCHED, Sending::InBatches);
}

/// Group commit: requests queued in order and applied in whatever batches
/// the applier forms are answered exactly as applying them one after
/// another would.
#[test]
fn group_commit_answers_every_request_as_if_applied_one_after_another() {
    run_sequential(CASES_BATCHED, Sending::ThroughGroupCommit);
}

/// Sends the deliveries in `order` the way `sending` says, and returns each
/// one's answer, in that order.
async fn send_in_order(
    db: &TestDatabase,
    deliveries: &[Delivery],
    order: &[usize],
    sending: Sending,
    rng: &mut StdRng,
) -> Vec<(usize, Result<ApplyResponse, LedgerError>)> {
    let mut sent = Vec::with_capacity(order.len());
    if sending == Sending::ThroughGroupCommit {
        let group_commit = GroupCommit::start(
            db.ledger.clone(),
            GroupCommitOptions {
                queue_capacity_max: order.len().max(1),
                batch_size_max: rng.random_range(1..=BATCH_SIZE_MAX),
                appliers_max: 1,
            },
        );
        // Every request is queued before the first answer is awaited.
        let pending: Vec<PendingAnswer> = order
            .iter()
            .map(|index| {
                group_commit
                    .submit(deliveries[*index].command.clone(), None)
                    .unwrap()
            })
            .collect();
        for (index, pending) in order.iter().zip(pending) {
            sent.push((*index, pending.answer().await));
        }
        return sent;
    }
    let mut rest = order;
    while !rest.is_empty() {
        let size = match sending {
            Sending::InBatches => rng.random_range(1..=BATCH_SIZE_MAX.min(rest.len())),
            Sending::OneByOne | Sending::ThroughGroupCommit => 1,
        };
        let (batch, later) = rest.split_at(size);
        rest = later;
        let commands: Vec<ApplyCommand> = batch
            .iter()
            .map(|index| deliveries[*index].command.clone())
            .collect();
        let results = if size == 1 {
            vec![db.ledger.apply(&commands[0]).await]
        } else {
            db.ledger.apply_batch(&commands).await.unwrap()
        };
        assert_eq!(results.len(), batch.len());
        sent.extend(batch.iter().copied().zip(results));
    }
    sent
}

async fn check_sequential(db: &TestDatabase, scenario: &Scenario, sending: Sending) {
    prepare(db).await;
    let mut rng = StdRng::seed_from_u64(scenario.seed);
    let deliveries = deliveries(scenario, &mut rng);
    // Shuffle, then replay random deliveries at random later points.
    let mut order: Vec<usize> = (0..deliveries.len()).collect();
    order.shuffle(&mut rng);
    for _ in 0..rng.random_range(0..=deliveries.len()) {
        let replayed = order[rng.random_range(0..order.len())];
        let at = rng.random_range(0..=order.len());
        order.insert(at, replayed);
    }
    let sent = send_in_order(db, &deliveries, &order, sending, &mut rng).await;
    let mut model = Model::default();
    let mut responses = Vec::new();
    for (index, result) in sent {
        let expected = model.apply(&deliveries[index].command);
        assert_eq!(
            observed(&result),
            expected,
            "delivery {index} ({sending:?}): {:?}",
            deliveries[index]
        );
        responses.push((index, result));
    }
    retry_originals_not_found(db, &deliveries, &mut responses, |index, result| {
        assert_eq!(observed(result), model.apply(&deliveries[index].command));
    })
    .await;
    let states = check_final_ledger(db, scenario, &deliveries, &responses).await;
    // Contested payments too end where the model, fed the same order, ends.
    for index in 0..scenario.payments.len() {
        let canonical = ledger_system_tests::fixtures::key(&business_key(index)).canonical();
        let Some(payment) = model.payments.get(&canonical) else {
            assert!(
                !states.contains_key(&index),
                "payment {index} exists only in the ledger"
            );
            continue;
        };
        assert_eq!(states[&index].0, payment.state, "payment {index}");
        assert_eq!(states[&index].1, payment.amount.minor_units());
        assert_eq!(states[&index].2, payment.returned(), "payment {index}");
        let applied = responses
            .iter()
            .filter(|(i, result)| {
                deliveries[*i].payment == index && observed(result) == Expected::Fresh("APPLIED")
            })
            .count();
        assert_eq!(applied, payment.applied);
        let outbox_rows: i64 = db
            .client()
            .await
            .query_one(
                "SELECT COUNT(*) FROM outbox JOIN payments p USING (payment_id) \
                 WHERE p.business_key = $1",
                &[&canonical],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(outbox_rows, payment.state_changes as i64, "payment {index}");
    }
}

#[test]
fn concurrent_tasks_replaying_parts_of_the_set_apply_each_state_change_exactly_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let options = LedgerOptions {
        pool_size_max: TASKS_CONCURRENT,
        transaction_attempts_max: 50,
        ..LedgerOptions::default()
    };
    let db = runtime.block_on(TestDatabase::create(options));
    let mut runner = TestRunner::new(Config {
        cases: CASES_CONCURRENT,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&scenario(), |scenario| {
            runtime.block_on(check_concurrent(&db, &scenario));
            Ok(())
        })
        .unwrap();
}

async fn check_concurrent(db: &TestDatabase, scenario: &Scenario) {
    prepare(db).await;
    let mut rng = StdRng::seed_from_u64(scenario.seed);
    let deliveries = deliveries(scenario, &mut rng);
    let mut handles = Vec::new();
    for task in 0..TASKS_CONCURRENT {
        // Each task replays a random part of the set (task 0 sends all of it,
        // so every delivery is sent at least once), in its own order.
        let mut part: Vec<usize> = (0..deliveries.len())
            .filter(|_| task == 0 || rng.random_bool(0.6))
            .collect();
        part.shuffle(&mut rng);
        let ledger = db.ledger.clone();
        let commands: Vec<(usize, ApplyCommand)> = part
            .into_iter()
            .map(|index| (index, deliveries[index].command.clone()))
            .collect();
        handles.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for (index, command) in commands {
                results.push((index, ledger.apply(&command).await));
            }
            results
        }));
    }
    let mut responses = Vec::new();
    for handle in handles {
        responses.extend(handle.await.unwrap());
    }
    // Contention must be absorbed by retries, never surface as an error.
    for (index, result) in &responses {
        if let Err(error) = result {
            assert!(
                matches!(error, LedgerError::IdempotencyKeyReused { .. }),
                "delivery {index}: {error:?}"
            );
        }
    }
    retry_originals_not_found(db, &deliveries, &mut responses, |_, _| {}).await;
    // Per key, exactly one request owns it: the other is always refused.
    let mut owner: HashMap<&str, Vec<u8>> = HashMap::new();
    for (index, result) in &responses {
        let command = &deliveries[*index].command;
        if result.is_ok() && observed(result) != Expected::OriginalNotFound {
            let fingerprint = command.fingerprint.as_bytes().to_vec();
            let first = owner
                .entry(command.idempotency_key.as_str())
                .or_insert(fingerprint.clone());
            assert_eq!(*first, fingerprint, "two requests answered under one key");
        }
    }
    check_final_ledger(db, scenario, &deliveries, &responses).await;
}
