//! The line `ledger serve` prints on standard output once it accepts calls,
//! and how a process that started it waits for that line: the benchmark, the
//! fault harness and the tests all start `ledger serve` as a child and must
//! not send a call before it listens.

use std::fmt::Display;
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

/// What the line starts with; the address the server listens on follows.
pub const SERVING_PREFIX: &str = "serving ledger.v1.LedgerService on ";

/// The line for a server listening on `address`.
pub fn serving_line(address: impl Display) -> String {
    format!("{SERVING_PREFIX}{address}")
}

/// The address a serving line names, or `None` for any other line.
pub fn serving_address(line: &str) -> Option<&str> {
    line.strip_prefix(SERVING_PREFIX).map(str::trim)
}

/// Reads the standard output of a starting `ledger serve` on a thread of its
/// own, to its end (so that the server never blocks on a full pipe), and
/// waits up to `timeout` for the serving line. The address it names, or
/// `None` if the server said nothing of the kind in time (it failed to
/// start, or it is still connecting to its database).
pub fn wait_for_serving_address(
    stdout: impl Read + Send + 'static,
    timeout: Duration,
) -> Option<String> {
    wait_for_line(stdout, timeout, |line| {
        serving_address(line).map(str::to_owned)
    })
}

/// Reads a child's standard output on a thread of its own, to its end, and
/// waits up to `timeout` for the first line `pick` takes something from:
/// what it took, or `None`. The mechanism under [`wait_for_serving_address`],
/// for the other `ledger` commands that say when they are ready (`relay`).
pub fn wait_for_line<T: Send + 'static>(
    stdout: impl Read + Send + 'static,
    timeout: Duration,
    pick: impl Fn(&str) -> Option<T> + Send + 'static,
) -> Option<T> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(picked) = pick(&line) {
                let _ = sender.try_send(picked);
            }
        }
    });
    receiver.recv_timeout(timeout).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serving_line_names_the_address_it_is_read_back_from() {
        let line = serving_line("127.0.0.1:50051");
        assert_eq!(serving_address(&line), Some("127.0.0.1:50051"));
    }

    #[test]
    fn other_lines_name_no_address() {
        assert_eq!(serving_address("database: embedded cluster"), None);
        assert_eq!(serving_address("serving metrics on 127.0.0.1:9"), None);
    }

    #[test]
    fn the_address_is_found_after_other_lines() {
        let output = format!(
            "database: ready\n{}\nholds expire after 7d\n",
            serving_line("[::1]:7")
        );
        let address =
            wait_for_serving_address(std::io::Cursor::new(output), Duration::from_secs(5));
        assert_eq!(address.as_deref(), Some("[::1]:7"));
    }

    #[test]
    fn an_output_without_the_line_gives_no_address() {
        let output = "database: could not connect\n".to_owned();
        let address =
            wait_for_serving_address(std::io::Cursor::new(output), Duration::from_millis(200));
        assert_eq!(address, None);
    }
}
