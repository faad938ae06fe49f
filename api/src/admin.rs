//! The operator's commands around the ledger: `ledger accounts`
//! (open, show, the account mapping of semantics §5), `ledger payments show|list`,
//! `ledger audit-log` and `ledger prune-idempotency`. Each calls [`ledger::Ledger`] directly, as
//! `ledger demo` does, and prints plain text on standard output; a refusal
//! (unknown account, bad IBAN, a retention under 24 h) is an error, so the
//! exit status is 1.

use crate::confirmation::iso_date_time;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use ledger::model::{
    Account, AccountId, AccountReference, Bic, BusinessKey, ClientId, Currency, Originator,
    OverdraftRule, Payment, PaymentId,
};
use ledger::model::{
    KeyId, PageTokenError, PaymentFilter, PaymentFilterField, PaymentState, PaymentVisibility,
};
use ledger::{Ledger, LedgerError, OpenAccount};
use rust_decimal::Decimal;

/// Who the operator CLI records as the author of a change: `cli:<user>`,
/// the login name from `USER` or `LOGNAME` (`cli:unknown` without one).
pub fn operator_client_id() -> ClientId {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    ClientId::parse(&format!("cli:{user}"))
        .ok()
        .filter(|_| !user.is_empty())
        .unwrap_or_else(|| ClientId::parse("cli:unknown").expect("a valid client id"))
}

// ------------------------------------------------------------------ accounts

/// The options of `ledger accounts`.
#[derive(Debug, clap::Args)]
pub struct AccountsArgs {
    #[command(subcommand)]
    pub command: AccountsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AccountsCommand {
    /// Open an account. The reference is an IBAN (ISO 13616: pattern and
    /// mod-97 check digits are verified) unless --other-id says it is an
    /// `Othr/Id`, as ISO 20022 messages name it.
    ///
    /// Examples: `ledger accounts open --reference GB82WEST12345698765432 --currency EUR`,
    /// `ledger accounts open --reference CLEARING-EUR --other-id --currency EUR --overdraft unrestricted`
    Open(OpenAccountArgs),
    /// Show an account and its balances: pending and posted debits and
    /// credits, the net posted balance (credits minus debits) and what is
    /// available (posted credits minus posted and pending debits).
    ///
    /// Examples: `ledger accounts show DE89370400440532013000`, `ledger accounts show --id 2`
    Show(ShowAccountArgs),
    /// Name the settlement account that stands for an agent (by BIC) in the
    /// account's currency (semantics §5); replaces the previous one.
    ///
    /// Example: `ledger accounts map-settlement --bic BNPAFRPPXXX --currency EUR --reference NL91ABNA0417164300`
    MapSettlement(MapSettlementArgs),
    /// Name the default clearing account of the account's currency
    /// (semantics §5); replaces the previous one.
    ///
    /// Example: `ledger accounts map-clearing --currency EUR --reference CLEARING-EUR`
    MapClearing(MapClearingArgs),
    /// List the account mapping: settlement accounts by agent and currency,
    /// then the clearing account of each currency.
    ///
    /// Example: `ledger accounts mappings`
    Mappings,
}

/// Whether debits may exceed credits on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OverdraftArg {
    /// Debits (pending and posted) must not exceed posted credits: customer accounts.
    #[value(alias = "debits-must-not-exceed-credits")]
    Forbidden,
    /// No limit: clearing, settlement and suspense accounts.
    Unrestricted,
}

impl From<OverdraftArg> for OverdraftRule {
    fn from(overdraft: OverdraftArg) -> OverdraftRule {
        match overdraft {
            OverdraftArg::Forbidden => OverdraftRule::DebitsMustNotExceedCredits,
            OverdraftArg::Unrestricted => OverdraftRule::Unrestricted,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct OpenAccountArgs {
    /// The account's external reference: an IBAN (spaces allowed, as
    /// printed), or with --other-id any `Othr/Id`.
    #[arg(long, value_name = "IBAN")]
    pub reference: String,
    /// The reference is an `Othr/Id` (for example an internal clearing
    /// account), not an IBAN: it is not checked as one.
    #[arg(long)]
    pub other_id: bool,
    /// ISO 4217 currency code.
    #[arg(long, value_name = "CODE")]
    pub currency: String,
    /// The overdraft rule.
    #[arg(long, value_enum, default_value_t = OverdraftArg::Forbidden)]
    pub overdraft: OverdraftArg,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("account").required(true).args(["reference", "id"])))]
pub struct ShowAccountArgs {
    /// The account's external reference (IBAN or `Othr/Id`).
    pub reference: Option<String>,
    /// The account's id instead (as `payments show` prints it).
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub id: Option<i64>,
    /// The balances as they stood at this moment, RFC 3339
    /// (`2026-11-30T12:00:00Z`, `2026-11-30T13:00:00.250+01:00`).
    #[arg(long, value_name = "TIME", value_parser = parse_rfc3339)]
    pub as_of: Option<std::time::SystemTime>,
}

/// An RFC 3339 date and time (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`),
/// exactly, to the microsecond.
fn parse_rfc3339(text: &str) -> Result<std::time::SystemTime, String> {
    let refuse = || format!("{text:?} is not an RFC 3339 time (2026-11-30T12:00:00Z)");
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !bytes.is_ascii() {
        return Err(refuse());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = &text[range];
        if part.bytes().all(|byte| byte.is_ascii_digit()) {
            part.parse().map_err(|_| refuse())
        } else {
            Err(refuse())
        }
    };
    let separators_ok = bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b'T' | b't' | b' ')
        && bytes[13] == b':'
        && bytes[16] == b':';
    if !separators_ok {
        return Err(refuse());
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let mut rest = &text[19..];
    let mut micros = 0_i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 6 {
            return Err(format!(
                "{text:?}: give at most 6 fractional digits (microseconds)"
            ));
        }
        micros = fraction[..digits].parse::<i64>().map_err(|_| refuse())?
            * 10_i64.pow(6 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        offset if offset.len() == 6 && offset.as_bytes()[3] == b':' => {
            let sign = match offset.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(refuse()),
            };
            let hours: i64 = offset[1..3].parse().map_err(|_| refuse())?;
            let minutes: i64 = offset[4..6].parse().map_err(|_| refuse())?;
            if hours > 23 || minutes > 59 {
                return Err(refuse());
            }
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return Err(refuse()),
    };
    let date = ledger::audit::CalendarDate::new(year as i32, month as u8, day as u8);
    if date.is_none() || hour > 23 || minute > 59 || second > 59 {
        return Err(refuse());
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
    // days_from_civil).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let micros_total = i128::from(seconds) * 1_000_000 + i128::from(micros);
    let magnitude = std::time::Duration::from_micros(
        u64::try_from(micros_total.unsigned_abs()).map_err(|_| refuse())?,
    );
    Ok(if micros_total >= 0 {
        std::time::UNIX_EPOCH + magnitude
    } else {
        std::time::UNIX_EPOCH - magnitude
    })
}

#[derive(Debug, clap::Args)]
pub struct MapSettlementArgs {
    /// The agent's BIC (8 or 11 characters).
    #[arg(long)]
    pub bic: String,
    /// The settlement account's reference.
    #[arg(long, value_name = "IBAN")]
    pub reference: String,
    /// The account's currency, as a check: refused if the account has another.
    #[arg(long, value_name = "CODE")]
    pub currency: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct MapClearingArgs {
    /// The clearing account's reference.
    #[arg(long, value_name = "IBAN")]
    pub reference: String,
    /// The account's currency, as a check: refused if the account has another.
    #[arg(long, value_name = "CODE")]
    pub currency: Option<String>,
}

/// Runs `ledger accounts ...`.
pub async fn accounts(ledger: &Ledger, args: &AccountsArgs) -> anyhow::Result<()> {
    match &args.command {
        AccountsCommand::Open(args) => open_account(ledger, args).await,
        AccountsCommand::Show(args) => show_account(ledger, args).await,
        AccountsCommand::MapSettlement(args) => map_settlement(ledger, args).await,
        AccountsCommand::MapClearing(args) => map_clearing(ledger, args).await,
        AccountsCommand::Mappings => mappings(ledger).await,
    }
}

/// The reference of a new account: an IBAN checked as one (spaces of the
/// printed form removed), or any valid reference with `other_id`.
pub fn new_account_reference(text: &str, other_id: bool) -> anyhow::Result<AccountReference> {
    if other_id {
        return AccountReference::parse(text).context("invalid --reference");
    }
    let iban: String = text.chars().filter(|c| *c != ' ').collect();
    iso20022::Iban::new(&iban).map_err(|error| {
        anyhow::anyhow!(
            "--reference {text:?} is not a valid IBAN ({error}); \
             give --other-id if it is not meant to be one"
        )
    })?;
    AccountReference::parse(&iban).context("invalid --reference")
}

fn currency(code: &str) -> anyhow::Result<Currency> {
    Currency::parse(code).with_context(|| format!("invalid --currency {code:?}"))
}

async fn open_account(ledger: &Ledger, args: &OpenAccountArgs) -> anyhow::Result<()> {
    let request = OpenAccount {
        external_reference: new_account_reference(&args.reference, args.other_id)?,
        currency: currency(&args.currency)?,
        overdraft: args.overdraft.into(),
        opened_by: operator_client_id(),
    };
    let account = ledger.open_account(&request).await?;
    println!("opened account {}", account.account_id);
    print_account(&account);
    Ok(())
}

async fn account_by_reference(ledger: &Ledger, text: &str) -> anyhow::Result<Account> {
    let reference = AccountReference::parse(text).context("invalid account reference")?;
    ledger
        .get_account(&reference)
        .await?
        .ok_or(LedgerError::AccountNotFound { reference })
        .map_err(anyhow::Error::from)
}

async fn show_account(ledger: &Ledger, args: &ShowAccountArgs) -> anyhow::Result<()> {
    let account = match (&args.reference, args.id) {
        (Some(reference), _) => account_by_reference(ledger, reference).await?,
        (None, Some(id)) => ledger
            .get_account_by_id(AccountId(id))
            .await?
            .with_context(|| format!("no account with id {id}"))?,
        (None, None) => bail!("give an account reference or --id"),
    };
    let account = match args.as_of {
        None => account,
        Some(as_of) => ledger
            .get_account_as_of(account.account_id, as_of)
            .await?
            .with_context(|| format!("no account with id {}", account.account_id))?,
    };
    print_account(&account);
    Ok(())
}

/// Minor units as an exact decimal of the currency, sign included.
fn decimal(currency: Currency, minor_units: i128) -> Decimal {
    currency.decimal_of_minor_units(minor_units)
}

fn overdraft_text(overdraft: OverdraftRule) -> &'static str {
    match overdraft {
        OverdraftRule::DebitsMustNotExceedCredits => {
            "forbidden (debits must not exceed posted credits)"
        }
        OverdraftRule::Unrestricted => "unrestricted",
    }
}

fn print_account(account: &Account) {
    let currency = account.currency;
    let balances = account.balances;
    let amount = |minor: i64| format!("{} {}", decimal(currency, minor.into()), currency.code());
    let net_posted = i128::from(balances.credits_posted) - i128::from(balances.debits_posted);
    let available = net_posted - i128::from(balances.debits_pending);
    let rows = [
        ("account", account.account_id.to_string()),
        ("reference", account.external_reference.to_string()),
        ("currency", currency.code().to_owned()),
        ("overdraft", overdraft_text(account.overdraft).to_owned()),
        ("debits_pending", amount(balances.debits_pending)),
        ("debits_posted", amount(balances.debits_posted)),
        ("credits_pending", amount(balances.credits_pending)),
        ("credits_posted", amount(balances.credits_posted)),
        (
            "net_posted",
            format!("{} {}", decimal(currency, net_posted), currency.code()),
        ),
        (
            "available",
            format!("{} {}", decimal(currency, available), currency.code()),
        ),
    ];
    for (name, value) in rows {
        println!("{name:<16} {value}");
    }
}

/// The account named by `reference`, refused if `expected` names another currency.
async fn mapped_account(
    ledger: &Ledger,
    reference: &str,
    expected: Option<&str>,
) -> anyhow::Result<Account> {
    let expected = expected.map(currency).transpose()?;
    let account = account_by_reference(ledger, reference).await?;
    if let Some(expected) = expected {
        if expected != account.currency {
            bail!(
                "account {} is in {}, not {}: nothing changed",
                account.external_reference,
                account.currency.code(),
                expected.code()
            );
        }
    }
    Ok(account)
}

async fn map_settlement(ledger: &Ledger, args: &MapSettlementArgs) -> anyhow::Result<()> {
    let bic = Bic::parse(&args.bic).context("invalid --bic")?;
    let account = mapped_account(ledger, &args.reference, args.currency.as_deref()).await?;
    ledger
        .set_settlement_account(&operator_client_id(), &bic, &account.external_reference)
        .await?;
    println!(
        "settlement account of {bic} in {}: {} (account {})",
        account.currency.code(),
        account.external_reference,
        account.account_id
    );
    Ok(())
}

async fn map_clearing(ledger: &Ledger, args: &MapClearingArgs) -> anyhow::Result<()> {
    let account = mapped_account(ledger, &args.reference, args.currency.as_deref()).await?;
    ledger
        .set_clearing_account(&operator_client_id(), &account.external_reference)
        .await?;
    println!(
        "clearing account in {}: {} (account {})",
        account.currency.code(),
        account.external_reference,
        account.account_id
    );
    Ok(())
}

async fn mappings(ledger: &Ledger) -> anyhow::Result<()> {
    let mappings = ledger.account_mappings().await?;
    if mappings.is_empty() {
        println!("no settlement or clearing accounts are mapped");
    }
    for mapping in mappings {
        let role = match &mapping.agent {
            Some(bic) => format!("settlement {bic}"),
            None => "clearing".to_owned(),
        };
        println!(
            "{role:<22} {:<4} {} (account {})",
            mapping.account.currency.code(),
            mapping.account.external_reference,
            mapping.account.account_id
        );
    }
    Ok(())
}

// ------------------------------------------------------------------ payments

/// The options of `ledger payments`.
#[derive(Debug, clap::Args)]
pub struct PaymentsArgs {
    #[command(subcommand)]
    pub command: PaymentsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum PaymentsCommand {
    /// Show a payment: its state, amount, accounts and transfers. Name it by
    /// id, by UETR, by its canonical business key (as SubmitPayment results
    /// show it), or by originator, instruction id and end-to-end id.
    ///
    /// Examples: `ledger payments show 42`,
    /// `ledger payments show --uetr 6f1c2d9e-8a55-4d1f-9b0e-1c2d3e4f5a6b`,
    /// `ledger payments show --originator COBADEFFXXX --instruction-id INSTR-1 --end-to-end-id E2E-1`
    Show(ShowPaymentArgs),
    /// List payments, oldest first, a page at a time: every filter given
    /// must hold. Prints the token of the next page (`--page-token`) on
    /// standard error (in the JSON, `next_page_token`); it continues only a
    /// listing with the same filters.
    ///
    /// Examples: `ledger payments list --state PENDING --from 2026-11-30`,
    /// `ledger payments list --end-to-end-id E2E-1 --format json`,
    /// `ledger payments list --account DE89370400440532013000 --limit 50 --page-token v1.42.…`
    List(ListPaymentsArgs),
}

/// The options of `ledger payments list`.
#[derive(Debug, clap::Args)]
pub struct ListPaymentsArgs {
    /// Only payments in this state: PENDING, SETTLED, REJECTED or RETURNED.
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only payments debiting or crediting this account (its IBAN or other id).
    #[arg(long, value_name = "REFERENCE")]
    pub account: Option<String>,
    /// Only payments created at or after this time: RFC 3339
    /// (`2026-11-30T12:00:00Z`, `2026-11-30T13:00:00+01:00`) or a date
    /// (`2026-11-30`, its start in UTC).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Only payments created before this time (as --from).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only the payment keyed by this UETR.
    #[arg(long, value_name = "UUID")]
    pub uetr: Option<String>,
    /// Only payments whose business key or pain.001 instruction reference
    /// carries this EndToEndId.
    #[arg(long, value_name = "ID")]
    pub end_to_end_id: Option<String>,
    /// Only payments whose business key or pain.001 instruction reference
    /// carries this instruction id (InstrId, or TxId where the message had
    /// no InstrId).
    #[arg(long, value_name = "ID")]
    pub instruction_id: Option<String>,
    /// Only payments created by this client's requests.
    #[arg(long, value_name = "CLIENT_ID")]
    pub client: Option<String>,
    /// At most this many payments (1 to 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: u16,
    /// The page after the one that printed this token.
    #[arg(long, value_name = "TOKEN")]
    pub page_token: Option<String>,
    /// `table` (one line per payment) or `json` (one object).
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// How `ledger payments list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

// Every way of naming a payment is in the group, so that a usage error names
// them all; the three parts of a business key go together (`requires_all`),
// and each way excludes the others (`conflicts_with_all`).
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("payment")
        .required(true)
        .multiple(true)
        .args(["payment_id", "uetr", "business_key", "originator", "instruction_id", "end_to_end_id"])
))]
pub struct ShowPaymentArgs {
    /// The payment's id.
    #[arg(conflicts_with_all = ["uetr", "business_key", "originator", "instruction_id", "end_to_end_id"])]
    pub payment_id: Option<i64>,
    /// The payment's UETR.
    #[arg(
        long,
        value_name = "UUID",
        conflicts_with_all = ["business_key", "originator", "instruction_id", "end_to_end_id"]
    )]
    pub uetr: Option<String>,
    /// The canonical business key: `uetr:<uuid>`,
    /// `ref:<len>:<originator><len>:<instruction id><len>:<end-to-end id>` or
    /// `msg:<len>:<originator><len>:<message id><len>:<position>`.
    #[arg(
        long,
        value_name = "KEY",
        conflicts_with_all = ["originator", "instruction_id", "end_to_end_id"]
    )]
    pub business_key: Option<String>,
    /// The originator (with --instruction-id and --end-to-end-id): a BIC, or
    /// its kind and id: `bic:<BIC>`, `lei:<LEI>`, `id:<other id>`,
    /// `acct:<debtor account>`.
    #[arg(long, requires_all = ["instruction_id", "end_to_end_id"])]
    pub originator: Option<String>,
    /// InstrId, or TxId where the message has no InstrId.
    #[arg(long, requires_all = ["originator", "end_to_end_id"])]
    pub instruction_id: Option<String>,
    /// EndToEndId.
    #[arg(long, requires_all = ["originator", "instruction_id"])]
    pub end_to_end_id: Option<String>,
}

/// Runs `ledger payments ...`.
pub async fn payments(ledger: &Ledger, args: &PaymentsArgs) -> anyhow::Result<()> {
    match &args.command {
        PaymentsCommand::Show(args) => show_payment(ledger, args).await,
        PaymentsCommand::List(args) => list_payments(ledger, args).await,
    }
}

/// The option of `ledger payments list` of each filter, to name in an error.
fn payment_filter_option(field: PaymentFilterField) -> &'static str {
    match field {
        PaymentFilterField::CreatedFrom => "--from",
        PaymentFilterField::CreatedUntil => "--to",
        PaymentFilterField::State => "--state",
        PaymentFilterField::Account => "--account",
        PaymentFilterField::Uetr => "--uetr",
        PaymentFilterField::EndToEndId => "--end-to-end-id",
        PaymentFilterField::InstructionId => "--instruction-id",
        PaymentFilterField::CreatedBy => "--client",
    }
}

/// The filters the options give, or every bad value, each by its option.
async fn payment_filter(ledger: &Ledger, args: &ListPaymentsArgs) -> anyhow::Result<PaymentFilter> {
    let mut problems: Vec<String> = Vec::new();
    let mut bad = |field: PaymentFilterField, problem: String| {
        problems.push(format!(
            "invalid {}: {problem}",
            payment_filter_option(field)
        ));
    };
    let mut time = |field: PaymentFilterField, text: &Option<String>| {
        text.as_deref()
            .and_then(|text| parse_time(text).map_err(|problem| bad(field, problem)).ok())
    };
    let created_from = time(PaymentFilterField::CreatedFrom, &args.from);
    let created_until = time(PaymentFilterField::CreatedUntil, &args.to);
    let state = args.state.as_deref().and_then(|text| {
        PaymentState::parse(&text.to_ascii_uppercase())
            .ok_or_else(|| {
                bad(
                    PaymentFilterField::State,
                    format!("{text:?} is not PENDING, SETTLED, REJECTED or RETURNED"),
                )
            })
            .ok()
    });
    let account_id = match args.account.as_deref() {
        None => None,
        Some(text) => match AccountReference::parse(text) {
            Err(error) => {
                bad(PaymentFilterField::Account, error.to_string());
                None
            }
            Ok(reference) => match ledger.get_account(&reference).await? {
                Some(account) => Some(account.account_id),
                None => {
                    bad(
                        PaymentFilterField::Account,
                        format!("no account with reference {reference}"),
                    );
                    None
                }
            },
        },
    };
    let uetr = args.uetr.as_deref().and_then(|text| {
        uuid::Uuid::parse_str(text)
            .map_err(|_| bad(PaymentFilterField::Uetr, format!("{text:?} is not a UUID")))
            .ok()
    });
    let mut key_id = |field: PaymentFilterField, what: &'static str, text: &Option<String>| {
        text.as_deref().and_then(|text| {
            KeyId::parse(what, text)
                .map_err(|error| bad(field, error.to_string()))
                .ok()
        })
    };
    let end_to_end_id = key_id(
        PaymentFilterField::EndToEndId,
        "end-to-end id",
        &args.end_to_end_id,
    );
    let instruction_id = key_id(
        PaymentFilterField::InstructionId,
        "instruction id",
        &args.instruction_id,
    );
    let created_by = args.client.as_deref().and_then(|text| {
        ClientId::parse(text)
            .map_err(|error| bad(PaymentFilterField::CreatedBy, error.to_string()))
            .ok()
    });
    let filter = PaymentFilter {
        created_from,
        created_until,
        state,
        account_id,
        uetr,
        end_to_end_id,
        instruction_id,
        created_by,
    };
    for (field, problem) in filter.contradictions() {
        bad(field, problem);
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(filter)
}

/// A time in RFC 3339 (`2026-11-30T12:00:00Z`, with a fraction of a second
/// or an offset), or a date (`2026-11-30`), which is its start in UTC.
fn parse_time(text: &str) -> Result<SystemTime, String> {
    let bad = || {
        format!("{text:?} is not an RFC 3339 time (2026-11-30T12:00:00Z) or a date (2026-11-30)")
    };
    let number = |digits: &str| -> Result<u32, String> {
        if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse().map_err(|_| bad())
    };
    let fixed = |part: Option<&str>, length: usize| -> Result<u32, String> {
        match part {
            Some(digits) if digits.len() == length => number(digits),
            _ => Err(bad()),
        }
    };
    let (date, rest) = match text.get(..10) {
        Some(date) => (date, &text[10..]),
        None => return Err(bad()),
    };
    let mut date_parts = date.split('-');
    let year = fixed(date_parts.next(), 4)?;
    let month = fixed(date_parts.next(), 2)?;
    let day = fixed(date_parts.next(), 2)?;
    if date_parts.next().is_some() {
        return Err(bad());
    }
    let month = time::Month::try_from(month as u8).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year as i32, month, day as u8).map_err(|_| bad())?;
    if rest.is_empty() {
        return Ok(date.midnight().assume_utc().into());
    }
    let rest = rest.strip_prefix(['T', 't', ' ']).ok_or_else(bad)?;
    let (clock, offset) = if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        (clock, time::UtcOffset::UTC)
    } else {
        let sign_at = rest.rfind(['+', '-']).ok_or_else(bad)?;
        let (clock, offset) = rest.split_at(sign_at);
        let sign: i8 = if offset.starts_with('-') { -1 } else { 1 };
        let mut offset_parts = offset[1..].split(':');
        let hours = fixed(offset_parts.next(), 2)? as i8;
        let minutes = fixed(offset_parts.next(), 2)? as i8;
        if offset_parts.next().is_some() {
            return Err(bad());
        }
        let offset =
            time::UtcOffset::from_hms(sign * hours, sign * minutes, 0).map_err(|_| bad())?;
        (clock, offset)
    };
    let (clock, fraction) = match clock.split_once('.') {
        Some((clock, fraction)) if (1..=9).contains(&fraction.len()) => (
            clock,
            number(fraction)? * 10u32.pow(9 - fraction.len() as u32),
        ),
        Some(_) => return Err(bad()),
        None => (clock, 0),
    };
    let mut clock_parts = clock.split(':');
    let hour = fixed(clock_parts.next(), 2)?;
    let minute = fixed(clock_parts.next(), 2)?;
    let second = fixed(clock_parts.next(), 2)?;
    if clock_parts.next().is_some() {
        return Err(bad());
    }
    let clock = time::Time::from_hms_nano(hour as u8, minute as u8, second as u8, fraction)
        .map_err(|_| bad())?;
    Ok(time::PrimitiveDateTime::new(date, clock)
        .assume_offset(offset)
        .into())
}

async fn list_payments(ledger: &Ledger, args: &ListPaymentsArgs) -> anyhow::Result<()> {
    let filter = payment_filter(ledger, args).await?;
    let after = match filter.page_after(args.page_token.as_deref().unwrap_or("")) {
        Ok(after) => after,
        Err(PageTokenError::Malformed) => {
            bail!("invalid --page-token: not a token `ledger payments list` printed")
        }
        Err(PageTokenError::FiltersChanged(fields)) => bail!(
            "invalid --page-token: it continues a listing with other {}; keep the options of \
             the first page, or start again without --page-token",
            fields
                .into_iter()
                .map(payment_filter_option)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let limit = usize::from(args.limit);
    let payments = ledger
        .list_payments(&filter, &PaymentVisibility::all(), after, limit)
        .await?;
    let next_page_token = match payments.last() {
        Some(last) if payments.len() == limit => Some(filter.page_token(last.payment_id)),
        _ => None,
    };
    match args.format {
        ListFormat::Json => {
            let payments: Vec<serde_json::Value> = payments
                .iter()
                .map(|payment| {
                    serde_json::json!({
                        "payment_id": payment.payment_id.0,
                        "business_key": payment.business_key.canonical(),
                        "state": payment.state.as_str(),
                        "amount": payment.amount.to_decimal().to_string(),
                        "currency": payment.amount.currency().code(),
                        "debit_account_id": payment.debit_account_id.0,
                        "credit_account_id": payment.credit_account_id.0,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "payments": payments,
                    "next_page_token": next_page_token.as_deref().unwrap_or(""),
                })
            );
        }
        ListFormat::Table => {
            if payments.is_empty() {
                println!("no payments");
            } else {
                println!(
                    "{:>10}  {:<8}  {:>20}  {:>10}  {:>10}  business key",
                    "payment", "state", "amount", "debit", "credit"
                );
            }
            for payment in &payments {
                println!(
                    "{:>10}  {:<8}  {:>20}  {:>10}  {:>10}  {}",
                    payment.payment_id.to_string(),
                    payment.state.as_str(),
                    format!(
                        "{} {}",
                        payment.amount.to_decimal(),
                        payment.amount.currency().code()
                    ),
                    payment.debit_account_id.to_string(),
                    payment.credit_account_id.to_string(),
                    payment.business_key.canonical()
                );
            }
            if let Some(token) = &next_page_token {
                eprintln!("more: --page-token {token}");
            }
        }
    }
    Ok(())
}

/// The business key the arguments name, if they name one rather than an id.
fn business_key(args: &ShowPaymentArgs) -> anyhow::Result<Option<BusinessKey>> {
    if let Some(uetr) = &args.uetr {
        return Ok(Some(BusinessKey::uetr(uetr).context("invalid --uetr")?));
    }
    if let Some(canonical) = &args.business_key {
        return Ok(Some(
            BusinessKey::from_canonical(canonical).context("invalid --business-key")?,
        ));
    }
    if let (Some(originator), Some(instruction_id), Some(end_to_end_id)) =
        (&args.originator, &args.instruction_id, &args.end_to_end_id)
    {
        return Ok(Some(
            BusinessKey::reference(
                Originator::parse_qualified(originator).context("invalid --originator")?,
                Some(instruction_id),
                Some(end_to_end_id),
            )
            .context("invalid business key")?,
        ));
    }
    Ok(None)
}

async fn show_payment(ledger: &Ledger, args: &ShowPaymentArgs) -> anyhow::Result<()> {
    let payment: Payment = match (business_key(args)?, args.payment_id) {
        (Some(key), _) => ledger
            .get_payment_by_business_key(&key)
            .await?
            .with_context(|| format!("no payment with business key {key}"))?,
        (None, Some(id)) => ledger
            .get_payment(PaymentId(id))
            .await?
            .with_context(|| format!("no payment with id {id}"))?,
        (None, None) => bail!(
            "give a payment id, --uetr, --business-key, or --originator, --instruction-id \
             and --end-to-end-id"
        ),
    };
    let account_text = |account: Option<Account>, id: AccountId| match account {
        Some(account) => format!("{} (account {id})", account.external_reference),
        None => format!("account {id}"),
    };
    let debit = ledger.get_account_by_id(payment.debit_account_id).await?;
    let credit = ledger.get_account_by_id(payment.credit_account_id).await?;
    let amount = payment.amount;
    let rows = [
        ("payment", payment.payment_id.to_string()),
        ("business_key", payment.business_key.canonical()),
        ("state", payment.state.as_str().to_owned()),
        (
            "amount",
            format!("{} {}", amount.to_decimal(), amount.currency().code()),
        ),
        (
            "debit_account",
            account_text(debit, payment.debit_account_id),
        ),
        (
            "credit_account",
            account_text(credit, payment.credit_account_id),
        ),
    ];
    for (name, value) in rows {
        println!("{name:<16} {value}");
    }
    let transfers = ledger.list_transfers_of_payment(payment.payment_id).await?;
    println!("transfers        {}", transfers.len());
    if !transfers.is_empty() {
        println!(
            "  {:>10}  {:<12}  {:>10}  {:>10}  {:>20}  created (UTC)",
            "transfer", "kind", "debit", "credit", "amount"
        );
    }
    for transfer in transfers {
        println!(
            "  {:>10}  {:<12}  {:>10}  {:>10}  {:>20}  {}",
            transfer.transfer_id.to_string(),
            transfer.kind.as_str(),
            transfer.debit_account_id.to_string(),
            transfer.credit_account_id.to_string(),
            format!(
                "{} {}",
                transfer.amount.to_decimal(),
                transfer.amount.currency().code()
            ),
            iso_date_time(transfer.created_at)
        );
    }
    Ok(())
}

// ------------------------------------------------------------------ idempotency records

/// Semantics §1: idempotency records are kept at least this long.
pub const IDEMPOTENCY_RETENTION_MIN: Duration = Duration::from_secs(24 * 3_600);

/// The options of `ledger prune-idempotency`.
#[derive(Debug, clap::Args)]
pub struct PruneIdempotencyArgs {
    /// Remove records older than this: a number with a unit, `s`, `m`, `h`,
    /// `d` or `w`, or several (`1d12h`). At least 24h (semantics §1).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub older_than: Duration,
}

/// Runs `ledger prune-idempotency`.
pub async fn prune_idempotency(ledger: &Ledger, args: &PruneIdempotencyArgs) -> anyhow::Result<()> {
    if args.older_than < IDEMPOTENCY_RETENTION_MIN {
        bail!(
            "--older-than {} is under 24h: idempotency records are kept at least 24 h \
             (docs/semantics.md section 1), so that a client retrying within a day gets its \
             first answer; nothing was removed",
            duration_text(args.older_than)
        );
    }
    let cutoff = SystemTime::now() - args.older_than;
    let removed = ledger.prune_idempotency_records(args.older_than).await?;
    println!(
        "removed {removed} idempotency records older than {} (created before {})",
        duration_text(args.older_than),
        iso_date_time(cutoff)
    );
    Ok(())
}

const DURATION_UNITS: [(char, u64); 5] = [
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

/// Parses `7d`, `36h`, `1d12h`, `90m`, `2w`: whole numbers, each with a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like 7d, 36h or 1d12h (units s, m, h, d, w)");
    let mut seconds: u64 = 0;
    let mut number = String::new();
    for character in text.chars() {
        if character.is_ascii_digit() {
            number.push(character);
            continue;
        }
        let (_, unit_seconds) = DURATION_UNITS
            .iter()
            .find(|(unit, _)| *unit == character)
            .ok_or_else(bad)?;
        let count: u64 = number.parse().map_err(|_| bad())?;
        seconds = count
            .checked_mul(*unit_seconds)
            .and_then(|part| seconds.checked_add(part))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || text.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(seconds))
}

/// A duration in days, hours, minutes and seconds: `7d`, `1d12h`, `0s`.
pub fn duration_text(duration: Duration) -> String {
    let mut seconds = duration.as_secs();
    if seconds == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    // Weeks are read, never written: "7d" reads better than "1w".
    for (unit, unit_seconds) in DURATION_UNITS.into_iter().filter(|(unit, _)| *unit != 'w') {
        if seconds >= unit_seconds {
            text.push_str(&format!("{}{unit}", seconds / unit_seconds));
            seconds %= unit_seconds;
        }
    }
    text
}

#[cfg(test)]
mod rfc3339_tests {
    use super::parse_rfc3339;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_times_are_read_exactly_with_their_offsets() {
        let at = |seconds: u64, micros: u64| {
            UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_micros(micros)
        };
        for (text, expected) in [
            ("1970-01-01T00:00:00Z", at(0, 0)),
            ("2026-11-30T12:00:00Z", at(1_796_040_000, 0)),
            ("2026-11-30T13:00:00.25+01:00", at(1_796_040_000, 250_000)),
            ("2000-02-29T23:59:59.000001-00:30", at(951_870_599, 1)),
        ] {
            assert_eq!(parse_rfc3339(text), Ok(expected), "{text}");
        }
        for bad in [
            "2026-11-30",
            "2026-11-30T12:00:00",
            "2026-02-30T12:00:00Z",
            "2026-11-30T24:00:00Z",
            "2026-11-30T12:00:00.1234567Z",
            "2026-11-30T12:00:00+0100",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_print_back() {
        let check = |text: &str, expected: Option<u64>| {
            assert_eq!(
                parse_duration(text).ok().map(|duration| duration.as_secs()),
                expected,
                "{text}"
            );
        };
        check("7d", Some(7 * 86_400));
        check("24h", Some(86_400));
        check("1d12h", Some(36 * 3_600));
        check("2w", Some(14 * 86_400));
        check("90m", Some(5_400));
        check("45s", Some(45));
        for bad in [
            "",
            "7",
            "d",
            "7x",
            "1.5d",
            "-1d",
            "7d ",
            "99999999999999999999w",
        ] {
            check(bad, None);
        }
        assert_eq!(duration_text(Duration::from_secs(36 * 3_600)), "1d12h");
        assert_eq!(duration_text(Duration::from_secs(14 * 86_400)), "14d");
        assert_eq!(duration_text(Duration::from_secs(3_600)), "1h");
    }

    #[test]
    fn new_references_are_checked_as_ibans_unless_other_ids() {
        assert_eq!(
            new_account_reference("DE89 3704 0044 0532 0130 00", false)
                .unwrap()
                .as_str(),
            "DE89370400440532013000"
        );
        assert!(new_account_reference("DE88370400440532013000", false).is_err());
        assert!(new_account_reference("CLEARING-EUR", false).is_err());
        assert!(new_account_reference("CLEARING-EUR", true).is_ok());
        assert!(new_account_reference("", true).is_err());
    }
}

// ----------------------------------------------------------------- audit log

/// The options of `ledger audit-log`.
#[derive(Debug, clap::Args)]
pub struct AuditLogArgs {
    /// Only changes after this change id (as a previous listing printed it).
    #[arg(long, value_name = "CHANGE_ID")]
    pub after: Option<i64>,
    /// At most this many changes (1 to 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: u16,
}

/// Prints the recorded administrative changes, oldest first: id, time
/// (UTC), client, action, subject, and the value before and after.
pub async fn audit_log(ledger: &Ledger, args: &AuditLogArgs) -> anyhow::Result<()> {
    let changes = ledger
        .admin_changes(args.after, usize::from(args.limit))
        .await?;
    if changes.is_empty() {
        println!("no administrative changes");
        return Ok(());
    }
    for change in changes {
        println!("{}", crate::reconcile::admin_change_text(&change));
    }
    Ok(())
}
