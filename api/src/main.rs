//! `ledger`: the payments ledger service binary.
//!
//! Glue only: configuration, the database (embedded by default), and the
//! commands. The ledger's rules live in the `ledger` crate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledger::model::{
    Account, AccountReference, Amount, Bic, BusinessKey, ClientId, Currency, IdempotencyKey,
    Originator, OverdraftRule, PartySide, PaymentInstruction, PaymentMessage, PaymentState,
};
use ledger::{ApplyCommand, Ledger, LedgerError, OpenAccount};
use rust_decimal::Decimal;

use ledger_api::database::Database;
use ledger_api::grpc::auth::Tokens;
use ledger_api::server::{self, ServerConfig};

/// A double-entry payments ledger with exactly-once processing.
///
/// Without DATABASE_URL, the ledger runs a private PostgreSQL cluster in
/// `<data-dir>/postgres` (PostgreSQL's own initdb/pg_ctl; on Debian:
/// `apt-get install -y postgresql`).
#[derive(Debug, Parser)]
#[command(version, about, after_help = EXAMPLES)]
struct Cli {
    /// PostgreSQL connection URL (or the DATABASE_URL environment variable);
    /// when unset, the embedded cluster is used.
    // The environment (and the configuration file) are read by
    // `ledger_api::config`, not by clap, which would show a value from the
    // environment in usage errors as if it had been typed.
    #[arg(long, value_name = "URL", global = true)]
    database_url: Option<String>,
    /// Where the embedded cluster keeps its data (or the LEDGER_DATA_DIR
    /// environment variable); used as given. Without either: .ledger in the
    /// working directory (scripts/run: the repository's .ledger), or, run as
    /// root where the `postgres` user cannot reach that, a directory under
    /// /var/lib/ledger named after it (said on stderr, the same every time).
    // Read by `data_dir_from_environment` and `resolve_data_dir`, not by
    // clap: a directory chosen by default may move, a named one never does.
    #[arg(long = "data-dir", value_name = "DIR", global = true)]
    data_dir_named: Option<PathBuf>,
    /// The data directory in use: named, or chosen by `resolve_data_dir`.
    #[arg(skip)]
    data_dir: PathBuf,
    /// `--config`, `--log-format`, `--otlp-endpoint` (docs/configuration.md).
    #[command(flatten)]
    settings: ledger_api::config::GlobalFlags,
    /// The effective configuration: defaults, file, environment, flags.
    #[arg(skip)]
    config: ledger_api::config::Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API (ledger.v1.LedgerService, health, reflection).
    ///
    /// Example: `LEDGER_TOKENS='bank-a=0123456789abcdef0123' ledger serve`
    Serve(ledger_api::config::ServeFlags),
    /// Apply pending database migrations and exit.
    ///
    /// Example: `ledger migrate`
    Migrate,
    /// Show the ledger working: open two accounts (once), apply one payment
    /// twice under the same idempotency key, and print the balances.
    ///
    /// Example: `ledger demo`
    Demo,
    /// Audit the ledger (docs/semantics.md section 6) in one consistent
    /// snapshot, safe during live traffic, and compare it with a camt.053
    /// statement if given. Exit code 0 when clean, 1 on discrepancies, 2 when
    /// the audit could not run.
    ///
    /// Examples: `ledger reconcile`,
    /// `ledger reconcile --statement statement.xml --format json`,
    /// `DATABASE_URL=postgres://user@host/db ledger reconcile --format csv > audit.csv`
    Reconcile(ledger_api::reconcile::ReconcileArgs),
    /// Write an account's camt.053.001.08 statement over whole UTC days:
    /// opening and closing booked balances and one entry per booked transfer
    /// with its references, read in one consistent snapshot.
    /// `ledger reconcile --statement` of it reports it clean.
    ///
    /// Example: `ledger statement --account DE89370400440532013000 --from 2026-11-01 --to 2026-11-30 --out november.xml`
    Statement(ledger_api::statement::StatementArgs),
    /// Apply the transactions of ISO 20022 files (pain.001, pacs.008,
    /// pacs.002, pacs.004; bare or with an AppHdr) exactly once, streaming, in
    /// batches. Each transaction's idempotency key comes from the file's
    /// identity (message id, MsgId, position, transaction ids), so running a
    /// file again, after a clean end or a kill at any moment, applies only
    /// what was not applied yet. Exit code 0 when every transaction is
    /// applied, already applied or a duplicate; 1 when some were rejected or
    /// invalid or a file was refused; 2 when ingest could not run (arguments,
    /// an unreadable FILE, the database, an unwritable report); run it again.
    /// Every FILE is checked readable before anything starts: if one is not,
    /// nothing is ingested (exit 2). A rejection stored by an earlier run is
    /// replayed as first given; --retry-rejected applies it again, once.
    ///
    /// Examples: `ledger ingest payments.xml`,
    /// `ledger ingest --retry-rejected payments.xml` (after opening the missing account),
    /// `ledger ingest --on-error skip --report report.jsonl day1.xml day2.xml`,
    /// `ledger ingest --status-report pain002.xml --client-id acme pain001.xml`
    Ingest(ledger_api::ingest::IngestArgs),
    /// Open accounts, show their balances, and change the account mapping
    /// (settlement accounts by agent BIC, clearing accounts; semantics §5).
    ///
    /// Examples: `ledger accounts open --reference GB82WEST12345698765432 --currency EUR`,
    /// `ledger accounts show DE89370400440532013000`
    Accounts(ledger_api::admin::AccountsArgs),
    /// Show a payment with its state and transfers, or list payments by
    /// state, account, creation time, ids and creating client.
    ///
    /// Examples: `ledger payments show 42`,
    /// `ledger payments list --state PENDING --from 2026-11-30`
    Payments(ledger_api::admin::PaymentsArgs),
    /// List the recorded administrative changes (accounts opened, settlement
    /// and clearing accounts set), oldest first: who, when, from what to what.
    ///
    /// Examples: `ledger audit-log`, `ledger audit-log --after 120 --limit 50`
    AuditLog(ledger_api::admin::AuditLogArgs),
    /// Expire the holds (PENDING payments) that no status report settled or
    /// voided in time: each becomes REJECTED with reason AB03 and its
    /// confirmation, exactly once even with serve doing the same.
    ///
    /// Example: `ledger expire-holds --older-than 3d`
    ExpireHolds(ledger_api::holds::ExpireHoldsArgs),
    /// Remove idempotency records older than a retention (default 7d, at
    /// least 24h: docs/semantics.md section 1) and print how many.
    ///
    /// Example: `ledger prune-idempotency --older-than 14d`
    PruneIdempotency(ledger_api::admin::PruneIdempotencyArgs),
    /// Look at or stop the embedded PostgreSQL cluster (not a DATABASE_URL
    /// server). It stops by itself when the last ledger process using it
    /// exits; `db stop` is for one left running. Exit code 0 when done, 1
    /// when `db stop` is refused because live ledger processes use the
    /// cluster, 2 when DATABASE_URL is set or the command could not run.
    ///
    /// Examples: `ledger db status`, `ledger db stop`, `ledger db stop --force`
    Db(ledger_api::database::DbArgs),
    /// Deliver the outbox's confirmations to NATS JetStream, each once in
    /// the stream, until SIGTERM or SIGINT; several relays share the work
    /// (docs/confirmations.md).
    ///
    /// Example: `ledger relay --nats-url nats://127.0.0.1:4222`
    Relay(ledger_api::relay::RelayArgs),
    /// Show the outbox's delivery lag, or prune delivered rows.
    ///
    /// Examples: `ledger outbox status`, `ledger outbox prune --older-than 30d`
    Outbox(ledger_api::relay::OutboxArgs),
    /// Apply the confirmations stream to a table of your own PostgreSQL
    /// database at most once, at least once or exactly once (an example
    /// subscriber; docs/confirmations.md).
    ///
    /// Example: `ledger consume --consumer-database-url postgres://app@host/app`
    Consume(ledger_api::consume::ConsumeArgs),
    /// Check the configuration and print it with its secrets masked
    /// (docs/configuration.md).
    ///
    /// Example: `ledger config check ledger.toml`
    Config(ledger_api::config::ConfigArgs),
}

/// Shown after `ledger --help`.
const EXAMPLES: &str = "\
Examples:
  LEDGER_TOKENS='bank-a=bank-a-secret-token-0001 roles=submit,read scope=DE89*' ledger serve
                                               # gRPC, roles and scopes: docs/api.md
  ledger demo                                  # a walkthrough without gRPC
  ledger migrate                               # apply pending migrations and exit
  ledger ingest payments.xml                   # apply ISO 20022 files exactly once
  ledger accounts show DE89370400440532013000  # accounts, payments, prune-idempotency
  ledger reconcile --statement camt053.xml     # audit the ledger against a statement
  ledger statement --account DE89370400440532013000 --from 2026-11-01 --to 2026-11-30
                                               # write the account's camt.053
  ledger relay --nats-url nats://127.0.0.1:4222 # confirmations to NATS JetStream
  ledger config check ledger.toml              # the effective configuration, secrets masked
  DATABASE_URL=postgres://user@host/db ledger migrate   # use your own server

Exit status: 0 done; 1 refused (bad input, unknown account or payment,
discrepancies, rejected transactions); 2 could not run (usage, configuration,
the database cannot be opened, migrated or reached). See docs/cli.md.";

/// Exit status of a command that refused what it was asked (docs/cli.md).
const EXIT_REFUSED: u8 = 1;
/// Exit status of a command that could not run: usage, configuration, the
/// database (docs/cli.md); clap's usage errors have it too.
const EXIT_COULD_NOT_RUN: u8 = 2;

/// An environment variable's value, when set and not empty.
fn path_from_environment(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// Where data directories go when the default one is out of the reach of
/// the user that runs the embedded PostgreSQL (root's processes run it as
/// `postgres`).
const FALLBACK_DATA_DIR_BASE: &str = "/var/lib/ledger";

/// The data directory: `--data-dir`, else `LEDGER_DATA_DIR`, both used as
/// given (an unreachable one fails when the cluster starts, saying why).
/// Else the default, `LEDGER_DEFAULT_DATA_DIR` (scripts/run sets it to the
/// repository's `.ledger`), else `.ledger`: when the embedded cluster's user
/// cannot reach it, a directory under [`FALLBACK_DATA_DIR_BASE`] named after
/// it, the same one every time, and stderr says so.
fn resolve_data_dir(named: Option<PathBuf>, embedded: bool) -> PathBuf {
    if let Some(named) = named.or_else(|| path_from_environment("LEDGER_DATA_DIR")) {
        return named;
    }
    let default = path_from_environment("LEDGER_DEFAULT_DATA_DIR")
        .unwrap_or_else(|| PathBuf::from(".ledger"));
    if !embedded {
        return default;
    }
    fallback_data_dir(&default).unwrap_or(default)
}

/// A data directory the cluster's user can reach, when it cannot reach
/// `default`; `None` when it can (or when the fallback is no better: the
/// start then fails with the error that names the barring directory).
fn fallback_data_dir(default: &Path) -> Option<PathBuf> {
    let barrier = pg_embedded::barrier_to_data_dir(&default.join("postgres")).ok()??;
    let default = stable_absolute(default);
    let fallback = Path::new(FALLBACK_DATA_DIR_BASE).join(fallback_name(&default));
    match pg_embedded::barrier_to_data_dir(&fallback.join("postgres")) {
        Ok(None) => {}
        _ => return None,
    }
    eprintln!(
        "data directory: {} is out of reach of the `{}` user that runs PostgreSQL ({} has mode \
         {:o}); using {} instead, as every time for {} (choose with --data-dir or LEDGER_DATA_DIR)",
        default.display(),
        barrier.user,
        barrier.directory.display(),
        barrier.mode,
        fallback.display(),
        default.display(),
    );
    Some(fallback)
}

/// `path` made absolute with symlinks resolved as far as it exists, so that
/// one directory has one name however it was reached.
fn stable_absolute(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if let Ok(canonical) = absolute.canonicalize() {
        return canonical;
    }
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => parent
            .canonicalize()
            .map_or_else(|_| absolute.clone(), |parent| parent.join(name)),
        _ => absolute,
    }
}

/// `<checkout>-<12 hex digits of the SHA-256 of the path>`: the checkout is
/// the directory holding `.ledger` (else the directory's own name), so that
/// an operator sees whose it is, and the digest keeps two checkouts apart.
fn fallback_name(default: &Path) -> String {
    use sha2::Digest;
    let named = if default.file_name() == Some(std::ffi::OsStr::new(".ledger")) {
        default.parent().and_then(Path::file_name)
    } else {
        default.file_name()
    };
    let readable: String = named
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let readable = readable.trim_matches('_');
    let readable = if readable.is_empty() {
        "ledger"
    } else {
        readable
    };
    let digest = sha2::Sha256::digest(default.as_os_str().as_encoded_bytes());
    let hex: String = digest[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{readable}-{hex}")
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
        .unwrap_or_else(|error| error.exit());
    // One configuration (docs/configuration.md): defaults, the file, the
    // environment, the flags; a bad setting stops every command here.
    let sources = ledger_api::config::global_sources(
        &cli.settings,
        cli.database_url.as_deref(),
        cli.data_dir_named.as_deref(),
    );
    if let Command::Config(args) = &cli.command {
        std::process::exit(ledger_api::config::config_main(args, sources));
    }
    let sources = match &cli.command {
        Command::Serve(flags) => sources.with_flags(flags),
        _ => sources,
    };
    cli.config = match ledger_api::config::Config::load(&sources) {
        Ok(config) => config,
        Err(error) => {
            for problem in &error.problems {
                eprintln!("error: {problem}");
            }
            return ExitCode::from(EXIT_COULD_NOT_RUN);
        }
    };
    let telemetry = match ledger_api::telemetry::init(
        cli.config.log_format,
        cli.config.otlp_endpoint.as_deref(),
    ) {
        Ok(telemetry) => telemetry,
        Err(error) => return report(Failure::could_not_run(error)),
    };
    if let Command::Relay(args) = &mut cli.command {
        let given = matches.subcommand_matches("relay");
        ledger_api::relay::settle_relay_args(args, &cli.config, |id| {
            given.and_then(|given| given.value_source(id))
                == Some(clap::parser::ValueSource::CommandLine)
        });
    }
    cli.database_url = cli.config.database_url.clone();
    cli.data_dir = resolve_data_dir(cli.config.data_dir.clone(), cli.database_url.is_none());
    let code = run_command(&mut cli).await;
    telemetry.shutdown().await;
    code
}

/// Runs the command `cli` names and returns its exit status.
async fn run_command(cli: &mut Cli) -> ExitCode {
    let exit_code = |code: i32| ExitCode::from(u8::try_from(code).unwrap_or(EXIT_COULD_NOT_RUN));
    if let Command::Reconcile(args) = &cli.command {
        let database_url = cli.database_url.as_deref();
        let code = ledger_api::reconcile::main(database_url, cli.data_dir.clone(), args).await;
        return exit_code(code);
    }
    if let Command::Db(args) = &cli.command {
        let database_url = cli.database_url.as_deref();
        let code = ledger_api::database::db_main(database_url, &cli.data_dir, args);
        return exit_code(code);
    }
    if let Command::Consume(args) = &cli.command {
        return exit_code(ledger_api::consume::main(args).await);
    }
    if let Command::Ingest(args) = &cli.command {
        let database_url = cli.database_url.as_deref();
        let code = ledger_api::ingest::main(database_url, cli.data_dir.clone(), args).await;
        return exit_code(code);
    }
    // The whole configuration is checked, and the address bound, before the
    // database is opened and anything is announced.
    let serving = match &cli.command {
        Command::Serve(_) => match prepare_serving(&cli.config).await {
            Ok(serving) => Some(serving),
            Err(error) => return report(Failure::could_not_run(error)),
        },
        _ => None,
    };
    match open_and_run(cli, serving).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(failure),
    }
}

/// Why a command failed, and so its exit status.
#[derive(Debug)]
struct Failure {
    error: anyhow::Error,
    exit_code: u8,
}

impl Failure {
    /// The command could not run: configuration, the database.
    fn could_not_run(error: anyhow::Error) -> Failure {
        Failure {
            error,
            exit_code: EXIT_COULD_NOT_RUN,
        }
    }
}

impl From<anyhow::Error> for Failure {
    /// A refusal, unless the ledger could not answer (its database, its
    /// retries, its own fault).
    fn from(error: anyhow::Error) -> Failure {
        let could_not_run = error.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<LedgerError>(),
                Some(
                    LedgerError::Unavailable(_)
                        | LedgerError::Internal(_)
                        | LedgerError::Contention { .. }
                )
            )
        });
        Failure {
            error,
            exit_code: if could_not_run {
                EXIT_COULD_NOT_RUN
            } else {
                EXIT_REFUSED
            },
        }
    }
}

/// Prints the failure on standard error and returns its exit status. An
/// expected failure is one line, its causes joined; only a bug (the ledger's
/// `Internal`) is printed with its debug form, so with a backtrace when
/// RUST_BACKTRACE asks for one.
fn report(failure: Failure) -> ExitCode {
    let is_bug = failure.error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<LedgerError>(),
            Some(LedgerError::Internal(_))
        )
    });
    if is_bug {
        eprintln!("error: {:?}", failure.error);
    } else {
        eprintln!("error: {}", error_text(&failure.error));
    }
    ExitCode::from(failure.exit_code)
}

/// The error and its causes on one line, `: `-separated, without repeating a
/// cause that the message before it already shows.
fn error_text(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        match parts.last_mut() {
            Some(last) if last.contains(&text) => {}
            Some(last) if text.starts_with(last.as_str()) => *last = text,
            _ => parts.push(text),
        }
    }
    parts.join(": ")
}

async fn open_and_run(cli: &Cli, serving: Option<Serving>) -> Result<(), Failure> {
    let database = Database::open(cli.database_url.as_deref(), cli.data_dir.clone())
        .await
        .map_err(Failure::could_not_run)?;
    eprintln!("database: {}", database.description);
    let options = match &cli.command {
        Command::Serve(_) => cli.config.ledger_options_for_serve(),
        _ => cli.config.ledger_options(),
    };
    let ledger = match Ledger::connect(database.config.clone(), options) {
        Ok(ledger) => ledger,
        Err(error) => {
            let _ = database.close().await;
            return Err(Failure::could_not_run(error.into()));
        }
    };
    let result = run(&cli.command, &cli.config, &ledger, serving).await;
    // serve says, in words, what its shutdown waits for.
    let narrate = matches!(cli.command, Command::Serve(_)) && result.is_ok();
    let connections_open = ledger.close();
    if narrate {
        let connections = if connections_open == 1 {
            "connection"
        } else {
            "connections"
        };
        eprintln!(
            "shutting down: closing the database pool ({connections_open} open {connections})"
        );
    }
    drop(ledger);
    if narrate {
        if let Some(cluster) = &database.cluster {
            eprintln!(
                "shutting down: releasing the embedded PostgreSQL in {}: it stops unless another \
                 ledger process uses it",
                cluster.data_dir().display()
            );
        }
    }
    let closed = database.release().await;
    if narrate {
        match &closed {
            Ok(Some(pg_embedded::Released::Stopped)) => {
                eprintln!("shutting down: the embedded PostgreSQL stopped");
            }
            Ok(Some(pg_embedded::Released::NotRunning)) => {
                eprintln!("shutting down: the embedded PostgreSQL had already been stopped");
            }
            Ok(Some(pg_embedded::Released::StillUsed { users })) => eprintln!(
                "shutting down: the embedded PostgreSQL keeps running for {}",
                ledger_api::database::describe_users(users)
            ),
            Ok(Some(pg_embedded::Released::AlreadyReleased) | None) => {}
            Err(error) => eprintln!(
                "shutting down: could not release the embedded PostgreSQL: {}",
                error_text(error)
            ),
        }
        if closed.is_ok() {
            eprintln!("stopped");
        }
    }
    result?;
    closed.map(|_| ()).map_err(Failure::could_not_run)
}

async fn run(
    command: &Command,
    config: &ledger_api::config::Config,
    ledger: &Ledger,
    serving: Option<Serving>,
) -> Result<(), Failure> {
    let applied = ledger
        .migrate()
        .await
        .context("migrating the database")
        .map_err(Failure::could_not_run)?;
    let result = match command {
        Command::Migrate => {
            if applied.is_empty() {
                println!("migrations: up to date");
            }
            for migration in applied {
                println!("migrations: applied {migration}");
            }
            Ok(())
        }
        Command::Demo => demo(ledger).await,
        Command::Accounts(args) => ledger_api::admin::accounts(ledger, args).await,
        Command::Payments(args) => ledger_api::admin::payments(ledger, args).await,
        Command::PruneIdempotency(args) => ledger_api::admin::prune_idempotency(ledger, args).await,
        Command::AuditLog(args) => ledger_api::admin::audit_log(ledger, args).await,
        Command::Statement(args) => ledger_api::statement::statement(ledger, args).await,
        Command::ExpireHolds(args) => ledger_api::holds::expire_holds(ledger, args).await,
        Command::Relay(args) => ledger_api::relay::relay(ledger, args).await,
        Command::Outbox(args) => ledger_api::relay::outbox(ledger, args).await,
        Command::Serve(_) => {
            let serving = serving.expect("serve's configuration is prepared before the database");
            let _relay = ledger_api::relay::relay_beside_server(ledger, config);
            return serve(serving, ledger).await.map_err(Failure::could_not_run);
        }
        Command::Reconcile(_) => unreachable!("reconcile runs from main, without migrating"),
        Command::Ingest(_) => unreachable!("ingest runs from main"),
        Command::Db(_) => unreachable!("db runs from main, without the database"),
        Command::Consume(_) => unreachable!("consume runs from main, with its own database"),
        Command::Config(_) => unreachable!("config runs from main, without the database"),
    };
    result.map_err(Failure::from)
}

/// What `serve` needs besides the ledger, prepared before the database.
struct Serving {
    config: ServerConfig,
    listener: tokio::net::TcpListener,
    address: std::net::SocketAddr,
    /// `--metrics-listen`, bound.
    metrics_listener: Option<tokio::net::TcpListener>,
    /// `--hold-expiry` (`None` for `0s`) and how often to look.
    hold_expiry: Option<(std::time::Duration, std::time::Duration)>,
    /// `--audit-interval` (`None` for `0s`).
    audit_interval: Option<std::time::Duration>,
}

/// Checks serve's whole configuration (tokens, TLS), then binds its address.
async fn prepare_serving(settings: &ledger_api::config::Config) -> anyhow::Result<Serving> {
    let token_text = settings.token_text()?;
    let tokens = Tokens::parse(&token_text).map_err(anyhow::Error::msg)?;
    let config = ServerConfig {
        tokens,
        tls_certificate_path: settings.tls_certificate.clone(),
        tls_key_path: settings.tls_key.clone(),
        request_size_max_bytes: settings.request_size_max_bytes,
        request_timeout_ms: settings.request_timeout_ms,
        group_commit: settings.group_commit(),
        ..ServerConfig::default()
    };
    config.check()?;
    let (listener, address) = server::bind(settings.listen).await?;
    let metrics_listener = match settings.metrics_listen {
        Some(metrics_address) => Some(server::bind(metrics_address).await?.0),
        None => None,
    };
    Ok(Serving {
        config,
        listener,
        address,
        metrics_listener,
        hold_expiry: (!settings.hold_expiry.0.is_zero()).then(|| {
            (
                settings.hold_expiry.0,
                std::time::Duration::from_secs(settings.hold_expiry_check_interval_seconds),
            )
        }),
        audit_interval: (!settings.audit_interval.0.is_zero()).then_some(settings.audit_interval.0),
    })
}

/// A background task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(serving: Serving, ledger: &Ledger) -> anyhow::Result<()> {
    println!(
        "{}",
        ledger_api::serving_line::serving_line(serving.address)
    );
    // Stops with `serve`, when dropped.
    let _metrics_endpoint = match serving.metrics_listener {
        Some(listener) => {
            let endpoint = ledger_api::metrics::MetricsEndpoint::start(
                listener,
                ledger.clone(),
                std::time::Duration::from_millis(ledger_api::metrics::COLLECTION_INTERVAL_MS),
            )?;
            println!("serving metrics on http://{}/metrics", endpoint.address());
            Some(endpoint)
        }
        None => None,
    };
    for access in serving.config.tokens.accesses() {
        let roles: Vec<&str> = access.roles().iter().map(|role| role.as_str()).collect();
        println!(
            "client {}: roles {}, accounts: {}",
            access.client_id,
            roles.join(","),
            access.scope
        );
    }
    // Aborted when serve returns.
    let _hold_expiry = serving.hold_expiry.map(|(expiry, check_interval)| {
        println!(
            "holds expire after {}",
            ledger_api::admin::duration_text(expiry)
        );
        AbortOnDrop(tokio::spawn(ledger_api::holds::expire_holds_every(
            ledger.clone(),
            expiry,
            check_interval,
        )))
    });
    // Aborted when serve returns.
    let _audit = serving.audit_interval.map(|interval| {
        println!(
            "reconciliation audit every {}",
            ledger_api::admin::duration_text(interval)
        );
        AbortOnDrop(tokio::spawn(ledger_api::metrics::audit_every(
            ledger.clone(),
            interval,
        )))
    });
    let grace = duration_in_words(serving.config.shutdown_grace_ms);
    let shutdown = async move {
        server::shutdown_signal().await;
        eprintln!(
            "shutting down: accepting no new connections, ending confirmation streams, waiting \
             for in-flight requests to finish and clients to close their connections (at most \
             {grace})"
        );
    };
    let stopped =
        server::serve_until_stopped(serving.listener, ledger.clone(), serving.config, shutdown)
            .await?;
    match stopped {
        server::Stopped::RequestsFinished => {
            eprintln!("shutting down: in-flight requests finished, connections closed");
        }
        server::Stopped::GracePeriodOver { grace_ms } => eprintln!(
            "shutting down: stopped waiting after {}: connections still open were closed, and \
             requests still running on them cut off (their clients retry under the same \
             idempotency key)",
            duration_in_words(grace_ms)
        ),
    }
    Ok(())
}

/// `10 s`, or `1500 ms` when not whole seconds.
fn duration_in_words(milliseconds: u64) -> String {
    if milliseconds.is_multiple_of(1000) {
        format!("{} s", milliseconds / 1000)
    } else {
        format!("{milliseconds} ms")
    }
}

async fn open_or_get(ledger: &Ledger, request: OpenAccount) -> anyhow::Result<Account> {
    match ledger.open_account(&request).await {
        Ok(account) => Ok(account),
        Err(LedgerError::AccountExists { reference }) => ledger
            .get_account(&reference)
            .await?
            .context("the account exists but cannot be read"),
        Err(error) => Err(error.into()),
    }
}

async fn demo(ledger: &Ledger) -> anyhow::Result<()> {
    let eur = Currency::parse("EUR")?;
    let debtor = open_or_get(
        ledger,
        OpenAccount {
            external_reference: AccountReference::parse("DE89370400440532013000")?,
            currency: eur,
            overdraft: OverdraftRule::Unrestricted,
            opened_by: ledger_api::admin::operator_client_id(),
        },
    )
    .await?;
    let creditor = open_or_get(
        ledger,
        OpenAccount {
            external_reference: AccountReference::parse("FR1420041010050500013M02606")?,
            currency: eur,
            overdraft: OverdraftRule::DebitsMustNotExceedCredits,
            opened_by: ledger_api::admin::operator_client_id(),
        },
    )
    .await?;
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let message = PaymentMessage {
        business_key: BusinessKey::reference(
            Originator::bic(Bic::parse("DEMOBANKXXX")?),
            Some(&format!("DEMO-{run_id}")),
            Some(&format!("E2E-{run_id}")),
        )?,
        target_state: PaymentState::Settled,
        instruction: Some(PaymentInstruction {
            amount: Amount::from_decimal(eur, Decimal::new(12_50, 2))?,
            debtor: PartySide {
                account: Some(debtor.external_reference.clone()),
                agent: None,
            },
            creditor: PartySide {
                account: Some(creditor.external_reference.clone()),
                agent: None,
            },
            reference: None,
        }),
        reason: None,
        returned_amount: None,
        return_id: None,
    };
    let command = ApplyCommand::new(
        ClientId::parse("demo")?,
        IdempotencyKey::parse(&format!("demo-{run_id}"))?,
        vec![message],
    );
    for attempt in ["first attempt", "same key again"] {
        let response = ledger.apply(&command).await?;
        println!(
            "apply {} ({attempt}): outcome {}, state {}, replay {}",
            command.messages[0].business_key,
            response.receipts[0].outcome.code(),
            response.receipts[0]
                .state
                .map_or("-", |state| state.as_str()),
            response.replay
        );
    }
    println!();
    println!(
        "{:<30} {:>8} {:>16} {:>16} {:>16} {:>16}",
        "account",
        "currency",
        "debits_pending",
        "debits_posted",
        "credits_pending",
        "credits_posted"
    );
    for account in [&debtor, &creditor] {
        let account = ledger
            .get_account_by_id(account.account_id)
            .await?
            .context("an account vanished")?;
        let units =
            |minor: i64| anyhow::Ok(account.currency.decimal_of_minor_units(i128::from(minor)));
        println!(
            "{:<30} {:>8} {:>16} {:>16} {:>16} {:>16}",
            account.external_reference.as_str(),
            account.currency.code(),
            units(account.balances.debits_pending)?,
            units(account.balances.debits_posted)?,
            units(account.balances.credits_pending)?,
            units(account.balances.credits_posted)?,
        );
    }
    Ok(())
}
