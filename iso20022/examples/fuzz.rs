//! Bounded mutation fuzzer for the reader, seeded from the real samples (stable toolchain;
//! no cargo-fuzz needed):
//!
//! `CARGO_TARGET_DIR=/work/target-iso cargo run -p iso20022 --release --example fuzz -- --seconds 60`
//!
//! Each iteration picks a sample, applies random byte edits, splices and structural
//! insertions (DOCTYPE, entities, deep nesting, huge attributes), and feeds the result to
//! both `parse_document` and the streaming `MessageReader` with a tiny buffer. A panic
//! aborts the run and the offending input is written to `target/fuzz-crash.xml`.

use std::io::BufReader;
use std::time::{Duration, Instant};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/iso20022/samples");

/// xorshift64*: deterministic for a given seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&str] = &[
    "<!DOCTYPE Document [<!ENTITY a \"aaaaaaaa\">]>",
    "&a;",
    "&#x0;",
    "&#xD800;",
    "<![CDATA[<x>]]>",
    "<a><a><a><a><a><a><a><a><a><a>",
    "</Document>",
    "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\">",
    " Ccy=\"JPY\"",
    "xmlns:p=\"urn:x\"",
    "<p:Foo/>",
    "\u{feff}",
    "\u{a0}",
    "\u{fffd}",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(6) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            1 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(64).min(len - i);
                input.drain(i..i + n);
            }
            2 => {
                let i = rng.below(len + 1);
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                input.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                // splice a chunk of another sample
                let other = &seeds[rng.below(seeds.len())];
                let a = rng.below(other.len());
                let b = (a + rng.below(512)).min(other.len());
                let i = rng.below(len + 1);
                input.splice(i..i, other[a..b].iter().copied());
            }
            4 if len > 0 => {
                // duplicate a chunk (repeated elements)
                let a = rng.below(len);
                let b = (a + rng.below(256)).min(len);
                let chunk = input[a..b].to_vec();
                input.splice(b..b, chunk);
            }
            5 => input.truncate(rng.below(len + 1)),
            _ if len > 0 => {
                // flip a digit or a letter case (amounts, dates, codes)
                let i = rng.below(len);
                input[i] = match input[i] {
                    b'0'..=b'8' => input[i] + 1,
                    b'9' => b'.',
                    c if c.is_ascii_alphabetic() => c ^ 0x20,
                    c => c,
                };
            }
            _ => {}
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seconds = arg("--seconds", 60);
    let seed = arg("--seed", 0x5eed);
    let mut seeds = vec![];
    for dir in std::fs::read_dir(SAMPLES).expect("samples dir") {
        for f in std::fs::read_dir(dir.expect("entry").path()).expect("type dir") {
            seeds.push(std::fs::read(f.expect("entry").path()).expect("sample"));
        }
    }
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut accepted) = (0u64, 0u64);
    while Instant::now() < deadline {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &seeds, &mut input);
        let crash_file = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/fuzz-crash.xml");
        let result = std::panic::catch_unwind(|| {
            let ok = iso20022::parse_document(&input).is_ok();
            if let Ok(mut r) =
                iso20022::MessageReader::new(BufReader::with_capacity(16, &input[..]))
            {
                while r.next_transaction().is_some() {}
            }
            ok
        });
        match result {
            Ok(ok) => accepted += u64::from(ok),
            Err(_) => {
                let _ = std::fs::write(crash_file, &input);
                eprintln!("panic after {runs} runs; input written to {crash_file}");
                std::process::exit(1);
            }
        }
        runs += 1;
    }
    println!("fuzz: {runs} inputs in {seconds} s, {accepted} accepted, no panic");
}
