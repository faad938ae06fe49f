//! Finding payments: a [`PaymentFilter`] as one statement, in payment id
//! order after a position (keyset pagination), only what the reader may see.
//!
//! The statement names only the filters given, each as a parameter, so that
//! each combination is its own prepared statement with its own plan, and a
//! filter is always answered from its index (`migrations/V9__payment_search.sql`)
//! rather than by a plan made for "any filter, maybe none".

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::payments::{payment_from_row, PAYMENT_COLUMNS};
use super::visibility::{visible_payment_condition, VisibilityParameters};
use super::{query, StoreError};
use crate::model::{Payment, PaymentFilter, PaymentId, PaymentVisibility};

/// Payments after `after`, in payment id order, at most `limit`, that pass
/// every filter of `filter` and are `visible`.
pub async fn select_payments(
    tx: &Transaction<'_>,
    filter: &PaymentFilter,
    visible: &PaymentVisibility,
    after: Option<PaymentId>,
    limit: i64,
) -> Result<Vec<Payment>, StoreError> {
    let visibility = VisibilityParameters::of(visible);
    let after = after.map_or(0, |id| id.0);
    let uetr_key = filter
        .uetr
        .map(|uetr| format!("uetr:{}", uetr.hyphenated()));
    let state = filter.state.map(|state| state.as_str());
    let account_id = filter.account_id.map(|id| id.0);
    let end_to_end_id = filter.end_to_end_id.as_ref().map(|id| id.as_str());
    let instruction_id = filter.instruction_id.as_ref().map(|id| id.as_str());
    let created_by = filter.created_by.as_ref().map(|id| id.as_str());

    let mut parameters: Vec<&(dyn ToSql + Sync)> = vec![
        &after,
        &limit,
        &visibility.all,
        &visibility.created_by,
        &visibility.account_patterns,
    ];
    let mut conditions = vec!["p.payment_id > $1".to_owned(), visible_payment_condition(3)];
    if let Some(from) = &filter.created_from {
        parameters.push(from);
        conditions.push(format!("p.created_at >= ${}", parameters.len()));
    }
    if let Some(until) = &filter.created_until {
        parameters.push(until);
        conditions.push(format!("p.created_at < ${}", parameters.len()));
    }
    if let Some(state) = &state {
        parameters.push(state);
        conditions.push(format!("p.state = ${}", parameters.len()));
    }
    if let Some(account_id) = &account_id {
        parameters.push(account_id);
        let n = parameters.len();
        conditions.push(format!(
            "(p.debit_account_id = ${n} OR p.credit_account_id = ${n})"
        ));
    }
    if let Some(uetr_key) = &uetr_key {
        parameters.push(uetr_key);
        conditions.push(format!("p.business_key = ${}", parameters.len()));
    }
    if let Some(end_to_end_id) = &end_to_end_id {
        parameters.push(end_to_end_id);
        conditions.push(format!("p.end_to_end_id = ${}", parameters.len()));
    }
    if let Some(instruction_id) = &instruction_id {
        parameters.push(instruction_id);
        conditions.push(format!("p.instruction_id = ${}", parameters.len()));
    }
    if let Some(created_by) = &created_by {
        parameters.push(created_by);
        conditions.push(format!("p.created_by_client_id = ${}", parameters.len()));
    }
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments p WHERE {} ORDER BY p.payment_id LIMIT $2",
        conditions.join(" AND ")
    );
    let rows = query(tx, &sql, &parameters).await?;
    rows.iter().map(payment_from_row).collect()
}
