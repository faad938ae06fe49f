//! The status reports we write validate against the official XSD (xmllint) and read back
//! to the same values.

use iso20022::*;
use std::process::Command;

const XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/iso20022/xsd");

fn t35(s: &str) -> Max35Text {
    Max35Text::new(s).expect("valid Max35Text")
}

fn sample_report() -> StatusReport {
    let mut r = StatusReport::new(
        t35("LEDGER-STS-0001"),
        IsoDateTime::parse("2026-04-13T08:10:00.123+02:00").unwrap(),
        t35("P008-20260412-4410"),
        t35("pacs.008.001.08"),
    );
    r.original_creation_date_time = Some(IsoDateTime::parse("2026-04-12T17:00:00Z").unwrap());
    r.group_status = Some(ConfirmationStatus::Rejected(
        ReasonCode::new("FF01").unwrap(),
    ));
    let mut settled = TransactionConfirmation::new(ConfirmationStatus::Settled);
    settled.status_id = Some(t35("STS-1"));
    settled.original_payment_info_id = Some(t35("PMTINF-1"));
    settled.original_instruction_id = Some(t35("INSTR-1"));
    settled.original_end_to_end_id = Some(t35("E2E <&> \"1\""));
    settled.original_transaction_id = Some(t35("TX-1"));
    settled.original_uetr = Some(Uetr::new("d4e5f6a7-b8c9-4123-9efa-234567890123").unwrap());
    let mut rejected = TransactionConfirmation::new(ConfirmationStatus::Rejected(
        ReasonCode::new("AC04").unwrap(),
    ));
    rejected.original_payment_info_id = Some(t35("PMTINF-2"));
    rejected.original_end_to_end_id = Some(t35("E2E-2"));
    rejected.additional_info = Some(Text::new("account closed").unwrap());
    let mut pending = TransactionConfirmation::new(ConfirmationStatus::Pending);
    pending.original_payment_info_id = Some(t35("PMTINF-1"));
    pending.original_end_to_end_id = Some(t35("E2E-3"));
    r.transactions = vec![settled, rejected, pending];
    r
}

/// Runs `xmllint --schema`; fails the test (never skips) when xmllint is missing.
fn xmllint(xsd: &str, xml: &[u8], tag: &str) {
    let dir = std::env::temp_dir().join(format!("iso20022-xmllint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("{tag}.xml"));
    std::fs::write(&file, xml).expect("write temp file");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(format!("{XSD}/{xsd}"))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint is required (Debian package libxml2-utils: apt-get install -y libxml2-utils): {e}")
        });
    assert!(
        out.status.success(),
        "xmllint refused our {tag}:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(xml)
    );
}

#[test]
fn pacs002_we_write_validates_against_the_official_xsd() {
    let mut out = vec![];
    write_pacs002(&sample_report(), &mut out).unwrap();
    xmllint("pacs.002.001.10.xsd", &out, "pacs002");
}

#[test]
fn pain002_we_write_validates_against_the_official_xsd() {
    let mut out = vec![];
    write_pain002(&sample_report(), &mut out).unwrap();
    xmllint("pain.002.001.10.xsd", &out, "pain002");
}

#[test]
fn minimal_pacs002_validates_too() {
    let r = StatusReport::new(
        t35("M"),
        IsoDateTime::parse("2026-01-01T00:00:00").unwrap(),
        t35("O"),
        t35("pacs.008.001.12"),
    );
    let mut out = vec![];
    write_pacs002(&r, &mut out).unwrap();
    xmllint("pacs.002.001.10.xsd", &out, "pacs002-min");
}

#[test]
fn pacs002_we_write_reads_back_to_the_same_statuses() {
    let report = sample_report();
    let mut out = vec![];
    write_pacs002(&report, &mut out).unwrap();
    let m = parse_document(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.kind.id, "pacs.002.001.10");
    assert_eq!(m.group_header.message_id, "LEDGER-STS-0001");
    let Transaction::GroupStatus(g) = &m.transactions[0] else {
        panic!("group status first")
    };
    assert_eq!(g.original_message_id, "P008-20260412-4410");
    assert_eq!(g.group_status.as_deref(), Some("RJCT"));
    assert_eq!(g.reasons[0].code.as_deref(), Some("FF01"));
    let statuses: Vec<&TransactionStatus> = m
        .transactions
        .iter()
        .filter_map(|t| match t {
            Transaction::TransactionStatus(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(statuses.len(), 3);
    assert_eq!(
        statuses[0].original_end_to_end_id.as_deref(),
        Some("E2E <&> \"1\"")
    );
    assert_eq!(statuses[0].original_transaction_id.as_deref(), Some("TX-1"));
    assert_eq!(
        statuses[0].original_uetr.as_ref().map(|u| u.as_str()),
        Some("d4e5f6a7-b8c9-4123-9efa-234567890123")
    );
    assert_eq!(statuses[0].status.as_deref(), Some("ACSC"));
    assert_eq!(statuses[1].status.as_deref(), Some("RJCT"));
    assert_eq!(statuses[1].reasons[0].code.as_deref(), Some("AC04"));
    assert_eq!(
        statuses[1].reasons[0].additional_info,
        vec!["account closed"]
    );
    assert_eq!(statuses[2].status.as_deref(), Some("PDNG"));
    assert_eq!(
        statuses[2].original_message_id.as_deref(),
        Some("P008-20260412-4410")
    );
}

#[test]
fn pain002_groups_transactions_by_original_payment_information() {
    let mut out = vec![];
    write_pain002(&sample_report(), &mut out).unwrap();
    let m = parse_document(&out).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<(String, String)> = m
        .transactions
        .iter()
        .filter_map(|t| match t {
            Transaction::TransactionStatus(s) => Some((
                s.original_payment_info_id.clone().unwrap_or_default(),
                s.original_end_to_end_id.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        ids,
        vec![
            ("PMTINF-1".into(), "E2E <&> \"1\"".into()),
            ("PMTINF-1".into(), "E2E-3".into()),
            ("PMTINF-2".into(), "E2E-2".into()),
        ]
    );
}

#[test]
fn pain002_without_payment_information_id_is_refused() {
    let mut r = sample_report();
    r.transactions[0].original_payment_info_id = None;
    assert!(write_pain002(&r, &mut vec![]).is_err());
}

#[test]
fn reason_codes_must_have_four_uppercase_characters() {
    assert!(ReasonCode::new("AC04").is_ok());
    assert!(ReasonCode::new("ac04").is_err());
    assert!(ReasonCode::new("AC0").is_err());
    assert!(ReasonCode::new("AC045").is_err());
}
