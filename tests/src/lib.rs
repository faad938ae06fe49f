//! Support for the system tests: a fresh PostgreSQL database per test, on the
//! test binary's own throwaway cluster (or on `DATABASE_URL`'s server when
//! set), migrated, with a [`Ledger`] on it.
//!
//! Tests live in `tests/tests/`; `tests/tests/main.rs` lists them.

use std::sync::atomic::{AtomicU32, Ordering};

pub mod nats;

use ledger::{Ledger, LedgerOptions};

/// A database made for one test (or one property-test run), and a ledger on it.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    pub config: tokio_postgres::Config,
    pub ledger: Ledger,
}

fn server_config() -> tokio_postgres::Config {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url.parse().expect("DATABASE_URL is a PostgreSQL URL"),
        _ => pg_embedded::shared_throwaway()
            .connection_string("postgres")
            .parse()
            .expect("the embedded cluster's connection string parses"),
    }
}

/// Opens a plain connection (its driver task spawned on the current runtime).
pub async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A `DATABASE_URL` (key=value form) for `config`, for tests that run the
/// `ledger` binary against a test database.
pub fn database_url(config: &tokio_postgres::Config) -> String {
    let mut parts = Vec::new();
    for host in config.get_hosts() {
        match host {
            tokio_postgres::config::Host::Tcp(name) => parts.push(format!("host={name}")),
            tokio_postgres::config::Host::Unix(path) => {
                parts.push(format!("host={}", path.display()))
            }
        }
    }
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(password) = config.get_password() {
        parts.push(format!("password={}", String::from_utf8_lossy(password)));
    }
    if let Some(dbname) = config.get_dbname() {
        parts.push(format!("dbname={dbname}"));
    }
    parts.join(" ")
}

impl TestDatabase {
    /// A new, empty, migrated database with a ledger using `options`.
    pub async fn create(options: LedgerOptions) -> TestDatabase {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let server = server_config();
        let admin = connect(&server).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let mut config = server.clone();
        config.dbname(&name);
        let ledger = Ledger::connect(config.clone(), options).expect("build the pool");
        ledger.migrate().await.expect("migrate the test database");
        TestDatabase {
            name,
            config,
            ledger,
        }
    }

    pub async fn with_defaults() -> TestDatabase {
        TestDatabase::create(LedgerOptions::default()).await
    }

    /// A database with two unrestricted EUR accounts, `BOB` and `CLEARING`.
    pub async fn with_two_accounts(options: LedgerOptions) -> TestDatabase {
        let db = TestDatabase::create(options).await;
        for name in ["BOB", "CLEARING"] {
            db.ledger
                .open_account(&fixtures::open(
                    name,
                    "EUR",
                    ledger::model::OverdraftRule::Unrestricted,
                ))
                .await
                .expect("open the account");
        }
        db
    }

    /// A direct connection, for checks and for breaking things on purpose.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.config).await
    }

    /// Empties every ledger table (keeping the schema), between property-test
    /// cases. Accounts and payments are never removed (the schema refuses it),
    /// so the owner of the tables lifts that refusal for this one transaction.
    pub async fn truncate(&self) {
        self.client()
            .await
            .batch_execute(
                "BEGIN; \
                 ALTER TABLE accounts DISABLE TRIGGER accounts_stay; \
                 ALTER TABLE payments DISABLE TRIGGER payments_stay; \
                 TRUNCATE payment_conflicts, outbox, payment_returns, transfers, payments, \
                 idempotency_records, settlement_accounts, clearing_accounts, accounts \
                 RESTART IDENTITY; \
                 ALTER TABLE accounts ENABLE TRIGGER accounts_stay; \
                 ALTER TABLE payments ENABLE TRIGGER payments_stay; \
                 COMMIT",
            )
            .await
            .expect("truncate the ledger tables");
    }
}

/// The ledger's invariants, read with SQL straight from the tables: what the
/// reconciliation audit will check, kept here for the tests.
pub mod invariants {
    use std::collections::BTreeMap;

    /// Every violation found, in words; empty when the ledger is sound.
    pub async fn violations(client: &tokio_postgres::Client) -> Vec<String> {
        let mut found = Vec::new();
        let checks: &[(&str, &str)] = &[
            (
                "trial balance per currency is not zero",
                "SELECT currency || ': posted ' || (SUM(debits_posted) - SUM(credits_posted)) \
                 || ', pending ' || (SUM(debits_pending) - SUM(credits_pending)) \
                 FROM accounts GROUP BY currency \
                 HAVING SUM(debits_posted) <> SUM(credits_posted) \
                     OR SUM(debits_pending) <> SUM(credits_pending)",
            ),
            (
                "stored balance differs from the sum of transfers",
                "WITH effects AS ( \
                   SELECT debit_account_id AS account_id, \
                     CASE kind WHEN 'PENDING' THEN amount_minor WHEN 'POST_PENDING' THEN -amount_minor \
                       WHEN 'VOID_PENDING' THEN -amount_minor ELSE 0 END AS debits_pending, \
                     CASE kind WHEN 'PENDING' THEN 0 WHEN 'VOID_PENDING' THEN 0 ELSE amount_minor END AS debits_posted, \
                     0::BIGINT AS credits_pending, 0::BIGINT AS credits_posted FROM transfers \
                   UNION ALL \
                   SELECT credit_account_id, 0, 0, \
                     CASE kind WHEN 'PENDING' THEN amount_minor WHEN 'POST_PENDING' THEN -amount_minor \
                       WHEN 'VOID_PENDING' THEN -amount_minor ELSE 0 END, \
                     CASE kind WHEN 'PENDING' THEN 0 WHEN 'VOID_PENDING' THEN 0 ELSE amount_minor END \
                   FROM transfers), \
                 sums AS (SELECT account_id, SUM(debits_pending) dp, SUM(debits_posted) dpo, \
                   SUM(credits_pending) cp, SUM(credits_posted) cpo FROM effects GROUP BY account_id) \
                 SELECT 'account ' || a.account_id FROM accounts a LEFT JOIN sums s USING (account_id) \
                 WHERE a.debits_pending <> COALESCE(s.dp, 0) OR a.debits_posted <> COALESCE(s.dpo, 0) \
                    OR a.credits_pending <> COALESCE(s.cp, 0) OR a.credits_posted <> COALESCE(s.cpo, 0)",
            ),
            (
                "payment's transfers differ from what its state implies",
                "SELECT 'payment ' || p.payment_id || ' ' || p.state || ': ' \
                   || COALESCE(string_agg(t.kind, ',' ORDER BY t.transfer_id), '') \
                 FROM payments p LEFT JOIN transfers t USING (payment_id) \
                 GROUP BY p.payment_id, p.state, p.amount_minor, p.amount_returned_minor \
                 HAVING COALESCE(string_agg(t.kind, ',' ORDER BY t.kind) \
                          FILTER (WHERE t.kind <> 'REVERSAL'), '') NOT IN ( \
                   SELECT allowed FROM (VALUES \
                     ('PENDING', 'PENDING'), ('SETTLED', 'POSTED'), ('SETTLED', 'PENDING,POST_PENDING'), \
                     ('REJECTED', ''), ('REJECTED', 'PENDING,VOID_PENDING'), \
                     ('RETURNED', 'POSTED'), ('RETURNED', 'PENDING,POST_PENDING') \
                   ) AS v(state, allowed) WHERE v.state = p.state) \
                   OR COALESCE(SUM(t.amount_minor) FILTER (WHERE t.kind = 'REVERSAL'), 0) \
                        <> p.amount_returned_minor \
                   OR (p.state = 'RETURNED') <> (p.amount_returned_minor = p.amount_minor)",
            ),
            (
                "payment's outbox rows do not match its state changes",
                "SELECT 'payment ' || p.payment_id || ' ' || p.state || ': ' \
                   || COALESCE(string_agg(o.to_state, ',' ORDER BY o.outbox_id), '') \
                 FROM payments p LEFT JOIN outbox o USING (payment_id) \
                 GROUP BY p.payment_id, p.state \
                 HAVING COUNT(o.outbox_id) = 0 \
                     OR (array_agg(o.to_state ORDER BY o.outbox_id))[COUNT(o.outbox_id)] <> p.state \
                     OR COUNT(o.outbox_id) <> COUNT(DISTINCT o.to_state)",
            ),
            (
                "a payment's transfer of one kind was posted more than once",
                "SELECT 'payment ' || payment_id || ' ' || kind FROM transfers \
                 WHERE kind <> 'REVERSAL' GROUP BY payment_id, kind HAVING COUNT(*) > 1",
            ),
            (
                "a payment's return was posted more than once or differs from its record",
                "SELECT 'payment ' || t.payment_id || ' return ' || t.return_id FROM transfers t \
                   LEFT JOIN payment_returns r USING (payment_id, return_id) \
                 WHERE t.kind = 'REVERSAL' \
                 GROUP BY t.payment_id, t.return_id \
                 HAVING COUNT(*) > 1 OR bool_or(r.amount_minor IS DISTINCT FROM t.amount_minor)",
            ),
        ];
        for (what, sql) in checks {
            for row in client.query(*sql, &[]).await.expect(what) {
                let detail: String = row.get(0);
                found.push(format!("{what}: {detail}"));
            }
        }
        found
    }

    /// Balances by external reference: (debits_pending, debits_posted, credits_pending, credits_posted).
    pub async fn balances(client: &tokio_postgres::Client) -> BTreeMap<String, [i64; 4]> {
        client
            .query(
                "SELECT external_reference, debits_pending, debits_posted, credits_pending, \
                 credits_posted FROM accounts",
                &[],
            )
            .await
            .expect("read balances")
            .into_iter()
            .map(|row| (row.get(0), [row.get(1), row.get(2), row.get(3), row.get(4)]))
            .collect()
    }

    pub async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
        client
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await
            .expect("count rows")
            .get(0)
    }
}

/// Builders for accounts and messages, so tests read as sentences.
pub mod fixtures {
    use ledger::model::{
        AccountReference, Amount, Bic, BusinessKey, ClientId, Currency, IdempotencyKey, Originator,
        OverdraftRule, PartySide, PaymentInstruction, PaymentMessage, PaymentState,
    };
    use ledger::{ApplyCommand, OpenAccount};

    pub fn eur(minor_units: i64) -> Amount {
        Amount::from_minor_units(Currency::parse("EUR").unwrap(), minor_units).unwrap()
    }

    pub fn reference(value: &str) -> AccountReference {
        AccountReference::parse(value).unwrap()
    }

    pub fn open(reference_text: &str, currency: &str, overdraft: OverdraftRule) -> OpenAccount {
        OpenAccount {
            external_reference: reference(reference_text),
            currency: Currency::parse(currency).unwrap(),
            overdraft,
            opened_by: operator(),
        }
    }

    /// The client the tests' administrative changes are recorded under.
    pub fn operator() -> ClientId {
        ClientId::parse("test-operator").unwrap()
    }

    pub fn key(end_to_end_id: &str) -> BusinessKey {
        BusinessKey::reference(
            Originator::bic(Bic::parse("BANKDEFFXXX").unwrap()),
            Some(end_to_end_id),
            Some(end_to_end_id),
        )
        .unwrap()
    }

    pub fn account_side(reference_text: &str) -> PartySide {
        PartySide {
            account: Some(reference(reference_text)),
            agent: None,
        }
    }

    pub fn agent_side(reference_text: Option<&str>, bic: &str) -> PartySide {
        PartySide {
            account: reference_text.map(reference),
            agent: Some(Bic::parse(bic).unwrap()),
        }
    }

    /// A message that can create a payment (pacs.008 / pain.001 shaped).
    pub fn transfer(
        business_key: &str,
        target_state: PaymentState,
        amount: Amount,
        debtor: &str,
        creditor: &str,
    ) -> PaymentMessage {
        PaymentMessage {
            business_key: key(business_key),
            target_state,
            instruction: Some(PaymentInstruction {
                amount,
                debtor: account_side(debtor),
                creditor: account_side(creditor),
                reference: None,
            }),
            reason: None,
            returned_amount: None,
            return_id: None,
        }
    }

    /// A status message (pacs.002 / pacs.004 shaped): a state, no instruction.
    pub fn status(business_key: &str, target_state: PaymentState) -> PaymentMessage {
        PaymentMessage {
            business_key: key(business_key),
            target_state,
            instruction: None,
            reason: None,
            returned_amount: None,
            return_id: None,
        }
    }

    /// Each receipt's outcome code, or its reason code when refused.
    pub fn outcome_codes(response: &ledger::ApplyResponse) -> Vec<&'static str> {
        response
            .receipts
            .iter()
            .map(|receipt| match &receipt.outcome {
                ledger::model::Outcome::Rejected(reason) => reason.code(),
                other => other.code(),
            })
            .collect()
    }

    pub fn command(client: &str, idempotency_key: &str, message: PaymentMessage) -> ApplyCommand {
        ApplyCommand::new(
            ClientId::parse(client).unwrap(),
            IdempotencyKey::parse(idempotency_key).unwrap(),
            vec![message],
        )
    }
}
