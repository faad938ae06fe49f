//! `ledger`: the payments ledger service binary.
//!
//! Glue only: configuration, the database (embedded by default), and the
//! commands. The ledger's rules live in the `ledger` crate.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledger::model::{
    Account, AccountReference, Amount, Bic, BusinessKey, ClientId, Currency, IdempotencyKey,
    Originator, OverdraftRule, PartySide, PaymentInstruction, PaymentMessage, PaymentState,
};
use ledger::{ApplyCommand, Ledger, LedgerError, LedgerOptions, OpenAccount};
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
#[command(version, about)]
struct Cli {
    /// PostgreSQL connection URL; when unset, the embedded cluster is used.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    /// Where the embedded cluster keeps its data.
    #[arg(
        long,
        env = "LEDGER_DATA_DIR",
        default_value = ".ledger",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API (ledger.v1.LedgerService, health, reflection).
    ///
    /// Example: `LEDGER_TOKENS='bank-a=0123456789abcdef0123' ledger serve`
    Serve(ServeArgs),
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
    /// Apply the transactions of ISO 20022 files (pain.001, pacs.008,
    /// pacs.002, pacs.004; bare or with an AppHdr) exactly once, streaming, in
    /// batches. Each transaction's idempotency key comes from the file's
    /// identity (message id, MsgId, position, transaction ids), so running a
    /// file again, after a clean end or a kill at any moment, applies only
    /// what was not applied yet. Exit code 0 when every transaction is
    /// applied, already applied or a duplicate; 1 when some were rejected or
    /// invalid or a file was refused; 2 when ingest could not run (arguments,
    /// an unreadable FILE, the database, an unwritable report); run it again.
    ///
    /// Examples: `ledger ingest payments.xml`,
    /// `ledger ingest --on-error skip --report report.jsonl day1.xml day2.xml`,
    /// `ledger ingest --status-report pain002.xml --client-id acme pain001.xml`
    Ingest(ledger_api::ingest::IngestArgs),
    /// Open accounts, show their balances, and change the account mapping
    /// (settlement accounts by agent BIC, clearing accounts; semantics §5).
    ///
    /// Examples: `ledger accounts open --reference DE89370400440532013000 --currency EUR`,
    /// `ledger accounts show DE89370400440532013000`
    Accounts(ledger_api::admin::AccountsArgs),
    /// Show a payment with its state and transfers.
    ///
    /// Example: `ledger payments show 42`
    Payments(ledger_api::admin::PaymentsArgs),
    /// Remove idempotency records older than a retention (default 7d, at
    /// least 24h: docs/semantics.md section 1) and print how many.
    ///
    /// Example: `ledger prune-idempotency --older-than 14d`
    PruneIdempotency(ledger_api::admin::PruneIdempotencyArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LEDGER_LISTEN", default_value = "127.0.0.1:50051")]
    listen: std::net::SocketAddr,
    /// Client tokens, `client_id=token` separated by commas (never logged).
    #[arg(long, env = "LEDGER_TOKENS", hide_env_values = true)]
    tokens: Option<String>,
    /// A file of `client_id=token` lines, instead of --tokens.
    #[arg(long, env = "LEDGER_TOKENS_FILE")]
    tokens_file: Option<PathBuf>,
    /// PEM certificate chain; with --tls-key, serve over TLS.
    #[arg(long, env = "LEDGER_TLS_CERTIFICATE", requires = "tls_key")]
    tls_certificate: Option<PathBuf>,
    /// PEM private key of --tls-certificate.
    #[arg(long, env = "LEDGER_TLS_KEY", requires = "tls_certificate")]
    tls_key: Option<PathBuf>,
    /// Largest request accepted, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    request_size_max_bytes: usize,
    /// Longest a request may run, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// Database connections (and so concurrent transactions).
    #[arg(long, default_value_t = 16)]
    pool_size_max: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Command::Reconcile(args) = &cli.command {
        let database_url = cli.database_url.as_deref();
        let code = ledger_api::reconcile::main(database_url, cli.data_dir.clone(), args).await;
        std::process::exit(code);
    }
    if let Command::Ingest(args) = &cli.command {
        let database_url = cli.database_url.as_deref();
        let code = ledger_api::ingest::main(database_url, cli.data_dir.clone(), args).await;
        std::process::exit(code);
    }
    let database = Database::open(cli.database_url.as_deref(), cli.data_dir.clone()).await?;
    eprintln!("database: {}", database.description);
    let options = match &cli.command {
        Command::Serve(args) => LedgerOptions {
            pool_size_max: args.pool_size_max,
            statement_timeout_ms: args.request_timeout_ms,
            ..LedgerOptions::default()
        },
        _ => LedgerOptions::default(),
    };
    let ledger = Ledger::connect(database.config.clone(), options)?;
    let result = run(&cli.command, &ledger).await;
    drop(ledger);
    database.close().await?;
    result
}

async fn run(command: &Command, ledger: &Ledger) -> anyhow::Result<()> {
    let applied = ledger.migrate().await.context("migrating the database")?;
    match command {
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
        Command::Serve(args) => serve(args, ledger).await,
        Command::Reconcile(_) => unreachable!("reconcile runs from main, without migrating"),
        Command::Ingest(_) => unreachable!("ingest runs from main"),
    }
}

async fn serve(args: &ServeArgs, ledger: &Ledger) -> anyhow::Result<()> {
    let token_text = match (&args.tokens, &args.tokens_file) {
        (Some(tokens), _) => tokens.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the tokens file {}", path.display()))?,
        (None, None) => String::new(),
    };
    let tokens = Tokens::parse(&token_text).map_err(anyhow::Error::msg)?;
    let config = ServerConfig {
        tokens,
        tls_certificate_path: args.tls_certificate.clone(),
        tls_key_path: args.tls_key.clone(),
        request_size_max_bytes: args.request_size_max_bytes,
        request_timeout_ms: args.request_timeout_ms,
        ..ServerConfig::default()
    };
    let (listener, address) = server::bind(args.listen).await?;
    println!("serving ledger.v1.LedgerService on {address}");
    server::serve(listener, ledger.clone(), config, server::shutdown_signal()).await
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
        },
    )
    .await?;
    let creditor = open_or_get(
        ledger,
        OpenAccount {
            external_reference: AccountReference::parse("FR1420041010050500013M02606")?,
            currency: eur,
            overdraft: OverdraftRule::DebitsMustNotExceedCredits,
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
        let units = |minor: i64| {
            anyhow::Ok(account.currency.decimal_of_minor_units(i128::from(minor)))
        };
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
