//! The record of administrative changes (`admin_changes`, append-only):
//! written in the transaction of the change it records.

use std::time::SystemTime;

use deadpool_postgres::Transaction;

use super::{corrupt, execute, query, StoreError};
use crate::model::{AdminAction, AdminChange, ClientId};

/// A change to record: who, what, about what, from what to what.
#[derive(Debug)]
pub struct NewAdminChange<'a> {
    pub client_id: &'a ClientId,
    pub action: AdminAction,
    pub subject: &'a str,
    pub value_before: Option<&'a str>,
    pub value_after: &'a str,
}

pub async fn insert_admin_change(
    tx: &Transaction<'_>,
    change: &NewAdminChange<'_>,
) -> Result<(), StoreError> {
    execute(
        tx,
        "INSERT INTO admin_changes (client_id, action, subject, value_before, value_after) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &change.client_id.as_str(),
            &change.action.as_str(),
            &change.subject,
            &change.value_before,
            &change.value_after,
        ],
    )
    .await?;
    Ok(())
}

/// Changes after `after` (a change id), oldest first, at most `limit`.
pub async fn select_admin_changes(
    tx: &Transaction<'_>,
    after: Option<i64>,
    limit: usize,
) -> Result<Vec<AdminChange>, StoreError> {
    let rows = query(
        tx,
        "SELECT change_id, changed_at, client_id, action, subject, value_before, value_after \
         FROM admin_changes WHERE change_id > $1 ORDER BY change_id LIMIT $2",
        &[&after.unwrap_or(0), &(limit as i64)],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let client: String = row.get("client_id");
            let action: String = row.get("action");
            Ok(AdminChange {
                change_id: row.get("change_id"),
                changed_at: row.get::<_, SystemTime>("changed_at"),
                client_id: ClientId::parse(&client)
                    .map_err(|error| corrupt("admin_changes", error))?,
                action: AdminAction::parse(&action)
                    .ok_or_else(|| corrupt("admin_changes", format!("action {action}")))?,
                subject: row.get("subject"),
                value_before: row.get("value_before"),
                value_after: row.get("value_after"),
            })
        })
        .collect()
}

/// The latest `limit` changes, oldest of them first.
pub async fn select_latest_admin_changes(
    tx: &Transaction<'_>,
    limit: usize,
) -> Result<Vec<AdminChange>, StoreError> {
    let newest_first = query(
        tx,
        "SELECT change_id FROM admin_changes ORDER BY change_id DESC LIMIT $1",
        &[&(limit as i64)],
    )
    .await?;
    let Some(oldest) = newest_first.last().map(|row| row.get::<_, i64>(0)) else {
        return Ok(Vec::new());
    };
    select_admin_changes(tx, Some(oldest - 1), limit).await
}

/// The account reference a mapping names now, if any: the settlement
/// account of `agent_bic` in `currency`, or without an agent the clearing
/// account of `currency`. Locked until the transaction ends, so the change
/// recorded is the one made.
pub async fn select_mapped_reference_for_update(
    tx: &Transaction<'_>,
    agent_bic: Option<&str>,
    currency: &str,
) -> Result<Option<String>, StoreError> {
    let rows = match agent_bic {
        Some(agent_bic) => {
            query(
                tx,
                "SELECT a.external_reference FROM settlement_accounts s \
                 JOIN accounts a ON a.account_id = s.account_id \
                 WHERE s.agent_bic = $1 AND s.currency = $2 FOR UPDATE OF s",
                &[&agent_bic, &currency],
            )
            .await?
        }
        None => {
            query(
                tx,
                "SELECT a.external_reference FROM clearing_accounts c \
                 JOIN accounts a ON a.account_id = c.account_id \
                 WHERE c.currency = $1 FOR UPDATE OF c",
                &[&currency],
            )
            .await?
        }
    };
    Ok(rows.first().map(|row| row.get(0)))
}
