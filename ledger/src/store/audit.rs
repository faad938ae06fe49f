//! The reconciliation audit's SQL: set-based queries over the ledger tables.
//!
//! Each function runs one statement in the open transaction it is given (the
//! audit's SERIALIZABLE READ ONLY DEFERRABLE snapshot) and returns plain rows.
//! The checks of `docs/semantics.md` §6 items 1-5 each scan their tables once
//! and return only the rows that are wrong, at most `limit` of them; the
//! statement comparison (item 6) reads one account's booked transfers over a
//! period, by the transfers' account indexes.
//!
//! Sums are returned as text (`NUMERIC::TEXT`) and parsed into `i128`: a
//! corrupt table may hold sums no `BIGINT` can.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{corrupt, query, query_one, StoreError};
use crate::model::AccountId;

/// The kinds of transfer that move posted (booked) balances: what a bank
/// statement lists. `PENDING` and `VOID_PENDING` only move pending balances.
pub(super) const BOOKED_KINDS: &str = "('POSTED', 'POST_PENDING', 'REVERSAL')";

fn big(row: &Row, column: &str) -> Result<i128, StoreError> {
    let text: String = row.get(column);
    text.parse()
        .map_err(|_| corrupt("audit", format!("{column} = {text:?} is not an integer")))
}

/// How much the audit looked at, and when (the snapshot's time).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableCounts {
    /// `now()` of the audit's transaction, UTC, RFC 3339.
    pub as_of: String,
    pub accounts: i64,
    pub payments: i64,
    pub transfers: i64,
    pub outbox_rows: i64,
    pub conflicts: i64,
    pub admin_changes: i64,
}

pub async fn select_table_counts(tx: &Transaction<'_>) -> Result<TableCounts, StoreError> {
    let row = query_one(
        tx,
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS as_of, \
         (SELECT count(*) FROM accounts) AS accounts, \
         (SELECT count(*) FROM payments) AS payments, \
         (SELECT count(*) FROM transfers) AS transfers, \
         (SELECT count(*) FROM outbox) AS outbox_rows, \
         (SELECT count(*) FROM payment_conflicts) AS conflicts, \
         (SELECT count(*) FROM admin_changes) AS admin_changes",
        &[],
    )
    .await?;
    Ok(TableCounts {
        as_of: row.get("as_of"),
        accounts: row.get("accounts"),
        payments: row.get("payments"),
        transfers: row.get("transfers"),
        outbox_rows: row.get("outbox_rows"),
        conflicts: row.get("conflicts"),
        admin_changes: row.get("admin_changes"),
    })
}

/// Semantics §6.1: a currency whose stored debits and credits differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialBalanceRow {
    pub currency: String,
    pub debits_pending: i128,
    pub credits_pending: i128,
    pub debits_posted: i128,
    pub credits_posted: i128,
}

pub async fn select_trial_balance_differences(
    tx: &Transaction<'_>,
    limit: i64,
) -> Result<Vec<TrialBalanceRow>, StoreError> {
    let rows = query(
        tx,
        "SELECT currency::TEXT AS currency, \
           SUM(debits_pending)::TEXT AS debits_pending, SUM(credits_pending)::TEXT AS credits_pending, \
           SUM(debits_posted)::TEXT AS debits_posted, SUM(credits_posted)::TEXT AS credits_posted \
         FROM accounts GROUP BY currency \
         HAVING SUM(debits_posted) <> SUM(credits_posted) OR SUM(debits_pending) <> SUM(credits_pending) \
         ORDER BY currency LIMIT $1",
        &[&limit],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TrialBalanceRow {
                currency: row.get("currency"),
                debits_pending: big(row, "debits_pending")?,
                credits_pending: big(row, "credits_pending")?,
                debits_posted: big(row, "debits_posted")?,
                credits_posted: big(row, "credits_posted")?,
            })
        })
        .collect()
}

/// Four balances in minor units: debits pending, debits posted, credits
/// pending, credits posted.
pub type BalanceColumns = [i128; 4];

/// Semantics §6.2: an account whose stored balances differ from the sums of
/// its transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceMismatchRow {
    pub account_id: AccountId,
    pub external_reference: String,
    pub currency: String,
    pub stored: BalanceColumns,
    pub from_transfers: BalanceColumns,
}

pub async fn select_balance_mismatches(
    tx: &Transaction<'_>,
    limit: i64,
) -> Result<Vec<BalanceMismatchRow>, StoreError> {
    // Each transfer moves its debit account's debit columns and its credit
    // account's credit columns: PENDING grows pending, POST_PENDING moves
    // pending to posted, VOID_PENDING shrinks pending, POSTED and REVERSAL
    // grow posted. Grouped per side first, so each transfer is read once.
    let rows = query(
        tx,
        "WITH sides AS ( \
           SELECT debit_account_id AS account_id, \
             SUM(CASE kind WHEN 'PENDING' THEN amount_minor \
                 WHEN 'POST_PENDING' THEN -amount_minor WHEN 'VOID_PENDING' THEN -amount_minor \
                 ELSE 0 END) AS debits_pending, \
             SUM(CASE WHEN kind IN ('POSTED', 'POST_PENDING', 'REVERSAL') THEN amount_minor \
                 ELSE 0 END) AS debits_posted, \
             0::NUMERIC AS credits_pending, 0::NUMERIC AS credits_posted \
           FROM transfers GROUP BY debit_account_id \
           UNION ALL \
           SELECT credit_account_id, 0, 0, \
             SUM(CASE kind WHEN 'PENDING' THEN amount_minor \
                 WHEN 'POST_PENDING' THEN -amount_minor WHEN 'VOID_PENDING' THEN -amount_minor \
                 ELSE 0 END), \
             SUM(CASE WHEN kind IN ('POSTED', 'POST_PENDING', 'REVERSAL') THEN amount_minor \
                 ELSE 0 END) \
           FROM transfers GROUP BY credit_account_id), \
         sums AS ( \
           SELECT account_id, SUM(debits_pending) AS debits_pending, \
             SUM(debits_posted) AS debits_posted, SUM(credits_pending) AS credits_pending, \
             SUM(credits_posted) AS credits_posted \
           FROM sides GROUP BY account_id) \
         SELECT a.account_id, a.external_reference, a.currency::TEXT AS currency, \
           a.debits_pending::TEXT AS stored_debits_pending, a.debits_posted::TEXT AS stored_debits_posted, \
           a.credits_pending::TEXT AS stored_credits_pending, a.credits_posted::TEXT AS stored_credits_posted, \
           COALESCE(s.debits_pending, 0)::TEXT AS sum_debits_pending, \
           COALESCE(s.debits_posted, 0)::TEXT AS sum_debits_posted, \
           COALESCE(s.credits_pending, 0)::TEXT AS sum_credits_pending, \
           COALESCE(s.credits_posted, 0)::TEXT AS sum_credits_posted \
         FROM accounts a LEFT JOIN sums s USING (account_id) \
         WHERE a.debits_pending <> COALESCE(s.debits_pending, 0) \
            OR a.debits_posted <> COALESCE(s.debits_posted, 0) \
            OR a.credits_pending <> COALESCE(s.credits_pending, 0) \
            OR a.credits_posted <> COALESCE(s.credits_posted, 0) \
         ORDER BY a.account_id LIMIT $1",
        &[&limit],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(BalanceMismatchRow {
                account_id: AccountId(row.get("account_id")),
                external_reference: row.get("external_reference"),
                currency: row.get("currency"),
                stored: [
                    big(row, "stored_debits_pending")?,
                    big(row, "stored_debits_posted")?,
                    big(row, "stored_credits_pending")?,
                    big(row, "stored_credits_posted")?,
                ],
                from_transfers: [
                    big(row, "sum_debits_pending")?,
                    big(row, "sum_debits_posted")?,
                    big(row, "sum_credits_pending")?,
                    big(row, "sum_credits_posted")?,
                ],
            })
        })
        .collect()
}

/// Semantics §6.3: a payment whose transfers are not what its state implies
/// (kinds, or a transfer's amount, currency or accounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransfersStateRow {
    pub payment_id: i64,
    pub business_key: String,
    pub state: String,
    /// The kinds of its transfers, in the order they were posted.
    pub kinds: String,
    /// Whether every transfer carries the payment's amount, currency and
    /// accounts (reversed for `REVERSAL`).
    pub legs_match: bool,
}

pub async fn select_transfers_not_matching_state(
    tx: &Transaction<'_>,
    limit: i64,
) -> Result<Vec<TransfersStateRow>, StoreError> {
    // The kinds each state allows besides its returns' reversals
    // (docs/semantics.md, "Moves and their postings"), sorted by kind, as a
    // comma-separated list; reversals only once settled. Each reversal's
    // amount is checked against its recorded return by
    // `select_return_mismatches`.
    let rows = query(
        tx,
        "SELECT payment_id, business_key, state, kinds, legs_match FROM ( \
           SELECT p.payment_id, p.business_key, p.state, \
             COALESCE(string_agg(t.kind, ',' ORDER BY t.transfer_id), '') AS kinds, \
             COALESCE(string_agg(t.kind, ',' ORDER BY t.kind) \
               FILTER (WHERE t.kind <> 'REVERSAL'), '') AS kinds_sorted, \
             COALESCE(bool_or(t.kind = 'REVERSAL'), FALSE) AS reversed, \
             COALESCE(bool_and(t.currency = p.currency AND \
               CASE WHEN t.kind = 'REVERSAL' \
                 THEN t.amount_minor <= p.amount_minor \
                   AND t.debit_account_id = p.credit_account_id AND t.credit_account_id = p.debit_account_id \
                 ELSE t.amount_minor = p.amount_minor \
                   AND t.debit_account_id = p.debit_account_id AND t.credit_account_id = p.credit_account_id \
               END), TRUE) AS legs_match \
           FROM payments p LEFT JOIN transfers t USING (payment_id) \
           GROUP BY p.payment_id) AS per_payment \
         WHERE NOT legs_match OR (reversed AND state NOT IN ('SETTLED', 'RETURNED')) \
           OR (state, kinds_sorted) NOT IN (VALUES \
           ('PENDING', 'PENDING'), ('SETTLED', 'POSTED'), ('SETTLED', 'PENDING,POST_PENDING'), \
           ('REJECTED', ''), ('REJECTED', 'PENDING,VOID_PENDING'), \
           ('RETURNED', 'POSTED'), ('RETURNED', 'PENDING,POST_PENDING')) \
         ORDER BY payment_id LIMIT $1",
        &[&limit],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| TransfersStateRow {
            payment_id: row.get("payment_id"),
            business_key: row.get("business_key"),
            state: row.get("state"),
            kinds: row.get("kinds"),
            legs_match: row.get("legs_match"),
        })
        .collect())
}

/// Semantics §2, §6.3 for returns: a payment whose returns are not each
/// reversed once by a transfer of the return's amount, whose returns add up
/// to more than its amount or to another amount than it records as
/// returned, or that is RETURNED other than exactly when all of it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnMismatchRow {
    pub payment_id: i64,
    pub business_key: String,
    pub state: String,
    pub amount_minor: i64,
    pub amount_returned_minor: i64,
    /// The sum of its recorded returns.
    pub returns_minor: i128,
    /// Its returns, `return id=recorded/reversed` (`-` for none), by id.
    pub returns: String,
    pub problem: String,
}

pub async fn select_return_mismatches(
    tx: &Transaction<'_>,
    limit: i64,
) -> Result<Vec<ReturnMismatchRow>, StoreError> {
    let rows = query(
        tx,
        "WITH reversals AS ( \
           SELECT payment_id, return_id, COUNT(*) AS times, SUM(amount_minor) AS amount_minor \
           FROM transfers WHERE kind = 'REVERSAL' GROUP BY payment_id, return_id), \
         per_return AS ( \
           SELECT payment_id, return_id, v.times, v.amount_minor AS reversed_minor, \
             r.amount_minor AS recorded_minor \
           FROM reversals v FULL JOIN payment_returns r USING (payment_id, return_id)), \
         per_payment AS ( \
           SELECT payment_id, SUM(COALESCE(recorded_minor, 0)) AS recorded_total, \
             COALESCE(bool_or(times > 1), FALSE) AS reversed_twice, \
             bool_or(recorded_minor IS DISTINCT FROM reversed_minor) AS unmatched, \
             string_agg(COALESCE(return_id, '(none)') || '=' || COALESCE(recorded_minor::TEXT, '-') \
               || '/' || COALESCE(reversed_minor::TEXT, '-'), ', ' ORDER BY return_id) AS returns \
           FROM per_return GROUP BY payment_id), \
         checked AS ( \
           SELECT p.payment_id, p.business_key, p.state, p.amount_minor, p.amount_returned_minor, \
             COALESCE(x.recorded_total, 0) AS recorded_total, COALESCE(x.returns, '') AS returns, \
             CASE WHEN x.reversed_twice THEN 'a return was reversed more than once' \
               WHEN x.unmatched THEN 'a reversal transfer differs from its recorded return' \
               WHEN COALESCE(x.recorded_total, 0) > p.amount_minor \
                 THEN 'its returns add up to more than its amount' \
               WHEN COALESCE(x.recorded_total, 0) <> p.amount_returned_minor \
                 THEN 'its returns add up to another amount than it records as returned' \
               WHEN (p.state = 'RETURNED') <> (COALESCE(x.recorded_total, 0) = p.amount_minor) \
                 THEN 'it is RETURNED other than exactly when all of it was returned' \
             END AS problem \
           FROM payments p LEFT JOIN per_payment x USING (payment_id)) \
         SELECT payment_id, business_key, state, amount_minor, amount_returned_minor, \
           recorded_total::TEXT AS recorded_total, returns, problem \
         FROM checked WHERE problem IS NOT NULL ORDER BY payment_id LIMIT $1",
        &[&limit],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ReturnMismatchRow {
                payment_id: row.get("payment_id"),
                business_key: row.get("business_key"),
                state: row.get("state"),
                amount_minor: row.get("amount_minor"),
                amount_returned_minor: row.get("amount_returned_minor"),
                returns_minor: big(row, "recorded_total")?,
                returns: row.get("returns"),
                problem: row.get("problem"),
            })
        })
        .collect()
}

/// Semantics §6.2 for the running balances (`V8__running_balances.sql`): a
/// transfer whose recorded balances of one of its accounts differ from the
/// sums of that account's transfers up to it, or that was stamped earlier
/// than the account's transfer before it (balances as of a time would then
/// not be a prefix of its history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningBalanceRow {
    pub account_id: i64,
    pub transfer_id: i64,
    /// debits pending, debits posted, credits pending, credits posted.
    pub recorded: [i128; 4],
    pub from_transfers: [i128; 4],
    pub out_of_order: bool,
}

pub async fn select_running_balance_mismatches(
    tx: &Transaction<'_>,
    limit: i64,
) -> Result<Vec<RunningBalanceRow>, StoreError> {
    let effect = |amount_kind: &str| {
        format!(
            "CASE kind WHEN 'PENDING' THEN {amount_kind} WHEN 'POST_PENDING' THEN -{amount_kind} \
               WHEN 'VOID_PENDING' THEN -{amount_kind} ELSE 0 END::NUMERIC, \
             CASE kind WHEN 'PENDING' THEN 0 WHEN 'VOID_PENDING' THEN 0 \
               ELSE {amount_kind} END::NUMERIC"
        )
    };
    let sides = effect("amount_minor");
    let sql = format!(
        "WITH effects AS ( \
           SELECT transfer_id, created_at, debit_account_id AS account_id, {sides}, 0::NUMERIC, \
             0::NUMERIC, debit_debits_pending, debit_debits_posted, debit_credits_pending, \
             debit_credits_posted FROM transfers \
           UNION ALL \
           SELECT transfer_id, created_at, credit_account_id, 0::NUMERIC, 0::NUMERIC, {sides}, \
             credit_debits_pending, credit_debits_posted, credit_credits_pending, \
             credit_credits_posted FROM transfers), \
         named (transfer_id, created_at, account_id, dp, dpo, cp, cpo, rdp, rdpo, rcp, rcpo) AS ( \
           SELECT * FROM effects), \
         running AS ( \
           SELECT account_id, transfer_id, rdp, rdpo, rcp, rcpo, \
             SUM(dp) OVER w AS dp, SUM(dpo) OVER w AS dpo, SUM(cp) OVER w AS cp, \
             SUM(cpo) OVER w AS cpo, \
             COALESCE(created_at < lag(created_at) OVER w, FALSE) AS out_of_order \
           FROM named WINDOW w AS (PARTITION BY account_id ORDER BY transfer_id \
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) \
         SELECT account_id, transfer_id, rdp::TEXT AS rdp, rdpo::TEXT AS rdpo, \
           rcp::TEXT AS rcp, rcpo::TEXT AS rcpo, dp::TEXT AS dp, dpo::TEXT AS dpo, \
           cp::TEXT AS cp, cpo::TEXT AS cpo, out_of_order \
         FROM running \
         WHERE out_of_order OR rdp <> dp OR rdpo <> dpo OR rcp <> cp OR rcpo <> cpo \
         ORDER BY account_id, transfer_id LIMIT $1"
    );
    let rows = query(tx, &sql, &[&limit]).await?;
    rows.iter()
        .map(|row| {
            Ok(RunningBalanceRow {
                account_id: row.get("account_id"),
                transfer_id: row.get("transfer_id"),
                recorded: [
                    big(row, "rdp")?,
                    big(row, "rdpo")?,
                    big(row, "rcp")?,
                    big(row, "rcpo")?,
                ],
                from_transfers: [
                    big(row, "dp")?,
                    big(row, "dpo")?,
                    big(row, "cp")?,
                    big(row, "cpo")?,
                ],
                out_of_order: row.get("out_of_order"),
            })
        })
        .collect()
}

/// Semantics §6.4: a payment whose outbox rows are not exactly one per state
/// change, or an outbox row that records no state change of its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMismatchRow {
    pub payment_id: i64,
    pub business_key: String,
    pub state: String,
    /// The moves its outbox rows record, in order (`NONE->PENDING, PENDING->SETTLED`).
    pub moves: String,
    pub problem: String,
}

pub async fn select_outbox_mismatches(
    tx: &Transaction<'_>,
    limit: i64,
) -> Result<Vec<OutboxMismatchRow>, StoreError> {
    // A payment's outbox rows, in the order they were written, must form one
    // chain of allowed moves from NONE to its current state, and pass through
    // PENDING exactly when a PENDING transfer was posted.
    let rows = query(
        tx,
        "WITH chain AS ( \
           SELECT payment_id, from_state, to_state, \
             lag(to_state) OVER w AS previous_to_state, row_number() OVER w AS position \
           FROM outbox WINDOW w AS (PARTITION BY payment_id ORDER BY outbox_id)), \
         paths AS ( \
           SELECT payment_id, \
             string_agg(COALESCE(from_state, 'NONE') || '->' || to_state, ', ' ORDER BY position) AS moves, \
             bool_and(from_state IS NOT DISTINCT FROM previous_to_state) AS linked, \
             bool_and((COALESCE(from_state, 'NONE'), to_state) IN (VALUES \
               ('NONE', 'PENDING'), ('NONE', 'SETTLED'), ('NONE', 'REJECTED'), \
               ('PENDING', 'SETTLED'), ('PENDING', 'REJECTED'), ('PENDING', 'RETURNED'), \
               ('SETTLED', 'RETURNED'))) AS moves_allowed, \
             (array_agg(to_state ORDER BY position DESC))[1] AS last_to_state, \
             bool_or(to_state = 'PENDING') AS visited_pending \
           FROM chain GROUP BY payment_id), \
         pending_transfers AS (SELECT DISTINCT payment_id FROM transfers WHERE kind = 'PENDING') \
         SELECT p.payment_id, p.business_key, p.state, COALESCE(c.moves, '') AS moves, \
           CASE WHEN c.payment_id IS NULL THEN 'no outbox row' \
             WHEN NOT c.linked THEN 'the outbox rows do not form one chain of state changes' \
             WHEN NOT c.moves_allowed THEN 'an outbox row records a move the state order does not allow' \
             WHEN c.last_to_state <> p.state THEN 'the last outbox row does not end in the payment''s state' \
             WHEN c.visited_pending THEN 'the outbox rows pass through PENDING but no PENDING transfer was posted' \
             ELSE 'a PENDING transfer was posted but no outbox row records the move to PENDING' END AS problem \
         FROM payments p LEFT JOIN paths c USING (payment_id) \
           LEFT JOIN pending_transfers pt USING (payment_id) \
         WHERE c.payment_id IS NULL OR NOT c.linked OR NOT c.moves_allowed \
            OR c.last_to_state <> p.state OR c.visited_pending <> (pt.payment_id IS NOT NULL) \
         ORDER BY p.payment_id LIMIT $1",
        &[&limit],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| OutboxMismatchRow {
            payment_id: row.get("payment_id"),
            business_key: row.get("business_key"),
            state: row.get("state"),
            moves: row.get("moves"),
            problem: row.get("problem"),
        })
        .collect())
}

/// Semantics §6.5: a business key held by more than one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessKeyTwiceRow {
    pub business_key: String,
    pub payment_ids: Vec<i64>,
}

pub async fn select_business_keys_applied_twice(
    tx: &Transaction<'_>,
    limit: i64,
) -> Result<Vec<BusinessKeyTwiceRow>, StoreError> {
    let rows = query(
        tx,
        "SELECT business_key, array_agg(payment_id ORDER BY payment_id) AS payment_ids \
         FROM payments GROUP BY business_key HAVING count(*) > 1 \
         ORDER BY business_key LIMIT $1",
        &[&limit],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| BusinessKeyTwiceRow {
            business_key: row.get("business_key"),
            payment_ids: row.get("payment_ids"),
        })
        .collect())
}

/// A booked transfer of one account (semantics §6.6), as a statement entry
/// of that account would show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedTransferRow {
    pub transfer_id: i64,
    pub payment_id: i64,
    pub business_key: String,
    pub kind: String,
    /// Whether the account is the transfer's debit account (money leaves it).
    pub is_debit: bool,
    pub currency: String,
    pub amount_minor: i64,
    /// `created_at` as a UTC date, `YYYY-MM-DD`: the ledger's booking and
    /// value date.
    pub booking_date: String,
    /// Whether the booking date is within the requested period (rows up to
    /// `margin_days` either side are returned as match candidates too).
    pub in_period: bool,
}

/// Booked transfers (`POSTED`, `POST_PENDING`, `REVERSAL`) of the account
/// from `from` to `to` (UTC dates, `YYYY-MM-DD`, inclusive), widened by
/// `margin_days` either side, oldest first.
pub async fn select_booked_transfers_of_account(
    tx: &Transaction<'_>,
    account_id: AccountId,
    from: &str,
    to: &str,
    margin_days: i32,
) -> Result<Vec<BookedTransferRow>, StoreError> {
    let sql = format!(
        "SELECT t.transfer_id, t.payment_id, p.business_key, t.kind, \
           (t.debit_account_id = $1) AS is_debit, t.currency::TEXT AS currency, t.amount_minor, \
           to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS booking_date, \
           (t.created_at >= $2::TEXT::DATE AT TIME ZONE 'UTC' \
             AND t.created_at < ($3::TEXT::DATE + 1) AT TIME ZONE 'UTC') AS in_period \
         FROM transfers t JOIN payments p USING (payment_id) \
         WHERE (t.debit_account_id = $1 OR t.credit_account_id = $1) \
           AND t.kind IN {BOOKED_KINDS} \
           AND t.created_at >= ($2::TEXT::DATE - $4::INT) AT TIME ZONE 'UTC' \
           AND t.created_at < ($3::TEXT::DATE + 1 + $4::INT) AT TIME ZONE 'UTC' \
         ORDER BY t.transfer_id"
    );
    let rows = query(tx, &sql, &[&account_id.0, &from, &to, &margin_days]).await?;
    Ok(rows
        .iter()
        .map(|row| BookedTransferRow {
            transfer_id: row.get("transfer_id"),
            payment_id: row.get("payment_id"),
            business_key: row.get("business_key"),
            kind: row.get("kind"),
            is_debit: row.get("is_debit"),
            currency: row.get("currency"),
            amount_minor: row.get("amount_minor"),
            booking_date: row.get("booking_date"),
            in_period: row.get("in_period"),
        })
        .collect())
}

/// An account's booked balance (credits minus debits, posted) at the start
/// of `from` and at the end of `to`, UTC, from its transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookedBalances {
    pub opening: i128,
    pub closing: i128,
}

pub async fn select_booked_balances(
    tx: &Transaction<'_>,
    account_id: AccountId,
    from: &str,
    to: &str,
) -> Result<BookedBalances, StoreError> {
    let sql = format!(
        "SELECT \
           COALESCE(SUM(CASE WHEN credit_account_id = $1 THEN amount_minor ELSE -amount_minor END) \
             FILTER (WHERE created_at < $2::TEXT::DATE AT TIME ZONE 'UTC'), 0)::TEXT AS opening, \
           COALESCE(SUM(CASE WHEN credit_account_id = $1 THEN amount_minor ELSE -amount_minor END) \
             FILTER (WHERE created_at < ($3::TEXT::DATE + 1) AT TIME ZONE 'UTC'), 0)::TEXT AS closing \
         FROM transfers \
         WHERE (debit_account_id = $1 OR credit_account_id = $1) AND kind IN {BOOKED_KINDS}"
    );
    let row = query_one(tx, &sql, &[&account_id.0, &from, &to]).await?;
    Ok(BookedBalances {
        opening: big(&row, "opening")?,
        closing: big(&row, "closing")?,
    })
}
