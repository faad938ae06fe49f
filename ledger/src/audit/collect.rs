//! Running the audit: [`crate::Ledger::audit`] and
//! [`crate::Ledger::audit_statements`], and [`collect`], which runs checks
//! 1-5 (set-based SQL in `store::audit`) and compares each statement with
//! the ledger (its booked transfers, read as [`LedgerEntry`]s and matched,
//! and its opening and closing balances) in the caller's snapshot
//! transaction, keeping at most [`DISCREPANCIES_PER_CHECK_MAX`] findings a
//! check.

use deadpool_postgres::Transaction;

use crate::error::LedgerError;
use crate::model::{Amount, Currency};
use crate::store::{self, audit as sql, StoreError};

use super::matching::{match_entries, LedgerEntry};
use super::report::{AuditCounts, AuditReport, Discrepancy};
use super::statement::{CalendarDate, Direction, StatementBalance, StatementInput};
use super::{
    ADMIN_CHANGES_REPORTED_MAX, DISCREPANCIES_PER_CHECK_MAX, STATEMENT_PERIOD_MARGIN_DAYS,
};

impl crate::Ledger {
    /// Audits the ledger (semantics §6), and compares it with `statement`
    /// when given, in one SERIALIZABLE READ ONLY DEFERRABLE snapshot.
    pub async fn audit(
        &self,
        statement: Option<&StatementInput>,
    ) -> Result<AuditReport, LedgerError> {
        self.audit_statements(statement.map_or(&[][..], std::slice::from_ref))
            .await
    }

    /// [`crate::Ledger::audit`] with any number of statements (a camt.053
    /// file may hold several), all compared in the same snapshot.
    pub async fn audit_statements(
        &self,
        statements: &[StatementInput],
    ) -> Result<AuditReport, LedgerError> {
        self.audit_in_snapshot(statements).await
    }
}

/// Runs every check in the open (snapshot) transaction.
pub(crate) async fn collect(
    tx: &Transaction<'_>,
    statements: &[StatementInput],
) -> Result<AuditReport, StoreError> {
    let limit = DISCREPANCIES_PER_CHECK_MAX as i64 + 1;
    let counts = sql::select_table_counts(tx).await?;
    let mut report = AuditReport {
        as_of: counts.as_of.clone(),
        counts: AuditCounts {
            accounts: counts.accounts,
            payments: counts.payments,
            transfers: counts.transfers,
            outbox_rows: counts.outbox_rows,
            conflicts_recorded: counts.conflicts,
            admin_changes_recorded: counts.admin_changes,
            statements: statements.len(),
            statement_entries: statements
                .iter()
                .map(|statement| statement.entries.len())
                .sum(),
        },
        latest_admin_changes: crate::store::admin_changes::select_latest_admin_changes(
            tx,
            ADMIN_CHANGES_REPORTED_MAX,
        )
        .await?,
        ..AuditReport::default()
    };
    let mut add = |code: &'static str, found: Vec<Discrepancy>| {
        if found.len() > DISCREPANCIES_PER_CHECK_MAX {
            report.truncated.push(code);
        }
        report
            .discrepancies
            .extend(found.into_iter().take(DISCREPANCIES_PER_CHECK_MAX));
    };

    let rows = sql::select_trial_balance_differences(tx, limit).await?;
    add(
        "TRIAL_BALANCE",
        rows.into_iter()
            .map(|row| Discrepancy::TrialBalance {
                currency: row.currency,
                debits_pending: row.debits_pending,
                credits_pending: row.credits_pending,
                debits_posted: row.debits_posted,
                credits_posted: row.credits_posted,
            })
            .collect(),
    );
    let rows = sql::select_balance_mismatches(tx, limit).await?;
    add(
        "BALANCE_MISMATCH",
        rows.into_iter()
            .map(|row| Discrepancy::BalanceMismatch {
                account_id: row.account_id.0,
                account: row.external_reference,
                currency: row.currency,
                stored: row.stored,
                from_transfers: row.from_transfers,
            })
            .collect(),
    );
    let rows = sql::select_running_balance_mismatches(tx, limit).await?;
    add(
        "RUNNING_BALANCE_MISMATCH",
        rows.into_iter()
            .map(|row| Discrepancy::RunningBalanceMismatch {
                account_id: row.account_id,
                transfer_id: row.transfer_id,
                recorded: row.recorded,
                from_transfers: row.from_transfers,
                out_of_order: row.out_of_order,
            })
            .collect(),
    );
    let rows = sql::select_transfers_not_matching_state(tx, limit).await?;
    add(
        "TRANSFERS_DO_NOT_MATCH_STATE",
        rows.into_iter()
            .map(|row| Discrepancy::TransfersDoNotMatchState {
                payment_id: row.payment_id,
                business_key: row.business_key,
                state: row.state,
                kinds: row.kinds,
                legs_match: row.legs_match,
            })
            .collect(),
    );
    let rows = sql::select_return_mismatches(tx, limit).await?;
    add(
        "RETURN_MISMATCH",
        rows.into_iter()
            .map(|row| Discrepancy::ReturnMismatch {
                payment_id: row.payment_id,
                business_key: row.business_key,
                state: row.state,
                amount_minor: row.amount_minor,
                amount_returned_minor: row.amount_returned_minor,
                returns_minor: row.returns_minor,
                returns: row.returns,
                problem: row.problem,
            })
            .collect(),
    );
    let rows = sql::select_outbox_mismatches(tx, limit).await?;
    add(
        "OUTBOX_MISMATCH",
        rows.into_iter()
            .map(|row| Discrepancy::OutboxMismatch {
                payment_id: row.payment_id,
                business_key: row.business_key,
                state: row.state,
                moves: row.moves,
                problem: row.problem,
            })
            .collect(),
    );
    let rows = sql::select_business_keys_applied_twice(tx, limit).await?;
    add(
        "BUSINESS_KEY_APPLIED_TWICE",
        rows.into_iter()
            .map(|row| Discrepancy::BusinessKeyAppliedTwice {
                business_key: row.business_key,
                payment_ids: row.payment_ids,
            })
            .collect(),
    );
    for statement in statements {
        let found = compare_statement(tx, statement).await?;
        add("STATEMENT", found);
    }
    Ok(report)
}

/// Semantics §6.6 for one statement.
async fn compare_statement(
    tx: &Transaction<'_>,
    statement: &StatementInput,
) -> Result<Vec<Discrepancy>, StoreError> {
    let Some(account) = store::select_account_by_reference(tx, &statement.account).await? else {
        return Ok(vec![Discrepancy::StatementAccountUnknown {
            statement_id: statement.statement_id.clone(),
            account: statement.account.as_str().to_owned(),
        }]);
    };
    let from = statement.from.to_string();
    let to = statement.to.to_string();
    let rows = sql::select_booked_transfers_of_account(
        tx,
        account.account_id,
        &from,
        &to,
        STATEMENT_PERIOD_MARGIN_DAYS,
    )
    .await?;
    let ledger_entries = rows
        .into_iter()
        .map(LedgerEntry::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let mut found = match_entries(statement, &ledger_entries);
    let balances = sql::select_booked_balances(tx, account.account_id, &from, &to).await?;
    let mut compare_balance = |given: &Option<StatementBalance>, ledger: i128, opening: bool| {
        let Some(given) = given else { return };
        let statement_minor_units = given.signed_minor_units();
        if given.amount.currency() == account.currency && statement_minor_units == ledger {
            return;
        }
        let statement_id = statement.statement_id.clone();
        let account_text = statement.account.as_str().to_owned();
        found.push(if opening {
            Discrepancy::OpeningBalanceMismatch {
                statement_id,
                account: account_text,
                date: statement.from,
                currency: account.currency,
                statement_minor_units,
                ledger_minor_units: ledger,
            }
        } else {
            Discrepancy::ClosingBalanceMismatch {
                statement_id,
                account: account_text,
                date: statement.to,
                currency: account.currency,
                statement_minor_units,
                ledger_minor_units: ledger,
            }
        });
    };
    compare_balance(&statement.opening_booked, balances.opening, true);
    compare_balance(&statement.closing_booked, balances.closing, false);
    Ok(found)
}

impl LedgerEntry {
    fn from_row(row: sql::BookedTransferRow) -> Result<LedgerEntry, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            table: "transfers",
            detail,
        };
        let currency =
            Currency::parse(&row.currency).map_err(|error| corrupt(error.to_string()))?;
        Ok(LedgerEntry {
            amount: Amount::from_minor_units(currency, row.amount_minor)
                .map_err(|error| corrupt(error.to_string()))?,
            booking_date: CalendarDate::parse(&row.booking_date)
                .ok_or_else(|| corrupt(format!("date {:?}", row.booking_date)))?,
            direction: if row.is_debit {
                Direction::Debit
            } else {
                Direction::Credit
            },
            transfer_id: row.transfer_id,
            payment_id: row.payment_id,
            business_key: row.business_key,
            kind: row.kind,
            in_period: row.in_period,
        })
    }
}
