//! `ledger`: the payments ledger service binary.
//!
//! Glue only: configuration, the database (embedded by default), and the
//! commands. The ledger's rules live in the `ledger` crate.

mod database;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledger::model::{
    Account, AccountReference, Amount, BusinessKey, ClientId, Currency, IdempotencyKey,
    OverdraftRule, PartySide, PaymentInstruction, PaymentMessage, PaymentState,
};
use ledger::{ApplyCommand, Ledger, LedgerError, LedgerOptions, OpenAccount};
use rust_decimal::Decimal;

use crate::database::Database;

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
    /// Apply pending database migrations and exit.
    ///
    /// Example: `ledger migrate`
    Migrate,
    /// Show the ledger working: open two accounts (once), apply one payment
    /// twice under the same idempotency key, and print the balances.
    ///
    /// Example: `ledger demo`
    Demo,
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
    let database = Database::open(cli.database_url.as_deref(), cli.data_dir.clone()).await?;
    println!("database: {}", database.description);
    let ledger = Ledger::connect(database.config.clone(), LedgerOptions::default())?;
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
            "DEMOBANKXXX",
            &format!("DEMO-{run_id}"),
            &format!("E2E-{run_id}"),
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
        }),
        reason: None,
    };
    let command = ApplyCommand {
        client_id: ClientId::parse("demo")?,
        idempotency_key: IdempotencyKey::parse(&format!("demo-{run_id}"))?,
        fingerprint: message.fingerprint(),
        message,
    };
    for attempt in ["first attempt", "same key again"] {
        let response = ledger.apply(&command).await?;
        println!(
            "apply {} ({attempt}): outcome {}, state {}, replay {}",
            command.message.business_key,
            response.receipt.outcome.code(),
            response.receipt.state.map_or("-", |state| state.as_str()),
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
            |minor| Amount::from_minor_units(account.currency, minor).map(|a| a.to_decimal());
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
