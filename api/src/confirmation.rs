//! Builds the pacs.002.001.10 status report an outbox row confirms, with the
//! ISO 20022 writer (the document is a pure function of the row, so a
//! confirmation sent twice is the same bytes).

use std::time::{SystemTime, UNIX_EPOCH};

use iso20022::{
    ConfirmationStatus, IsoDateTime, Max35Text, ReasonCode, StatusReport, TransactionConfirmation,
    Uetr,
};
use ledger::model::BusinessKey;
use ledger::OutboxRow;

/// The reason written for a rejection that came without a code: narrative.
const REASON_CODE_UNSPECIFIED: &str = "NARR";

/// `YYYY-MM-DDTHH:MM:SSZ` for a time (UTC), to the second (RFC 3339).
pub fn iso_date_time(time: SystemTime) -> String {
    let utc = time::OffsetDateTime::from(time.max(UNIX_EPOCH));
    utc.replace_nanosecond(0)
        .expect("zero nanoseconds are valid")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time after 1970 formats as RFC 3339")
}

fn text35(value: &str) -> Option<Max35Text> {
    Max35Text::new(value).ok()
}

/// The pacs.002 for one outbox row, or `None` when the row does not say
/// which document it confirms (rows written before origins were recorded).
pub fn pacs002(row: &OutboxRow) -> Option<Vec<u8>> {
    let origin = row.origin.as_ref()?;
    let status = match row.status_code.as_str() {
        "ACSC" => ConfirmationStatus::Settled,
        "PDNG" => ConfirmationStatus::Pending,
        _ => ConfirmationStatus::Rejected(
            ReasonCode::new(
                row.reason_code
                    .as_deref()
                    .unwrap_or(REASON_CODE_UNSPECIFIED),
            )
            .or_else(|_| ReasonCode::new(REASON_CODE_UNSPECIFIED))
            .ok()?,
        ),
    };
    let mut transaction = TransactionConfirmation::new(status);
    transaction.status_id = text35(&row.message_id);
    match BusinessKey::from_canonical(&row.business_key).ok()? {
        BusinessKey::Uetr(uuid) => {
            transaction.original_uetr = Uetr::new(&uuid.hyphenated().to_string()).ok();
        }
        BusinessKey::Reference {
            instruction_id,
            end_to_end_id,
            ..
        } => {
            transaction.original_instruction_id = instruction_id.as_deref().and_then(text35);
            transaction.original_end_to_end_id = end_to_end_id.as_deref().and_then(text35);
        }
        // Named by its message alone: the report's original group names it.
        BusinessKey::Message { .. } => {}
        BusinessKey::Instruction(reference) => {
            transaction.original_instruction_id = reference.instruction_id().and_then(text35);
            transaction.original_end_to_end_id = reference.end_to_end_id().and_then(text35);
        }
    }
    let mut report = StatusReport::new(
        text35(&row.message_id)?,
        IsoDateTime::parse(&iso_date_time(row.created_at)).ok()?,
        text35(&origin.message_id)?,
        text35(&origin.message_name_id)?,
    );
    report.transactions.push(transaction);
    let mut document = Vec::with_capacity(1_024);
    iso20022::write_pacs002(&report, &mut document).ok()?;
    Some(document)
}

#[cfg(test)]
mod tests {
    //! Confirmations are real pacs.002 documents.
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_written_as_iso_date_times_in_utc() {
        let check = |seconds: u64, expected: &str| {
            assert_eq!(
                iso_date_time(UNIX_EPOCH + Duration::from_secs(seconds)),
                expected
            );
        };
        check(0, "1970-01-01T00:00:00Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(1_709_210_096, "2024-02-29T12:34:56Z");
        check(1_795_755_995, "2026-11-27T05:06:35Z");
        check(4_107_542_399, "2100-02-28T23:59:59Z");
    }
}
