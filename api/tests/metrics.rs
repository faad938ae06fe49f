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
        // The appliers' own pool: one connection for the one applier, open.
        ("ledger_group_commit_pool_connections_max", 1.0),
        ("ledger_group_commit_pool_connections", 1.0),
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

/// The value of the series `name{labels}` in a Prometheus text rendering.
fn rendered_value(rendering: &str, series: &str) -> Option<f64> {
    rendering.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_periodic_audit_exports_each_check_and_a_changed_balance_shows_as_drift() {
    use ledger_api::metrics::{
        audit_once, install_recorder, RECONCILIATION_CHECKS, RECONCILIATION_DISCREPANCIES,
        RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS,
    };
    let handle = install_recorder().unwrap();
    let database = database_with_accounts(ledger::LedgerOptions::default()).await;
    audit_once(&database.ledger).await;
    let rendering = handle.render();
    for check in RECONCILIATION_CHECKS {
        let series = format!("{RECONCILIATION_DISCREPANCIES}{{check=\"{check}\"}}");
        assert_eq!(rendered_value(&rendering, &series), Some(0.0), "{series}");
    }
    let audited_at = rendered_value(&rendering, RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS)
        .expect("the audit's time is exported");
    assert!(audited_at > 1.7e9, "{audited_at}");

    // A stored balance changed behind the ledger's back.
    ledger_system_tests::connect(&database.config)
        .await
        .batch_execute(&format!(
            "UPDATE accounts SET credits_posted = credits_posted + 1 \
             WHERE external_reference = '{CREDITOR_IBAN}'"
        ))
        .await
        .unwrap();
    audit_once(&database.ledger).await;
    let rendering = handle.render();
    for (check, expected) in [
        ("TRIAL_BALANCE", 1.0),
        ("BALANCE_MISMATCH", 1.0),
        ("OUTBOX_MISMATCH", 0.0),
    ] {
        let series = format!("{RECONCILIATION_DISCREPANCIES}{{check=\"{check}\"}}");
        assert_eq!(
            rendered_value(&rendering, &series),
            Some(expected),
            "{series}"
        );
    }
}

#[test]
fn relay_and_ingest_figures_take_only_their_bounded_labels() {
    use ledger_api::metrics::{ingest_outcome_label, RelayFailure};
    for (outcome, label) in [
        ("APPLIED", "applied"),
        ("ALREADY_APPLIED", "already_applied"),
        ("DUPLICATE", "duplicate"),
        ("REJECTED", "rejected"),
        ("INVALID", "invalid"),
        ("NOT_APPLIED", "not_applied"),
        ("DE89370400440532013000", "other"),
        ("", "other"),
    ] {
        assert_eq!(ingest_outcome_label(outcome), label, "{outcome}");
    }
    let reasons: BTreeSet<&str> = [
        RelayFailure::Publish,
        RelayFailure::Acknowledgement,
        RelayFailure::AcknowledgementTimeout,
        RelayFailure::StreamLookup,
        RelayFailure::Claim,
        RelayFailure::BrokerDisconnected,
    ]
    .into_iter()
    .map(RelayFailure::label)
    .collect();
    let document = std::fs::read_to_string(workspace_root().join("docs/metrics.md")).unwrap();
    for reason in &reasons {
        assert!(
            document.contains(&format!("`{reason}`")),
            "docs/metrics.md does not describe the relay failure reason {reason}"
        );
    }
    assert_eq!(reasons.len(), 6);
}

/// The figures `ledger relay --metrics-listen` serves once it delivered
/// `rows` confirmations, polled until they are there.
async fn relay_figures_after_delivering(address: SocketAddr, rows: f64) -> String {
    let started = Instant::now();
    loop {
        if let Ok((200, body)) = http_get(address, "/metrics").await {
            if rendered_value(&body, ledger_api::metrics::RELAY_DELIVERED_ROWS_TOTAL) == Some(rows)
            {
                return body;
            }
            assert!(
                started.elapsed() < SCRAPED_FIGURES_WAIT_MAX,
                "the relay did not deliver {rows} rows: {body}"
            );
        }
        assert!(started.elapsed() < SCRAPED_FIGURES_WAIT_MAX, "no metrics");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_serves_its_publishes_acknowledgements_and_deliveries_on_its_own_endpoint() {
    use ledger::model::PaymentState;
    use ledger_api::metrics::{RELAY_ACKNOWLEDGED_TOTAL, RELAY_PUBLISHED_TOTAL};
    use ledger_system_tests::fixtures::{command, eur, transfer};
    use std::io::{BufRead, BufReader};
    const PAYMENTS: usize = 4;

    let nats = ledger_system_tests::nats::NatsServer::start();
    let database =
        ledger_system_tests::TestDatabase::with_two_accounts(ledger::LedgerOptions::default())
            .await;
    for payment in 0..PAYMENTS {
        let key = format!("relayed-{payment}");
        database
            .ledger
            .apply(&command(
                "bank-a",
                &key,
                transfer(&key, PaymentState::Settled, eur(100), "BOB", "CLEARING"),
            ))
            .await
            .unwrap();
    }
    let mut relay = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args([
            "relay",
            "--nats-url",
            &nats.url(),
            "--idle-poll-interval-ms",
            "20",
        ])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .env(
            "DATABASE_URL",
            ledger_system_tests::database_url(&database.config),
        )
        .env_remove("LEDGER_CONFIG")
        .env_remove("LEDGER_METRICS_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(relay.stdout.take().unwrap());
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("serving metrics on http://") {
                let _ = sender.send(rest.trim_end_matches("/metrics").to_owned());
            }
        }
    });
    let address: SocketAddr = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the relay says where its metrics are")
        .parse()
        .unwrap();
    let figures = relay_figures_after_delivering(address, PAYMENTS as f64).await;
    let _ = relay.kill();
    let _ = relay.wait();
    assert_eq!(
        rendered_value(&figures, RELAY_PUBLISHED_TOTAL),
        Some(PAYMENTS as f64),
        "{figures}"
    );
    assert_eq!(
        rendered_value(&figures, RELAY_ACKNOWLEDGED_TOTAL),
        Some(PAYMENTS as f64),
        "{figures}"
    );
    assert!(
        !figures.contains("ledger_relay_failures_total{reason=\"publish\"}"),
        "{figures}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_counts_each_transaction_by_outcome_and_each_file() {
    use clap::Parser;
    use ledger_api::metrics::{install_recorder, INGEST_FILES_TOTAL, INGEST_TRANSACTIONS_TOTAL};
    #[derive(Debug, clap::Parser)]
    struct IngestCommand {
        #[command(flatten)]
        args: ledger_api::ingest::IngestArgs,
    }
    let handle = install_recorder().unwrap();
    let database = database_with_accounts(ledger::LedgerOptions::default()).await;
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("counted.xml");
    std::fs::write(
        &file,
        pacs008(
            "MSG-COUNTED",
            &[("E2E-C1", "1.00"), ("E2E-C2", "2.00"), ("E2E-C3", "3.00")],
        ),
    )
    .unwrap();
    let arguments = IngestCommand::try_parse_from(["ingest", file.to_str().unwrap()]).unwrap();
    let url = ledger_system_tests::database_url(&database.config);
    let series = |outcome: &str| format!("{INGEST_TRANSACTIONS_TOTAL}{{outcome=\"{outcome}\"}}");
    // The same file twice: applied, then replayed.
    for (run, applied, already_applied, files) in [(1, 3.0, None, 1.0), (2, 3.0, Some(3.0), 2.0)] {
        let code = ledger_api::ingest::main(
            Some(&url),
            directory.path().join("unused-data-dir"),
            &arguments.args,
        )
        .await;
        assert_eq!(code, 0, "run {run}");
        let rendering = handle.render();
        assert_eq!(
            rendered_value(&rendering, &series("applied")),
            Some(applied),
            "run {run}"
        );
        assert_eq!(
            rendered_value(&rendering, &series("already_applied")),
            already_applied,
            "run {run}"
        );
        assert_eq!(
            rendered_value(&rendering, &series("rejected")),
            None,
            "run {run}"
        );
        assert_eq!(
            rendered_value(&rendering, INGEST_FILES_TOTAL),
            Some(files),
            "run {run}"
        );
    }
}
