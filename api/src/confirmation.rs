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

/// `YYYY-MM-DDTHH:MM:SSZ` for a time (UTC), from the civil calendar.
pub fn iso_date_time(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs()) as i64;
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60
    )
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
