//! The one typed configuration of the `ledger` binary
//! (`docs/configuration.md`): defaults, then a TOML file (`--config FILE` or
//! `LEDGER_CONFIG`), then the environment (`LEDGER_<SETTING>`, and
//! `DATABASE_URL`), then the command line, each layer overriding the one
//! before. figment merges the layers; [`Config::check`] names every bad
//! setting with what is wrong with its value; [`Config::masked`] is the
//! configuration with its secrets (tokens, passwords in URLs) hidden, as
//! `ledger config check` prints it.
//!
//! Keys are flat and carry their units (`request_timeout_ms`,
//! `pool_size_max`); the environment variable of a key is `LEDGER_` and the
//! key in upper case (`pool_size_max`: `LEDGER_POOL_SIZE_MAX`).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::admin::{duration_text, parse_duration};

/// The environment variable naming the configuration file.
pub const CONFIG_FILE_ENV: &str = "LEDGER_CONFIG";
/// The prefix of every setting's environment variable.
pub const ENV_PREFIX: &str = "LEDGER_";
/// What a masked secret is printed as.
pub const MASK: &str = "********";

/// A duration written as `7d`, `36h`, `1d12h`, `90m`, `30s` (`0s` for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl Serialize for DurationText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&duration_text(self.0))
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(DurationText)
            .map_err(serde::de::Error::custom)
    }
}

/// How log lines are written on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human on a terminal, JSON otherwise.
    #[default]
    Auto,
    /// One readable line per event.
    Human,
    /// One JSON object per event.
    Json,
}

impl LogFormat {
    /// `Auto` decided: human when standard error is a terminal.
    pub fn resolved(self, stderr_is_terminal: bool) -> LogFormat {
        match self {
            LogFormat::Auto if stderr_is_terminal => LogFormat::Human,
            LogFormat::Auto => LogFormat::Json,
            other => other,
        }
    }
}

/// Every setting, with its default ([`Config::default`]). See
/// `docs/configuration.md` for each one's meaning.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// PostgreSQL URL; unset: the embedded cluster in `data_dir`. Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// The embedded cluster's directory; unset: `.ledger` (docs/cli.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    pub listen: SocketAddr,
    /// Token entries (docs/api.md). Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_certificate: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    pub request_size_max_bytes: usize,
    pub request_timeout_ms: u64,
    pub pool_size_max: usize,
    pub pool_wait_timeout_ms: u64,
    /// Unset: `request_timeout_ms` for `serve`, 10 000 for other commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_timeout_ms: Option<u64>,
    pub transaction_attempts_max: u32,
    pub retry_backoff_initial_ms: u64,
    pub retry_backoff_max_ms: u64,
    pub group_commit_batch_size_max: u64,
    pub group_commit_queue_max: u64,
    pub group_commit_appliers_max: u64,
    pub hold_expiry: DurationText,
    pub hold_expiry_check_interval_seconds: u64,
    /// `serve` runs the relay in-process, to this NATS server. Secret userinfo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_nats_url: Option<String>,
    /// `ledger relay`'s NATS server(s). Secret userinfo.
    pub nats_url: String,
    pub nats_stream_name: String,
    pub nats_subject_prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// How often `serve` runs the reconciliation audit; `0s`: never.
    pub audit_interval: DurationText,
    pub log_format: LogFormat,
    /// OTLP/gRPC collector for traces; unset: no traces exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets, even in a debug print.
        let masked = self.masked();
        formatter
            .debug_struct("Config")
            .field("database_url", &masked.database_url)
            .field("data_dir", &masked.data_dir)
            .field("listen", &masked.listen)
            .field("tokens", &masked.tokens)
            .field("tokens_file", &masked.tokens_file)
            .field("relay_nats_url", &masked.relay_nats_url)
            .field("nats_url", &masked.nats_url)
            .field("otlp_endpoint", &masked.otlp_endpoint)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Config {
        let ledger = ledger::LedgerOptions::default();
        Config {
            database_url: None,
            data_dir: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            tokens: None,
            tokens_file: None,
            tls_certificate: None,
            tls_key: None,
            request_size_max_bytes: 4 * 1024 * 1024,
            request_timeout_ms: 30_000,
            pool_size_max: ledger.pool_size_max,
            pool_wait_timeout_ms: ledger.pool_wait_timeout_ms,
            statement_timeout_ms: None,
            transaction_attempts_max: ledger.transaction_attempts_max,
            retry_backoff_initial_ms: ledger.retry_backoff_initial_ms,
            retry_backoff_max_ms: ledger.retry_backoff_max_ms,
            group_commit_batch_size_max: 256,
            group_commit_queue_max: 4_096,
            group_commit_appliers_max: 1,
            hold_expiry: DurationText(
                parse_duration(crate::holds::HOLD_EXPIRY_DEFAULT).expect("the default parses"),
            ),
            hold_expiry_check_interval_seconds: 60,
            relay_nats_url: None,
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            nats_stream_name: crate::relay::STREAM_NAME_DEFAULT.to_owned(),
            nats_subject_prefix: crate::relay::SUBJECT_PREFIX_DEFAULT.to_owned(),
            metrics_listen: None,
            audit_interval: DurationText(Duration::ZERO),
            log_format: LogFormat::Auto,
            otlp_endpoint: None,
        }
    }
}

/// Every key, as written in the file and (upper case, after `LEDGER_`) in
/// the environment. `database_url`'s variable is `DATABASE_URL`.
pub const KEYS: &[&str] = &[
    "database_url",
    "data_dir",
    "listen",
    "tokens",
    "tokens_file",
    "tls_certificate",
    "tls_key",
    "request_size_max_bytes",
    "request_timeout_ms",
    "pool_size_max",
    "pool_wait_timeout_ms",
    "statement_timeout_ms",
    "transaction_attempts_max",
    "retry_backoff_initial_ms",
    "retry_backoff_max_ms",
    "group_commit_batch_size_max",
    "group_commit_queue_max",
    "group_commit_appliers_max",
    "hold_expiry",
    "hold_expiry_check_interval_seconds",
    "relay_nats_url",
    "nats_url",
    "nats_stream_name",
    "nats_subject_prefix",
    "metrics_listen",
    "audit_interval",
    "log_format",
    "otlp_endpoint",
];

/// The global flags of every command that are settings.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalFlags {
    /// A TOML configuration file (or the LEDGER_CONFIG environment
    /// variable); see docs/configuration.md. Environment variables and
    /// flags override it.
    #[arg(long = "config", value_name = "FILE", global = true)]
    pub config_file: Option<PathBuf>,
    /// How log lines are written on standard error: `human`, `json`, or
    /// `auto` (human on a terminal, JSON otherwise; the default). Also
    /// LEDGER_LOG_FORMAT.
    #[arg(long, value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Export traces over OTLP/gRPC to this collector
    /// (`http://127.0.0.1:4317`); off unless set. Also LEDGER_OTLP_ENDPOINT.
    #[arg(long, value_name = "URL", global = true)]
    pub otlp_endpoint: Option<String>,
}

/// `serve`'s flags: each overrides the configuration file and the
/// environment when given. Defaults: docs/configuration.md.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct ServeFlags {
    /// Address to listen on [default: 127.0.0.1:50051; LEDGER_LISTEN].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Client tokens (never logged): entries `client_id=token
    /// [roles=submit,read,admin] [scope=PATTERN,...]` separated by `;` or
    /// newlines. Without roles= a client may submit and read, never
    /// administer; without scope= it may use every account. The older form,
    /// `client_id=token` entries separated by commas, still works. See
    /// docs/api.md, "Roles and scopes" [LEDGER_TOKENS].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<String>,
    /// A file of token entries, one per line (`#` starts a comment),
    /// instead of --tokens [LEDGER_TOKENS_FILE].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_file: Option<PathBuf>,
    /// PEM certificate chain; with --tls-key, serve over TLS
    /// [LEDGER_TLS_CERTIFICATE].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key of --tls-certificate [LEDGER_TLS_KEY].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Largest request accepted, in bytes [default: 4194304].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_size_max_bytes: Option<usize>,
    /// Longest a request may run, in milliseconds [default: 30000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
    /// Database connections (and so concurrent transactions) [default: 16].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_size_max: Option<usize>,
    /// SubmitPayment requests applied together in one transaction at most
    /// (group commit); 0 applies each request in its own transaction
    /// [default: 256].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=1000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_commit_batch_size_max: Option<u64>,
    /// SubmitPayment requests waiting for the applier at most; one more is
    /// refused at once with RESOURCE_EXHAUSTED [default: 4096].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_commit_queue_max: Option<u64>,
    /// Batches in flight at once: 1 is a single writer (no batch ever
    /// conflicts with another of this process); 2 overlaps one batch's
    /// commit with the next one's work, and conflicting batches are retried
    /// [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=16))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_commit_appliers_max: Option<u64>,
    /// Also run the confirmations relay in this process, publishing to this
    /// NATS server (docs/confirmations.md); its other settings are `ledger
    /// relay`'s defaults. Without it nothing is published
    /// [LEDGER_RELAY_NATS_URL].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_nats_url: Option<String>,
    /// Holds (PENDING payments: a pain.001 by default) that no status
    /// report settled or voided within this time are REJECTED (reason AB03);
    /// `0s` never expires them [default: 7d].
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_expiry: Option<String>,
    /// How often serve looks for expired holds [default: 60].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_expiry_check_interval_seconds: Option<u64>,
    /// Serve Prometheus metrics at http://ADDRESS/metrics (docs/metrics.md);
    /// off unless set. Port 0 picks a free port (printed at start)
    /// [LEDGER_METRICS_LISTEN].
    #[arg(long, value_name = "ADDRESS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Run the reconciliation audit this often and export its findings as
    /// `ledger_reconciliation_discrepancies` (docs/metrics.md); `0s`, the
    /// default, never [LEDGER_AUDIT_INTERVAL].
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_interval: Option<String>,
}

/// Where the configuration comes from, besides the defaults and the
/// environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The TOML file; else `LEDGER_CONFIG`'s; else none.
    pub file: Option<PathBuf>,
    /// Settings given on the command line, each overriding everything.
    pub flags: serde_json::Map<String, serde_json::Value>,
}

impl Sources {
    /// Adds `flags` (a struct whose unset fields serialize to nothing).
    pub fn with_flags<T: Serialize>(mut self, flags: &T) -> Sources {
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(flags) {
            self.flags.extend(map);
        }
        self
    }

    /// Adds one setting given on the command line, when given.
    pub fn with_flag<T: Serialize>(mut self, key: &str, value: Option<T>) -> Sources {
        if let Some(value) = value.and_then(|value| serde_json::to_value(value).ok()) {
            self.flags.insert(key.to_owned(), value);
        }
        self
    }

    /// The file named by the sources or by `LEDGER_CONFIG`.
    pub fn file_in_use(&self) -> Option<PathBuf> {
        self.file.clone().or_else(|| {
            std::env::var_os(CONFIG_FILE_ENV)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        })
    }
}

/// Why the configuration cannot be used: every problem, each naming its
/// setting and where the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "bad configuration: {}", self.problems.join("; "))
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(problem: String) -> ConfigError {
        ConfigError {
            problems: vec![problem],
        }
    }
}

impl Config {
    /// Defaults, the file, the environment, the flags; then [`Config::check`].
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = sources.file_in_use() {
            if let Err(error) = std::fs::metadata(&file).and_then(|metadata| {
                if metadata.is_file() {
                    Ok(())
                } else {
                    Err(std::io::Error::other("not a regular file"))
                }
            }) {
                return Err(ConfigError::one(format!(
                    "the configuration file {}: {error}",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(Env::prefixed(ENV_PREFIX).only(&KEYS[1..]))
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Serialized::defaults(CommandLine(sources.flags.clone())));
        let mut config: Config = figment.extract().map_err(|error| ConfigError {
            problems: error
                .into_iter()
                .map(|error| problem_text(&error))
                .collect(),
        })?;
        config.forget_empty_settings();
        config.check()?;
        Ok(config)
    }

    /// An empty value (`DATABASE_URL=`) is no value, as before figment.
    fn forget_empty_settings(&mut self) {
        for text in [
            &mut self.database_url,
            &mut self.tokens,
            &mut self.relay_nats_url,
            &mut self.otlp_endpoint,
        ] {
            if text.as_deref().is_some_and(|text| text.trim().is_empty()) {
                *text = None;
            }
        }
        for path in [
            &mut self.data_dir,
            &mut self.tokens_file,
            &mut self.tls_certificate,
            &mut self.tls_key,
        ] {
            if path
                .as_ref()
                .is_some_and(|path| path.as_os_str().is_empty())
            {
                *path = None;
            }
        }
    }

    /// Every setting out of its range or inconsistent with another.
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut range = |key: &str, value: u64, min: u64, max: u64| {
            if !(min..=max).contains(&value) {
                problems.push(format!(
                    "setting `{key}` = {value}: must be from {min} to {max}"
                ));
            }
        };
        range(
            "request_size_max_bytes",
            self.request_size_max_bytes as u64,
            1024,
            64 * 1024 * 1024,
        );
        range("request_timeout_ms", self.request_timeout_ms, 1, 3_600_000);
        range("pool_size_max", self.pool_size_max as u64, 1, 1_000);
        range(
            "pool_wait_timeout_ms",
            self.pool_wait_timeout_ms,
            1,
            600_000,
        );
        if let Some(statement_timeout_ms) = self.statement_timeout_ms {
            range("statement_timeout_ms", statement_timeout_ms, 1, 3_600_000);
        }
        range(
            "transaction_attempts_max",
            u64::from(self.transaction_attempts_max),
            1,
            1_000,
        );
        range(
            "retry_backoff_initial_ms",
            self.retry_backoff_initial_ms,
            1,
            60_000,
        );
        range("retry_backoff_max_ms", self.retry_backoff_max_ms, 1, 60_000);
        range(
            "group_commit_batch_size_max",
            self.group_commit_batch_size_max,
            0,
            1_000,
        );
        range(
            "group_commit_queue_max",
            self.group_commit_queue_max,
            1,
            1_000_000,
        );
        range(
            "group_commit_appliers_max",
            self.group_commit_appliers_max,
            1,
            16,
        );
        range(
            "hold_expiry_check_interval_seconds",
            self.hold_expiry_check_interval_seconds,
            1,
            86_400,
        );
        if self.retry_backoff_max_ms < self.retry_backoff_initial_ms {
            problems.push(format!(
                "setting `retry_backoff_max_ms` = {}: must be at least `retry_backoff_initial_ms` \
                 ({})",
                self.retry_backoff_max_ms, self.retry_backoff_initial_ms
            ));
        }
        if !self.audit_interval.0.is_zero() && self.audit_interval.0 < Duration::from_secs(10) {
            problems.push(format!(
                "setting `audit_interval` = {}: must be 0s (off) or at least 10s",
                duration_text(self.audit_interval.0)
            ));
        }
        if self.tls_certificate.is_some() != self.tls_key.is_some() {
            problems
                .push("settings `tls_certificate` and `tls_key`: set both or neither".to_owned());
        }
        if self.nats_url.trim().is_empty() {
            problems.push("setting `nats_url` is empty".to_owned());
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            let host = endpoint.strip_prefix("http://").unwrap_or_default();
            if host.is_empty() || host.starts_with('/') {
                problems.push(format!(
                    "setting `otlp_endpoint` = {:?}: must be an http:// URL with a host (the \
                     collector's OTLP/gRPC port, usually 4317; TLS to the collector is not \
                     supported: run it beside the ledger)",
                    mask_url(endpoint)
                ));
            }
        }
        for (key, name) in [
            ("nats_stream_name", &self.nats_stream_name),
            ("nats_subject_prefix", &self.nats_subject_prefix),
        ] {
            if name.is_empty()
                || name
                    .chars()
                    .any(|c| c.is_whitespace() || c == '>' || c == '*')
            {
                problems.push(format!(
                    "setting `{key}` = {name:?}: must be a non-empty name without spaces or \
                     wildcards"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// What `serve` checks besides the ranges: the tokens parse, the token
    /// file and the TLS files can be read.
    pub fn check_serving(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        match self.token_text() {
            Ok(text) => {
                if let Err(error) = crate::grpc::auth::Tokens::parse(&text) {
                    let key = if self.tokens.is_some() {
                        "tokens"
                    } else {
                        "tokens_file"
                    };
                    problems.push(format!("setting `{key}`: {error}"));
                }
            }
            Err(error) => problems.extend(error.problems),
        }
        for (key, path) in [
            ("tls_certificate", &self.tls_certificate),
            ("tls_key", &self.tls_key),
        ] {
            if let Some(path) = path {
                if let Err(error) = std::fs::File::open(path) {
                    problems.push(format!(
                        "setting `{key}` = {}: cannot be read: {error}",
                        path.display()
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The ledger's options for `serve` (the statement timeout follows the
    /// request timeout unless set).
    pub fn ledger_options_for_serve(&self) -> ledger::LedgerOptions {
        ledger::LedgerOptions {
            statement_timeout_ms: self.statement_timeout_ms.unwrap_or(self.request_timeout_ms),
            ..self.ledger_options()
        }
    }

    /// The ledger's options for every other command.
    pub fn ledger_options(&self) -> ledger::LedgerOptions {
        let defaults = ledger::LedgerOptions::default();
        ledger::LedgerOptions {
            pool_size_max: self.pool_size_max,
            pool_wait_timeout_ms: self.pool_wait_timeout_ms,
            statement_timeout_ms: self
                .statement_timeout_ms
                .unwrap_or(defaults.statement_timeout_ms),
            transaction_attempts_max: self.transaction_attempts_max,
            retry_backoff_initial_ms: self.retry_backoff_initial_ms,
            retry_backoff_max_ms: self.retry_backoff_max_ms,
            ..defaults
        }
    }

    /// The group-commit options; `None` when the batch size is 0.
    pub fn group_commit(&self) -> Option<ledger::GroupCommitOptions> {
        (self.group_commit_batch_size_max > 0).then_some(ledger::GroupCommitOptions {
            queue_capacity_max: self.group_commit_queue_max as usize,
            batch_size_max: self.group_commit_batch_size_max as usize,
            appliers_max: self.group_commit_appliers_max as usize,
        })
    }

    /// The token entries: `tokens`, else the file `tokens_file`, else none.
    pub fn token_text(&self) -> Result<String, ConfigError> {
        match (&self.tokens, &self.tokens_file) {
            (Some(tokens), _) => Ok(tokens.clone()),
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|error| {
                ConfigError::one(format!(
                    "setting `tokens_file` = {}: cannot be read: {error}",
                    path.display()
                ))
            }),
            (None, None) => Ok(String::new()),
        }
    }

    /// The configuration with its secrets masked: the tokens whole, the
    /// passwords (and user info) of URLs.
    pub fn masked(&self) -> Config {
        Config {
            database_url: self.database_url.as_deref().map(mask_url),
            tokens: self.tokens.as_ref().map(|_| MASK.to_owned()),
            relay_nats_url: self.relay_nats_url.as_deref().map(mask_url),
            nats_url: mask_url(&self.nats_url),
            otlp_endpoint: self.otlp_endpoint.as_deref().map(mask_url),
            ..self.clone()
        }
    }

    /// The masked configuration as TOML, every key with its value.
    pub fn masked_toml(&self) -> String {
        toml::to_string(&self.masked()).expect("the configuration serializes to TOML")
    }
}

/// The settings given on the command line (named so in errors).
#[derive(Serialize)]
#[serde(transparent)]
struct CommandLine(serde_json::Map<String, serde_json::Value>);

/// One figment error as `setting `key` (from SOURCE): PROBLEM`.
fn problem_text(error: &figment::Error) -> String {
    let key = error
        .path
        .iter()
        .filter(|part| part.as_str() != "default")
        .cloned()
        .collect::<Vec<_>>()
        .join(".");
    let source = error
        .metadata
        .as_ref()
        .map(|metadata| {
            let name = metadata.name.to_string();
            match (&metadata.source, &key) {
                (Some(figment::Source::File(path)), _) => format!("the file {}", path.display()),
                (_, key) if name.contains("environment") && !key.is_empty() => {
                    if key == "database_url" {
                        "DATABASE_URL".to_owned()
                    } else {
                        format!("{ENV_PREFIX}{}", key.to_uppercase())
                    }
                }
                (_, _) if name.contains("CommandLine") => "the command line".to_owned(),
                (_, _) if name.contains("Config") => "the defaults".to_owned(),
                _ => name,
            }
        })
        .unwrap_or_else(|| "the configuration".to_owned());
    let kind = match &error.kind {
        figment::error::Kind::UnknownField(field, _) => {
            return format!(
            "unknown setting `{field}` (in {source}); the settings are in docs/configuration.md"
        )
        }
        kind => kind.to_string(),
    };
    let kind = mask_secrets_in(&kind);
    if key.is_empty() {
        format!("{source}: {kind}")
    } else {
        format!("setting `{key}` (from {source}): {kind}")
    }
}

/// An error text with anything that looks like a URL's password masked.
fn mask_secrets_in(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains("://") {
                mask_url(word)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A URL with its user info's password masked (`postgres://app:********@db/ledger`);
/// several comma-separated URLs each masked; a `password=` parameter masked too.
pub fn mask_url(url: &str) -> String {
    if url.contains(',') && url.contains("://") {
        return url.split(',').map(mask_url).collect::<Vec<_>>().join(",");
    }
    let masked = match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((user_info, host)) => {
                    let user = user_info.split(':').next().unwrap_or_default();
                    let masked_user_info = if user_info.contains(':') {
                        format!("{user}:{MASK}")
                    } else {
                        // A lone user info may itself be a token (nats://TOKEN@host).
                        MASK.to_owned()
                    };
                    format!("{scheme}://{masked_user_info}@{host}{path}")
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    mask_password_parameters(&masked)
}

/// `password=...` in a URL's query or a key=value connection string masked.
fn mask_password_parameters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.to_ascii_lowercase().find("password=") {
        let value_start = index + "password=".len();
        out.push_str(&rest[..value_start]);
        out.push_str(MASK);
        let after = &rest[value_start..];
        let value_end = after.find(['&', ' ', ';']).unwrap_or(after.len());
        rest = &after[value_end..];
    }
    out.push_str(rest);
    out
}

/// `ledger config`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration (defaults, FILE or --config or LEDGER_CONFIG,
    /// the environment, the global flags) as `serve` would, and print the
    /// effective configuration as TOML with its secrets masked. Exit code 0
    /// when it is good, 2 with every bad setting named otherwise.
    ///
    /// Examples: `ledger config check`, `ledger config check /etc/ledger/ledger.toml`
    Check {
        /// The TOML file to check (instead of --config or LEDGER_CONFIG).
        file: Option<PathBuf>,
    },
}

/// The sources of `ledger` with its global flags: `--config` (else
/// `LEDGER_CONFIG`), `--database-url`, `--data-dir`, `--log-format`,
/// `--otlp-endpoint`.
pub fn global_sources(
    global: &GlobalFlags,
    database_url: Option<&str>,
    data_dir: Option<&Path>,
) -> Sources {
    Sources {
        file: global.config_file.clone(),
        flags: Default::default(),
    }
    .with_flag("database_url", database_url)
    .with_flag("data_dir", data_dir)
    .with_flag("log_format", global.log_format)
    .with_flag("otlp_endpoint", global.otlp_endpoint.clone())
}

/// Runs `ledger config check`: prints the effective configuration (secrets
/// masked) and returns 0, or names every problem on stderr and returns 2.
pub fn config_main(args: &ConfigArgs, sources: Sources) -> i32 {
    let ConfigCommand::Check { file } = &args.command;
    let sources = Sources {
        file: file.clone().or(sources.file),
        ..sources
    };
    let file_in_use = sources.file_in_use();
    let config = match Config::load(&sources).and_then(|config| {
        config.check_serving()?;
        Ok(config)
    }) {
        Ok(config) => config,
        Err(error) => {
            for problem in &error.problems {
                eprintln!("error: {problem}");
            }
            return 2;
        }
    };
    if config.tokens.is_none() && config.tokens_file.is_none() {
        eprintln!(
            "note: no client tokens (`tokens` or `tokens_file`): `ledger serve` refuses to start \
             without one"
        );
    }
    match &file_in_use {
        Some(file) => println!(
            "# the effective configuration: defaults, {}, the environment, flags (secrets masked)",
            file.display()
        ),
        None => println!(
            "# the effective configuration: defaults, the environment, flags (secrets masked)"
        ),
    }
    print!("{}", config.masked_toml());
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_the_check() {
        Config::default().check().unwrap();
    }

    #[test]
    fn every_key_is_a_field_and_every_field_a_key() {
        let value = serde_json::to_value(Config {
            database_url: Some("postgres://x".into()),
            data_dir: Some("d".into()),
            tokens: Some("t".into()),
            tokens_file: Some("f".into()),
            tls_certificate: Some("c".into()),
            tls_key: Some("k".into()),
            statement_timeout_ms: Some(1),
            relay_nats_url: Some("nats://x".into()),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            otlp_endpoint: Some("http://x".into()),
            ..Config::default()
        })
        .unwrap();
        let mut fields: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut keys = KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn settings_out_of_range_are_each_named_with_their_value() {
        let config = Config {
            pool_size_max: 0,
            group_commit_appliers_max: 17,
            retry_backoff_initial_ms: 500,
            retry_backoff_max_ms: 250,
            audit_interval: DurationText(Duration::from_secs(1)),
            tls_certificate: Some("cert.pem".into()),
            ..Config::default()
        };
        let problems = config.check().unwrap_err().problems;
        let expected = [
            "setting `pool_size_max` = 0: must be from 1 to 1000",
            "setting `group_commit_appliers_max` = 17: must be from 1 to 16",
            "setting `retry_backoff_max_ms` = 250: must be at least `retry_backoff_initial_ms` (500)",
            "setting `audit_interval` = 1s: must be 0s (off) or at least 10s",
            "settings `tls_certificate` and `tls_key`: set both or neither",
        ];
        for expected in expected {
            assert!(
                problems.iter().any(|problem| problem == expected),
                "{expected} not in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    }

    #[test]
    fn an_otlp_endpoint_that_is_not_an_http_url_is_refused() {
        for endpoint in ["127.0.0.1:4317", "https://collector:4317", "http://"] {
            let config = Config {
                otlp_endpoint: Some(endpoint.into()),
                ..Config::default()
            };
            let problems = config.check().unwrap_err().problems;
            let expected = format!("setting `otlp_endpoint` = {endpoint:?}: must be an http://");
            assert!(problems[0].starts_with(&expected), "{problems:?}");
        }
        let config = Config {
            otlp_endpoint: Some("http://127.0.0.1:4317".into()),
            ..Config::default()
        };
        config.check().unwrap();
    }

    #[test]
    fn urls_are_masked_down_to_their_password() {
        let check = |url: &str, expected: &str| assert_eq!(mask_url(url), expected, "{url}");
        check(
            "postgres://app:s3cret@db.example:5432/ledger",
            "postgres://app:********@db.example:5432/ledger",
        );
        check("postgres://app@db/ledger", "postgres://********@db/ledger");
        check("postgres://db/ledger", "postgres://db/ledger");
        check(
            "postgres://db/ledger?user=app&password=s3cret&sslmode=require",
            "postgres://db/ledger?user=app&password=********&sslmode=require",
        );
        check(
            "host=db user=app password=s3cret dbname=ledger",
            "host=db user=app password=******** dbname=ledger",
        );
        check(
            "nats://a:pw@n1:4222,nats://n2:4222",
            "nats://a:********@n1:4222,nats://n2:4222",
        );
        check("p@ss://", "p@ss://");
    }

    #[test]
    fn the_masked_configuration_shows_no_secret() {
        let config = Config {
            database_url: Some("postgres://app:s3cret@db/ledger".into()),
            tokens: Some("bank-a=bank-a-secret-token-0001".into()),
            ..Config::default()
        };
        let text = config.masked_toml();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!text.contains("bank-a-secret-token-0001"), "{text}");
        assert!(text.contains("tokens = \"********\""), "{text}");
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("secret-token"),
            "{debug}"
        );
    }

    #[test]
    fn the_printed_configuration_reads_back_as_the_same_configuration() {
        let config = Config {
            hold_expiry: DurationText(Duration::from_secs(36 * 3600)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            ..Config::default()
        };
        let read: Config = toml::from_str(&config.masked_toml()).unwrap();
        assert_eq!(read, config);
    }

    #[test]
    fn a_bad_duration_names_the_problem() {
        let error = toml::from_str::<Config>("hold_expiry = \"7 days\"").unwrap_err();
        assert!(
            error.to_string().contains("is not a duration like 7d"),
            "{error}"
        );
    }
}
