//! The run: every file in turn, its check pass (`--on-error reject-file`)
//! and its apply pass, batch by batch through [`Ledger::apply_batch`], and
//! the counts over the whole run.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use ledger::model::ClientId;
use ledger::{ApplyCommand, ApplyResponse, Ledger, LedgerError};

use super::cursor::{Cursor, Entry, EntryBody, Item};
use super::file::{open_reader, FileHeader, FileStamp};
use super::progress::{print_summary, Progress};
use super::status_report::{FileOutcome, StatusOutput};
use super::{error_chain, IngestArgs, OnError, EXIT_FAILED, EXIT_OK, EXIT_PROBLEMS};
use crate::convert::{self, Settlement};
use iso20022::MessageFamily;

/// Attempts of one batch that fails as a whole with a retryable error
/// (the ledger has already retried serialization failures inside).
const BATCH_ATTEMPTS_MAX: u32 = 5;
/// Problems of a refused file printed on standard error, then "and N more".
const PROBLEMS_PRINTED_MAX: usize = 20;

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
    pub(super) fn rejected_total(&self) -> u64 {
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
pub(super) struct Fatal(pub(super) String);

pub(super) struct Run<'a> {
    ledger: Ledger,
    pub(super) args: &'a IngestArgs,
    client_id: ClientId,
    pub(super) report: Option<BufWriter<File>>,
    pub(super) totals: Totals,
    /// A file could not be read: exit 2 at the end, after the other files.
    unreadable_files: u64,
    /// Rejected and invalid transactions named on standard error so far, and
    /// those past [`REFUSALS_NAMED_MAX`](super::report::REFUSALS_NAMED_MAX).
    pub(super) refusals_named: u64,
    pub(super) refusals_unnamed: u64,
    pub(super) terminal: bool,
}

impl<'a> Run<'a> {
    pub(super) fn new(
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

    pub(super) async fn all(&mut self) -> i32 {
        let started = Instant::now();
        let mut fatal = None;
        let args = self.args;
        for path in &args.files {
            self.totals.files += 1;
            if let Err(error) = self.file(path).await {
                fatal = Some(error);
                break;
            }
            crate::metrics::record_ingest_file();
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
            crate::metrics::record_ingest_transaction(
                line["outcome"].as_str(),
                line["replay"].as_bool() == Some(true),
            );
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

    /// One batch through the ledger, retried while the failure is retryable.
    pub(super) async fn apply(
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassMode {
    Apply,
    ReportOnly,
}

/// What happened to one transaction.
pub(super) enum Fate {
    Invalid(String),
    NotApplied,
    /// The ledger's answer, and the retry round it came from (0: the
    /// transaction's own key; `--retry-rejected`).
    Answered {
        answer: Result<ApplyResponse, LedgerError>,
        retry_round: u32,
    },
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
