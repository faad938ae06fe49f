//! The harness's own TCP proxy between `ledger serve` and PostgreSQL: it
//! forwards the PostgreSQL wire protocol unchanged (TCP on 127.0.0.1 to the
//! cluster's Unix socket), reads the frontend stream message by message, and
//! drops connections on a seeded schedule: right after a `COMMIT` (simple
//! query `Q` or extended `Parse`) was forwarded and before its reply (the
//! client cannot know whether it committed), and at random other messages
//! (mid-transaction: nothing committed).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};

/// What the proxy saw and did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: AtomicU64,
    pub commits_seen: AtomicU64,
    /// Connections dropped after a COMMIT was forwarded, before its reply.
    pub dropped_after_commit: AtomicU64,
    /// Connections dropped before forwarding some other message.
    pub dropped_mid_stream: AtomicU64,
    /// Drops happen only while armed (not during the servers' start).
    pub armed: AtomicBool,
}

#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    pub stats: Arc<ProxyStats>,
}

/// SSLRequest and GSSENCRequest codes: untyped messages before the startup.
const SSL_REQUEST: i32 = 80877103;
const GSSENC_REQUEST: i32 = 80877104;

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(
        upstream: PathBuf,
        seed: u64,
        commit_drop_probability: f64,
        mid_drop_probability: f64,
    ) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let stats = Arc::new(ProxyStats::default());
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(seed ^ 0xC0_441)));
        let accepting = stats.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                accepting.connections.fetch_add(1, Ordering::Relaxed);
                let (upstream, stats, rng) = (upstream.clone(), accepting.clone(), rng.clone());
                tokio::spawn(async move {
                    if let Ok(server) = UnixStream::connect(&upstream).await {
                        let _ = forward(
                            client,
                            server,
                            &stats,
                            &rng,
                            commit_drop_probability,
                            mid_drop_probability,
                        )
                        .await;
                    }
                });
            }
        });
        Ok(Proxy { port, stats })
    }
}

/// Whether a query text is a COMMIT (or END, its synonym).
fn is_commit(query: &[u8]) -> bool {
    let text = String::from_utf8_lossy(query);
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace() || c == ';');
    let upper = text.to_ascii_uppercase();
    upper == "COMMIT" || upper == "END" || upper.starts_with("COMMIT ")
}

/// The query text of a `Parse` body: statement name (C string), then query.
fn parse_query(body: &[u8]) -> &[u8] {
    let name_end = body.iter().position(|b| *b == 0).unwrap_or(body.len());
    let rest = &body[(name_end + 1).min(body.len())..];
    let query_end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    &rest[..query_end]
}

async fn forward(
    client: tokio::net::TcpStream,
    server: UnixStream,
    stats: &ProxyStats,
    rng: &Mutex<StdRng>,
    commit_drop_probability: f64,
    mid_drop_probability: f64,
) -> std::io::Result<()> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let backward = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    let result = async {
        // Untyped messages: SSL/GSS requests, then the startup message.
        loop {
            let length = client_read.read_i32().await?;
            let mut body = vec![0; (length as usize).saturating_sub(4)];
            client_read.read_exact(&mut body).await?;
            server_write.write_i32(length).await?;
            server_write.write_all(&body).await?;
            let code = body
                .get(..4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .unwrap_or(0);
            if code != SSL_REQUEST && code != GSSENC_REQUEST {
                break;
            }
        }
        loop {
            let tag = client_read.read_u8().await?;
            let length = client_read.read_i32().await?;
            let mut body = vec![0; (length as usize).saturating_sub(4)];
            client_read.read_exact(&mut body).await?;
            let commit = match tag {
                b'Q' => is_commit(&body),
                b'P' => is_commit(parse_query(&body)),
                _ => false,
            };
            let armed = stats.armed.load(Ordering::Relaxed);
            if commit {
                stats.commits_seen.fetch_add(1, Ordering::Relaxed);
            }
            let (drop_after, drop_before, linger) = {
                let mut rng = rng.lock().expect("the proxy's rng");
                let drop_after = armed && commit && rng.random_bool(commit_drop_probability);
                let drop_before =
                    armed && !commit && tag != b'X' && rng.random_bool(mid_drop_probability);
                (drop_after, drop_before, rng.random_range(0..3u64))
            };
            if drop_before {
                stats.dropped_mid_stream.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            server_write.write_u8(tag).await?;
            server_write.write_i32(length).await?;
            server_write.write_all(&body).await?;
            server_write.flush().await?;
            if drop_after {
                // The COMMIT is on its way to PostgreSQL; the client's side
                // goes now, before any reply, and PostgreSQL's a moment later.
                stats.dropped_after_commit.fetch_add(1, Ordering::Relaxed);
                backward.abort();
                drop(client_read);
                tokio::time::sleep(Duration::from_millis(linger)).await;
                return Ok(());
            }
            if tag == b'X' {
                return Ok(());
            }
        }
    }
    .await;
    backward.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_recognised_in_its_spellings_and_nothing_else() {
        for query in [
            &b"COMMIT\0"[..],
            b"commit",
            b" COMMIT; ",
            b"END",
            b"COMMIT AND NO CHAIN",
        ] {
            assert!(is_commit(query), "{}", String::from_utf8_lossy(query));
        }
        for query in [
            &b"BEGIN\0"[..],
            b"SELECT 'COMMIT'",
            b"COMMITTED",
            b"ROLLBACK",
        ] {
            assert!(!is_commit(query), "{}", String::from_utf8_lossy(query));
        }
    }

    #[test]
    fn the_query_of_a_parse_message_follows_the_statement_name() {
        assert_eq!(parse_query(b"s1\0COMMIT\0\0\0"), b"COMMIT");
        assert_eq!(parse_query(b"\0SELECT 1\0\0\0"), b"SELECT 1");
    }
}
