//! Bearer-token authentication and authorization: each configured token
//! names a client, its roles and the accounts it may touch. The tokens are
//! kept only as SHA-256 digests and never logged.
//!
//! The configuration, one client per line (or per `;`):
//!
//! ```text
//! # client_id=token [roles=ROLE,...] [scope=PATTERN,...] [settlement=immediate|on-confirmation]
//! bank-a=bank-a-secret-token-0001 roles=submit,read scope=DE89370400*,ACCT-A-*
//! ops=ops-secret-token-000000001  roles=admin,read
//! psp=psp-secret-token-0000000001 settlement=immediate
//! ```
//!
//! Roles: `submit` (SubmitPayment; read back the payments it created),
//! `read` (accounts, transfers, payments, confirmations, mappings within its
//! scope), `admin` (OpenAccount, SetSettlementAccount, SetClearingAccount,
//! ListAdminChanges, every mapping). Without `roles=` a client has `submit`
//! and `read`, never `admin`. Without `scope=` it may touch every account.
//! `settlement=` sets when its credit transfers settle when a request does
//! not say (without it: a pain.001 is held until confirmed, a pacs.008
//! settles at once).
//! The older form, `client_id=token` entries separated by commas, still
//! works, with those defaults.

use std::collections::HashMap;
use std::sync::Arc;

use ledger::model::{AccountReference, AccountScope, ClientId, PaymentVisibility};
use sha2::{Digest, Sha256};
use tonic::{Request, Status};

use super::errors::ApiError;
use crate::convert::Settlement;

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Submit,
    Read,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Submit, Role::Read, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Submit => "submit",
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// The roles a client has when its entry names none: never `admin`.
pub const ROLES_DEFAULT: [Role; 2] = [Role::Submit, Role::Read];

/// Who a request comes from and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAccess {
    pub client_id: ClientId,
    roles: Vec<Role>,
    /// The accounts it may debit and read.
    pub scope: AccountScope,
    /// When its credit transfers settle when a request does not say; `None`:
    /// the message's default.
    pub settlement: Option<Settlement>,
}

impl ClientAccess {
    pub fn new(client_id: ClientId, roles: &[Role], scope: AccountScope) -> ClientAccess {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        ClientAccess {
            client_id,
            roles,
            scope,
            settlement: None,
        }
    }

    /// With a default settlement for its credit transfers.
    pub fn with_settlement(mut self, settlement: Option<Settlement>) -> ClientAccess {
        self.settlement = settlement;
        self
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// Refuses a call that needs `role` when the client lacks it.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.has(role) {
            Ok(())
        } else {
            Err(ApiError::RoleRequired {
                client_id: self.client_id.to_string(),
                roles: vec![role],
            })
        }
    }

    /// Refuses a call that needs one of `roles` when the client has none.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.iter().any(|role| self.has(*role)) {
            Ok(())
        } else {
            Err(ApiError::RoleRequired {
                client_id: self.client_id.to_string(),
                roles: roles.to_vec(),
            })
        }
    }

    /// Which payments (and confirmations) it sees: those it created, with
    /// `submit`; those touching its scope, with `read`. Call after
    /// `require_any(&[Read, Submit])`.
    pub fn payment_visibility(&self) -> PaymentVisibility {
        PaymentVisibility {
            created_by: self.has(Role::Submit).then(|| self.client_id.clone()),
            accounts: self.has(Role::Read).then(|| self.scope.clone()),
        }
    }

    /// Refuses reading an account outside the scope (or without `read`).
    pub fn require_readable(&self, reference: &AccountReference) -> Result<(), ApiError> {
        self.require(Role::Read)?;
        if self.scope.allows(reference) {
            Ok(())
        } else {
            Err(ApiError::OutOfScope {
                reason: "ACCOUNT_OUT_OF_SCOPE",
                what: format!("account {reference}"),
            })
        }
    }
}

/// The tokens the service accepts, by digest.
#[derive(Clone, Default)]
pub struct Tokens {
    clients_by_digest: Arc<HashMap<[u8; 32], Arc<ClientAccess>>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.clients_by_digest.len())
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The longest token accepted, in bytes.
pub const TOKEN_LENGTH_MAX: usize = 1024;
/// The shortest token accepted, in bytes.
pub const TOKEN_LENGTH_MIN: usize = 16;
/// Most clients one configuration may hold.
pub const CLIENTS_MAX: usize = 10_000;

/// One `client_id=token` pair, checked.
fn client_and_token(entry: &str, number: usize) -> Result<(ClientId, &str), String> {
    let (client, token) = entry
        .split_once('=')
        .ok_or_else(|| format!("token entry {number} is not client_id=token"))?;
    let client =
        ClientId::parse(client.trim()).map_err(|error| format!("token entry {number}: {error}"))?;
    let token = token.trim();
    if token.len() < TOKEN_LENGTH_MIN || token.len() > TOKEN_LENGTH_MAX {
        return Err(format!(
            "token entry {number} ({client}): a token has {TOKEN_LENGTH_MIN} to \
             {TOKEN_LENGTH_MAX} bytes"
        ));
    }
    Ok((client, token))
}

/// `client_id=token roles=... scope=...`: the attributes after the pair.
fn entry_with_attributes(
    line: &str,
    number: usize,
) -> Result<(ClientId, &str, ClientAccessTerms), String> {
    let mut words = line.split_whitespace();
    let pair = words.next().unwrap_or_default();
    let (client, token) = client_and_token(pair, number)?;
    let mut roles: Option<Vec<Role>> = None;
    let mut scope: Option<AccountScope> = None;
    let mut settlement: Option<Settlement> = None;
    for word in words {
        let at = |detail: String| format!("token entry {number} ({client}): {detail}");
        if let Some(list) = word.strip_prefix("roles=") {
            if roles.is_some() {
                return Err(at("roles= given twice".to_owned()));
            }
            let parsed = list
                .split(',')
                .map(|name| {
                    Role::parse(name).ok_or_else(|| {
                        at(format!(
                            "unknown role {name:?}; roles are submit, read, admin"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            roles = Some(parsed);
        } else if let Some(list) = word.strip_prefix("scope=") {
            if scope.is_some() {
                return Err(at("scope= given twice".to_owned()));
            }
            scope = Some(AccountScope::parse(list).map_err(|error| at(error.to_string()))?);
        } else if let Some(value) = word.strip_prefix("settlement=") {
            if settlement.is_some() {
                return Err(at("settlement= given twice".to_owned()));
            }
            settlement = Some(Settlement::parse(value).ok_or_else(|| {
                at(format!(
                    "settlement {value:?}: choose immediate or on-confirmation"
                ))
            })?);
        } else {
            return Err(at(format!(
                "{word:?} is neither roles=ROLE,..., scope=PATTERN,... nor settlement=..."
            )));
        }
    }
    Ok((
        client,
        token,
        ClientAccessTerms {
            roles: roles.unwrap_or_else(|| ROLES_DEFAULT.to_vec()),
            scope: scope.unwrap_or_default(),
            settlement,
        },
    ))
}

struct ClientAccessTerms {
    roles: Vec<Role>,
    scope: AccountScope,
    settlement: Option<Settlement>,
}

fn has_attributes(line: &str) -> bool {
    line.split_whitespace().skip(1).any(|word| {
        ["roles=", "scope=", "settlement="]
            .iter()
            .any(|attribute| word.starts_with(attribute))
    })
}

impl Tokens {
    /// Parses the configuration described in the module documentation.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut clients_by_digest = HashMap::new();
        let mut number = 0;
        for line in text
            .split(['\n', ';'])
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
        {
            let entries: Vec<(ClientId, &str, ClientAccessTerms)> = if has_attributes(line) {
                number += 1;
                vec![entry_with_attributes(line, number)?]
            } else {
                // The older form: `client_id=token` pairs separated by commas.
                line.split(',')
                    .map(str::trim)
                    .filter(|entry| !entry.is_empty())
                    .map(|entry| {
                        number += 1;
                        let (client, token) = client_and_token(entry, number)?;
                        Ok((
                            client,
                            token,
                            ClientAccessTerms {
                                roles: ROLES_DEFAULT.to_vec(),
                                scope: AccountScope::Unrestricted,
                                settlement: None,
                            },
                        ))
                    })
                    .collect::<Result<_, String>>()?
            };
            for (client, token, terms) in entries {
                if terms.roles.is_empty() {
                    return Err(format!("token entry {number} ({client}): no role"));
                }
                let access = ClientAccess::new(client, &terms.roles, terms.scope)
                    .with_settlement(terms.settlement);
                if clients_by_digest
                    .insert(digest(token), Arc::new(access))
                    .is_some()
                {
                    return Err(format!("token entry {number}: the same token twice"));
                }
                if clients_by_digest.len() > CLIENTS_MAX {
                    return Err(format!("more than {CLIENTS_MAX} token entries"));
                }
            }
        }
        Ok(Tokens {
            clients_by_digest: Arc::new(clients_by_digest),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.clients_by_digest.is_empty()
    }

    /// Each configured client's access, for the start-up log (no tokens).
    pub fn accesses(&self) -> Vec<Arc<ClientAccess>> {
        let mut accesses: Vec<_> = self.clients_by_digest.values().cloned().collect();
        accesses.sort_by(|a, b| a.client_id.as_str().cmp(b.client_id.as_str()));
        accesses
    }

    fn access_of(&self, token: &str) -> Option<&Arc<ClientAccess>> {
        if token.len() > TOKEN_LENGTH_MAX {
            return None;
        }
        self.clients_by_digest.get(&digest(token))
    }

    /// The interceptor: rejects calls without a known token and records the
    /// client's access in the request's extensions.
    #[allow(clippy::result_large_err)]
    pub fn authenticate(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let access = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| self.access_of(token.trim()))
            .cloned()
            .ok_or_else(|| ApiError::Unauthenticated.into_status())?;
        tracing::Span::current().record("client_id", access.client_id.as_str());
        request.extensions_mut().insert(access);
        Ok(request)
    }
}

/// The authenticated client of a request the interceptor let through.
#[allow(clippy::result_large_err)]
pub fn access_of<T>(request: &Request<T>) -> Result<Arc<ClientAccess>, Status> {
    request
        .extensions()
        .get::<Arc<ClientAccess>>()
        .cloned()
        .ok_or_else(|| ApiError::Unauthenticated.into_status())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(tokens: &Tokens, token: &str) -> Option<ClientAccess> {
        tokens.access_of(token).map(|access| (**access).clone())
    }

    #[test]
    fn the_older_form_still_authenticates_with_submit_and_read_on_every_account() {
        let tokens =
            Tokens::parse("bank-a=aaaaaaaaaaaaaaaa0001, bank-b=bbbbbbbbbbbbbbbb0002\n").unwrap();
        let a = access(&tokens, "aaaaaaaaaaaaaaaa0001").unwrap();
        assert_eq!(a.client_id.as_str(), "bank-a");
        assert_eq!(a.roles(), [Role::Submit, Role::Read]);
        assert!(!a.has(Role::Admin), "the default is never admin");
        assert_eq!(a.scope, AccountScope::Unrestricted);
        assert_eq!(
            access(&tokens, "bbbbbbbbbbbbbbbb0002")
                .unwrap()
                .client_id
                .as_str(),
            "bank-b"
        );
        assert!(access(&tokens, "cccccccccccccccc0003").is_none());
    }

    #[test]
    fn an_entry_names_its_roles_and_scope() {
        let tokens = Tokens::parse(
            "# clients\n\
             bank-a=aaaaaaaaaaaaaaaa0001 roles=submit scope=ACCT-A-*,DE89370400440532013000\n\
             ops=oooooooooooooooo0001 roles=admin,read; auditor=rrrrrrrrrrrrrrrr0001 roles=read\n",
        )
        .unwrap();
        let a = access(&tokens, "aaaaaaaaaaaaaaaa0001").unwrap();
        assert_eq!(a.roles(), [Role::Submit]);
        assert_eq!(a.scope.to_string(), "ACCT-A-*,DE89370400440532013000");
        let ops = access(&tokens, "oooooooooooooooo0001").unwrap();
        assert_eq!(ops.roles(), [Role::Read, Role::Admin]);
        assert!(ops.scope.is_unrestricted());
        let auditor = access(&tokens, "rrrrrrrrrrrrrrrr0001").unwrap();
        assert_eq!(auditor.roles(), [Role::Read]);
        assert_eq!(a.settlement, None);
        let psp = Tokens::parse("psp=pppppppppppppppp0001 settlement=immediate").unwrap();
        let psp = access(&psp, "pppppppppppppppp0001").unwrap();
        assert_eq!(psp.settlement, Some(Settlement::Immediate));
        assert_eq!(psp.roles(), ROLES_DEFAULT);
        let scoped_only = Tokens::parse("c=cccccccccccccccc0001 scope=X*").unwrap();
        assert_eq!(
            access(&scoped_only, "cccccccccccccccc0001")
                .unwrap()
                .roles(),
            ROLES_DEFAULT
        );
    }

    #[test]
    fn a_configuration_with_a_mistake_is_refused_and_names_the_entry() {
        for (bad, says) in [
            ("a=aaaaaaaaaaaaaaaa0001 roles=superuser", "unknown role"),
            ("a=aaaaaaaaaaaaaaaa0001 roles=", "unknown role"),
            ("a=aaaaaaaaaaaaaaaa0001 roles=read roles=admin", "twice"),
            ("a=aaaaaaaaaaaaaaaa0001 scope=*", "bare '*'"),
            ("a=aaaaaaaaaaaaaaaa0001 scope=A*B", "'*' may only end"),
            ("a=aaaaaaaaaaaaaaaa0001 scope=A* admin", "neither roles="),
            (
                "a=aaaaaaaaaaaaaaaa0001 settlement=later",
                "choose immediate or",
            ),
            ("a=short roles=read", "16 to 1024 bytes"),
            ("just-a-name", "not client_id=token"),
            (
                "a=aaaaaaaaaaaaaaaa0001\nb=aaaaaaaaaaaaaaaa0001 roles=read",
                "the same token twice",
            ),
        ] {
            let error = Tokens::parse(bad).unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
            assert!(error.contains("token entry"), "{bad:?}: {error}");
            assert!(
                !error.contains("aaaaaaaaaaaaaaaa0001"),
                "never the token: {error}"
            );
        }
    }

    #[test]
    fn a_client_without_a_role_is_refused_naming_the_role() {
        let client = ClientId::parse("bank-b").unwrap();
        let reader = ClientAccess::new(client, &[Role::Read], AccountScope::Unrestricted);
        assert!(reader.require(Role::Read).is_ok());
        match reader.require(Role::Admin) {
            Err(ApiError::RoleRequired { roles, client_id }) => {
                assert_eq!(roles, [Role::Admin]);
                assert_eq!(client_id, "bank-b");
            }
            other => panic!("{other:?}"),
        }
        assert!(reader.require_any(&[Role::Submit, Role::Read]).is_ok());
        assert!(reader.require_any(&[Role::Submit, Role::Admin]).is_err());
    }

    #[test]
    fn a_scoped_reader_reads_only_accounts_in_its_scope_and_sees_what_it_created() {
        let client = ClientId::parse("bank-a").unwrap();
        let scope = AccountScope::parse("ACCT-A-*").unwrap();
        let both = ClientAccess::new(client.clone(), &[Role::Submit, Role::Read], scope.clone());
        let mine = AccountReference::parse("ACCT-A-1").unwrap();
        let theirs = AccountReference::parse("ACCT-B-1").unwrap();
        assert!(both.require_readable(&mine).is_ok());
        assert!(matches!(
            both.require_readable(&theirs),
            Err(ApiError::OutOfScope { .. })
        ));
        let visible = both.payment_visibility();
        assert_eq!(visible.created_by, Some(client.clone()));
        assert_eq!(visible.accounts, Some(scope));
        let submitter = ClientAccess::new(client, &[Role::Submit], AccountScope::Unrestricted);
        assert!(matches!(
            submitter.require_readable(&mine),
            Err(ApiError::RoleRequired { .. })
        ));
        assert_eq!(submitter.payment_visibility().accounts, None);
    }
}
