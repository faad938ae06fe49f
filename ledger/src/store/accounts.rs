//! Accounts, their balances, and the settlement and clearing account mappings.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{corrupt, execute, query, query_opt, StoreError};
use crate::model::{
    Account, AccountId, AccountReference, AccountSnapshot, Balances, Bic, Currency, OverdraftRule,
};

const ACCOUNT_COLUMNS: &str = "account_id, external_reference, currency, overdraft, \
     debits_pending, debits_posted, credits_pending, credits_posted";

fn account_from_row(row: &Row) -> Result<Account, StoreError> {
    let currency: String = row.get("currency");
    let overdraft: String = row.get("overdraft");
    let reference: String = row.get("external_reference");
    Ok(Account {
        account_id: AccountId(row.get("account_id")),
        external_reference: AccountReference::parse(&reference)
            .map_err(|error| corrupt("accounts", error))?,
        currency: Currency::parse(&currency).map_err(|error| corrupt("accounts", error))?,
        overdraft: OverdraftRule::parse(&overdraft)
            .ok_or_else(|| corrupt("accounts", format!("overdraft {overdraft:?}")))?,
        balances: Balances {
            debits_pending: row.get("debits_pending"),
            debits_posted: row.get("debits_posted"),
            credits_pending: row.get("credits_pending"),
            credits_posted: row.get("credits_posted"),
        },
    })
}

/// Inserts an account; `None` when the external reference is taken.
pub async fn insert_account(
    tx: &Transaction<'_>,
    reference: &AccountReference,
    currency: Currency,
    overdraft: OverdraftRule,
) -> Result<Option<Account>, StoreError> {
    let sql = format!(
        "INSERT INTO accounts (external_reference, currency, overdraft) VALUES ($1, $2, $3) \
         ON CONFLICT (external_reference) DO NOTHING RETURNING {ACCOUNT_COLUMNS}"
    );
    let row = query_opt(
        tx,
        &sql,
        &[&reference.as_str(), &currency.code(), &overdraft.as_str()],
    )
    .await?;
    row.as_ref().map(account_from_row).transpose()
}

pub async fn select_account_by_reference(
    tx: &Transaction<'_>,
    reference: &AccountReference,
) -> Result<Option<Account>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE external_reference = $1");
    let row = query_opt(tx, &sql, &[&reference.as_str()]).await?;
    row.as_ref().map(account_from_row).transpose()
}

pub async fn select_account_by_id(
    tx: &Transaction<'_>,
    account_id: AccountId,
) -> Result<Option<Account>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1");
    let row = query_opt(tx, &sql, &[&account_id.0]).await?;
    row.as_ref().map(account_from_row).transpose()
}

/// Reads and locks accounts in id order (a fixed order, so two transactions
/// never wait for each other's locks in a cycle).
pub async fn select_accounts_for_update(
    tx: &Transaction<'_>,
    account_ids: &[AccountId],
) -> Result<Vec<AccountSnapshot>, StoreError> {
    let ids: Vec<i64> = account_ids.iter().map(|id| id.0).collect();
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE account_id = ANY($1) \
         ORDER BY account_id FOR UPDATE"
    );
    let rows = query(tx, &sql, &[&ids]).await?;
    rows.iter()
        .map(|row| account_from_row(row).map(|account| account.snapshot()))
        .collect()
}

/// Writes the final balances of a batch's accounts, one statement for all.
pub async fn update_accounts_balances(
    tx: &Transaction<'_>,
    balances: &[(AccountId, Balances)],
) -> Result<(), StoreError> {
    if balances.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = balances.iter().map(|(id, _)| id.0).collect();
    let column = |pick: fn(&Balances) -> i64| -> Vec<i64> {
        balances
            .iter()
            .map(|(_, balances)| pick(balances))
            .collect()
    };
    let updated = execute(
        tx,
        "UPDATE accounts a SET debits_pending = u.debits_pending, \
           debits_posted = u.debits_posted, credits_pending = u.credits_pending, \
           credits_posted = u.credits_posted \
         FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[]) \
           AS u (account_id, debits_pending, debits_posted, credits_pending, credits_posted) \
         WHERE a.account_id = u.account_id",
        &[
            &ids,
            &column(|b| b.debits_pending),
            &column(|b| b.debits_posted),
            &column(|b| b.credits_pending),
            &column(|b| b.credits_posted),
        ],
    )
    .await?;
    if updated != balances.len() as u64 {
        return Err(corrupt(
            "accounts",
            format!("{} of the accounts {ids:?} updated", updated),
        ));
    }
    Ok(())
}

pub async fn upsert_settlement_account(
    tx: &Transaction<'_>,
    agent: &Bic,
    account: &Account,
) -> Result<(), StoreError> {
    execute(
        tx,
        "INSERT INTO settlement_accounts (agent_bic, currency, account_id) VALUES ($1, $2, $3) \
         ON CONFLICT (agent_bic, currency) DO UPDATE SET account_id = EXCLUDED.account_id",
        &[
            &agent.as_str(),
            &account.currency.code(),
            &account.account_id.0,
        ],
    )
    .await?;
    Ok(())
}

pub async fn upsert_clearing_account(
    tx: &Transaction<'_>,
    account: &Account,
) -> Result<(), StoreError> {
    execute(
        tx,
        "INSERT INTO clearing_accounts (currency, account_id) VALUES ($1, $2) \
         ON CONFLICT (currency) DO UPDATE SET account_id = EXCLUDED.account_id",
        &[&account.currency.code(), &account.account_id.0],
    )
    .await?;
    Ok(())
}

/// Accounts by external reference, for resolving message sides (§5).
pub async fn select_account_ids_by_references(
    tx: &Transaction<'_>,
    references: &[&str],
) -> Result<Vec<(String, AccountId)>, StoreError> {
    if references.is_empty() {
        return Ok(Vec::new());
    }
    let rows = query(
        tx,
        "SELECT external_reference, account_id FROM accounts \
         WHERE external_reference = ANY($1::TEXT[])",
        &[&references],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), AccountId(row.get(1))))
        .collect())
}

/// Settlement accounts of `(agent BIC, currency)` pairs, those configured.
pub async fn select_settlement_account_ids(
    tx: &Transaction<'_>,
    agents: &[(&str, &str)],
) -> Result<Vec<(String, String, AccountId)>, StoreError> {
    if agents.is_empty() {
        return Ok(Vec::new());
    }
    let bics: Vec<&str> = agents.iter().map(|(bic, _)| *bic).collect();
    let currencies: Vec<&str> = agents.iter().map(|(_, currency)| *currency).collect();
    let rows = query(
        tx,
        "SELECT s.agent_bic, s.currency::TEXT, s.account_id FROM settlement_accounts s \
         JOIN unnest($1::TEXT[], $2::TEXT[]) AS w (agent_bic, currency) \
           ON s.agent_bic = w.agent_bic AND s.currency = w.currency::CHAR(3)",
        &[&bics, &currencies],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), AccountId(row.get(2))))
        .collect())
}

/// The default clearing accounts of `currencies`, those configured.
pub async fn select_clearing_account_ids(
    tx: &Transaction<'_>,
    currencies: &[&str],
) -> Result<Vec<(String, AccountId)>, StoreError> {
    if currencies.is_empty() {
        return Ok(Vec::new());
    }
    let rows = query(
        tx,
        "SELECT currency::TEXT, account_id FROM clearing_accounts \
         WHERE currency = ANY($1::TEXT[]::CHAR(3)[])",
        &[&currencies],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), AccountId(row.get(1))))
        .collect())
}

/// One entry of the account mapping: `agent` is `None` for a clearing account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMapping {
    pub agent: Option<Bic>,
    pub account: Account,
}

/// The whole account mapping (small: one row per agent and currency).
pub async fn select_account_mappings(
    tx: &Transaction<'_>,
) -> Result<Vec<AccountMapping>, StoreError> {
    let columns = ACCOUNT_COLUMNS
        .split(", ")
        .map(|column| format!("a.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT m.agent_bic, {columns} FROM ( \
           SELECT agent_bic, account_id FROM settlement_accounts \
           UNION ALL SELECT NULL, account_id FROM clearing_accounts) m \
         JOIN accounts a USING (account_id) \
         ORDER BY m.agent_bic NULLS LAST, a.currency"
    );
    let rows = query(tx, &sql, &[]).await?;
    rows.iter()
        .map(|row| {
            let agent = row
                .get::<_, Option<String>>("agent_bic")
                .map(|bic| Bic::parse(&bic).map_err(|error| corrupt("settlement_accounts", error)))
                .transpose()?;
            Ok(AccountMapping {
                agent,
                account: account_from_row(row)?,
            })
        })
        .collect()
}

/// An account's balances as they stood at `as_of`: the running sums its
/// latest transfer created at or before then recorded for it
/// (`V8__running_balances.sql`), on whichever side of the transfer it was;
/// zero before its first transfer. Two index probes (one per side), however
/// long the account's history.
pub async fn select_balances_as_of(
    tx: &Transaction<'_>,
    account_id: AccountId,
    as_of: std::time::SystemTime,
) -> Result<Balances, StoreError> {
    let row = query_opt(
        tx,
        "SELECT debits_pending, debits_posted, credits_pending, credits_posted FROM ( \
           (SELECT created_at, transfer_id, debit_debits_pending AS debits_pending, \
              debit_debits_posted AS debits_posted, debit_credits_pending AS credits_pending, \
              debit_credits_posted AS credits_posted \
            FROM transfers WHERE debit_account_id = $1 AND created_at <= $2 \
            ORDER BY created_at DESC, transfer_id DESC LIMIT 1) \
           UNION ALL \
           (SELECT created_at, transfer_id, credit_debits_pending, credit_debits_posted, \
              credit_credits_pending, credit_credits_posted \
            FROM transfers WHERE credit_account_id = $1 AND created_at <= $2 \
            ORDER BY created_at DESC, transfer_id DESC LIMIT 1)) AS latest \
         ORDER BY created_at DESC, transfer_id DESC LIMIT 1",
        &[&account_id.0, &as_of],
    )
    .await?;
    Ok(row.map_or_else(Balances::default, |row| Balances {
        debits_pending: row.get("debits_pending"),
        debits_posted: row.get("debits_posted"),
        credits_pending: row.get("credits_pending"),
        credits_posted: row.get("credits_posted"),
    }))
}
