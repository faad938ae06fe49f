//! Property tests: what we write reads back the same; hostile and mutated inputs (from the
//! real samples) never panic.

use iso20022::*;
use proptest::prelude::*;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/iso20022/samples");

fn seeds() -> Vec<Vec<u8>> {
    let mut out = vec![];
    for dir in std::fs::read_dir(SAMPLES).expect("samples dir") {
        let dir = dir.expect("entry").path();
        for f in std::fs::read_dir(&dir).expect("sample type dir") {
            let p = f.expect("entry").path();
            let b = std::fs::read(&p).expect("sample");
            if b.len() < 40_000 {
                out.push(b);
            }
        }
    }
    out.sort();
    out
}

fn id() -> impl Strategy<Value = Max35Text> {
    // printable text, including characters that need escaping, not starting or ending
    // with whitespace (identifiers are read back trimmed)
    "[A-Za-z0-9&<>\"'/?:().,+-]([A-Za-z0-9&<>\"'/?:().,+ -]{0,33}[A-Za-z0-9&<>\"'/?:().,+-])?"
        .prop_map(|s| Max35Text::new(&s).expect("1..=35 chars"))
}

fn uetr() -> impl Strategy<Value = Uetr> {
    "[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}"
        .prop_map(|s| Uetr::new(&s).expect("v4"))
}

fn status() -> impl Strategy<Value = ConfirmationStatus> {
    prop_oneof![
        Just(ConfirmationStatus::Settled),
        Just(ConfirmationStatus::Pending),
        "[A-Z]{2}[0-9]{2}".prop_map(|c| ConfirmationStatus::Rejected(ReasonCode::new(&c).unwrap())),
    ]
}

fn confirmation() -> impl Strategy<Value = TransactionConfirmation> {
    (
        proptest::option::of(id()),
        id(),
        proptest::option::of(id()),
        id(),
        proptest::option::of(id()),
        proptest::option::of(uetr()),
        status(),
    )
        .prop_map(|(sts, pmt, instr, e2e, txid, uetr, status)| {
            let mut t = TransactionConfirmation::new(status);
            t.status_id = sts;
            t.original_payment_info_id = Some(pmt);
            t.original_instruction_id = instr;
            t.original_end_to_end_id = Some(e2e);
            t.original_transaction_id = txid;
            t.original_uetr = uetr;
            t
        })
}

fn report() -> impl Strategy<Value = StatusReport> {
    (
        id(),
        id(),
        proptest::option::of(status()),
        proptest::collection::vec(confirmation(), 0..6),
        (2000i32..2100, 1u8..13, 1u8..29, 0u8..24, 0u8..60),
    )
        .prop_map(|(msg, orig, grp, txs, (y, mo, d, h, mi))| {
            let dt = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00Z");
            let mut r = StatusReport::new(
                msg,
                IsoDateTime::parse(&dt).unwrap(),
                orig,
                Max35Text::new("pacs.008.001.08").unwrap(),
            );
            r.group_status = grp;
            r.transactions = txs;
            r
        })
}

fn statuses(m: &Message) -> Vec<&TransactionStatus> {
    m.transactions
        .iter()
        .filter_map(|t| match t {
            Transaction::TransactionStatus(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn same(t: &TransactionConfirmation, s: &TransactionStatus, pacs: bool) {
    let o = |v: &Option<Max35Text>| v.as_ref().map(|v| v.as_str().to_owned());
    assert_eq!(s.status.as_deref(), Some(t.status.code()));
    assert_eq!(
        s.reasons.first().and_then(|r| r.code.as_deref()),
        t.status.reason().map(|r| r.as_str())
    );
    assert_eq!(s.status_id, o(&t.status_id));
    assert_eq!(s.original_instruction_id, o(&t.original_instruction_id));
    assert_eq!(s.original_end_to_end_id, o(&t.original_end_to_end_id));
    assert_eq!(s.original_uetr, t.original_uetr);
    if pacs {
        assert_eq!(s.original_transaction_id, o(&t.original_transaction_id));
    } else {
        assert_eq!(s.original_payment_info_id, o(&t.original_payment_info_id));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pacs002_write_then_read_round_trips(r in report()) {
        let mut out = vec![];
        write_pacs002(&r, &mut out).unwrap();
        let m = parse_document(&out).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
        prop_assert_eq!(m.group_header.message_id.as_str(), r.message_id.as_str());
        let got = statuses(&m);
        prop_assert_eq!(got.len(), r.transactions.len());
        for (t, s) in r.transactions.iter().zip(got) {
            same(t, s, true);
            prop_assert_eq!(s.original_message_id.as_deref(), Some(r.original_message_id.as_str()));
        }
    }

    #[test]
    fn pain002_write_then_read_round_trips(r in report()) {
        let mut out = vec![];
        write_pain002(&r, &mut out).unwrap();
        let m = parse_document(&out).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
        let got = statuses(&m);
        prop_assert_eq!(got.len(), r.transactions.len());
        // grouped by PmtInfId: compare as multisets keyed by (PmtInfId, EndToEndId, status)
        for t in &r.transactions {
            let found = got.iter().any(|s| {
                s.original_payment_info_id.as_deref() == t.original_payment_info_id.as_ref().map(|v| v.as_str())
                    && s.original_end_to_end_id.as_deref() == t.original_end_to_end_id.as_ref().map(|v| v.as_str())
                    && s.status.as_deref() == Some(t.status.code())
            });
            prop_assert!(found, "status of {:?} not read back", t);
        }
    }

    #[test]
    fn mutated_samples_never_panic(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[which.index(seeds.len())].clone();
        for (at, byte, op) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                2 => bytes.insert(i, byte),
                _ => bytes.truncate(i),
            }
        }
        let _ = parse_document(&bytes);
        if let Ok(mut r) = MessageReader::new(&bytes[..]) {
            while r.next_transaction().is_some() {}
        }
    }

    #[test]
    fn hostile_fragments_never_panic(parts in proptest::collection::vec(prop_oneof![
        Just("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\">".to_owned()),
        Just("<FIToFICstmrCdtTrf>".to_owned()),
        Just("<GrpHdr>".to_owned()),
        Just("</GrpHdr>".to_owned()),
        Just("<CdtTrfTxInf>".to_owned()),
        Just("</CdtTrfTxInf>".to_owned()),
        Just("<IntrBkSttlmAmt Ccy=\"EUR\">".to_owned()),
        Just("<!DOCTYPE x [<!ENTITY a \"b\">]>".to_owned()),
        Just("&a;".to_owned()),
        Just("&#x0;".to_owned()),
        Just("<![CDATA[x]]>".to_owned()),
        Just("<p:x xmlns:p=\"u\">".to_owned()),
        Just("</Document>".to_owned()),
        "[ -~]{0,20}",
    ], 0..40)) {
        let s = parts.concat();
        let _ = parse_document(s.as_bytes());
    }
}
