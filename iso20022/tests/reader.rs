//! Reader behaviour: typed values, versions, located errors, streaming, hostile input.

use iso20022::*;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/iso20022/samples");

fn sample(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{SAMPLES}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A pacs.008.001.08 with `txs` inserted as its transactions and the given group header
/// counts.
fn pacs008(nb: &str, ctrl: &str, txs: &[String]) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">
<FIToFICstmrCdtTrf>
<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-04-13T08:10:00Z</CreDtTm><NbOfTxs>{nb}</NbOfTxs>{ctrl}<SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf></GrpHdr>
{}
</FIToFICstmrCdtTrf>
</Document>"#,
        txs.join("\n")
    )
}

fn tx(e2e: &str, amount: &str, ccy: &str, iban: &str) -> String {
    format!(
        r#"<CdtTrfTxInf>
<PmtId><InstrId>I-{e2e}</InstrId><EndToEndId>{e2e}</EndToEndId><TxId>T-{e2e}</TxId><UETR>b94458f8-1f27-40e9-bf74-b07cbb339439</UETR></PmtId>
<IntrBkSttlmAmt Ccy="{ccy}">{amount}</IntrBkSttlmAmt>
<IntrBkSttlmDt>2026-04-13</IntrBkSttlmDt>
<ChrgBr>SLEV</ChrgBr>
<InstgAgt><FinInstnId><BICFI>DEUTDEFF</BICFI></FinInstnId></InstgAgt>
<InstdAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstdAgt>
<Dbtr><Nm>Alice</Nm></Dbtr>
<DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
<DbtrAgt><FinInstnId><BICFI>DEUTDEFF</BICFI></FinInstnId></DbtrAgt>
<CdtrAgt><FinInstnId><BICFI>COBADEFF</BICFI></FinInstnId></CdtrAgt>
<Cdtr><Nm>Bob</Nm></Cdtr>
<CdtrAcct><Id><IBAN>{iban}</IBAN></Id></CdtrAcct>
</CdtTrfTxInf>"#
    )
}

const GOOD_IBAN: &str = "GB82WEST12345698765432";

/// Data-driven: the message is refused and the errors contain each expected
/// `path: rule` fragment.
fn check(input: &str, expected: &[&str]) {
    let errs = match parse_document(input.as_bytes()) {
        Ok(m) => panic!("accepted: {m:?}"),
        Err(e) => e.to_string(),
    };
    for x in expected {
        assert!(errs.contains(x), "expected {x:?} in:\n{errs}");
    }
}

#[test]
fn a_valid_pacs008_yields_typed_business_keys() {
    let m = parse_document(pacs008("1", "", &[tx("E1", "10.50", "EUR", GOOD_IBAN)]).as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.kind.family, MessageFamily::Pacs008);
    assert_eq!(m.kind.version(), 8);
    assert_eq!(m.group_header.number_of_transactions, Some(1));
    let Transaction::CreditTransfer(ct) = &m.transactions[0] else {
        panic!()
    };
    assert_eq!(ct.end_to_end_id, "E1");
    assert_eq!(ct.instruction_id.as_deref(), Some("I-E1"));
    assert_eq!(ct.transaction_id.as_deref(), Some("T-E1"));
    assert_eq!(
        ct.uetr.as_ref().unwrap().as_str(),
        "b94458f8-1f27-40e9-bf74-b07cbb339439"
    );
    let amt = ct.interbank_settlement_amount.unwrap();
    assert_eq!((amt.currency().as_str(), amt.minor_units()), ("EUR", 1050));
    assert_eq!(
        ct.debtor_agent
            .as_ref()
            .unwrap()
            .bic
            .as_ref()
            .unwrap()
            .as_str(),
        "DEUTDEFF"
    );
    assert_eq!(
        ct.instructed_agent
            .as_ref()
            .unwrap()
            .bic
            .as_ref()
            .unwrap()
            .bic8(),
        "COBADEFF"
    );
    match &ct.creditor_account.as_ref().unwrap().id {
        AccountId::Iban(i) => assert_eq!(i.as_str(), GOOD_IBAN),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ct.interbank_settlement_date.unwrap().to_string(),
        "2026-04-13"
    );
}

#[test]
fn pacs008_with_wrong_iban_check_digits_is_refused_at_its_path() {
    let txs = [
        tx("E1", "1", "EUR", GOOD_IBAN),
        tx("E2", "1", "EUR", GOOD_IBAN),
        tx("E3", "1", "EUR", "GB83WEST12345698765432"),
    ];
    check(
        &pacs008("3", "", &txs),
        &["/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[3]/CdtrAcct/Id/IBAN: IBAN mod-97 check digits"],
    );
}

#[test]
fn amounts_are_checked_against_facets_and_currency_minor_units() {
    for (amount, ccy, rule) in [
        ("100.01", "JPY", "JPY allows 0 decimal(s)"),
        ("1.234", "EUR", "EUR allows 2 decimal(s)"),
        ("1.123456", "KWD", "fractionDigits 5"),
        ("1234567890123456789", "EUR", "totalDigits 18"),
        ("-5", "EUR", "minInclusive 0"),
        ("1e3", "EUR", "decimal number"),
        ("10", "XAU", "ISO 4217 active currency code"),
        ("10", "eur", "pattern [A-Z]{3,3}"),
    ] {
        check(
            &pacs008("1", "", &[tx("E1", amount, ccy, GOOD_IBAN)]),
            &[
                "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]/IntrBkSttlmAmt",
                rule,
            ],
        );
    }
}

#[test]
fn nb_of_txs_and_ctrl_sum_must_agree_with_the_transactions() {
    let txs = [
        tx("E1", "1.10", "EUR", GOOD_IBAN),
        tx("E2", "2", "EUR", GOOD_IBAN),
    ];
    check(
        &pacs008("3", "<CtrlSum>4</CtrlSum>", &txs),
        &[
            "/Document/FIToFICstmrCdtTrf/GrpHdr/NbOfTxs: NbOfTxs is 3 but 2 transaction(s) were found",
            "/Document/FIToFICstmrCdtTrf/GrpHdr/CtrlSum: CtrlSum is 4 but the amounts add up to 3.1",
        ],
    );
    assert!(parse_document(pacs008("2", "<CtrlSum>3.10</CtrlSum>", &txs).as_bytes()).is_ok());
}

#[test]
fn group_checks_are_reported_when_the_stream_ends() {
    let txs = [tx("E1", "1", "EUR", GOOD_IBAN)];
    let xml = pacs008("2", "", &txs);
    let mut r = MessageReader::new(xml.as_bytes()).unwrap();
    assert!(r.next_transaction().unwrap().is_ok());
    let last = r.next_transaction().unwrap().unwrap_err();
    assert!(last.to_string().contains("NbOfTxs is 2 but 1"), "{last}");
    assert!(r.next_transaction().is_none());
}

#[test]
fn several_problems_are_all_reported() {
    let txs = [
        tx("E1", "1.001", "EUR", GOOD_IBAN),
        tx("", "1", "EUR", GOOD_IBAN),
        tx("E3", "1", "EUR", "XX00"),
    ];
    check(
        &pacs008("3", "", &txs),
        &[
            "CdtTrfTxInf[1]/IntrBkSttlmAmt",
            "CdtTrfTxInf[2]/PmtId/EndToEndId: Max35Text: minLength 1",
            "CdtTrfTxInf[3]/CdtrAcct/Id/IBAN",
        ],
    );
}

#[test]
fn identifiers_longer_than_35_characters_are_refused() {
    let long = "X".repeat(36);
    check(
        &pacs008("1", "", &[tx(&long, "1", "EUR", GOOD_IBAN)]),
        &["PmtId/EndToEndId: Max35Text: maxLength 35 (length 36)"],
    );
}

#[test]
fn bic_and_uetr_patterns_are_enforced() {
    let bad_bic =
        pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)]).replace("COBADEFFXXX", "COBA1EFF");
    check(
        &bad_bic,
        &["InstdAgt/FinInstnId/BICFI: BICFIDec2014Identifier: pattern"],
    );
    let bad_uetr = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)])
        .replace("b94458f8-1f27-40e9", "B94458F8-1f27-40e9");
    check(&bad_uetr, &["PmtId/UETR: UUIDv4Identifier: pattern"]);
}

#[test]
fn dates_must_be_real_iso_dates() {
    let xml =
        pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)]).replace("2026-04-13<", "2026-02-30<");
    check(&xml, &["CdtTrfTxInf[1]/IntrBkSttlmDt: ISO date"]);
    let xml = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)])
        .replace("2026-04-13T08:10:00Z", "2026-04-13 08:10");
    check(&xml, &["GrpHdr/CreDtTm: ISO date-time"]);
}

#[test]
fn missing_unknown_duplicate_and_misordered_elements_are_refused() {
    let base = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)]);
    check(
        &base.replace("<ChrgBr>SLEV</ChrgBr>", ""),
        &["/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]: required element ChrgBr is missing"],
    );
    check(
        &base.replace("<ChrgBr>SLEV</ChrgBr>", "<ChrgBr>SLEV</ChrgBr><Foo>1</Foo>"),
        &["CdtTrfTxInf[1]/Foo: unexpected element Foo"],
    );
    check(
        &base.replace(
            "<ChrgBr>SLEV</ChrgBr>",
            "<ChrgBr>SLEV</ChrgBr><ChrgBr>SLEV</ChrgBr>",
        ),
        &["ChrgBr occurs more than 1 time(s)"],
    );
    check(
        &base.replace(
            "<IntrBkSttlmDt>2026-04-13</IntrBkSttlmDt>\n<ChrgBr>SLEV</ChrgBr>",
            "<ChrgBr>SLEV</ChrgBr>\n<IntrBkSttlmDt>2026-04-13</IntrBkSttlmDt>",
        ),
        &["IntrBkSttlmDt is out of order"],
    );
    check(
        &base.replace("<ChrgBr>SLEV</ChrgBr>", "<ChrgBr>ALL</ChrgBr>"),
        &["ChrgBr: ChargeBearerType1Code: one of DEBT, CRED, SHAR, SLEV"],
    );
    check(
        &base.replace("<Nm>Alice</Nm>", "<Nm>Alice</Nm>stray text"),
        &["text content not allowed"],
    );
}

#[test]
fn version_is_detected_from_the_namespace_and_unsupported_ones_are_named() {
    let xml = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)])
        .replace("pacs.008.001.08", "pacs.008.001.02");
    check(
        &xml,
        &[
            "found Document in namespace urn:iso:std:iso:20022:tech:xsd:pacs.008.001.02",
            "supported: ",
            "pacs.008.001.12",
        ],
    );
    check(
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"/>"#,
        &["camt.052.001.08"],
    );
}

#[test]
fn version_differences_are_read_in_one_place() {
    // pacs.008.001.07: no UETR, TxId required
    let m = parse_document(&sample(
        "pacs.008/pacs.008.001.08__fednow20022__sample-participant-to-fednow-message.xml",
    ))
    .unwrap();
    assert!(m.header.is_some());
    // pain.001.001.03 uses BIC and a plain ReqdExctnDt; .09 uses BICFI and Dt
    let m3 = parse_document(&sample(
        "pain.001/pain.001.001.03__moov-iso20022__gistfile1.xml",
    ))
    .unwrap();
    let m9 = parse_document(&sample(
        "pain.001/pain.001.001.09__cbpr-ur__pain001_credit_initiation_sample.xml",
    ))
    .unwrap();
    for m in [&m3, &m9] {
        let Transaction::CreditTransfer(ct) = &m.transactions[0] else {
            panic!()
        };
        let pi = ct.payment_info.as_ref().expect("pain.001 carries PmtInf");
        assert!(!pi.payment_info_id.is_empty());
        assert!(pi.requested_execution_date.is_some(), "{}", m.kind.id);
        assert!(
            ct.debtor_agent
                .as_ref()
                .and_then(|a| a.bic.as_ref())
                .is_some(),
            "{}",
            m.kind.id
        );
        assert!(ct.instructed_amount.is_some());
        assert_eq!(ct.debtor_account, pi.debtor_account);
    }
}

#[test]
fn apphdr_is_exposed_and_must_name_the_documents_message() {
    let m = parse_document(&sample(
        "pacs.002/pacs.002.001.10__fednow20022__fednow-sample-message-outgoing-pacs002_ACSC.xml",
    ))
    .unwrap();
    let h = m.header.expect("AppHdr");
    assert_eq!(h.message_definition_id, "pacs.002.001.10");
    assert_eq!(h.version, "head.001.001.02");
    assert!(h.creation_date.is_some());
    assert!(!h.business_message_id.is_empty());
}

#[test]
fn pacs002_exposes_original_references_and_reasons() {
    let m = parse_document(&sample("pacs.002/pacs.002.001.10__fednow20022-pr32__CustomerCreditTransfer_Scenario3_Step4_pacs.002_BankA_RJCT_AC04.xml")).unwrap();
    let s = m
        .transactions
        .iter()
        .find_map(|t| match t {
            Transaction::TransactionStatus(s) => Some(s),
            _ => None,
        })
        .expect("a TxInfAndSts");
    assert_eq!(s.status.as_deref(), Some("RJCT"));
    assert_eq!(s.reasons[0].code.as_deref(), Some("AC04"));
    assert!(s.original_end_to_end_id.is_some());
    assert!(s.original_message_id.is_some());
}

#[test]
fn pacs004_exposes_the_return_and_its_reason() {
    let m = parse_document(&sample(
        "pacs.004/pacs.004.001.10__wire20022__Fedwire_PaymentReturn_Scenario1_Step4.xml",
    ))
    .unwrap();
    let Transaction::PaymentReturn(r) = &m.transactions[0] else {
        panic!()
    };
    assert!(r.returned_interbank_settlement_amount.is_some());
    assert!(r.original_end_to_end_id.is_some() || r.original_uetr.is_some());
    assert!(!r.return_reasons.is_empty());
    assert!(r.original_message_id.is_some());
}

#[test]
fn camt053_yields_statement_then_entries() {
    let m = parse_document(&sample(
        "camt.053/camt.053.001.02__genkgo-camt__camt053.v2.multi.statement.xml",
    ))
    .unwrap();
    let kinds: Vec<&str> = m
        .transactions
        .iter()
        .map(|t| match t {
            Transaction::Statement(_) => "S",
            Transaction::Entry(_) => "E",
            _ => "?",
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"S"));
    let Transaction::Statement(s) = &m.transactions[0] else {
        panic!()
    };
    assert!(s.account.is_some());
    assert!(!s.balances.is_empty());
    let e = m.transactions.iter().find_map(|t| match t {
        Transaction::Entry(e) => Some(e),
        _ => None,
    });
    let e = e.expect("an entry");
    assert_eq!(e.statement_id, s.id);
    assert!(e.amount.is_some() && e.credit_debit.is_some() && e.status.is_some());
}

#[test]
fn camt054_reads_entry_details_references() {
    let m = parse_document(&sample(
        "camt.054/camt.054.001.08__cbpr-ur__camt054_credit_notification_sample.xml",
    ))
    .unwrap();
    let e = m
        .transactions
        .iter()
        .find_map(|t| match t {
            Transaction::Entry(e) => Some(e),
            _ => None,
        })
        .unwrap();
    assert!(!e.details.is_empty());
    assert!(e
        .details
        .iter()
        .any(|d| d.end_to_end_id.is_some() || d.uetr.is_some()));
}

// ------------------------------------------------------------------ hostile input

#[test]
fn doctype_and_entities_are_refused() {
    check(
        r#"<!DOCTYPE Document [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">&b;</Document>"#,
        &["forbidden XML construct: DOCTYPE"],
    );
    check(
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"><FIToFICstmrCdtTrf><GrpHdr><MsgId>&xxe;</MsgId></GrpHdr></FIToFICstmrCdtTrf></Document>"#,
        &["entity reference &xxe;"],
    );
}

#[test]
fn malformed_and_truncated_input_is_an_error_not_a_panic() {
    let full = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)]);
    for cut in [10, 100, full.len() / 2, full.len() - 3] {
        let r = parse_document(&full.as_bytes()[..cut]);
        assert!(r.is_err(), "truncated at {cut}");
    }
    check(&full.replace("</Nm>", "</Name>"), &["malformed XML"]);
    check(
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"><FIToFICstmrCdtTrf><GrpHdr><MsgId>&#x0;</MsgId></GrpHdr></FIToFICstmrCdtTrf></Document>"#,
        &["/Document/FIToFICstmrCdtTrf/GrpHdr/MsgId: malformed XML: character reference"],
    );
    let mut bad_utf8 = full.clone().into_bytes();
    let at = full.find("Alice").unwrap();
    bad_utf8[at] = 0xff;
    assert!(parse_document(&bad_utf8).is_err());
    check(
        &full.replace(r#"encoding="UTF-8""#, r#"encoding="ISO-8859-1""#),
        &["only UTF-8"],
    );
}

#[test]
fn limits_are_enforced_and_named() {
    let deep = format!("<a>{}</a>", "<a>".repeat(MAX_DEPTH + 5));
    assert!(parse_document(deep.as_bytes()).is_err());
    let deep_doc = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)]).replace(
        "<Nm>Alice</Nm>",
        &format!("{}{}", "<Nm>".repeat(MAX_DEPTH), "</Nm>".repeat(MAX_DEPTH)),
    );
    check(&deep_doc, &["MAX_DEPTH"]);
    // a huge token is cut off while streaming, before it is buffered whole
    let long = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)]).replace(
        "<Nm>Alice</Nm>",
        &format!("<Nm>Alice</Nm><!--{}-->", "a".repeat(MAX_TOKEN_BYTES * 2)),
    );
    let input = std::io::BufReader::with_capacity(4096, long.as_bytes());
    let mut r = MessageReader::new(input).unwrap();
    let err = r.next_transaction().unwrap().unwrap_err().to_string();
    assert!(err.contains("limit exceeded: MAX_TOKEN_BYTES"), "{err}");
    let text = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)]).replace(
        "<Nm>Alice</Nm>",
        &format!("<Nm>{}</Nm>", "a&amp;".repeat(MAX_TEXT_LEN / 2 + 1)),
    );
    check(&text, &["MAX_TEXT_LEN"]);
    let attrs: String = (0..MAX_ATTRIBUTES + 1)
        .map(|i| format!(" xmlns:p{i}=\"u{i}\""))
        .collect();
    let many = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)])
        .replace("<GrpHdr>", &format!("<GrpHdr{attrs}>"));
    check(&many, &["MAX_ATTRIBUTES"]);
    // elements per transaction, counted without a tree for credit transfers
    let big = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)]).replace(
        "</CdtTrfTxInf>",
        &format!(
            "<RmtInf>{}</RmtInf></CdtTrfTxInf>",
            "<Ustrd>x</Ustrd>".repeat(MAX_UNIT_ELEMENTS)
        ),
    );
    check(&big, &["CdtTrfTxInf[1]/RmtInf/Ustrd[", "MAX_UNIT_ELEMENTS"]);
}

#[test]
fn error_count_is_capped() {
    let txs: Vec<String> = (0..ERRORS_MAX + 20)
        .map(|i| tx(&format!("E{i}"), "1.001", "EUR", GOOD_IBAN))
        .collect();
    let e = parse_document(pacs008(&txs.len().to_string(), "", &txs).as_bytes()).unwrap_err();
    assert!(e.len() <= ERRORS_MAX + 1, "{}", e.len());
    assert!(e.to_string().contains("more than 100 errors"));
}

#[test]
fn envelopes_and_prefixes_are_resolved_by_namespace_not_prefix() {
    let doc = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)]);
    let body = doc.split_once("?>").unwrap().1;
    let prefixed = body
        .replace("<Document xmlns=", "<p:Document xmlns:p=")
        .replace("</Document>", "</p:Document>");
    // unprefixed children of a prefixed Document are in no namespace: refused
    check(
        &format!("<Wrapper>{prefixed}</Wrapper>"),
        &["unexpected element FIToFICstmrCdtTrf (in no namespace)"],
    );
    let wrapped = format!("<X xmlns='urn:other'><Y>{body}</Y></X>");
    assert!(parse_document(wrapped.as_bytes()).is_ok());
}

#[test]
fn namespace_declarations_are_scoped_and_reserved_prefixes_refused() {
    let doc = pacs008("1", "", &[tx("E1", "1", "EUR", GOOD_IBAN)]);
    let body = doc.split_once("?>").unwrap().1;
    let ns = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08";
    // every element prefixed, the prefix declared on a wrapper
    let all_prefixed = body
        .replace(&format!(" xmlns=\"{ns}\""), "")
        .replace("</", "\u{1}")
        .replace('<', "<p:")
        .replace('\u{1}', "</p:");
    let ok = format!("<W xmlns:p=\"{ns}\">{all_prefixed}</W>");
    let m = parse_document(ok.as_bytes()).unwrap();
    assert_eq!(m.transactions.len(), 1);
    // the same prefix redeclared inside, to another namespace, for one element only
    let inner = ok.replacen("<p:Nm>", "<p:Nm xmlns:p=\"urn:other\">", 1);
    check(&inner, &["unexpected element {urn:other}Nm"]);
    // a declaration ends with its element
    let out_of_scope = format!("<W><V xmlns:p=\"{ns}\"/>{all_prefixed}</W>");
    check(&out_of_scope, &["unbound namespace prefix \"p\""]);
    // the default namespace can be undeclared
    let undeclared = body.replace("<GrpHdr>", "<GrpHdr xmlns=\"\">");
    check(
        &undeclared,
        &["unexpected element GrpHdr (in no namespace)"],
    );
    // reserved prefixes
    let xmlns = body.replace("<GrpHdr>", "<GrpHdr xmlns:xmlns=\"urn:x\">");
    check(&xmlns, &["malformed XML: namespace"]);
    let xml = body.replace("<GrpHdr>", "<GrpHdr xmlns:xml=\"urn:x\">");
    check(&xml, &["malformed XML: namespace"]);
    let xml_ok = body.replace("<GrpHdr>", "<GrpHdr xml:lang=\"en\">");
    assert!(parse_document(xml_ok.as_bytes()).is_ok());
    let unbound_attr = body.replace("<GrpHdr>", "<GrpHdr q:x=\"1\">");
    check(&unbound_attr, &["unbound attribute prefix"]);
    let other_attr = body.replace("<GrpHdr>", "<GrpHdr x=\"1\">");
    check(&other_attr, &["x is not allowed"]);
}

/// pain.001.002.03 (the German DK variant) has no XSD here, so it stays refused with an
/// error that names it (README, "Variants"): a real pain.001.001.03 sample, its namespace
/// changed in memory.
#[test]
fn variants_without_an_xsd_are_refused_by_name() {
    let cases = [(
        "pain.001/pain.001.001.03__sepa_king__pain.001.001.03.xml",
        "pain.001.001.03",
        &["pain.001.002.03"][..],
    )];
    for (file, from, versions) in cases {
        let text = String::from_utf8(sample(file)).unwrap();
        for v in versions {
            let changed = text.replace(&format!("xsd:{from}\""), &format!("xsd:{v}\""));
            assert_ne!(changed, text, "{file}: namespace not found");
            let err = parse_document(changed.as_bytes()).unwrap_err().to_string();
            assert!(
                err.contains(&format!("unsupported message: found Document in namespace urn:iso:std:iso:20022:tech:xsd:{v}")),
                "{v}: {err}"
            );
        }
    }
}
