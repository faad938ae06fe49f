//! The runbook (`docs/operations.md`) as an operator follows it: every
//! `ledger ...` line of its fenced `sh` examples runs, in order, against a
//! fresh test database from the repository's root and exits 0, except the
//! lines that say at their end why they cannot run in a test
//! (`# not run in tests: REASON`), which are skipped, exactly those. The
//! runbook covers every alert of `ops/prometheus/alerts.yml`, and
//! `docs/configuration.md` every setting.

use std::path::{Path, PathBuf};
use std::process::Command;

use ledger::LedgerOptions;
use ledger_system_tests::{database_url, TestDatabase};

/// What marks a line the tests do not run; a reason must follow.
const NOT_RUN_MARKER: &str = "# not run in tests:";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("api/ is in the workspace")
        .to_owned()
}

/// One `ledger` line of a runbook's `sh` examples.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Example {
    /// 1-based line number in the document.
    line_number: usize,
    /// `NAME=value` words before `ledger`.
    environment: Vec<(String, String)>,
    /// The words after `ledger`.
    arguments: Vec<String>,
    /// Why it is not run, when marked.
    not_run_because: Option<String>,
}

/// The `ledger` lines of the fenced `sh` blocks of `document`, or why the
/// document cannot be read that way (an unclosed block, a marker without a
/// reason, a quote the simple word split does not handle).
fn ledger_examples(document: &str) -> Result<Vec<Example>, String> {
    let mut examples = Vec::new();
    let mut fence: Option<(usize, bool)> = None;
    for (index, line) in document.lines().enumerate() {
        let line_number = index + 1;
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            fence = match fence {
                None => Some((line_number, info.trim() == "sh")),
                Some(_) => None,
            };
            continue;
        }
        let Some((_, true)) = fence else {
            continue;
        };
        let (command, comment) = match trimmed.find(" #") {
            Some(at) => (&trimmed[..at], Some(trimmed[at + 1..].trim())),
            None if trimmed.starts_with('#') => continue,
            None => (trimmed, None),
        };
        let words: Vec<&str> = command.split_whitespace().collect();
        let assignments = words
            .iter()
            .take_while(|word| word.contains('=') && !word.starts_with('-'))
            .count();
        if words.get(assignments) != Some(&"ledger") {
            continue;
        }
        if command.contains(['"', '\'', '`', '$', '>', '<', '|']) {
            return Err(format!(
                "line {line_number}: `{command}` needs a shell; write it without quotes, \
                 variables or redirections, or mark it `{NOT_RUN_MARKER} ...`"
            ));
        }
        let not_run_because = match comment.and_then(|comment| comment.strip_prefix(NOT_RUN_MARKER))
        {
            Some(reason) if reason.trim().is_empty() => {
                return Err(format!(
                    "line {line_number}: `{NOT_RUN_MARKER}` without a reason"
                ))
            }
            Some(reason) => Some(reason.trim().to_owned()),
            None => None,
        };
        let environment = words[..assignments]
            .iter()
            .map(|word| {
                let (name, value) = word.split_once('=').expect("an assignment");
                (name.to_owned(), value.to_owned())
            })
            .collect();
        examples.push(Example {
            line_number,
            environment,
            arguments: words[assignments + 1..]
                .iter()
                .map(|word| (*word).to_owned())
                .collect(),
            not_run_because,
        });
    }
    match fence {
        Some((opened_at, _)) => Err(format!(
            "the block opened at line {opened_at} is not closed"
        )),
        None => Ok(examples),
    }
}

#[test]
fn the_runbook_reader_takes_only_ledger_lines_of_sh_blocks_and_their_markers() {
    let document = "\
ledger migrate outside any block
```sh
ledger migrate            # a comment
pg_basebackup --pgdata /backups
# ledger reconcile in a comment line
  LEDGER_LOG_FORMAT=json ledger outbox status
ledger serve   # not run in tests: serves until stopped
```
```text
ledger reconcile in a text block
```
   ```sh
   ledger reconcile
   ```
";
    let examples = ledger_examples(document).unwrap();
    let summary: Vec<(usize, Vec<&str>, Option<&str>)> = examples
        .iter()
        .map(|example| {
            (
                example.line_number,
                example.arguments.iter().map(String::as_str).collect(),
                example.not_run_because.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (3, vec!["migrate"], None),
            (6, vec!["outbox", "status"], None),
            (7, vec!["serve"], Some("serves until stopped")),
            (13, vec!["reconcile"], None),
        ]
    );
    assert_eq!(
        examples[1].environment,
        [("LEDGER_LOG_FORMAT".to_owned(), "json".to_owned())]
    );
}

#[test]
fn a_runbook_the_reader_cannot_follow_is_refused_saying_where() {
    for (document, expected) in [
        (
            "```sh\nledger migrate\n",
            "the block opened at line 1 is not closed",
        ),
        (
            "```sh\nledger serve # not run in tests:\n```\n",
            "line 2: `# not run in tests:` without a reason",
        ),
        (
            "```sh\nledger reconcile --format csv > audit.csv\n```\n",
            "line 2: `ledger reconcile --format csv > audit.csv` needs a shell",
        ),
        (
            "```sh\nledger accounts show \"DE89 3704\"\n```\n",
            "needs a shell",
        ),
    ] {
        let error = ledger_examples(document).unwrap_err();
        assert!(error.contains(expected), "{document:?}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_ledger_line_of_the_runbook_runs_against_a_fresh_database() {
    let root = workspace_root();
    let document = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
    let examples = ledger_examples(&document).unwrap();
    let database = TestDatabase::create(LedgerOptions::default()).await;
    let url = database_url(&database.config);
    let mut ran = 0;
    let mut skipped = Vec::new();
    for example in &examples {
        if let Some(reason) = &example.not_run_because {
            skipped.push(format!("line {}: {reason}", example.line_number));
            continue;
        }
        let (arguments, environment, url, root) = (
            example.arguments.clone(),
            example.environment.clone(),
            url.clone(),
            root.clone(),
        );
        let output = tokio::task::spawn_blocking(move || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
            for (name, _) in std::env::vars() {
                if name.starts_with("LEDGER_") {
                    command.env_remove(name);
                }
            }
            command
                .args(&arguments)
                .current_dir(&root)
                .env("DATABASE_URL", url)
                .env_remove("RUST_LOG")
                .envs(environment)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "docs/operations.md line {}: ledger {}\nstdout:\n{}\nstderr:\n{}",
            example.line_number,
            example.arguments.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        ran += 1;
    }
    eprintln!(
        "ran {ran} runbook lines; skipped {}: {skipped:#?}",
        skipped.len()
    );
    assert!(ran >= 10, "only {ran} runbook lines ran");
    for command in [
        "config check",
        "migrate",
        "reconcile",
        "outbox status",
        "prune-idempotency",
    ] {
        assert!(
            examples
                .iter()
                .any(|example| example.not_run_because.is_none()
                    && example.arguments.join(" ").starts_with(command)),
            "the runbook runs no `ledger {command}`"
        );
    }
}

#[test]
fn the_runbook_says_what_to_do_for_every_alert() {
    let root = workspace_root();
    let rules = std::fs::read_to_string(root.join("ops/prometheus/alerts.yml")).unwrap();
    let document = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 9, "{alerts:?}");
    for alert in alerts {
        assert!(
            document.contains(&format!("\n### {alert}\n")),
            "docs/operations.md has no section `### {alert}`"
        );
    }
}

#[test]
fn the_configuration_document_gives_every_setting_its_default() {
    let document = std::fs::read_to_string(workspace_root().join("docs/configuration.md")).unwrap();
    for key in ledger_api::config::KEYS {
        let row = document
            .lines()
            .find(|line| line.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for `{key}`"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(
            cells.len() >= 4 && !cells[2].is_empty() && !cells[3].is_empty(),
            "`{key}`'s row lacks its default or meaning: {row}"
        );
    }
}
