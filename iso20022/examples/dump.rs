//! Prints what the reader makes of each file given: `cargo run -p iso20022 --example dump -- FILE...`
fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("readable file");
        match iso20022::parse_document(&bytes) {
            Ok(m) => println!(
                "OK   {path}: {} {} txs={}",
                m.kind.id,
                m.group_header.message_id,
                m.transactions.len()
            ),
            Err(e) => {
                println!("FAIL {path}:");
                for x in e.iter().take(6) {
                    println!("     {x}");
                }
            }
        }
    }
}
