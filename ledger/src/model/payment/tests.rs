//! The pure decision of what a message posts, checked over
//! every (current state, requested state, content) combination.

use super::*;
use crate::model::account::{AccountSnapshot, Balances, OverdraftRule};
use crate::model::business_key::{BusinessKey, Originator};
use crate::model::ids::{AccountId, AccountReference, Bic, PaymentId};
use crate::model::money::{Amount, Currency};
use crate::model::scope::AccountScope;

const DEBIT: AccountId = AccountId(1);
const CREDIT: AccountId = AccountId(2);
const OTHER: AccountId = AccountId(3);

fn eur(minor: i64) -> Amount {
    Amount::from_minor_units(Currency::parse("EUR").unwrap(), minor).unwrap()
}

fn account(
    account_id: AccountId,
    overdraft: OverdraftRule,
    credits_posted: i64,
) -> AccountSnapshot {
    AccountSnapshot {
        account_id,
        external_reference: AccountReference::parse(&format!("ACCT-{}", account_id.0)).unwrap(),
        currency: Currency::parse("EUR").unwrap(),
        overdraft,
        balances: Balances {
            credits_posted,
            ..Balances::default()
        },
    }
}

fn unrestricted(account_id: AccountId) -> AccountSnapshot {
    account(account_id, OverdraftRule::Unrestricted, 0)
}

fn key() -> BusinessKey {
    BusinessKey::reference(
        Originator::bic(Bic::parse("BANKDEFF").unwrap()),
        Some("INSTR-1"),
        Some("E2E-1"),
    )
    .unwrap()
}

fn side(reference: &str) -> PartySide {
    PartySide {
        account: Some(AccountReference::parse(reference).unwrap()),
        agent: None,
    }
}

fn message(target_state: PaymentState, amount: Option<Amount>) -> PaymentMessage {
    PaymentMessage {
        business_key: key(),
        target_state,
        instruction: amount.map(|amount| PaymentInstruction {
            amount,
            debtor: side("DEBTOR"),
            creditor: side("CREDITOR"),
            reference: None,
        }),
        reason: None,
        returned_amount: None,
        return_id: None,
    }
}

fn payment(state: PaymentState) -> Payment {
    Payment {
        payment_id: PaymentId(7),
        business_key: key(),
        state,
        amount: eur(1000),
        debit_account_id: DEBIT,
        credit_account_id: CREDIT,
        amount_returned: if state == PaymentState::Returned {
            eur(1000)
        } else {
            eur(0)
        },
    }
}

/// The returns a payment in `state` recorded: a RETURNED one, one return of
/// its whole amount under no id.
fn returns_of(state: Option<PaymentState>) -> Vec<RecordedReturn> {
    match state {
        Some(PaymentState::Returned) => vec![RecordedReturn {
            return_id: ReturnId::unnamed(),
            amount: eur(1000),
        }],
        _ => Vec::new(),
    }
}

/// Runs [`decide`] with the standard two unrestricted accounts, both for the
/// message's sides and for the existing payment.
/// The accounts hold exactly the postings of the payment's current state.
fn decide_simple(current: Option<PaymentState>, message: &PaymentMessage) -> Decision {
    decide_simple_in(&AccountScope::Unrestricted, current, message)
}

/// [`decide_simple`] for a client that may debit only `debit_scope`.
fn decide_simple_in(
    debit_scope: &AccountScope,
    current: Option<PaymentState>,
    message: &PaymentMessage,
) -> Decision {
    let (debit_balances, credit_balances) = postings_of(current);
    let debit = AccountSnapshot {
        balances: debit_balances,
        ..unrestricted(DEBIT)
    };
    let credit = AccountSnapshot {
        balances: credit_balances,
        ..unrestricted(CREDIT)
    };
    let resolved: ResolvedSides = Ok((debit.clone(), credit.clone()));
    let existing = current.map(payment);
    decide(DecisionInput {
        message,
        payment: existing.as_ref(),
        payment_accounts: existing.as_ref().map(|_| (&debit, &credit)),
        message_accounts: message.instruction.as_ref().map(|_| &resolved),
        debit_scope,
        payment_returns: &returns_of(current),
    })
}

/// Balances of (debit, credit) after the transfers of a decision, from zero.
fn balances_after(transfers: &[PlannedTransfer]) -> (Balances, Balances) {
    let mut debit = Balances::default();
    let mut credit = Balances::default();
    let mut counter =
        |account_id: AccountId, on_debit_side: bool, kind: TransferKind, amount: i64| {
            let target = if account_id == DEBIT {
                &mut debit
            } else {
                &mut credit
            };
            let delta = kind.delta(amount);
            let side = |pending: &mut i64, posted: &mut i64| {
                *pending += delta.pending;
                *posted += delta.posted;
            };
            if on_debit_side {
                side(&mut target.debits_pending, &mut target.debits_posted);
            } else {
                side(&mut target.credits_pending, &mut target.credits_posted);
            }
        };
    for transfer in transfers {
        let amount = transfer.amount.minor_units();
        counter(transfer.debit_account_id, true, transfer.kind, amount);
        counter(transfer.credit_account_id, false, transfer.kind, amount);
    }
    (debit, credit)
}

/// What each state's postings are, written out by hand: the specification the
/// decision's differences must add up to.
fn postings_of(state: Option<PaymentState>) -> (Balances, Balances) {
    let a = 1000;
    let zero = Balances::default();
    match state {
        None | Some(PaymentState::Rejected) => (zero, zero),
        Some(PaymentState::Pending) => (
            Balances {
                debits_pending: a,
                ..zero
            },
            Balances {
                credits_pending: a,
                ..zero
            },
        ),
        Some(PaymentState::Settled) => (
            Balances {
                debits_posted: a,
                ..zero
            },
            Balances {
                credits_posted: a,
                ..zero
            },
        ),
        Some(PaymentState::Returned) => {
            let both = Balances {
                debits_posted: a,
                credits_posted: a,
                ..zero
            };
            (both, both)
        }
    }
}

fn states_with_none() -> Vec<Option<PaymentState>> {
    std::iter::once(None)
        .chain(PaymentState::ALL.into_iter().map(Some))
        .collect()
}

#[test]
fn the_state_order_is_the_one_the_semantics_draw() {
    use PaymentState::*;
    let later: Vec<(PaymentState, PaymentState)> = PaymentState::ALL
        .into_iter()
        .flat_map(|a| PaymentState::ALL.into_iter().map(move |b| (a, b)))
        .filter(|(earlier, later)| later.is_later_than(*earlier))
        .collect();
    assert_eq!(
        later,
        vec![
            (Pending, Settled),
            (Pending, Rejected),
            (Pending, Returned),
            (Settled, Returned)
        ]
    );
    for a in PaymentState::ALL {
        assert!(!a.is_later_than(a));
        assert!(!a.contradicts(a));
        for b in PaymentState::ALL {
            assert_eq!(a.contradicts(b), b.contradicts(a), "{a} {b}");
            assert!(!(a.contradicts(b) && a.is_later_than(b)), "{a} {b}");
        }
    }
}

#[test]
fn every_move_posts_exactly_the_difference_between_the_two_states_postings() {
    for current in states_with_none() {
        for requested in PaymentState::ALL {
            let with_instruction = current.is_none();
            let decision = decide_simple(
                current,
                &message(requested, with_instruction.then(|| eur(1000))),
            );
            let Some(change) = decision.change else {
                continue;
            };
            assert_eq!(decision.outcome, Outcome::Applied);
            assert_eq!(change.from, current);
            assert_eq!(change.to, requested);
            let (from_debit, from_credit) = postings_of(current);
            let (to_debit, to_credit) = postings_of(Some(requested));
            let (delta_debit, delta_credit) = balances_after(&change.transfers);
            let add = |a: Balances, b: Balances| Balances {
                debits_pending: a.debits_pending + b.debits_pending,
                debits_posted: a.debits_posted + b.debits_posted,
                credits_pending: a.credits_pending + b.credits_pending,
                credits_posted: a.credits_posted + b.credits_posted,
            };
            assert_eq!(
                add(from_debit, delta_debit),
                to_debit,
                "{current:?} -> {requested}"
            );
            assert_eq!(
                add(from_credit, delta_credit),
                to_credit,
                "{current:?} -> {requested}"
            );
            assert_eq!(
                change.balances_after,
                vec![(DEBIT, to_debit), (CREDIT, to_credit)]
            );
        }
    }
}

#[test]
fn the_outcome_table_for_every_current_and_requested_state() {
    use PaymentState::*;
    let applied = || Outcome::Applied;
    let already = || Outcome::AlreadyApplied;
    let conflict = |current, requested| {
        Outcome::Rejected(RejectionReason::StateConflict { current, requested })
    };
    // Status-only messages (no instruction), as pacs.002 and pacs.004 are.
    let table: Vec<(Option<PaymentState>, PaymentState, Outcome)> = vec![
        (
            None,
            Pending,
            Outcome::Rejected(RejectionReason::OriginalNotFound),
        ),
        (
            None,
            Settled,
            Outcome::Rejected(RejectionReason::OriginalNotFound),
        ),
        (
            None,
            Rejected,
            Outcome::Rejected(RejectionReason::OriginalNotFound),
        ),
        (
            None,
            Returned,
            Outcome::Rejected(RejectionReason::OriginalNotFound),
        ),
        (Some(Pending), Pending, already()),
        (Some(Pending), Settled, applied()),
        (Some(Pending), Rejected, applied()),
        (Some(Pending), Returned, applied()),
        (Some(Settled), Pending, already()),
        (Some(Settled), Settled, already()),
        (Some(Settled), Rejected, conflict(Settled, Rejected)),
        (Some(Settled), Returned, applied()),
        (Some(Rejected), Pending, already()),
        (Some(Rejected), Settled, conflict(Rejected, Settled)),
        (Some(Rejected), Rejected, already()),
        (Some(Rejected), Returned, conflict(Rejected, Returned)),
        (Some(Returned), Pending, already()),
        (Some(Returned), Settled, already()),
        (Some(Returned), Rejected, conflict(Returned, Rejected)),
        (Some(Returned), Returned, already()),
    ];
    assert_eq!(table.len(), 5 * 4, "the table is exhaustive");
    for (current, requested, expected) in table {
        let decision = decide_simple(current, &message(requested, None));
        assert_eq!(decision.outcome, expected, "{current:?} -> {requested}");
        assert_eq!(decision.change.is_some(), expected == Outcome::Applied);
    }
}

#[test]
fn messages_with_an_instruction_create_payments_and_resubmissions_are_duplicates() {
    use PaymentState::*;
    for requested in [Pending, Settled, Rejected] {
        let decision = decide_simple(None, &message(requested, Some(eur(1000))));
        assert_eq!(decision.outcome, Outcome::Applied, "{requested}");
    }
    let decision = decide_simple(None, &message(Returned, Some(eur(1000))));
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::OriginalNotFound)
    );
    for state in PaymentState::ALL {
        let decision = decide_simple(Some(state), &message(state, Some(eur(1000))));
        assert_eq!(decision.outcome, Outcome::Duplicate, "{state}");
        assert_eq!(decision.change, None);
    }
}

#[test]
fn a_business_duplicate_with_other_content_is_a_business_key_conflict() {
    for state in PaymentState::ALL {
        for requested in PaymentState::ALL {
            let decision = decide_simple(Some(state), &message(requested, Some(eur(999))));
            assert_eq!(
                decision.outcome,
                Outcome::Rejected(RejectionReason::BusinessKeyConflict),
                "{state} -> {requested}"
            );
        }
    }
    // Same amount, other accounts.
    let existing = payment(PaymentState::Settled);
    let resolved: ResolvedSides = Ok((unrestricted(DEBIT), unrestricted(OTHER)));
    let message = message(PaymentState::Settled, Some(eur(1000)));
    let decision = decide(DecisionInput {
        message: &message,
        payment: Some(&existing),
        payment_accounts: Some((&unrestricted(DEBIT), &unrestricted(CREDIT))),
        message_accounts: Some(&resolved),
        debit_scope: &AccountScope::Unrestricted,
        payment_returns: &[],
    });
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::BusinessKeyConflict)
    );
    // Accounts that no longer resolve are other content too.
    let unresolved: ResolvedSides = Err(vec!["CREDITOR".to_owned()]);
    let decision = decide(DecisionInput {
        message: &message,
        payment: Some(&existing),
        payment_accounts: Some((&unrestricted(DEBIT), &unrestricted(CREDIT))),
        message_accounts: Some(&unresolved),
        debit_scope: &AccountScope::Unrestricted,
        payment_returns: &[],
    });
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::BusinessKeyConflict)
    );
}

fn decide_new_with(
    debit: AccountSnapshot,
    credit: AccountSnapshot,
    target: PaymentState,
    amount: Amount,
) -> Decision {
    let resolved: ResolvedSides = Ok((debit, credit));
    let message = message(target, Some(amount));
    decide(DecisionInput {
        message: &message,
        payment: None,
        payment_accounts: None,
        message_accounts: Some(&resolved),
        debit_scope: &AccountScope::Unrestricted,
        payment_returns: &[],
    })
}

#[test]
fn an_overdraft_on_an_account_that_forbids_it_is_refused() {
    let forbidding = |credits| account(DEBIT, OverdraftRule::DebitsMustNotExceedCredits, credits);
    for target in [PaymentState::Pending, PaymentState::Settled] {
        let refused = decide_new_with(forbidding(999), unrestricted(CREDIT), target, eur(1000));
        assert_eq!(
            refused.outcome,
            Outcome::Rejected(RejectionReason::InsufficientFunds { account_id: DEBIT }),
            "{target}"
        );
        let exact = decide_new_with(forbidding(1000), unrestricted(CREDIT), target, eur(1000));
        assert_eq!(
            exact.outcome,
            Outcome::Applied,
            "{target}: the boundary is allowed"
        );
    }
    // A rejection posts nothing, so it needs no funds.
    let rejected = decide_new_with(
        forbidding(0),
        unrestricted(CREDIT),
        PaymentState::Rejected,
        eur(1000),
    );
    assert_eq!(rejected.outcome, Outcome::Applied);
}

#[test]
fn a_return_needs_the_creditor_to_have_the_funds_when_it_forbids_overdraft() {
    let existing = payment(PaymentState::Settled);
    let debit = unrestricted(DEBIT);
    let mut credit = account(CREDIT, OverdraftRule::DebitsMustNotExceedCredits, 1000);
    credit.balances.debits_posted = 1;
    let message = message(PaymentState::Returned, None);
    let decision = decide(DecisionInput {
        message: &message,
        payment: Some(&existing),
        payment_accounts: Some((&debit, &credit)),
        message_accounts: None,
        debit_scope: &AccountScope::Unrestricted,
        payment_returns: &[],
    });
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::InsufficientFunds { account_id: CREDIT })
    );
}

#[test]
fn a_currency_mismatch_and_a_payment_to_itself_are_refused() {
    let mut usd = unrestricted(CREDIT);
    usd.currency = Currency::parse("USD").unwrap();
    let decision = decide_new_with(unrestricted(DEBIT), usd, PaymentState::Settled, eur(1));
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::CurrencyMismatch)
    );
    let decision = decide_new_with(
        unrestricted(DEBIT),
        unrestricted(DEBIT),
        PaymentState::Settled,
        eur(1),
    );
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::SameAccount)
    );
}

#[test]
fn unresolved_sides_are_refused_naming_what_was_looked_for() {
    let unresolved: ResolvedSides = Err(vec!["DEBTOR".to_owned(), "agent BANKDEFF".to_owned()]);
    let message = message(PaymentState::Settled, Some(eur(1)));
    let decision = decide(DecisionInput {
        message: &message,
        payment: None,
        payment_accounts: None,
        message_accounts: Some(&unresolved),
        debit_scope: &AccountScope::Unrestricted,
        payment_returns: &[],
    });
    let Outcome::Rejected(reason) = decision.outcome else {
        panic!("expected a refusal");
    };
    assert_eq!(reason.code(), "ACCOUNT_NOT_FOUND");
    assert_eq!(reason.message(), "no account for DEBTOR, agent BANKDEFF");
}

#[test]
fn balances_that_would_overflow_are_refused_not_wrapped() {
    let mut credit = unrestricted(CREDIT);
    credit.balances.credits_posted = i64::MAX - 10;
    let decision = decide_new_with(unrestricted(DEBIT), credit, PaymentState::Settled, eur(11));
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::BalanceLimitExceeded { account_id: CREDIT })
    );
}

#[test]
fn only_missing_originals_are_transient_and_only_conflicts_are_flagged_for_audit() {
    let reasons = [
        RejectionReason::AccountNotFound { references: vec![] },
        RejectionReason::CurrencyMismatch,
        RejectionReason::SameAccount,
        RejectionReason::InsufficientFunds { account_id: DEBIT },
        RejectionReason::BusinessKeyConflict,
        RejectionReason::StateConflict {
            current: PaymentState::Settled,
            requested: PaymentState::Rejected,
        },
        RejectionReason::OriginalNotFound,
        RejectionReason::BalanceLimitExceeded { account_id: DEBIT },
        RejectionReason::ReturnCurrencyMismatch,
        RejectionReason::ReturnAmountMismatch,
        RejectionReason::ReturnExceedsRemaining,
        RejectionReason::ReturnIdConflict,
        RejectionReason::RequestNotApplied,
        RejectionReason::DebitAccountOutOfScope { account_id: DEBIT },
    ];
    let transient: Vec<_> = reasons
        .iter()
        .filter(|r| r.is_transient())
        .map(|r| r.code())
        .collect();
    assert_eq!(transient, ["ORIGINAL_NOT_FOUND", "REQUEST_NOT_APPLIED"]);
    let flagged: Vec<_> = reasons
        .iter()
        .filter(|r| r.is_flagged_for_audit())
        .map(|r| r.code())
        .collect();
    assert_eq!(
        flagged,
        [
            "BUSINESS_KEY_CONFLICT",
            "STATE_CONFLICT",
            "RETURN_ID_CONFLICT",
            "DEBIT_ACCOUNT_OUT_OF_SCOPE"
        ]
    );
}

fn return_of(amount: Amount) -> PaymentMessage {
    PaymentMessage {
        returned_amount: Some(amount),
        ..message(PaymentState::Returned, None)
    }
}

#[test]
fn a_return_of_the_whole_amount_reverses_the_whole_amount() {
    let decision = decide_simple(Some(PaymentState::Settled), &return_of(eur(1000)));
    assert_eq!(decision.outcome, Outcome::Applied);
    let transfers = decision.change.unwrap().transfers;
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0].kind, TransferKind::Reversal);
    assert_eq!(transfers[0].amount, eur(1000));
}

#[test]
fn a_return_of_more_than_the_amount_or_of_nothing_is_refused_and_reverses_nothing() {
    for state in [PaymentState::Pending, PaymentState::Settled] {
        for (returned, reason) in [
            (eur(1001), RejectionReason::ReturnExceedsRemaining),
            (eur(0), RejectionReason::ReturnAmountMismatch),
        ] {
            let decision = decide_simple(Some(state), &return_of(returned));
            assert_eq!(
                decision.outcome,
                Outcome::Rejected(reason),
                "{state:?} {returned:?}"
            );
            assert!(decision.change.is_none());
        }
    }
}

fn return_named(id: &str, amount: Amount) -> PaymentMessage {
    PaymentMessage {
        return_id: Some(ReturnId::of_return_identification(id).unwrap()),
        ..return_of(amount)
    }
}

/// Decides `message` for a settled payment of 1000 whose earlier returns
/// are `returned` (id, amount), its accounts holding exactly its postings.
fn decide_after_returns(returned: &[(&str, i64)], message: &PaymentMessage) -> Decision {
    let total: i64 = returned.iter().map(|(_, amount)| amount).sum();
    let state = if total == 1000 {
        PaymentState::Returned
    } else {
        PaymentState::Settled
    };
    let debit = AccountSnapshot {
        balances: Balances {
            debits_posted: 1000,
            credits_posted: total,
            ..Balances::default()
        },
        ..unrestricted(DEBIT)
    };
    let credit = AccountSnapshot {
        balances: Balances {
            credits_posted: 1000,
            debits_posted: total,
            ..Balances::default()
        },
        ..unrestricted(CREDIT)
    };
    let existing = Payment {
        amount_returned: eur(total),
        ..payment(state)
    };
    let recorded: Vec<RecordedReturn> = returned
        .iter()
        .map(|(id, amount)| RecordedReturn {
            return_id: ReturnId::of_return_identification(id).unwrap(),
            amount: eur(*amount),
        })
        .collect();
    decide(DecisionInput {
        message,
        payment: Some(&existing),
        payment_accounts: Some((&debit, &credit)),
        message_accounts: None,
        debit_scope: &AccountScope::Unrestricted,
        payment_returns: &recorded,
    })
}

#[test]
fn a_partial_return_reverses_its_amount_and_leaves_the_payment_settled() {
    let decision = decide_after_returns(&[], &return_named("R1", eur(300)));
    assert_eq!(decision.outcome, Outcome::Applied);
    let change = decision.change.unwrap();
    assert_eq!(change.from, Some(PaymentState::Settled));
    assert_eq!(change.to, PaymentState::Settled);
    assert!(!change.moves_state(), "no state change, no confirmation");
    assert_eq!(
        change.transfers,
        vec![PlannedTransfer {
            kind: TransferKind::Reversal,
            debit_account_id: CREDIT,
            credit_account_id: DEBIT,
            amount: eur(300),
        }]
    );
    assert_eq!(
        change.recorded_return,
        Some(RecordedReturn {
            return_id: ReturnId::of_return_identification("R1").unwrap(),
            amount: eur(300),
        })
    );
}

#[test]
fn the_return_that_completes_the_amount_moves_the_payment_to_returned() {
    let decision = decide_after_returns(&[("R1", 300), ("R2", 600)], &return_named("R3", eur(100)));
    assert_eq!(decision.outcome, Outcome::Applied);
    let change = decision.change.unwrap();
    assert_eq!(
        (change.from, change.to),
        (Some(PaymentState::Settled), PaymentState::Returned)
    );
    assert!(change.moves_state());
    assert_eq!(change.transfers.len(), 1);
    assert_eq!(change.transfers[0].amount, eur(100));
    // Both accounts end where a whole return leaves them.
    let returned = Balances {
        debits_posted: 1000,
        credits_posted: 1000,
        ..Balances::default()
    };
    assert_eq!(
        change.balances_after,
        vec![(DEBIT, returned), (CREDIT, returned)]
    );
}

#[test]
fn a_return_beyond_what_is_left_is_refused_and_one_that_fits_is_applied() {
    let earlier = [("R1", 300), ("R2", 600)];
    let decision = decide_after_returns(&earlier, &return_named("R3", eur(101)));
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::ReturnExceedsRemaining)
    );
    assert!(decision.change.is_none());
    let decision = decide_after_returns(&earlier, &return_named("R3", eur(99)));
    assert_eq!(decision.outcome, Outcome::Applied);
    assert_eq!(decision.change.unwrap().to, PaymentState::Settled);
    // Nothing is left of a wholly returned payment.
    let decision = decide_after_returns(&[("R1", 1000)], &return_named("R2", eur(1)));
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::ReturnExceedsRemaining)
    );
}

#[test]
fn a_return_id_applied_before_is_already_applied_with_its_amount_and_a_conflict_with_another() {
    let earlier = [("R1", 300)];
    let decision = decide_after_returns(&earlier, &return_named("R1", eur(300)));
    assert_eq!(decision.outcome, Outcome::AlreadyApplied);
    assert!(decision.change.is_none());
    let decision = decide_after_returns(&earlier, &return_named("R1", eur(200)));
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::ReturnIdConflict)
    );
    assert!(decision.change.is_none());
    // Once wholly returned, a repeated return is still a replay, not a
    // refusal for what is left.
    let decision = decide_after_returns(&[("R1", 300), ("R2", 700)], &return_named("R2", eur(700)));
    assert_eq!(decision.outcome, Outcome::AlreadyApplied);
}

#[test]
fn a_partial_return_of_a_hold_settles_it_and_reverses_only_the_part() {
    let decision = decide_simple(Some(PaymentState::Pending), &return_named("R1", eur(250)));
    assert_eq!(decision.outcome, Outcome::Applied);
    let change = decision.change.unwrap();
    assert_eq!(
        (change.from, change.to),
        (Some(PaymentState::Pending), PaymentState::Settled)
    );
    assert!(change.moves_state(), "the hold settled: one confirmation");
    let kinds: Vec<(TransferKind, Amount)> = change
        .transfers
        .iter()
        .map(|transfer| (transfer.kind, transfer.amount))
        .collect();
    assert_eq!(
        kinds,
        [
            (TransferKind::PostPending, eur(1000)),
            (TransferKind::Reversal, eur(250))
        ]
    );
}

#[test]
fn a_return_of_a_rejected_payment_is_a_state_conflict_whatever_its_amount() {
    for amount in [eur(1), eur(1000), eur(5000)] {
        let decision = decide_simple(Some(PaymentState::Rejected), &return_named("R1", amount));
        assert_eq!(
            decision.outcome,
            Outcome::Rejected(RejectionReason::StateConflict {
                current: PaymentState::Rejected,
                requested: PaymentState::Returned,
            })
        );
    }
}

#[test]
fn return_ids_read_back_from_their_canonical_text_and_name_their_kind() {
    let by_id = ReturnId::of_return_identification("RTR-1").unwrap();
    let by_position = ReturnId::of_message_position("MSG-1", 2).unwrap();
    assert_eq!(by_id.canonical(), "rtr:RTR-1");
    assert_eq!(by_position.canonical(), "msg:5:MSG-11:2");
    for id in [by_id, by_position, ReturnId::unnamed()] {
        assert_eq!(ReturnId::from_canonical(id.canonical()).unwrap(), id);
    }
    for bad in ["", "rtr:", "RTR-1", "msg:", "unnamed2"] {
        assert!(ReturnId::from_canonical(bad).is_err(), "{bad:?}");
    }
    assert!(ReturnId::of_return_identification("").is_err());
    assert!(ReturnId::of_return_identification("A\u{7}B").is_err());
}

#[test]
fn the_return_id_is_part_of_the_fingerprint() {
    let first = return_named("R1", eur(300));
    let second = return_named("R2", eur(300));
    assert_ne!(first.fingerprint(), second.fingerprint());
    assert_ne!(first.fingerprint(), return_of(eur(300)).fingerprint());
}

#[test]
fn a_return_in_another_currency_is_refused_even_for_the_same_number() {
    let usd = Amount::from_minor_units(Currency::parse("USD").unwrap(), 1000).unwrap();
    let decision = decide_simple(Some(PaymentState::Settled), &return_of(usd));
    assert_eq!(
        decision.outcome,
        Outcome::Rejected(RejectionReason::ReturnCurrencyMismatch)
    );
    assert!(decision.change.is_none());
}

#[test]
fn a_repeated_whole_return_is_already_applied_and_a_different_one_is_refused() {
    assert_eq!(
        decide_simple(Some(PaymentState::Returned), &return_of(eur(1000))).outcome,
        Outcome::AlreadyApplied
    );
    assert_eq!(
        decide_simple(Some(PaymentState::Returned), &return_of(eur(10))).outcome,
        Outcome::Rejected(RejectionReason::ReturnIdConflict)
    );
}

#[test]
fn the_returned_amount_is_part_of_the_fingerprint_and_its_absence_changes_nothing() {
    let without = message(PaymentState::Returned, None);
    let whole = return_of(eur(1000));
    let part = return_of(eur(10));
    let usd = return_of(Amount::from_minor_units(Currency::parse("USD").unwrap(), 1000).unwrap());
    assert_ne!(whole.fingerprint(), part.fingerprint());
    assert_ne!(whole.fingerprint(), usd.fingerprint());
    assert_ne!(whole.fingerprint(), without.fingerprint());
    // A message without a returned amount hashes as messages always did:
    // stored fingerprints of earlier requests stay valid.
    let mut legacy = Vec::new();
    for value in [key().canonical().as_str(), "RETURNED", "\u{0}", "\u{0}"] {
        legacy.extend_from_slice(&(value.len() as u32).to_be_bytes());
        legacy.extend_from_slice(value.as_bytes());
    }
    assert_eq!(
        without.fingerprint(),
        RequestFingerprint::of("ledger.ApplyPaymentMessages", &legacy)
    );
}

// ------------------------------------------------------------ debit scopes

fn scope(patterns: &str) -> AccountScope {
    AccountScope::parse(patterns).unwrap()
}

fn out_of_scope(account_id: AccountId) -> Outcome {
    Outcome::Rejected(RejectionReason::DebitAccountOutOfScope { account_id })
}

#[test]
fn a_client_may_open_a_payment_only_from_an_account_in_its_scope() {
    let settle = message(PaymentState::Settled, Some(eur(1000)));
    let decision = decide_simple_in(&scope("ACCT-2"), None, &settle);
    assert_eq!(decision.outcome, out_of_scope(DEBIT));
    assert!(decision.change.is_none(), "nothing is posted");
    for allowed in ["ACCT-1", "ACCT-*", "ACCT-9,ACCT-1"] {
        let decision = decide_simple_in(&scope(allowed), None, &settle);
        assert_eq!(decision.outcome, Outcome::Applied, "{allowed}");
    }
}

#[test]
fn a_client_outside_the_debtor_account_learns_nothing_of_an_existing_payment() {
    // Without the scope rule these would answer DUPLICATE, ALREADY_APPLIED
    // and BUSINESS_KEY_CONFLICT: each tells the prober the payment exists.
    for message in [
        message(PaymentState::Settled, Some(eur(1000))),
        message(PaymentState::Pending, Some(eur(1000))),
        message(PaymentState::Settled, Some(eur(999))),
    ] {
        let decision = decide_simple_in(&scope("ACCT-2"), Some(PaymentState::Settled), &message);
        assert_eq!(decision.outcome, out_of_scope(DEBIT));
    }
}

#[test]
fn a_return_debits_the_creditor_so_only_a_client_scoped_to_the_creditor_may_send_it() {
    let returned = return_of(eur(1000));
    let decision = decide_simple_in(&scope("ACCT-1"), Some(PaymentState::Settled), &returned);
    assert_eq!(decision.outcome, out_of_scope(CREDIT));
    assert!(decision.change.is_none());
    let decision = decide_simple_in(&scope("ACCT-2"), Some(PaymentState::Settled), &returned);
    assert_eq!(decision.outcome, Outcome::Applied);
}

#[test]
fn settling_a_hold_posts_the_debtors_debit_so_it_needs_the_debtor_in_scope() {
    let settle = message(PaymentState::Settled, None);
    let decision = decide_simple_in(&scope("ACCT-2"), Some(PaymentState::Pending), &settle);
    assert_eq!(decision.outcome, out_of_scope(DEBIT));
    let decision = decide_simple_in(&scope("ACCT-1"), Some(PaymentState::Pending), &settle);
    assert_eq!(decision.outcome, Outcome::Applied);
}

#[test]
fn voiding_a_hold_is_a_transfer_on_the_debtors_account_so_it_needs_the_debtor_in_scope() {
    // A client that could void another's hold could cancel payments that
    // are not its own: VOID_PENDING names the debtor as its debit side.
    let reject = message(PaymentState::Rejected, None);
    let decision = decide_simple_in(&scope("ACCT-2"), Some(PaymentState::Pending), &reject);
    assert_eq!(decision.outcome, out_of_scope(DEBIT));
    let decision = decide_simple_in(&scope("ACCT-1"), Some(PaymentState::Pending), &reject);
    assert_eq!(decision.outcome, Outcome::Applied);
}

#[test]
fn an_answer_that_posts_nothing_is_the_same_for_a_client_scoped_to_either_side() {
    let reject = message(PaymentState::Rejected, None);
    let settle = message(PaymentState::Settled, None);
    for side in ["ACCT-1", "ACCT-2"] {
        for (current, message) in [
            (PaymentState::Settled, &reject),
            (PaymentState::Settled, &settle),
            (PaymentState::Rejected, &settle),
        ] {
            let anywhere = decide_simple(Some(current), message);
            let scoped = decide_simple_in(&scope(side), Some(current), message);
            assert_eq!(anywhere.outcome, scoped.outcome, "{side} {current:?}");
            assert!(scoped.change.is_none());
        }
    }
}

#[test]
fn a_follow_up_about_a_payment_outside_the_scope_is_refused_whatever_it_would_answer() {
    // Otherwise ALREADY_APPLIED, STATE_CONFLICT or DUPLICATE would tell any
    // client the state of a payment that is none of its business.
    let elsewhere = scope("ELSEWHERE");
    for current in [
        PaymentState::Pending,
        PaymentState::Settled,
        PaymentState::Rejected,
        PaymentState::Returned,
    ] {
        for target in [
            PaymentState::Settled,
            PaymentState::Rejected,
            PaymentState::Returned,
        ] {
            let follow_up = if target == PaymentState::Returned {
                return_of(eur(1000))
            } else {
                message(target, None)
            };
            let decision = decide_simple_in(&elsewhere, Some(current), &follow_up);
            assert_eq!(
                decision.outcome,
                out_of_scope(DEBIT),
                "{current:?} -> {target:?}"
            );
            assert!(decision.change.is_none());
        }
    }
}
