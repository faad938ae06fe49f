//! Every version read since its official XSD was added: for each, a small document that
//! xmllint accepts against that XSD is read to the expected typed values, and a near miss
//! (an element this version lacks, taken from a neighbouring version) is refused by
//! xmllint and by the reader, at its path.

use iso20022::*;
use std::process::Command;

const XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/iso20022/xsd");

const UETR: &str = "b94458f8-1f27-40e9-bf74-b07cbb339439";
const DEBTOR_IBAN: &str = "DE89370400440532013000";
const CREDITOR_IBAN: &str = "GB82WEST12345698765432";

/// Whether `xmllint --schema` accepts `xml` against the official XSD of `id`. Fails the
/// test (never skips) when xmllint is missing.
fn xsd_accepts(id: &str, xml: &str, tag: &str) -> bool {
    let dir = std::env::temp_dir().join(format!("iso20022-versions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("{id}-{tag}.xml"));
    std::fs::write(&file, xml).expect("write temp file");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(format!("{XSD}/{id}.xsd"))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint is required (Debian package libxml2-utils: apt-get install -y libxml2-utils): {e}")
        });
    out.status.success()
}

/// The valid document is accepted by its XSD and read; the near miss is refused by both,
/// the reader naming `path` and `rule`.
fn read_valid_and_refuse_near_miss(
    id: &str,
    valid: &str,
    near_miss: &str,
    path: &str,
    rule: &str,
) -> Message {
    assert!(
        xsd_accepts(id, valid, "valid"),
        "xmllint refused {id}:\n{valid}"
    );
    let message = parse_document(valid.as_bytes()).unwrap_or_else(|e| panic!("{id}: {e}"));
    assert_eq!(message.kind.id, id);
    assert!(
        !xsd_accepts(id, near_miss, "near-miss"),
        "xmllint accepted the {id} near miss:\n{near_miss}"
    );
    let err = parse_document(near_miss.as_bytes())
        .expect_err(id)
        .to_string();
    assert!(
        err.contains(&format!("{path}: {rule}")),
        "{id}: expected {path}: {rule} in\n{err}"
    );
    message
}

fn document(id: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{id}">{body}</Document>"#
    )
}

fn agent(tag: &str, bic_element: &str, bic: &str) -> String {
    format!("<{tag}><FinInstnId><{bic_element}>{bic}</{bic_element}></FinInstnId></{tag}>")
}

fn iban_account(tag: &str, iban: &str) -> String {
    format!("<{tag}><Id><IBAN>{iban}</IBAN></Id></{tag}>")
}

fn only<T>(items: impl IntoIterator<Item = T>) -> T {
    let mut it = items.into_iter();
    let first = it.next().expect("one item");
    assert!(it.next().is_none(), "more than one item");
    first
}

fn credit_transfer(m: &Message) -> &CreditTransfer {
    only(m.transactions.iter().filter_map(|t| match t {
        Transaction::CreditTransfer(ct) => Some(ct),
        _ => None,
    }))
}

fn bic(a: &Option<Agent>) -> Option<&str> {
    a.as_ref()?.bic.as_ref().map(|b| b.as_str())
}

fn iban(a: &Option<Account>) -> Option<&str> {
    match &a.as_ref()?.id {
        AccountId::Iban(i) => Some(i.as_str()),
        AccountId::Other(_) => None,
    }
}

// ------------------------------------------------------------------ pacs.008

/// A pacs.008 with one transfer; `debtor_other_id` is the debtor's `OrgId/Othr/Id`.
fn pacs008(id: &str, debtor_other_id: &str) -> String {
    document(
        id,
        &format!(
            "<FIToFICstmrCdtTrf><GrpHdr><MsgId>P8-MSG</MsgId><CreDtTm>2026-04-13T08:10:00Z</CreDtTm>\
             <NbOfTxs>1</NbOfTxs><SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf></GrpHdr>\
             <CdtTrfTxInf><PmtId><InstrId>P8-INSTR</InstrId><EndToEndId>P8-E2E</EndToEndId><UETR>{UETR}</UETR></PmtId>\
             <IntrBkSttlmAmt Ccy=\"EUR\">123.45</IntrBkSttlmAmt><IntrBkSttlmDt>2026-04-13</IntrBkSttlmDt><ChrgBr>SLEV</ChrgBr>\
             <Dbtr><Nm>Alice</Nm><Id><OrgId><Othr><Id>{debtor_other_id}</Id></Othr></OrgId></Id></Dbtr>{}{}{}<Cdtr><Nm>Bob</Nm></Cdtr>{}\
             </CdtTrfTxInf></FIToFICstmrCdtTrf>",
            iban_account("DbtrAcct", DEBTOR_IBAN),
            agent("DbtrAgt", "BICFI", "DEUTDEFF"),
            agent("CdtrAgt", "BICFI", "COBADEFFXXX"),
            iban_account("CdtrAcct", CREDITOR_IBAN),
        ),
    )
}

#[test]
fn pacs008_001_11_is_read_and_its_max35_other_id_is_enforced() {
    let id = "pacs.008.001.11";
    // `Othr/Id` is Max35Text up to .11 and Max256Text from .12
    let m = read_valid_and_refuse_near_miss(
        id,
        &pacs008(id, "ORG-1"),
        &pacs008(id, &"X".repeat(36)),
        "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]/Dbtr/Id/OrgId/Othr[1]/Id",
        "Max35Text: maxLength 35 (length 36)",
    );
    assert_eq!(m.group_header.message_id, "P8-MSG");
    let ct = credit_transfer(&m);
    assert_eq!(ct.end_to_end_id, "P8-E2E");
    assert_eq!(ct.instruction_id.as_deref(), Some("P8-INSTR"));
    assert_eq!(ct.uetr.as_ref().map(|u| u.as_str()), Some(UETR));
    assert_eq!(ct.amount().unwrap().to_string(), "EUR 123.45");
    assert_eq!(bic(&ct.debtor_agent), Some("DEUTDEFF"));
    assert_eq!(bic(&ct.creditor_agent), Some("COBADEFFXXX"));
    assert_eq!(iban(&ct.debtor_account), Some(DEBTOR_IBAN));
    assert_eq!(iban(&ct.creditor_account), Some(CREDITOR_IBAN));
    assert_eq!(
        ct.debtor.as_ref().unwrap().other_id.as_deref(),
        Some("ORG-1")
    );
}

// ------------------------------------------------------------------ pain.001

/// A pain.001 with one payment information block and one transfer; the debtor agent's BIC
/// is given in `bic_element` (`BICFI` from .04, `BIC` in .03).
fn pain001(id: &str, bic_element: &str) -> String {
    document(
        id,
        &format!(
            "<CstmrCdtTrfInitn><GrpHdr><MsgId>P1-MSG</MsgId><CreDtTm>2026-04-13T08:10:00</CreDtTm>\
             <NbOfTxs>1</NbOfTxs><CtrlSum>250.00</CtrlSum><InitgPty><Nm>Alice AG</Nm></InitgPty></GrpHdr>\
             <PmtInf><PmtInfId>P1-PMTINF</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>1</NbOfTxs>\
             <ReqdExctnDt>2026-04-14</ReqdExctnDt>\
             <Dbtr><Nm>Alice AG</Nm><Id><OrgId><AnyBIC>ALICDEFF</AnyBIC></OrgId></Id></Dbtr>{}{}\
             <CdtTrfTxInf><PmtId><EndToEndId>P1-E2E</EndToEndId></PmtId>\
             <Amt><InstdAmt Ccy=\"EUR\">250.00</InstdAmt></Amt>{}<Cdtr><Nm>Bob</Nm></Cdtr>{}\
             <RmtInf><Ustrd>invoice 42</Ustrd></RmtInf></CdtTrfTxInf></PmtInf></CstmrCdtTrfInitn>",
            iban_account("DbtrAcct", DEBTOR_IBAN),
            agent("DbtrAgt", bic_element, "DEUTDEFF"),
            agent("CdtrAgt", "BICFI", "COBADEFF"),
            iban_account("CdtrAcct", CREDITOR_IBAN),
        ),
    )
}

#[test]
fn pain001_001_04_to_07_are_read_with_bicfi_anybic_and_a_plain_execution_date() {
    for id in [
        "pain.001.001.04",
        "pain.001.001.05",
        "pain.001.001.06",
        "pain.001.001.07",
    ] {
        // pain.001.001.03's `BIC` is `BICFI` from .04
        let m = read_valid_and_refuse_near_miss(
            id,
            &pain001(id, "BICFI"),
            &pain001(id, "BIC"),
            "/Document/CstmrCdtTrfInitn/PmtInf[1]/DbtrAgt/FinInstnId/BIC",
            "unexpected element",
        );
        let ct = credit_transfer(&m);
        let pi = ct.payment_info.as_ref().expect("PmtInf");
        assert_eq!(pi.payment_info_id, "P1-PMTINF");
        assert_eq!(
            pi.requested_execution_date
                .map(|d| d.to_string())
                .as_deref(),
            Some("2026-04-14"),
            "{id}"
        );
        assert_eq!(ct.end_to_end_id, "P1-E2E");
        assert_eq!(ct.amount().unwrap().to_string(), "EUR 250");
        assert_eq!(bic(&ct.debtor_agent), Some("DEUTDEFF"), "{id}");
        assert_eq!(bic(&ct.creditor_agent), Some("COBADEFF"));
        let debtor = ct.debtor.as_ref().unwrap();
        assert_eq!(debtor.bic.as_ref().map(|b| b.as_str()), Some("ALICDEFF"));
        assert_eq!(iban(&ct.debtor_account), Some(DEBTOR_IBAN));
        assert_eq!(iban(&ct.creditor_account), Some(CREDITOR_IBAN));
        assert_eq!(ct.remittance_unstructured, ["invoice 42"]);
        assert!(ct.uetr.is_none());
    }
}

// ------------------------------------------------------------------ pacs.002

/// A pacs.002 rejecting one transaction; `uetr` adds `OrgnlUETR`, `extra_agent_address`
/// a postal address element inside the instructing agent.
fn pacs002(id: &str, uetr: bool, extra_agent_address: &str) -> String {
    let uetr = if uetr {
        format!("<OrgnlUETR>{UETR}</OrgnlUETR>")
    } else {
        String::new()
    };
    document(
        id,
        &format!(
            "<FIToFIPmtStsRpt><GrpHdr><MsgId>P2-MSG</MsgId><CreDtTm>2026-04-13T08:10:00Z</CreDtTm>\
             <InstgAgt><FinInstnId><BICFI>COBADEFF</BICFI>{extra_agent_address}</FinInstnId></InstgAgt></GrpHdr>\
             <OrgnlGrpInfAndSts><OrgnlMsgId>P8-MSG</OrgnlMsgId><OrgnlMsgNmId>pacs.008.001.08</OrgnlMsgNmId></OrgnlGrpInfAndSts>\
             <TxInfAndSts><StsId>P2-STS</StsId><OrgnlEndToEndId>P8-E2E</OrgnlEndToEndId>{uetr}<TxSts>RJCT</TxSts>\
             <StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf></TxInfAndSts></FIToFIPmtStsRpt>"
        ),
    )
}

fn transaction_status(m: &Message) -> &TransactionStatus {
    only(m.transactions.iter().filter_map(|t| match t {
        Transaction::TransactionStatus(s) => Some(s),
        _ => None,
    }))
}

#[test]
fn pacs002_001_09_is_read_and_has_no_original_uetr() {
    let id = "pacs.002.001.09";
    let m = read_valid_and_refuse_near_miss(
        id,
        &pacs002(id, false, ""),
        &pacs002(id, true, ""),
        "/Document/FIToFIPmtStsRpt/TxInfAndSts[1]/OrgnlUETR",
        "unexpected element",
    );
    let s = transaction_status(&m);
    assert_eq!(s.status.as_deref(), Some("RJCT"));
    assert_eq!(s.reasons[0].code.as_deref(), Some("AC04"));
    assert_eq!(s.original_end_to_end_id.as_deref(), Some("P8-E2E"));
    assert_eq!(s.original_message_id.as_deref(), Some("P8-MSG"));
    assert!(s.original_uetr.is_none());
    assert_eq!(bic(&m.group_header.instructing_agent), Some("COBADEFF"));
}

#[test]
fn pacs002_001_13_is_read_with_its_original_uetr_and_without_care_of() {
    let id = "pacs.002.001.13";
    // `PstlAdr/CareOf` comes with .14
    let m = read_valid_and_refuse_near_miss(
        id,
        &pacs002(id, true, ""),
        &pacs002(id, true, "<PstlAdr><CareOf>Desk 4</CareOf></PstlAdr>"),
        "/Document/FIToFIPmtStsRpt/GrpHdr/InstgAgt/FinInstnId/PstlAdr/CareOf",
        "unexpected element",
    );
    let s = transaction_status(&m);
    assert_eq!(s.original_uetr.as_ref().map(|u| u.as_str()), Some(UETR));
    assert_eq!(s.status.as_deref(), Some("RJCT"));
    assert_eq!(s.original_end_to_end_id.as_deref(), Some("P8-E2E"));
}

// ------------------------------------------------------------------ pacs.004

/// A pacs.004 returning one transfer; `charges` is inserted as `TxInf/ChrgsInf`,
/// `agent_address` inside the instructing agent's `FinInstnId`.
fn pacs004(id: &str, charges: &str, agent_address: &str) -> String {
    document(
        id,
        &format!(
            "<PmtRtr><GrpHdr><MsgId>P4-MSG</MsgId><CreDtTm>2026-04-14T08:10:00Z</CreDtTm><NbOfTxs>1</NbOfTxs>\
             <SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf></GrpHdr>\
             <TxInf><RtrId>P4-RTR</RtrId><OrgnlGrpInf><OrgnlMsgId>P8-MSG</OrgnlMsgId><OrgnlMsgNmId>pacs.008.001.08</OrgnlMsgNmId></OrgnlGrpInf>\
             <OrgnlEndToEndId>P8-E2E</OrgnlEndToEndId><OrgnlUETR>{UETR}</OrgnlUETR>\
             <OrgnlIntrBkSttlmAmt Ccy=\"EUR\">123.45</OrgnlIntrBkSttlmAmt>\
             <RtrdIntrBkSttlmAmt Ccy=\"EUR\">120.00</RtrdIntrBkSttlmAmt><IntrBkSttlmDt>2026-04-14</IntrBkSttlmDt>\
             <ChrgBr>CRED</ChrgBr>{charges}\
             <InstgAgt><FinInstnId><BICFI>COBADEFF</BICFI>{agent_address}</FinInstnId></InstgAgt>\
             <RtrRsnInf><Rsn><Cd>AC04</Cd></Rsn></RtrRsnInf></TxInf></PmtRtr>"
        ),
    )
}

fn payment_return(m: &Message) -> &PaymentReturn {
    only(m.transactions.iter().filter_map(|t| match t {
        Transaction::PaymentReturn(r) => Some(r),
        _ => None,
    }))
}

#[test]
fn pacs004_001_11_and_12_are_read_with_the_returned_amount() {
    let charges_with_type = "<ChrgsInf><Amt Ccy=\"EUR\">3.45</Amt><Agt><FinInstnId><BICFI>COBADEFF</BICFI></FinInstnId></Agt>\
                             <Tp><Cd>COMM</Cd></Tp></ChrgsInf>";
    let cases = [
        // `ChrgsInf/Tp` comes with .12
        (
            "pacs.004.001.11",
            (charges_with_type, ""),
            "/Document/PmtRtr/TxInf[1]/ChrgsInf[1]/Tp",
        ),
        // `PstlAdr/CareOf` comes with .13
        (
            "pacs.004.001.12",
            ("", "<PstlAdr><CareOf>Desk 4</CareOf></PstlAdr>"),
            "/Document/PmtRtr/TxInf[1]/InstgAgt/FinInstnId/PstlAdr/CareOf",
        ),
    ];
    for (id, (charges, address), path) in cases {
        let m = read_valid_and_refuse_near_miss(
            id,
            &pacs004(id, "", ""),
            &pacs004(id, charges, address),
            path,
            "unexpected element",
        );
        assert_eq!(m.group_header.message_id, "P4-MSG");
        let r = payment_return(&m);
        assert_eq!(r.return_id.as_deref(), Some("P4-RTR"));
        assert_eq!(
            r.returned_interbank_settlement_amount.unwrap().to_string(),
            "EUR 120"
        );
        assert_eq!(
            r.original_interbank_settlement_amount.unwrap().to_string(),
            "EUR 123.45"
        );
        assert_eq!(r.original_uetr.as_ref().map(|u| u.as_str()), Some(UETR));
        assert_eq!(r.original_end_to_end_id.as_deref(), Some("P8-E2E"));
        assert_eq!(r.original_message_id.as_deref(), Some("P8-MSG"));
        assert_eq!(r.return_reasons[0].code.as_deref(), Some("AC04"));
        assert_eq!(bic(&r.instructing_agent), Some("COBADEFF"));
    }
}

// ------------------------------------------------------------------ camt.053 / camt.054

/// How an entry's status and references are written in a camt version.
#[derive(Clone, Copy)]
struct CamtShape {
    /// `<Sts>BOOK</Sts>` up to .06, `<Sts><Cd>BOOK</Cd></Sts>` from .07.
    status_code: bool,
    /// `Refs/UETR` from .08.
    uetr: bool,
}

fn camt_shape(id: &str) -> CamtShape {
    let version: u32 = id[13..].parse().unwrap();
    CamtShape {
        status_code: version >= 7,
        uetr: version >= 8,
    }
}

/// A camt.053 statement (`Stmt`, with a balance) or camt.054 notification (`Ntfctn`) with
/// one booked credit entry; `owner_address` goes inside the account owner.
fn camt(id: &str, shape: CamtShape, owner_address: &str) -> String {
    let statement = id.starts_with("camt.053");
    let (message, unit) = if statement {
        ("BkToCstmrStmt", "Stmt")
    } else {
        ("BkToCstmrDbtCdtNtfctn", "Ntfctn")
    };
    let balance = if statement {
        "<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">1000.00</Amt>\
         <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-04-13</Dt></Dt></Bal>"
    } else {
        ""
    };
    let status = if shape.status_code {
        "<Sts><Cd>BOOK</Cd></Sts>"
    } else {
        "<Sts>BOOK</Sts>"
    };
    let uetr = if shape.uetr {
        format!("<UETR>{UETR}</UETR>")
    } else {
        String::new()
    };
    document(
        id,
        &format!(
            "<{message}><GrpHdr><MsgId>CA-MSG</MsgId><CreDtTm>2026-04-13T18:00:00Z</CreDtTm></GrpHdr>\
             <{unit}><Id>CA-STMT</Id><CreDtTm>2026-04-13T18:00:00Z</CreDtTm>\
             <Acct><Id><IBAN>{DEBTOR_IBAN}</IBAN></Id><Ownr><Nm>Alice AG</Nm>{owner_address}</Ownr>\
             <Svcr><FinInstnId><BICFI>DEUTDEFF</BICFI></FinInstnId></Svcr></Acct>{balance}\
             <Ntry><NtryRef>CA-NTRY</NtryRef><Amt Ccy=\"EUR\">250.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>{status}\
             <BookgDt><Dt>2026-04-13</Dt></BookgDt><ValDt><Dt>2026-04-13</Dt></ValDt><AcctSvcrRef>CA-REF</AcctSvcrRef>\
             <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>\
             <NtryDtls><TxDtls><Refs><EndToEndId>P1-E2E</EndToEndId>{uetr}</Refs>\
             <Amt Ccy=\"EUR\">250.00</Amt><CdtDbtInd>CRDT</CdtDbtInd></TxDtls></NtryDtls></Ntry>\
             </{unit}></{message}>"
        ),
    )
}

fn check_camt(id: &str, m: &Message, shape: CamtShape) {
    let Transaction::Statement(s) = &m.transactions[0] else {
        panic!("{id}: a statement first")
    };
    assert_eq!(s.id, "CA-STMT");
    assert_eq!(iban(&s.account), Some(DEBTOR_IBAN));
    assert_eq!(
        s.account_servicer
            .as_ref()
            .and_then(|a| a.bic.as_ref())
            .map(|b| b.as_str()),
        Some("DEUTDEFF")
    );
    if id.starts_with("camt.053") {
        assert_eq!(s.balances[0].type_code, "CLBD");
        assert_eq!(s.balances[0].amount.unwrap().to_string(), "EUR 1000");
    }
    let Transaction::Entry(e) = &m.transactions[1] else {
        panic!("{id}: an entry second")
    };
    assert_eq!(m.transactions.len(), 2);
    assert_eq!(e.statement_id, "CA-STMT");
    assert_eq!(e.entry_reference.as_deref(), Some("CA-NTRY"));
    assert_eq!(e.amount.unwrap().to_string(), "EUR 250");
    assert_eq!(e.credit_debit, Some(CreditDebit::Credit));
    assert_eq!(e.status.as_deref(), Some("BOOK"), "{id}");
    assert_eq!(e.bank_transaction_code.as_deref(), Some("PMNT/RCDT/ESCT"));
    let d = only(&e.details);
    assert_eq!(d.end_to_end_id.as_deref(), Some("P1-E2E"));
    assert_eq!(
        d.uetr.as_ref().map(|u| u.as_str()),
        shape.uetr.then_some(UETR),
        "{id}"
    );
}

/// The path of a camt.053 statement or a camt.054 notification.
fn camt_unit(id: &str) -> &'static str {
    if id.starts_with("camt.053") {
        "BkToCstmrStmt/Stmt"
    } else {
        "BkToCstmrDbtCdtNtfctn/Ntfctn"
    }
}

#[test]
fn camt_versions_with_status_as_text_refuse_the_coded_form() {
    for id in [
        "camt.053.001.05",
        "camt.053.001.06",
        "camt.054.001.03",
        "camt.054.001.05",
        "camt.054.001.06",
    ] {
        let shape = camt_shape(id);
        let unit = camt_unit(id);
        // `<Sts><Cd>` comes with .07
        let m = read_valid_and_refuse_near_miss(
            id,
            &camt(id, shape, ""),
            &camt(
                id,
                CamtShape {
                    status_code: true,
                    ..shape
                },
                "",
            ),
            &format!("/Document/{unit}[1]/Ntry[1]/Sts/Cd"),
            "unexpected element Cd (inside a simple value)",
        );
        check_camt(id, &m, shape);
    }
}

#[test]
fn camt054_001_07_reads_the_coded_status_and_refuses_a_uetr() {
    let id = "camt.054.001.07";
    let shape = camt_shape(id);
    // `Refs/UETR` comes with .08
    let m = read_valid_and_refuse_near_miss(
        id,
        &camt(id, shape, ""),
        &camt(
            id,
            CamtShape {
                uetr: true,
                ..shape
            },
            "",
        ),
        "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]/Refs/UETR",
        "unexpected element",
    );
    check_camt(id, &m, shape);
}

#[test]
fn camt_versions_before_12_read_the_uetr_and_refuse_care_of() {
    for id in [
        "camt.053.001.09",
        "camt.053.001.10",
        "camt.053.001.11",
        "camt.054.001.09",
        "camt.054.001.11",
    ] {
        let shape = camt_shape(id);
        let unit = camt_unit(id);
        // `PstlAdr/CareOf` comes with .12
        let m = read_valid_and_refuse_near_miss(
            id,
            &camt(id, shape, ""),
            &camt(id, shape, "<PstlAdr><CareOf>Desk 4</CareOf></PstlAdr>"),
            &format!("/Document/{unit}[1]/Acct/Ownr/PstlAdr/CareOf"),
            "unexpected element",
        );
        check_camt(id, &m, shape);
    }
}
