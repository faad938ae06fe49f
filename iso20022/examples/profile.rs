//! Reads a generated message with the typed reader only, for profilers:
//! `cargo run -p iso20022 --release --example profile -- pacs008|pain001 [N] [bare|gen]`
//! e.g. under `valgrind --tool=callgrind`.

#[path = "../benches/gen.rs"]
mod gen;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = match args.get(1).map(String::as_str) {
        Some("pain001") => gen::Kind::Pain001,
        _ => gen::Kind::Pacs008,
    };
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let bytes = gen::bytes(kind, n);
    if args.get(3).map(String::as_str) == Some("gen") {
        // input generation only: subtract from the other two modes
        println!("{} bytes", bytes.len());
        return;
    }
    if args.get(3).map(String::as_str) == Some("bare") {
        let mut r = quick_xml::Reader::from_reader(&bytes[..]);
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
        println!("{events} events");
        return;
    }
    let mut r = iso20022::MessageReader::new(&bytes[..]).expect("valid");
    let mut count = 0u64;
    while let Some(t) = r.next_transaction() {
        t.expect("valid transaction");
        count += 1;
    }
    assert_eq!(count, n);
    println!("{count} transactions");
}
