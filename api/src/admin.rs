//! The operator's commands around the ledger: `ledger accounts`
//! (open, show, the account mapping of semantics §5), `ledger payments show`,
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
    }
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
