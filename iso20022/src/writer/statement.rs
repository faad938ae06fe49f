//! The account statement we write: camt.053.001.08, one statement per
//! document, streamed one entry at a time ([`StatementWriter`]) so that a
//! statement of any length needs memory for one entry only. Every value is a
//! checked type and every element is written in the XSD's order, so the
//! output is schema-valid by construction (`tests/writer.rs` checks it with
//! xmllint against the official XSD).

use super::W;
use crate::model::CreditDebit;
use crate::types::{Amount, CurrencyCode, Iban, IsoDate, IsoDateTime, Max35Text, Text, Uetr};
use std::io::{self, Write};

/// Namespace of the camt.053 we write.
pub const CAMT053_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08";

/// How the statement names its account (`Acct/Id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementAccountId {
    /// `IBAN`.
    Iban(Iban),
    /// `Othr/Id` (`Max34Text`).
    Other(Text<34>),
}

/// A booked balance (`Bal`): its amount, whether the account holds money
/// (`CRDT`) or owes it (`DBIT`), and its date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementBalance {
    pub amount: Amount,
    pub credit_debit: CreditDebit,
    pub date: IsoDate,
}

/// What a statement written with [`StatementWriter`] says before its
/// entries: the group header, the statement's id, period and account, and
/// its opening (`OPBD`) and closing (`CLBD`) booked balances.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatementHead {
    /// `GrpHdr/MsgId`.
    pub message_id: Max35Text,
    /// `GrpHdr/CreDtTm` and `Stmt/CreDtTm`.
    pub creation_date_time: IsoDateTime,
    /// `Stmt/Id`.
    pub statement_id: Max35Text,
    /// `Stmt/FrToDt`: the first and the last moment the statement covers.
    pub period: Option<(IsoDateTime, IsoDateTime)>,
    pub account: StatementAccountId,
    /// `Acct/Ccy`.
    pub currency: CurrencyCode,
    pub opening_booked: StatementBalance,
    pub closing_booked: StatementBalance,
}

impl StatementHead {
    /// A head without a period.
    pub fn new(
        message_id: Max35Text,
        creation_date_time: IsoDateTime,
        statement_id: Max35Text,
        account: StatementAccountId,
        currency: CurrencyCode,
        opening_booked: StatementBalance,
        closing_booked: StatementBalance,
    ) -> Self {
        StatementHead {
            message_id,
            creation_date_time,
            statement_id,
            period: None,
            account,
            currency,
            opening_booked,
            closing_booked,
        }
    }
}

/// A bank transaction code (`BkTxCd`): the ISO domain, family and
/// sub-family (`Domn`), a proprietary code (`Prtry`), or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankTransactionCode {
    /// `Domn/Cd`, `Domn/Fmly/Cd`, `Domn/Fmly/SubFmlyCd`, e.g. `PMNT`, `ICDT`, `DMCT`.
    pub domain: Option<(Text<4>, Text<4>, Text<4>)>,
    /// `Prtry/Cd` and `Prtry/Issr`.
    pub proprietary: Option<(Max35Text, Option<Max35Text>)>,
}

/// The references of an entry's transaction (`NtryDtls/TxDtls/Refs`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryTransactionReferences {
    pub message_id: Option<Max35Text>,
    pub account_servicer_reference: Option<Max35Text>,
    pub instruction_id: Option<Max35Text>,
    pub end_to_end_id: Option<Max35Text>,
    pub uetr: Option<Uetr>,
    pub transaction_id: Option<Max35Text>,
}

/// One booked entry (`Ntry` with status `BOOK`) and its one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatementEntry {
    /// `NtryRef`.
    pub entry_reference: Option<Max35Text>,
    pub amount: Amount,
    pub credit_debit: CreditDebit,
    /// `BookgDt/Dt`.
    pub booking_date: IsoDate,
    /// `ValDt/Dt`.
    pub value_date: IsoDate,
    /// `AcctSvcrRef` of the entry.
    pub account_servicer_reference: Option<Max35Text>,
    pub bank_transaction_code: BankTransactionCode,
    /// `NtryDtls/TxDtls/Refs`, written when any reference is given.
    pub references: EntryTransactionReferences,
    /// `AddtlNtryInf`.
    pub additional_info: Option<Text<500>>,
}

impl StatementEntry {
    /// A booked entry with no references.
    pub fn new(
        amount: Amount,
        credit_debit: CreditDebit,
        booking_date: IsoDate,
        value_date: IsoDate,
        bank_transaction_code: BankTransactionCode,
    ) -> Self {
        StatementEntry {
            entry_reference: None,
            amount,
            credit_debit,
            booking_date,
            value_date,
            account_servicer_reference: None,
            bank_transaction_code,
            references: EntryTransactionReferences::default(),
            additional_info: None,
        }
    }
}

impl CreditDebit {
    /// `CRDT` or `DBIT`.
    pub fn code(self) -> &'static str {
        match self {
            CreditDebit::Credit => "CRDT",
            CreditDebit::Debit => "DBIT",
        }
    }
}

/// The amount with as many decimals as its currency has (`12.50`, `700`).
fn amount_text(amount: &Amount) -> String {
    let mut value = amount.value();
    value.rescale(amount.currency().minor_units());
    value.to_string()
}

impl<O: Write> W<'_, O> {
    fn amount(&mut self, name: &str, amount: &Amount) -> io::Result<()> {
        writeln!(
            self.out,
            "{:w$}<{name} Ccy=\"{}\">{}</{name}>",
            "",
            amount.currency().as_str(),
            amount_text(amount),
            w = self.indent * 2
        )
    }

    fn date(&mut self, name: &str, date: &IsoDate) -> io::Result<()> {
        self.open(name)?;
        self.leaf("Dt", &date.to_string())?;
        self.close(name)
    }

    fn balance(&mut self, code: &str, balance: &StatementBalance) -> io::Result<()> {
        self.open("Bal")?;
        self.open("Tp")?;
        self.open("CdOrPrtry")?;
        self.leaf("Cd", code)?;
        self.close("CdOrPrtry")?;
        self.close("Tp")?;
        self.amount("Amt", &balance.amount)?;
        self.leaf("CdtDbtInd", balance.credit_debit.code())?;
        self.date("Dt", &balance.date)?;
        self.close("Bal")
    }
}

fn s35(value: &Option<Max35Text>) -> Option<&str> {
    value.as_ref().map(|value| value.as_str())
}

/// A camt.053.001.08 statement written one entry at a time: [`Self::start`]
/// writes everything up to and including the balances, [`Self::entry`] one
/// `Ntry`, [`Self::finish`] closes the document.
#[derive(Debug)]
pub struct StatementWriter<O: Write> {
    out: O,
}

impl<O: Write> StatementWriter<O> {
    /// Writes the document's start: `GrpHdr`, then the statement's id,
    /// creation time, period, account and balances.
    pub fn start(head: &StatementHead, mut out: O) -> io::Result<Self> {
        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(out, r#"<Document xmlns="{CAMT053_NAMESPACE}">"#)?;
        let mut w = W {
            out: &mut out,
            indent: 1,
        };
        w.open("BkToCstmrStmt")?;
        w.open("GrpHdr")?;
        w.leaf("MsgId", head.message_id.as_str())?;
        w.leaf("CreDtTm", head.creation_date_time.as_str())?;
        w.close("GrpHdr")?;
        w.open("Stmt")?;
        w.leaf("Id", head.statement_id.as_str())?;
        w.leaf("CreDtTm", head.creation_date_time.as_str())?;
        if let Some((from, to)) = &head.period {
            w.open("FrToDt")?;
            w.leaf("FrDtTm", from.as_str())?;
            w.leaf("ToDtTm", to.as_str())?;
            w.close("FrToDt")?;
        }
        w.open("Acct")?;
        w.open("Id")?;
        match &head.account {
            StatementAccountId::Iban(iban) => w.leaf("IBAN", iban.as_str())?,
            StatementAccountId::Other(id) => {
                w.open("Othr")?;
                w.leaf("Id", id.as_str())?;
                w.close("Othr")?;
            }
        }
        w.close("Id")?;
        w.leaf("Ccy", head.currency.as_str())?;
        w.close("Acct")?;
        w.balance("OPBD", &head.opening_booked)?;
        w.balance("CLBD", &head.closing_booked)?;
        Ok(StatementWriter { out })
    }

    /// Writes one booked entry.
    pub fn entry(&mut self, entry: &StatementEntry) -> io::Result<()> {
        let mut w = W {
            out: &mut self.out,
            indent: 3,
        };
        w.open("Ntry")?;
        w.opt("NtryRef", s35(&entry.entry_reference))?;
        w.amount("Amt", &entry.amount)?;
        w.leaf("CdtDbtInd", entry.credit_debit.code())?;
        w.open("Sts")?;
        w.leaf("Cd", "BOOK")?;
        w.close("Sts")?;
        w.date("BookgDt", &entry.booking_date)?;
        w.date("ValDt", &entry.value_date)?;
        w.opt("AcctSvcrRef", s35(&entry.account_servicer_reference))?;
        let code = &entry.bank_transaction_code;
        w.open("BkTxCd")?;
        if let Some((domain, family, sub_family)) = &code.domain {
            w.open("Domn")?;
            w.leaf("Cd", domain.as_str())?;
            w.open("Fmly")?;
            w.leaf("Cd", family.as_str())?;
            w.leaf("SubFmlyCd", sub_family.as_str())?;
            w.close("Fmly")?;
            w.close("Domn")?;
        }
        if let Some((proprietary, issuer)) = &code.proprietary {
            w.open("Prtry")?;
            w.leaf("Cd", proprietary.as_str())?;
            w.opt("Issr", s35(issuer))?;
            w.close("Prtry")?;
        }
        w.close("BkTxCd")?;
        let references = &entry.references;
        if *references != EntryTransactionReferences::default() {
            w.open("NtryDtls")?;
            w.open("TxDtls")?;
            w.open("Refs")?;
            w.opt("MsgId", s35(&references.message_id))?;
            w.opt("AcctSvcrRef", s35(&references.account_servicer_reference))?;
            w.opt("InstrId", s35(&references.instruction_id))?;
            w.opt("EndToEndId", s35(&references.end_to_end_id))?;
            w.opt("UETR", references.uetr.as_ref().map(|uetr| uetr.as_str()))?;
            w.opt("TxId", s35(&references.transaction_id))?;
            w.close("Refs")?;
            w.close("TxDtls")?;
            w.close("NtryDtls")?;
        }
        w.opt(
            "AddtlNtryInf",
            entry.additional_info.as_ref().map(|info| info.as_str()),
        )?;
        w.close("Ntry")
    }

    /// Closes the document and hands the output back (unflushed).
    pub fn finish(mut self) -> io::Result<O> {
        let mut w = W {
            out: &mut self.out,
            indent: 2,
        };
        w.close("Stmt")?;
        w.close("BkToCstmrStmt")?;
        writeln!(self.out, "</Document>")?;
        Ok(self.out)
    }
}

/// Writes a whole camt.053.001.08 statement: [`StatementWriter`] over `entries`.
pub fn write_camt053(
    head: &StatementHead,
    entries: &[StatementEntry],
    out: impl Write,
) -> io::Result<()> {
    let mut writer = StatementWriter::start(head, out)?;
    for entry in entries {
        writer.entry(entry)?;
    }
    writer.finish().map(drop)
}
