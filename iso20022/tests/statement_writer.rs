//! The camt.053.001.08 statements we write validate against the official XSD
//! (xmllint) and read back to the same values.

use iso20022::*;
use std::process::Command;

const XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/iso20022/xsd");

fn t35(s: &str) -> Max35Text {
    Max35Text::new(s).expect("valid Max35Text")
}

fn eur(value: &str) -> Amount {
    Amount::parse("EUR", value).unwrap()
}

fn date(text: &str) -> IsoDate {
    IsoDate::parse(text).unwrap()
}

fn balance(value: &str, credit_debit: CreditDebit, day: &str) -> StatementBalance {
    StatementBalance {
        amount: eur(value),
        credit_debit,
        date: date(day),
    }
}

fn head(account: StatementAccountId) -> StatementHead {
    let mut head = StatementHead::new(
        t35("LDGRS-1"),
        IsoDateTime::parse("2026-04-14T06:00:00.123456Z").unwrap(),
        t35("7-20260412-20260413"),
        account,
        CurrencyCode::new("EUR").unwrap(),
        balance("100", CreditDebit::Credit, "2026-04-12"),
        balance("5.5", CreditDebit::Debit, "2026-04-13"),
    );
    head.period = Some((
        IsoDateTime::parse("2026-04-12T00:00:00Z").unwrap(),
        IsoDateTime::parse("2026-04-13T23:59:59.999999Z").unwrap(),
    ));
    head
}

fn code(text: &str) -> Text<4> {
    Text::new(text).unwrap()
}

fn entries() -> Vec<StatementEntry> {
    let mut debit = StatementEntry::new(
        eur("105.50"),
        CreditDebit::Debit,
        date("2026-04-12"),
        date("2026-04-12"),
        BankTransactionCode {
            domain: Some((code("PMNT"), code("ICDT"), code("DMCT"))),
            proprietary: Some((t35("POSTED"), Some(t35("LEDGER")))),
        },
    );
    debit.entry_reference = Some(t35("LDGRT00000000000000000001"));
    debit.account_servicer_reference = Some(t35("LDGRT00000000000000000001"));
    debit.references = EntryTransactionReferences {
        message_id: Some(t35("P001 <&> \"1\"")),
        account_servicer_reference: Some(t35("LDGRT00000000000000000001")),
        instruction_id: Some(t35("INSTR-1")),
        end_to_end_id: Some(t35("E2E-1")),
        uetr: Some(Uetr::new("d4e5f6a7-b8c9-4123-9efa-234567890123").unwrap()),
        transaction_id: None,
    };
    debit.additional_info = Some(Text::new("payment 1 POSTED").unwrap());
    let credit = StatementEntry::new(
        Amount::parse("EUR", "0").unwrap(),
        CreditDebit::Credit,
        date("2026-04-13"),
        date("2026-04-13"),
        BankTransactionCode {
            domain: None,
            proprietary: Some((t35("REVERSAL"), None)),
        },
    );
    vec![debit, credit]
}

/// Runs `xmllint --schema`; fails the test (never skips) when xmllint is missing.
fn xmllint(xml: &[u8], tag: &str) {
    let dir = std::env::temp_dir().join(format!("iso20022-camt053-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("{tag}.xml"));
    std::fs::write(&file, xml).expect("write temp file");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(format!("{XSD}/camt.053.001.08.xsd"))
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

fn written(account: StatementAccountId, entries: &[StatementEntry]) -> Vec<u8> {
    let mut out = vec![];
    write_camt053(&head(account), entries, &mut out).unwrap();
    out
}

fn iban() -> StatementAccountId {
    StatementAccountId::Iban(Iban::new("DE89370400440532013000").unwrap())
}

#[test]
fn a_statement_we_write_validates_against_the_official_xsd() {
    xmllint(&written(iban(), &entries()), "camt053-iban");
    let other = StatementAccountId::Other(Text::new("EURCLEARING01").unwrap());
    xmllint(&written(other, &entries()), "camt053-other");
}

#[test]
fn a_statement_without_entries_validates_too() {
    xmllint(&written(iban(), &[]), "camt053-empty");
}

#[test]
fn a_streamed_statement_is_the_same_document_as_a_whole_one() {
    let mut writer = StatementWriter::start(&head(iban()), Vec::new()).unwrap();
    for entry in entries() {
        writer.entry(&entry).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), written(iban(), &entries()));
}

#[test]
fn a_statement_we_write_reads_back_to_the_same_values() {
    let out = written(iban(), &entries());
    let m = parse_document(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.kind.id, "camt.053.001.08");
    let Transaction::Statement(statement) = &m.transactions[0] else {
        panic!("the statement first")
    };
    assert_eq!(statement.id, "7-20260412-20260413");
    let codes: Vec<(&str, Option<CreditDebit>, String)> = statement
        .balances
        .iter()
        .map(|balance| {
            (
                balance.type_code.as_str(),
                balance.credit_debit,
                balance.amount.unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("OPBD", Some(CreditDebit::Credit), "EUR 100".to_owned()),
            ("CLBD", Some(CreditDebit::Debit), "EUR 5.5".to_owned())
        ]
    );
    let Transaction::Entry(entry) = &m.transactions[1] else {
        panic!("an entry second")
    };
    assert_eq!(entry.amount, Some(eur("105.5")));
    assert_eq!(entry.credit_debit, Some(CreditDebit::Debit));
    assert_eq!(entry.status.as_deref(), Some("BOOK"));
    assert_eq!(entry.value_date, Some(date("2026-04-12")));
    assert_eq!(
        entry.account_servicer_reference.as_deref(),
        Some("LDGRT00000000000000000001")
    );
    let detail = &entry.details[0];
    assert_eq!(detail.message_id.as_deref(), Some("P001 <&> \"1\""));
    assert_eq!(detail.end_to_end_id.as_deref(), Some("E2E-1"));
    assert_eq!(detail.instruction_id.as_deref(), Some("INSTR-1"));
    assert_eq!(
        detail.uetr.as_ref().map(|uetr| uetr.as_str()),
        Some("d4e5f6a7-b8c9-4123-9efa-234567890123")
    );
    assert_eq!(m.transactions.len(), 3);
}

#[test]
fn amounts_are_written_with_the_currency_decimals() {
    let text = String::from_utf8(written(iban(), &entries())).unwrap();
    assert!(text.contains(r#"<Amt Ccy="EUR">105.50</Amt>"#), "{text}");
    assert!(text.contains(r#"<Amt Ccy="EUR">100.00</Amt>"#), "{text}");
    assert!(text.contains(r#"<Amt Ccy="EUR">0.00</Amt>"#), "{text}");
}
