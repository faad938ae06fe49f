//! Metrics as an operator sees them: a real Prometheus scrapes the server's
//! metrics endpoint while the test drives a known load, and its HTTP API must
//! report what the test did; the alert rules pass `promtool`'s checks and
//! unit tests; the dashboard, the alerts and `docs/metrics.md` name only
//! metrics the service exports (`ledger_api::metrics::METRICS`).
//!
//! One test only starts a server: the recorder is the process's, and the
//! figures must be this test's alone.
//!
//! Prometheus and promtool come from Debian's `prometheus` package
//! (`scripts/setup`). Without them a test says so loudly and passes, except
//! under CI (`CI` set), where it fails.

#[path = "support/server.rs"]
mod test_server;

use test_server::*;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ledger_api::grpc::proto::Outcome;
use ledger_api::metrics::{series_names, MetricsEndpoint, METRICS};
use ledger_api::server;
use tokio::time::Instant;

/// How long Prometheus may take to start answering.
const PROMETHEUS_START_WAIT_MAX: Duration = Duration::from_secs(30);
/// How long the scraped figures may take to match what the test did
/// (scrapes every second; collection every `COLLECTION_INTERVAL`).
const SCRAPED_FIGURES_WAIT_MAX: Duration = Duration::from_secs(30);
/// Between two questions to Prometheus.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often the endpoint reads the pool and the outbox in these tests.
const COLLECTION_INTERVAL: Duration = Duration::from_millis(200);

const PAYMENTS_APPLIED_COUNT: usize = 5;
const PAYMENTS_REJECTED_COUNT: usize = 3;
const REPLAYS_COUNT: usize = 2;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("api/ is in the workspace")
        .to_owned()
}

/// The path of `tool` (`prometheus`, `promtool`), or `None` (after saying so
/// loudly) when it is not installed and the run is not CI.
fn tool_or_skip(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|directory| directory.join(tool))
            .find(|candidate| candidate.is_file())
    });
    match found {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => {
            panic!("{tool} is not installed, and CI must run this test: run scripts/setup")
        }
        None => {
            eprintln!(
                "\n\n******** SKIPPED: {tool} is not installed (run scripts/setup, which \
                 installs Debian's prometheus package); under CI this test fails ********\n\n"
            );
            None
        }
    }
}

/// A free TCP port on the loopback interface (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Prometheus server scraping one target every second, in a temporary
/// directory; stopped when dropped.
struct Prometheus {
    process: Child,
    address: SocketAddr,
    directory: tempfile::TempDir,
}

impl Prometheus {
    async fn start(binary: &Path, target: SocketAddr) -> Prometheus {
        let directory = tempfile::tempdir().unwrap();
        let config = directory.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: ledger\n    scrape_interval: 1s\n    \
                 scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(directory.path().join("prometheus.log")).unwrap();
        let process = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                directory.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let prometheus = Prometheus {
            process,
            address,
            directory,
        };
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = http_get(address, "/-/ready").await {
                return prometheus;
            }
            assert!(
                started.elapsed() < PROMETHEUS_START_WAIT_MAX,
                "prometheus did not become ready: {}",
                prometheus.log()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The value of an instant query whose answer is one number; `None`
    /// while it has no answer (nothing scraped yet).
    async fn query_number(&self, query: &str) -> Option<f64> {
        let path = format!("/api/v1/query?query={}", percent_encoded(query));
        let (status, body) = http_get(self.address, &path).await.ok()?;
        assert_eq!(status, 200, "{query}: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["status"], "success", "{query}: {body}");
        let value = answer["data"]["result"].get(0)?["value"][1].as_str()?;
        value.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Every byte but unreserved ones percent-encoded: a query string value.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// One HTTP/1.1 GET with hyper: the status and the body.
async fn http_get(address: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header(http::header::HOST, address.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Every series name that `METRICS` exports.
fn exported_series_names() -> BTreeSet<String> {
    METRICS.iter().flat_map(series_names).collect()
}

/// Whether `name` is a metric of `METRICS` (a histogram's own name included).
fn is_listed_metric(name: &str) -> bool {
    METRICS.iter().any(|metric| metric.name == name)
}

/// The `ledger_...` names in a text (a query, a rule file, a document).
fn ledger_names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("ledger_") {
        let preceded_by_name = rest[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let name: String = rest[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[start + name.len()..];
        if !preceded_by_name {
            names.insert(name);
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_the_payments_rejections_and_replays_the_server_answered() {
    let Some(prometheus_binary) = tool_or_skip("prometheus") else {
        return;
    };
    let server = TestServer::start().await;
    let (listener, metrics_address) = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let endpoint = MetricsEndpoint::start(
        listener,
        server.database.ledger.clone(),
        COLLECTION_INTERVAL,
    )
    .unwrap();
    assert_eq!(endpoint.address(), metrics_address);
    let prometheus = Prometheus::start(&prometheus_binary, metrics_address).await;

    let mut client = server.client().await;
    for index in 0..PAYMENTS_APPLIED_COUNT {
        let document = pacs008(
            &format!("MSG-A{index}"),
            &[(&format!("E2E-A{index}"), "10.00")],
        );
        let response = client
            .submit_payment(submit(TOKEN_A, &format!("applied-{index}"), document))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.results[0].outcome(), Outcome::Applied);
    }
    for index in 0..PAYMENTS_REJECTED_COUNT {
        // From the creditor account, which forbids overdraft: more than it holds.
        let document = String::from_utf8(pacs008(
            &format!("MSG-R{index}"),
            &[(&format!("E2E-R{index}"), "1000000.00")],
        ))
        .unwrap()
        .replace(DEBTOR_IBAN, "SWAP")
        .replace(CREDITOR_IBAN, DEBTOR_IBAN)
        .replace("SWAP", CREDITOR_IBAN);
        let response = client
            .submit_payment(submit(
                TOKEN_A,
                &format!("rejected-{index}"),
                document.into_bytes(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.results[0].reason_code, "INSUFFICIENT_FUNDS");
    }
    for _ in 0..REPLAYS_COUNT {
        let document = pacs008("MSG-A0", &[("E2E-A0", "10.00")]);
        let response = client
            .submit_payment(submit(TOKEN_A, "applied-0", document))
            .await
            .unwrap()
            .into_inner();
        assert!(response.replay);
    }
    let reused = client
        .submit_payment(submit(
            TOKEN_A,
            "applied-0",
            pacs008("MSG-OTHER", &[("E2E-OTHER", "1.00")]),
        ))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), tonic::Code::AlreadyExists);

    let submit_requests_count = PAYMENTS_APPLIED_COUNT + PAYMENTS_REJECTED_COUNT + REPLAYS_COUNT;
    let expected: Vec<(&str, f64)> = vec![
        (
            r#"sum(ledger_payments_total{outcome="applied"})"#,
            PAYMENTS_APPLIED_COUNT as f64,
        ),
        (
            r#"sum(ledger_payments_total{outcome="rejected"})"#,
            PAYMENTS_REJECTED_COUNT as f64,
        ),
        (
            r#"sum(ledger_payments_rejected_total{reason="INSUFFICIENT_FUNDS"})"#,
            PAYMENTS_REJECTED_COUNT as f64,
        ),
        (
            "sum(ledger_idempotency_replays_total)",
            REPLAYS_COUNT as f64,
        ),
        (
            r#"sum(ledger_idempotency_key_conflicts_total{conflict="key_reused"})"#,
            1.0,
        ),
        (
            r#"sum(ledger_requests_total{rpc="SubmitPayment",code="OK"})"#,
            submit_requests_count as f64,
        ),
        (
            r#"sum(ledger_requests_total{rpc="SubmitPayment",code="ALREADY_EXISTS"})"#,
            1.0,
        ),
        (
            r#"sum(ledger_request_duration_seconds_count{rpc="SubmitPayment"})"#,
            (submit_requests_count + 1) as f64,
        ),
        (
            r#"sum(ledger_requests_in_flight{rpc="SubmitPayment"})"#,
            0.0,
        ),
        // One outbox row per applied payment (the rejections changed no
        // payment's state); no relay delivers them.
        (
            "ledger_outbox_undelivered_rows",
            PAYMENTS_APPLIED_COUNT as f64,
        ),
        ("ledger_database_up", 1.0),
        ("ledger_db_pool_connections_max", 16.0),
        // Every fresh request went through group commit, in some batches.
        (
            "ledger_group_commit_batch_size_sum",
            (PAYMENTS_APPLIED_COUNT + PAYMENTS_REJECTED_COUNT + REPLAYS_COUNT + 1) as f64,
        ),
    ];
    let started = Instant::now();
    let mut differences;
    loop {
        differences = Vec::new();
        for (query, value) in &expected {
            let scraped = prometheus.query_number(query).await;
            if scraped != Some(*value) {
                differences.push(format!("{query}: expected {value}, scraped {scraped:?}"));
            }
        }
        if differences.is_empty() || started.elapsed() > SCRAPED_FIGURES_WAIT_MAX {
            break;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    assert!(
        differences.is_empty(),
        "what Prometheus scraped differs from what the test did:\n{}\nprometheus log:\n{}",
        differences.join("\n"),
        prometheus.log()
    );

    // Every series the endpoint exports (and every metric its HELP and TYPE
    // lines name) is one the list, and so the docs, names.
    let (status, exposition) = http_get(metrics_address, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(
        exposition.contains("# TYPE ledger_build_info gauge"),
        "{exposition}"
    );
    let (status, _) = http_get(metrics_address, "/").await.unwrap();
    assert_eq!(status, 404, "only /metrics is served");
    let exported = exported_series_names();
    let unlisted: Vec<String> = ledger_names_in(&exposition)
        .into_iter()
        .filter(|name| !exported.contains(name) && !is_listed_metric(name))
        .collect();
    assert!(
        unlisted.is_empty(),
        "exported but not listed in METRICS: {unlisted:?}"
    );
    drop(prometheus);
    drop(endpoint);
    server.shut_down().await;
}

#[test]
fn every_metric_is_named_after_prometheus_conventions_with_its_unit() {
    use ledger_api::metrics::MetricKind;
    let mut names = BTreeSet::new();
    for metric in METRICS {
        assert!(names.insert(metric.name), "{} listed twice", metric.name);
        assert!(metric.name.starts_with("ledger_"), "{}", metric.name);
        assert!(
            metric
                .name
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_'),
            "{}",
            metric.name
        );
        match metric.kind {
            MetricKind::Counter => assert!(metric.name.ends_with("_total"), "{}", metric.name),
            MetricKind::Gauge | MetricKind::Histogram => {
                assert!(!metric.name.ends_with("_total"), "{}", metric.name)
            }
        }
        assert!(!metric.help.is_empty(), "{} has no help", metric.name);
    }
}

#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let text = std::fs::read_to_string(workspace_root().join("ops/grafana/ledger.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let mut expressions = Vec::new();
    collect_expressions(&dashboard, &mut expressions);
    assert!(!expressions.is_empty(), "the dashboard has no queries");
    let exported = exported_series_names();
    for expression in &expressions {
        let names = ledger_names_in(expression);
        assert!(
            !names.is_empty(),
            "a query names no ledger metric: {expression}"
        );
        for name in names {
            assert!(
                exported.contains(&name),
                "the dashboard queries {name}, which the service does not export: {expression}"
            );
        }
    }
}

/// Every `expr` string of a Grafana dashboard (its panels' targets).
fn collect_expressions(value: &serde_json::Value, expressions: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expression)) => {
                        expressions.push(expression.clone())
                    }
                    _ => collect_expressions(value, expressions),
                }
            }
        }
        serde_json::Value::Array(values) => {
            for value in values {
                collect_expressions(value, expressions);
            }
        }
        _ => {}
    }
}

#[test]
fn the_alert_rules_name_only_exported_metrics() {
    let rules =
        std::fs::read_to_string(workspace_root().join("ops/prometheus/alerts.yml")).unwrap();
    let exported = exported_series_names();
    let names = ledger_names_in(&rules);
    assert!(!names.is_empty());
    for name in names {
        // The descriptions may name a histogram by its metric name.
        assert!(
            exported.contains(&name) || is_listed_metric(&name),
            "alerts.yml names {name}, which the service does not export"
        );
    }
}

#[test]
fn the_metrics_document_describes_every_metric() {
    let document = std::fs::read_to_string(workspace_root().join("docs/metrics.md")).unwrap();
    let documented = ledger_names_in(&document);
    for metric in METRICS {
        assert!(
            documented.contains(metric.name),
            "docs/metrics.md does not describe {}",
            metric.name
        );
    }
    let exported = exported_series_names();
    for name in documented {
        assert!(
            exported.contains(&name) || is_listed_metric(&name),
            "docs/metrics.md names {name}, which the service does not export"
        );
    }
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(promtool) = tool_or_skip("promtool") else {
        return;
    };
    let directory = workspace_root().join("ops/prometheus");
    for arguments in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let output = Command::new(&promtool)
            .args(arguments)
            .current_dir(&directory)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "promtool {}:\n{}\n{}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
