//! Applying final-state messages, refusals of bad input,
//! replays and business duplicates, and the account mapping of semantics §5.

use ledger::model::{
    Account, AccountId, Amount, Balances, Bic, Currency, IdempotencyKey, Outcome, OverdraftRule,
    PaymentMessage, PaymentState, RejectionReason,
};
use ledger::{ApplyResponse, LedgerError, Receipt};
use ledger_system_tests::fixtures::*;
use ledger_system_tests::{invariants, TestDatabase};

use PaymentState::{Pending, Rejected, Returned, Settled};

/// A database with a funded-by-nothing, overdraft-free customer account
/// `ALICE` and two unrestricted accounts `BOB` and `CLEARING`, all in EUR.
async fn ledger_with_accounts() -> TestDatabase {
    let db = TestDatabase::with_defaults().await;
    db.ledger
        .open_account(&open(
            "ALICE",
            "EUR",
            OverdraftRule::DebitsMustNotExceedCredits,
        ))
        .await
        .unwrap();
    for name in ["BOB", "CLEARING"] {
        open_unrestricted(&db, name, "EUR").await.unwrap();
    }
    db
}

/// Opens an account in `currency` that may be overdrawn.
async fn open_unrestricted(
    db: &TestDatabase,
    reference_text: &str,
    currency: &str,
) -> Result<Account, LedgerError> {
    db.ledger
        .open_account(&open(reference_text, currency, OverdraftRule::Unrestricted))
        .await
}

/// Applies `message` as `client` under `idempotency_key`.
async fn apply_as(
    db: &TestDatabase,
    client: &str,
    idempotency_key: &str,
    message: PaymentMessage,
) -> ApplyResponse {
    db.ledger
        .apply(&command(client, idempotency_key, message))
        .await
        .unwrap()
}

/// A payment from `BOB` to `CLEARING`.
fn bob_pays_clearing(
    business_key: &str,
    target_state: PaymentState,
    amount: Amount,
) -> PaymentMessage {
    transfer(business_key, target_state, amount, "BOB", "CLEARING")
}

async fn account_id(db: &TestDatabase, name: &str) -> AccountId {
    db.ledger
        .get_account(&reference(name))
        .await
        .unwrap()
        .unwrap()
        .account_id
}

/// (debits_pending, debits_posted, credits_pending, credits_posted).
fn counters(balances: &Balances) -> [i64; 4] {
    [
        balances.debits_pending,
        balances.debits_posted,
        balances.credits_pending,
        balances.credits_posted,
    ]
}

async fn balances_of(db: &TestDatabase, name: &str) -> [i64; 4] {
    let account = db.ledger.get_account(&reference(name)).await.unwrap();
    counters(&account.unwrap().balances)
}

/// `replay` is the stored answer to `first`'s request, byte for byte.
fn assert_replay_of(replay: &ApplyResponse, first: &ApplyResponse) {
    assert!(replay.replay);
    assert_eq!(replay.response_bytes, first.response_bytes);
}

async fn assert_sound(db: &TestDatabase) {
    let violations = invariants::violations(&db.client().await).await;
    assert!(violations.is_empty(), "{violations:#?}");
}

fn outcome(receipt: &Receipt) -> &str {
    receipt.outcome.code()
}

#[tokio::test]
async fn a_settled_payment_posts_once_and_its_replay_returns_the_first_response() {
    let db = ledger_with_accounts().await;
    let command = command(
        "bank-a",
        "key-1",
        bob_pays_clearing("P1", Settled, eur(1250)),
    );

    let first = db.ledger.apply(&command).await.unwrap();
    let replay = db.ledger.apply(&command).await.unwrap();

    assert_eq!(first.receipts[0].outcome, Outcome::Applied);
    assert_eq!(first.receipts[0].state, Some(Settled));
    assert!(!first.replay);
    assert_replay_of(&replay, &first);
    assert_eq!(replay.receipts[0], first.receipts[0]);
    assert_eq!(balances_of(&db, "BOB").await, [0, 1250, 0, 0]);
    assert_eq!(balances_of(&db, "CLEARING").await, [0, 0, 0, 1250]);
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "transfers").await, 1);
    assert_eq!(invariants::count(&client, "outbox").await, 1);
    assert_sound(&db).await;
}

#[tokio::test]
async fn a_reused_idempotency_key_with_another_request_is_refused_and_writes_nothing() {
    let db = ledger_with_accounts().await;
    apply_as(
        &db,
        "bank-a",
        "key-1",
        bob_pays_clearing("P1", Settled, eur(100)),
    )
    .await;
    let client = db.client().await;
    let records_before = invariants::count(&client, "idempotency_records").await;

    let reused = db
        .ledger
        .apply(&command(
            "bank-a",
            "key-1",
            bob_pays_clearing("P2", Settled, eur(100)),
        ))
        .await;

    match reused {
        Err(LedgerError::IdempotencyKeyReused { key, .. }) => assert_eq!(key.as_str(), "key-1"),
        other => panic!("expected IdempotencyKeyReused, got {other:?}"),
    }
    assert_eq!(invariants::count(&client, "payments").await, 1);
    assert_eq!(
        invariants::count(&client, "idempotency_records").await,
        records_before
    );
    assert_eq!(balances_of(&db, "BOB").await, [0, 100, 0, 0]);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_by_client() {
    let db = ledger_with_accounts().await;
    let a = apply_as(
        &db,
        "bank-a",
        "same-key",
        bob_pays_clearing("P1", Settled, eur(1)),
    )
    .await;
    let b = apply_as(
        &db,
        "bank-b",
        "same-key",
        bob_pays_clearing("P2", Settled, eur(2)),
    )
    .await;
    assert!(!a.replay && !b.replay);
    assert_ne!(a.receipts[0].payment_id, b.receipts[0].payment_id);
    assert_eq!(balances_of(&db, "BOB").await, [0, 3, 0, 0]);
}

#[tokio::test]
async fn a_business_duplicate_under_a_new_key_names_the_existing_payment_and_posts_nothing() {
    let db = ledger_with_accounts().await;
    let message = bob_pays_clearing("P1", Settled, eur(500));
    let first = apply_as(&db, "bank-a", "k1", message.clone()).await;
    let duplicate = apply_as(&db, "bank-a", "k2", message).await;

    assert_eq!(outcome(&duplicate.receipts[0]), "DUPLICATE");
    assert_eq!(
        duplicate.receipts[0].payment_id,
        first.receipts[0].payment_id
    );
    assert!(!duplicate.replay);
    assert_eq!(balances_of(&db, "BOB").await, [0, 500, 0, 0]);
}

#[tokio::test]
async fn a_business_duplicate_with_other_content_is_refused_and_flagged_for_the_audit() {
    let db = ledger_with_accounts().await;
    apply_as(
        &db,
        "bank-a",
        "k1",
        bob_pays_clearing("P1", Settled, eur(500)),
    )
    .await;
    let conflicting = apply_as(
        &db,
        "bank-a",
        "k2",
        bob_pays_clearing("P1", Settled, eur(501)),
    )
    .await;
    assert_eq!(
        conflicting.receipts[0].outcome,
        Outcome::Rejected(RejectionReason::BusinessKeyConflict)
    );
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "payment_conflicts").await, 1);
    assert_eq!(balances_of(&db, "BOB").await, [0, 500, 0, 0]);
    // The refusal is stored: its replay is the same refusal, not a second flag.
    let replay = apply_as(
        &db,
        "bank-a",
        "k2",
        bob_pays_clearing("P1", Settled, eur(501)),
    )
    .await;
    assert_replay_of(&replay, &conflicting);
    assert_eq!(invariants::count(&client, "payment_conflicts").await, 1);
}

#[tokio::test]
async fn a_payment_moves_through_pending_settled_and_returned_posting_each_difference() {
    let db = ledger_with_accounts().await;
    let pending = apply_as(
        &db,
        "bank-a",
        "k1",
        bob_pays_clearing("P1", Pending, eur(700)),
    )
    .await;
    assert_eq!(pending.receipts[0].state, Some(Pending));
    assert_eq!(balances_of(&db, "BOB").await, [700, 0, 0, 0]);
    assert_eq!(balances_of(&db, "CLEARING").await, [0, 0, 700, 0]);

    let settled = apply_as(&db, "bank-a", "k2", status("P1", Settled)).await;
    assert_eq!(outcome(&settled.receipts[0]), "APPLIED");
    assert_eq!(balances_of(&db, "BOB").await, [0, 700, 0, 0]);
    assert_eq!(balances_of(&db, "CLEARING").await, [0, 0, 0, 700]);

    let late_pending = apply_as(&db, "bank-a", "k3", status("P1", Pending)).await;
    assert_eq!(outcome(&late_pending.receipts[0]), "ALREADY_APPLIED");

    let returned = apply_as(&db, "bank-a", "k4", status("P1", Returned)).await;
    assert_eq!(returned.receipts[0].state, Some(Returned));
    assert_eq!(balances_of(&db, "BOB").await, [0, 700, 0, 700]);
    assert_eq!(balances_of(&db, "CLEARING").await, [0, 700, 0, 700]);

    let contradicting = apply_as(&db, "bank-a", "k5", status("P1", Rejected)).await;
    assert_eq!(
        contradicting.receipts[0].outcome,
        Outcome::Rejected(RejectionReason::StateConflict {
            current: Returned,
            requested: Rejected
        })
    );
    let payment_id = returned.receipts[0].payment_id.unwrap();
    let kinds: Vec<_> = db
        .ledger
        .list_transfers_of_payment(payment_id)
        .await
        .unwrap()
        .into_iter()
        .map(|transfer| transfer.kind.as_str())
        .collect();
    assert_eq!(kinds, ["PENDING", "POST_PENDING", "REVERSAL"]);
    assert_eq!(invariants::count(&db.client().await, "outbox").await, 3);
    assert_sound(&db).await;
}

#[tokio::test]
async fn a_rejected_pending_payment_releases_its_reservation() {
    let db = ledger_with_accounts().await;
    apply_as(&db, "c", "k1", bob_pays_clearing("P1", Pending, eur(10))).await;
    apply_as(&db, "c", "k2", status("P1", Rejected)).await;
    assert_eq!(balances_of(&db, "BOB").await, [0, 0, 0, 0]);
    assert_eq!(balances_of(&db, "CLEARING").await, [0, 0, 0, 0]);
    let settle = apply_as(&db, "c", "k3", status("P1", Settled)).await;
    assert_eq!(outcome(&settle.receipts[0]), "REJECTED");
    assert_sound(&db).await;
}

#[tokio::test]
async fn a_status_for_an_unknown_payment_is_refused_as_retryable_and_applies_once_the_original_arrives(
) {
    let db = ledger_with_accounts().await;
    let early = command("c", "status-1", status("P1", Settled));
    let refused = db.ledger.apply(&early).await.unwrap();
    assert_eq!(
        refused.receipts[0].outcome,
        Outcome::Rejected(RejectionReason::OriginalNotFound)
    );
    assert_eq!(
        invariants::count(&db.client().await, "idempotency_records").await,
        0
    );

    apply_as(
        &db,
        "c",
        "original",
        bob_pays_clearing("P1", Pending, eur(5)),
    )
    .await;
    let retried = db.ledger.apply(&early).await.unwrap();
    assert_eq!(outcome(&retried.receipts[0]), "APPLIED");
    assert!(!retried.replay);
    assert_eq!(balances_of(&db, "BOB").await, [0, 5, 0, 0]);
}

#[tokio::test]
async fn an_overdraft_on_an_account_that_forbids_it_is_refused_stored_and_posts_nothing() {
    let db = ledger_with_accounts().await;
    let overdraft = command("c", "k1", transfer("P1", Settled, eur(1), "ALICE", "BOB"));
    let refused = db.ledger.apply(&overdraft).await.unwrap();
    assert_eq!(
        refused.receipts[0].outcome,
        Outcome::Rejected(RejectionReason::InsufficientFunds {
            account_id: account_id(&db, "ALICE").await
        })
    );
    assert_eq!(balances_of(&db, "ALICE").await, [0, 0, 0, 0]);
    assert_eq!(invariants::count(&db.client().await, "payments").await, 0);

    // Funded, a new attempt under a new key goes through; the old key still
    // answers with its stored refusal.
    apply_as(
        &db,
        "c",
        "fund",
        transfer("F1", Settled, eur(1), "BOB", "ALICE"),
    )
    .await;
    let replay = db.ledger.apply(&overdraft).await.unwrap();
    assert_replay_of(&replay, &refused);
    let paid = apply_as(
        &db,
        "c",
        "k2",
        transfer("P1", Settled, eur(1), "ALICE", "BOB"),
    )
    .await;
    assert_eq!(outcome(&paid.receipts[0]), "APPLIED");
    assert_eq!(balances_of(&db, "ALICE").await, [0, 1, 0, 1]);
    // The schema refuses an overdraft even behind the ledger's back.
    let sneaky = db
        .client()
        .await
        .execute(
            "UPDATE accounts SET debits_posted = debits_posted + 1 WHERE external_reference = 'ALICE'",
            &[],
        )
        .await;
    assert!(
        sneaky.is_err(),
        "the CHECK constraint must refuse an overdraft"
    );
}

#[tokio::test]
async fn unknown_accounts_and_currency_mismatches_are_refused_with_their_reason() {
    let db = ledger_with_accounts().await;
    open_unrestricted(&db, "DOLLARS", "USD").await.unwrap();
    let unknown = apply_as(
        &db,
        "c",
        "k1",
        transfer("P1", Settled, eur(1), "NOBODY", "BOB"),
    )
    .await;
    let Outcome::Rejected(RejectionReason::AccountNotFound { references }) =
        &unknown.receipts[0].outcome
    else {
        panic!(
            "expected ACCOUNT_NOT_FOUND, got {:?}",
            unknown.receipts[0].outcome
        );
    };
    assert_eq!(references, &["account NOBODY", "clearing account in EUR"]);

    let mismatch = apply_as(
        &db,
        "c",
        "k2",
        transfer("P2", Settled, eur(1), "BOB", "DOLLARS"),
    )
    .await;
    assert_eq!(
        mismatch.receipts[0].outcome,
        Outcome::Rejected(RejectionReason::CurrencyMismatch)
    );
    let client = db.client().await;
    assert_eq!(invariants::count(&client, "payments").await, 0);
    assert_eq!(invariants::count(&client, "transfers").await, 0);
    // Both refusals are stored under their keys.
    assert_eq!(invariants::count(&client, "idempotency_records").await, 2);
}

#[test]
fn malformed_amounts_and_keys_are_refused_before_reaching_the_ledger() {
    use rust_decimal::Decimal;
    use std::str::FromStr;
    let euro = Currency::parse("EUR").unwrap();
    assert!(Amount::from_decimal(euro, Decimal::from_str("-1.00").unwrap()).is_err());
    assert!(Amount::from_decimal(euro, Decimal::from_str("1.001").unwrap()).is_err());
    assert!(IdempotencyKey::parse("").is_err());
    assert!(IdempotencyKey::parse(&"x".repeat(256)).is_err());
}

#[tokio::test]
async fn sides_the_ledger_does_not_hold_map_to_the_agents_settlement_account_then_the_clearing_account(
) {
    let db = ledger_with_accounts().await;
    open_unrestricted(&db, "NOSTRO-COBA", "EUR").await.unwrap();
    let coba = Bic::parse("COBADEFFXXX").unwrap();
    db.ledger
        .set_settlement_account(&operator(), &coba, &reference("NOSTRO-COBA"))
        .await
        .unwrap();

    // Creditor at another bank, known agent: its settlement account.
    let mut to_coba = transfer("P1", Settled, eur(10), "BOB", "DE-ELSEWHERE");
    to_coba.instruction.as_mut().unwrap().creditor =
        agent_side(Some("DE89370400440532013000"), "COBADEFFXXX");
    let applied = apply_as(&db, "c", "k1", to_coba).await;
    assert_eq!(outcome(&applied.receipts[0]), "APPLIED");
    assert_eq!(balances_of(&db, "NOSTRO-COBA").await, [0, 0, 0, 10]);

    // Unknown agent and no clearing account: refused, naming what was looked for.
    let mut to_unknown = transfer("P2", Settled, eur(10), "BOB", "X");
    to_unknown.instruction.as_mut().unwrap().creditor = agent_side(None, "UNKNDEFFXXX");
    let refused = apply_as(&db, "c", "k2", to_unknown.clone()).await;
    assert_eq!(
        refused.receipts[0].outcome,
        Outcome::Rejected(RejectionReason::AccountNotFound {
            references: vec![
                "settlement account of UNKNDEFFXXX in EUR".to_owned(),
                "clearing account in EUR".to_owned()
            ]
        })
    );

    // With a default clearing account configured, the same payment lands there.
    db.ledger
        .set_clearing_account(&operator(), &reference("CLEARING"))
        .await
        .unwrap();
    let applied = apply_as(&db, "c", "k3", to_unknown).await;
    assert_eq!(outcome(&applied.receipts[0]), "APPLIED");
    assert_eq!(balances_of(&db, "CLEARING").await, [0, 0, 0, 10]);

    let missing = db
        .ledger
        .set_clearing_account(&operator(), &reference("NO-SUCH-ACCOUNT"))
        .await;
    assert!(matches!(missing, Err(LedgerError::AccountNotFound { .. })));
    assert_sound(&db).await;
}

#[tokio::test]
async fn opening_an_account_twice_is_refused_and_transfers_page_by_keyset() {
    let db = ledger_with_accounts().await;
    let again = open_unrestricted(&db, "BOB", "EUR").await;
    assert!(matches!(again, Err(LedgerError::AccountExists { .. })));

    for index in 0..5 {
        apply_as(
            &db,
            "c",
            &format!("k{index}"),
            bob_pays_clearing(&format!("P{index}"), Settled, eur(index + 1)),
        )
        .await;
    }
    let bob = account_id(&db, "BOB").await;
    let first_page = db
        .ledger
        .list_transfers(bob, None, ledger::TimeRange::default(), 2)
        .await
        .unwrap();
    let second_page = db
        .ledger
        .list_transfers(
            bob,
            Some(first_page[1].transfer_id),
            ledger::TimeRange::default(),
            10,
        )
        .await
        .unwrap();
    let amounts: Vec<i64> = first_page
        .iter()
        .chain(&second_page)
        .map(|transfer| transfer.amount.minor_units())
        .collect();
    assert_eq!(amounts, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_request_with_a_transiently_refused_transaction_applies_none_of_it_and_its_retry_applies_all(
) {
    let db = ledger_with_accounts().await;
    apply_as(
        &db,
        "bank-a",
        "k0",
        bob_pays_clearing("P0", Settled, eur(100)),
    )
    .await;
    let client = db.client().await;
    let counts = |client| async move {
        let mut counts = Vec::new();
        for table in [
            "payments",
            "transfers",
            "outbox",
            "payment_conflicts",
            "idempotency_records",
        ] {
            counts.push(invariants::count(client, table).await);
        }
        counts
    };
    let before = counts(&client).await;
    let request = ledger::ApplyCommand::new(
        ledger::model::ClientId::parse("bank-a").unwrap(),
        IdempotencyKey::parse("k-many").unwrap(),
        vec![
            bob_pays_clearing("P1", Settled, eur(250)),
            // Contradicts P0's state: flagged for the audit when it stands.
            status("P0", Rejected),
            // P2 is not in the ledger yet: a transient refusal.
            status("P2", Settled),
        ],
    );

    let first = db.ledger.apply(&request).await.unwrap();
    let outcomes = outcome_codes(&first);
    assert_eq!(
        outcomes,
        [
            "REQUEST_NOT_APPLIED",
            "REQUEST_NOT_APPLIED",
            "ORIGINAL_NOT_FOUND"
        ]
    );
    assert_eq!(first.receipts[0].payment_id, None, "P1 was not created");
    assert_eq!(first.receipts[1].state, Some(Settled));
    // Nothing of the request was written, not even its conflict row, and
    // nothing is stored under its key.
    assert_eq!(counts(&client).await, before);
    assert_eq!(balances_of(&db, "BOB").await, [0, 100, 0, 0]);

    // The same key again is a clean first attempt, as often as it is tried.
    let again = db.ledger.apply(&request).await.unwrap();
    assert!(!again.replay);
    assert_eq!(again.receipts, first.receipts);
    assert_eq!(counts(&client).await, before);

    // Once the original arrives, the retry under the same key applies the
    // whole request, and is stored.
    apply_as(
        &db,
        "bank-b",
        "k2",
        bob_pays_clearing("P2", Pending, eur(70)),
    )
    .await;
    let applied = db.ledger.apply(&request).await.unwrap();
    let outcomes = outcome_codes(&applied);
    assert_eq!(outcomes, ["APPLIED", "STATE_CONFLICT", "APPLIED"]);
    let replay = db.ledger.apply(&request).await.unwrap();
    assert_replay_of(&replay, &applied);
    assert_eq!(invariants::count(&client, "payment_conflicts").await, 1);
    assert_eq!(balances_of(&db, "BOB").await, [0, 100 + 250 + 70, 0, 0]);
    assert_sound(&db).await;
}

fn return_of(business_key: &str, returned: Amount) -> ledger::model::PaymentMessage {
    ledger::model::PaymentMessage {
        returned_amount: Some(returned),
        ..status(business_key, Returned)
    }
}

#[tokio::test]
async fn a_return_reverses_only_what_it_names_and_refuses_more_or_another_currency() {
    let db = ledger_with_accounts().await;
    apply_as(
        &db,
        "bank-a",
        "k1",
        bob_pays_clearing("P1", Settled, eur(100_000)),
    )
    .await;
    let usd = Amount::from_minor_units(Currency::parse("USD").unwrap(), 1_000).unwrap();
    for (key, returned, reason) in [
        (
            "r-beyond",
            eur(100_001),
            RejectionReason::ReturnExceedsRemaining,
        ),
        ("r-usd", usd, RejectionReason::ReturnCurrencyMismatch),
    ] {
        let refused = apply_as(&db, "bank-b", key, return_of("P1", returned)).await;
        assert_eq!(refused.receipts[0].outcome, Outcome::Rejected(reason));
        // Stored like other refusals: its replay is the same answer.
        let replay = apply_as(&db, "bank-b", key, return_of("P1", returned)).await;
        assert!(replay.replay);
    }
    assert_eq!(balances_of(&db, "BOB").await, [0, 100_000, 0, 0]);
    assert_eq!(balances_of(&db, "CLEARING").await, [0, 0, 0, 100_000]);

    let whole = apply_as(&db, "bank-b", "r-whole", return_of("P1", eur(100_000))).await;
    assert_eq!(whole.receipts[0].outcome, Outcome::Applied);
    assert_eq!(balances_of(&db, "BOB").await, [0, 100_000, 0, 100_000]);
    assert_eq!(balances_of(&db, "CLEARING").await, [0, 100_000, 0, 100_000]);
    assert_sound(&db).await;
}

#[tokio::test]
async fn an_account_opened_with_a_spaced_lower_case_iban_is_the_account_messages_name() {
    let db = ledger_with_accounts().await;
    let opened = open_unrestricted(&db, "de89 3704 0044 0532 0130 00", "EUR")
        .await
        .unwrap();
    assert_eq!(opened.external_reference.as_str(), "DE89370400440532013000");
    // Opening it again in its compact form is opening the same account.
    assert!(open_unrestricted(&db, "DE89370400440532013000", "EUR")
        .await
        .is_err());
    let applied = apply_as(
        &db,
        "bank-a",
        "k1",
        transfer(
            "P1",
            Settled,
            eur(700),
            "DE89 3704 0044 0532 0130 00",
            "CLEARING",
        ),
    )
    .await;
    assert_eq!(applied.receipts[0].outcome, Outcome::Applied);
    assert_eq!(
        balances_of(&db, "de89370400440532013000").await,
        [0, 700, 0, 0]
    );
}

#[tokio::test]
async fn balances_as_of_a_moment_are_those_the_transfers_up_to_then_left() {
    let db = ledger_with_accounts().await;
    let bob = account_id(&db, "BOB").await;
    let moment = || async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let now = std::time::SystemTime::now();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        now
    };
    let before_any = moment().await;
    let steps = [
        transfer("P1", Settled, eur(100), "BOB", "CLEARING"),
        transfer("P2", Pending, eur(50), "BOB", "CLEARING"),
        status("P2", Settled),
        // BOB on the credit side.
        transfer("P3", Settled, eur(7), "CLEARING", "BOB"),
        return_of("P1", eur(100)),
    ];
    let mut moments = vec![before_any];
    for (index, message) in steps.into_iter().enumerate() {
        let applied = apply_as(&db, "bank-a", &format!("k{index}"), message).await;
        assert_eq!(outcome(&applied.receipts[0]), "APPLIED");
        moments.push(moment().await);
    }
    let expected = [
        [0, 0, 0, 0],
        [0, 100, 0, 0],
        [50, 100, 0, 0],
        [0, 150, 0, 0],
        [0, 150, 0, 7],
        [0, 150, 0, 107],
    ];
    for (moment, expected) in moments.iter().zip(expected) {
        let as_of = db.ledger.get_account_as_of(bob, *moment).await.unwrap();
        assert_eq!(counters(&as_of.unwrap().balances), expected);
    }
    // The latest moment is now.
    assert_eq!(balances_of(&db, "BOB").await, expected[5]);
    assert_sound(&db).await;
}
