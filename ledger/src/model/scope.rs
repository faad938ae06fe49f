//! Access scopes: which accounts a client may debit, and which payments it
//! may see. Configured per client (the API's token configuration); the
//! ledger enforces the debit rule as an outcome (semantics: an out-of-scope
//! debit is a refusal stored under the key) and the store filters reads.

use super::ids::{AccountReference, ClientId, IdError};

/// Most patterns one scope may list.
pub const SCOPE_PATTERNS_MAX: usize = 256;

/// One entry of a scope: an account by its reference, or every account
/// whose canonical reference starts with a prefix (`DE89370400*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountPattern {
    Exact(AccountReference),
    /// Compared with the canonical reference as written: IBANs are upper
    /// case without spaces, other ids exactly as messages carry them.
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("an empty account pattern")]
    Empty,
    #[error(
        "account pattern {pattern:?}: '*' may only end a prefix, and a bare '*' is no scope \
         (leave the scope out for every account)"
    )]
    Wildcard { pattern: String },
    #[error("account pattern {pattern:?}: a prefix has no spaces (references have none)")]
    Space { pattern: String },
    #[error("account pattern {pattern:?}: {source}")]
    Reference { pattern: String, source: IdError },
    #[error("more than {SCOPE_PATTERNS_MAX} account patterns in one scope")]
    TooMany,
}

impl AccountPattern {
    /// `REFERENCE` (any form `AccountReference::parse` accepts) or `PREFIX*`.
    pub fn parse(text: &str) -> Result<AccountPattern, ScopeError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScopeError::Empty);
        }
        let wildcard = || ScopeError::Wildcard {
            pattern: text.to_owned(),
        };
        match text.strip_suffix('*') {
            Some(prefix) => {
                if prefix.is_empty() || prefix.contains('*') {
                    return Err(wildcard());
                }
                if prefix.contains(char::is_whitespace) {
                    return Err(ScopeError::Space {
                        pattern: text.to_owned(),
                    });
                }
                Ok(AccountPattern::Prefix(prefix.to_owned()))
            }
            None if text.contains('*') => Err(wildcard()),
            None => AccountReference::parse(text)
                .map(AccountPattern::Exact)
                .map_err(|source| ScopeError::Reference {
                    pattern: text.to_owned(),
                    source,
                }),
        }
    }

    pub fn matches(&self, reference: &AccountReference) -> bool {
        match self {
            AccountPattern::Exact(exact) => exact == reference,
            AccountPattern::Prefix(prefix) => reference.as_str().starts_with(prefix.as_str()),
        }
    }
}

impl std::fmt::Display for AccountPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountPattern::Exact(reference) => write!(f, "{reference}"),
            AccountPattern::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

/// The accounts a client may debit and read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AccountScope {
    /// Every account (a client configured without a scope).
    #[default]
    Unrestricted,
    /// Only the accounts one of these patterns matches (at least one).
    Only(Vec<AccountPattern>),
}

impl AccountScope {
    /// Patterns separated by commas; at least one, at most `SCOPE_PATTERNS_MAX`.
    pub fn parse(text: &str) -> Result<AccountScope, ScopeError> {
        let patterns = text
            .split(',')
            .map(AccountPattern::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if patterns.len() > SCOPE_PATTERNS_MAX {
            return Err(ScopeError::TooMany);
        }
        Ok(AccountScope::Only(patterns))
    }

    pub fn allows(&self, reference: &AccountReference) -> bool {
        match self {
            AccountScope::Unrestricted => true,
            AccountScope::Only(patterns) => patterns.iter().any(|p| p.matches(reference)),
        }
    }

    pub fn is_unrestricted(&self) -> bool {
        matches!(self, AccountScope::Unrestricted)
    }
}

impl std::fmt::Display for AccountScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountScope::Unrestricted => f.write_str("every account"),
            AccountScope::Only(patterns) => {
                for (index, pattern) in patterns.iter().enumerate() {
                    if index > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{pattern}")?;
                }
                Ok(())
            }
        }
    }
}

/// Which payments (and their transfers and confirmations) a reader sees:
/// those it created, those touching an account in a scope, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentVisibility {
    /// Payments this client created (what a `submit` client may read back).
    pub created_by: Option<ClientId>,
    /// Payments debiting or crediting an account in this scope (what a
    /// `read` client may read); `Unrestricted` sees every payment.
    pub accounts: Option<AccountScope>,
}

impl PaymentVisibility {
    /// Every payment: an operator, or a `read` client without a scope.
    pub fn all() -> PaymentVisibility {
        PaymentVisibility {
            created_by: None,
            accounts: Some(AccountScope::Unrestricted),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self.accounts, Some(AccountScope::Unrestricted))
    }

    /// Whether a payment is visible, given who created it (if known) and
    /// the references of its two accounts.
    pub fn shows(&self, created_by: Option<&ClientId>, accounts: [&AccountReference; 2]) -> bool {
        let created =
            matches!((&self.created_by, created_by), (Some(me), Some(creator)) if me == creator);
        let touches = self
            .accounts
            .as_ref()
            .is_some_and(|scope| accounts.iter().any(|reference| scope.allows(reference)));
        created || touches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(text: &str) -> AccountReference {
        AccountReference::parse(text).unwrap()
    }

    #[test]
    fn a_pattern_is_a_reference_in_canonical_form_or_a_prefix_ending_in_a_star() {
        assert_eq!(
            AccountPattern::parse("de89 3704 0044 0532 0130 00").unwrap(),
            AccountPattern::Exact(reference("DE89370400440532013000"))
        );
        assert_eq!(
            AccountPattern::parse("ACCT-A-*").unwrap(),
            AccountPattern::Prefix("ACCT-A-".to_owned())
        );
        for bad in [
            "",
            "  ",
            "*",
            "**",
            "A*B",
            "*A",
            "A**",
            "A B*",
            "BBAN:0001*x",
        ] {
            assert!(AccountPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            AccountPattern::parse("BBAN:0001234"),
            Err(ScopeError::Reference { .. })
        ));
    }

    #[test]
    fn a_scope_allows_exactly_the_accounts_its_patterns_match() {
        let scope = AccountScope::parse("ACCT-A-*, DE89370400440532013000").unwrap();
        assert!(scope.allows(&reference("ACCT-A-1")));
        assert!(scope.allows(&reference("de89 3704 0044 0532 0130 00")));
        assert!(!scope.allows(&reference("ACCT-B-1")));
        assert!(
            !scope.allows(&reference("acct-a-1")),
            "prefixes are case-sensitive"
        );
        assert!(
            !scope.allows(&reference("ACCT-A")),
            "the prefix itself is longer"
        );
        assert!(AccountScope::Unrestricted.allows(&reference("ACCT-B-1")));
        assert_eq!(scope.to_string(), "ACCT-A-*,DE89370400440532013000");
    }

    #[test]
    fn a_scope_lists_at_least_one_and_at_most_the_limit_of_patterns() {
        assert!(AccountScope::parse("").is_err());
        assert!(AccountScope::parse("A,,B").is_err());
        let many = vec!["A*"; SCOPE_PATTERNS_MAX + 1].join(",");
        assert_eq!(AccountScope::parse(&many), Err(ScopeError::TooMany));
        let enough = vec!["A*"; SCOPE_PATTERNS_MAX].join(",");
        assert!(AccountScope::parse(&enough).is_ok());
    }

    #[test]
    fn a_reader_sees_what_it_created_or_what_touches_its_scope_and_nothing_else() {
        let me = ClientId::parse("bank-a").unwrap();
        let other = ClientId::parse("bank-b").unwrap();
        let (mine, theirs) = (reference("ACCT-A-1"), reference("ACCT-B-1"));
        let submit_only = PaymentVisibility {
            created_by: Some(me.clone()),
            accounts: None,
        };
        assert!(submit_only.shows(Some(&me), [&theirs, &theirs]));
        assert!(!submit_only.shows(Some(&other), [&mine, &mine]));
        assert!(!submit_only.shows(None, [&mine, &mine]));
        let read_scoped = PaymentVisibility {
            created_by: None,
            accounts: Some(AccountScope::parse("ACCT-A-*").unwrap()),
        };
        assert!(
            read_scoped.shows(None, [&theirs, &mine]),
            "the credit side counts"
        );
        assert!(read_scoped.shows(Some(&other), [&mine, &theirs]));
        assert!(!read_scoped.shows(Some(&me), [&theirs, &theirs]));
        assert!(PaymentVisibility::all().shows(None, [&theirs, &theirs]));
        assert!(PaymentVisibility::all().is_all() && !read_scoped.is_all());
    }
}
