//! Every SQL statement of the ledger, one function each, the open transaction
//! passed in (zero-to-production's persistence shape).
//!
//! Architecture invariant: no SQL anywhere else in the workspace (tests that
//! break the database on purpose excepted). Functions here neither begin nor
//! commit transactions; [`crate::Ledger`] does, explicitly SERIALIZABLE.

pub mod admin_changes;
pub mod audit;
pub mod holds;
pub mod outbox_delivery;
pub mod statement;

use std::time::SystemTime;

use deadpool_postgres::Transaction;
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use crate::model::{
    Account, AccountId, AccountPattern, AccountReference, AccountScope, AccountSnapshot, Amount,
    Balances, Bic, BusinessKey, ClientId, Currency, DocumentOrigin, IdempotencyKey,
    InstructionReference, OverdraftRule, Payment, PaymentId, PaymentState, PaymentVisibility,
    PlannedTransfer, ReasonCode, RejectionReason, RequestFingerprint, TransferId, TransferKind,
};

/// Errors of the store layer: the ledger decides what is retried.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLSTATE 40001 or 40P01, or a unique violation that a concurrent
    /// transaction caused: retry the whole transaction.
    #[error("transaction conflict ({0}), retry")]
    Conflict(&'static str),
    /// The statement timeout (57014) fired.
    #[error("statement timeout")]
    Timeout,
    /// The connection or the server is gone.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] tokio_postgres::Error),
    /// The database was unavailable for a batch this request was part of
    /// (group commit); `detail` is the batch's cause.
    #[error("database unavailable: {detail}")]
    Unreachable { detail: String },
    /// Anything else: a bug or a broken invariant. Never shown to clients.
    #[error("database error: {0}")]
    Database(#[source] tokio_postgres::Error),
    /// A row holds a value the model refuses: the database was changed behind
    /// the ledger's back.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        match error.code() {
            Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE => {
                StoreError::Conflict("serialization failure")
            }
            Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED => {
                StoreError::Conflict("deadlock")
            }
            // A concurrent transaction inserted the same key first; a retry
            // sees its row and answers from it.
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
                StoreError::Conflict("unique violation")
            }
            Some(code) if *code == SqlState::QUERY_CANCELED => StoreError::Timeout,
            Some(code)
                if code.code().starts_with("08")
                    || code.code().starts_with("57P")
                    || *code == SqlState::TOO_MANY_CONNECTIONS =>
            {
                StoreError::Unavailable(error)
            }
            Some(_) => StoreError::Database(error),
            None => StoreError::Unavailable(error),
        }
    }
}

/// The [`StoreError::Conflict`] reason of a transaction that found another
/// one applying the same idempotency key right now.
pub const REQUEST_IN_PROGRESS: &str = "request in progress";

impl StoreError {
    /// 25P02: a statement sent after an earlier one of the same transaction
    /// failed. Never the cause, only its echo.
    pub(crate) fn is_in_failed_transaction(&self) -> bool {
        matches!(self, StoreError::Database(error)
            if error.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION))
    }
}

fn corrupt(table: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table,
        detail: detail.to_string(),
    }
}

async fn query_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&statement, params).await?)
}

async fn query(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query(&statement, params).await?)
}

async fn query_one(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Row, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&statement, params).await?)
}

async fn execute(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

// ---------------------------------------------------------------- accounts

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

// ------------------------------------------------------- account mapping (§5)

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

// ---------------------------------------------------------------- payments

const PAYMENT_COLUMNS: &str =
    "payment_id, business_key, state, currency, amount_minor, debit_account_id, credit_account_id";

/// The business key is stored in its canonical text; the model's parsers
/// re-read it so a hand-edited row is caught.
pub(crate) fn business_key_from_canonical(canonical: &str) -> Result<BusinessKey, StoreError> {
    BusinessKey::from_canonical(canonical).map_err(|error| corrupt("payments", error))
}

fn payment_from_row(row: &Row) -> Result<Payment, StoreError> {
    let state: String = row.get("state");
    let currency: String = row.get("currency");
    let currency = Currency::parse(&currency).map_err(|error| corrupt("payments", error))?;
    Ok(Payment {
        payment_id: PaymentId(row.get("payment_id")),
        business_key: business_key_from_canonical(row.get("business_key"))?,
        state: PaymentState::parse(&state)
            .ok_or_else(|| corrupt("payments", format!("state {state:?}")))?,
        amount: Amount::from_minor_units(currency, row.get("amount_minor"))
            .map_err(|error| corrupt("payments", error))?,
        debit_account_id: AccountId(row.get("debit_account_id")),
        credit_account_id: AccountId(row.get("credit_account_id")),
    })
}

/// Reads and locks the payments under `business_keys` (canonical text), in
/// id order.
pub async fn select_payments_by_business_keys_for_update(
    tx: &Transaction<'_>,
    business_keys: &[String],
) -> Result<Vec<Payment>, StoreError> {
    if business_keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE business_key = ANY($1::TEXT[]) \
         ORDER BY payment_id FOR UPDATE"
    );
    let rows = query(tx, &sql, &[&business_keys]).await?;
    rows.iter().map(payment_from_row).collect()
}

/// The payments that recorded these instruction references (canonical
/// texts), locked, each with its reference.
pub async fn select_payments_by_instruction_references_for_update(
    tx: &Transaction<'_>,
    references: &[String],
) -> Result<Vec<(String, Payment)>, StoreError> {
    if references.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS}, instruction_reference FROM payments \
         WHERE instruction_reference = ANY($1::TEXT[]) ORDER BY payment_id FOR UPDATE"
    );
    let rows = query(tx, &sql, &[&references]).await?;
    rows.iter()
        .map(|row| Ok((row.get("instruction_reference"), payment_from_row(row)?)))
        .collect()
}

pub async fn select_payment_by_business_key(
    tx: &Transaction<'_>,
    business_key: &BusinessKey,
) -> Result<Option<Payment>, StoreError> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE business_key = $1");
    let row = query_opt(tx, &sql, &[&business_key.canonical()]).await?;
    row.as_ref().map(payment_from_row).transpose()
}

pub async fn select_payment_by_id(
    tx: &Transaction<'_>,
    payment_id: PaymentId,
) -> Result<Option<Payment>, StoreError> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1");
    let row = query_opt(tx, &sql, &[&payment_id.0]).await?;
    row.as_ref().map(payment_from_row).transpose()
}

// -------------------------------------------------------------- visibility

/// A [`PaymentVisibility`] as statement parameters: see everything; the
/// creating client; `LIKE` patterns of the accounts in scope.
struct VisibilityParameters<'a> {
    all: bool,
    created_by: Option<&'a str>,
    account_patterns: Option<Vec<String>>,
}

impl<'a> VisibilityParameters<'a> {
    fn of(visible: &'a PaymentVisibility) -> VisibilityParameters<'a> {
        let escape = |text: &str| {
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        VisibilityParameters {
            all: visible.is_all(),
            created_by: visible.created_by.as_ref().map(ClientId::as_str),
            account_patterns: match &visible.accounts {
                Some(AccountScope::Only(patterns)) => Some(
                    patterns
                        .iter()
                        .map(|pattern| match pattern {
                            AccountPattern::Exact(reference) => escape(reference.as_str()),
                            AccountPattern::Prefix(prefix) => format!("{}%", escape(prefix)),
                        })
                        .collect(),
                ),
                _ => None,
            },
        }
    }
}

/// The condition that payment `p` is visible, with the parameters of
/// [`VisibilityParameters`] at `$n`, `$n+1`, `$n+2`.
fn visible_payment_condition(n: usize) -> String {
    format!(
        "(${n}::BOOL \
          OR p.created_by_client_id = ${created}::TEXT \
          OR EXISTS (SELECT 1 FROM accounts va \
                     WHERE va.account_id IN (p.debit_account_id, p.credit_account_id) \
                       AND va.external_reference LIKE ANY(${patterns}::TEXT[])))",
        created = n + 1,
        patterns = n + 2,
    )
}

/// Whether the payment is visible to a reader.
pub async fn select_payment_is_visible(
    tx: &Transaction<'_>,
    payment_id: PaymentId,
    visible: &PaymentVisibility,
) -> Result<bool, StoreError> {
    let parameters = VisibilityParameters::of(visible);
    let sql = format!(
        "SELECT {} FROM payments p WHERE p.payment_id = $1",
        visible_payment_condition(2)
    );
    let row = query_opt(
        tx,
        &sql,
        &[
            &payment_id.0,
            &parameters.all,
            &parameters.created_by,
            &parameters.account_patterns,
        ],
    )
    .await?;
    Ok(row.is_some_and(|row| row.get::<_, Option<bool>>(0) == Some(true)))
}

/// Payments after `after` (keyset pagination), oldest first, optionally only
/// in `state` and only touching `account_id`, and only those `visible`.
pub async fn select_payments(
    tx: &Transaction<'_>,
    state: Option<PaymentState>,
    account_id: Option<AccountId>,
    visible: &PaymentVisibility,
    after: Option<PaymentId>,
    limit: i64,
) -> Result<Vec<Payment>, StoreError> {
    let parameters = VisibilityParameters::of(visible);
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments p \
         WHERE ($1::TEXT IS NULL OR state = $1) \
           AND ($2::BIGINT IS NULL OR debit_account_id = $2 OR credit_account_id = $2) \
           AND payment_id > $3 \
           AND {} \
         ORDER BY payment_id LIMIT $4",
        visible_payment_condition(5)
    );
    let rows = query(
        tx,
        &sql,
        &[
            &state.map(PaymentState::as_str),
            &account_id.map(|id| id.0),
            &after.map_or(0, |id| id.0),
            &limit,
            &parameters.all,
            &parameters.created_by,
            &parameters.account_patterns,
        ],
    )
    .await?;
    rows.iter().map(payment_from_row).collect()
}

/// The fields of a new payment row.
#[derive(Debug)]
pub struct NewPayment<'a> {
    pub business_key: &'a BusinessKey,
    pub state: PaymentState,
    pub amount: Amount,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    /// A pain.001 transaction's reference, for its follow-ups.
    pub instruction_reference: Option<&'a InstructionReference>,
    /// The client whose request created it.
    pub created_by: &'a ClientId,
}

/// Inserts new payments, one statement for all; returns their ids in the
/// order given.
pub async fn insert_payments(
    tx: &Transaction<'_>,
    payments: &[NewPayment<'_>],
) -> Result<Vec<PaymentId>, StoreError> {
    if payments.is_empty() {
        return Ok(Vec::new());
    }
    let business_keys: Vec<String> = payments
        .iter()
        .map(|p| p.business_key.canonical())
        .collect();
    let states: Vec<&str> = payments.iter().map(|p| p.state.as_str()).collect();
    let currencies: Vec<&str> = payments
        .iter()
        .map(|p| p.amount.currency().code())
        .collect();
    let amounts: Vec<i64> = payments.iter().map(|p| p.amount.minor_units()).collect();
    let debits: Vec<i64> = payments.iter().map(|p| p.debit_account_id.0).collect();
    let credits: Vec<i64> = payments.iter().map(|p| p.credit_account_id.0).collect();
    let references: Vec<Option<String>> = payments
        .iter()
        .map(|p| p.instruction_reference.map(InstructionReference::canonical))
        .collect();
    let creators: Vec<&str> = payments.iter().map(|p| p.created_by.as_str()).collect();
    let rows = query(
        tx,
        "INSERT INTO payments \
         (business_key, state, currency, amount_minor, debit_account_id, credit_account_id, \
          instruction_reference, created_by_client_id) \
         SELECT business_key, state, currency, amount_minor, debit_account_id, credit_account_id, \
                instruction_reference, created_by_client_id \
         FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[], \
                     $7::TEXT[], $8::TEXT[]) \
           WITH ORDINALITY AS n (business_key, state, currency, amount_minor, \
                                 debit_account_id, credit_account_id, instruction_reference, \
                                 created_by_client_id, position) \
         ORDER BY position RETURNING payment_id, business_key",
        &[
            &business_keys,
            &states,
            &currencies,
            &amounts,
            &debits,
            &credits,
            &references,
            &creators,
        ],
    )
    .await?;
    let ids: std::collections::HashMap<String, i64> =
        rows.iter().map(|row| (row.get(1), row.get(0))).collect();
    business_keys
        .iter()
        .map(|key| {
            ids.get(key)
                .map(|id| PaymentId(*id))
                .ok_or_else(|| corrupt("payments", format!("{key} inserted without an id")))
        })
        .collect()
}

/// A payment's move from the state it was read in to its batch's last state.
#[derive(Debug, Clone, Copy)]
pub struct StateUpdate {
    pub payment_id: PaymentId,
    pub from: PaymentState,
    pub to: PaymentState,
}

/// Moves payments from `from` to `to`, one statement for all; fails if any
/// is no longer in `from`.
pub async fn update_payment_states(
    tx: &Transaction<'_>,
    updates: &[StateUpdate],
) -> Result<(), StoreError> {
    if updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = updates.iter().map(|u| u.payment_id.0).collect();
    let from: Vec<&str> = updates.iter().map(|u| u.from.as_str()).collect();
    let to: Vec<&str> = updates.iter().map(|u| u.to.as_str()).collect();
    let updated = execute(
        tx,
        "UPDATE payments p SET state = u.to_state, updated_at = now() \
         FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[]) AS u (payment_id, from_state, to_state) \
         WHERE p.payment_id = u.payment_id AND p.state = u.from_state",
        &[&ids, &from, &to],
    )
    .await?;
    if updated != updates.len() as u64 {
        return Err(corrupt(
            "payments",
            format!("payments {ids:?} left their states under a row lock"),
        ));
    }
    Ok(())
}

// --------------------------------------------------------------- transfers

/// Inserts transfers in the order given, one statement for all.
pub async fn insert_transfers(
    tx: &Transaction<'_>,
    transfers: &[(PaymentId, &PlannedTransfer)],
) -> Result<(), StoreError> {
    if transfers.is_empty() {
        return Ok(());
    }
    let payment_ids: Vec<i64> = transfers.iter().map(|(id, _)| id.0).collect();
    let kinds: Vec<&str> = transfers.iter().map(|(_, t)| t.kind.as_str()).collect();
    let debits: Vec<i64> = transfers
        .iter()
        .map(|(_, t)| t.debit_account_id.0)
        .collect();
    let credits: Vec<i64> = transfers
        .iter()
        .map(|(_, t)| t.credit_account_id.0)
        .collect();
    let currencies: Vec<&str> = transfers
        .iter()
        .map(|(_, t)| t.amount.currency().code())
        .collect();
    let amounts: Vec<i64> = transfers
        .iter()
        .map(|(_, t)| t.amount.minor_units())
        .collect();
    let inserted = execute(
        tx,
        "INSERT INTO transfers \
         (payment_id, kind, debit_account_id, credit_account_id, currency, amount_minor) \
         SELECT payment_id, kind, debit_account_id, credit_account_id, currency, amount_minor \
         FROM unnest($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::BIGINT[]) \
           WITH ORDINALITY AS n (payment_id, kind, debit_account_id, credit_account_id, \
                                 currency, amount_minor, position) \
         ORDER BY position",
        &[&payment_ids, &kinds, &debits, &credits, &currencies, &amounts],
    )
    .await?;
    assert_eq!(inserted, transfers.len() as u64, "every transfer inserted");
    Ok(())
}

/// A posted transfer as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub transfer_id: TransferId,
    pub payment_id: PaymentId,
    pub kind: TransferKind,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    pub amount: Amount,
    pub created_at: SystemTime,
}

/// A half-open range of creation times, `[from, until)`; either end open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub from: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

/// Transfers touching `account_id`, oldest first, after `after` (keyset pagination).
pub async fn select_transfers_of_account(
    tx: &Transaction<'_>,
    account_id: AccountId,
    after: Option<TransferId>,
    created: &TimeRange,
    limit: i64,
) -> Result<Vec<Transfer>, StoreError> {
    let after = after.map_or(0, |id| id.0);
    let rows = query(
        tx,
        "SELECT transfer_id, payment_id, kind, debit_account_id, credit_account_id, currency, \
         amount_minor, created_at FROM transfers \
         WHERE (debit_account_id = $1 OR credit_account_id = $1) AND transfer_id > $2 \
           AND ($4::TIMESTAMPTZ IS NULL OR created_at >= $4) \
           AND ($5::TIMESTAMPTZ IS NULL OR created_at < $5) \
         ORDER BY transfer_id LIMIT $3",
        &[&account_id.0, &after, &limit, &created.from, &created.until],
    )
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

/// Transfers of one payment, in the order they were posted.
pub async fn select_transfers_of_payment(
    tx: &Transaction<'_>,
    payment_id: PaymentId,
) -> Result<Vec<Transfer>, StoreError> {
    let rows = query(
        tx,
        "SELECT transfer_id, payment_id, kind, debit_account_id, credit_account_id, currency, \
         amount_minor, created_at FROM transfers WHERE payment_id = $1 ORDER BY transfer_id",
        &[&payment_id.0],
    )
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

fn transfer_from_row(row: &Row) -> Result<Transfer, StoreError> {
    let kind: String = row.get("kind");
    let currency: String = row.get("currency");
    let currency = Currency::parse(&currency).map_err(|error| corrupt("transfers", error))?;
    Ok(Transfer {
        transfer_id: TransferId(row.get("transfer_id")),
        payment_id: PaymentId(row.get("payment_id")),
        kind: TransferKind::parse(&kind)
            .ok_or_else(|| corrupt("transfers", format!("kind {kind:?}")))?,
        debit_account_id: AccountId(row.get("debit_account_id")),
        credit_account_id: AccountId(row.get("credit_account_id")),
        amount: Amount::from_minor_units(currency, row.get("amount_minor"))
            .map_err(|error| corrupt("transfers", error))?,
        created_at: row.get("created_at"),
    })
}

// ----------------------------------------------------------------- outbox

/// The confirmation an outbox row holds until the ISO 20022 writer produces
/// pacs.002 from it: a stable JSON structure.
#[derive(Debug, Serialize)]
struct OutboxPayload<'a> {
    format: &'static str,
    business_key: String,
    payment_id: i64,
    from_state: Option<&'static str>,
    to_state: &'static str,
    status: &'static str,
    reason: Option<&'a str>,
    amount_minor: i64,
    currency: &'a str,
    origin_message_id: Option<&'a str>,
    origin_message_name_id: Option<&'a str>,
}

/// One outbox row for one state change.
#[derive(Debug)]
pub struct NewOutboxRow<'a> {
    pub payment: &'a Payment,
    pub from: Option<PaymentState>,
    pub to: PaymentState,
    pub reason: Option<&'a ReasonCode>,
    pub origin: Option<&'a DocumentOrigin>,
}

/// Inserts outbox rows in the order given (their ids follow it), one
/// statement for all.
pub async fn insert_outbox_rows(
    tx: &Transaction<'_>,
    rows: &[NewOutboxRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut payment_ids = Vec::with_capacity(rows.len());
    let mut from_states = Vec::with_capacity(rows.len());
    let mut to_states = Vec::with_capacity(rows.len());
    let mut statuses = Vec::with_capacity(rows.len());
    let mut reasons = Vec::with_capacity(rows.len());
    let mut payloads = Vec::with_capacity(rows.len());
    for row in rows {
        let status = row.to.confirmation_status().code();
        let payload = OutboxPayload {
            format: "ledger.confirmation.v0",
            business_key: row.payment.business_key.canonical(),
            payment_id: row.payment.payment_id.0,
            from_state: row.from.map(PaymentState::as_str),
            to_state: row.to.as_str(),
            status,
            reason: row.reason.map(ReasonCode::as_str),
            amount_minor: row.payment.amount.minor_units(),
            currency: row.payment.amount.currency().code(),
            origin_message_id: row.origin.map(|origin| origin.message_id.as_str()),
            origin_message_name_id: row.origin.map(|origin| origin.message_name_id.as_str()),
        };
        payment_ids.push(row.payment.payment_id.0);
        from_states.push(row.from.map(PaymentState::as_str));
        to_states.push(row.to.as_str());
        statuses.push(status);
        reasons.push(row.reason.map(ReasonCode::as_str));
        payloads.push(tokio_postgres::types::Json(
            serde_json::to_value(&payload).expect("the payload serializes"),
        ));
    }
    let inserted = execute(
        tx,
        "INSERT INTO outbox (payment_id, from_state, to_state, status_code, reason_code, payload) \
         SELECT payment_id, from_state, to_state, status_code, reason_code, payload \
         FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::JSONB[]) \
           WITH ORDINALITY AS n (payment_id, from_state, to_state, status_code, reason_code, \
                                 payload, position) \
         ORDER BY position",
        &[
            &payment_ids,
            &from_states,
            &to_states,
            &statuses,
            &reasons,
            &payloads,
        ],
    )
    .await?;
    assert_eq!(inserted, rows.len() as u64, "every outbox row inserted");
    Ok(())
}

// ------------------------------------------------------ conflicts for audit

#[derive(Debug)]
pub struct NewConflict<'a> {
    pub business_key: &'a BusinessKey,
    pub payment_id: Option<PaymentId>,
    pub reason: &'a RejectionReason,
    pub requested_state: PaymentState,
    pub client_id: &'a ClientId,
    pub idempotency_key: &'a IdempotencyKey,
}

/// Records refusals flagged for the audit, one statement for all.
pub async fn insert_conflicts(
    tx: &Transaction<'_>,
    conflicts: &[NewConflict<'_>],
) -> Result<(), StoreError> {
    if conflicts.is_empty() {
        return Ok(());
    }
    let business_keys: Vec<String> = conflicts
        .iter()
        .map(|c| c.business_key.canonical())
        .collect();
    let payment_ids: Vec<Option<i64>> = conflicts
        .iter()
        .map(|c| c.payment_id.map(|id| id.0))
        .collect();
    let reasons: Vec<&str> = conflicts.iter().map(|c| c.reason.code()).collect();
    let requested: Vec<&str> = conflicts
        .iter()
        .map(|c| c.requested_state.as_str())
        .collect();
    let clients: Vec<&str> = conflicts.iter().map(|c| c.client_id.as_str()).collect();
    let keys: Vec<&str> = conflicts
        .iter()
        .map(|c| c.idempotency_key.as_str())
        .collect();
    execute(
        tx,
        "INSERT INTO payment_conflicts \
         (business_key, payment_id, reason, requested_state, client_id, idempotency_key) \
         SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
                              $6::TEXT[])",
        &[
            &business_keys,
            &payment_ids,
            &reasons,
            &requested,
            &clients,
            &keys,
        ],
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------- idempotency records

#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub request_fingerprint: RequestFingerprint,
    pub response: Vec<u8>,
}

/// The records stored under `(client_id, key)` pairs, those that exist.
pub async fn select_idempotency_records(
    tx: &Transaction<'_>,
    keys: &[(&ClientId, &IdempotencyKey)],
) -> Result<Vec<(ClientId, IdempotencyKey, IdempotencyRecord)>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let clients: Vec<&str> = keys.iter().map(|(client, _)| client.as_str()).collect();
    let idempotency_keys: Vec<&str> = keys.iter().map(|(_, key)| key.as_str()).collect();
    let rows = query(
        tx,
        "SELECT r.client_id, r.idempotency_key, r.request_fingerprint, r.response \
         FROM idempotency_records r \
         JOIN unnest($1::TEXT[], $2::TEXT[]) AS w (client_id, idempotency_key) \
           ON r.client_id = w.client_id AND r.idempotency_key = w.idempotency_key",
        &[&clients, &idempotency_keys],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let client: String = row.get(0);
            let key: String = row.get(1);
            let fingerprint: Vec<u8> = row.get(2);
            let fingerprint: [u8; 32] = fingerprint
                .try_into()
                .map_err(|_| corrupt("idempotency_records", "fingerprint is not 32 bytes"))?;
            Ok((
                ClientId::parse(&client).map_err(|error| corrupt("idempotency_records", error))?,
                IdempotencyKey::parse(&key)
                    .map_err(|error| corrupt("idempotency_records", error))?,
                IdempotencyRecord {
                    request_fingerprint: RequestFingerprint::from_bytes(fingerprint),
                    response: row.get(3),
                },
            ))
        })
        .collect()
}

/// The advisory lock id of one `(client_id, key)` (semantics §1: a
/// concurrent duplicate finds it taken).
pub fn idempotency_lock_id(client: &ClientId, key: &IdempotencyKey) -> i64 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"ledger.idempotency_key\0");
    hasher.update((client.as_str().len() as u32).to_be_bytes());
    hasher.update(client.as_str().as_bytes());
    hasher.update(key.as_str().as_bytes());
    let digest = hasher.finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
}

/// Takes a session-level advisory lock per id, without waiting, on a
/// connection outside any transaction, so that the transaction begun after
/// it takes its snapshot after every earlier holder's commit. Says for each
/// id whether it was taken (`false`: another session holds it, applying the
/// same key right now); the caller releases what it took with
/// [`unlock_session_locks`].
pub async fn try_lock_session_each(
    client: &tokio_postgres::Client,
    lock_ids: &[i64],
) -> Result<Vec<bool>, StoreError> {
    if lock_ids.is_empty() {
        return Ok(Vec::new());
    }
    // One round trip: parsed, bound and run in one message sequence (an
    // unprepared `query` would first prepare it, in a round trip of its own).
    let rows = client
        .query_typed(
            "SELECT pg_try_advisory_lock(id) FROM unnest($1::BIGINT[]) WITH ORDINALITY AS l (id, n) \
             ORDER BY n",
            &[(&lock_ids, tokio_postgres::types::Type::INT8_ARRAY)],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Releases every session-level advisory lock of the connection.
pub async fn unlock_session_locks(client: &tokio_postgres::Client) -> Result<(), StoreError> {
    // The simple query protocol: one round trip, nothing to prepare.
    client
        .batch_execute("SELECT pg_advisory_unlock_all()")
        .await?;
    Ok(())
}

/// A record to store under `(client_id, key)`.
#[derive(Debug)]
pub struct NewIdempotencyRecord<'a> {
    pub client_id: &'a ClientId,
    pub key: &'a IdempotencyKey,
    pub record: IdempotencyRecord,
}

/// Stores idempotency records, one statement for all. A concurrent
/// transaction that stored one of the keys first makes this a unique
/// violation: the whole batch is retried and then answers from its record.
pub async fn insert_idempotency_records(
    tx: &Transaction<'_>,
    records: &[NewIdempotencyRecord<'_>],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let clients: Vec<&str> = records.iter().map(|r| r.client_id.as_str()).collect();
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    let fingerprints: Vec<&[u8]> = records
        .iter()
        .map(|r| r.record.request_fingerprint.as_bytes().as_slice())
        .collect();
    let responses: Vec<&[u8]> = records
        .iter()
        .map(|r| r.record.response.as_slice())
        .collect();
    execute(
        tx,
        "INSERT INTO idempotency_records \
         (client_id, idempotency_key, request_fingerprint, response) \
         SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::BYTEA[], $4::BYTEA[])",
        &[&clients, &keys, &fingerprints, &responses],
    )
    .await?;
    Ok(())
}

/// Deletes idempotency records created before `cutoff`; returns how many.
pub async fn delete_idempotency_records_before(
    tx: &Transaction<'_>,
    cutoff: SystemTime,
) -> Result<u64, StoreError> {
    execute(
        tx,
        "DELETE FROM idempotency_records WHERE created_at < $1",
        &[&cutoff],
    )
    .await
}

// ------------------------------------------------------ stored responses

/// The stored answer to one command: a receipt per message.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredResponse {
    pub receipts: Vec<StoredReceipt>,
}

/// The serializable counterpart of [`crate::Receipt`], private to the store:
/// its bytes are what replays return. Field order and names are part of the
/// stored format; add fields only with defaults.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredReceipt {
    pub outcome: String,
    pub reason: Option<StoredReason>,
    pub business_key: String,
    pub payment_id: Option<i64>,
    pub state: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredReason {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub account_id: Option<i64>,
    #[serde(default)]
    pub current_state: Option<String>,
    #[serde(default)]
    pub requested_state: Option<String>,
}

// ------------------------------------------------------ confirmations feed

/// A position in the confirmations feed: after the row `outbox_id` of the
/// transaction `transaction_id` (both zero: the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FeedPosition {
    pub transaction_id: i64,
    pub outbox_id: i64,
}

/// One outbox row, as the confirmations feed delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub position: FeedPosition,
    pub outbox_id: i64,
    pub message_id: String,
    pub payment_id: PaymentId,
    pub business_key: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub status_code: String,
    pub reason_code: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at: SystemTime,
    /// The document whose application made this change, when known.
    pub origin: Option<DocumentOrigin>,
}

/// Rows after `after`, in commit-safe order, written only by transactions
/// older than every transaction still running, so no row can later appear
/// before one returned here.
pub async fn select_outbox_after(
    tx: &Transaction<'_>,
    after: FeedPosition,
    visible: &PaymentVisibility,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let parameters = VisibilityParameters::of(visible);
    let sql = format!(
        "SELECT {OUTBOX_ROW_COLUMNS} FROM {OUTBOX_ROW_TABLES} \
         WHERE (o.transaction_id, o.outbox_id) > ($1::BIGINT::TEXT::xid8, $2) \
           AND o.transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
           AND {} \
         ORDER BY o.transaction_id, o.outbox_id LIMIT $3",
        visible_payment_condition(4)
    );
    let rows = query(
        tx,
        &sql,
        &[
            &after.transaction_id,
            &after.outbox_id,
            &limit,
            &parameters.all,
            &parameters.created_by,
            &parameters.account_patterns,
        ],
    )
    .await?;
    Ok(rows.iter().map(outbox_row_from_row).collect())
}

/// The columns [`outbox_row_from_row`] reads, from [`OUTBOX_ROW_TABLES`].
pub(crate) const OUTBOX_ROW_COLUMNS: &str =
    "o.transaction_id::TEXT::BIGINT AS transaction_id, o.outbox_id, o.message_id, \
     o.payment_id, p.business_key, o.from_state, o.to_state, o.status_code, \
     o.reason_code, p.amount_minor, p.currency, o.created_at, \
     o.payload->>'origin_message_id' AS origin_message_id, \
     o.payload->>'origin_message_name_id' AS origin_message_name_id";

/// An outbox row `o` with its payment `p`.
pub(crate) const OUTBOX_ROW_TABLES: &str = "outbox o JOIN payments p USING (payment_id)";

/// An outbox row read with [`OUTBOX_ROW_COLUMNS`].
pub(crate) fn outbox_row_from_row(row: &Row) -> OutboxRow {
    let position = FeedPosition {
        transaction_id: row.get("transaction_id"),
        outbox_id: row.get("outbox_id"),
    };
    OutboxRow {
        position,
        outbox_id: position.outbox_id,
        message_id: row.get("message_id"),
        payment_id: PaymentId(row.get("payment_id")),
        business_key: row.get("business_key"),
        from_state: row.get("from_state"),
        to_state: row.get("to_state"),
        status_code: row.get("status_code"),
        reason_code: row.get("reason_code"),
        amount_minor: row.get("amount_minor"),
        currency: row.get::<_, String>("currency"),
        created_at: row.get("created_at"),
        origin: match (
            row.get::<_, Option<String>>("origin_message_id"),
            row.get::<_, Option<String>>("origin_message_name_id"),
        ) {
            (Some(message_id), Some(message_name_id)) => Some(DocumentOrigin {
                message_id,
                message_name_id,
            }),
            _ => None,
        },
    }
}

/// Limits every further statement of this transaction to `timeout_ms`.
pub async fn set_local_statement_timeout(
    tx: &Transaction<'_>,
    timeout_ms: u64,
) -> Result<(), StoreError> {
    // A number we formatted: safe to splice (SET takes no parameters).
    tx.batch_execute(&format!("SET LOCAL statement_timeout = {timeout_ms}"))
        .await?;
    Ok(())
}

/// A round trip to the database, for health checks.
pub async fn ping(tx: &Transaction<'_>) -> Result<(), StoreError> {
    query_one(tx, "SELECT 1", &[]).await?;
    Ok(())
}
