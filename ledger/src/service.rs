//! [`Ledger`]: the Rust API that the gRPC server and the file ingest call.
//!
//! Each application (or batch of applications) runs in one SERIALIZABLE
//! transaction: idempotency record, payment state, transfers, balance updates
//! and outbox row commit together or not at all. Serialization failures and
//! deadlocks are retried with jittered backoff up to a bound.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction};
use rand::Rng;
use tokio_postgres::IsolationLevel;

use crate::apply::{self, ItemResult};
use crate::error::LedgerError;
use crate::model::Outcome;
use crate::model::{
    Account, AccountId, AccountReference, AccountScope, Bic, BusinessKey, ClientId, Currency,
    DocumentOrigin, IdempotencyKey, OverdraftRule, Payment, PaymentId, PaymentMessage,
    PaymentState, PaymentVisibility, RequestFingerprint, TransferId,
};
use crate::model::{AdminAction, AdminChange};
use crate::store::admin_changes::NewAdminChange;
use crate::store::{
    self, AccountMapping, FeedPosition, OutboxRow, StoreError, TimeRange, Transfer,
};

/// Limits and knobs, each with its unit in its name.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// Connections in the pool; also the bound on concurrent transactions.
    pub pool_size_max: usize,
    /// How long a caller waits for a pooled connection before `Unavailable`.
    pub pool_wait_timeout_ms: u64,
    /// Server-side limit on every statement (SET statement_timeout).
    pub statement_timeout_ms: u64,
    /// Attempts of one transaction, counting the first, before `Contention`.
    pub transaction_attempts_max: u32,
    /// First backoff after a serialization failure; doubles each attempt, jittered.
    pub retry_backoff_initial_ms: u64,
    pub retry_backoff_max_ms: u64,
    /// Largest batch [`Ledger::apply_batch`] accepts.
    pub batch_size_max: usize,
    /// Most messages one [`ApplyCommand`] may carry.
    pub messages_per_command_max: usize,
    /// Largest page [`Ledger::list_transfers`] returns.
    pub page_size_max: usize,
    #[doc(hidden)]
    pub fault_injection: FaultInjection,
}

impl Default for LedgerOptions {
    fn default() -> LedgerOptions {
        LedgerOptions {
            pool_size_max: 16,
            pool_wait_timeout_ms: 5_000,
            statement_timeout_ms: 10_000,
            transaction_attempts_max: 12,
            retry_backoff_initial_ms: 2,
            retry_backoff_max_ms: 250,
            batch_size_max: 1_000,
            messages_per_command_max: 10_000,
            page_size_max: 1_000,
            fault_injection: FaultInjection::default(),
        }
    }
}

/// Faults the tests arm to prove the commit-loss path. Each counter is the
/// number of transactions still to fail that way; zero in production.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct FaultInjection {
    /// Terminate this transaction's backend just before COMMIT: the commit
    /// fails with a lost connection and nothing was committed.
    pub terminate_backend_before_commit: Arc<AtomicU32>,
    /// Commit, then report the connection as lost: the commit happened but
    /// its acknowledgement "never arrived".
    pub lose_commit_acknowledgement: Arc<AtomicU32>,
}

fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A request to apply payment messages (the transactions of one ISO 20022
/// message, or one of them), exactly once per `(client_id, idempotency_key)`.
/// Each message gets its own outcome; the request's answer is stored whole.
#[derive(Debug, Clone)]
pub struct ApplyCommand {
    pub client_id: ClientId,
    pub idempotency_key: IdempotencyKey,
    /// SHA-256 of the canonical request; a reused key with another
    /// fingerprint is refused.
    pub fingerprint: RequestFingerprint,
    pub messages: Vec<PaymentMessage>,
    /// The document the messages came in, named by the confirmations.
    pub origin: Option<DocumentOrigin>,
    /// The accounts the client may debit; a message debiting another is
    /// refused (`DEBIT_ACCOUNT_OUT_OF_SCOPE`). Not part of the fingerprint:
    /// a retry is answered as the first attempt was.
    pub debit_scope: AccountScope,
}

impl ApplyCommand {
    /// Names the document the messages came in; the fingerprint covers it.
    pub fn with_origin(mut self, origin: DocumentOrigin) -> ApplyCommand {
        let messages = PaymentMessage::fingerprint_of_all(&self.messages);
        let mut canonical = Vec::with_capacity(128);
        for part in [
            messages.as_bytes().as_slice(),
            origin.message_id.as_bytes(),
            origin.message_name_id.as_bytes(),
        ] {
            canonical.extend_from_slice(&(part.len() as u32).to_be_bytes());
            canonical.extend_from_slice(part);
        }
        self.fingerprint = RequestFingerprint::of("ledger.ApplyDocument", &canonical);
        self.origin = Some(origin);
        self
    }

    /// A command whose fingerprint covers every message, in order.
    pub fn new(
        client_id: ClientId,
        idempotency_key: IdempotencyKey,
        messages: Vec<PaymentMessage>,
    ) -> ApplyCommand {
        ApplyCommand {
            fingerprint: PaymentMessage::fingerprint_of_all(&messages),
            client_id,
            idempotency_key,
            messages,
            origin: None,
            debit_scope: AccountScope::Unrestricted,
        }
    }

    /// Limits the accounts the command may debit.
    pub fn with_debit_scope(mut self, debit_scope: AccountScope) -> ApplyCommand {
        self.debit_scope = debit_scope;
        self
    }
}

/// What applying a message did, as stored under its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub outcome: Outcome,
    pub business_key: BusinessKey,
    pub payment_id: Option<PaymentId>,
    /// The payment's state after this application.
    pub state: Option<PaymentState>,
}

/// The answer to an [`ApplyCommand`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResponse {
    /// One per message, in the command's order.
    pub receipts: Vec<Receipt>,
    /// The stored response: identical, byte for byte, for every replay.
    pub response_bytes: Vec<u8>,
    /// Whether this answer is a replay of an earlier attempt's stored response.
    pub replay: bool,
}

/// How a caller names an account to open.
#[derive(Debug, Clone)]
pub struct OpenAccount {
    pub external_reference: AccountReference,
    pub currency: Currency,
    pub overdraft: OverdraftRule,
    /// Who opens it: recorded with the change.
    pub opened_by: ClientId,
}

/// The ledger: a connection pool and the rules for using it.
#[derive(Clone)]
pub struct Ledger {
    pool: Pool,
    options: Arc<LedgerOptions>,
    /// The connection settings the pool was built from (with the ledger's
    /// session options), for a pool of its own ([`Ledger::with_pool_of`]).
    config: tokio_postgres::Config,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("pool", &self.pool.status())
            .field("options", &self.options)
            .finish()
    }
}

/// A pooled connection that is handed back to the pool only when its last
/// transaction ended cleanly (COMMIT or ROLLBACK acknowledged). Otherwise —
/// an error mid-transaction, a lost connection, a cancelled future — it is
/// detached from the pool and closed, so no caller ever receives a
/// connection still inside a transaction.
pub(crate) struct Session {
    pub(crate) client: Option<deadpool_postgres::Client>,
    /// Set once the last transaction ended with an acknowledged COMMIT or
    /// ROLLBACK: only then does the connection go back to the pool.
    pub(crate) clean: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.clean {
            if let Some(client) = self.client.take() {
                drop(deadpool_postgres::Object::take(client));
            }
        }
    }
}

impl Session {
    /// Begins a transaction on the session's connection, for a caller that
    /// holds it by hand (a relay's claim, a statement's snapshot); set
    /// `clean` once it ended with an acknowledged COMMIT or ROLLBACK.
    pub(crate) async fn begin(
        &mut self,
        isolation: IsolationLevel,
        read_only: bool,
    ) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
        self.client
            .as_mut()
            .expect("a fresh session holds a client")
            .build_transaction()
            .isolation_level(isolation)
            .read_only(read_only)
            .start()
            .await
            .map_err(StoreError::from)
    }
}

enum Attempt<T> {
    Done(T),
    /// COMMIT was sent and no answer came back: it may or may not have happened.
    CommitOutcomeUnknown(StoreError),
}

/// Runs an async block in one transaction at the given isolation level,
/// retrying serialization failures and deadlocks with jittered backoff, and
/// evaluates to `Result<Attempt<T>, LedgerError>`.
///
/// A macro rather than a function taking a closure: a closure returning a
/// future that borrows the transaction cannot be proven `Send` for every
/// lifetime (rust-lang/rust#64552), and the gRPC server needs `Send` futures.
macro_rules! in_transaction {
    ($ledger:expr, $isolation:expr, $read_only:expr, |$tx:ident| $body:expr) => {{
        let ledger: &Ledger = $ledger;
        let mut attempt_number: u32 = 0;
        loop {
            attempt_number += 1;
            // One span per attempt: exported traces show retries (telemetry.rs).
            let attempt_span = tracing::info_span!(
                "db_transaction", attempt = attempt_number, isolation = ?$isolation
            );
            let attempt = tracing::Instrument::instrument(async {
                let mut session = ledger.checkout_for_attempt().await?;
                let client = session
                    .client
                    .as_mut()
                    .expect("a fresh session holds a client");
                let $tx = client
                    .build_transaction()
                    .isolation_level($isolation)
                    .read_only($read_only)
                    .start()
                    .await?;
                let value = match $body.await {
                    Ok(value) => value,
                    Err(error) => {
                        if $tx.rollback().await.is_ok() {
                            session.clean = true;
                        }
                        return Err(error);
                    }
                };
                match ledger.commit($tx).await {
                    Commit::Done => {
                        session.clean = true;
                        Ok(Attempt::Done(value))
                    }
                    Commit::Refused(error) => {
                        session.clean = true;
                        Err(error)
                    }
                    Commit::Unknown(error) => {
                        crate::metrics::record_commit_outcome_unknown();
                        Ok(Attempt::CommitOutcomeUnknown(error))
                    }
                }
            }, attempt_span)
            .await;
            match ledger.after_attempt(attempt, attempt_number).await {
                ControlFlow::Break(result) => break result,
                ControlFlow::Continue(()) => continue,
            }
        }
    }};
}

/// [`in_transaction!`] for transactions whose commit outcome needs no
/// resolving (reads, or writes whose failure the caller may retry): an
/// unknown outcome is reported as `Unavailable`.
macro_rules! run_transaction {
    ($ledger:expr, $isolation:expr, $read_only:expr, |$tx:ident| $body:expr) => {
        match in_transaction!($ledger, $isolation, $read_only, |$tx| $body) {
            Ok(Attempt::Done(value)) => Ok(value),
            Ok(Attempt::CommitOutcomeUnknown(error)) => Err(LedgerError::Unavailable(error)),
            Err(error) => Err(error),
        }
    };
}

/// A read-only REPEATABLE READ transaction: one consistent snapshot.
macro_rules! read_transaction {
    ($ledger:expr, |$tx:ident| $body:expr) => {
        run_transaction!($ledger, IsolationLevel::RepeatableRead, true, |$tx| $body)
    };
}

/// A SERIALIZABLE read-write transaction.
macro_rules! write_transaction {
    ($ledger:expr, |$tx:ident| $body:expr) => {
        run_transaction!($ledger, IsolationLevel::Serializable, false, |$tx| $body)
    };
}

enum Commit {
    Done,
    /// The server refused to commit (a serialization failure): nothing committed.
    Refused(StoreError),
    /// COMMIT was sent and no answer came back.
    Unknown(StoreError),
}

impl Ledger {
    /// Builds the pool. Connections are opened lazily; call [`Ledger::migrate`]
    /// (which connects) before use.
    pub fn connect(
        mut config: tokio_postgres::Config,
        options: LedgerOptions,
    ) -> Result<Ledger, LedgerError> {
        assert!(options.pool_size_max > 0);
        assert!(options.transaction_attempts_max > 0);
        assert!(options.batch_size_max > 0);
        config.options(format!(
            "-c statement_timeout={} -c idle_in_transaction_session_timeout={} \
             -c default_transaction_isolation=serializable",
            options.statement_timeout_ms,
            options.statement_timeout_ms.saturating_mul(3),
        ));
        Ledger::build(config, Arc::new(options))
    }

    fn build(
        config: tokio_postgres::Config,
        options: Arc<LedgerOptions>,
    ) -> Result<Ledger, LedgerError> {
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                // A `SELECT 1`-style check before reuse: a broken connection is
                // replaced. Connections inside a transaction never get here;
                // `Session` detaches them.
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size_max)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_millis(options.pool_wait_timeout_ms)))
            .create_timeout(Some(Duration::from_millis(options.pool_wait_timeout_ms)))
            .build()
            .map_err(|error| LedgerError::InvalidInput {
                field: "pool",
                detail: error.to_string(),
            })?;
        Ok(Ledger {
            pool,
            options,
            config,
        })
    }

    /// The same ledger (options and fault injection shared) over a pool of
    /// its own of at most `pool_size_max` connections, for a caller that
    /// drives its connections from a runtime of its own (the group-commit
    /// appliers' thread).
    pub(crate) fn with_pool_of(&self, pool_size_max: usize) -> Result<Ledger, LedgerError> {
        assert!(pool_size_max > 0);
        let ledger = Ledger::build(self.config.clone(), self.options.clone())?;
        ledger.pool.resize(pool_size_max);
        Ok(ledger)
    }

    /// The pool, for transactions that hold a connection across other IO
    /// (the outbox relay, `relay.rs`).
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn options(&self) -> &LedgerOptions {
        &self.options
    }

    /// Closes the pool, for every clone: idle connections at once, those in
    /// use when their session ends; later calls fail with `Unavailable`.
    /// Returns how many connections were open.
    pub fn close(&self) -> usize {
        let open = self.pool.status().size;
        self.pool.close();
        open
    }

    /// Applies the migrations in `migrations/` that have not run yet, checking
    /// the checksums of those that have. Returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<String>, LedgerError> {
        let mut session = self.checkout().await?;
        let client = session
            .client
            .as_mut()
            .expect("a fresh session holds a client");
        let report = crate::migrations::run(client).await?;
        session.clean = true;
        Ok(report)
    }

    pub(crate) async fn checkout(&self) -> Result<Session, LedgerError> {
        let checkout_started = std::time::Instant::now();
        let client = self.pool.get().await;
        crate::metrics::record_pool_checkout(checkout_started.elapsed(), client.is_ok());
        let client = client.map_err(|error| {
            tracing::warn!(%error, "no database connection");
            match error {
                // Whatever stops us from getting a connection (the server
                // gone, the database dropped, too many connections) is the
                // database being unavailable, never our own fault.
                deadpool_postgres::PoolError::Backend(error) => {
                    LedgerError::Unavailable(StoreError::Unavailable(error))
                }
                _ => LedgerError::Unavailable(StoreError::Timeout),
            }
        })?;
        Ok(Session {
            client: Some(client),
            clean: false,
        })
    }

    /// What to do after one attempt of a transaction: return its result, or
    /// (for a conflict with attempts left) sleep a jittered backoff and retry.
    async fn after_attempt<T>(
        &self,
        attempt: Result<Attempt<T>, StoreError>,
        attempt_number: u32,
    ) -> ControlFlow<Result<Attempt<T>, LedgerError>> {
        crate::metrics::record_transaction_attempt();
        let reason = match attempt {
            Ok(done) => return ControlFlow::Break(Ok(done)),
            Err(StoreError::Conflict(reason)) => reason,
            Err(error) => return ControlFlow::Break(Err(LedgerError::from(error))),
        };
        let attempts_max = self.options.transaction_attempts_max;
        tracing::debug!(attempt_number, reason, "transaction conflict");
        if attempt_number >= attempts_max {
            crate::metrics::record_transaction_give_up(reason);
            return ControlFlow::Break(Err(LedgerError::Contention {
                attempts: attempts_max,
            }));
        }
        crate::metrics::record_transaction_retry(reason);
        tokio::time::sleep(self.backoff(attempt_number)).await;
        ControlFlow::Continue(())
    }

    /// The jittered exponential backoff after the `attempt_number`-th
    /// conflicting attempt.
    fn backoff(&self, attempt_number: u32) -> Duration {
        let exponent = attempt_number.saturating_sub(1).min(16);
        let backoff_ms = self
            .options
            .retry_backoff_initial_ms
            .max(1)
            .saturating_mul(1 << exponent)
            .min(self.options.retry_backoff_max_ms.max(1));
        let jittered_ms = rand::rng().random_range(backoff_ms / 2..=backoff_ms);
        Duration::from_millis(jittered_ms)
    }

    /// Sends COMMIT (after any armed fault) and says what is known of it.
    async fn commit(&self, tx: Transaction<'_>) -> Commit {
        let faults = &self.options.fault_injection;
        if take_one(&faults.terminate_backend_before_commit) {
            if let Err(error) = self.terminate_backend_of(&tx).await {
                return Commit::Unknown(error);
            }
        }
        match tx.commit().await.map_err(StoreError::from) {
            Ok(()) if take_one(&faults.lose_commit_acknowledgement) => {
                Commit::Unknown(StoreError::Timeout)
            }
            Ok(()) => Commit::Done,
            // The server refused the commit: nothing was committed.
            Err(error @ StoreError::Conflict(_)) => Commit::Refused(error),
            Err(error) => Commit::Unknown(error),
        }
    }

    async fn terminate_backend_of(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let pid: i32 = tx.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        let mut killer = self.checkout().await.map_err(|_| StoreError::Timeout)?;
        let client = killer
            .client
            .as_ref()
            .expect("a fresh session holds a client");
        client
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await?;
        killer.clean = true;
        Ok(())
    }

    async fn checkout_for_attempt(&self) -> Result<Session, StoreError> {
        self.checkout().await.map_err(|error| match error {
            LedgerError::Unavailable(error) => error,
            _ => StoreError::Timeout,
        })
    }

    // ------------------------------------------------------------ accounts

    /// Opens an account, and records who opened it in the same transaction.
    pub async fn open_account(&self, request: &OpenAccount) -> Result<Account, LedgerError> {
        let opened = write_transaction!(self, |tx| async {
            let Some(account) = store::insert_account(
                &tx,
                &request.external_reference,
                request.currency,
                request.overdraft,
            )
            .await?
            else {
                return Ok(None);
            };
            let terms = format!(
                "account_id={} currency={} overdraft={}",
                account.account_id,
                account.currency.code(),
                account.overdraft.as_str()
            );
            store::admin_changes::insert_admin_change(
                &tx,
                &NewAdminChange {
                    client_id: &request.opened_by,
                    action: AdminAction::OpenAccount,
                    subject: &format!("account {}", account.external_reference),
                    value_before: None,
                    value_after: &terms,
                },
            )
            .await?;
            Ok(Some(account))
        })?;
        opened.ok_or_else(|| LedgerError::AccountExists {
            reference: request.external_reference.clone(),
        })
    }

    pub async fn get_account(
        &self,
        reference: &AccountReference,
    ) -> Result<Option<Account>, LedgerError> {
        read_transaction!(self, |tx| async {
            store::select_account_by_reference(&tx, reference).await
        })
    }

    pub async fn get_account_by_id(
        &self,
        account_id: AccountId,
    ) -> Result<Option<Account>, LedgerError> {
        read_transaction!(self, |tx| async {
            store::select_account_by_id(&tx, account_id).await
        })
    }

    /// Names the account that stands for `agent` (by BIC) in the account's
    /// currency (semantics §5), and records the change: who, and which
    /// account the mapping named before.
    pub async fn set_settlement_account(
        &self,
        changed_by: &ClientId,
        agent: &Bic,
        reference: &AccountReference,
    ) -> Result<(), LedgerError> {
        let found = write_transaction!(self, |tx| async {
            let Some(account) = store::select_account_by_reference(&tx, reference).await? else {
                return Ok(false);
            };
            let before = store::admin_changes::select_mapped_reference_for_update(
                &tx,
                Some(agent.as_str()),
                account.currency.code(),
            )
            .await?;
            store::upsert_settlement_account(&tx, agent, &account).await?;
            store::admin_changes::insert_admin_change(
                &tx,
                &NewAdminChange {
                    client_id: changed_by,
                    action: AdminAction::SetSettlementAccount,
                    subject: &format!("settlement {} {}", agent, account.currency.code()),
                    value_before: before.as_deref(),
                    value_after: account.external_reference.as_str(),
                },
            )
            .await?;
            Ok(true)
        })?;
        found
            .then_some(())
            .ok_or_else(|| LedgerError::AccountNotFound {
                reference: reference.clone(),
            })
    }

    /// Names the default clearing account for the account's currency
    /// (semantics §5), and records the change.
    pub async fn set_clearing_account(
        &self,
        changed_by: &ClientId,
        reference: &AccountReference,
    ) -> Result<(), LedgerError> {
        let found = write_transaction!(self, |tx| async {
            let Some(account) = store::select_account_by_reference(&tx, reference).await? else {
                return Ok(false);
            };
            let before = store::admin_changes::select_mapped_reference_for_update(
                &tx,
                None,
                account.currency.code(),
            )
            .await?;
            store::upsert_clearing_account(&tx, &account).await?;
            store::admin_changes::insert_admin_change(
                &tx,
                &NewAdminChange {
                    client_id: changed_by,
                    action: AdminAction::SetClearingAccount,
                    subject: &format!("clearing {}", account.currency.code()),
                    value_before: before.as_deref(),
                    value_after: account.external_reference.as_str(),
                },
            )
            .await?;
            Ok(true)
        })?;
        found
            .then_some(())
            .ok_or_else(|| LedgerError::AccountNotFound {
                reference: reference.clone(),
            })
    }

    /// PENDING payments created before `created_before`, oldest first, at
    /// most `limit`: the holds [`Ledger::expire_holds`] expires.
    pub(crate) async fn holds_created_before(
        &self,
        created_before: std::time::SystemTime,
        limit: usize,
    ) -> Result<Vec<(PaymentId, BusinessKey)>, LedgerError> {
        read_transaction!(self, |tx| async {
            store::holds::select_holds_created_before(&tx, created_before, limit).await
        })
    }

    /// Recorded administrative changes after `after` (a change id), oldest
    /// first, at most `limit`.
    pub async fn admin_changes(
        &self,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AdminChange>, LedgerError> {
        read_transaction!(self, |tx| async {
            store::admin_changes::select_admin_changes(&tx, after, limit).await
        })
    }

    /// The account mapping of semantics §5: settlement and clearing accounts.
    pub async fn account_mappings(&self) -> Result<Vec<AccountMapping>, LedgerError> {
        read_transaction!(self, |tx| async {
            store::select_account_mappings(&tx).await
        })
    }

    /// Transfers touching the account, oldest first, after `after`, created
    /// within `created`, at most `limit` (itself at most `page_size_max`).
    pub async fn list_transfers(
        &self,
        account_id: AccountId,
        after: Option<TransferId>,
        created: TimeRange,
        limit: usize,
    ) -> Result<Vec<Transfer>, LedgerError> {
        let limit = limit.clamp(1, self.options.page_size_max) as i64;
        read_transaction!(self, |tx| async {
            store::select_transfers_of_account(&tx, account_id, after, &created, limit).await
        })
    }

    pub async fn list_transfers_of_payment(
        &self,
        payment_id: PaymentId,
    ) -> Result<Vec<Transfer>, LedgerError> {
        read_transaction!(self, |tx| async {
            store::select_transfers_of_payment(&tx, payment_id).await
        })
    }

    // ------------------------------------------------------------ payments

    pub async fn get_payment(&self, payment_id: PaymentId) -> Result<Option<Payment>, LedgerError> {
        read_transaction!(self, |tx| async {
            store::select_payment_by_id(&tx, payment_id).await
        })
    }

    /// Whether a reader may see the payment (and its transfers and
    /// confirmations): see [`PaymentVisibility`].
    pub async fn payment_is_visible(
        &self,
        payment_id: PaymentId,
        visible: &PaymentVisibility,
    ) -> Result<bool, LedgerError> {
        if visible.is_all() {
            return Ok(true);
        }
        read_transaction!(self, |tx| async {
            store::select_payment_is_visible(&tx, payment_id, visible).await
        })
    }

    /// Payments after `after`, oldest first (in payment id order), at most
    /// `limit` (itself at most `page_size_max`), that pass every filter of
    /// `filter` and are `visible`.
    pub async fn list_payments(
        &self,
        filter: &crate::model::PaymentFilter,
        visible: &PaymentVisibility,
        after: Option<PaymentId>,
        limit: usize,
    ) -> Result<Vec<Payment>, LedgerError> {
        let limit = limit.clamp(1, self.options.page_size_max) as i64;
        read_transaction!(self, |tx| async {
            store::payment_search::select_payments(&tx, filter, visible, after, limit).await
        })
    }

    pub async fn get_payment_by_business_key(
        &self,
        business_key: &BusinessKey,
    ) -> Result<Option<Payment>, LedgerError> {
        read_transaction!(self, |tx| async {
            store::select_payment_by_business_key(&tx, business_key).await
        })
    }

    /// Whether the database answers (health checks).
    pub async fn ping(&self) -> Result<(), LedgerError> {
        read_transaction!(self, |tx| async { store::ping(&tx).await })
    }

    /// Confirmations after `after`, oldest first, at most `limit`: each
    /// confirmation once, in an order in which no later read finds one
    /// before a position already returned (see `migrations/V2`).
    pub async fn confirmations_after(
        &self,
        after: FeedPosition,
        visible: &PaymentVisibility,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, LedgerError> {
        let limit = limit.clamp(1, self.options.page_size_max) as i64;
        // READ COMMITTED: the snapshot, and so the horizon, is the statement's own.
        run_transaction!(self, IsolationLevel::ReadCommitted, true, |tx| async {
            store::select_outbox_after(&tx, after, visible, limit).await
        })
    }

    /// Deletes idempotency records older than `older_than` (semantics §1:
    /// kept at least 24 h). Returns how many were deleted.
    pub async fn prune_idempotency_records(
        &self,
        older_than: Duration,
    ) -> Result<u64, LedgerError> {
        assert!(
            older_than >= Duration::from_secs(24 * 3600),
            "retention is at least 24 h"
        );
        let cutoff = SystemTime::now() - older_than;
        write_transaction!(self, |tx| async {
            store::delete_idempotency_records_before(&tx, cutoff).await
        })
    }

    /// Applies one message exactly once per `(client_id, idempotency_key)`.
    pub async fn apply(&self, command: &ApplyCommand) -> Result<ApplyResponse, LedgerError> {
        self.apply_within(command, None).await
    }

    /// [`Ledger::apply`] with a caller's deadline: every statement of the
    /// transaction is limited to `time_left` (SET LOCAL statement_timeout),
    /// when that is shorter than `statement_timeout_ms`.
    pub async fn apply_within(
        &self,
        command: &ApplyCommand,
        time_left: Option<Duration>,
    ) -> Result<ApplyResponse, LedgerError> {
        let mut results = self
            .apply_batch_within(std::slice::from_ref(command), time_left)
            .await?;
        assert_eq!(results.len(), 1);
        results.pop().expect("one result per command")
    }

    /// Refuses a command the ledger would not apply: no messages, or more
    /// than `messages_per_command_max`.
    pub fn check_command(&self, command: &ApplyCommand) -> Result<(), LedgerError> {
        let messages_max = self.options.messages_per_command_max;
        if command.messages.is_empty() || command.messages.len() > messages_max {
            return Err(LedgerError::InvalidInput {
                field: "messages",
                detail: format!(
                    "a command carries {} messages; between 1 and {messages_max} are accepted",
                    command.messages.len()
                ),
            });
        }
        Ok(())
    }

    /// Applies several messages in one SERIALIZABLE transaction, each with its
    /// own outcome and its own exactly-once semantics. The outer error is a
    /// failure of the whole batch (nothing committed, or a fault); the inner
    /// results are per command.
    pub async fn apply_batch(
        &self,
        commands: &[ApplyCommand],
    ) -> Result<Vec<Result<ApplyResponse, LedgerError>>, LedgerError> {
        self.apply_batch_within(commands, None).await
    }

    /// [`Ledger::apply_batch`] with a caller's deadline (see [`Ledger::apply_within`]).
    pub async fn apply_batch_within(
        &self,
        commands: &[ApplyCommand],
        time_left: Option<Duration>,
    ) -> Result<Vec<Result<ApplyResponse, LedgerError>>, LedgerError> {
        let statement_timeout_ms = time_left
            .map(|left| (left.as_millis() as u64).max(1))
            .filter(|left_ms| *left_ms < self.options.statement_timeout_ms);
        if commands.len() > self.options.batch_size_max {
            return Err(LedgerError::InvalidInput {
                field: "batch",
                detail: format!(
                    "{} commands, more than batch_size_max {}",
                    commands.len(),
                    self.options.batch_size_max
                ),
            });
        }
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        for command in commands {
            self.check_command(command)?;
        }
        // Bounded: each unknown commit outcome is resolved by a lookup, and a
        // transaction found not committed is run again at most this often.
        const COMMIT_RESOLUTIONS_MAX: u32 = 3;
        for _ in 0..COMMIT_RESOLUTIONS_MAX {
            let attempt = in_transaction!(self, IsolationLevel::Serializable, false, |tx| async {
                apply::apply_batch_in(&tx, commands, statement_timeout_ms).await
            })?;
            match attempt {
                Attempt::Done(results) => return Ok(Ledger::finish(commands, results)),
                Attempt::CommitOutcomeUnknown(error) => {
                    tracing::warn!(%error, "commit outcome unknown, looking the idempotency keys up");
                    if let Some(responses) = self.committed_responses(commands).await? {
                        return Ok(responses);
                    }
                    // Not committed: a run that starts with the same
                    // idempotency lookups is safe.
                }
            }
        }
        Err(LedgerError::Unavailable(StoreError::Timeout))
    }

    /// Each applied command's answer, from its result.
    fn finish(
        commands: &[ApplyCommand],
        results: Vec<ItemResult>,
    ) -> Vec<Result<ApplyResponse, LedgerError>> {
        assert_eq!(commands.len(), results.len(), "one result per command");
        commands
            .iter()
            .zip(results)
            .map(|(command, result)| match result {
                ItemResult::Response(response) => Ok(response),
                ItemResult::KeyReused => Err(LedgerError::IdempotencyKeyReused {
                    client_id: command.client_id.clone(),
                    key: command.idempotency_key.clone(),
                }),
            })
            .collect()
    }

    /// After a commit whose outcome is unknown: if every command's idempotency
    /// record exists with this command's fingerprint, the commit happened and
    /// these are its responses. If any is missing, it did not (the batch
    /// commits as a whole), and `None` tells the caller to run it again.
    async fn committed_responses(
        &self,
        commands: &[ApplyCommand],
    ) -> Result<Option<Vec<Result<ApplyResponse, LedgerError>>>, LedgerError> {
        let keys: Vec<(&ClientId, &IdempotencyKey)> = commands
            .iter()
            .map(|command| (&command.client_id, &command.idempotency_key))
            .collect();
        let found = read_transaction!(self, |tx| async {
            store::select_idempotency_records(&tx, &keys).await
        })?;
        let records: Vec<Option<store::IdempotencyRecord>> = commands
            .iter()
            .map(|command| {
                found
                    .iter()
                    .find(|(client, key, _)| {
                        *client == command.client_id && *key == command.idempotency_key
                    })
                    .map(|(_, _, record)| record.clone())
            })
            .collect();
        let mut responses = Vec::with_capacity(commands.len());
        for (command, record) in commands.iter().zip(records) {
            let Some(record) = record else {
                return Ok(None);
            };
            if record.request_fingerprint != command.fingerprint {
                return Ok(None);
            }
            let receipts =
                apply::decode_receipts(&record.response).map_err(LedgerError::Internal)?;
            responses.push(Ok(ApplyResponse {
                receipts,
                response_bytes: record.response,
                replay: false,
            }));
        }
        Ok(Some(responses))
    }

    // ---------------------------------------------- reconciliation audit

    /// Runs the reconciliation audit (`crate::audit`) in one SERIALIZABLE READ
    /// ONLY DEFERRABLE transaction: PostgreSQL waits for a snapshot that no
    /// concurrent serializable writer can invalidate, so the audit sees one
    /// consistent ledger during live traffic and never fails to serialize (no
    /// retries). It writes nothing and ends with ROLLBACK.
    pub(crate) async fn audit_in_snapshot(
        &self,
        statements: &[crate::audit::StatementInput],
    ) -> Result<crate::audit::AuditReport, LedgerError> {
        let mut session = self.checkout().await?;
        let client = session
            .client
            .as_mut()
            .expect("a fresh session holds a client");
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::Serializable)
            .read_only(true)
            .deferrable(true)
            .start()
            .await
            .map_err(StoreError::from)?;
        let report = crate::audit::collect(&tx, statements).await;
        let ended = tx.rollback().await.map_err(StoreError::from);
        session.clean = ended.is_ok();
        let report = report?;
        ended?;
        Ok(report)
    }
}
