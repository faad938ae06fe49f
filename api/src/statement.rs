//! `ledger statement` and the document `GetStatement` returns: an
//! account's [`AccountStatement`] written as camt.053.001.08 (the one place
//! where the ledger's statement meets the codec's writer).
//!
//! Each entry names its transfer by `AcctSvcrRef` = the ledger's transfer
//! reference (`ledger::audit::ledger_transfer_reference`), the strongest key
//! `ledger reconcile --statement` matches by, and carries the payment's
//! end-to-end id, instruction id, UETR and original message id when its
//! business key knows them.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use iso20022::{
    BankTransactionCode, CreditDebit, CurrencyCode, EntryTransactionReferences, Iban, IsoDate,
    IsoDateTime, Max35Text, StatementAccountId, StatementEntry, StatementHead, StatementWriter,
    Text, Uetr,
};
use ledger::audit::{CalendarDate, Direction, StatementBalance};
use ledger::model::{AccountReference, Amount, TransferKind};
use ledger::{AccountStatement, Ledger, StatementLine, StatementPeriod};

/// The options of `ledger statement`.
#[derive(Debug, clap::Args)]
pub struct StatementArgs {
    /// The account's reference (an IBAN or another id).
    #[arg(long, value_name = "REF")]
    pub account: String,
    /// The first day, `YYYY-MM-DD` (UTC, inclusive).
    #[arg(long, value_name = "DATE")]
    pub from: String,
    /// The last day, `YYYY-MM-DD` (UTC, inclusive).
    #[arg(long, value_name = "DATE")]
    pub to: String,
    /// Where to write the camt.053 (standard output if not given). The file
    /// appears whole or not at all.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Parses a statement's period; `field` names the bad date.
pub fn period(from: &str, to: &str) -> Result<StatementPeriod, (&'static str, String)> {
    let parse = |field: &'static str, text: &str| {
        CalendarDate::parse(text)
            .ok_or_else(|| (field, format!("{text:?} is not a date (YYYY-MM-DD)")))
    };
    Ok(StatementPeriod {
        from: parse("from", from)?,
        to: parse("to", to)?,
    })
}

/// Runs `ledger statement`: writes the camt.053 to `--out` or standard
/// output, and a summary to standard error.
pub async fn statement(ledger: &Ledger, args: &StatementArgs) -> anyhow::Result<()> {
    let reference = AccountReference::parse(&args.account)
        .with_context(|| format!("account {:?}", args.account))?;
    let period = period(&args.from, &args.to)
        .map_err(|(field, detail)| anyhow::anyhow!("--{field}: {detail}"))?;
    let statement = ledger
        .statement(&reference, period)
        .await?
        .with_context(|| format!("no account {reference}"))?;
    match &args.out {
        Some(path) => {
            let mut partial = path.clone().into_os_string();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let written = std::fs::File::create(&partial).and_then(|file| {
                let mut out = io::BufWriter::new(file);
                write_camt053(&statement, &mut out)?;
                out.into_inner()?.sync_all()
            });
            if let Err(error) = written {
                let _ = std::fs::remove_file(&partial);
                return Err(error).with_context(|| format!("writing {}", partial.display()));
            }
            std::fs::rename(&partial, path)
                .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
        }
        None => write_camt053(&statement, io::stdout().lock()).context("writing the camt.053")?,
    }
    eprintln!(
        "statement {} of {} from {} to {}: opening {}, {} entries, closing {} (as of {})",
        statement_id(&statement),
        statement.account.external_reference,
        statement.period.from,
        statement.period.to,
        balance_text(&statement.opening_booked),
        statement.entries.len(),
        balance_text(&statement.closing_booked),
        statement.as_of
    );
    Ok(())
}

fn balance_text(balance: &StatementBalance) -> String {
    format!(
        "{} {} {}",
        balance.direction.code(),
        balance.amount.currency().code(),
        balance.amount.to_decimal()
    )
}

/// The statement's id (`Stmt/Id`): the account id and the period,
/// `<account id>-<from>-<to>` with compact dates (without the dashes if
/// that is longer than 35 characters).
pub fn statement_id(statement: &AccountStatement) -> String {
    let compact = |date: CalendarDate| date.to_string().replace('-', "");
    let account_id = statement.account.account_id.0;
    let (from, to) = (compact(statement.period.from), compact(statement.period.to));
    let id = format!("{account_id}-{from}-{to}");
    if id.len() <= 35 {
        id
    } else {
        format!("{account_id}{from}{to}")
    }
}

/// The document's `MsgId`: the snapshot's time to the microsecond and the
/// account id, `20261130102206249442-7` (cut to 35 characters for an
/// account id over 14 digits).
fn message_id(statement: &AccountStatement) -> String {
    let digits: String = statement
        .as_of
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let mut id = format!("{digits}-{}", statement.account.account_id.0);
    id.truncate(35);
    id
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

fn max35(text: &str) -> io::Result<Max35Text> {
    Max35Text::new(text).map_err(|error| invalid(format!("{text:?}: {error}")))
}

/// An optional reference: one the camt.053 cannot carry is left out (the
/// transfer reference still names the entry).
fn reference(text: Option<&str>) -> Option<Max35Text> {
    text.and_then(|text| Max35Text::new(text).ok())
}

fn date(date: CalendarDate) -> io::Result<IsoDate> {
    IsoDate::parse(&date.to_string()).map_err(|error| invalid(format!("date {date}: {error}")))
}

fn amount(amount: &Amount) -> io::Result<iso20022::Amount> {
    let currency = CurrencyCode::new(amount.currency().code())
        .map_err(|error| invalid(format!("currency: {error}")))?;
    iso20022::Amount::new(currency, amount.to_decimal())
        .map_err(|error| invalid(format!("amount: {error}")))
}

fn credit_debit(direction: Direction) -> CreditDebit {
    match direction {
        Direction::Credit => CreditDebit::Credit,
        Direction::Debit => CreditDebit::Debit,
    }
}

fn balance(balance: &StatementBalance, on: CalendarDate) -> io::Result<iso20022::StatementBalance> {
    Ok(iso20022::StatementBalance {
        amount: amount(&balance.amount)?,
        credit_debit: credit_debit(balance.direction),
        date: date(on)?,
    })
}

fn code(text: &'static str) -> Text<4> {
    Text::new(text).expect("a bank transaction code of at most 4 characters")
}

/// `PMNT` and the family by direction (`ICDT` issued, `RCDT` received
/// credit transfers), the sub-family `DMCT` (domestic credit transfer) or
/// `RRTN` (a return); the transfer's kind as the proprietary code.
fn bank_transaction_code(line: &StatementLine) -> BankTransactionCode {
    let family = match line.direction {
        Direction::Debit if line.kind == TransferKind::Reversal => "RCDT",
        Direction::Credit if line.kind == TransferKind::Reversal => "ICDT",
        Direction::Debit => "ICDT",
        Direction::Credit => "RCDT",
    };
    let sub_family = if line.kind == TransferKind::Reversal {
        "RRTN"
    } else {
        "DMCT"
    };
    BankTransactionCode {
        domain: Some((code("PMNT"), code(family), code(sub_family))),
        proprietary: Some((
            Max35Text::new(line.kind.as_str()).expect("a transfer kind is short"),
            Some(Max35Text::new("LEDGER").expect("short")),
        )),
    }
}

fn entry(line: &StatementLine) -> io::Result<StatementEntry> {
    let booked = date(line.booking_date)?;
    let mut entry = StatementEntry::new(
        amount(&line.amount)?,
        credit_debit(line.direction),
        booked,
        booked,
        bank_transaction_code(line),
    );
    let transfer_reference = max35(&line.reference)?;
    entry.entry_reference = Some(max35(&line.transfer_id.to_string())?);
    entry.account_servicer_reference = Some(transfer_reference.clone());
    entry.references = EntryTransactionReferences {
        message_id: reference(line.original_message_id.as_deref()),
        account_servicer_reference: Some(transfer_reference),
        instruction_id: reference(line.instruction_id.as_deref()),
        end_to_end_id: reference(line.end_to_end_id.as_deref()),
        uetr: line.uetr.as_deref().and_then(|uetr| Uetr::new(uetr).ok()),
        transaction_id: None,
    };
    let info = format!(
        "payment {} {} transfer, business key {}",
        line.payment_id,
        line.kind.as_str(),
        line.business_key
    );
    entry.additional_info = Text::new(&info).ok();
    Ok(entry)
}

fn head(statement: &AccountStatement) -> io::Result<StatementHead> {
    let reference = statement.account.external_reference.as_str();
    let account = match Iban::new(reference) {
        Ok(iban) => StatementAccountId::Iban(iban),
        Err(_) => StatementAccountId::Other(Text::new(reference).map_err(|error| {
            invalid(format!(
                "account {reference:?} is neither an IBAN nor an id of at most 34 characters: {error}"
            ))
        })?),
    };
    let creation = IsoDateTime::parse(&statement.as_of)
        .map_err(|error| invalid(format!("as of {}: {error}", statement.as_of)))?;
    let moment = |text: String| {
        IsoDateTime::parse(&text).map_err(|error| invalid(format!("{text}: {error}")))
    };
    let mut head = StatementHead::new(
        max35(&message_id(statement))?,
        creation,
        max35(&statement_id(statement))?,
        account,
        CurrencyCode::new(statement.account.currency.code())
            .map_err(|error| invalid(format!("currency: {error}")))?,
        balance(&statement.opening_booked, statement.period.from)?,
        balance(&statement.closing_booked, statement.period.to)?,
    );
    head.period = Some((
        moment(format!("{}T00:00:00Z", statement.period.from))?,
        moment(format!("{}T23:59:59.999999Z", statement.period.to))?,
    ));
    Ok(head)
}

/// Writes the statement as a camt.053.001.08 document. `InvalidInput` when
/// a value cannot be written (an account reference that is neither an IBAN
/// nor at most 34 characters).
pub fn write_camt053(statement: &AccountStatement, out: impl Write) -> io::Result<()> {
    let mut writer = StatementWriter::start(&head(statement)?, out)?;
    for line in &statement.entries {
        writer.entry(&entry(line)?)?;
    }
    writer.finish()?.flush()
}

/// [`write_camt053`] into memory.
pub fn camt053(statement: &AccountStatement) -> io::Result<Vec<u8>> {
    let mut document = Vec::new();
    write_camt053(statement, &mut document)?;
    Ok(document)
}
