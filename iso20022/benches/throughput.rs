//! Throughput of the typed, validated read against quick-xml's bare event loop over the
//! same bytes. Run: `CARGO_TARGET_DIR=/work/target-iso cargo bench -p iso20022 --bench throughput`
//! (add `-- --big` to also stream a generated 1 GB pain.001 and report peak memory).

#[path = "gen.rs"]
mod gen;

use gen::Kind;
use std::time::Instant;

fn bare_loop(bytes: &[u8]) -> u64 {
    let mut r = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::with_capacity(1024);
    let mut events = 0u64;
    loop {
        match r.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => events += 1,
            Err(e) => panic!("{e}"),
        }
        buf.clear();
    }
    events
}

fn typed(bytes: &[u8]) -> u64 {
    let mut r = iso20022::MessageReader::new(bytes).expect("valid");
    let mut n = 0;
    while let Some(t) = r.next_transaction() {
        t.expect("valid transaction");
        n += 1;
    }
    n
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    (best, out.expect("runs > 0"))
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let big = std::env::args().any(|a| a == "--big");
    let n = 50_000;
    for kind in [Kind::Pacs008, Kind::Pain001] {
        let bytes = gen::bytes(kind, n);
        let mb = bytes.len() as f64 / 1e6;
        // interleaved, so that both see the same load on a shared machine; best of 3 each
        let (mut t_bare, mut t_typed, mut events, mut txs) = (f64::MAX, f64::MAX, 0, 0);
        for _ in 0..3 {
            let (t, e) = best_of(1, || bare_loop(&bytes));
            t_bare = t_bare.min(t);
            events = e;
            let (t, x) = best_of(1, || typed(&bytes));
            t_typed = t_typed.min(t);
            txs = x;
        }
        assert_eq!(txs, n);
        println!(
            "{kind:?}: {mb:.1} MB, {n} transactions, {events} events\n  quick-xml bare event loop: {:8.1} MB/s {:10.0} tx/s\n  iso20022 typed+validated:  {:8.1} MB/s {:10.0} tx/s  ({:.0}% of bare)",
            mb / t_bare,
            n as f64 / t_bare,
            mb / t_typed,
            n as f64 / t_typed,
            100.0 * t_bare / t_typed
        );
    }
    // A server reads one small document per request: the fixed cost of a
    // document (header, namespace, group header) matters there, not MB/s.
    let documents = 20_000;
    for kind in [Kind::Pacs008, Kind::Pain001] {
        let bytes = gen::bytes(kind, 1);
        let (mut t_bare, mut t_typed) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            let (t, _) = best_of(1, || (0..documents).map(|_| bare_loop(&bytes)).sum::<u64>());
            t_bare = t_bare.min(t);
            let (t, read) = best_of(1, || (0..documents).map(|_| typed(&bytes)).sum::<u64>());
            t_typed = t_typed.min(t);
            assert_eq!(read, documents);
        }
        println!(
            "{kind:?}: {documents} one-transaction documents of {} bytes\n  quick-xml bare event loop: {:6.1} µs a document\n  iso20022 typed+validated:  {:6.1} µs a document  ({:.0}% of bare)",
            bytes.len(),
            1e6 * t_bare / documents as f64,
            1e6 * t_typed / documents as f64,
            100.0 * t_bare / t_typed
        );
    }
    if big {
        let n = 1_700_000u64; // about 1 GB of pain.001
        let t = Instant::now();
        let input = std::io::BufReader::new(gen::Generated::new(Kind::Pain001, n));
        let mut r = iso20022::MessageReader::new(input).expect("valid");
        let mut count = 0u64;
        while let Some(tx) = r.next_transaction() {
            tx.expect("valid");
            count += 1;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "streamed generated pain.001: {count} transactions in {secs:.1} s; peak RSS {:.1} MiB",
            peak_rss_mib().unwrap_or(f64::NAN)
        );
    }
}
