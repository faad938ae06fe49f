//! What a run shows while it goes and says when it ends: the progress bar or
//! lines, and the summary.

use std::io::Write;
use std::time::{Duration, Instant};

use super::run::{Run, Totals};

/// A progress bar on a terminal; plain lines on standard error otherwise,
/// every `--progress-every-transactions` transactions or
/// `--progress-every-seconds` seconds.
pub(super) struct Progress {
    pub(super) bar: Option<indicatif::ProgressBar>,
    pub(super) name: String,
    pub(super) label: &'static str,
    pub(super) total: Option<u64>,
    pub(super) started: Instant,
    pub(super) logged_at: Instant,
    pub(super) logged_count: u64,
    pub(super) every_transactions: u64,
    pub(super) every: Duration,
}

impl Progress {
    pub(super) fn new(
        run: &Run<'_>,
        name: &str,
        label: &'static str,
        total: Option<u64>,
    ) -> Progress {
        let bar = run.terminal.then(|| {
            let bar = match total {
                Some(total) => indicatif::ProgressBar::new(total),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let template = match total {
                Some(_) => {
                    "{msg} [{bar:30}] {human_pos}/{human_len} transactions, {rate}, ETA {eta}"
                }
                None => "{msg} {spinner} {human_pos} transactions, {rate}",
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                let style = style.with_key(
                    "rate",
                    |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                        let _ = write!(out, "{:.0}/s", state.per_sec());
                    },
                );
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(format!("{label} {name}"));
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            name: name.to_owned(),
            label,
            total,
            started: now,
            logged_at: now,
            logged_count: 0,
            every_transactions: run.args.progress_every_transactions.max(1),
            every: Duration::from_secs(run.args.progress_every_seconds.max(1)),
        }
    }

    pub(super) fn update(&mut self, count: u64, totals: Option<&Totals>) {
        if let Some(bar) = &self.bar {
            bar.set_position(count);
            return;
        }
        if count - self.logged_count < self.every_transactions
            && self.logged_at.elapsed() < self.every
        {
            return;
        }
        self.logged_at = Instant::now();
        self.logged_count = count;
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            count as f64 / elapsed
        } else {
            0.0
        };
        let mut line = format!("ingest: {} {}: {count}", self.label, self.name);
        if let Some(total) = self.total {
            line.push_str(&format!("/{total}"));
        }
        line.push_str(&format!(" transactions, {rate:.0}/s"));
        if let (Some(total), true) = (self.total, rate > 0.0) {
            let left = total.saturating_sub(count) as f64 / rate;
            line.push_str(&format!(", ETA {left:.0} s"));
        }
        if let Some(totals) = totals {
            line.push_str(&format!(
                "; applied {}, already applied {}, duplicates {}, rejected {}, invalid {}",
                totals.applied,
                totals.already_applied,
                totals.duplicates,
                totals.rejected_total(),
                totals.invalid
            ));
        }
        eprintln!("{line}");
    }

    pub(super) fn finish(self, count: u64) {
        if let Some(bar) = self.bar {
            bar.set_position(count);
            bar.finish_and_clear();
        }
    }
}

// ------------------------------------------------------------------ summary

pub(super) fn print_summary(totals: &Totals, elapsed: Duration, retry_rejected: bool) {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        totals.transactions as f64 / seconds
    } else {
        0.0
    };
    let rejected = totals
        .rejected
        .iter()
        .map(|(code, count)| format!("{code} {count}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "ingest: {} file(s), {} transactions in {seconds:.1} s ({rate:.0} transactions/s)",
        totals.files, totals.transactions
    );
    let rows: [(&str, u64, String); 7] = [
        ("applied", totals.applied, String::new()),
        (
            "already applied",
            totals.already_applied,
            "replays of applied transactions and ALREADY_APPLIED".to_owned(),
        ),
        ("duplicates", totals.duplicates, String::new()),
        ("rejected", totals.rejected_total(), rejected),
        ("invalid", totals.invalid, String::new()),
        (
            "not applied",
            totals.not_applied,
            "valid transactions of refused files".to_owned(),
        ),
        (
            "file errors",
            totals.file_errors,
            format!("{} file(s) refused whole", totals.files_refused),
        ),
    ];
    for (label, count, detail) in rows {
        if detail.is_empty() {
            let _ = writeln!(out, "  {label:<16} {count:>10}");
        } else {
            let _ = writeln!(out, "  {label:<16} {count:>10}  ({detail})");
        }
    }
    let replayed_rejections_detail = if retry_rejected {
        "stored rejections replayed as first given; conflicts are not retried"
    } else {
        "stored rejections replayed as first given, not tried again"
    };
    let rows: [(&str, u64, &str); 3] = [
        (
            "replays",
            totals.replays,
            "answers stored by earlier runs, returned as first given",
        ),
        (
            "stored rejections",
            totals.replayed_rejections,
            replayed_rejections_detail,
        ),
        (
            "retried",
            totals.retried,
            "stored rejections sent again under a retry key: --retry-rejected",
        ),
    ];
    for (label, count, detail) in rows {
        let _ = writeln!(out, "  {label:<17} {count:>9}  ({detail})");
    }
    if totals.replayed_rejections > 0 && !retry_rejected {
        let _ = writeln!(
            out,
            "ingest: {} rejection(s) are the answers stored when those transactions were first ingested: \
             nothing was tried again. After fixing their cause (e.g. opening the missing account), \
             run the same command with --retry-rejected to apply them (once).",
            totals.replayed_rejections
        );
    }
    let _ = out.flush();
}
