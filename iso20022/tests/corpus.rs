//! Every real sample parses or is refused for a documented reason; every negative case is
//! refused.

use std::path::{Path, PathBuf};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/iso20022");

/// Samples that are refused on purpose, with the reason that must appear in the error.
/// Each one breaks a rule the reader enforces (README "Refused samples").
const REFUSED_SAMPLES: &[(&str, &str)] = &[
    ("camt.053.001.02__iso20022.js__abn_amro_example_camt.xml", "IBAN mod-97 check digits: \"NL46ABNA0499998748\""),
    ("camt.053.001.02__moov-iso20022__statement_1.xml", "IBAN mod-97 check digits: \"LT007180000000000000\""),
    ("camt.053.001.04__dvbern__camt.053_P_CH0309000000250090342_380000000_0_2016053100163801.xml", "IBAN mod-97 check digits: \"CH4444444444444444444\""),
    ("camt.053.001.12__ballerina__CBPR+_p.2.3.1.a_camt.053-CtoD.xml", "AppHdr/MsgDefIdr is camt.053.001.08 but the Document is camt.053.001.12"),
    ("camt.054.001.04__dvbern__camt.054-ES_P_CH0309000000250090342_38000000_0_2016052723011813.xml", "IBAN mod-97 check digits: \"CH1111111111111111111\""),
    ("camt.054.001.10__camt-to-coda__LT809872649478701594_2024-11-12.xml", "required element BkTxCd is missing"),
    ("camt.054.001.12__ballerina__CBPR+_c.54.3.1_camt.054-BtoA.xml", "AppHdr/MsgDefIdr is camt.054.001.08 but the Document is camt.054.001.12"),
    ("head.001.001.01__prowide__mx_sample_bah.xml", "the file holds only an AppHdr"),
    ("pacs.002.001.08__prowide__samplemsg.002.001.08-SplmtryData_with_namespace.xml", "/AppHdr/Rltd: required element To is missing"),
    ("pacs.004.001.13__ballerina__CBPR+_p.2.1.2_pacs.004-BtoA.xml", "AppHdr/MsgDefIdr is pacs.004.001.09 but the Document is pacs.004.001.13"),
    ("pacs.008.001.07__prowide__pacs.008.001.07_with_BAH.xml", "GrpHdr/CtrlSum: CtrlSum is 10000 but the amounts add up to 5000"),
    ("pacs.008.001.12__ballerina__CBPR+_p.2.1.1_pacs.008-AtoB.xml", "AppHdr/MsgDefIdr is pacs.008.001.08 but the Document is pacs.008.001.12"),
    ("pain.001.001.03.ch.02__moov-iso20022__musterfile_pain.001_Nov2020.xml", "GrpHdr/NbOfTxs: NbOfTxs is 7 but 8 transaction(s) were found"),
    ("pain.001.001.03__iso20022.js__cross_river_pain_001_rtp_credit.xml", "BICOrBEI: AnyBICIdentifier: pattern"),
    ("pain.001.001.03__iso20022.js__sepa_pain_001_v3_multiple_pmtinf.xml", "IBAN mod-97 check digits: \"ES9121000418450200051333\""),
    ("pain.001.001.03__moov-iso20022__sepa_payment_naujas_1.xml", "IBAN mod-97 check digits: \"LT007180000000000000\""),
];

/// The reason each negative case must be refused for (a substring of the errors).
const INVALID_REASONS: &[(&str, &str)] = &[
    ("camt.053.001.02__genkgo-camt__camt053.v2.wrong.xml", "/Document/BkToCstmrStmt: required element Stmt is missing"),
    ("camt.054.001.08__cbpr-ur__camt_054_2025_invalid.xml", "AppHdr/MsgDefIdr is camt.054.001.99"),
    ("camt.054__dvbern__camt_054_Beispiel_NotificationMissing.xml", "found Document in no namespace"),
    ("head.001.001.02__fednow20022__head_001.xml", "/AppHdr/Fr: choice needs exactly one of OrgId | FIId"),
    ("head.001.001.02__prowide__header-with-signature.xml", "/AppHdr/Sgntr/SignatureEnvelope: unexpected element"),
    ("pacs.002.001.08__prowide__samplemsg.002.001.08-invalidElement.xml", "TxInfAndSts[1]/InstrForCdtrAcct: unexpected element"),
    ("pacs.002.001.10__cbpr-ur__pacs002_status_report_sample__violates_pacs.002-R5_msgdefidr_mismatch.xml", "AppHdr/MsgDefIdr is WRONG.000.00"),
    ("pacs.002.001.10__cbpr-ur__pacs_002_2025_invalid.xml", "BICFI: BICFIDec2014Identifier: pattern"),
    ("pacs.004.001.09__cbpr-ur__pacs_004_2025_invalid.xml", "OrgnlIntrBkSttlmAmt: ISO 4217 active currency code: \"XAU\""),
    ("pacs.008.001.08__aws-guidance__data_pacs.008.xml", "found AppHdr in no namespace"),
    ("pacs.008.001.08__cbpr-ur__CBPR2025.PACS008-MinMax-0023_diff_wrapper_missing_bic_xsd_issue.xml", "DbtrAgt/FinInstnId/BICFI"),
    ("pacs.008.001.08__cbpr-ur__cbprplus_pacs008_sample_xsd_issue.xml", "element CdtrAgt occurs more than 1 time(s)"),
    ("pacs.008.001.08__rust_iso20022__invalid_pacs.008.001.08-cross-field.xml", "IntrBkSttlmAmt: JPY allows 0 decimal(s)"),
    ("pain.001.001.09__cbpr-ur__pain001_credit_initiation_sample__violates_pain.001-R3_msgdefidr_mismatch.xml", "AppHdr/MsgDefIdr is WRONG.000.00 but the Document is pain.001.001.09"),
    ("pain.002.001.11__moov-iso20022__invalid_pain_v11.xml", "found Document in no namespace"),
    ("xmlsec__rust_iso20022__dtd.xml", "forbidden XML construct: DOCTYPE"),
    ("xmlsec__rust_iso20022__entity-expansion.xml", "forbidden XML construct: DOCTYPE"),
    ("xmlsec__rust_iso20022__invalid-unicode.xml", "Document"),
    ("xmlsec__rust_iso20022__malformed.xml", "Document"),
    ("xmlsec__rust_iso20022__unbound-namespace.xml", "unbound namespace prefix \"p\""),
];

fn files(dir: &str) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut todo = vec![Path::new(SHARED).join(dir)];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no files under {dir}");
    out
}

fn name(p: &Path) -> &str {
    p.file_name()
        .and_then(|n| n.to_str())
        .expect("utf-8 file name")
}

#[test]
fn every_sample_parses_or_is_refused_for_its_documented_reason() {
    let mut failures = vec![];
    for p in files("samples") {
        let bytes = std::fs::read(&p).expect("readable sample");
        let n = name(&p);
        let result = iso20022::parse_document(&bytes);
        match (REFUSED_SAMPLES.iter().find(|(f, _)| *f == n), result) {
            (None, Ok(m)) => {
                // the version detected is the one in the file name
                let declared = n.split("__").next().expect("prefix");
                if m.kind.id != declared {
                    failures.push(format!("{n}: detected {}", m.kind.id));
                }
                if m.group_header.message_id.is_empty() {
                    failures.push(format!("{n}: no MsgId"));
                }
            }
            (None, Err(e)) => failures.push(format!("{n}: refused:\n{e}")),
            (Some((_, reason)), Ok(_)) => {
                failures.push(format!("{n}: parsed, expected refusal ({reason})"))
            }
            (Some((_, reason)), Err(e)) => {
                if !e.to_string().contains(reason) {
                    failures.push(format!("{n}: refused, but not for {reason:?}:\n{e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_negative_case_is_refused_for_its_reason() {
    let mut failures = vec![];
    for p in files("invalid") {
        let bytes = std::fs::read(&p).expect("readable file");
        let n = name(&p);
        let reason = INVALID_REASONS
            .iter()
            .find(|(f, _)| *f == n)
            .map(|(_, r)| *r)
            .unwrap_or_else(|| panic!("{n}: new negative case: add its reason to INVALID_REASONS"));
        match iso20022::parse_document(&bytes) {
            Ok(_) => failures.push(format!("{n}: accepted")),
            Err(e) if !e.to_string().contains(reason) => {
                failures.push(format!("{n}: refused, but not for {reason:?}:\n{e}"))
            }
            Err(_) => {}
        }
        // the streaming reader refuses it too
        let streamed = iso20022::MessageReader::new(&bytes[..]).map(|mut r| {
            let mut ok = true;
            while let Some(item) = r.next_transaction() {
                ok &= item.is_ok();
            }
            ok
        });
        if matches!(streamed, Ok(true)) {
            failures.push(format!("{n}: accepted by the streaming reader"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_sample_streams_to_the_same_transactions_as_parse_document() {
    for p in files("samples") {
        let bytes = std::fs::read(&p).expect("readable sample");
        let Ok(whole) = iso20022::parse_document(&bytes) else {
            continue;
        };
        let mut r = iso20022::MessageReader::new(std::io::BufReader::with_capacity(64, &bytes[..]))
            .unwrap_or_else(|e| panic!("{}: {e}", name(&p)));
        assert_eq!(r.kind(), whole.kind);
        assert_eq!(r.header(), whole.header.as_ref());
        assert_eq!(r.group_header(), &whole.group_header);
        let mut txs = vec![];
        while let Some(t) = r.next_transaction() {
            txs.push(t.unwrap_or_else(|e| panic!("{}: {e}", name(&p))));
        }
        assert_eq!(txs, whole.transactions, "{}", name(&p));
    }
}
