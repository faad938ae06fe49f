//! Property tests of a payment's whole life against real PostgreSQL: holds
//! (a pain.001: PENDING) that are settled (pacs.002 ACSC), voided (RJCT) or
//! expire (`Ledger::expire_holds`), immediate payments (a pacs.008:
//! SETTLED), and full returns (pacs.004), over accounts that forbid
//! overdraft and accounts that do not.
//!
//! Each case generates a few payments, each with the life it should have,
//! and the events of those lives: every message under its own idempotency
//! key, and the moment a hold is due to expire. The events are applied (a)
//! one after another, shuffled, with replays, and compared with a model of
//! the states after each one; (b) from several tasks at once, each replaying
//! part of the set in its own order, expiries included. Both must satisfy:
//!
//! - the balances are exactly what the final states imply;
//! - an account that forbids overdraft never has debits (pending and
//!   posted) above its posted credits, checked after every event (a) and
//!   all along (b);
//! - a hold leaves PENDING at most once: settled, voided or expired, one
//!   transfer and one confirmation, and every expiry answered as applied
//!   wrote its own confirmation;
//! - convergence: a payment whose messages do not contradict each other
//!   ends in the same state whatever the order and the replays.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ledger::model::{Outcome, OverdraftRule, PaymentMessage, PaymentState};
use ledger::{ApplyCommand, ApplyResponse, Ledger, LedgerError, LedgerOptions};
use ledger_system_tests::fixtures::{command, eur, key, open, status, transfer};
use ledger_system_tests::{invariants, TestDatabase};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use PaymentState::{Pending, Rejected, Returned, Settled};

/// Accounts anyone may overdraw: the creditors of every payment, and the
/// source of the guarded accounts' funds.
const OPEN_ACCOUNTS: [&str; 2] = ["OPEN-0", "OPEN-1"];
/// Accounts that forbid overdraft (debits may not exceed posted credits).
const GUARDED_ACCOUNTS: [&str; 2] = ["GUARD-0", "GUARD-1"];
const CASES_SEQUENTIAL: u32 = 48;
const CASES_CONCURRENT: u32 = 16;
const TASKS_CONCURRENT: usize = 4;
/// Bound on the rounds of retrying ORIGINAL_NOT_FOUND refusals, as a client would.
const RETRY_ROUNDS_MAX: usize = 8;
/// How far back a hold due to expire is dated: well past the cutoff.
const EXPIRED_AGE: Duration = Duration::from_secs(2 * 3_600);
/// The expiry cutoff: holds older than this expire.
const EXPIRY_AGE: Duration = Duration::from_secs(3_600);

/// What a payment's messages assert, in their natural order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// A hold nobody decides.
    Hold,
    HoldSettled,
    HoldVoided,
    HoldExpired,
    HoldSettledReturned,
    Immediate,
    ImmediateReturned,
    /// A settlement and a void of one hold: the first applied stands.
    HoldSettledOrVoided,
    /// A settlement of a hold that is also due to expire: the first stands.
    HoldSettledOrExpired,
}

impl Life {
    fn starts_held(self) -> bool {
        !matches!(self, Life::Immediate | Life::ImmediateReturned)
    }

    fn expires(self) -> bool {
        matches!(self, Life::HoldExpired | Life::HoldSettledOrExpired)
    }

    /// Its messages after the creating one.
    fn later_states(self) -> &'static [PaymentState] {
        match self {
            Life::Hold | Life::HoldExpired | Life::Immediate => &[],
            Life::HoldSettled | Life::HoldSettledOrExpired => &[Settled],
            Life::HoldVoided => &[Rejected],
            Life::HoldSettledReturned => &[Settled, Returned],
            Life::ImmediateReturned => &[Returned],
            Life::HoldSettledOrVoided => &[Settled, Rejected],
        }
    }

    /// Where the life ends whatever the order, or `None` when its
    /// messages contradict each other.
    fn final_state(self) -> Option<PaymentState> {
        match self {
            Life::Hold => Some(Pending),
            Life::HoldSettled | Life::Immediate => Some(Settled),
            Life::HoldVoided | Life::HoldExpired => Some(Rejected),
            Life::HoldSettledReturned | Life::ImmediateReturned => Some(Returned),
            Life::HoldSettledOrVoided | Life::HoldSettledOrExpired => None,
        }
    }
}

#[derive(Debug, Clone)]
struct PaymentSpec {
    life: Life,
    amount_minor: i64,
    /// Debits a guarded account (else an open one).
    guarded: bool,
    debtor: usize,
    creditor: usize,
    /// More than the guarded debtor ever holds: always refused
    /// (INSUFFICIENT_FUNDS), whatever the order.
    overdraws: bool,
}

#[derive(Debug, Clone)]
struct Scenario {
    payments: Vec<PaymentSpec>,
    /// Funds over what the guarded accounts' payments need, per account.
    slack_minor: [i64; 2],
    /// Drives shuffles and replays, so a failing case reproduces.
    seed: u64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let life = prop_oneof![
        Just(Life::Hold),
        Just(Life::HoldSettled),
        Just(Life::HoldVoided),
        Just(Life::HoldExpired),
        Just(Life::HoldSettledReturned),
        Just(Life::Immediate),
        Just(Life::ImmediateReturned),
        Just(Life::HoldSettledOrVoided),
        Just(Life::HoldSettledOrExpired),
    ];
    let payment = (
        life,
        1..=5_000i64,
        any::<bool>(),
        0..2usize,
        0..2usize,
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(life, amount_minor, guarded, debtor, creditor, overdraws)| PaymentSpec {
                life,
                amount_minor,
                guarded,
                debtor,
                creditor,
                overdraws: guarded && overdraws,
            },
        );
    (
        prop::collection::vec(payment, 1..=6),
        [0..=100i64, 0..=100i64],
        any::<u64>(),
    )
        .prop_map(|(payments, slack_minor, seed)| Scenario {
            payments,
            slack_minor,
            seed,
        })
}

impl Scenario {
    /// What each guarded account is funded with: every payment it makes
    /// that is not meant to overdraw fits at once, with some slack.
    fn funding_minor(&self) -> [i64; 2] {
        let mut funding = self.slack_minor;
        for spec in &self.payments {
            if spec.guarded && !spec.overdraws {
                funding[spec.debtor] += spec.amount_minor;
            }
        }
        funding
    }

    fn amount_minor(&self, index: usize) -> i64 {
        let spec = &self.payments[index];
        if spec.overdraws {
            // More than all the account's credits, before and after any
            // other payment (its returns credit back only what it paid).
            self.funding_minor()[spec.debtor] + spec.amount_minor
        } else {
            spec.amount_minor
        }
    }

    fn debtor(&self, index: usize) -> &'static str {
        let spec = &self.payments[index];
        if spec.guarded {
            GUARDED_ACCOUNTS[spec.debtor]
        } else {
            OPEN_ACCOUNTS[spec.debtor]
        }
    }

    fn creditor(&self, index: usize) -> &'static str {
        let spec = &self.payments[index];
        if !spec.guarded && spec.debtor == spec.creditor {
            OPEN_ACCOUNTS[1 - spec.creditor]
        } else {
            OPEN_ACCOUNTS[spec.creditor]
        }
    }
}

fn business_key(payment: usize) -> String {
    format!("L{payment}")
}

/// One thing that happens to a payment.
#[derive(Debug, Clone)]
enum Event {
    /// A message, under its own idempotency key.
    Message {
        payment: usize,
        command: ApplyCommand,
    },
    /// The hold comes due: it is dated back past the expiry cutoff, and the
    /// expiry runs (it expires whatever is PENDING and due).
    Expiry { payment: usize },
}

impl Event {
    fn payment(&self) -> usize {
        match self {
            Event::Message { payment, .. } | Event::Expiry { payment } => *payment,
        }
    }
}

fn events(scenario: &Scenario) -> Vec<Event> {
    let mut events = Vec::new();
    for (index, spec) in scenario.payments.iter().enumerate() {
        let key = business_key(index);
        let first = if spec.life.starts_held() {
            Pending
        } else {
            Settled
        };
        let mut messages: Vec<PaymentMessage> = vec![transfer(
            &key,
            first,
            eur(scenario.amount_minor(index)),
            scenario.debtor(index),
            scenario.creditor(index),
        )];
        messages.extend(
            spec.life
                .later_states()
                .iter()
                .map(|state| status(&key, *state)),
        );
        for (n, message) in messages.into_iter().enumerate() {
            events.push(Event::Message {
                payment: index,
                command: command("client-l", &format!("key-{index}-{n}"), message),
            });
        }
        if spec.life.expires() {
            events.push(Event::Expiry { payment: index });
        }
    }
    events
}

// ------------------------------------------------------------------ model

/// A payment's state as the contract has it, fed events one at a time.
#[derive(Debug, Default)]
struct Model {
    /// payment -> (state, number of state changes)
    payments: BTreeMap<usize, (PaymentState, usize)>,
}

impl Model {
    fn apply(&mut self, scenario: &Scenario, event: &Event) {
        match event {
            Event::Expiry { payment } => {
                if let Some((state @ Pending, changes)) = self.payments.get_mut(payment) {
                    *state = Rejected;
                    *changes += 1;
                }
            }
            Event::Message { payment, command } => {
                let message = &command.messages[0];
                let target = message.target_state;
                match self.payments.get_mut(payment) {
                    // A payment meant to overdraw is refused, never created.
                    None if message.instruction.is_some()
                        && !scenario.payments[*payment].overdraws =>
                    {
                        self.payments.insert(*payment, (target, 1));
                    }
                    Some((state, changes))
                        if target.is_later_than(*state) && !target.contradicts(*state) =>
                    {
                        *state = target;
                        *changes += 1;
                    }
                    // Not there yet (ORIGINAL_NOT_FOUND, retried later), refused,
                    // or not a move forward: nothing changes.
                    _ => {}
                }
            }
        }
    }
}

/// Balances the final states imply, by account, the funding included:
/// [debits_pending, debits_posted, credits_pending, credits_posted].
fn implied_balances(
    scenario: &Scenario,
    states: &BTreeMap<usize, PaymentState>,
) -> BTreeMap<String, [i64; 4]> {
    let mut balances: BTreeMap<String, [i64; 4]> = OPEN_ACCOUNTS
        .iter()
        .chain(&GUARDED_ACCOUNTS)
        .map(|name| (name.to_string(), [0; 4]))
        .collect();
    let mut post = |state: PaymentState, amount: i64, debtor: &str, creditor: &str| {
        let (debtor_effect, creditor_effect) = match state {
            Pending => ([amount, 0, 0, 0], [0, 0, amount, 0]),
            Settled => ([0, amount, 0, 0], [0, 0, 0, amount]),
            Rejected => ([0; 4], [0; 4]),
            Returned => ([0, amount, 0, amount], [0, amount, 0, amount]),
        };
        for (name, effect) in [(debtor, debtor_effect), (creditor, creditor_effect)] {
            let entry = balances.get_mut(name).expect("a known account");
            for (total, part) in entry.iter_mut().zip(effect) {
                *total += part;
            }
        }
    };
    for (account, funding) in GUARDED_ACCOUNTS.iter().zip(scenario.funding_minor()) {
        if funding > 0 {
            post(Settled, funding, OPEN_ACCOUNTS[0], account);
        }
    }
    for (index, state) in states {
        post(
            *state,
            scenario.amount_minor(*index),
            scenario.debtor(*index),
            scenario.creditor(*index),
        );
    }
    balances
}

// ------------------------------------------------------------------ the ledger

/// Opens the accounts and funds the guarded ones from an open account.
async fn prepare(db: &TestDatabase, scenario: &Scenario) {
    db.truncate().await;
    for name in OPEN_ACCOUNTS {
        db.ledger
            .open_account(&open(name, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
    for name in GUARDED_ACCOUNTS {
        db.ledger
            .open_account(&open(
                name,
                "EUR",
                OverdraftRule::DebitsMustNotExceedCredits,
            ))
            .await
            .unwrap();
    }
    for (n, (account, funding)) in GUARDED_ACCOUNTS
        .iter()
        .zip(scenario.funding_minor())
        .enumerate()
    {
        if funding > 0 {
            let funded = db
                .ledger
                .apply(&command(
                    "funding",
                    &format!("fund-{n}"),
                    transfer(
                        &format!("FUND-{n}"),
                        Settled,
                        eur(funding),
                        OPEN_ACCOUNTS[0],
                        account,
                    ),
                ))
                .await
                .unwrap();
            assert_eq!(funded.receipts[0].outcome.code(), "APPLIED");
        }
    }
}

/// What an event did: a message's answer, or how many holds an expiry
/// run expired.
#[derive(Debug)]
enum Answer {
    Message(Result<ApplyResponse, LedgerError>),
    Expiry(usize),
}

fn is_original_not_found(answer: &Answer) -> bool {
    matches!(answer, Answer::Message(Ok(response))
        if matches!(&response.receipts[0].outcome, Outcome::Rejected(reason) if reason.is_transient()))
}

fn applied(answer: &Answer) -> bool {
    matches!(answer, Answer::Message(Ok(response))
        if !response.replay && matches!(response.receipts[0].outcome, Outcome::Applied))
}

async fn run_event(ledger: &Ledger, client: &tokio_postgres::Client, event: &Event) -> Answer {
    match event {
        Event::Message { command, .. } => Answer::Message(ledger.apply(command).await),
        Event::Expiry { payment } => {
            // The hold comes due (if it exists yet): date it back, then run
            // the expiry as `serve` would.
            let dated_back = SystemTime::now() - EXPIRED_AGE;
            client
                .execute(
                    "UPDATE payments SET created_at = $2 WHERE business_key = $1",
                    &[&key(&business_key(*payment)).canonical(), &dated_back],
                )
                .await
                .unwrap();
            let expired = ledger
                .expire_holds(SystemTime::now() - EXPIRY_AGE)
                .await
                .unwrap();
            Answer::Expiry(expired.expired_count)
        }
    }
}

/// The guarded accounts whose debits exceed their posted credits, in words.
async fn overdrawn(client: &tokio_postgres::Client) -> Vec<String> {
    let balances = invariants::balances(client).await;
    GUARDED_ACCOUNTS
        .iter()
        .filter_map(|name| {
            let [debits_pending, debits_posted, _, credits_posted] = balances[*name];
            (debits_pending + debits_posted > credits_posted).then(|| {
                format!("{name}: debits {debits_pending} pending + {debits_posted} posted > {credits_posted} credits")
            })
        })
        .collect()
}

/// Final states of the scenario's payments as the ledger holds them.
async fn ledger_states(
    client: &tokio_postgres::Client,
    scenario: &Scenario,
) -> BTreeMap<usize, PaymentState> {
    let mut states = BTreeMap::new();
    for index in 0..scenario.payments.len() {
        let row = client
            .query_opt(
                "SELECT state FROM payments WHERE business_key = $1",
                &[&key(&business_key(index)).canonical()],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            let state: String = row.get(0);
            states.insert(index, PaymentState::parse(&state).unwrap());
        }
    }
    states
}

/// Retries what was refused because its payment did not exist yet, as a
/// client would, and lets every hold due to expire expire, as the
/// periodic task would.
async fn settle_down(
    db: &TestDatabase,
    client: &tokio_postgres::Client,
    events: &[Event],
    answers: &mut Vec<(usize, Answer)>,
) {
    for _ in 0..RETRY_ROUNDS_MAX {
        let mut last: BTreeMap<usize, bool> = BTreeMap::new();
        for (index, answer) in answers.iter() {
            last.insert(*index, is_original_not_found(answer));
        }
        let waiting: Vec<usize> = last
            .into_iter()
            .filter(|(_, waiting)| *waiting)
            .map(|(index, _)| index)
            .collect();
        if waiting.is_empty() {
            break;
        }
        for index in waiting {
            answers.push((index, run_event(&db.ledger, client, &events[index]).await));
        }
    }
    for (index, event) in events.iter().enumerate() {
        if matches!(event, Event::Expiry { .. }) {
            answers.push((index, run_event(&db.ledger, client, event).await));
        }
    }
}

/// The properties every run must leave true; returns the final states.
async fn check_final_ledger(
    db: &TestDatabase,
    client: &tokio_postgres::Client,
    scenario: &Scenario,
    events: &[Event],
    answers: &[(usize, Answer)],
) -> BTreeMap<usize, PaymentState> {
    let violations = invariants::violations(client).await;
    assert!(violations.is_empty(), "{violations:#?}");
    let audit = db.ledger.audit(None).await.unwrap();
    assert!(audit.is_clean(), "{audit:#?}");
    let overdrawn = overdrawn(client).await;
    assert!(overdrawn.is_empty(), "{overdrawn:?}");

    let states = ledger_states(client, scenario).await;
    // Balances are exactly what the final states imply.
    assert_eq!(
        invariants::balances(client).await,
        implied_balances(scenario, &states)
    );
    // Convergence: uncontested payments end where their life ends; a
    // payment meant to overdraw never exists; contested ones end in one of
    // the two states that contradicted each other.
    for (index, spec) in scenario.payments.iter().enumerate() {
        let state = states.get(&index).copied();
        if spec.overdraws {
            assert_eq!(
                state,
                None,
                "payment {index} overdrew {}",
                scenario.debtor(index)
            );
            continue;
        }
        match spec.life.final_state() {
            Some(expected) => assert_eq!(state, Some(expected), "payment {index}: {spec:?}"),
            None => assert!(
                matches!(state, Some(Settled | Rejected)),
                "payment {index}: {spec:?} ended {state:?}"
            ),
        }
    }

    // A hold leaves PENDING at most once, and so does every payment: one
    // confirmation per state entered, one settling or voiding transfer.
    for index in 0..scenario.payments.len() {
        let canonical = key(&business_key(index)).canonical();
        let rows = client
            .query(
                "SELECT o.from_state, o.to_state, o.reason_code FROM outbox o \
                 JOIN payments p USING (payment_id) WHERE p.business_key = $1 ORDER BY o.outbox_id",
                &[&canonical],
            )
            .await
            .unwrap();
        let moves: Vec<(Option<String>, String, Option<String>)> = rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        let out_of_pending = moves
            .iter()
            .filter(|(from, _, _)| from.as_deref() == Some("PENDING"))
            .count();
        assert!(out_of_pending <= 1, "payment {index}: {moves:?}");
        let decided: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM transfers t JOIN payments p USING (payment_id) \
                 WHERE p.business_key = $1 AND t.kind IN ('POST_PENDING', 'VOID_PENDING')",
                &[&canonical],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(decided, out_of_pending as i64, "payment {index}: {moves:?}");
        // Each state change answered APPLIED exactly once.
        let applied_count = answers
            .iter()
            .filter(|(event, answer)| events[*event].payment() == index && applied(answer))
            .count();
        let expiries = moves
            .iter()
            .filter(|(_, to, reason)| to == "REJECTED" && reason.as_deref() == Some("AB03"))
            .count();
        assert_eq!(
            applied_count + expiries,
            moves.len(),
            "payment {index}: {moves:?}"
        );
        if !scenario.payments[index].life.expires() {
            assert_eq!(expiries, 0, "payment {index} expired unbidden: {moves:?}");
        }
    }
    // Every hold an expiry run counted as expired has its own confirmation.
    let expired_count: usize = answers
        .iter()
        .map(|(_, answer)| match answer {
            Answer::Expiry(count) => *count,
            Answer::Message(_) => 0,
        })
        .sum();
    let expiry_rows: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM outbox WHERE to_state = 'REJECTED' AND reason_code = 'AB03'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(expired_count as i64, expiry_rows);
    states
}

// ------------------------------------------------------------------ sequential

async fn check_sequential(db: &TestDatabase, scenario: &Scenario) {
    prepare(db, scenario).await;
    let client = db.client().await;
    let mut rng = StdRng::seed_from_u64(scenario.seed);
    let events = events(scenario);
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.shuffle(&mut rng);
    for _ in 0..rng.random_range(0..=events.len()) {
        let replayed = order[rng.random_range(0..order.len())];
        let at = rng.random_range(0..=order.len());
        order.insert(at, replayed);
    }
    let mut model = Model::default();
    let mut answers = Vec::new();
    for index in order {
        let answer = run_event(&db.ledger, &client, &events[index]).await;
        if let Answer::Message(Err(error)) = &answer {
            panic!("event {index}: {error:?}");
        }
        model.apply(scenario, &events[index]);
        let overdrawn = overdrawn(&client).await;
        assert!(overdrawn.is_empty(), "after event {index}: {overdrawn:?}");
        let states = ledger_states(&client, scenario).await;
        let expected: BTreeMap<usize, PaymentState> = model
            .payments
            .iter()
            .map(|(payment, (state, _))| (*payment, *state))
            .collect();
        assert_eq!(states, expected, "after event {index}: {:?}", events[index]);
        answers.push((index, answer));
    }
    let before = answers.len();
    settle_down(db, &client, &events, &mut answers).await;
    for (index, _) in &answers[before..] {
        model.apply(scenario, &events[*index]);
    }
    let states = check_final_ledger(db, &client, scenario, &events, &answers).await;
    // Contested payments too end where the model, fed the same order, ends,
    // after as many state changes.
    for (payment, (state, changes)) in &model.payments {
        assert_eq!(states.get(payment), Some(state), "payment {payment}");
        let confirmations: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM outbox o JOIN payments p USING (payment_id) \
                 WHERE p.business_key = $1",
                &[&key(&business_key(*payment)).canonical()],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(confirmations, *changes as i64, "payment {payment}");
    }
}

#[test]
fn holds_settlements_voids_expiries_and_returns_applied_in_any_order_converge() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDatabase::create(LedgerOptions::default()));
    let mut runner = TestRunner::new(Config {
        cases: CASES_SEQUENTIAL,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&scenario(), |scenario| {
            runtime.block_on(check_sequential(&db, &scenario));
            Ok(())
        })
        .unwrap();
}

// ------------------------------------------------------------------ concurrent

async fn check_concurrent(db: &TestDatabase, scenario: &Scenario) {
    prepare(db, scenario).await;
    let mut rng = StdRng::seed_from_u64(scenario.seed);
    let events = Arc::new(events(scenario));
    // Watches the guarded accounts all along, in its own snapshots.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let client = db.client().await;
        let done = done.clone();
        tokio::spawn(async move {
            let mut looks = 0;
            while !done.load(Ordering::SeqCst) {
                let overdrawn = overdrawn(&client).await;
                assert!(overdrawn.is_empty(), "{overdrawn:?}");
                looks += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            looks
        })
    };
    let mut handles = Vec::new();
    for task in 0..TASKS_CONCURRENT {
        // Task 0 sends every event; the others replay parts of the set.
        let mut part: Vec<usize> = (0..events.len())
            .filter(|_| task == 0 || rng.random_bool(0.6))
            .collect();
        part.shuffle(&mut rng);
        let db_config = db.config.clone();
        let ledger = db.ledger.clone();
        let events = events.clone();
        handles.push(tokio::spawn(async move {
            let client = ledger_system_tests::connect(&db_config).await;
            let mut answers = Vec::new();
            for index in part {
                answers.push((index, run_event(&ledger, &client, &events[index]).await));
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for handle in handles {
        answers.extend(handle.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    assert!(watcher.await.unwrap() > 0);
    // Contention is absorbed by retries, never surfaced.
    for (index, answer) in &answers {
        if let Answer::Message(Err(error)) = answer {
            panic!("event {index}: {error:?}");
        }
    }
    let client = db.client().await;
    settle_down(db, &client, &events, &mut answers).await;
    check_final_ledger(db, &client, scenario, &events, &answers).await;
}

#[test]
fn holds_settlements_voids_expiries_and_returns_from_concurrent_tasks_converge() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let options = LedgerOptions {
        pool_size_max: TASKS_CONCURRENT + 2,
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
