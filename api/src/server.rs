//! The gRPC server: the ledger service behind bearer-token auth, with health,
//! reflection (v1 and v1alpha), limits, TLS when configured, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use ledger::{GroupCommit, GroupCommitOptions, Ledger};
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::grpc::auth::Tokens;
use crate::grpc::proto::ledger_service_server::LedgerServiceServer;
use crate::grpc::request_size::RequestSizeLimitLayer;
use crate::grpc::{proto, Service, ServiceLimits};

/// What the server needs besides the ledger. Units in the names.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub tokens: Tokens,
    /// PEM certificate chain and key; TLS (rustls) when both are set.
    pub tls_certificate_path: Option<PathBuf>,
    pub tls_key_path: Option<PathBuf>,
    /// Largest request accepted (the submitted document and its envelope).
    pub request_size_max_bytes: usize,
    /// Requests served at once per connection; more are refused, not queued.
    pub concurrent_requests_per_connection_max: usize,
    /// Longest a request may run (a shorter grpc-timeout from the client wins).
    pub request_timeout_ms: u64,
    /// How often the health check asks the database.
    pub health_check_interval_ms: u64,
    /// After a shutdown signal, how long in-flight requests (and connections
    /// that stay open) may take before the server stops anyway.
    pub shutdown_grace_ms: u64,
    pub limits: ServiceLimits,
    /// SubmitPayment through a bounded queue and one applier (group commit);
    /// `None` applies each request in its own transaction.
    pub group_commit: Option<GroupCommitOptions>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            tokens: Tokens::default(),
            tls_certificate_path: None,
            tls_key_path: None,
            request_size_max_bytes: 4 * 1024 * 1024,
            concurrent_requests_per_connection_max: 64,
            request_timeout_ms: 30_000,
            health_check_interval_ms: 1_000,
            shutdown_grace_ms: 10_000,
            limits: ServiceLimits::default(),
            group_commit: Some(GroupCommitOptions::default()),
        }
    }
}

impl ServerConfig {
    /// Checks what can be checked before binding and announcing: at least one
    /// client token, and readable TLS files that make a TLS configuration.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.tokens.is_empty(),
            "no client tokens: set LEDGER_TOKENS or --tokens (entries `client_id=token \
             [roles=submit,read,admin] [scope=PATTERN,...]` separated by `;`, or the older \
             comma-separated `client_id=token` pairs), or --tokens-file; without them every \
             call would be refused"
        );
        if let Some(tls) = self.tls_config()? {
            Server::builder()
                .tls_config(tls)
                .context("configuring TLS")?;
        }
        Ok(())
    }

    /// The TLS configuration, when both PEM files are set.
    fn tls_config(&self) -> anyhow::Result<Option<ServerTlsConfig>> {
        let (Some(certificate), Some(key)) = (&self.tls_certificate_path, &self.tls_key_path)
        else {
            return Ok(None);
        };
        let identity = Identity::from_pem(
            std::fs::read(certificate)
                .with_context(|| format!("reading {}", certificate.display()))?,
            std::fs::read(key).with_context(|| format!("reading {}", key.display()))?,
        );
        Ok(Some(ServerTlsConfig::new().identity(identity)))
    }
}

/// How serving ended, after the shutdown signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every in-flight request finished and every connection closed.
    RequestsFinished,
    /// The grace period ran out first: what was still running was dropped.
    GracePeriodOver { grace_ms: u64 },
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting and
/// lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    ledger: Ledger,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_until_stopped(listener, ledger, config, shutdown)
        .await
        .map(|_| ())
}

/// [`serve`], telling how it ended.
pub async fn serve_until_stopped(
    listener: TcpListener,
    ledger: Ledger,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Stopped> {
    config.check()?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<LedgerServiceServer<Service>>()
        .await;
    let health_task = tokio::spawn(watch_database(
        ledger.clone(),
        health_reporter.clone(),
        Duration::from_millis(config.health_check_interval_ms),
    ));
    // Both versions of server reflection: v1, and v1alpha for the clients
    // that speak only it (grpcio-reflection, older grpcurl, GUI clients).
    let reflection_v1 = reflection_builder()
        .build_v1()
        .context("building the reflection service (v1)")?;
    let reflection_v1alpha = reflection_builder()
        .build_v1alpha()
        .context("building the reflection service (v1alpha)")?;
    let tokens = config.tokens.clone();
    let (shutting_down_sender, shutting_down) = tokio::sync::watch::channel(false);
    let mut grace_started = shutting_down.clone();
    let shutdown = async move {
        shutdown.await;
        // Ends the open confirmation streams, so in-flight calls can finish.
        let _ = shutting_down_sender.send(true);
    };
    let grace = Duration::from_millis(config.shutdown_grace_ms);
    let grace_expired = async move {
        let _ = grace_started.wait_for(|shutting_down| *shutting_down).await;
        tokio::time::sleep(grace).await;
    };
    // RequestSizeLimitLayer refuses larger requests first (RESOURCE_EXHAUSTED);
    // tonic's own limit (OUT_OF_RANGE) is the backstop.
    let ledger_service = InterceptedService::new(
        LedgerServiceServer::new(
            Service::new(ledger.clone(), config.limits.clone(), shutting_down).with_group_commit(
                config
                    .group_commit
                    .clone()
                    .map(|options| GroupCommit::start(ledger, options)),
            ),
        )
        .max_decoding_message_size(config.request_size_max_bytes),
        move |request| tokens.authenticate(request),
    );
    let mut builder = Server::builder()
        // Outermost: requests the size limit refuses are counted too (docs/metrics.md).
        .layer(crate::metrics::request_layer::RequestMetricsLayer)
        .layer(RequestSizeLimitLayer::new(config.request_size_max_bytes))
        .concurrency_limit_per_connection(config.concurrent_requests_per_connection_max)
        .load_shed(true)
        .timeout(Duration::from_millis(config.request_timeout_ms))
        .trace_fn(|request| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            // client_id is recorded by the auth interceptor, inside this span.
            tracing::info_span!(
                "grpc",
                path = %request.uri().path(),
                request_id,
                client_id = tracing::field::Empty
            )
        });
    if let Some(tls) = config.tls_config()? {
        builder = builder.tls_config(tls).context("configuring TLS")?;
    }
    let address = listener.local_addr()?;
    tracing::info!(%address, "serving ledger.v1.LedgerService");
    let serving = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(ledger_service)
        .serve_with_incoming_shutdown(incoming(listener), shutdown);
    // Graceful, but bounded: clients that keep connections open do not hold
    // the process forever.
    let result = tokio::select! {
        result = serving => result.map(|()| Stopped::RequestsFinished),
        _ = grace_expired => {
            tracing::warn!(grace_ms = config.shutdown_grace_ms, "shutdown grace period over: stopping");
            Ok(Stopped::GracePeriodOver { grace_ms: config.shutdown_grace_ms })
        }
    };
    health_task.abort();
    health_reporter
        .set_not_serving::<LedgerServiceServer<Service>>()
        .await;
    result.context("serving gRPC")
}

/// A reflection builder with every file the server serves, both reflection
/// versions included, so that either version lists all services.
fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .include_reflection_service(false)
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
}

/// Reports NOT_SERVING while the database does not answer.
async fn watch_database(
    ledger: Ledger,
    reporter: tonic_health::server::HealthReporter,
    interval: Duration,
) {
    let mut last = ServingStatus::Serving;
    loop {
        tokio::time::sleep(interval).await;
        let status = match ledger.ping().await {
            Ok(()) => ServingStatus::Serving,
            Err(error) => {
                tracing::warn!(%error, "health check: database unreachable");
                ServingStatus::NotServing
            }
        };
        ::metrics::gauge!(crate::metrics::DATABASE_UP).set(if status == ServingStatus::Serving {
            1.0
        } else {
            0.0
        });
        if status != last {
            reporter
                .set_service_status(
                    <LedgerServiceServer<Service> as tonic::server::NamedService>::NAME,
                    status,
                )
                .await;
            reporter.set_service_status("", status).await;
            last = status;
        }
    }
}

/// The connections `listener` accepts, with TCP_NODELAY, as every gRPC
/// server has them. The builder's own TCP_NODELAY (on by default) applies
/// only to a listener tonic binds itself. Without it, a small write that
/// follows one the client has not acknowledged yet waits, under Nagle's
/// algorithm, for the client's delayed ACK (40 ms on Linux): in the benchmark
/// the slowest call of every point took 47-48 ms, and 12-23 ms with it.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Binds `address` (port 0 picks a free port) and returns the listener and
/// the address it got.
pub async fn bind(address: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn accepted_connections_send_small_frames_at_once() {
        let (listener, address) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let mut connections = incoming(listener);
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        let accepted = connections.next().await.unwrap().unwrap();
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY is off");
    }
}
