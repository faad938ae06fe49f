//! Generated messages of any size, produced lazily as a `Read` (shared by the bench, the
//! fuzz driver and the tests: `#[path = "../benches/gen.rs"] mod gen;`).
#![allow(dead_code)]

use std::io::{self, Read};

/// Which message to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pacs008,
    Pain001,
}

/// A valid message with `n` transactions of 1.00 EUR each, generated on the fly.
#[derive(Debug)]
pub struct Generated {
    kind: Kind,
    n: u64,
    next: u64,
    stage: u8,
    buf: Vec<u8>,
    pos: usize,
}

impl Generated {
    pub fn new(kind: Kind, n: u64) -> Self {
        Generated {
            kind,
            n,
            next: 0,
            stage: 0,
            buf: Vec::with_capacity(4096),
            pos: 0,
        }
    }

    fn refill(&mut self) {
        use std::fmt::Write;
        self.buf.clear();
        self.pos = 0;
        let mut s = String::new();
        let ctrl = format!("{}.00", self.n);
        match (self.stage, self.kind) {
            (0, Kind::Pacs008) => {
                let _ = write!(
                    s,
                    r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">
  <FIToFICstmrCdtTrf>
    <GrpHdr>
      <MsgId>BENCH-PACS008</MsgId>
      <CreDtTm>2026-04-13T08:10:00Z</CreDtTm>
      <NbOfTxs>{}</NbOfTxs>
      <CtrlSum>{ctrl}</CtrlSum>
      <SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf>
    </GrpHdr>
"#,
                    self.n
                );
                self.stage = 1;
            }
            (0, Kind::Pain001) => {
                let _ = write!(
                    s,
                    r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">
  <CstmrCdtTrfInitn>
    <GrpHdr>
      <MsgId>BENCH-PAIN001</MsgId>
      <CreDtTm>2026-04-13T08:10:00Z</CreDtTm>
      <NbOfTxs>{n}</NbOfTxs>
      <CtrlSum>{ctrl}</CtrlSum>
      <InitgPty><Nm>Bench Corp</Nm></InitgPty>
    </GrpHdr>
    <PmtInf>
      <PmtInfId>PMTINF-1</PmtInfId>
      <PmtMtd>TRF</PmtMtd>
      <NbOfTxs>{n}</NbOfTxs>
      <CtrlSum>{ctrl}</CtrlSum>
      <ReqdExctnDt><Dt>2026-04-14</Dt></ReqdExctnDt>
      <Dbtr><Nm>Bench Corp</Nm></Dbtr>
      <DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
      <DbtrAgt><FinInstnId><BICFI>DEUTDEFF</BICFI></FinInstnId></DbtrAgt>
      <ChrgBr>SLEV</ChrgBr>
"#,
                    n = self.n
                );
                self.stage = 1;
            }
            (1, _) if self.next < self.n => {
                // a batch of transactions per refill
                for _ in 0..16 {
                    if self.next >= self.n {
                        break;
                    }
                    let i = self.next;
                    self.next += 1;
                    match self.kind {
                        Kind::Pacs008 => {
                            let _ = write!(
                                s,
                                r#"    <CdtTrfTxInf>
      <PmtId><InstrId>INSTR-{i}</InstrId><EndToEndId>E2E-{i}</EndToEndId><TxId>TX-{i}</TxId><UETR>b94458f8-1f27-40e9-bf74-{i:012x}</UETR></PmtId>
      <IntrBkSttlmAmt Ccy="EUR">1.00</IntrBkSttlmAmt>
      <IntrBkSttlmDt>2026-04-13</IntrBkSttlmDt>
      <ChrgBr>SLEV</ChrgBr>
      <InstgAgt><FinInstnId><BICFI>DEUTDEFF</BICFI></FinInstnId></InstgAgt>
      <InstdAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstdAgt>
      <Dbtr><Nm>Debtor {i}</Nm><PstlAdr><TwnNm>Frankfurt</TwnNm><Ctry>DE</Ctry></PstlAdr></Dbtr>
      <DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
      <DbtrAgt><FinInstnId><BICFI>DEUTDEFF</BICFI></FinInstnId></DbtrAgt>
      <CdtrAgt><FinInstnId><BICFI>COBADEFF</BICFI></FinInstnId></CdtrAgt>
      <Cdtr><Nm>Creditor {i}</Nm><PstlAdr><TwnNm>London</TwnNm><Ctry>GB</Ctry></PstlAdr></Cdtr>
      <CdtrAcct><Id><IBAN>GB82WEST12345698765432</IBAN></Id></CdtrAcct>
      <RmtInf><Ustrd>Invoice {i}</Ustrd></RmtInf>
    </CdtTrfTxInf>
"#
                            );
                        }
                        Kind::Pain001 => {
                            let _ = write!(
                                s,
                                r#"      <CdtTrfTxInf>
        <PmtId><InstrId>INSTR-{i}</InstrId><EndToEndId>E2E-{i}</EndToEndId></PmtId>
        <Amt><InstdAmt Ccy="EUR">1.00</InstdAmt></Amt>
        <CdtrAgt><FinInstnId><BICFI>COBADEFF</BICFI></FinInstnId></CdtrAgt>
        <Cdtr><Nm>Creditor {i}</Nm><PstlAdr><TwnNm>London</TwnNm><Ctry>GB</Ctry></PstlAdr></Cdtr>
        <CdtrAcct><Id><IBAN>GB82WEST12345698765432</IBAN></Id></CdtrAcct>
        <RmtInf><Ustrd>Invoice {i} for services rendered in the month of April</Ustrd></RmtInf>
      </CdtTrfTxInf>
"#
                            );
                        }
                    }
                }
            }
            (1, Kind::Pacs008) => {
                s.push_str("  </FIToFICstmrCdtTrf>\n</Document>\n");
                self.stage = 2;
            }
            (1, Kind::Pain001) => {
                s.push_str("    </PmtInf>\n  </CstmrCdtTrfInitn>\n</Document>\n");
                self.stage = 2;
            }
            _ => {}
        }
        self.buf.extend_from_slice(s.as_bytes());
    }
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.buf.len() {
            if self.stage == 2 {
                return Ok(0);
            }
            self.refill();
        }
        let n = (self.buf.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The whole message in memory.
pub fn bytes(kind: Kind, n: u64) -> Vec<u8> {
    let mut v = vec![];
    Generated::new(kind, n)
        .read_to_end(&mut v)
        .expect("in-memory");
    v
}
