//! The `ledger` binary run to its end against a test database, as an
//! operator runs it: its exit code and what it printed.

use std::process::Command;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `ledger` binary with `arguments` against `database_url`.
pub async fn ledger_binary(database_url: String, arguments: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(&arguments)
            .env("DATABASE_URL", database_url)
            .env_remove("LEDGER_DATA_DIR")
            .output()
            .unwrap();
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}
