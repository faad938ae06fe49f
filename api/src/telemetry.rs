//! Logs and traces (`docs/operations.md`, "Logs and traces"): log lines on
//! standard error, human or JSON (`log_format`), filtered by `RUST_LOG`
//! (default `warn`); and, when `otlp_endpoint` is set, every span at `info`
//! and above (each gRPC request's `grpc` span, `submit_payment`, the
//! database transactions with their attempt number) exported over OTLP/gRPC
//! with OpenTelemetry's batch processor (`OTEL_BSP_SCHEDULE_DELAY`, default
//! 5 s, says how often).
//!
//! What reaches a log line or a span is what the code records: never a
//! token, a message's body or a full account number (`docs/security.md`).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// The service name traces carry (`service.name`).
pub const SERVICE_NAME: &str = "ledger";
/// The spans exported: `info` and above, without those of the crates the
/// exporter itself uses (whose spans would otherwise feed back into it).
pub const OTLP_SPAN_FILTER: &str = "info,h2=off,hyper=off,hyper_util=off,tonic=off,tower=off,\
                                    opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off";
/// How long the exporter may take to send one batch.
const OTLP_EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the last spans may take to leave at shutdown.
const OTLP_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The installed logging and tracing; [`Telemetry::shutdown`] sends the
/// spans still buffered.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Installs the process's subscriber: the log lines in `format`
/// (`Auto`: human on a terminal, JSON otherwise) and, with an endpoint, the
/// OTLP exporter. Must run inside the tokio runtime (the exporter's
/// connection lives on it).
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let log_filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    match format.resolved(stderr_is_terminal) {
        LogFormat::Json => layers.push(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr)
                .with_filter(log_filter())
                .boxed(),
        ),
        LogFormat::Human | LogFormat::Auto => layers.push(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(stderr_is_terminal)
                .with_filter(log_filter())
                .boxed(),
        ),
    }
    let provider = match otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(OTLP_EXPORT_TIMEOUT)
                .build()
                .with_context(|| format!("setting up the OTLP exporter to {endpoint}"))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name(SERVICE_NAME)
                        .with_attribute(opentelemetry::KeyValue::new(
                            "service.version",
                            env!("CARGO_PKG_VERSION"),
                        ))
                        .build(),
                )
                .build();
            let tracer = provider.tracer(SERVICE_NAME);
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(EnvFilter::new(OTLP_SPAN_FILTER))
                    .boxed(),
            );
            Some(provider)
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .context("installing the log subscriber")?;
    Ok(Telemetry { provider })
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends the spans still buffered and stops the exporter (at most
    /// [`OTLP_SHUTDOWN_TIMEOUT`]); a failure is said on stderr.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The exporter's thread needs the runtime's workers while it sends.
        let stopped = tokio::task::spawn_blocking(move || {
            provider.shutdown_with_timeout(OTLP_SHUTDOWN_TIMEOUT)
        })
        .await;
        match stopped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("traces: the last spans may be lost: {error}"),
            Err(error) => eprintln!("traces: the last spans may be lost: {error}"),
        }
    }
}
