//! `ledger ingest`: applies the transactions of ISO 20022 files
//! (pain.001, pacs.008, pacs.002, pacs.004; bare or with an AppHdr) exactly
//! once, streaming, in batches through [`Ledger::apply_batch`].
//!
//! Each transaction is its own [`ApplyCommand`] whose idempotency key is
//! derived from the file's identity, not from the payment's business key:
//! `ingest-v1:` and the hex SHA-256 of a length-prefixed encoding of the
//! message definition id, the group header's MsgId, the transaction's position
//! in the file and its ids (PmtInfId, InstrId, EndToEndId, TxId, UETR, and the
//! StsId or RtrId of a status report or return). Running the same file again,
//! after a clean end or after a kill at any moment, replays what was applied
//! and applies the rest; two runs at once apply each transaction once (the
//! ledger serializes them, the loser replays).
//!
//! Memory is bounded: the file is read with [`iso20022::MessageReader`], one
//! batch is held at a time, and the JSON-lines report and the status report
//! are written as the batches are applied (the status report's transactions
//! are spooled to a file beside it until the group status is known).
//!
//! A rejection is stored under its key, so running a file again replays it
//! as first given (the summary counts these); `--retry-rejected` sends such
//! a transaction again under a key derived from its own and a retry round
//! ([`retry`]), so a retry is applied once too.
//!
//! Every input file is checked readable before anything starts (the
//! database, the reports): a missing one stops the run with exit 2 and
//! nothing ingested.
//!
//! Exit codes: 0 every transaction applied, already applied or a duplicate;
//! 1 some transactions rejected by the ledger, invalid, or left out of a
//! refused file; 2 ingest could not run (see [`EXIT_FAILED`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use iso20022::{
    ConfirmationStatus, GroupHeader, IsoDateTime, MessageFamily, MessageKind, MessageReader,
    PaymentInfo, ReasonCode, ReportGroupStatus, StatusReportHead, StatusReportWriter, Transaction,
    TransactionConfirmation, Uetr,
};
use ledger::model::{ClientId, DocumentOrigin, IdempotencyKey, Outcome, PaymentState};
use ledger::{ApplyCommand, ApplyResponse, Ledger, LedgerError, LedgerOptions};
use sha2::{Digest, Sha256};

use crate::convert::{self, Settlement};
use crate::database::Database;

mod additional_info;
mod progress;
mod retry;
mod status_report;

use progress::{print_summary, Progress};
use status_report::StatusOutput;

/// Exit code: every transaction was applied, already applied, or a duplicate.
pub const EXIT_OK: i32 = 0;
/// Exit code: some transactions were rejected by the ledger or invalid, or a
/// file was refused (malformed, truncated, unsupported, group checks failed).
pub const EXIT_PROBLEMS: i32 = 1;
/// Exit code: ingest could not run, or stopped: bad arguments, a FILE that
/// cannot be opened or read, the database unreachable or a batch failing
/// after retries, a report that cannot be written. What was applied before
/// stays applied; running the same command again applies the rest.
pub const EXIT_FAILED: i32 = 2;

/// The prefix of every idempotency key ingest derives; the version changes
/// if the derivation ever does.
pub const KEY_PREFIX: &str = "ingest-v1:";

/// Attempts of one batch that fails as a whole with a retryable error
/// (the ledger has already retried serialization failures inside).
const BATCH_ATTEMPTS_MAX: u32 = 5;
/// Errors of one transaction or file quoted in the report, then "and N more".
const ERRORS_QUOTED_MAX: usize = 5;
/// Problems of a refused file printed on standard error, then "and N more".
const PROBLEMS_PRINTED_MAX: usize = 20;
/// Rejected and invalid transactions of a run named on standard error (file,
/// position, path, reason), then "and N more".
const REFUSALS_NAMED_MAX: u64 = 10;
/// Read buffer of an input file.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// What to do with a file that has invalid transactions or file-level errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Check the whole file first (parse, convert every transaction, group
    /// header counts and sums); apply nothing of it if anything is wrong.
    RejectFile,
    /// Apply the good transactions, report the bad ones with their path and
    /// reason.
    Skip,
}

/// The options of `ledger ingest`.
/// `--settlement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SettlementArg {
    Immediate,
    OnConfirmation,
}

impl From<SettlementArg> for Settlement {
    fn from(settlement: SettlementArg) -> Settlement {
        match settlement {
            SettlementArg::Immediate => Settlement::Immediate,
            SettlementArg::OnConfirmation => Settlement::OnConfirmation,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// ISO 20022 files: pain.001, pacs.008, pacs.002 or pacs.004, bare or with
    /// an AppHdr (and the envelopes real files use). Applied in the order given.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The client the idempotency keys belong to. Use one per sender whose
    /// MsgIds could collide with another's.
    #[arg(long, default_value = "ingest")]
    pub client_id: String,
    /// Transactions per database transaction (one SERIALIZABLE transaction
    /// per batch), at most the ledger's batch_size_max (1000).
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// reject-file: check each file whole first and apply nothing of a file
    /// with an invalid transaction or a file-level error. skip: apply the
    /// good transactions and report the bad ones; a file-level error met
    /// after batches were applied (a truncated file) stops that file there:
    /// what was applied stays applied, every complete transaction before the
    /// error is applied, nothing after it is read; running again on the
    /// repaired file applies the rest once.
    #[arg(long, value_enum, default_value_t = OnError::RejectFile)]
    pub on_error: OnError,
    /// Write one JSON line per transaction (file, position, path,
    /// idempotency_key, business_key, outcome, reason, payment_id, state,
    /// replay, retry_round) to FILE, as batches are applied; a file-level
    /// error is a line with outcome FILE_ERROR and no position.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write a status report back to the sender: a pain.002.001.10 for a
    /// pain.001, a pacs.002.001.10 for a pacs.008, with every transaction's
    /// status (ACSC, PDNG, or RJCT with a reason) and a group status (ACSC
    /// all accepted, PART some, RJCT none). Takes exactly one FILE.
    #[arg(long, value_name = "FILE")]
    pub status_report: Option<PathBuf>,
    /// When the credit transfers settle: `immediate` (SETTLED when applied)
    /// or `on-confirmation` (PENDING, a hold, until a pacs.002 settles or
    /// voids it). Default: the message's, a pain.001 held, a pacs.008 at
    /// once. Part of each transaction's fingerprint: ingesting a file again
    /// with another choice is refused as a reused key.
    #[arg(long, value_enum)]
    pub settlement: Option<SettlementArg>,
    /// Without a terminal, log progress to standard error every this many
    /// transactions...
    #[arg(long, default_value_t = 50_000)]
    pub progress_every_transactions: u64,
    /// ...or every this many seconds, whichever comes first.
    #[arg(long, default_value_t = 10)]
    pub progress_every_seconds: u64,
    /// Longest one database statement may run, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub statement_timeout_ms: u64,
    /// Apply again the transactions whose stored answer is a rejection (after
    /// fixing its cause, e.g. opening the missing account). Without it, a
    /// rejection stored by an earlier run is replayed as it was first given.
    /// Each retry is sent under a new idempotency key derived from the
    /// transaction's key and the retry round (ingest-v1-retry-<n>:...), so a
    /// retry is applied once however often it is run. BUSINESS_KEY_CONFLICT
    /// and STATE_CONFLICT are not retried: no fix makes them apply.
    #[arg(long)]
    pub retry_rejected: bool,
}

/// Runs `ledger ingest` and returns its exit code. The summary goes to
/// standard output, progress and problems to standard error.
pub async fn main(database_url: Option<&str>, data_dir: PathBuf, args: &IngestArgs) -> i32 {
    let options = LedgerOptions {
        pool_size_max: 2,
        statement_timeout_ms: args.statement_timeout_ms,
        ..LedgerOptions::default()
    };
    let client_id = match check_arguments(args, &options) {
        Ok(client_id) => client_id,
        Err(error) => {
            eprintln!("ingest: {error}");
            return EXIT_FAILED;
        }
    };
    let unreadable = unreadable_files(&args.files);
    if !unreadable.is_empty() {
        for problem in &unreadable {
            eprintln!("ingest: {problem}");
        }
        eprintln!(
            "ingest: nothing was ingested: {} of {} FILE(s) cannot be read",
            unreadable.len(),
            args.files.len()
        );
        return EXIT_FAILED;
    }
    let report = match &args.report {
        Some(path) => match File::create(path) {
            Ok(file) => Some(BufWriter::new(file)),
            Err(error) => {
                eprintln!(
                    "ingest: cannot create the report {}: {error}",
                    path.display()
                );
                return EXIT_FAILED;
            }
        },
        None => None,
    };
    let database = match Database::open(database_url, data_dir).await {
        Ok(database) => database,
        Err(error) => {
            eprintln!("ingest: cannot open the database: {error:#}");
            return EXIT_FAILED;
        }
    };
    eprintln!("database: {}", database.description);
    let code = match Ledger::connect(database.config.clone(), options) {
        Ok(ledger) => {
            let code = match ledger.migrate().await {
                Ok(_) => {
                    let mut run = Run::new(ledger.clone(), args, client_id, report);
                    run.all().await
                }
                Err(error) => {
                    eprintln!(
                        "ingest: cannot migrate the database: {}",
                        error_chain(&error)
                    );
                    EXIT_FAILED
                }
            };
            drop(ledger);
            code
        }
        Err(error) => {
            eprintln!("ingest: {}", error_chain(&error));
            EXIT_FAILED
        }
    };
    if let Err(error) = database.close().await {
        eprintln!("ingest: closing the database: {error:#}");
    }
    code
}

fn check_arguments(args: &IngestArgs, options: &LedgerOptions) -> Result<ClientId, String> {
    if args.batch_size == 0 || args.batch_size > options.batch_size_max {
        return Err(format!(
            "--batch-size {} is not between 1 and {} (batch_size_max)",
            args.batch_size, options.batch_size_max
        ));
    }
    if args.status_report.is_some() && args.files.len() != 1 {
        return Err(format!(
            "--status-report takes exactly one FILE ({} given)",
            args.files.len()
        ));
    }
    ClientId::parse(&args.client_id).map_err(|error| format!("--client-id: {error}"))
}

/// Every input file that cannot be opened for reading as a regular file,
/// with why: checked before anything starts (the database, the reports), so
/// a mistyped name costs nothing and applies nothing.
fn unreadable_files(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter_map(|path| {
            let problem = match std::fs::metadata(path) {
                Ok(metadata) if !metadata.is_file() => Some("not a regular file".to_owned()),
                Ok(_) => File::open(path).err().map(|error| error.to_string()),
                Err(error) => Some(error.to_string()),
            };
            problem.map(|problem| format!("{}: cannot read: {problem}", path.display()))
        })
        .collect()
}

/// The error and its sources, `: `-separated.
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

// ------------------------------------------------------------------ the run

/// Counts over the whole run, for the summary.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub files: u64,
    pub files_refused: u64,
    /// Transactions read in apply passes (valid and invalid).
    pub transactions: u64,
    pub applied: u64,
    /// Replays of applied transactions, and ALREADY_APPLIED outcomes.
    pub already_applied: u64,
    pub duplicates: u64,
    /// By reason code (ledger refusals, IDEMPOTENCY_KEY_REUSED).
    pub rejected: BTreeMap<String, u64>,
    pub invalid: u64,
    /// Valid transactions of files refused under reject-file, or read after
    /// a file that changed between the check and the apply.
    pub not_applied: u64,
    /// Answers replayed from idempotency records (any outcome).
    pub replays: u64,
    /// Replays whose outcome is REJECTED: the rejection stored when the
    /// transaction was first ingested, not a new attempt (counted in
    /// `rejected` and `replays` too).
    pub replayed_rejections: u64,
    /// Stored rejections sent again under a new retry key
    /// (`--retry-rejected`), answered afresh.
    pub retried: u64,
    pub file_errors: u64,
}

impl Totals {
    fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    fn exit_code(&self) -> i32 {
        if self.rejected_total() + self.invalid + self.not_applied + self.file_errors > 0 {
            EXIT_PROBLEMS
        } else {
            EXIT_OK
        }
    }
}

/// A reason to stop the whole run with [`EXIT_FAILED`].
#[derive(Debug)]
struct Fatal(String);

struct Run<'a> {
    ledger: Ledger,
    args: &'a IngestArgs,
    client_id: ClientId,
    report: Option<BufWriter<File>>,
    totals: Totals,
    /// A file could not be read: exit 2 at the end, after the other files.
    unreadable_files: u64,
    /// Rejected and invalid transactions named on standard error so far, and
    /// those past [`REFUSALS_NAMED_MAX`].
    refusals_named: u64,
    refusals_unnamed: u64,
    terminal: bool,
}

impl<'a> Run<'a> {
    fn new(
        ledger: Ledger,
        args: &'a IngestArgs,
        client_id: ClientId,
        report: Option<BufWriter<File>>,
    ) -> Run<'a> {
        Run {
            ledger,
            args,
            client_id,
            report,
            totals: Totals::default(),
            unreadable_files: 0,
            refusals_named: 0,
            refusals_unnamed: 0,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    async fn all(&mut self) -> i32 {
        let started = Instant::now();
        let mut fatal = None;
        let args = self.args;
        for path in &args.files {
            self.totals.files += 1;
            if let Err(error) = self.file(path).await {
                fatal = Some(error);
                break;
            }
        }
        if let Some(report) = &mut self.report {
            if let Err(error) = report.flush() {
                fatal.get_or_insert(Fatal(format!("cannot write the report: {error}")));
            }
        }
        if self.refusals_unnamed > 0 {
            let more = self.refusals_unnamed;
            match &args.report {
                Some(report) => eprintln!(
                    "ingest: and {more} more rejected or invalid transaction(s): every one is in the report {}",
                    report.display()
                ),
                None => eprintln!(
                    "ingest: and {more} more rejected or invalid transaction(s): use --report FILE to list them all"
                ),
            }
        }
        print_summary(&self.totals, started.elapsed(), args.retry_rejected);
        if let Some(Fatal(reason)) = fatal {
            eprintln!("ingest: stopped: {reason}");
            eprintln!("ingest: what was applied stays applied; run the same command again to apply the rest");
            return EXIT_FAILED;
        }
        if self.unreadable_files > 0 {
            return EXIT_FAILED;
        }
        self.totals.exit_code()
    }

    /// Ingests one file. `Err` stops the run (exit 2); a file refused for its
    /// content is `Ok` with the problem counted.
    async fn file(&mut self, path: &Path) -> Result<(), Fatal> {
        let name = path.display().to_string();
        let stamp = match FileStamp::of(path) {
            Ok(stamp) => stamp,
            Err(error) => {
                eprintln!("ingest: {name}: cannot read: {error}");
                self.unreadable_files += 1;
                return Ok(());
            }
        };
        let header = match open_reader(path) {
            Ok(Ok(reader)) => FileHeader::of(&reader, self.args.settlement.map(Settlement::from)),
            Ok(Err(errors)) => {
                self.refuse_file(&name, &errors.to_string())?;
                return Ok(());
            }
            Err(error) => {
                eprintln!("ingest: {name}: cannot read: {error}");
                self.unreadable_files += 1;
                return Ok(());
            }
        };
        if !convert::is_payment_message(&header.kind) {
            let mut reason = format!(
                "{} is not a payment message; ingest reads pain.001, pacs.008, pacs.002 and pacs.004",
                header.kind.id
            );
            if header.kind.family == MessageFamily::Camt053 {
                reason.push_str(&format!(
                    ". It is a bank statement: to compare it with the ledger, run `ledger reconcile --statement {name}`"
                ));
            }
            self.refuse_file(&name, &reason)?;
            return Ok(());
        }
        let mut status = match &self.args.status_report {
            Some(target) => StatusOutput::start(target, &name, &header)?,
            None => None,
        };
        let refused = match self.args.on_error {
            OnError::Skip => None,
            OnError::RejectFile => self.check(path, &name, &header)?,
        };
        let mode = match &refused {
            Some(_) => PassMode::ReportOnly,
            None => PassMode::Apply,
        };
        if let Some(problems) = &refused {
            self.totals.files_refused += 1;
            eprintln!(
                "ingest: {name}: refused (--on-error reject-file), nothing of it applied: {} problem(s)",
                problems.count
            );
            for line in &problems.first {
                eprintln!("ingest: {name}:   {line}");
            }
            if problems.count > problems.first.len() as u64 {
                let more = problems.count - problems.first.len() as u64;
                match &self.args.report {
                    Some(report) => eprintln!(
                        "ingest: {name}:   and {more} more: every one is in the report {}",
                        report.display()
                    ),
                    None => eprintln!(
                        "ingest: {name}:   and {more} more: use --report FILE to list them all"
                    ),
                }
            }
        }
        if stamp.changed_since(path) {
            return Err(Fatal(format!("{name} changed while it was being read")));
        }
        let outcome = self
            .pass(path, &name, &header, mode, status.as_mut())
            .await?;
        if mode == PassMode::Apply && stamp.changed_since(path) {
            self.totals.file_errors += 1;
            self.report_file_error(&name, "the file changed while it was being applied")?;
        }
        if let Some(status) = status {
            let group = outcome.group_status(refused.is_some());
            status.finish(group)?;
        }
        Ok(())
    }

    /// A file refused before any transaction was read: a FILE_ERROR line.
    fn refuse_file(&mut self, name: &str, reason: &str) -> Result<(), Fatal> {
        self.totals.files_refused += 1;
        self.totals.file_errors += 1;
        eprintln!("ingest: {name}: refused: {reason}");
        self.report_file_error(name, reason)
    }

    fn report_file_error(&mut self, name: &str, reason: &str) -> Result<(), Fatal> {
        let line = serde_json::json!({
            "file": name,
            "position": null,
            "path": null,
            "idempotency_key": null,
            "business_key": null,
            "outcome": "FILE_ERROR",
            "reason": "FILE_ERROR",
            "reason_message": reason,
            "payment_id": null,
            "state": null,
            "replay": false,
        });
        self.write_report_line(&line)
    }

    fn write_report_line(&mut self, line: &serde_json::Value) -> Result<(), Fatal> {
        if let Some(report) = &mut self.report {
            serde_json::to_writer(&mut *report, line)
                .and_then(|()| report.write_all(b"\n").map_err(serde_json::Error::io))
                .map_err(|error| Fatal(format!("cannot write the report: {error}")))?;
        }
        Ok(())
    }

    /// The validating pass of `--on-error reject-file`: reads, converts and
    /// checks every transaction and the group header, applies nothing.
    /// `Some` when the file must be refused.
    fn check(
        &mut self,
        path: &Path,
        name: &str,
        header: &FileHeader,
    ) -> Result<Option<Problems>, Fatal> {
        let mut reader = match open_reader(path) {
            Ok(Ok(reader)) => reader,
            Ok(Err(errors)) => {
                return Err(Fatal(format!(
                    "{name} changed while it was being read: {errors}"
                )))
            }
            Err(error) => return Err(Fatal(format!("{name}: cannot read: {error}"))),
        };
        let mut cursor = Cursor::new(header);
        let mut problems = Problems::default();
        let mut progress = Progress::new(self, name, "checking", header.total());
        let mut seen = 0u64;
        while let Some(item) = reader.next_transaction() {
            match cursor.classify(item) {
                Item::Skip => {}
                Item::Entry(entry) => {
                    seen += 1;
                    if let EntryBody::Invalid { reason } = &entry.body {
                        problems.add(format!("{}: {reason}", entry.path));
                    }
                }
                Item::FileError { reason, .. } => problems.add(reason),
            }
            if seen.is_multiple_of(1024) {
                progress.update(seen, None);
            }
        }
        progress.finish(seen);
        Ok((problems.count > 0).then_some(problems))
    }

    /// Reads the file once more and applies it in batches (`Apply`), or only
    /// writes what each transaction's fate is (`ReportOnly`, for a refused
    /// file).
    async fn pass(
        &mut self,
        path: &Path,
        name: &str,
        header: &FileHeader,
        mode: PassMode,
        mut status: Option<&mut StatusOutput>,
    ) -> Result<FileOutcome, Fatal> {
        let mut reader = match open_reader(path) {
            Ok(Ok(reader)) => reader,
            Ok(Err(errors)) => {
                return Err(Fatal(format!(
                    "{name} changed while it was being read: {errors}"
                )))
            }
            Err(error) => return Err(Fatal(format!("{name}: cannot read: {error}"))),
        };
        let mut cursor = Cursor::new(header);
        let mut batch = Batch::default();
        let mut outcome = FileOutcome::default();
        let label = match mode {
            PassMode::Apply => "applying",
            PassMode::ReportOnly => "reporting",
        };
        let mut progress = Progress::new(self, name, label, header.total());
        while let Some(item) = reader.next_transaction() {
            match cursor.classify(item) {
                Item::Skip => {}
                Item::Entry(entry) => {
                    batch.push(entry, &self.client_id, header);
                    if batch.entries.len() >= self.args.batch_size {
                        self.flush(name, &mut batch, mode, &mut outcome, status.as_deref_mut())
                            .await?;
                        progress.update(outcome.transactions, Some(&self.totals));
                    }
                }
                Item::FileError { reason, fatal } => {
                    outcome.file_errors += 1;
                    self.totals.file_errors += 1;
                    if mode == PassMode::Apply {
                        eprintln!("ingest: {name}: {reason}");
                    }
                    if fatal && mode == PassMode::Apply {
                        // Every complete transaction before the error is
                        // applied (skip; under reject-file the check pass
                        // found none of this, so the file changed).
                        if self.args.on_error == OnError::RejectFile {
                            batch.discard();
                        }
                    }
                    self.flush(name, &mut batch, mode, &mut outcome, status.as_deref_mut())
                        .await?;
                    self.report_file_error(name, &reason)?;
                    if fatal {
                        eprintln!(
                            "ingest: {name}: stopped at this error; transactions after it were not read"
                        );
                    }
                }
            }
        }
        self.flush(name, &mut batch, mode, &mut outcome, status)
            .await?;
        progress.finish(outcome.transactions);
        Ok(outcome)
    }

    /// Applies (or, for a refused file, only reports) the batch and writes
    /// each transaction's line, in file order.
    async fn flush(
        &mut self,
        name: &str,
        batch: &mut Batch,
        mode: PassMode,
        outcome: &mut FileOutcome,
        mut status: Option<&mut StatusOutput>,
    ) -> Result<(), Fatal> {
        if batch.entries.is_empty() {
            return Ok(());
        }
        let mut responses: Vec<Option<_>> = match mode {
            PassMode::Apply => {
                let mut answers = self.apply(&batch.commands).await?;
                let mut rounds = vec![0; answers.len()];
                if self.args.retry_rejected {
                    self.retry_stored_rejections(&batch.commands, &mut answers, &mut rounds)
                        .await?;
                }
                answers.into_iter().zip(rounds).map(Some).collect()
            }
            PassMode::ReportOnly => Vec::new(),
        };
        let entries = std::mem::take(&mut batch.entries);
        batch.commands.clear();
        for entry in entries {
            outcome.transactions += 1;
            self.totals.transactions += 1;
            let fate = match &entry.body {
                EntryBody::Invalid { reason } => Fate::Invalid(reason.clone()),
                EntryBody::Valid { command_index, .. } => {
                    match responses.get_mut(*command_index).and_then(Option::take) {
                        Some((answer, retry_round)) => Fate::Answered {
                            answer,
                            retry_round,
                        },
                        None => Fate::NotApplied,
                    }
                }
            };
            let line = self.account(name, &entry, &fate, outcome);
            if mode == PassMode::Apply {
                self.name_refusal(&line);
            }
            self.write_report_line(&line)?;
            if let Some(status) = status.as_deref_mut() {
                status.transaction(&entry, &fate)?;
            }
        }
        if let Some(report) = &mut self.report {
            report
                .flush()
                .map_err(|error| Fatal(format!("cannot write the report: {error}")))?;
        }
        Ok(())
    }

    /// `--retry-rejected`: sends each command whose answer is a stored
    /// rejection again under the key of the next retry round, until its
    /// answer is not a stored rejection (see [`retry`]). `rounds[i]` is the
    /// round `answers[i]` came from (0: the command's own key).
    async fn retry_stored_rejections(
        &self,
        commands: &[ApplyCommand],
        answers: &mut [Result<ApplyResponse, LedgerError>],
        rounds: &mut [u32],
    ) -> Result<(), Fatal> {
        let mut waiting: Vec<usize> = (0..commands.len())
            .filter(|&index| retry::is_retryable_stored_rejection(&answers[index]))
            .collect();
        let mut round = 0;
        while !waiting.is_empty() {
            round += 1;
            if round > retry::RETRY_ROUNDS_MAX {
                eprintln!(
                    "ingest: {} transaction(s) were retried {} times already; their last stored rejection stands",
                    waiting.len(),
                    retry::RETRY_ROUNDS_MAX
                );
                break;
            }
            let retries: Vec<ApplyCommand> = waiting
                .iter()
                .map(|&index| retry::retry_command(&commands[index], round))
                .collect();
            let retried = self.apply(&retries).await?;
            let mut still_waiting = Vec::new();
            for (index, answer) in waiting.into_iter().zip(retried) {
                answers[index] = answer;
                rounds[index] = round;
                if retry::is_retryable_stored_rejection(&answers[index]) {
                    still_waiting.push(index);
                }
            }
            waiting = still_waiting;
        }
        Ok(())
    }

    /// Names a rejected or invalid transaction on standard error (file,
    /// position, path, reason), the first [`REFUSALS_NAMED_MAX`] of the run;
    /// counts the rest.
    fn name_refusal(&mut self, line: &serde_json::Value) {
        let outcome = line["outcome"].as_str().unwrap_or_default();
        if !matches!(outcome, "REJECTED" | "INVALID") {
            return;
        }
        if self.refusals_named >= REFUSALS_NAMED_MAX {
            self.refusals_unnamed += 1;
            return;
        }
        self.refusals_named += 1;
        let text = |field: &str| line[field].as_str().unwrap_or_default().to_owned();
        let mut message = format!(
            "ingest: {}: transaction {} at {}: ",
            text("file"),
            line["position"],
            text("path")
        );
        if outcome == "INVALID" {
            message.push_str(&format!(
                "INVALID: {}",
                additional_info::rule_first(&text("path"), &text("reason_message"))
            ));
        } else {
            message.push_str(&format!(
                "REJECTED {}: {}",
                text("reason"),
                text("reason_message")
            ));
            if line["replay"] == true {
                message.push_str(" (the answer stored when it was first ingested)");
            }
        }
        eprintln!("{message}");
    }

    /// One batch through the ledger, retried while the failure is retryable.
    async fn apply(
        &self,
        commands: &[ApplyCommand],
    ) -> Result<Vec<Result<ApplyResponse, LedgerError>>, Fatal> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let mut attempt = 1;
        loop {
            match self.ledger.apply_batch(commands).await {
                Ok(results) => {
                    assert_eq!(results.len(), commands.len(), "one result per command");
                    return Ok(results);
                }
                Err(error) if error.is_retryable() && attempt < BATCH_ATTEMPTS_MAX => {
                    eprintln!(
                        "ingest: a batch failed ({}), retrying ({attempt}/{BATCH_ATTEMPTS_MAX})",
                        error_chain(&error)
                    );
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    attempt += 1;
                }
                Err(error) => {
                    return Err(Fatal(format!(
                        "a batch of {} transactions failed: {}",
                        commands.len(),
                        error_chain(&error)
                    )))
                }
            }
        }
    }

    /// Counts a transaction's fate and returns its report line.
    fn account(
        &mut self,
        name: &str,
        entry: &Entry,
        fate: &Fate,
        outcome: &mut FileOutcome,
    ) -> serde_json::Value {
        let retry_round = match fate {
            Fate::Answered { retry_round, .. } => *retry_round,
            _ => 0,
        };
        let (key, business_key) = match &entry.body {
            EntryBody::Valid {
                key, business_key, ..
            } => {
                let key = match retry_round {
                    0 => key.clone(),
                    round => retry::retry_key(key, round),
                };
                (Some(key.as_str().to_owned()), Some(business_key.as_str()))
            }
            EntryBody::Invalid { .. } => (None, None),
        };
        let totals = &mut self.totals;
        let mut line = serde_json::json!({
            "file": name,
            "position": entry.position,
            "path": entry.path,
            "idempotency_key": key,
            "business_key": business_key,
            "outcome": null,
            "reason": null,
            "reason_message": null,
            "payment_id": null,
            "state": null,
            "replay": false,
            "retry_round": retry_round,
        });
        match fate {
            Fate::Invalid(reason) => {
                totals.invalid += 1;
                outcome.refused += 1;
                line["outcome"] = "INVALID".into();
                line["reason"] = "INVALID".into();
                line["reason_message"] = reason.as_str().into();
            }
            Fate::NotApplied => {
                totals.not_applied += 1;
                outcome.refused += 1;
                line["outcome"] = "NOT_APPLIED".into();
                line["reason"] = "FILE_REFUSED".into();
                line["reason_message"] =
                    "not applied: the file was refused (--on-error reject-file)".into();
            }
            Fate::Answered {
                answer: Err(error), ..
            } => {
                let code = match error {
                    LedgerError::IdempotencyKeyReused { .. } => "IDEMPOTENCY_KEY_REUSED",
                    _ => "ERROR",
                };
                *totals.rejected.entry(code.to_owned()).or_default() += 1;
                outcome.refused += 1;
                line["outcome"] = "REJECTED".into();
                line["reason"] = code.into();
                line["reason_message"] = error_chain(error).into();
            }
            Fate::Answered {
                answer: Ok(response),
                retry_round,
            } => {
                let receipt = &response.receipts[0];
                if response.replay {
                    totals.replays += 1;
                    if matches!(receipt.outcome, Outcome::Rejected(_)) {
                        totals.replayed_rejections += 1;
                    }
                } else if *retry_round > 0 {
                    totals.retried += 1;
                }
                match &receipt.outcome {
                    Outcome::Applied if response.replay => totals.already_applied += 1,
                    Outcome::Applied => totals.applied += 1,
                    Outcome::AlreadyApplied => totals.already_applied += 1,
                    Outcome::Duplicate => totals.duplicates += 1,
                    Outcome::Rejected(reason) => {
                        *totals.rejected.entry(reason.code().to_owned()).or_default() += 1;
                        line["reason"] = reason.code().into();
                        line["reason_message"] = reason.message().into();
                    }
                }
                if matches!(receipt.outcome, Outcome::Rejected(_)) {
                    outcome.refused += 1;
                } else {
                    outcome.accepted += 1;
                }
                line["outcome"] = receipt.outcome.code().into();
                line["payment_id"] = receipt.payment_id.map(|id| id.0).into();
                line["state"] = receipt.state.map(PaymentState::as_str).into();
                line["replay"] = response.replay.into();
            }
        }
        line
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassMode {
    Apply,
    ReportOnly,
}

/// What happened to one transaction.
enum Fate {
    Invalid(String),
    NotApplied,
    /// The ledger's answer, and the retry round it came from (0: the
    /// transaction's own key; `--retry-rejected`).
    Answered {
        answer: Result<ApplyResponse, LedgerError>,
        retry_round: u32,
    },
}

/// One file's counts, for its group status.
#[derive(Debug, Default)]
struct FileOutcome {
    transactions: u64,
    accepted: u64,
    refused: u64,
    file_errors: u64,
}

impl FileOutcome {
    fn group_status(&self, file_refused: bool) -> ReportGroupStatus {
        let code = |code: &str| ReasonCode::new(code).expect("a valid reason code");
        if file_refused {
            ReportGroupStatus::Rejected(code(REASON_FILE_FORMAT))
        } else if self.accepted == 0 && (self.refused > 0 || self.file_errors > 0) {
            ReportGroupStatus::Rejected(code(if self.file_errors > 0 {
                REASON_FILE_FORMAT
            } else {
                REASON_NARRATIVE
            }))
        } else if self.refused > 0 || self.file_errors > 0 {
            ReportGroupStatus::PartiallyAccepted
        } else {
            ReportGroupStatus::Settled
        }
    }
}

/// The first problems of a refused file, and how many there were.
#[derive(Debug, Default)]
struct Problems {
    count: u64,
    first: Vec<String>,
}

impl Problems {
    fn add(&mut self, problem: String) {
        self.count += 1;
        if self.first.len() < PROBLEMS_PRINTED_MAX {
            self.first.push(problem);
        }
    }
}

/// Size and modification time, to notice a file changing under us.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    length: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<FileStamp> {
        let metadata = std::fs::metadata(path)?;
        if !metadata.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        Ok(FileStamp {
            length: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }

    fn changed_since(&self, path: &Path) -> bool {
        FileStamp::of(path).map_or(true, |now| now != *self)
    }
}

type FileReader = MessageReader<BufReader<File>>;

fn open_reader(path: &Path) -> std::io::Result<Result<FileReader, iso20022::Errors>> {
    let file = File::open(path)?;
    Ok(MessageReader::new(BufReader::with_capacity(
        READ_BUFFER_BYTES,
        file,
    )))
}

/// What a file says before its transactions.
#[derive(Debug, Clone)]
struct FileHeader {
    kind: MessageKind,
    group: GroupHeader,
    origin: DocumentOrigin,
    /// When the file's credit transfers settle, if `--settlement` says.
    settlement: Option<Settlement>,
}

impl FileHeader {
    fn of<R: BufRead>(reader: &MessageReader<R>, settlement: Option<Settlement>) -> FileHeader {
        let kind = reader.kind();
        let group = reader.group_header().clone();
        FileHeader {
            origin: DocumentOrigin {
                message_id: group.message_id.clone(),
                message_name_id: kind.id.to_owned(),
            },
            kind,
            group,
            settlement,
        }
    }

    /// The number of transactions the group header announces.
    fn total(&self) -> Option<u64> {
        self.group.number_of_transactions
    }
}

// ------------------------------------------------- transactions of a file

/// The ids of a transaction that go into its idempotency key (and, for
/// pain.001 and pacs.008, into its status report entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionIds {
    pub payment_info_id: Option<String>,
    pub instruction_id: Option<String>,
    pub end_to_end_id: Option<String>,
    pub transaction_id: Option<String>,
    pub uetr: Option<String>,
    /// The status report's StsId (pacs.002) or the return's RtrId (pacs.004).
    pub own_id: Option<String>,
}

impl TransactionIds {
    fn of(transaction: &Transaction) -> TransactionIds {
        match transaction {
            Transaction::CreditTransfer(transfer) => TransactionIds {
                payment_info_id: transfer
                    .payment_info
                    .as_ref()
                    .map(|info| info.payment_info_id.clone()),
                instruction_id: transfer.instruction_id.clone(),
                end_to_end_id: Some(transfer.end_to_end_id.clone()),
                transaction_id: transfer.transaction_id.clone(),
                uetr: transfer.uetr.as_ref().map(|uetr| uetr.as_str().to_owned()),
                own_id: None,
            },
            Transaction::TransactionStatus(status) => TransactionIds {
                payment_info_id: status.original_payment_info_id.clone(),
                instruction_id: status.original_instruction_id.clone(),
                end_to_end_id: status.original_end_to_end_id.clone(),
                transaction_id: status.original_transaction_id.clone(),
                uetr: status
                    .original_uetr
                    .as_ref()
                    .map(|uetr| uetr.as_str().to_owned()),
                own_id: status.status_id.clone(),
            },
            Transaction::PaymentReturn(payment_return) => TransactionIds {
                payment_info_id: None,
                instruction_id: payment_return.original_instruction_id.clone(),
                end_to_end_id: payment_return.original_end_to_end_id.clone(),
                transaction_id: payment_return.original_transaction_id.clone(),
                uetr: payment_return
                    .original_uetr
                    .as_ref()
                    .map(|uetr| uetr.as_str().to_owned()),
                own_id: payment_return.return_id.clone(),
            },
            _ => TransactionIds::default(),
        }
    }
}

/// The idempotency key of the transaction at `position` (1-based, as the
/// reader counts) of the message `message_name_id` with group header MsgId
/// `message_id`: `ingest-v1:` and the hex SHA-256 of each part, absent parts
/// marked apart from empty ones, present ones length-prefixed, so no choice
/// of ids makes two transactions' encodings collide.
pub fn idempotency_key(
    message_name_id: &str,
    message_id: &str,
    position: u64,
    ids: &TransactionIds,
) -> IdempotencyKey {
    let mut hasher = Sha256::new();
    let position = position.to_string();
    let parts = [
        Some(message_name_id),
        Some(message_id),
        Some(position.as_str()),
        ids.payment_info_id.as_deref(),
        ids.instruction_id.as_deref(),
        ids.end_to_end_id.as_deref(),
        ids.transaction_id.as_deref(),
        ids.uetr.as_deref(),
        ids.own_id.as_deref(),
    ];
    for part in parts {
        match part {
            None => hasher.update([0u8]),
            Some(text) => {
                hasher.update([1u8]);
                hasher.update((text.len() as u64).to_be_bytes());
                hasher.update(text.as_bytes());
            }
        }
    }
    let digest = hasher.finalize();
    let mut key = String::with_capacity(KEY_PREFIX.len() + 64);
    key.push_str(KEY_PREFIX);
    for byte in digest {
        key.push(char::from_digit(u32::from(byte >> 4), 16).expect("a hex digit"));
        key.push(char::from_digit(u32::from(byte & 0xf), 16).expect("a hex digit"));
    }
    IdempotencyKey::parse(&key).expect("74 printable ASCII characters make a valid key")
}

/// One transaction of a file, ready for a batch.
#[derive(Debug)]
struct Entry {
    /// 1-based, as the reader counts transactions.
    position: u64,
    path: String,
    ids: TransactionIds,
    body: EntryBody,
}

#[derive(Debug)]
enum EntryBody {
    Valid {
        key: IdempotencyKey,
        business_key: String,
        /// Taken into the batch's command when the entry joins a batch.
        message: Option<Box<ledger::model::PaymentMessage>>,
        /// Set when the entry joins a batch.
        command_index: usize,
    },
    Invalid {
        reason: String,
    },
}

enum Item {
    Entry(Box<Entry>),
    /// Not a transaction (a pacs.002 group status).
    Skip,
    /// A problem of the file, not of one transaction: malformed or truncated
    /// XML (`fatal`: the stream ends), group or payment information counts.
    FileError {
        reason: String,
        fatal: bool,
    },
}

/// Where the reader is: positions and, for pain.001, the payment
/// information block, so each transaction gets its own path.
struct Cursor<'h> {
    header: &'h FileHeader,
    last_position: u64,
    /// pain.001: the current `PmtInf` (its ordinal, its first transaction's
    /// position, and the shared value the reader hands out with each of its
    /// transactions).
    payment_info: Option<Arc<PaymentInfo>>,
    payment_info_ordinal: u64,
    payment_info_first_position: u64,
    /// A `PmtInf` whose first transaction was invalid: (ordinal, position).
    payment_info_announced: Option<(u64, u64)>,
    /// A `PmtInf` whose header is invalid: its ordinal and why.
    payment_info_invalid: Option<(u64, String)>,
}

fn summarize(errors: &[iso20022::Error]) -> String {
    let mut text = errors
        .iter()
        .take(ERRORS_QUOTED_MAX)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > ERRORS_QUOTED_MAX {
        text.push_str(&format!("; and {} more", errors.len() - ERRORS_QUOTED_MAX));
    }
    text
}

/// The `[n]` after `segment` in `path` (`PmtInf[3]` gives 3).
fn index_after(path: &str, segment: &str) -> Option<u64> {
    let start = path.find(segment)? + segment.len();
    let rest = path[start..].strip_prefix('[')?;
    rest[..rest.find(']')?].parse().ok()
}

/// `path` up to and including `segment[n]`.
fn path_through(path: &str, segment: &str) -> Option<String> {
    let start = path.find(segment)?;
    let end = start + path[start..].find(']')? + 1;
    Some(path[..end].to_owned())
}

impl<'h> Cursor<'h> {
    fn new(header: &'h FileHeader) -> Cursor<'h> {
        Cursor {
            header,
            last_position: 0,
            payment_info: None,
            payment_info_ordinal: 0,
            payment_info_first_position: 0,
            payment_info_announced: None,
            payment_info_invalid: None,
        }
    }

    fn family(&self) -> MessageFamily {
        self.header.kind.family
    }

    /// The element of one transaction, by family.
    fn transaction_segment(&self) -> &'static str {
        match self.family() {
            MessageFamily::Pacs002 => "/TxInfAndSts",
            MessageFamily::Pacs004 => "/TxInf",
            _ => "/CdtTrfTxInf",
        }
    }

    fn path_of(&self, position: u64) -> String {
        match self.family() {
            MessageFamily::Pain001 => format!(
                "/Document/CstmrCdtTrfInitn/PmtInf[{}]/CdtTrfTxInf[{}]",
                self.payment_info_ordinal,
                position + 1 - self.payment_info_first_position
            ),
            _ => convert::transaction_path(&self.header.kind, position),
        }
    }

    fn classify(&mut self, item: Result<Transaction, iso20022::Errors>) -> Item {
        match item {
            Ok(transaction) => self.transaction(transaction),
            Err(errors) => self.errors(errors.0),
        }
    }

    fn transaction(&mut self, transaction: Transaction) -> Item {
        let position = match &transaction {
            Transaction::CreditTransfer(transfer) => transfer.index,
            Transaction::TransactionStatus(status) => status.index,
            Transaction::PaymentReturn(payment_return) => payment_return.index,
            Transaction::GroupStatus(_) => return Item::Skip,
            _ => self.last_position + 1,
        };
        self.last_position = position;
        if let Transaction::CreditTransfer(transfer) = &transaction {
            self.follow_payment_info(transfer.payment_info.as_ref(), position);
        }
        let path = self.path_of(position);
        let ids = TransactionIds::of(&transaction);
        if let Some((ordinal, reason)) = &self.payment_info_invalid {
            if *ordinal == self.payment_info_ordinal && self.family() == MessageFamily::Pain001 {
                return Item::Entry(Box::new(Entry {
                    position,
                    path,
                    ids,
                    body: EntryBody::Invalid {
                        reason: format!("its payment information block is invalid: {reason}"),
                    },
                }));
            }
        }
        let header = self.header;
        let body = match convert::payment_message(&header.kind, &header.group, &transaction) {
            Ok(Some(message)) => EntryBody::Valid {
                key: idempotency_key(header.kind.id, &header.group.message_id, position, &ids),
                business_key: message.business_key.canonical(),
                message: Some(Box::new(match header.settlement {
                    Some(settlement) => convert::with_settlement(message, settlement),
                    None => message,
                })),
                command_index: 0,
            },
            Ok(None) => return Item::Skip,
            Err(errors) => EntryBody::Invalid {
                reason: errors
                    .iter()
                    .take(ERRORS_QUOTED_MAX)
                    .map(|error| format!("{}: {}", error.path, error.description))
                    .collect::<Vec<_>>()
                    .join("; "),
            },
        };
        Item::Entry(Box::new(Entry {
            position,
            path,
            ids,
            body,
        }))
    }

    /// pain.001: a new shared `PmtInf` value starts a new block.
    fn follow_payment_info(&mut self, info: Option<&Arc<PaymentInfo>>, position: u64) {
        let same = match (info, &self.payment_info) {
            (Some(info), Some(current)) => Arc::ptr_eq(info, current),
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        self.payment_info = info.cloned();
        match self.payment_info_announced.take() {
            Some((ordinal, first_position)) if ordinal > self.payment_info_ordinal => {
                self.payment_info_ordinal = ordinal;
                self.payment_info_first_position = first_position;
            }
            _ => {
                self.payment_info_ordinal += 1;
                self.payment_info_first_position = position;
            }
        }
    }

    fn errors(&mut self, errors: Vec<iso20022::Error>) -> Item {
        let summary = summarize(&errors);
        if errors.iter().any(iso20022::Error::is_fatal) {
            return Item::FileError {
                reason: summary,
                fatal: true,
            };
        }
        let is_count = |error: &iso20022::Error| {
            matches!(
                error.kind,
                iso20022::ErrorKind::NbOfTxs { .. } | iso20022::ErrorKind::ControlSum { .. }
            )
        };
        let segment = self.transaction_segment();
        let first_path = errors.first().map_or("", |error| error.path.as_str());
        let in_one_transaction = !errors.iter().any(is_count)
            && path_through(first_path, segment).is_some_and(|transaction| {
                errors
                    .iter()
                    .all(|error| error.path.starts_with(&transaction))
            });
        if in_one_transaction {
            let position = self.last_position + 1;
            self.last_position = position;
            let path = path_through(first_path, segment).expect("checked above");
            if self.family() == MessageFamily::Pain001 {
                if let Some(ordinal) = index_after(&path, "/PmtInf") {
                    if ordinal > self.payment_info_ordinal
                        && self
                            .payment_info_announced
                            .is_none_or(|(announced, _)| announced != ordinal)
                    {
                        self.payment_info_announced = Some((ordinal, position));
                    }
                }
            }
            return Item::Entry(Box::new(Entry {
                position,
                path,
                ids: TransactionIds::default(),
                body: EntryBody::Invalid { reason: summary },
            }));
        }
        let payment_info_header = self.family() == MessageFamily::Pain001
            && !errors.iter().any(is_count)
            && !first_path.contains(segment)
            && index_after(first_path, "/PmtInf").is_some();
        if payment_info_header {
            let ordinal = index_after(first_path, "/PmtInf").expect("checked above");
            self.payment_info_invalid = Some((ordinal, summary));
            return Item::Skip;
        }
        Item::FileError {
            reason: summary,
            fatal: false,
        }
    }
}

/// The transactions read since the last flush, and the commands of the
/// valid ones, in file order.
#[derive(Default)]
struct Batch {
    entries: Vec<Entry>,
    commands: Vec<ApplyCommand>,
}

impl Batch {
    fn push(&mut self, mut entry: Box<Entry>, client_id: &ClientId, header: &FileHeader) {
        if let EntryBody::Valid {
            key,
            message,
            command_index,
            ..
        } = &mut entry.body
        {
            let message = message.take().expect("a valid entry joins one batch");
            *command_index = self.commands.len();
            self.commands.push(
                ApplyCommand::new(client_id.clone(), key.clone(), vec![*message])
                    .with_origin(header.origin.clone()),
            );
        }
        self.entries.push(*entry);
    }

    /// Turns every valid entry into one that will not be applied.
    fn discard(&mut self) {
        self.commands.clear();
        for entry in &mut self.entries {
            if let EntryBody::Valid { command_index, .. } = &mut entry.body {
                *command_index = usize::MAX;
            }
        }
    }
}

// ------------------------------------------------------------ status report

/// Reason codes of the status report (ExternalStatusReason1Code).
const REASON_FILE_FORMAT: &str = "FF01";
const REASON_NARRATIVE: &str = "NARR";

#[cfg(test)]
mod tests {
    //! The idempotency key is a function of the file's
    //! identity and the transaction's position and ids, nothing else.
    use super::*;

    fn ids(end_to_end_id: &str) -> TransactionIds {
        TransactionIds {
            payment_info_id: Some("PMT-1".to_owned()),
            instruction_id: Some("I-1".to_owned()),
            end_to_end_id: Some(end_to_end_id.to_owned()),
            ..TransactionIds::default()
        }
    }

    #[test]
    fn the_key_is_stable_and_printable() {
        let key = idempotency_key("pain.001.001.09", "MSG-1", 1, &ids("E2E-1"));
        assert_eq!(
            key,
            idempotency_key("pain.001.001.09", "MSG-1", 1, &ids("E2E-1"))
        );
        assert!(key.as_str().starts_with(KEY_PREFIX));
        assert_eq!(key.as_str().len(), KEY_PREFIX.len() + 64);
    }

    #[test]
    fn every_part_of_the_identity_changes_the_key() {
        let base = idempotency_key("pain.001.001.09", "MSG-1", 1, &ids("E2E-1"));
        assert_ne!(
            base,
            idempotency_key("pain.001.001.03", "MSG-1", 1, &ids("E2E-1"))
        );
        assert_ne!(
            base,
            idempotency_key("pain.001.001.09", "MSG-2", 1, &ids("E2E-1"))
        );
        assert_ne!(
            base,
            idempotency_key("pain.001.001.09", "MSG-1", 2, &ids("E2E-1"))
        );
        assert_ne!(
            base,
            idempotency_key("pain.001.001.09", "MSG-1", 1, &ids("E2E-2"))
        );
    }

    #[test]
    fn parts_cannot_slide_into_each_other() {
        let a = TransactionIds {
            instruction_id: Some("AB".to_owned()),
            end_to_end_id: Some("C".to_owned()),
            ..TransactionIds::default()
        };
        let b = TransactionIds {
            instruction_id: Some("A".to_owned()),
            end_to_end_id: Some("BC".to_owned()),
            ..TransactionIds::default()
        };
        let empty = TransactionIds {
            instruction_id: Some(String::new()),
            ..TransactionIds::default()
        };
        let k = |ids: &TransactionIds| idempotency_key("pacs.008.001.08", "M", 1, ids);
        assert_ne!(k(&a), k(&b));
        assert_ne!(k(&empty), k(&TransactionIds::default()));
    }

    #[test]
    fn paths_are_cut_at_the_transaction() {
        let path = "/Document/CstmrCdtTrfInitn/PmtInf[2]/CdtTrfTxInf[7]/CdtrAcct/Id/IBAN";
        assert_eq!(
            path_through(path, "/CdtTrfTxInf").as_deref(),
            Some("/Document/CstmrCdtTrfInitn/PmtInf[2]/CdtTrfTxInf[7]")
        );
        assert_eq!(index_after(path, "/PmtInf"), Some(2));
        assert_eq!(index_after(path, "/CdtTrfTxInf"), Some(7));
        assert_eq!(index_after(path, "/TxInf"), None);
    }
}
