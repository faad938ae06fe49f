//! The JSON-lines report (`--report`): each transaction's line, counted
//! into the run's totals, a file error's line, and the first refusals of the
//! run named on standard error.

use std::io::Write;

use ledger::model::{Outcome, PaymentState};
use ledger::LedgerError;

use super::additional_info;
use super::cursor::{Entry, EntryBody};
use super::error_chain;
use super::retry;
use super::run::{Fatal, Fate, Run};
use super::status_report::FileOutcome;

/// Rejected and invalid transactions of a run named on standard error (file,
/// position, path, reason), then "and N more".
pub(super) const REFUSALS_NAMED_MAX: u64 = 10;

impl Run<'_> {
    pub(super) fn report_file_error(&mut self, name: &str, reason: &str) -> Result<(), Fatal> {
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

    pub(super) fn write_report_line(&mut self, line: &serde_json::Value) -> Result<(), Fatal> {
        if let Some(report) = &mut self.report {
            serde_json::to_writer(&mut *report, line)
                .and_then(|()| report.write_all(b"\n").map_err(serde_json::Error::io))
                .map_err(|error| Fatal(format!("cannot write the report: {error}")))?;
        }
        Ok(())
    }

    /// Names a rejected or invalid transaction on standard error (file,
    /// position, path, reason), the first [`REFUSALS_NAMED_MAX`] of the run;
    /// counts the rest.
    pub(super) fn name_refusal(&mut self, line: &serde_json::Value) {
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

    /// Counts a transaction's fate and returns its report line.
    pub(super) fn account(
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
