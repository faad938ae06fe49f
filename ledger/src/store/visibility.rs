//! Which payments a reader sees, as SQL: the condition and its parameters
//! every read of payments and confirmations applies.

use crate::model::{AccountPattern, AccountScope, ClientId, PaymentVisibility};

/// A [`PaymentVisibility`] as statement parameters: see everything; the
/// creating client; `LIKE` patterns of the accounts in scope.
pub(super) struct VisibilityParameters<'a> {
    pub(super) all: bool,
    pub(super) created_by: Option<&'a str>,
    pub(super) account_patterns: Option<Vec<String>>,
}

impl<'a> VisibilityParameters<'a> {
    pub(super) fn of(visible: &'a PaymentVisibility) -> VisibilityParameters<'a> {
        let escape = |text: &str| {
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        VisibilityParameters {
            all: visible.is_all(),
            created_by: visible.created_by.as_ref().map(ClientId::as_str),
            account_patterns: match &visible.accounts {
                Some(AccountScope::Only(patterns)) => Some(
                    patterns
                        .iter()
                        .map(|pattern| match pattern {
                            AccountPattern::Exact(reference) => escape(reference.as_str()),
                            AccountPattern::Prefix(prefix) => format!("{}%", escape(prefix)),
                        })
                        .collect(),
                ),
                _ => None,
            },
        }
    }
}

/// The condition that payment `p` is visible, with the parameters of
/// [`VisibilityParameters`] at `$n`, `$n+1`, `$n+2`.
pub(super) fn visible_payment_condition(n: usize) -> String {
    format!(
        "(${n}::BOOL \
          OR p.created_by_client_id = ${created}::TEXT \
          OR EXISTS (SELECT 1 FROM accounts va \
                     WHERE va.account_id IN (p.debit_account_id, p.credit_account_id) \
                       AND va.external_reference LIKE ANY(${patterns}::TEXT[])))",
        created = n + 1,
        patterns = n + 2,
    )
}
