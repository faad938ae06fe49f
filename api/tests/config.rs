//! The configuration as an operator meets it (docs/configuration.md): a TOML
//! file, the environment over it, the flags over both; `ledger config check`
//! prints the effective configuration with its secrets masked; a bad setting
//! stops a command at start with exit code 2, naming the setting, where its
//! value came from and what is wrong with it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ledger_api::serving_line::serving_address;

const TOKEN: &str = "config-test-token-0123456789";
const PASSWORD: &str = "pg-s3cret-password";

/// `ledger ARGS` with only the environment given (no LEDGER_* or
/// DATABASE_URL from the test's own environment).
fn ledger(arguments: &[&str], environment: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
    command.args(arguments);
    for (name, _) in std::env::vars() {
        if name.starts_with("LEDGER_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    command.envs(environment.iter().copied());
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn config_file(directory: &Path, contents: &str) -> String {
    let path = directory.join("ledger.toml");
    std::fs::write(&path, contents).unwrap();
    path.display().to_string()
}

/// The value of `key` in `config check`'s TOML output.
fn printed(output: &Output, key: &str) -> Option<String> {
    text(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key} = ")).map(str::to_owned))
}

#[test]
fn config_check_prints_the_defaults_when_nothing_is_configured() {
    let output = ledger(&["config", "check"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    for (key, value) in [
        ("listen", "\"127.0.0.1:50051\""),
        ("pool_size_max", "16"),
        ("request_timeout_ms", "30000"),
        ("group_commit_batch_size_max", "256"),
        ("group_commit_queue_max", "4096"),
        ("transaction_attempts_max", "12"),
        ("hold_expiry", "\"7d\""),
        ("audit_interval", "\"0s\""),
        ("nats_stream_name", "\"LEDGER_CONFIRMATIONS\""),
        ("log_format", "\"auto\""),
    ] {
        assert_eq!(printed(&output, key).as_deref(), Some(value), "{key}");
    }
    assert!(
        text(&output.stderr).contains("no client tokens"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_environment_overrides_the_file_and_flags_override_the_environment() {
    let directory = tempfile::tempdir().unwrap();
    let file = config_file(
        directory.path(),
        &format!(
            "database_url = \"postgres://file:{PASSWORD}@file-host/ledger\"\n\
             pool_size_max = 8\nlog_format = \"human\"\nhold_expiry = \"36h\"\n\
             tokens = \"bank-a={TOKEN}\"\n"
        ),
    );
    // The file alone.
    let output = ledger(&["config", "check", &file], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(printed(&output, "pool_size_max").as_deref(), Some("8"));
    assert_eq!(
        printed(&output, "hold_expiry").as_deref(),
        Some("\"1d12h\"")
    );
    assert_eq!(
        printed(&output, "database_url").as_deref(),
        Some("\"postgres://file:********@file-host/ledger\"")
    );
    // The environment over it; LEDGER_CONFIG names the file.
    let environment = [
        ("LEDGER_CONFIG", file.as_str()),
        ("LEDGER_POOL_SIZE_MAX", "12"),
        ("LEDGER_LOG_FORMAT", "json"),
        ("DATABASE_URL", "postgres://env@env-host/ledger"),
    ];
    let output = ledger(&["config", "check"], &environment);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(printed(&output, "pool_size_max").as_deref(), Some("12"));
    assert_eq!(printed(&output, "log_format").as_deref(), Some("\"json\""));
    assert_eq!(
        printed(&output, "database_url").as_deref(),
        Some("\"postgres://********@env-host/ledger\"")
    );
    // Flags over both.
    let output = ledger(
        &[
            "--log-format",
            "human",
            "--database-url",
            "postgres://flag@flag-host/ledger",
            "config",
            "check",
        ],
        &environment,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(printed(&output, "log_format").as_deref(), Some("\"human\""));
    assert!(
        printed(&output, "database_url")
            .unwrap()
            .contains("flag-host"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(printed(&output, "pool_size_max").as_deref(), Some("12"));
}

#[test]
fn config_check_never_prints_a_token_or_a_password() {
    let directory = tempfile::tempdir().unwrap();
    let file = config_file(
        directory.path(),
        &format!(
            "database_url = \"postgres://app:{PASSWORD}@db/ledger?sslmode=require\"\n\
             tokens = \"bank-a={TOKEN} roles=submit,read\"\n\
             relay_nats_url = \"nats://relay:{PASSWORD}@nats:4222\"\n\
             otlp_endpoint = \"http://collector:4317\"\n"
        ),
    );
    let output = ledger(&["config", "check", &file], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!all.contains(TOKEN), "{all}");
    assert!(!all.contains(PASSWORD), "{all}");
    assert_eq!(printed(&output, "tokens").as_deref(), Some("\"********\""));
    assert_eq!(
        printed(&output, "relay_nats_url").as_deref(),
        Some("\"nats://relay:********@nats:4222\"")
    );
}

/// `ledger ARGS` must fail with exit code 2 and say each of `expected`.
fn check_refused(arguments: &[&str], environment: &[(&str, &str)], expected: &[&str]) {
    let output = ledger(arguments, environment);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
    for expected in expected {
        assert!(
            stderr.contains(expected),
            "{arguments:?}: {expected:?} not in {stderr}"
        );
    }
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn bad_settings_are_refused_naming_the_setting_its_source_and_the_problem() {
    let directory = tempfile::tempdir().unwrap();
    let unknown = config_file(directory.path(), "pool_size = 4\n");
    check_refused(
        &["config", "check", &unknown],
        &[],
        &["unknown setting `pool_size`", "ledger.toml"],
    );
    let out_of_range = directory.path().join("range.toml");
    std::fs::write(
        &out_of_range,
        "pool_size_max = 0\ngroup_commit_appliers_max = 40\n",
    )
    .unwrap();
    let out_of_range = out_of_range.display().to_string();
    check_refused(
        &["config", "check", &out_of_range],
        &[],
        &[
            "setting `pool_size_max` = 0: must be from 1 to 1000",
            "setting `group_commit_appliers_max` = 40: must be from 1 to 16",
        ],
    );
    let bad_duration = directory.path().join("duration.toml");
    std::fs::write(&bad_duration, "hold_expiry = \"a week\"\n").unwrap();
    check_refused(
        &["config", "check", &bad_duration.display().to_string()],
        &[],
        &["setting `hold_expiry`", "is not a duration like 7d"],
    );
    let not_toml = directory.path().join("broken.toml");
    std::fs::write(&not_toml, "listen = [\n").unwrap();
    check_refused(
        &["config", "check", &not_toml.display().to_string()],
        &[],
        &["broken.toml"],
    );
    check_refused(
        &["config", "check", "/nonexistent/ledger.toml"],
        &[],
        &["the configuration file /nonexistent/ledger.toml"],
    );
    check_refused(
        &["config", "check"],
        &[("LEDGER_POOL_SIZE_MAX", "many")],
        &[
            "setting `pool_size_max` (from LEDGER_POOL_SIZE_MAX)",
            "\"many\"",
        ],
    );
    check_refused(
        &["config", "check"],
        &[("LEDGER_LISTEN", "everywhere")],
        &["setting `listen` (from LEDGER_LISTEN)"],
    );
    check_refused(
        &["config", "check"],
        &[("LEDGER_TLS_CERTIFICATE", "/nonexistent/cert.pem")],
        &["settings `tls_certificate` and `tls_key`: set both or neither"],
    );
    check_refused(
        &["config", "check"],
        &[("LEDGER_TOKENS", "bank-a=short")],
        &["setting `tokens`"],
    );
    check_refused(
        &["config", "check"],
        &[("LEDGER_TOKENS_FILE", "/nonexistent/tokens")],
        &["setting `tokens_file` = /nonexistent/tokens: cannot be read"],
    );
}

#[test]
fn a_bad_setting_stops_every_command_before_the_database_is_opened() {
    let database_url = format!("postgres://app:{PASSWORD}@127.0.0.1:1/none");
    for arguments in [
        &["serve"][..],
        &["migrate"][..],
        &["reconcile"][..],
        &["outbox", "status"][..],
    ] {
        check_refused(
            arguments,
            &[
                ("LEDGER_TRANSACTION_ATTEMPTS_MAX", "0"),
                ("LEDGER_TOKENS", "bank-a=config-test-token-0123456789"),
                ("DATABASE_URL", &database_url),
            ],
            &["setting `transaction_attempts_max` = 0: must be from 1 to 1000"],
        );
    }
    // A serve flag out of range is refused as the same setting.
    check_refused(
        &["serve", "--hold-expiry", "soon"],
        &[("LEDGER_TOKENS", "bank-a=config-test-token-0123456789")],
        &[
            "setting `hold_expiry` (from the command line)",
            "\"soon\" is not a duration",
        ],
    );
}

#[test]
fn serve_takes_its_settings_from_the_file_with_flags_and_environment_over_it() {
    let directory = tempfile::tempdir().unwrap();
    // The file's listen address is taken by a flag's; its metrics address is used.
    let file = config_file(
        directory.path(),
        "listen = \"127.0.0.1:9\"\nmetrics_listen = \"127.0.0.1:0\"\nhold_expiry = \"0s\"\n\
         group_commit_batch_size_max = 0\naudit_interval = \"1h\"\n",
    );
    let database = tokio::runtime::Runtime::new().unwrap().block_on(
        ledger_system_tests::TestDatabase::create(ledger::LedgerOptions::default()),
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
    for (name, _) in std::env::vars() {
        if name.starts_with("LEDGER_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(["--config", &file, "serve", "--listen", "127.0.0.1:0"])
        .env(
            "DATABASE_URL",
            ledger_system_tests::database_url(&database.config),
        )
        .env("LEDGER_TOKENS", format!("bank-a={TOKEN}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut lines = Vec::new();
    // serve says its clients, then its holds, then its audit: the last line.
    while !lines
        .iter()
        .any(|line: &String| line.starts_with("reconciliation audit every"))
    {
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let serving = lines
        .iter()
        .find_map(|line| serving_address(line))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        !serving.ends_with(":9"),
        "the flag's address wins: {serving}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("serving metrics on http://127.0.0.1:")),
        "the file's metrics address is used: {lines:#?}"
    );
    assert!(
        !lines.iter().any(|line| line.starts_with("holds expire")),
        "the file's hold_expiry = 0s is used: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("client bank-a: roles")),
        "the environment's tokens are used: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line == "reconciliation audit every 1h"),
        "the file's audit_interval is used: {lines:#?}"
    );
}
