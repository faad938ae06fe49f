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
//!
//! This file is the public surface: the arguments, the exit codes and
//! [`main`]. The run and its batches are in `run.rs`, reading a file in
//! `file.rs` and `cursor.rs`, the keys in `key.rs`, the JSON-lines report in
//! `report.rs`, `--retry-rejected` in `retry.rs`, the status report in
//! `status_report.rs`, the progress and summary in `progress.rs`.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use ledger::model::ClientId;
use ledger::{Ledger, LedgerOptions};

use crate::convert::Settlement;
use crate::database::Database;

mod additional_info;
mod cursor;
mod file;
mod key;
mod progress;
mod report;
mod retry;
mod run;
mod status_report;

pub use key::{idempotency_key, TransactionIds, KEY_PREFIX};
pub use run::Totals;

use run::Run;

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

/// `--settlement`: when the credit transfers settle.
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

/// The options of `ledger ingest`.
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
    /// Serve Prometheus metrics at http://ADDRESS/metrics while the run
    /// lasts: transactions by outcome and files done (docs/metrics.md).
    #[arg(long, value_name = "ADDRESS")]
    pub metrics_listen: Option<std::net::SocketAddr>,
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
                    // Stops with the run, when dropped.
                    let _metrics_endpoint = match args.metrics_listen {
                        Some(address) => match metrics_endpoint(address, &ledger).await {
                            Ok(endpoint) => Some(endpoint),
                            Err(error) => {
                                eprintln!("ingest: --metrics-listen {address}: {error:#}");
                                return EXIT_FAILED;
                            }
                        },
                        None => None,
                    };
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

/// The metrics endpoint of `--metrics-listen`, its address said on stderr.
async fn metrics_endpoint(
    address: std::net::SocketAddr,
    ledger: &Ledger,
) -> anyhow::Result<crate::metrics::MetricsEndpoint> {
    let (listener, _) = crate::server::bind(address).await?;
    let endpoint = crate::metrics::MetricsEndpoint::start(
        listener,
        ledger.clone(),
        std::time::Duration::from_millis(crate::metrics::COLLECTION_INTERVAL_MS),
    )?;
    eprintln!("serving metrics on http://{}/metrics", endpoint.address());
    Ok(endpoint)
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
