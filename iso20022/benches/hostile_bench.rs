//! Refusal time of hostile XML, per MiB, for growing sizes of each shape: linear work
//! keeps the time per MiB flat. Run:
//! `CARGO_TARGET_DIR=/work/target-iso cargo bench -p iso20022 --bench hostile_bench`
//! It prints, per shape, the time per MiB at each size and the ratio of the largest
//! size's time per MiB to the smallest's (linear: <= 2).

#[path = "hostile.rs"]
mod hostile;

use hostile::Shape;
use std::time::Instant;

/// Best of `runs` refusal times, in seconds (the document must be refused).
fn refusal_seconds(doc: &[u8], runs: usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let refused = iso20022::parse_document(std::hint::black_box(doc)).is_err();
        let s = t.elapsed().as_secs_f64();
        assert!(refused, "a hostile document was accepted");
        best = best.min(s);
    }
    best
}

fn main() {
    let mut worst: f64 = 0.0;
    for shape in Shape::ALL {
        let top = shape.reported_count();
        let counts: Vec<usize> = [16, 8, 4, 2, 1].iter().map(|d| top / d).collect();
        let mut per_mib = vec![];
        print!("{shape:?}:");
        for &n in &counts {
            let doc = hostile::document(shape, n);
            let mib = doc.len() as f64 / (1024.0 * 1024.0);
            let s = refusal_seconds(&doc, 7);
            per_mib.push(s / mib);
            print!("  n={n} {mib:.2} MiB {:.3} ms/MiB", s / mib * 1e3);
        }
        let ratio = per_mib.last().unwrap() / per_mib.first().unwrap();
        worst = worst.max(ratio);
        println!("  | largest/smallest per MiB: {ratio:.2}");
    }
    println!("worst ratio: {worst:.2} (target <= 2)");
}
