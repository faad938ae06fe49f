//! The pain.001.001.09 files the ingest scenarios feed to `ledger ingest`:
//! payment positions in blocks (`PmtInf`) of [`TRANSACTIONS_PER_BLOCK`], each
//! block debiting its own debtor, every creditor a non-held IBAN (the
//! clearing account's), amounts from [`amount_minor`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::scenarios;

/// Transactions per `PmtInf` block. A file from position 1 puts the
/// positions `b * TRANSACTIONS_PER_BLOCK + 1 ..= (b + 1) * TRANSACTIONS_PER_BLOCK`
/// in block `b`.
pub const TRANSACTIONS_PER_BLOCK: u64 = 100;

/// The amount, in cents, of the payment at `position` (1-based).
pub fn amount_minor(position: u64) -> i64 {
    (100 + position % 1_000) as i64
}

/// Writes the payment positions `first..=last` (global, 1-based) as one
/// pain.001.001.09 named `message_id`, block `b` debiting `debtor(b)`.
pub fn write(
    path: &Path,
    message_id: &str,
    first: u64,
    last: u64,
    debtor: impl Fn(u64) -> String,
) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\">\n<CstmrCdtTrfInitn>\n\
         <GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-11-30T06:30:00Z</CreDtTm>\
         <NbOfTxs>{}</NbOfTxs><InitgPty><Nm>Chaos Corp</Nm></InitgPty></GrpHdr>\n",
        last - first + 1
    )?;
    let mut block_first = first;
    while block_first <= last {
        let block_last = (block_first + TRANSACTIONS_PER_BLOCK - 1).min(last);
        let block = block_first / TRANSACTIONS_PER_BLOCK;
        writeln!(
            out,
            "<PmtInf><PmtInfId>PMT-{message_id}-{block}</PmtInfId><PmtMtd>TRF</PmtMtd>\
             <NbOfTxs>{}</NbOfTxs><ReqdExctnDt><Dt>2026-12-01</Dt></ReqdExctnDt>\
             <Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{}</IBAN></Id></DbtrAcct>\
             <DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>",
            block_last - block_first + 1,
            debtor(block)
        )?;
        for position in block_first..=block_last {
            let amount = amount_minor(position);
            writeln!(
                out,
                "<CdtTrfTxInf><PmtId><InstrId>I-{position}</InstrId>\
                 <EndToEndId>E2E-{message_id}-{position}</EndToEndId></PmtId>\
                 <Amt><InstdAmt Ccy=\"EUR\">{}.{:02}</InstdAmt></Amt>\
                 <CdtrAgt><FinInstnId><BICFI>BNPAFRPPXXX</BICFI></FinInstnId></CdtrAgt>\
                 <Cdtr><Nm>Creditor</Nm></Cdtr>\
                 <CdtrAcct><Id><IBAN>{}</IBAN></Id></CdtrAcct></CdtTrfTxInf>",
                amount / 100,
                amount % 100,
                scenarios::iban_de(50010517, position)
            )?;
        }
        writeln!(out, "</PmtInf>")?;
        block_first = block_last + 1;
    }
    writeln!(out, "</CstmrCdtTrfInitn>\n</Document>")?;
    out.flush()
}
