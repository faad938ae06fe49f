//! Writers for our status reports: pacs.002.001.10 (to FIs) and pain.002.001.10 (to the
//! initiating customer of a pain.001). Every value is a checked type, so the output is
//! schema-valid by construction (tests check it with xmllint against the official XSD).

use crate::error::ErrorKind;
use crate::types::{IsoDateTime, Max35Text, Text, Uetr};
use std::io::{self, Write};

/// Namespace of the pacs.002 we write.
pub const PACS002_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10";
/// Namespace of the pain.002 we write.
pub const PAIN002_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10";

/// A status reason code (`ExternalStatusReason1Code`, e.g. AC04, AM04): 4 uppercase
/// letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReasonCode(String);

impl ReasonCode {
    /// Checks the form `[A-Z0-9]{4}`.
    pub fn new(s: &str) -> Result<Self, ErrorKind> {
        if s.len() == 4
            && s.bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            Ok(ReasonCode(s.to_owned()))
        } else {
            Err(ErrorKind::invalid("status reason code [A-Z0-9]{4}", s))
        }
    }
    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The statuses we confirm with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfirmationStatus {
    /// ACSC: settlement completed.
    Settled,
    /// PDNG: pending.
    Pending,
    /// RJCT with its reason code.
    Rejected(ReasonCode),
}

impl ConfirmationStatus {
    /// The ISO code (ACSC, PDNG, RJCT).
    pub fn code(&self) -> &'static str {
        match self {
            ConfirmationStatus::Settled => "ACSC",
            ConfirmationStatus::Pending => "PDNG",
            ConfirmationStatus::Rejected(_) => "RJCT",
        }
    }
    /// The reason, for RJCT.
    pub fn reason(&self) -> Option<&ReasonCode> {
        match self {
            ConfirmationStatus::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

/// The status of one original transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionConfirmation {
    pub status_id: Option<Max35Text>,
    /// pain.002: the `PmtInfId` of the original payment information block (required there;
    /// transactions are grouped by it).
    pub original_payment_info_id: Option<Max35Text>,
    pub original_instruction_id: Option<Max35Text>,
    pub original_end_to_end_id: Option<Max35Text>,
    /// pacs.002 only (pain.002.001.10 has no OrgnlTxId).
    pub original_transaction_id: Option<Max35Text>,
    pub original_uetr: Option<Uetr>,
    pub status: ConfirmationStatus,
    pub additional_info: Option<Text<105>>,
}

impl TransactionConfirmation {
    /// A confirmation with only the status set.
    pub fn new(status: ConfirmationStatus) -> Self {
        TransactionConfirmation {
            status_id: None,
            original_payment_info_id: None,
            original_instruction_id: None,
            original_end_to_end_id: None,
            original_transaction_id: None,
            original_uetr: None,
            status,
            additional_info: None,
        }
    }
}

/// A status report to write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusReport {
    pub message_id: Max35Text,
    pub creation_date_time: IsoDateTime,
    pub original_message_id: Max35Text,
    /// e.g. `pacs.008.001.08`.
    pub original_message_name_id: Max35Text,
    pub original_creation_date_time: Option<IsoDateTime>,
    pub group_status: Option<ConfirmationStatus>,
    pub transactions: Vec<TransactionConfirmation>,
}

impl StatusReport {
    /// A report with no transaction statuses yet.
    pub fn new(
        message_id: Max35Text,
        creation_date_time: IsoDateTime,
        original_message_id: Max35Text,
        original_message_name_id: Max35Text,
    ) -> Self {
        StatusReport {
            message_id,
            creation_date_time,
            original_message_id,
            original_message_name_id,
            original_creation_date_time: None,
            group_status: None,
            transactions: vec![],
        }
    }
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

struct W<'a, O: Write> {
    out: &'a mut O,
    indent: usize,
}

impl<O: Write> W<'_, O> {
    fn open(&mut self, name: &str) -> io::Result<()> {
        writeln!(self.out, "{:w$}<{name}>", "", w = self.indent * 2)?;
        self.indent += 1;
        Ok(())
    }
    fn close(&mut self, name: &str) -> io::Result<()> {
        self.indent -= 1;
        writeln!(self.out, "{:w$}</{name}>", "", w = self.indent * 2)
    }
    fn leaf(&mut self, name: &str, value: &str) -> io::Result<()> {
        writeln!(
            self.out,
            "{:w$}<{name}>{}</{name}>",
            "",
            esc(value),
            w = self.indent * 2
        )
    }
    fn opt(&mut self, name: &str, value: Option<&str>) -> io::Result<()> {
        match value {
            Some(v) => self.leaf(name, v),
            None => Ok(()),
        }
    }
    fn reason(&mut self, status: &ConfirmationStatus, info: Option<&Text<105>>) -> io::Result<()> {
        if status.reason().is_none() && info.is_none() {
            return Ok(());
        }
        self.open("StsRsnInf")?;
        if let Some(r) = status.reason() {
            self.open("Rsn")?;
            self.leaf("Cd", r.as_str())?;
            self.close("Rsn")?;
        }
        self.opt("AddtlInf", info.map(|i| i.as_str()))?;
        self.close("StsRsnInf")
    }
    fn group(&mut self, r: &StatusReport) -> io::Result<()> {
        self.open("OrgnlGrpInfAndSts")?;
        self.leaf("OrgnlMsgId", r.original_message_id.as_str())?;
        self.leaf("OrgnlMsgNmId", r.original_message_name_id.as_str())?;
        self.opt(
            "OrgnlCreDtTm",
            r.original_creation_date_time.as_ref().map(|d| d.as_str()),
        )?;
        if let Some(s) = &r.group_status {
            self.leaf("GrpSts", s.code())?;
            self.reason(s, None)?;
        }
        self.close("OrgnlGrpInfAndSts")
    }
}

fn s35(v: &Option<Max35Text>) -> Option<&str> {
    v.as_ref().map(|v| v.as_str())
}

/// Writes `report` as a pacs.002.001.10 `Document`.
pub fn write_pacs002(report: &StatusReport, mut out: impl Write) -> io::Result<()> {
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, r#"<Document xmlns="{PACS002_NAMESPACE}">"#)?;
    let mut w = W {
        out: &mut out,
        indent: 1,
    };
    w.open("FIToFIPmtStsRpt")?;
    w.open("GrpHdr")?;
    w.leaf("MsgId", report.message_id.as_str())?;
    w.leaf("CreDtTm", report.creation_date_time.as_str())?;
    w.close("GrpHdr")?;
    w.group(report)?;
    for t in &report.transactions {
        w.open("TxInfAndSts")?;
        w.opt("StsId", s35(&t.status_id))?;
        w.opt("OrgnlInstrId", s35(&t.original_instruction_id))?;
        w.opt("OrgnlEndToEndId", s35(&t.original_end_to_end_id))?;
        w.opt("OrgnlTxId", s35(&t.original_transaction_id))?;
        w.opt("OrgnlUETR", t.original_uetr.as_ref().map(|u| u.as_str()))?;
        w.leaf("TxSts", t.status.code())?;
        w.reason(&t.status, t.additional_info.as_ref())?;
        w.close("TxInfAndSts")?;
    }
    w.close("FIToFIPmtStsRpt")?;
    writeln!(out, "</Document>")
}

/// Writes `report` as a pain.002.001.10 `Document`: transactions are grouped by their
/// `original_payment_info_id` (in order of first appearance), which each must have.
pub fn write_pain002(report: &StatusReport, mut out: impl Write) -> io::Result<()> {
    let mut groups: Vec<(&str, Vec<&TransactionConfirmation>)> = vec![];
    for t in &report.transactions {
        let id = t.original_payment_info_id.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "pain.002 needs original_payment_info_id on every transaction",
            )
        })?;
        match groups.iter_mut().find(|g| g.0 == id.as_str()) {
            Some(g) => g.1.push(t),
            None => groups.push((id.as_str(), vec![t])),
        }
    }
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, r#"<Document xmlns="{PAIN002_NAMESPACE}">"#)?;
    let mut w = W {
        out: &mut out,
        indent: 1,
    };
    w.open("CstmrPmtStsRpt")?;
    w.open("GrpHdr")?;
    w.leaf("MsgId", report.message_id.as_str())?;
    w.leaf("CreDtTm", report.creation_date_time.as_str())?;
    w.close("GrpHdr")?;
    w.group(report)?;
    for (id, txs) in groups {
        w.open("OrgnlPmtInfAndSts")?;
        w.leaf("OrgnlPmtInfId", id)?;
        for t in txs {
            w.open("TxInfAndSts")?;
            w.opt("StsId", s35(&t.status_id))?;
            w.opt("OrgnlInstrId", s35(&t.original_instruction_id))?;
            w.opt("OrgnlEndToEndId", s35(&t.original_end_to_end_id))?;
            w.opt("OrgnlUETR", t.original_uetr.as_ref().map(|u| u.as_str()))?;
            w.leaf("TxSts", t.status.code())?;
            w.reason(&t.status, t.additional_info.as_ref())?;
            w.close("TxInfAndSts")?;
        }
        w.close("OrgnlPmtInfAndSts")?;
    }
    w.close("CstmrPmtStsRpt")?;
    writeln!(out, "</Document>")
}
