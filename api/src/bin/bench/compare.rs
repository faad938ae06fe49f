//! Two builds of the server compared on this noisy machine: rounds of
//! alternated points (A, B, A, B, ...) with group commit, each on a fresh
//! database, then the medians and spreads of both. One pair of points is
//! not enough here: a 10 s point moves by 10-20% from one minute to the next.

use std::path::Path;

use crate::service::run_service_point;
use crate::{percentile, Options, Point, Scenario};

/// What one build did over the rounds of a point.
#[derive(Default)]
struct Rounds {
    payments_per_second: Vec<f64>,
    p99_ms: Vec<f64>,
    max_ms: Vec<f64>,
}

impl Rounds {
    fn push(&mut self, point: &Point) {
        self.payments_per_second.push(point.payments_per_second);
        self.p99_ms.push(percentile(&point.latencies_us, 0.99));
        self.max_ms.push(percentile(&point.latencies_us, 1.0));
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[middle],
        _ => (sorted[middle - 1] + sorted[middle]) / 2.0,
    }
}

fn spread(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
            (low.min(*value), high.max(*value))
        })
}

/// `rounds` alternated rounds of the two builds at one point; prints each
/// round, then the medians, the spreads and in how many rounds B was ahead.
pub async fn compare_point(
    builds: [&Path; 2],
    cluster: &pg_embedded::Cluster,
    admin: &tokio_postgres::Client,
    scenario: Scenario,
    clients: usize,
    options: &Options,
) {
    let mut rounds = [Rounds::default(), Rounds::default()];
    for round in 1..=options.rounds {
        // Which build goes first alternates too, so neither always runs
        // on the database cluster the other just warmed.
        let order = if round % 2 == 1 { [0, 1] } else { [1, 0] };
        for build in order {
            let point = run_service_point(
                builds[build],
                cluster,
                admin,
                scenario,
                clients,
                true,
                options,
            )
            .await;
            println!(
                "round {round} {}: {:>6.0}/s  p99 {:>6.1} ms  max {:>6.1} ms  errors: {}",
                ["A", "B"][build],
                point.payments_per_second,
                percentile(&point.latencies_us, 0.99),
                percentile(&point.latencies_us, 1.0),
                point.errors_text(),
            );
            rounds[build].push(&point);
        }
    }
    for (label, (build, figures)) in ["A", "B"].iter().zip(builds.iter().zip(&rounds)) {
        let (low, high) = spread(&figures.payments_per_second);
        let (p99_low, p99_high) = spread(&figures.p99_ms);
        let (max_low, max_high) = spread(&figures.max_ms);
        println!(
            "{label} {}: median {:.0}/s ({low:.0}-{high:.0}), p99 median {:.1} ms ({p99_low:.1}-{p99_high:.1}), \
             max median {:.1} ms ({max_low:.1}-{max_high:.1})",
            build.display(),
            median(&figures.payments_per_second),
            median(&figures.p99_ms),
            median(&figures.max_ms),
        );
    }
    let ahead = rounds[0]
        .payments_per_second
        .iter()
        .zip(&rounds[1].payments_per_second)
        .filter(|(a, b)| b > a)
        .count();
    println!(
        "B / A: {:.3}x at the median; B ahead in {ahead} of {} rounds",
        median(&rounds[1].payments_per_second) / median(&rounds[0].payments_per_second),
        options.rounds,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn the_median_of_nothing_is_not_a_number() {
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn the_spread_is_the_lowest_and_the_highest() {
        assert_eq!(spread(&[3.0, 9.0, 1.0]), (1.0, 9.0));
    }
}
