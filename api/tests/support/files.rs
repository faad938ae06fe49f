//! Generated ISO 20022 files for the ingest tests and benchmark:
//! pain.001.001.09 and pacs.008.001.08 that the strict reader accepts, written
//! to any `Write` so that a file of a million transactions streams to disk.

#![allow(dead_code)]

use std::io::{self, Write};

use ledger::model::{AccountReference, ClientId, OverdraftRule};
use ledger_system_tests::fixtures::open;
use ledger_system_tests::TestDatabase;

/// The EUR clearing account that generated files' creditors map to.
pub const CLEARING: &str = "EURCLEARING01";

/// A fresh ledger holding the generated files' first `debtors` debtor
/// accounts (overdraft allowed) and the EUR clearing account for their
/// creditors, which it does not hold.
pub async fn ledger_for_files(debtors: u64) -> TestDatabase {
    let db = TestDatabase::with_defaults().await;
    for number in 0..debtors {
        db.ledger
            .open_account(&open(&debtor(number), "EUR", OverdraftRule::Unrestricted))
            .await
            .unwrap();
    }
    db.ledger
        .open_account(&open(CLEARING, "EUR", OverdraftRule::Unrestricted))
        .await
        .unwrap();
    db.ledger
        .set_clearing_account(
            &ClientId::parse("test-operator").unwrap(),
            &AccountReference::parse(CLEARING).unwrap(),
        )
        .await
        .unwrap();
    db
}

/// A German IBAN for bank code `bank` (8 digits) and account `account`
/// (10 digits), with valid mod-97 check digits.
pub fn iban_de(bank: u64, account: u64) -> String {
    let bban = format!("{bank:08}{account:010}");
    // BBAN, then "DE00" as digits (D = 13, E = 14).
    let digits = format!("{bban}131400");
    let remainder = digits
        .bytes()
        .fold(0u64, |acc, digit| (acc * 10 + u64::from(digit - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - remainder)
}

/// The same IBAN with broken check digits.
pub fn broken_iban(iban: &str) -> String {
    let check: u32 = iban[2..4].parse().unwrap();
    format!("DE{:02}{}", (check + 1) % 100, &iban[4..])
}

/// The debtor accounts of generated files (held by the ledger).
pub fn debtor(number: u64) -> String {
    iban_de(37040044, 1_000_000 + number)
}

/// The creditor of transaction `position` (not held: the clearing account).
pub fn creditor(position: u64) -> String {
    iban_de(50010517, position)
}

/// The amount of transaction `position`, in euro cents (1.00 to 10.99).
pub fn amount_minor(position: u64) -> u64 {
    100 + position % 1_000
}

fn euros(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// What a generated pain.001 holds.
#[derive(Debug, Clone)]
pub struct Pain001 {
    pub message_id: String,
    pub transactions: u64,
    /// Transactions per `PmtInf` block; block `b` (0-based) debits
    /// `debtor(b % debtors)`.
    pub transactions_per_block: u64,
    pub debtors: u64,
    /// 1-based positions whose creditor IBAN has broken check digits.
    pub broken_positions: Vec<u64>,
}

impl Pain001 {
    pub fn new(message_id: &str, transactions: u64) -> Pain001 {
        Pain001 {
            message_id: message_id.to_owned(),
            transactions,
            transactions_per_block: 100,
            debtors: 4,
            broken_positions: Vec::new(),
        }
    }

    /// The EndToEndId of transaction `position`.
    pub fn end_to_end_id(&self, position: u64) -> String {
        format!("E2E-{}-{position}", self.message_id)
    }

    /// Streams the document to `out`.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\">\n\
             <CstmrCdtTrfInitn>\n\
             <GrpHdr><MsgId>{}</MsgId><CreDtTm>2026-04-13T06:30:00Z</CreDtTm>\
             <NbOfTxs>{}</NbOfTxs><InitgPty><Nm>Ingest Test Corp</Nm></InitgPty></GrpHdr>\n",
            self.message_id, self.transactions
        )?;
        let blocks = self.transactions.div_ceil(self.transactions_per_block);
        let mut position = 0;
        for block in 0..blocks {
            let first = block * self.transactions_per_block + 1;
            let last = (first + self.transactions_per_block - 1).min(self.transactions);
            writeln!(
                out,
                "<PmtInf><PmtInfId>PMT-{}-{}</PmtInfId><PmtMtd>TRF</PmtMtd>\
                 <NbOfTxs>{}</NbOfTxs><ReqdExctnDt><Dt>2026-04-14</Dt></ReqdExctnDt>\
                 <Dbtr><Nm>Debtor {}</Nm></Dbtr>\
                 <DbtrAcct><Id><IBAN>{}</IBAN></Id></DbtrAcct>\
                 <DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>",
                self.message_id,
                block + 1,
                last - first + 1,
                block % self.debtors,
                debtor(block % self.debtors)
            )?;
            for _ in first..=last {
                position += 1;
                let mut creditor_iban = creditor(position);
                if self.broken_positions.contains(&position) {
                    creditor_iban = broken_iban(&creditor_iban);
                }
                writeln!(
                    out,
                    "<CdtTrfTxInf><PmtId><InstrId>I-{position}</InstrId>\
                     <EndToEndId>{}</EndToEndId></PmtId>\
                     <Amt><InstdAmt Ccy=\"EUR\">{}</InstdAmt></Amt>\
                     <CdtrAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></CdtrAgt>\
                     <Cdtr><Nm>Creditor {position}</Nm></Cdtr>\
                     <CdtrAcct><Id><IBAN>{creditor_iban}</IBAN></Id></CdtrAcct>\
                     <RmtInf><Ustrd>Invoice {position}</Ustrd></RmtInf></CdtTrfTxInf>",
                    self.end_to_end_id(position),
                    euros(amount_minor(position)),
                )?;
            }
            writeln!(out, "</PmtInf>")?;
        }
        writeln!(out, "</CstmrCdtTrfInitn>\n</Document>")
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out).unwrap();
        out
    }
}

/// A pacs.008.001.08 of `transactions` from `debtor` to `creditor` (both
/// held), 1.00 EUR each, with an AppHdr in a SWIFT-style envelope.
pub fn pacs008(message_id: &str, transactions: u64, debtor: &str, creditor: &str) -> Vec<u8> {
    let mut body = String::new();
    for position in 1..=transactions {
        body.push_str(&format!(
            "<CdtTrfTxInf><PmtId><InstrId>I-{message_id}-{position}</InstrId>\
             <EndToEndId>E2E-{message_id}-{position}</EndToEndId><TxId>TX-{position}</TxId></PmtId>\
             <IntrBkSttlmAmt Ccy=\"EUR\">1.00</IntrBkSttlmAmt><IntrBkSttlmDt>2026-11-27</IntrBkSttlmDt><ChrgBr>SHAR</ChrgBr>\
             <InstgAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstgAgt>\
             <InstdAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></InstdAgt>\
             <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{debtor}</IBAN></Id></DbtrAcct>\
             <DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>\
             <CdtrAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></CdtrAgt>\
             <Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAcct><Id><IBAN>{creditor}</IBAN></Id></CdtrAcct></CdtTrfTxInf>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Envelope xmlns=\"urn:swift:xsd:envelope\">\n\
         <AppHdr xmlns=\"urn:iso:std:iso:20022:tech:xsd:head.001.001.02\">\
         <Fr><FIId><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></FIId></Fr>\
         <To><FIId><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></FIId></To>\
         <BizMsgIdr>{message_id}</BizMsgIdr><MsgDefIdr>pacs.008.001.08</MsgDefIdr>\
         <CreDt>2026-11-27T10:00:00Z</CreDt></AppHdr>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><FIToFICstmrCdtTrf>\
         <GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-27T10:00:00Z</CreDtTm><NbOfTxs>{transactions}</NbOfTxs>\
         <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf></GrpHdr>\n{body}</FIToFICstmrCdtTrf></Document>\n\
         </Envelope>\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ibans_have_valid_check_digits() {
        // The well-known example: DE89 3704 0044 0532 0130 00.
        assert_eq!(iban_de(37040044, 532013000), "DE89370400440532013000");
    }
}
