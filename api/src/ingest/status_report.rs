//! The status report ingest writes (pain.002 or pacs.002): one transaction at a
//! time, spooled until the group status is known.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use iso20022::{
    ConfirmationStatus, IsoDateTime, MessageFamily, ReasonCode, ReportGroupStatus,
    StatusReportHead, StatusReportWriter, TransactionConfirmation, Uetr,
};
use ledger::model::{Outcome, PaymentState};
use ledger::LedgerError;
use sha2::{Digest, Sha256};

use super::additional_info;
use super::cursor::{index_after, Entry};
use super::file::FileHeader;
use super::key::TransactionIds;
use super::run::{Fatal, Fate};

/// Reason codes of the status report (ExternalStatusReason1Code).
const REASON_FILE_FORMAT: &str = "FF01";
const REASON_NARRATIVE: &str = "NARR";

/// One file's counts, for its group status.
#[derive(Debug, Default)]
pub(super) struct FileOutcome {
    pub(super) transactions: u64,
    pub(super) accepted: u64,
    pub(super) refused: u64,
    pub(super) file_errors: u64,
}

impl FileOutcome {
    pub(super) fn group_status(&self, file_refused: bool) -> ReportGroupStatus {
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

/// The ISO status reason for a ledger refusal.
pub(super) fn iso_reason(code: &str) -> &'static str {
    match code {
        "ACCOUNT_NOT_FOUND" => "AC01",
        "CURRENCY_MISMATCH" | "RETURN_CURRENCY_MISMATCH" => "AM03",
        // AM09 WrongAmount: a return of nothing, or of more than is left.
        "RETURN_AMOUNT_MISMATCH" | "RETURN_EXCEEDS_REMAINING" => "AM09",
        "INSUFFICIENT_FUNDS" => "AM04",
        // AM05 Duplication: the same business key, or the same return id,
        // already applied with other content.
        "BUSINESS_KEY_CONFLICT" | "RETURN_ID_CONFLICT" => "AM05",
        "BALANCE_LIMIT_EXCEEDED" => "AM02",
        // AG01 TransactionForbidden: not allowed on this account for this party.
        "DEBIT_ACCOUNT_OUT_OF_SCOPE" => "AG01",
        "IDEMPOTENCY_KEY_REUSED" => "DU01",
        "INVALID" => REASON_FILE_FORMAT,
        _ => REASON_NARRATIVE,
    }
}

/// The status report of one file: transactions spooled to `<target>.spool`
/// as JSON lines until the group status is known, then written to
/// `<target>.tmp` with [`StatusReportWriter`] and renamed to `target`.
pub(super) struct StatusOutput {
    pub(super) target: PathBuf,
    pub(super) spool_path: PathBuf,
    pub(super) spool: BufWriter<File>,
    pub(super) family: MessageFamily,
    pub(super) head: StatusReportHead,
    /// pain.001: the id of the `PmtInf` of the last transaction with ids, for
    /// invalid transactions whose ids could not be read.
    pub(super) last_payment_info: Option<(String, String)>,
}

pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(suffix);
    PathBuf::from(text)
}

pub(super) fn text35(value: &str) -> Option<iso20022::Max35Text> {
    iso20022::Max35Text::new(value).ok()
}

impl StatusOutput {
    pub(super) fn start(
        target: &Path,
        name: &str,
        header: &FileHeader,
    ) -> Result<Option<StatusOutput>, Fatal> {
        let family = header.kind.family;
        if !matches!(family, MessageFamily::Pain001 | MessageFamily::Pacs008) {
            eprintln!(
                "ingest: {name}: no status report for a {} (only for pain.001 and pacs.008)",
                header.kind.id
            );
            return Ok(None);
        }
        let message_id = {
            let mut hasher = Sha256::new();
            hasher.update(header.kind.id.as_bytes());
            hasher.update([0]);
            hasher.update(header.group.message_id.as_bytes());
            let digest = hasher.finalize();
            let hex: String = digest[..12]
                .iter()
                .map(|byte| format!("{byte:02X}"))
                .collect();
            format!("INGEST-STS-{hex}")
        };
        let now = crate::confirmation::iso_date_time(SystemTime::now());
        let fail = |what: &str| Fatal(format!("cannot write the status report: {what}"));
        let mut head = StatusReportHead::new(
            text35(&message_id).ok_or_else(|| fail("message id"))?,
            IsoDateTime::parse(&now).map_err(|error| fail(&error.to_string()))?,
            text35(&header.group.message_id).ok_or_else(|| fail("original MsgId"))?,
            text35(header.kind.id).ok_or_else(|| fail("original message name"))?,
        );
        head.original_creation_date_time = header.group.creation_date_time.clone();
        let spool_path = with_suffix(target, ".spool");
        let spool = File::create(&spool_path)
            .map(BufWriter::new)
            .map_err(|error| fail(&format!("{}: {error}", spool_path.display())))?;
        Ok(Some(StatusOutput {
            target: target.to_owned(),
            spool_path,
            spool,
            family,
            head,
            last_payment_info: None,
        }))
    }

    pub(super) fn transaction(&mut self, entry: &Entry, fate: &Fate) -> Result<(), Fatal> {
        let (status, reason, info): (&str, Option<&str>, Option<String>) = match fate {
            Fate::Invalid(reason) => {
                let mut info = additional_info::rule_first(&entry.path, reason);
                if entry.ids == TransactionIds::default() {
                    // Its ids could not be read: its path names it.
                    info.push_str(&format!("; transaction {}", entry.path));
                }
                ("RJCT", Some(REASON_FILE_FORMAT), Some(info))
            }
            Fate::NotApplied => (
                "RJCT",
                Some(REASON_NARRATIVE),
                Some("not applied: the file was refused".to_owned()),
            ),
            Fate::Answered {
                answer: Err(LedgerError::IdempotencyKeyReused { .. }),
                ..
            } => (
                "RJCT",
                Some(iso_reason("IDEMPOTENCY_KEY_REUSED")),
                Some("another message with this MsgId was ingested before".to_owned()),
            ),
            Fate::Answered {
                answer: Err(error), ..
            } => ("RJCT", Some(REASON_NARRATIVE), Some(error.to_string())),
            Fate::Answered {
                answer: Ok(response),
                ..
            } => {
                let receipt = &response.receipts[0];
                match &receipt.outcome {
                    Outcome::Rejected(reason) => (
                        "RJCT",
                        Some(iso_reason(reason.code())),
                        Some(reason.message()),
                    ),
                    _ => match receipt.state {
                        Some(PaymentState::Pending) => ("PDNG", None, None),
                        Some(PaymentState::Rejected) => (
                            "RJCT",
                            Some(REASON_NARRATIVE),
                            Some("the payment was rejected earlier".to_owned()),
                        ),
                        _ => ("ACSC", None, None),
                    },
                }
            }
        };
        let payment_info_id = match &entry.ids.payment_info_id {
            Some(id) => {
                let ordinal = index_after(&entry.path, "/PmtInf").map(|n| n.to_string());
                self.last_payment_info = Some((ordinal.unwrap_or_default(), id.clone()));
                Some(id.clone())
            }
            None => {
                let ordinal = index_after(&entry.path, "/PmtInf").map(|n| n.to_string());
                match (&self.last_payment_info, ordinal) {
                    (Some((last, id)), Some(ordinal)) if *last == ordinal => Some(id.clone()),
                    _ => None,
                }
            }
        };
        let line = serde_json::json!({
            "pmt": payment_info_id,
            "instr": entry.ids.instruction_id,
            "e2e": entry.ids.end_to_end_id,
            "tx": entry.ids.transaction_id,
            "uetr": entry.ids.uetr,
            "sts": status,
            "rsn": reason,
            "info": info,
        });
        serde_json::to_writer(&mut self.spool, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| self.spool.write_all(b"\n"))
            .map_err(|error| Fatal(format!("cannot write the status report spool: {error}")))
    }

    pub(super) fn finish(self, group: ReportGroupStatus) -> Result<(), Fatal> {
        let fail =
            |error: std::io::Error| Fatal(format!("cannot write the status report: {error}"));
        let spool = self
            .spool
            .into_inner()
            .map_err(|error| fail(error.into_error()))?;
        drop(spool);
        let mut head = self.head;
        head.group_status = Some(group);
        let temporary = with_suffix(&self.target, ".tmp");
        let out = BufWriter::new(File::create(&temporary).map_err(fail)?);
        let mut writer = match self.family {
            MessageFamily::Pain001 => StatusReportWriter::pain002(&head, out),
            _ => StatusReportWriter::pacs002(&head, out),
        }
        .map_err(fail)?;
        let spooled = BufReader::new(File::open(&self.spool_path).map_err(fail)?);
        for line in spooled.lines() {
            let line = line.map_err(fail)?;
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|error| fail(std::io::Error::other(error)))?;
            writer
                .transaction(&confirmation_of(&value, self.family))
                .map_err(fail)?;
        }
        let mut out = writer.finish().map_err(fail)?;
        out.flush().map_err(fail)?;
        out.get_ref().sync_all().map_err(fail)?;
        drop(out);
        std::fs::rename(&temporary, &self.target).map_err(fail)?;
        std::fs::remove_file(&self.spool_path).map_err(fail)?;
        eprintln!(
            "ingest: status report {} written ({})",
            self.target.display(),
            head.group_status
                .as_ref()
                .map_or("", ReportGroupStatus::code)
        );
        Ok(())
    }
}

/// A spooled transaction status back to the writer's type.
pub(super) fn confirmation_of(
    value: &serde_json::Value,
    family: MessageFamily,
) -> TransactionConfirmation {
    let text = |field: &str| value[field].as_str().and_then(text35);
    let reason = value["rsn"]
        .as_str()
        .and_then(|code| ReasonCode::new(code).ok())
        .unwrap_or_else(|| ReasonCode::new(REASON_NARRATIVE).expect("a valid reason code"));
    let status = match value["sts"].as_str() {
        Some("ACSC") => ConfirmationStatus::Settled,
        Some("PDNG") => ConfirmationStatus::Pending,
        _ => ConfirmationStatus::Rejected(reason),
    };
    let mut confirmation = TransactionConfirmation::new(status);
    confirmation.original_instruction_id = text("instr");
    confirmation.original_end_to_end_id = text("e2e");
    confirmation.original_uetr = value["uetr"].as_str().and_then(|uetr| Uetr::new(uetr).ok());
    if family == MessageFamily::Pain001 {
        confirmation.original_payment_info_id = text("pmt").or_else(|| text35("NOTPROVIDED"));
    } else {
        confirmation.original_transaction_id = text("tx");
    }
    let mut elements = value["info"]
        .as_str()
        .map(additional_info::elements)
        .unwrap_or_default()
        .into_iter();
    confirmation.additional_info = elements.next();
    confirmation.additional_info_continued = elements.collect();
    confirmation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_refusals_map_to_iso_status_reasons() {
        assert_eq!(iso_reason("INSUFFICIENT_FUNDS"), "AM04");
        assert_eq!(iso_reason("ACCOUNT_NOT_FOUND"), "AC01");
        assert_eq!(iso_reason("SAME_ACCOUNT"), "NARR");
        assert_eq!(iso_reason("RETURN_AMOUNT_MISMATCH"), "AM09");
        assert_eq!(iso_reason("RETURN_EXCEEDS_REMAINING"), "AM09");
        assert_eq!(iso_reason("RETURN_ID_CONFLICT"), "AM05");
        assert_eq!(iso_reason("RETURN_CURRENCY_MISMATCH"), "AM03");
        assert_eq!(iso_reason("DEBIT_ACCOUNT_OUT_OF_SCOPE"), "AG01");
        for code in [
            "AM04", "AC01", "AM03", "AM05", "AM02", "AM09", "AG01", "DU01", "FF01", "NARR",
        ] {
            assert!(ReasonCode::new(code).is_ok());
        }
    }
}
