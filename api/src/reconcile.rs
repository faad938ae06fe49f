//! `ledger reconcile`: reads a camt.053 statement into the ledger's
//! [`StatementInput`] (the one place where camt.053 types meet the audit's),
//! runs [`ledger::Ledger::audit_statements`], and renders the report as a
//! table, JSON or CSV. Exit codes: 0 clean, 1 discrepancies, 2 the audit
//! could not run.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use iso20022::{MessageFamily, MessageReader, Transaction};
use ledger::audit::{
    AuditReport, CalendarDate, Direction, EntryReferences, StatementBalance, StatementEntry,
    StatementInput,
};
use ledger::model::{AccountReference, Amount, Currency};
use ledger::{Ledger, LedgerOptions};

use crate::database::Database;

/// Exit code: the ledger (and the statement, if given) reconcile.
pub const EXIT_CLEAN: i32 = 0;
/// Exit code: the audit found discrepancies.
pub const EXIT_DISCREPANCIES: i32 = 1;
/// Exit code: the audit could not run (database, statement file, ...).
pub const EXIT_AUDIT_FAILED: i32 = 2;

/// How the report is written to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    Table,
    /// One JSON object.
    Json,
    /// `code,subject,detail` rows with a header (RFC 4180 quoting).
    Csv,
}

/// The options of `ledger reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// A camt.053 statement (any supported version) to compare with the
    /// ledger, for the accounts it covers.
    #[arg(long, value_name = "FILE")]
    pub statement: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Longest one audit query may run, in milliseconds (the audit scans
    /// whole tables).
    #[arg(long, default_value_t = 600_000)]
    pub statement_timeout_ms: u64,
}

/// Runs `ledger reconcile` and returns its exit code. The report goes to
/// standard output, everything else to standard error.
pub async fn main(database_url: Option<&str>, data_dir: PathBuf, args: &ReconcileArgs) -> i32 {
    let statements = match &args.statement {
        Some(path) => match read_statements(path) {
            Ok(statements) => statements,
            Err(error) => {
                eprintln!("reconcile: cannot read the statement: {error:#}");
                return EXIT_AUDIT_FAILED;
            }
        },
        None => Vec::new(),
    };
    let database = match Database::open(database_url, data_dir).await {
        Ok(database) => database,
        Err(error) => {
            eprintln!("reconcile: cannot open the database: {error:#}");
            return EXIT_AUDIT_FAILED;
        }
    };
    eprintln!("database: {}", database.description);
    let options = LedgerOptions {
        pool_size_max: 2,
        statement_timeout_ms: args.statement_timeout_ms,
        ..LedgerOptions::default()
    };
    let code = match Ledger::connect(database.config.clone(), options) {
        Ok(ledger) => {
            let audited = ledger.audit_statements(&statements).await;
            drop(ledger);
            match audited {
                Ok(report) => match write_report(&report, args.format, &mut std::io::stdout()) {
                    Ok(()) if report.is_clean() => EXIT_CLEAN,
                    Ok(()) => EXIT_DISCREPANCIES,
                    Err(error) => {
                        eprintln!("reconcile: cannot write the report: {error}");
                        EXIT_AUDIT_FAILED
                    }
                },
                Err(error) => {
                    eprintln!(
                        "reconcile: the audit could not run: {}",
                        error_chain(&error)
                    );
                    EXIT_AUDIT_FAILED
                }
            }
        }
        Err(error) => {
            eprintln!("reconcile: {}", error_chain(&error));
            EXIT_AUDIT_FAILED
        }
    };
    if let Err(error) = database.close().await {
        eprintln!("reconcile: closing the database: {error:#}");
    }
    code
}

/// The error and its sources, `: `-separated (the ledger's own `Display`
/// hides internal detail from API clients; an operator wants it).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

// ------------------------------------------------------------ camt.053 input

/// Reads every statement of a camt.053 file.
pub fn read_statements(path: &Path) -> anyhow::Result<Vec<StatementInput>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    statements_from_reader(std::io::BufReader::new(file))
        .with_context(|| format!("reading {}", path.display()))
}

/// Reads every statement of a camt.053 document. Only booked entries (status
/// `BOOK`, or none) are compared; an entry with several transactions that
/// each carry an amount becomes one entry per transaction. The period runs
/// from the `OPBD` balance's date to the `CLBD` balance's date; without
/// them, over the entries' dates.
pub fn statements_from_reader(input: impl BufRead) -> anyhow::Result<Vec<StatementInput>> {
    let mut reader = MessageReader::new(input).map_err(|errors| anyhow!("{errors}"))?;
    let kind = reader.kind();
    if kind.family != MessageFamily::Camt053 {
        bail!("a {} message, not a camt.053 statement", kind.id);
    }
    let mut builders: Vec<StatementBuilder> = Vec::new();
    while let Some(item) = reader.next_transaction() {
        match item.map_err(|errors| anyhow!("{errors}"))? {
            Transaction::Statement(statement) => builders.push(StatementBuilder::new(statement)?),
            Transaction::Entry(entry) => builders
                .last_mut()
                .context("an entry before its statement")?
                .add(entry)?,
            _ => {}
        }
    }
    builders.into_iter().map(StatementBuilder::finish).collect()
}

struct StatementBuilder {
    statement_id: String,
    account: AccountReference,
    opening: Option<(StatementBalance, Option<CalendarDate>)>,
    closing: Option<(StatementBalance, Option<CalendarDate>)>,
    entries_seen: usize,
    entries: Vec<StatementEntry>,
}

fn date(date: &iso20022::IsoDate) -> anyhow::Result<CalendarDate> {
    CalendarDate::new(date.year(), date.month(), date.day())
        .with_context(|| format!("date {date:?}"))
}

fn amount(amount: &iso20022::Amount) -> anyhow::Result<Amount> {
    let currency = Currency::parse(amount.currency().as_str())
        .with_context(|| format!("currency of {amount}"))?;
    Amount::from_decimal(currency, amount.value().abs()).with_context(|| format!("amount {amount}"))
}

fn direction(credit_debit: iso20022::CreditDebit) -> Direction {
    match credit_debit {
        iso20022::CreditDebit::Credit => Direction::Credit,
        iso20022::CreditDebit::Debit => Direction::Debit,
    }
}

impl StatementBuilder {
    fn new(statement: iso20022::Statement) -> anyhow::Result<StatementBuilder> {
        let id = statement.id.clone();
        let account = statement
            .account
            .as_ref()
            .with_context(|| format!("statement {id} names no account"))?;
        let reference = match &account.id {
            iso20022::AccountId::Iban(iban) => iban.as_str().to_owned(),
            iso20022::AccountId::Other(other) => other.clone(),
        };
        let account = AccountReference::parse(&reference)
            .with_context(|| format!("statement {id} account {reference:?}"))?;
        let balance = |code: &str| -> anyhow::Result<_> {
            let Some(balance) = statement
                .balances
                .iter()
                .find(|balance| balance.type_code == code)
            else {
                return Ok(None);
            };
            let value = balance
                .amount
                .as_ref()
                .with_context(|| format!("statement {id} balance {code} has no amount"))?;
            Ok(Some((
                StatementBalance {
                    amount: amount(value)?,
                    direction: direction(
                        balance
                            .credit_debit
                            .unwrap_or(iso20022::CreditDebit::Credit),
                    ),
                },
                balance.date.as_ref().map(date).transpose()?,
            )))
        };
        Ok(StatementBuilder {
            opening: balance("OPBD")?,
            closing: balance("CLBD")?,
            statement_id: id,
            account,
            entries_seen: 0,
            entries: Vec::new(),
        })
    }

    fn add(&mut self, entry: iso20022::Entry) -> anyhow::Result<()> {
        self.entries_seen += 1;
        let position = self.entries_seen;
        if entry
            .status
            .as_deref()
            .is_some_and(|status| status != "BOOK")
        {
            return Ok(());
        }
        let context = || format!("statement {} entry {position}", self.statement_id);
        let entry_direction = direction(
            entry
                .credit_debit
                .with_context(|| format!("{}: no CdtDbtInd", context()))?,
        );
        let value_date = entry.value_date.as_ref().map(date).transpose()?;
        let booking_date = entry.booking_date.as_ref().map(date).transpose()?;
        let references = |detail: Option<&iso20022::EntryDetail>| EntryReferences {
            account_servicer_reference: detail
                .and_then(|detail| detail.account_servicer_reference.clone())
                .or_else(|| entry.account_servicer_reference.clone()),
            end_to_end_id: detail.and_then(|detail| detail.end_to_end_id.clone()),
            transaction_id: detail.and_then(|detail| detail.transaction_id.clone()),
            instruction_id: detail.and_then(|detail| detail.instruction_id.clone()),
            uetr: detail
                .and_then(|detail| detail.uetr.as_ref().map(|uetr| uetr.as_str().to_owned())),
        };
        let batch =
            entry.details.len() > 1 && entry.details.iter().all(|detail| detail.amount.is_some());
        if batch {
            for (number, detail) in entry.details.iter().enumerate() {
                self.entries.push(StatementEntry {
                    position: format!("{position}.{}", number + 1),
                    amount: amount(detail.amount.as_ref().expect("checked above"))
                        .with_context(context)?,
                    direction: detail.credit_debit.map_or(entry_direction, direction),
                    value_date,
                    booking_date,
                    references: references(Some(detail)),
                });
            }
        } else {
            let value = entry
                .amount
                .as_ref()
                .with_context(|| format!("{}: no amount", context()))?;
            self.entries.push(StatementEntry {
                position: position.to_string(),
                amount: amount(value).with_context(context)?,
                direction: entry_direction,
                value_date,
                booking_date,
                references: references(entry.details.first()),
            });
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<StatementInput> {
        let dates = || {
            self.entries
                .iter()
                .filter_map(|entry| entry.booking_date.or(entry.value_date))
        };
        let from = self
            .opening
            .and_then(|(_, date)| date)
            .or_else(|| dates().min())
            .with_context(|| {
                format!(
                    "statement {} gives no period (no dated OPBD balance, no dated entries)",
                    self.statement_id
                )
            })?;
        let to = self
            .closing
            .and_then(|(_, date)| date)
            .or_else(|| dates().max())
            .unwrap_or(from);
        if to < from {
            bail!(
                "statement {}: closing date {to} before opening date {from}",
                self.statement_id
            );
        }
        Ok(StatementInput {
            statement_id: self.statement_id,
            account: self.account,
            from,
            to,
            opening_booked: self.opening.map(|(balance, _)| balance),
            closing_booked: self.closing.map(|(balance, _)| balance),
            entries: self.entries,
        })
    }
}

// ------------------------------------------------------------------ output

/// Writes the report in `format`.
pub fn write_report(
    report: &AuditReport,
    format: OutputFormat,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Table => write_table(report, out),
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &report_json(report))?;
            writeln!(out)
        }
        OutputFormat::Csv => write_csv(report, out),
    }?;
    out.flush()
}

fn summary(report: &AuditReport) -> String {
    let counts = &report.counts;
    let mut text = format!(
        "snapshot at {}: {} accounts, {} payments, {} transfers, {} outbox rows",
        report.as_of, counts.accounts, counts.payments, counts.transfers, counts.outbox_rows
    );
    if counts.statements > 0 {
        text.push_str(&format!(
            "; {} statement(s) with {} booked entries",
            counts.statements, counts.statement_entries
        ));
    }
    text
}

fn write_table(report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
    if report.is_clean() {
        writeln!(out, "reconcile: clean ({})", summary(report))?;
    } else {
        writeln!(
            out,
            "reconcile: {} discrepancies ({})",
            report.discrepancies.len(),
            summary(report)
        )?;
        let rows: Vec<[String; 3]> = report
            .discrepancies
            .iter()
            .map(|d| [d.code().to_owned(), d.subject(), d.detail()])
            .collect();
        let width = |column: usize, title: &str| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        };
        let (code_width, subject_width) = (width(0, "CODE"), width(1, "SUBJECT"));
        writeln!(out)?;
        writeln!(
            out,
            "{:<code_width$}  {:<subject_width$}  DETAIL",
            "CODE", "SUBJECT"
        )?;
        for [code, subject, detail] in &rows {
            writeln!(
                out,
                "{code:<code_width$}  {subject:<subject_width$}  {detail}"
            )?;
        }
    }
    for code in &report.truncated {
        writeln!(
            out,
            "note: {code}: only the first {} discrepancies are listed",
            ledger::audit::DISCREPANCIES_PER_CHECK_MAX
        )?;
    }
    if report.counts.conflicts_recorded > 0 {
        writeln!(
            out,
            "note: {} refusals (BUSINESS_KEY_CONFLICT, STATE_CONFLICT, \
             DEBIT_ACCOUNT_OUT_OF_SCOPE) are recorded in payment_conflicts",
            report.counts.conflicts_recorded
        )?;
    }
    if report.counts.admin_changes_recorded > 0 {
        writeln!(
            out,
            "note: {} administrative changes recorded (ledger audit-log); the latest {}:",
            report.counts.admin_changes_recorded,
            report.latest_admin_changes.len()
        )?;
        for change in &report.latest_admin_changes {
            writeln!(out, "  {}", admin_change_text(change))?;
        }
    }
    Ok(())
}

fn report_json(report: &AuditReport) -> serde_json::Value {
    let counts = &report.counts;
    serde_json::json!({
        "clean": report.is_clean(),
        "as_of": report.as_of,
        "counts": {
            "accounts": counts.accounts,
            "payments": counts.payments,
            "transfers": counts.transfers,
            "outbox_rows": counts.outbox_rows,
            "conflicts_recorded": counts.conflicts_recorded,
            "admin_changes_recorded": counts.admin_changes_recorded,
            "statements": counts.statements,
            "statement_entries": counts.statement_entries,
        },
        "discrepancies": report.discrepancies.iter().map(|d| serde_json::json!({
            "code": d.code(),
            "subject": d.subject(),
            "detail": d.detail(),
        })).collect::<Vec<_>>(),
        "truncated": report.truncated,
        "latest_admin_changes": report.latest_admin_changes.iter().map(|change| serde_json::json!({
            "change_id": change.change_id,
            "changed_at": crate::confirmation::iso_date_time(change.changed_at),
            "client_id": change.client_id.as_str(),
            "action": change.action.as_str(),
            "subject": change.subject,
            "value_before": change.value_before,
            "value_after": change.value_after,
        })).collect::<Vec<_>>(),
    })
}

/// One administrative change on one line: id, time, who, what, before -> after.
pub fn admin_change_text(change: &ledger::model::AdminChange) -> String {
    format!(
        "{} {} {} {} {}: {} -> {}",
        change.change_id,
        crate::confirmation::iso_date_time(change.changed_at),
        change.client_id,
        change.action,
        change.subject,
        change.value_before.as_deref().unwrap_or("(none)"),
        change.value_after,
    )
}

/// One CSV field: quoted when it holds a comma, a quote or a line break,
/// with quotes doubled (RFC 4180).
pub fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn write_csv(report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
    write!(out, "code,subject,detail\r\n")?;
    for discrepancy in &report.discrepancies {
        write!(
            out,
            "{},{},{}\r\n",
            csv_field(discrepancy.code()),
            csv_field(&discrepancy.subject()),
            csv_field(&discrepancy.detail())
        )?;
    }
    Ok(())
}
