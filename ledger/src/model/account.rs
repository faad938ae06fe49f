//! Ledger accounts and their balances, TigerBeetle style: four monotonic-ish
//! counters in minor units, never a single signed "balance" column.

use super::ids::{AccountId, AccountReference};
use super::money::Currency;

/// Whether an account may go below zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverdraftRule {
    /// `debits_pending + debits_posted <= credits_posted`, checked in the
    /// ledger and by a CHECK constraint in the schema.
    DebitsMustNotExceedCredits,
    /// No limit: clearing, settlement and suspense accounts.
    Unrestricted,
}

impl OverdraftRule {
    pub fn as_str(self) -> &'static str {
        match self {
            OverdraftRule::DebitsMustNotExceedCredits => "DEBITS_MUST_NOT_EXCEED_CREDITS",
            OverdraftRule::Unrestricted => "UNRESTRICTED",
        }
    }

    pub fn parse(value: &str) -> Option<OverdraftRule> {
        [
            OverdraftRule::DebitsMustNotExceedCredits,
            OverdraftRule::Unrestricted,
        ]
        .into_iter()
        .find(|rule| rule.as_str() == value)
    }
}

/// An account's balances in minor units of its currency. Each is >= 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Balances {
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
}

/// The change one transfer makes to one side's pending and posted counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceDelta {
    pub pending: i64,
    pub posted: i64,
}

impl Balances {
    /// Applies `delta` to the debit counters; `None` if a counter would leave
    /// `0..=i64::MAX`.
    pub fn with_debit(self, delta: BalanceDelta) -> Option<Balances> {
        Some(Balances {
            debits_pending: add_non_negative(self.debits_pending, delta.pending)?,
            debits_posted: add_non_negative(self.debits_posted, delta.posted)?,
            ..self
        })
    }

    /// Applies `delta` to the credit counters; `None` if a counter would leave
    /// `0..=i64::MAX`.
    pub fn with_credit(self, delta: BalanceDelta) -> Option<Balances> {
        Some(Balances {
            credits_pending: add_non_negative(self.credits_pending, delta.pending)?,
            credits_posted: add_non_negative(self.credits_posted, delta.posted)?,
            ..self
        })
    }

    /// The overdraft rule's condition: pending and posted debits covered by posted credits.
    pub fn debits_within_credits(&self) -> bool {
        // i128: the sum of two i64 counters cannot overflow it.
        i128::from(self.debits_pending) + i128::from(self.debits_posted)
            <= i128::from(self.credits_posted)
    }

    pub fn all_non_negative(&self) -> bool {
        self.debits_pending >= 0
            && self.debits_posted >= 0
            && self.credits_pending >= 0
            && self.credits_posted >= 0
    }
}

fn add_non_negative(counter: i64, delta: i64) -> Option<i64> {
    counter.checked_add(delta).filter(|sum| *sum >= 0)
}

/// An account as read inside a transaction, for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSnapshot {
    pub account_id: AccountId,
    /// Whether a client's scope allows debiting it is decided by this.
    pub external_reference: AccountReference,
    pub currency: Currency,
    pub overdraft: OverdraftRule,
    pub balances: Balances,
}

/// An account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub account_id: AccountId,
    pub external_reference: AccountReference,
    pub currency: Currency,
    pub overdraft: OverdraftRule,
    pub balances: Balances,
}

impl Account {
    pub fn snapshot(&self) -> AccountSnapshot {
        AccountSnapshot {
            account_id: self.account_id,
            external_reference: self.external_reference.clone(),
            currency: self.currency,
            overdraft: self.overdraft,
            balances: self.balances,
        }
    }
}
