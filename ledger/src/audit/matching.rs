//! The matching of a statement's entries with the ledger's booked
//! transfers of its account (pure, no database): each transfer as a
//! [`LedgerEntry`], the references either side can be matched by (the
//! strongest, [`ledger_transfer_reference`], first), and [`match_entries`],
//! which names every entry missing on either side and every amount,
//! direction or value date that differs.

use std::collections::HashMap;

use crate::model::{Amount, BusinessKey};

use super::report::Discrepancy;
use super::statement::{CalendarDate, Direction, EntryReferences, StatementInput};

/// The reference by which a statement's `AcctSvcrRef` names a ledger
/// transfer: `LDGRT` and the transfer id, zero-padded to 20 digits (the
/// outbox's message ids are `LDGR` and 20 digits).
pub fn ledger_transfer_reference(transfer_id: i64) -> String {
    format!("LDGRT{transfer_id:020}")
}

/// A booked transfer of the statement's account, as a statement entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub transfer_id: i64,
    pub payment_id: i64,
    pub business_key: String,
    pub kind: String,
    pub amount: Amount,
    pub direction: Direction,
    pub booking_date: CalendarDate,
    pub in_period: bool,
}

/// The keys a statement entry can be matched by, strongest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum MatchKey {
    LedgerReference(String),
    Uetr(String),
    EndToEndAndInstruction(String, String),
    EndToEnd(String),
}

const END_TO_END_NOT_PROVIDED: &str = crate::model::ID_NOT_PROVIDED;

fn ledger_keys(entry: &LedgerEntry) -> Vec<MatchKey> {
    let mut keys = vec![MatchKey::LedgerReference(ledger_transfer_reference(
        entry.transfer_id,
    ))];
    match BusinessKey::from_canonical(&entry.business_key) {
        Ok(BusinessKey::Uetr(uuid)) => keys.push(MatchKey::Uetr(uuid.hyphenated().to_string())),
        Ok(BusinessKey::Reference {
            instruction_id,
            end_to_end_id: Some(end_to_end_id),
            ..
        }) => {
            if let Some(instruction_id) = instruction_id {
                keys.push(MatchKey::EndToEndAndInstruction(
                    end_to_end_id.clone(),
                    instruction_id,
                ));
            }
            if end_to_end_id != END_TO_END_NOT_PROVIDED {
                keys.push(MatchKey::EndToEnd(end_to_end_id));
            }
        }
        // Keyed without an end-to-end id (or by its message): by ledger
        // reference only.
        Ok(_) => {}
        // A hand-edited key matches by ledger reference only.
        Err(_) => {}
    }
    keys
}

fn statement_keys(references: &EntryReferences) -> Vec<MatchKey> {
    let mut keys = Vec::new();
    if let Some(reference) = &references.account_servicer_reference {
        keys.push(MatchKey::LedgerReference(reference.clone()));
    }
    if let Some(uetr) = &references.uetr {
        keys.push(MatchKey::Uetr(uetr.to_ascii_lowercase()));
    }
    if let Some(end_to_end_id) = &references.end_to_end_id {
        for instruction in [&references.transaction_id, &references.instruction_id]
            .into_iter()
            .flatten()
        {
            keys.push(MatchKey::EndToEndAndInstruction(
                end_to_end_id.clone(),
                instruction.clone(),
            ));
        }
        if end_to_end_id != END_TO_END_NOT_PROVIDED {
            keys.push(MatchKey::EndToEnd(end_to_end_id.clone()));
        }
    }
    keys
}

/// Matches a statement's entries with the ledger's booked transfers of its
/// account (pure): one pass over each side, by hashed reference.
pub fn match_entries(statement: &StatementInput, ledger: &[LedgerEntry]) -> Vec<Discrepancy> {
    let mut index: HashMap<MatchKey, Vec<usize>> = HashMap::new();
    for (position, entry) in ledger.iter().enumerate() {
        for key in ledger_keys(entry) {
            index.entry(key).or_default().push(position);
        }
    }
    let statement_id = || statement.statement_id.clone();
    let account = || statement.account.as_str().to_owned();
    let mut matched = vec![false; ledger.len()];
    let mut found = Vec::new();
    for entry in &statement.entries {
        let rank = |&position: &usize| {
            let ledger_entry = &ledger[position];
            match (
                ledger_entry.direction == entry.direction,
                ledger_entry.amount == entry.amount,
            ) {
                (true, true) => 0,
                (true, false) => 1,
                _ => 2,
            }
        };
        let mut candidate = None;
        for key in statement_keys(&entry.references) {
            let Some(positions) = index.get(&key) else {
                continue;
            };
            candidate = positions
                .iter()
                .copied()
                .filter(|&position| !matched[position])
                .min_by_key(rank);
            // A ledger reference names one transfer: an entry naming one
            // already matched is a duplicate, never another transfer of
            // the same payment (its return, say).
            if candidate.is_some() || matches!(key, MatchKey::LedgerReference(_)) {
                break;
            }
        }
        let Some(position) = candidate else {
            found.push(Discrepancy::StatementEntryMissingInLedger {
                statement_id: statement_id(),
                account: account(),
                position: entry.position.clone(),
                amount: entry.amount,
                direction: entry.direction,
                value_date: entry.value_date.or(entry.booking_date),
                references: entry.references.to_string(),
            });
            continue;
        };
        matched[position] = true;
        let ledger_entry = &ledger[position];
        if ledger_entry.amount != entry.amount {
            found.push(Discrepancy::StatementAmountMismatch {
                statement_id: statement_id(),
                account: account(),
                position: entry.position.clone(),
                transfer_id: ledger_entry.transfer_id,
                statement_amount: entry.amount,
                ledger_amount: ledger_entry.amount,
            });
        }
        if ledger_entry.direction != entry.direction {
            found.push(Discrepancy::StatementDirectionMismatch {
                statement_id: statement_id(),
                account: account(),
                position: entry.position.clone(),
                transfer_id: ledger_entry.transfer_id,
                statement_direction: entry.direction,
                ledger_direction: ledger_entry.direction,
            });
        }
        if let Some(date) = entry.value_date.or(entry.booking_date) {
            if date != ledger_entry.booking_date {
                found.push(Discrepancy::StatementValueDateMismatch {
                    statement_id: statement_id(),
                    account: account(),
                    position: entry.position.clone(),
                    transfer_id: ledger_entry.transfer_id,
                    statement_date: date,
                    ledger_date: ledger_entry.booking_date,
                });
            }
        }
    }
    for (ledger_entry, matched) in ledger.iter().zip(matched) {
        if !matched && ledger_entry.in_period {
            found.push(Discrepancy::LedgerEntryMissingInStatement {
                statement_id: statement_id(),
                account: account(),
                transfer_id: ledger_entry.transfer_id,
                payment_id: ledger_entry.payment_id,
                business_key: ledger_entry.business_key.clone(),
                kind: ledger_entry.kind.clone(),
                amount: ledger_entry.amount,
                direction: ledger_entry.direction,
                booking_date: ledger_entry.booking_date,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::StatementEntry;
    use crate::model::{AccountReference, Currency};

    fn eur(minor_units: i64) -> Amount {
        Amount::from_minor_units(Currency::parse("EUR").unwrap(), minor_units).unwrap()
    }

    fn date(text: &str) -> CalendarDate {
        CalendarDate::parse(text).unwrap()
    }

    fn ledger_entry(transfer_id: i64, end_to_end_id: &str, minor_units: i64) -> LedgerEntry {
        LedgerEntry {
            transfer_id,
            payment_id: transfer_id,
            business_key: BusinessKey::reference(
                crate::model::Originator::bic(crate::model::Bic::parse("BANKDEFFXXX").unwrap()),
                Some(end_to_end_id),
                Some(end_to_end_id),
            )
            .unwrap()
            .canonical(),
            kind: "POSTED".to_owned(),
            amount: eur(minor_units),
            direction: Direction::Debit,
            booking_date: date("2025-03-01"),
            in_period: true,
        }
    }

    fn statement_entry(position: &str, end_to_end_id: &str, minor_units: i64) -> StatementEntry {
        StatementEntry {
            position: position.to_owned(),
            amount: eur(minor_units),
            direction: Direction::Debit,
            value_date: Some(date("2025-03-01")),
            booking_date: None,
            references: EntryReferences {
                end_to_end_id: Some(end_to_end_id.to_owned()),
                ..EntryReferences::default()
            },
        }
    }

    fn statement(entries: Vec<StatementEntry>) -> StatementInput {
        StatementInput {
            statement_id: "S1".to_owned(),
            account: AccountReference::parse("DE89370400440532013000").unwrap(),
            from: date("2025-03-01"),
            to: date("2025-03-01"),
            opening_booked: None,
            closing_booked: None,
            entries,
        }
    }

    fn codes(found: &[Discrepancy]) -> Vec<&'static str> {
        found.iter().map(Discrepancy::code).collect()
    }

    #[test]
    fn matching_entries_report_nothing() {
        let found = match_entries(
            &statement(vec![statement_entry("1", "E2E-1", 100)]),
            &[ledger_entry(1, "E2E-1", 100)],
        );
        assert_eq!(found, vec![]);
    }

    #[test]
    fn an_entry_on_either_side_alone_is_named() {
        let found = match_entries(
            &statement(vec![statement_entry("1", "E2E-ONLY-IN-STATEMENT", 100)]),
            &[ledger_entry(7, "E2E-ONLY-IN-LEDGER", 100)],
        );
        assert_eq!(
            codes(&found),
            [
                "STATEMENT_ENTRY_MISSING_IN_LEDGER",
                "LEDGER_ENTRY_MISSING_IN_STATEMENT"
            ]
        );
        assert!(found[0].detail().contains("E2E-ONLY-IN-STATEMENT"));
        assert!(found[1].subject().contains("transfer 7"));
    }

    #[test]
    fn amount_direction_and_date_differences_are_named() {
        let mut entry = statement_entry("1", "E2E-1", 101);
        entry.direction = Direction::Credit;
        entry.value_date = Some(date("2025-03-02"));
        let found = match_entries(&statement(vec![entry]), &[ledger_entry(1, "E2E-1", 100)]);
        assert_eq!(
            codes(&found),
            [
                "STATEMENT_AMOUNT_MISMATCH",
                "STATEMENT_DIRECTION_MISMATCH",
                "STATEMENT_VALUE_DATE_MISMATCH"
            ]
        );
    }

    #[test]
    fn a_transfer_outside_the_period_is_a_candidate_but_never_missing() {
        let mut outside = ledger_entry(1, "E2E-1", 100);
        outside.in_period = false;
        assert_eq!(match_entries(&statement(vec![]), &[outside]), vec![]);
    }

    #[test]
    fn the_ledger_reference_matches_by_account_servicer_reference() {
        let mut entry = statement_entry("1", "NOTPROVIDED", 100);
        entry.references.account_servicer_reference = Some(ledger_transfer_reference(42));
        let found = match_entries(&statement(vec![entry]), &[ledger_entry(42, "OTHER", 100)]);
        assert_eq!(found, vec![]);
    }

    #[test]
    fn a_second_entry_naming_a_matched_ledger_reference_is_missing_in_the_ledger() {
        // Transfers 1 and 2 are one payment's (same end-to-end id): the
        // copy of transfer 1's entry is not taken for transfer 2.
        let named = |position: &str, transfer_id: i64| {
            let mut entry = statement_entry(position, "E2E-1", 100);
            entry.references.account_servicer_reference =
                Some(ledger_transfer_reference(transfer_id));
            entry
        };
        let mut returned = ledger_entry(2, "E2E-1", 100);
        returned.direction = Direction::Credit;
        let mut second = named("3", 2);
        second.direction = Direction::Credit;
        let found = match_entries(
            &statement(vec![named("1", 1), named("2", 1), second]),
            &[ledger_entry(1, "E2E-1", 100), returned],
        );
        assert_eq!(codes(&found), ["STATEMENT_ENTRY_MISSING_IN_LEDGER"]);
        assert!(found[0].subject().ends_with("entry 2"), "{found:?}");
    }
}
