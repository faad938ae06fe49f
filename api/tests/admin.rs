//! The operator commands: `ledger accounts` (open, show, the
//! account mapping), `ledger payments show` and `ledger prune-idempotency`,
//! run as an operator runs them, the binary against a fresh database,
//! refusals included.

use std::process::Command;

use ledger::model::{AccountReference, BusinessKey, OverdraftRule, PaymentState};
use ledger_system_tests::fixtures::{command, eur, key, open, status, transfer};
use ledger_system_tests::TestDatabase;

const ALICE: &str = "DE89370400440532013000";
const BOB: &str = "FR1420041010050500013M02606";

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts a clean exit and returns standard output.
    fn ok(self) -> String {
        assert_eq!(self.code, 0, "{self:?}");
        self.stdout
    }

    /// Asserts a refusal (exit status 1) whose message contains `expected`,
    /// on one line and without a backtrace (RUST_BACKTRACE is set).
    fn refused(self, expected: &str) {
        assert_eq!(self.code, 1, "{self:?}");
        assert!(self.stderr.contains(expected), "{expected:?}: {self:?}");
        assert!(!self.stderr.contains("acktrace"), "{self:?}");
        assert_eq!(
            self.stderr
                .lines()
                .filter(|line| line.starts_with("error: "))
                .count(),
            1,
            "{self:?}"
        );
    }
}

/// Runs the `ledger` binary with `arguments` against `db`, with
/// RUST_BACKTRACE=1, as a developer's shell may have it.
async fn ledger(db: &TestDatabase, arguments: &[&str]) -> Run {
    let database_url = ledger_system_tests::database_url(&db.config);
    ledger_with(arguments, &[("DATABASE_URL", Some(database_url.as_str()))]).await
}

/// Runs the `ledger` binary with `arguments` and `environment` (a `None`
/// value removes the variable), without a test database.
async fn ledger_with(arguments: &[&str], environment: &[(&str, Option<&str>)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
    command
        .args(arguments)
        .env_remove("DATABASE_URL")
        .env_remove("LEDGER_DATA_DIR")
        .env_remove("LEDGER_TOKENS")
        .env_remove("LEDGER_TOKENS_FILE")
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "1");
    for (name, value) in environment {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    run(command).await
}

async fn run(mut command: Command) -> Run {
    tokio::task::spawn_blocking(move || {
        let output = command.output().unwrap();
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

/// A PostgreSQL URL nothing answers at.
const UNREACHABLE_DATABASE_URL: &str = "postgres://ledger@127.0.0.1:1/ledger";

/// The value printed after `name` on its own line (`name   value`).
fn field<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .filter(|rest| rest.starts_with(' '))
                .map(str::trim)
        })
        .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"))
}

#[tokio::test]
async fn accounts_are_opened_and_shown_with_their_balances() {
    let db = TestDatabase::with_defaults().await;
    let opened = ledger(
        &db,
        &[
            "accounts",
            "open",
            "--reference",
            ALICE,
            "--currency",
            "EUR",
            "--overdraft",
            "unrestricted",
        ],
    )
    .await
    .ok();
    assert!(opened.contains("opened account"), "{opened}");
    assert_eq!(field(&opened, "overdraft"), "unrestricted");
    // The printed form of an IBAN (groups of four) is accepted; the default
    // overdraft rule forbids overdraft.
    let printed_bob = "FR14 2004 1010 0505 0001 3M02 606";
    let bob = ledger(
        &db,
        &[
            "accounts",
            "open",
            "--reference",
            printed_bob,
            "--currency",
            "EUR",
        ],
    )
    .await
    .ok();
    assert_eq!(field(&bob, "reference"), BOB);
    let stored = db
        .ledger
        .get_account(&AccountReference::parse(BOB).unwrap())
        .await
        .unwrap()
        .expect("opened");
    assert_eq!(stored.overdraft, OverdraftRule::DebitsMustNotExceedCredits);

    // ALICE pays BOB 12.50 (settled) and reserves 2.00 more (pending).
    for (name, state, minor_units) in [
        ("P-1", PaymentState::Settled, 1_250),
        ("P-2", PaymentState::Pending, 200),
    ] {
        db.ledger
            .apply(&command(
                "bank-a",
                name,
                transfer(name, state, eur(minor_units), ALICE, BOB),
            ))
            .await
            .unwrap();
    }
    let shown = ledger(&db, &["accounts", "show", BOB]).await.ok();
    for (name, expected) in [
        ("account", stored.account_id.to_string().as_str()),
        ("reference", BOB),
        ("currency", "EUR"),
        ("debits_pending", "0.00 EUR"),
        ("debits_posted", "0.00 EUR"),
        ("credits_pending", "2.00 EUR"),
        ("credits_posted", "12.50 EUR"),
        ("net_posted", "12.50 EUR"),
        ("available", "12.50 EUR"),
    ] {
        assert_eq!(field(&shown, name), expected, "{shown}");
    }
    let alice = ledger(&db, &["accounts", "show", ALICE]).await.ok();
    assert_eq!(field(&alice, "debits_pending"), "2.00 EUR");
    assert_eq!(field(&alice, "debits_posted"), "12.50 EUR");
    assert_eq!(field(&alice, "net_posted"), "-12.50 EUR");
    assert_eq!(field(&alice, "available"), "-14.50 EUR");
    // By id, the same account.
    let by_id = ledger(
        &db,
        &["accounts", "show", "--id", &stored.account_id.to_string()],
    )
    .await
    .ok();
    assert_eq!(field(&by_id, "credits_posted"), "12.50 EUR");
}

#[tokio::test]
async fn opening_refuses_a_bad_iban_a_taken_reference_and_an_unknown_currency() {
    let db = TestDatabase::with_defaults().await;
    let open_args = |reference: &'static str, currency: &'static str| {
        vec![
            "accounts",
            "open",
            "--reference",
            reference,
            "--currency",
            currency,
        ]
    };
    // Check digits 88 instead of 89.
    ledger(&db, &open_args("DE88370400440532013000", "EUR"))
        .await
        .refused("not a valid IBAN");
    ledger(&db, &open_args("CLEARING-EUR", "EUR"))
        .await
        .refused("--other-id");
    ledger(&db, &open_args(ALICE, "EURO"))
        .await
        .refused("invalid --currency");
    assert!(db.ledger.account_mappings().await.unwrap().is_empty());
    let client = db.client().await;
    assert_eq!(
        ledger_system_tests::invariants::count(&client, "accounts").await,
        0,
        "nothing was opened"
    );

    ledger(&db, &open_args(ALICE, "EUR")).await.ok();
    ledger(&db, &open_args(ALICE, "EUR"))
        .await
        .refused("already exists");
    // An Othr/Id reference, when the operator says so.
    let mut other = open_args("CLEARING-EUR", "EUR");
    other.extend(["--other-id", "--overdraft", "unrestricted"]);
    let opened = ledger(&db, &other).await.ok();
    assert_eq!(field(&opened, "reference"), "CLEARING-EUR");
    assert_eq!(
        ledger_system_tests::invariants::count(&client, "accounts").await,
        2
    );
}

#[tokio::test]
async fn showing_an_unknown_account_or_payment_is_refused() {
    let db = TestDatabase::with_defaults().await;
    ledger(&db, &["accounts", "show", ALICE])
        .await
        .refused("no account with reference DE89370400440532013000");
    ledger(&db, &["accounts", "show", "--id", "99"])
        .await
        .refused("no account with id 99");
    ledger(&db, &["payments", "show", "7"])
        .await
        .refused("no payment with id 7");
    ledger(
        &db,
        &[
            "payments",
            "show",
            "--uetr",
            "6f1c2d9e-8a55-4d1f-9b0e-1c2d3e4f5a6b",
        ],
    )
    .await
    .refused("no payment with business key uetr:6f1c2d9e-8a55-4d1f-9b0e-1c2d3e4f5a6b");
    ledger(&db, &["payments", "show", "--uetr", "not-a-uuid"])
        .await
        .refused("invalid --uetr");
    ledger(&db, &["payments", "show", "--business-key", "E2E-1"])
        .await
        .refused("invalid --business-key");
    // Naming no payment, or half a business key, is a usage error (status 2).
    assert_eq!(ledger(&db, &["payments", "show"]).await.code, 2);
    assert_eq!(
        ledger(&db, &["payments", "show", "--end-to-end-id", "E2E-1"])
            .await
            .code,
        2
    );
}

#[tokio::test]
async fn a_payment_is_shown_by_id_uetr_or_business_key_with_its_transfers() {
    let db = TestDatabase::with_defaults().await;
    for reference in [ALICE, BOB] {
        db.ledger
            .open_account(&open(reference, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
    // P-1: pending, then settled: two transfers.
    let first = db
        .ledger
        .apply(&command(
            "bank-a",
            "k-1",
            transfer("P-1", PaymentState::Pending, eur(4_200), ALICE, BOB),
        ))
        .await
        .unwrap();
    db.ledger
        .apply(&command(
            "bank-a",
            "k-2",
            status("P-1", PaymentState::Settled),
        ))
        .await
        .unwrap();
    let payment_id = first.receipts[0].payment_id.unwrap().to_string();
    // A payment known by its UETR.
    let uetr = "6f1c2d9e-8a55-4d1f-9b0e-1c2d3e4f5a6b";
    let mut by_uetr = transfer("P-2", PaymentState::Settled, eur(100), BOB, ALICE);
    by_uetr.business_key = BusinessKey::uetr(uetr).unwrap();
    db.ledger
        .apply(&command("bank-a", "k-3", by_uetr))
        .await
        .unwrap();

    let shown = ledger(&db, &["payments", "show", &payment_id]).await.ok();
    assert_eq!(field(&shown, "payment"), payment_id);
    assert_eq!(field(&shown, "business_key"), key("P-1").canonical());
    assert_eq!(field(&shown, "state"), "SETTLED");
    assert_eq!(field(&shown, "amount"), "42.00 EUR");
    assert!(field(&shown, "debit_account").starts_with(ALICE), "{shown}");
    assert!(field(&shown, "credit_account").starts_with(BOB), "{shown}");
    assert_eq!(field(&shown, "transfers"), "2");
    let kinds: Vec<&str> = shown
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|word| ["PENDING", "POST_PENDING", "POSTED"].contains(word))
        .collect();
    assert_eq!(kinds, ["PENDING", "POST_PENDING"], "{shown}");

    // The same payment by its canonical business key, and by its parts.
    let canonical = key("P-1").canonical();
    let by_key = ledger(&db, &["payments", "show", "--business-key", &canonical])
        .await
        .ok();
    assert_eq!(field(&by_key, "payment"), payment_id);
    let by_parts = ledger(
        &db,
        &[
            "payments",
            "show",
            "--originator",
            "BANKDEFFXXX",
            "--instruction-id",
            "P-1",
            "--end-to-end-id",
            "P-1",
        ],
    )
    .await
    .ok();
    assert_eq!(field(&by_parts, "payment"), payment_id);

    let by_uetr = ledger(&db, &["payments", "show", "--uetr", uetr])
        .await
        .ok();
    assert_eq!(field(&by_uetr, "business_key"), format!("uetr:{uetr}"));
    assert_eq!(field(&by_uetr, "amount"), "1.00 EUR");
    assert_eq!(field(&by_uetr, "transfers"), "1");
    assert!(by_uetr.contains("POSTED"), "{by_uetr}");
}

#[tokio::test]
async fn prune_idempotency_removes_only_records_older_than_the_retention_and_never_under_a_day() {
    let db = TestDatabase::with_defaults().await;
    for reference in [ALICE, BOB] {
        db.ledger
            .open_account(&open(reference, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
    for (name, age) in [
        ("old-1", "8 days"),
        ("old-2", "30 days"),
        ("two-days", "2 days"),
        ("recent", "1 hour"),
    ] {
        db.ledger
            .apply(&command(
                "bank-a",
                name,
                transfer(name, PaymentState::Settled, eur(100), ALICE, BOB),
            ))
            .await
            .unwrap();
        db.client()
            .await
            .execute(
                &format!(
                    "UPDATE idempotency_records SET created_at = now() - interval '{age}' \
                     WHERE idempotency_key = $1"
                ),
                &[&name],
            )
            .await
            .unwrap();
    }
    let client = db.client().await;
    let remaining =
        || async { ledger_system_tests::invariants::count(&client, "idempotency_records").await };

    // Under 24 h is refused, whatever the spelling, and removes nothing.
    for too_short in ["1h", "23h59m", "0s"] {
        ledger(&db, &["prune-idempotency", "--older-than", too_short])
            .await
            .refused("under 24h");
    }
    assert_eq!(remaining().await, 4);
    let malformed = ledger(&db, &["prune-idempotency", "--older-than", "7 days"]).await;
    assert_eq!(malformed.code, 2, "{malformed:?}");

    // The default retention is 7 days.
    let pruned = ledger(&db, &["prune-idempotency"]).await.ok();
    assert!(
        pruned.contains("removed 2 idempotency records older than 7d"),
        "{pruned}"
    );
    assert_eq!(remaining().await, 2);
    let pruned = ledger(&db, &["prune-idempotency", "--older-than", "1d"])
        .await
        .ok();
    assert!(
        pruned.contains("removed 1 idempotency records older than 1d"),
        "{pruned}"
    );
    assert_eq!(remaining().await, 1);
    // The payments themselves are kept: prune removes delivery records only.
    assert_eq!(
        ledger_system_tests::invariants::count(&client, "payments").await,
        4
    );
}

#[tokio::test]
async fn the_account_mapping_is_changed_and_listed_from_the_command_line() {
    let db = TestDatabase::with_defaults().await;
    for reference in [ALICE, BOB] {
        db.ledger
            .open_account(&open(reference, "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
    let empty = ledger(&db, &["accounts", "mappings"]).await.ok();
    assert!(
        empty.contains("no settlement or clearing accounts"),
        "{empty}"
    );
    let settlement = ledger(
        &db,
        &[
            "accounts",
            "map-settlement",
            "--bic",
            "BNPAFRPPXXX",
            "--currency",
            "EUR",
            "--reference",
            BOB,
        ],
    )
    .await
    .ok();
    assert!(
        settlement.contains(&format!("settlement account of BNPAFRPPXXX in EUR: {BOB}")),
        "{settlement}"
    );
    ledger(&db, &["accounts", "map-clearing", "--reference", ALICE])
        .await
        .ok();
    let listed = ledger(&db, &["accounts", "mappings"]).await.ok();
    let lines: Vec<Vec<&str>> = listed
        .lines()
        .filter(|line| line.starts_with("settlement") || line.starts_with("clearing"))
        .map(|line| line.split_whitespace().take(4).collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["settlement", "BNPAFRPPXXX", "EUR", BOB],
            vec!["clearing", "EUR", ALICE, "(account"],
        ],
        "{listed}"
    );

    ledger(
        &db,
        &[
            "accounts",
            "map-clearing",
            "--currency",
            "USD",
            "--reference",
            BOB,
        ],
    )
    .await
    .refused("is in EUR, not USD");
    ledger(
        &db,
        &[
            "accounts",
            "map-clearing",
            "--reference",
            "GB82WEST12345698765432",
        ],
    )
    .await
    .refused("no account with reference GB82WEST12345698765432");
    ledger(
        &db,
        &[
            "accounts",
            "map-settlement",
            "--bic",
            "not a bic",
            "--reference",
            BOB,
        ],
    )
    .await
    .refused("invalid --bic");
    // The refusals changed nothing.
    assert_eq!(ledger(&db, &["accounts", "mappings"]).await.ok(), listed);
}

#[tokio::test]
async fn every_operator_command_has_help_with_an_example() {
    let db = TestDatabase::with_defaults().await;
    for command in [
        &["accounts"][..],
        &["accounts", "open"],
        &["accounts", "show"],
        &["accounts", "map-settlement"],
        &["accounts", "map-clearing"],
        &["accounts", "mappings"],
        &["payments"],
        &["payments", "show"],
        &["payments", "list"],
        &["prune-idempotency"],
        &["audit-log"],
        &["expire-holds"],
        &["statement"],
        &["relay"],
        &["outbox"],
        &["outbox", "status"],
        &["outbox", "prune"],
        &["consume"],
        &["config"],
        &["config", "check"],
    ] {
        let mut arguments = command.to_vec();
        arguments.push("--help");
        let help = ledger(&db, &arguments).await.ok();
        assert!(
            help.contains("Example: `ledger ") || help.contains("Examples: `ledger "),
            "{command:?} --help has no example:\n{help}"
        );
    }
}

#[tokio::test]
async fn opening_suggests_the_upper_case_currency_and_names_a_wrong_iban_length() {
    let db = TestDatabase::with_defaults().await;
    ledger(
        &db,
        &[
            "accounts",
            "open",
            "--reference",
            ALICE,
            "--currency",
            "eur",
        ],
    )
    .await
    .refused(r#"(codes are upper case: "EUR")"#);
    // A digit missing: the length is wrong, not the check digits.
    let run = ledger(
        &db,
        &[
            "accounts",
            "open",
            "--reference",
            "DE8937040044053201300",
            "--currency",
            "EUR",
        ],
    )
    .await;
    assert!(!run.stderr.contains("check digits"), "{run:?}");
    run.refused("DE IBANs have 22 characters, this one has 21");
}

#[tokio::test]
async fn serve_without_tokens_refuses_before_the_database_and_before_announcing() {
    // Nothing answers at the database URL: serve must stop before it tries.
    let run = ledger_with(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("DATABASE_URL", Some(UNREACHABLE_DATABASE_URL))],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!run.stdout.contains("serving"), "{run:?}");
    assert!(!run.stderr.contains("database"), "{run:?}");
    assert!(run.stderr.contains("LEDGER_TOKENS"), "{run:?}");
    assert!(run.stderr.contains("--tokens"), "{run:?}");
    assert!(!run.stderr.contains("acktrace"), "{run:?}");
}

#[tokio::test]
async fn an_unreachable_database_exits_2_in_every_command_with_one_plain_line() {
    for arguments in [
        &["migrate"][..],
        &["demo"],
        &["accounts", "mappings"],
        &["accounts", "show", ALICE],
        &["payments", "show", "1"],
        &["prune-idempotency"],
        &["reconcile"],
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tokens",
            "bank-a=bank-a-secret-token-0001",
        ],
    ] {
        let run = ledger_with(
            arguments,
            &[("DATABASE_URL", Some(UNREACHABLE_DATABASE_URL))],
        )
        .await;
        assert_eq!(run.code, 2, "{arguments:?}: {run:?}");
        assert!(!run.stdout.contains("serving"), "{arguments:?}: {run:?}");
        // Words, not a debug dump of the connection configuration.
        if arguments[0] != "reconcile" {
            assert!(
                run.stderr
                    .contains("database: PostgreSQL at 127.0.0.1:1, database ledger"),
                "{arguments:?}: {run:?}"
            );
        }
        assert!(!run.stderr.contains("Tcp("), "{arguments:?}: {run:?}");
        assert!(
            run.stderr.contains("database unavailable"),
            "{arguments:?}: {run:?}"
        );
        assert!(
            !run.stderr
                .contains("database unavailable: database unavailable"),
            "{arguments:?}: {run:?}"
        );
        // RUST_BACKTRACE=1, yet an expected failure has no backtrace.
        assert!(!run.stderr.contains("acktrace"), "{arguments:?}: {run:?}");
        // Not a terminal: no colour in the logs.
        assert!(!run.stderr.contains('\x1b'), "{arguments:?}: {run:?}");
    }
}

#[tokio::test]
async fn usage_errors_name_every_way_of_naming_a_payment_and_not_the_environment() {
    let run = ledger_with(
        &["payments", "show"],
        &[
            ("LEDGER_DATA_DIR", Some("/tmp/ledger-data")),
            ("DATABASE_URL", Some(UNREACHABLE_DATABASE_URL)),
        ],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    for named in [
        "PAYMENT_ID",
        "--uetr",
        "--business-key",
        "--originator",
        "--instruction-id",
        "--end-to-end-id",
    ] {
        assert!(run.stderr.contains(named), "{named}: {run:?}");
    }
    // Set in the environment, not typed: not shown as if required.
    assert!(!run.stderr.contains("--data-dir"), "{run:?}");
    assert!(!run.stderr.contains("--database-url"), "{run:?}");
    // The parts of a business key go together; a payment is named one way.
    let half = ledger_with(&["payments", "show", "--originator", "COBADEFFXXX"], &[]).await;
    assert_eq!(half.code, 2, "{half:?}");
    assert!(half.stderr.contains("--instruction-id"), "{half:?}");
    let twice = ledger_with(&["payments", "show", "7", "--uetr", "x"], &[]).await;
    assert_eq!(twice.code, 2, "{twice:?}");
    assert!(twice.stderr.contains("cannot be used with"), "{twice:?}");
}

#[tokio::test]
async fn the_top_level_help_shows_examples_and_the_exit_codes() {
    let help = ledger_with(&["--help"], &[]).await.ok();
    assert!(help.contains("Examples:"), "{help}");
    for example in [
        "ledger serve",
        "ledger demo",
        "ledger ingest payments.xml",
        "ledger accounts show",
    ] {
        assert!(help.contains(example), "{example}: {help}");
    }
    assert!(help.contains("Exit status: 0 done; 1 refused"), "{help}");
    assert!(help.contains("LEDGER_DATA_DIR"), "{help}");
}

/// A fake `cargo` that records its arguments and "builds" a `ledger` that
/// prints where it runs, its arguments and its database settings.
const FAKE_CARGO: &str = r#"#!/usr/bin/env bash
set -euo pipefail
echo "$*" > "$FAKE_CARGO_LOG"
mkdir -p "$CARGO_TARGET_DIR/release"
cat > "$CARGO_TARGET_DIR/release/ledger" <<'LEDGER'
#!/usr/bin/env bash
echo "cwd=$PWD"
echo "arguments=$*"
echo "LEDGER_DATA_DIR=${LEDGER_DATA_DIR-unset}"
echo "LEDGER_DEFAULT_DATA_DIR=${LEDGER_DEFAULT_DATA_DIR-unset}"
LEDGER
chmod +x "$CARGO_TARGET_DIR/release/ledger"
"#;

#[tokio::test]
async fn scripts_run_keeps_the_callers_directory_and_the_repositorys_embedded_database() {
    use std::os::unix::fs::PermissionsExt;
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .canonicalize()
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let scratch_path = scratch.path().canonicalize().unwrap();
    let bin = scratch_path.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("cargo"), FAKE_CARGO).unwrap();
    std::fs::set_permissions(bin.join("cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let caller = scratch_path.join("caller");
    std::fs::create_dir(&caller).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let script_run = |environment: &[(&str, &str)]| {
        let mut command = Command::new(repository.join("scripts/run"));
        command
            .args(["ingest", "payments.xml", "--report", "r.jsonl"])
            .current_dir(&caller)
            .env("PATH", &path)
            // Relative, as cargo reads it: to the caller's directory.
            .env("CARGO_TARGET_DIR", "target")
            .env("FAKE_CARGO_LOG", scratch_path.join("cargo.log"))
            .env_remove("DATABASE_URL")
            .env_remove("LEDGER_DATA_DIR")
            .env_remove("LEDGER_DEFAULT_DATA_DIR");
        for (name, value) in environment {
            command.env(name, value);
        }
        command
    };

    let default = run(script_run(&[])).await.ok();
    assert!(
        default.contains(&format!("cwd={}\n", caller.display())),
        "{default}"
    );
    assert!(
        default.contains("arguments=ingest payments.xml --report r.jsonl\n"),
        "{default}"
    );
    // The repository's .ledger, as the default (which the ledger may move
    // when PostgreSQL's user cannot reach it), not as a choice.
    assert!(
        default.contains(&format!(
            "LEDGER_DEFAULT_DATA_DIR={}\n",
            repository.join(".ledger").display()
        )),
        "{default}"
    );
    assert!(default.contains("LEDGER_DATA_DIR=unset\n"), "{default}");
    let cargo_arguments = std::fs::read_to_string(scratch_path.join("cargo.log")).unwrap();
    assert!(
        cargo_arguments.contains(&format!(
            "--manifest-path {}",
            repository.join("Cargo.toml").display()
        )),
        "{cargo_arguments}"
    );
    // The caller's own choices win.
    let own_directory = run(script_run(&[("LEDGER_DATA_DIR", "/srv/ledger")]))
        .await
        .ok();
    assert!(
        own_directory.contains("LEDGER_DATA_DIR=/srv/ledger\n"),
        "{own_directory}"
    );
    assert!(
        own_directory.contains("LEDGER_DEFAULT_DATA_DIR=unset\n"),
        "{own_directory}"
    );
    let own_server = run(script_run(&[("DATABASE_URL", "postgres://user@host/db")]))
        .await
        .ok();
    assert!(
        own_server.contains("LEDGER_DATA_DIR=unset\n"),
        "{own_server}"
    );
    assert!(
        own_server.contains("LEDGER_DEFAULT_DATA_DIR=unset\n"),
        "{own_server}"
    );
}
