//! Writers for our status reports: pacs.002.001.10 (to FIs) and pain.002.001.10 (to the
//! initiating customer of a pain.001), and the camt.053.001.08 account statement
//! (`statement.rs`). Every value is a checked type, so the output is
//! schema-valid by construction (tests check it with xmllint against the official XSD).

use crate::error::ErrorKind;
use crate::types::{IsoDateTime, Max35Text, Text, Uetr};
use std::io::{self, Write};

mod statement;
pub use statement::*;

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
    /// Further `AddtlInf` elements after `additional_info`, for a text longer
    /// than 105 characters (the element repeats without limit in
    /// pain.002.001.10 and pacs.002.001.10).
    pub additional_info_continued: Vec<Text<105>>,
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
            additional_info_continued: Vec::new(),
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
    fn reason(
        &mut self,
        status: &ConfirmationStatus,
        info: Option<&Text<105>>,
        info_continued: &[Text<105>],
    ) -> io::Result<()> {
        if status.reason().is_none() && info.is_none() && info_continued.is_empty() {
            return Ok(());
        }
        self.open("StsRsnInf")?;
        if let Some(r) = status.reason() {
            self.open("Rsn")?;
            self.leaf("Cd", r.as_str())?;
            self.close("Rsn")?;
        }
        self.opt("AddtlInf", info.map(|i| i.as_str()))?;
        for more in info_continued {
            self.leaf("AddtlInf", more.as_str())?;
        }
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
            self.reason(s, None, &[])?;
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
        w.reason(
            &t.status,
            t.additional_info.as_ref(),
            &t.additional_info_continued,
        )?;
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
            w.reason(
                &t.status,
                t.additional_info.as_ref(),
                &t.additional_info_continued,
            )?;
            w.close("TxInfAndSts")?;
        }
        w.close("OrgnlPmtInfAndSts")?;
    }
    w.close("CstmrPmtStsRpt")?;
    writeln!(out, "</Document>")
}

/// The status of a whole original message (`GrpSts`) in a report written with
/// [`StatusReportWriter`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReportGroupStatus {
    /// ACSC: every transaction settled.
    Settled,
    /// PART: some transactions accepted, some rejected.
    PartiallyAccepted,
    /// RJCT with its reason: no transaction accepted.
    Rejected(ReasonCode),
}

impl ReportGroupStatus {
    /// The ISO code (ACSC, PART, RJCT).
    pub fn code(&self) -> &'static str {
        match self {
            ReportGroupStatus::Settled => "ACSC",
            ReportGroupStatus::PartiallyAccepted => "PART",
            ReportGroupStatus::Rejected(_) => "RJCT",
        }
    }
    /// The reason, for RJCT.
    pub fn reason(&self) -> Option<&ReasonCode> {
        match self {
            ReportGroupStatus::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

/// What a report written with [`StatusReportWriter`] says before its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusReportHead {
    pub message_id: Max35Text,
    pub creation_date_time: IsoDateTime,
    pub original_message_id: Max35Text,
    /// e.g. `pain.001.001.09`.
    pub original_message_name_id: Max35Text,
    pub original_creation_date_time: Option<IsoDateTime>,
    pub group_status: Option<ReportGroupStatus>,
}

impl StatusReportHead {
    /// A head without the original's creation time and without a group status.
    pub fn new(
        message_id: Max35Text,
        creation_date_time: IsoDateTime,
        original_message_id: Max35Text,
        original_message_name_id: Max35Text,
    ) -> Self {
        StatusReportHead {
            message_id,
            creation_date_time,
            original_message_id,
            original_message_name_id,
            original_creation_date_time: None,
            group_status: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReportKind {
    Pacs002,
    Pain002,
}

/// A pacs.002.001.10 or pain.002.001.10 status report written one transaction at a
/// time, so that a report on a message of any size needs memory for one transaction
/// only. The document is the one [`write_pacs002`] and [`write_pain002`] write for the
/// same content, except that pain.002 groups *consecutive* transactions with the same
/// `original_payment_info_id` (a pain.001's transactions come grouped by `PmtInf`, so
/// in file order the grouping is the same); an id that comes back later opens another
/// `OrgnlPmtInfAndSts`, which the schema allows.
///
/// The head (with the group status) is written first: a caller that learns the group
/// status only at the end keeps the transactions elsewhere meanwhile (a file).
#[derive(Debug)]
pub struct StatusReportWriter<O: Write> {
    out: O,
    kind: ReportKind,
    /// pain.002: the `OrgnlPmtInfId` of the open `OrgnlPmtInfAndSts`.
    payment_info_id: Option<String>,
}

impl<O: Write> StatusReportWriter<O> {
    /// Starts a pacs.002.001.10 report: everything up to and including
    /// `OrgnlGrpInfAndSts`.
    pub fn pacs002(head: &StatusReportHead, out: O) -> io::Result<Self> {
        Self::start(head, out, ReportKind::Pacs002)
    }

    /// Starts a pain.002.001.10 report: everything up to and including
    /// `OrgnlGrpInfAndSts`.
    pub fn pain002(head: &StatusReportHead, out: O) -> io::Result<Self> {
        Self::start(head, out, ReportKind::Pain002)
    }

    fn start(head: &StatusReportHead, mut out: O, kind: ReportKind) -> io::Result<Self> {
        let (namespace, root) = match kind {
            ReportKind::Pacs002 => (PACS002_NAMESPACE, "FIToFIPmtStsRpt"),
            ReportKind::Pain002 => (PAIN002_NAMESPACE, "CstmrPmtStsRpt"),
        };
        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(out, r#"<Document xmlns="{namespace}">"#)?;
        let mut w = W {
            out: &mut out,
            indent: 1,
        };
        w.open(root)?;
        w.open("GrpHdr")?;
        w.leaf("MsgId", head.message_id.as_str())?;
        w.leaf("CreDtTm", head.creation_date_time.as_str())?;
        w.close("GrpHdr")?;
        w.open("OrgnlGrpInfAndSts")?;
        w.leaf("OrgnlMsgId", head.original_message_id.as_str())?;
        w.leaf("OrgnlMsgNmId", head.original_message_name_id.as_str())?;
        w.opt(
            "OrgnlCreDtTm",
            head.original_creation_date_time
                .as_ref()
                .map(|d| d.as_str()),
        )?;
        if let Some(s) = &head.group_status {
            w.leaf("GrpSts", s.code())?;
            if let Some(r) = s.reason() {
                w.open("StsRsnInf")?;
                w.open("Rsn")?;
                w.leaf("Cd", r.as_str())?;
                w.close("Rsn")?;
                w.close("StsRsnInf")?;
            }
        }
        w.close("OrgnlGrpInfAndSts")?;
        Ok(StatusReportWriter {
            out,
            kind,
            payment_info_id: None,
        })
    }

    /// Writes one transaction's status. pain.002 needs `original_payment_info_id`
    /// (an `InvalidInput` error otherwise, with nothing written).
    pub fn transaction(&mut self, t: &TransactionConfirmation) -> io::Result<()> {
        let mut indent = 2;
        if self.kind == ReportKind::Pain002 {
            let id = t.original_payment_info_id.as_ref().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "pain.002 needs original_payment_info_id on every transaction",
                )
            })?;
            if self.payment_info_id.as_deref() != Some(id.as_str()) {
                let mut w = W {
                    out: &mut self.out,
                    indent: 2,
                };
                if self.payment_info_id.is_some() {
                    w.indent = 3;
                    w.close("OrgnlPmtInfAndSts")?;
                }
                w.open("OrgnlPmtInfAndSts")?;
                w.leaf("OrgnlPmtInfId", id.as_str())?;
                self.payment_info_id = Some(id.as_str().to_owned());
            }
            indent = 3;
        }
        let mut w = W {
            out: &mut self.out,
            indent,
        };
        w.open("TxInfAndSts")?;
        w.opt("StsId", s35(&t.status_id))?;
        w.opt("OrgnlInstrId", s35(&t.original_instruction_id))?;
        w.opt("OrgnlEndToEndId", s35(&t.original_end_to_end_id))?;
        if self.kind == ReportKind::Pacs002 {
            w.opt("OrgnlTxId", s35(&t.original_transaction_id))?;
        }
        w.opt("OrgnlUETR", t.original_uetr.as_ref().map(|u| u.as_str()))?;
        w.leaf("TxSts", t.status.code())?;
        w.reason(
            &t.status,
            t.additional_info.as_ref(),
            &t.additional_info_continued,
        )?;
        w.close("TxInfAndSts")
    }

    /// Closes the document and hands the output back (unflushed).
    pub fn finish(mut self) -> io::Result<O> {
        let mut w = W {
            out: &mut self.out,
            indent: 2,
        };
        match self.kind {
            ReportKind::Pacs002 => w.close("FIToFIPmtStsRpt")?,
            ReportKind::Pain002 => {
                if self.payment_info_id.is_some() {
                    w.indent = 3;
                    w.close("OrgnlPmtInfAndSts")?;
                }
                w.close("CstmrPmtStsRpt")?;
            }
        }
        writeln!(self.out, "</Document>")?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    //! The streaming writer writes what the whole-report writers write
    //! (which the tests in `tests/writer.rs` validate with xmllint).
    use super::*;

    fn t35(s: &str) -> Max35Text {
        Max35Text::new(s).unwrap()
    }

    fn transactions() -> Vec<TransactionConfirmation> {
        let mut settled = TransactionConfirmation::new(ConfirmationStatus::Settled);
        settled.original_payment_info_id = Some(t35("PMTINF-1"));
        settled.original_instruction_id = Some(t35("INSTR-1"));
        settled.original_end_to_end_id = Some(t35("E2E <&> 1"));
        settled.original_transaction_id = Some(t35("TX-1"));
        settled.original_uetr = Some(Uetr::new("d4e5f6a7-b8c9-4123-9efa-234567890123").unwrap());
        let mut pending = TransactionConfirmation::new(ConfirmationStatus::Pending);
        pending.original_payment_info_id = Some(t35("PMTINF-1"));
        pending.original_end_to_end_id = Some(t35("E2E-2"));
        let mut rejected = TransactionConfirmation::new(ConfirmationStatus::Rejected(
            ReasonCode::new("AC04").unwrap(),
        ));
        rejected.original_payment_info_id = Some(t35("PMTINF-2"));
        rejected.original_end_to_end_id = Some(t35("E2E-3"));
        rejected.additional_info = Some(Text::new("account closed").unwrap());
        rejected.additional_info_continued = vec![Text::new("on 2026-04-01").unwrap()];
        vec![settled, pending, rejected]
    }

    #[test]
    fn continued_additional_information_follows_the_first_in_its_own_elements() {
        for kind in [ReportKind::Pacs002, ReportKind::Pain002] {
            let text = streamed(kind, None);
            let compact: String = text.lines().map(str::trim).collect();
            assert!(
                compact.contains(
                    "<AddtlInf>account closed</AddtlInf><AddtlInf>on 2026-04-01</AddtlInf>"
                ),
                "{text}"
            );
        }
    }

    fn streamed(kind: ReportKind, group: Option<ReportGroupStatus>) -> String {
        let mut head = StatusReportHead::new(
            t35("LEDGER-STS-1"),
            IsoDateTime::parse("2026-04-13T08:10:00Z").unwrap(),
            t35("P001-1"),
            t35("pain.001.001.09"),
        );
        head.original_creation_date_time =
            Some(IsoDateTime::parse("2026-04-12T17:00:00Z").unwrap());
        head.group_status = group;
        let mut writer = match kind {
            ReportKind::Pacs002 => StatusReportWriter::pacs002(&head, Vec::new()).unwrap(),
            ReportKind::Pain002 => StatusReportWriter::pain002(&head, Vec::new()).unwrap(),
        };
        for t in transactions() {
            writer.transaction(&t).unwrap();
        }
        String::from_utf8(writer.finish().unwrap()).unwrap()
    }

    fn whole(kind: ReportKind, group: Option<ConfirmationStatus>) -> String {
        let mut report = StatusReport::new(
            t35("LEDGER-STS-1"),
            IsoDateTime::parse("2026-04-13T08:10:00Z").unwrap(),
            t35("P001-1"),
            t35("pain.001.001.09"),
        );
        report.original_creation_date_time =
            Some(IsoDateTime::parse("2026-04-12T17:00:00Z").unwrap());
        report.group_status = group;
        report.transactions = transactions();
        let mut out = Vec::new();
        match kind {
            ReportKind::Pacs002 => write_pacs002(&report, &mut out).unwrap(),
            ReportKind::Pain002 => write_pain002(&report, &mut out).unwrap(),
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_streamed_report_is_the_same_document_as_a_whole_one() {
        for kind in [ReportKind::Pacs002, ReportKind::Pain002] {
            assert_eq!(
                streamed(kind, Some(ReportGroupStatus::Settled)),
                whole(kind, Some(ConfirmationStatus::Settled))
            );
            let rjct = ReasonCode::new("FF01").unwrap();
            assert_eq!(
                streamed(kind, Some(ReportGroupStatus::Rejected(rjct.clone()))),
                whole(kind, Some(ConfirmationStatus::Rejected(rjct)))
            );
            assert_eq!(streamed(kind, None), whole(kind, None));
        }
    }

    #[test]
    fn a_partly_accepted_group_says_part() {
        let text = streamed(
            ReportKind::Pain002,
            Some(ReportGroupStatus::PartiallyAccepted),
        );
        assert!(text.contains("<GrpSts>PART</GrpSts>"), "{text}");
    }

    #[test]
    fn pain002_refuses_a_transaction_without_its_payment_information_id() {
        let head = StatusReportHead::new(
            t35("M"),
            IsoDateTime::parse("2026-04-13T08:10:00Z").unwrap(),
            t35("O"),
            t35("pain.001.001.09"),
        );
        let mut writer = StatusReportWriter::pain002(&head, Vec::new()).unwrap();
        let t = TransactionConfirmation::new(ConfirmationStatus::Settled);
        let error = writer.transaction(&t).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
