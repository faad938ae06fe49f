//! Bearer-token authentication: each configured token names a client. The
//! tokens are kept only as SHA-256 digests and never logged.

use std::collections::HashMap;
use std::sync::Arc;

use ledger::model::ClientId;
use sha2::{Digest, Sha256};
use tonic::{Request, Status};

use super::errors::ApiError;

/// The tokens the service accepts, by digest.
#[derive(Clone, Default)]
pub struct Tokens {
    clients_by_digest: Arc<HashMap<[u8; 32], ClientId>>,
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

impl Tokens {
    /// Parses `client_id=token` entries separated by commas or newlines
    /// (blank lines and lines starting with `#` are skipped).
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut clients_by_digest = HashMap::new();
        for (number, entry) in text
            .split([',', '\n'])
            .map(str::trim)
            .enumerate()
            .filter(|(_, entry)| !entry.is_empty() && !entry.starts_with('#'))
        {
            let (client, token) = entry
                .split_once('=')
                .ok_or_else(|| format!("token entry {} is not client_id=token", number + 1))?;
            let client = ClientId::parse(client.trim())
                .map_err(|error| format!("token entry {}: {error}", number + 1))?;
            let token = token.trim();
            if token.len() < 16 || token.len() > TOKEN_LENGTH_MAX {
                return Err(format!(
                    "token entry {} ({client}): a token has 16 to {TOKEN_LENGTH_MAX} bytes",
                    number + 1
                ));
            }
            if clients_by_digest.insert(digest(token), client).is_some() {
                return Err(format!("token entry {}: the same token twice", number + 1));
            }
        }
        Ok(Tokens {
            clients_by_digest: Arc::new(clients_by_digest),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.clients_by_digest.is_empty()
    }

    fn client_of(&self, token: &str) -> Option<&ClientId> {
        if token.len() > TOKEN_LENGTH_MAX {
            return None;
        }
        self.clients_by_digest.get(&digest(token))
    }

    /// The interceptor: rejects calls without a known token and records the
    /// client in the request's extensions.
    #[allow(clippy::result_large_err)]
    pub fn authenticate(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let client = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| self.client_of(token.trim()))
            .cloned()
            .ok_or_else(|| ApiError::Unauthenticated.into_status())?;
        tracing::Span::current().record("client_id", client.as_str());
        request.extensions_mut().insert(client);
        Ok(request)
    }
}

/// The authenticated client of a request the interceptor let through.
#[allow(clippy::result_large_err)]
pub fn client_of<T>(request: &Request<T>) -> Result<ClientId, Status> {
    request
        .extensions()
        .get::<ClientId>()
        .cloned()
        .ok_or_else(|| ApiError::Unauthenticated.into_status())
}
