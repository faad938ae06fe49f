//! The typed values the reader yields, and their extraction from a unit's tree.
//! Version differences are handled here, once per message: e.g. `BIC` vs `BICFI`,
//! `ReqdExctnDt` as a date or as a `Dt`/`DtTm` choice, `Sts` as text or as `Cd`,
//! `Dbtr` as a party or as `Pty`/`Agt`, UETR present only from some versions.

use crate::error::{Error, ErrorKind};
use crate::tree::N;
use crate::types::{Amount, Bic, CurrencyCode, Iban, IsoDate, IsoDateTime, Uetr};
use rust_decimal::Decimal;
use std::sync::Arc;

/// The message types this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageFamily {
    /// pacs.008 FI-to-FI customer credit transfer.
    Pacs008,
    /// pain.001 customer credit transfer initiation (including national variants).
    Pain001,
    /// pacs.002 FI-to-FI payment status report.
    Pacs002,
    /// pacs.004 payment return.
    Pacs004,
    /// camt.053 bank-to-customer statement.
    Camt053,
    /// camt.054 bank-to-customer debit/credit notification.
    Camt054,
    /// pain.002 customer payment status report.
    Pain002,
}

/// Message type and version, detected from the Document's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageKind {
    /// The family.
    pub family: MessageFamily,
    /// The message identifier, e.g. `pacs.008.001.08` or `pain.001.001.03.ch.02`.
    pub id: &'static str,
    /// The Document's namespace.
    pub namespace: &'static str,
}

impl MessageKind {
    /// The version number (`8` for `pacs.008.001.08`).
    pub fn version(&self) -> u32 {
        self.id
            .split('.')
            .nth(3)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// A financial institution (agent): `FinInstnId` with BIC (`BIC` or `BICFI`), clearing
/// system member id, LEI, name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Agent {
    pub bic: Option<Bic>,
    pub clearing_system_member_id: Option<String>,
    pub lei: Option<String>,
    pub name: Option<String>,
    pub other_id: Option<String>,
}

/// A party (debtor, creditor, initiating party, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Party {
    pub name: Option<String>,
    /// `OrgId/AnyBIC` (or `BICOrBEI` in older versions).
    pub bic: Option<Bic>,
    pub lei: Option<String>,
    /// First `OrgId/Othr/Id` or `PrvtId/Othr/Id`.
    pub other_id: Option<String>,
    /// `PstlAdr/Ctry`.
    pub country: Option<String>,
    /// When the party is given as an agent (`Party40Choice/Agt` in pacs.004).
    pub agent: Option<Agent>,
}

/// An account identification: IBAN or other (`Othr/Id`, Max34Text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountId {
    Iban(Iban),
    Other(String),
}

/// A cash account.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Account {
    pub id: AccountId,
    pub currency: Option<CurrencyCode>,
    pub name: Option<String>,
}

/// The Business Application Header (head.001).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppHeader {
    /// head.001 version, e.g. `head.001.001.02`.
    pub version: &'static str,
    pub from: Agent,
    pub to: Agent,
    pub business_message_id: String,
    pub message_definition_id: String,
    pub business_service: Option<String>,
    pub creation_date: Option<IsoDateTime>,
    pub possible_duplicate: bool,
}

/// The group header (`GrpHdr`) with the fields the ledger uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GroupHeader {
    pub message_id: String,
    pub creation_date_time: Option<IsoDateTime>,
    pub number_of_transactions: Option<u64>,
    pub control_sum: Option<Decimal>,
    pub total_interbank_settlement_amount: Option<Amount>,
    pub interbank_settlement_date: Option<IsoDate>,
    pub settlement_method: Option<String>,
    pub initiating_party: Option<Party>,
    pub instructing_agent: Option<Agent>,
    pub instructed_agent: Option<Agent>,
    /// pacs.002.001.03 and older-style reports can carry a group status here.
    pub group_status: Option<String>,
}

/// pain.001 `PmtInf` context shared by its transactions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PaymentInfo {
    pub payment_info_id: String,
    pub payment_method: Option<String>,
    pub number_of_transactions: Option<u64>,
    pub control_sum: Option<Decimal>,
    pub requested_execution_date: Option<IsoDate>,
    pub requested_execution_date_time: Option<IsoDateTime>,
    pub debtor: Option<Party>,
    pub debtor_account: Option<Account>,
    pub debtor_agent: Option<Agent>,
    pub charge_bearer: Option<String>,
}

/// One credit transfer: a pacs.008 `CdtTrfTxInf`, or a pain.001 `CdtTrfTxInf` flattened
/// with its `PmtInf` context (debtor, account, agent and dates are filled from `PmtInf`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CreditTransfer {
    /// 1-based position in the message.
    pub index: u64,
    pub payment_info: Option<Arc<PaymentInfo>>,
    pub instruction_id: Option<String>,
    pub end_to_end_id: String,
    pub transaction_id: Option<String>,
    pub uetr: Option<Uetr>,
    pub interbank_settlement_amount: Option<Amount>,
    pub interbank_settlement_date: Option<IsoDate>,
    pub instructed_amount: Option<Amount>,
    pub charge_bearer: Option<String>,
    pub debtor: Option<Party>,
    pub debtor_account: Option<Account>,
    pub debtor_agent: Option<Agent>,
    pub creditor: Option<Party>,
    pub creditor_account: Option<Account>,
    pub creditor_agent: Option<Agent>,
    pub instructing_agent: Option<Agent>,
    pub instructed_agent: Option<Agent>,
    pub purpose: Option<String>,
    pub remittance_unstructured: Vec<String>,
    /// Requested execution date (pain.001, from PmtInf).
    pub requested_execution_date: Option<IsoDate>,
}

impl CreditTransfer {
    /// The amount that moves: interbank settlement amount (pacs.008) or instructed
    /// amount (pain.001).
    pub fn amount(&self) -> Option<Amount> {
        self.interbank_settlement_amount.or(self.instructed_amount)
    }
}

/// A status reason (`StsRsnInf` / `RtrRsnInf`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Reason {
    pub code: Option<String>,
    pub proprietary: Option<String>,
    pub additional_info: Vec<String>,
}

/// pacs.002 / pain.002 `OrgnlGrpInfAndSts`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GroupStatus {
    pub original_message_id: String,
    pub original_message_name_id: String,
    pub original_creation_date_time: Option<IsoDateTime>,
    pub group_status: Option<String>,
    pub reasons: Vec<Reason>,
}

/// pacs.002 / pain.002 `TxInfAndSts`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TransactionStatus {
    pub index: u64,
    pub status_id: Option<String>,
    /// `OrgnlGrpInf` of this transaction (from .10), or of the report otherwise.
    pub original_message_id: Option<String>,
    pub original_message_name_id: Option<String>,
    /// pain.002: the `OrgnlPmtInfId` of the enclosing `OrgnlPmtInfAndSts`.
    pub original_payment_info_id: Option<String>,
    pub original_instruction_id: Option<String>,
    pub original_end_to_end_id: Option<String>,
    pub original_transaction_id: Option<String>,
    pub original_uetr: Option<Uetr>,
    pub status: Option<String>,
    pub reasons: Vec<Reason>,
    pub acceptance_date_time: Option<IsoDateTime>,
    pub instructing_agent: Option<Agent>,
    pub instructed_agent: Option<Agent>,
    /// `OrgnlTxRef/IntrBkSttlmAmt`, when given.
    pub original_interbank_settlement_amount: Option<Amount>,
}

/// pacs.004 `TxInf`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PaymentReturn {
    pub index: u64,
    pub return_id: Option<String>,
    pub original_message_id: Option<String>,
    pub original_message_name_id: Option<String>,
    pub original_instruction_id: Option<String>,
    pub original_end_to_end_id: Option<String>,
    pub original_transaction_id: Option<String>,
    pub original_uetr: Option<Uetr>,
    pub original_interbank_settlement_amount: Option<Amount>,
    pub returned_interbank_settlement_amount: Option<Amount>,
    pub interbank_settlement_date: Option<IsoDate>,
    pub return_reasons: Vec<Reason>,
    pub debtor: Option<Party>,
    pub debtor_account: Option<Account>,
    pub debtor_agent: Option<Agent>,
    pub creditor: Option<Party>,
    pub creditor_account: Option<Account>,
    pub creditor_agent: Option<Agent>,
    pub instructing_agent: Option<Agent>,
    pub instructed_agent: Option<Agent>,
}

/// Credit or debit (`CdtDbtInd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreditDebit {
    Credit,
    Debit,
}

impl CreditDebit {
    fn parse(s: Option<&str>) -> Option<Self> {
        match s? {
            "CRDT" => Some(CreditDebit::Credit),
            "DBIT" => Some(CreditDebit::Debit),
            _ => None,
        }
    }
}

/// A statement balance (`Bal`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Balance {
    /// `Tp/CdOrPrtry/Cd` (OPBD, CLBD, ...) or the proprietary code.
    pub type_code: String,
    pub amount: Option<Amount>,
    /// Absent in some real files (lenient: see README).
    pub credit_debit: Option<CreditDebit>,
    pub date: Option<IsoDate>,
}

/// camt.053 `Stmt` / camt.054 `Ntfctn` header (everything before its entries).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Statement {
    pub id: String,
    pub electronic_sequence_number: Option<String>,
    pub creation_date_time: Option<IsoDateTime>,
    pub account: Option<Account>,
    pub account_owner: Option<Party>,
    pub account_servicer: Option<Agent>,
    pub balances: Vec<Balance>,
}

/// References of one entry detail (`NtryDtls/TxDtls`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EntryDetail {
    pub message_id: Option<String>,
    pub account_servicer_reference: Option<String>,
    pub payment_info_id: Option<String>,
    pub instruction_id: Option<String>,
    pub end_to_end_id: Option<String>,
    pub transaction_id: Option<String>,
    pub uetr: Option<Uetr>,
    pub amount: Option<Amount>,
    pub credit_debit: Option<CreditDebit>,
    pub debtor_name: Option<String>,
    pub debtor_account: Option<Account>,
    pub creditor_name: Option<String>,
    pub creditor_account: Option<Account>,
    pub remittance_unstructured: Vec<String>,
    pub return_reason: Option<String>,
}

/// One statement or notification entry (`Ntry`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Entry {
    pub index: u64,
    /// `Stmt/Id` or `Ntfctn/Id` of the enclosing statement.
    pub statement_id: String,
    pub entry_reference: Option<String>,
    pub amount: Option<Amount>,
    pub credit_debit: Option<CreditDebit>,
    pub reversal: bool,
    /// BOOK, PDNG, INFO, FUTR (text form up to .06, `Cd` from .07).
    pub status: Option<String>,
    pub booking_date: Option<IsoDate>,
    pub value_date: Option<IsoDate>,
    pub account_servicer_reference: Option<String>,
    /// `BkTxCd/Domn/Cd`, `Fmly/Cd`, `SubFmlyCd` joined with `/`, or `Prtry/Cd`.
    pub bank_transaction_code: Option<String>,
    pub details: Vec<EntryDetail>,
    pub additional_info: Option<String>,
}

/// One item of a message's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transaction {
    /// pacs.008 / pain.001.
    CreditTransfer(CreditTransfer),
    /// pacs.002 / pain.002 group status (`OrgnlGrpInfAndSts`).
    GroupStatus(GroupStatus),
    /// pacs.002 / pain.002 transaction status (`TxInfAndSts`).
    TransactionStatus(TransactionStatus),
    /// pacs.004.
    PaymentReturn(PaymentReturn),
    /// camt.053 / camt.054: a statement header, before its entries.
    Statement(Statement),
    /// camt.053 / camt.054: an entry of the last statement.
    Entry(Entry),
}

// ---------------------------------------------------------------------------------------
// extraction

/// Collects conversion errors of the typed layer (rare: the schema layer already checked
/// the same values).
pub(crate) struct Ex<'e> {
    pub errs: &'e mut Vec<Error>,
}

impl Ex<'_> {
    fn fail(&mut self, n: N<'_>, k: ErrorKind) {
        // the schema layer usually reported the same value already
        let path = n.path();
        if !self.errs.iter().any(|e| e.path == path) {
            self.errs.push(Error::new(path, k));
        }
    }
    fn conv<T>(
        &mut self,
        n: Option<N<'_>>,
        f: impl FnOnce(&str) -> Result<T, ErrorKind>,
    ) -> Option<T> {
        let n = n?;
        let t = crate::tree::trim_ws(n.text());
        match f(t) {
            Ok(v) => Some(v),
            Err(k) => {
                self.fail(n, k);
                None
            }
        }
    }
    pub fn bic(&mut self, n: Option<N<'_>>) -> Option<Bic> {
        self.conv(n, Bic::new)
    }
    pub fn uetr(&mut self, n: Option<N<'_>>) -> Option<Uetr> {
        self.conv(n, Uetr::new)
    }
    pub fn date(&mut self, n: Option<N<'_>>) -> Option<IsoDate> {
        self.conv(n, IsoDate::parse)
    }
    pub fn datetime(&mut self, n: Option<N<'_>>) -> Option<IsoDateTime> {
        self.conv(n, IsoDateTime::parse)
    }
    /// A `Dt` / `DtTm` choice (or a plain date), as a date.
    pub fn date_choice(&mut self, n: Option<N<'_>>) -> Option<IsoDate> {
        let n = n?;
        if let Some(d) = n.child("Dt") {
            return self.date(Some(d));
        }
        if let Some(d) = n.child("DtTm") {
            return self.datetime(Some(d)).map(|d| d.date());
        }
        if n.first_is_leaf() {
            return self.date(Some(n));
        }
        None
    }
    pub fn amount(&mut self, n: Option<N<'_>>) -> Option<Amount> {
        let n = n?;
        if let Some(a) = n.checked_amount() {
            return Some(a);
        }
        let ccy = n.ccy();
        self.conv(Some(n), |t| Amount::parse(ccy, t))
    }
    pub fn decimal(&mut self, n: Option<N<'_>>) -> Option<Decimal> {
        self.conv(n, |t| {
            crate::types::parse_decimal(t, Some(18), Some(17), false)
        })
    }
    pub fn count(&mut self, n: Option<N<'_>>) -> Option<u64> {
        self.conv(n, |t| {
            t.parse::<u64>()
                .map_err(|_| ErrorKind::invalid("Max15NumericText", t))
        })
    }
    pub fn agent(&mut self, n: Option<N<'_>>) -> Option<Agent> {
        let n = n?;
        let f = n.child("FinInstnId").unwrap_or(n);
        Some(Agent {
            bic: self.bic(f.child("BICFI").or_else(|| f.child("BIC"))),
            clearing_system_member_id: f.string(&["ClrSysMmbId", "MmbId"]),
            lei: f.string(&["LEI"]),
            name: f.string(&["Nm"]),
            other_id: f.string(&["Othr", "Id"]),
        })
    }
    pub fn party(&mut self, n: Option<N<'_>>) -> Option<Party> {
        let mut n = n?;
        if let Some(agt) = n.child("Agt") {
            return Some(Party {
                agent: self.agent(Some(agt)),
                ..Party::default()
            });
        }
        if let Some(p) = n.child("Pty") {
            n = p;
        }
        let org = n.at(&["Id", "OrgId"]);
        let prv = n.at(&["Id", "PrvtId"]);
        let bic = org.and_then(|o| o.child("AnyBIC").or_else(|| o.child("BICOrBEI")));
        let other = org
            .and_then(|o| o.s(&["Othr", "Id"]))
            .or_else(|| prv.and_then(|p| p.s(&["Othr", "Id"])));
        Some(Party {
            name: n.string(&["Nm"]),
            bic: self.bic(bic),
            lei: org.and_then(|o| o.string(&["LEI"])),
            other_id: other.map(str::to_owned),
            country: n
                .string(&["PstlAdr", "Ctry"])
                .or_else(|| n.string(&["CtryOfRes"])),
            agent: None,
        })
    }
    pub fn account(&mut self, n: Option<N<'_>>) -> Option<Account> {
        let n = n?;
        let id = n.child("Id")?;
        let id = if let Some(i) = id.child("IBAN") {
            AccountId::Iban(if i.iban_ok() {
                Iban::checked(i.text())
            } else {
                self.conv(Some(i), Iban::new)?
            })
        } else {
            AccountId::Other(id.string(&["Othr", "Id"])?)
        };
        Some(Account {
            id,
            currency: self.conv(n.child("Ccy"), CurrencyCode::new),
            name: n.string(&["Nm"]),
        })
    }
    pub fn reasons(&mut self, n: N<'_>, name: &'static str) -> Vec<Reason> {
        n.all(name)
            .map(|r| Reason {
                code: r.string(&["Rsn", "Cd"]),
                proprietary: r.string(&["Rsn", "Prtry"]),
                additional_info: r.all("AddtlInf").map(|a| a.text().to_owned()).collect(),
            })
            .collect()
    }
}

impl N<'_> {
    fn first_is_leaf(&self) -> bool {
        self.children().next().is_none()
    }
}

pub(crate) fn app_header(ex: &mut Ex<'_>, version: &'static str, n: N<'_>) -> AppHeader {
    let party = |ex: &mut Ex<'_>, p: Option<N<'_>>| -> Agent {
        let p = match p {
            Some(p) => p,
            None => return Agent::default(),
        };
        if let Some(fi) = p.at(&["FIId", "FinInstnId"]) {
            return ex.agent(Some(fi)).unwrap_or_default();
        }
        if let Some(o) = p.child("OrgId") {
            let pt = ex.party(Some(o)).unwrap_or_default();
            return Agent {
                bic: pt.bic,
                name: pt.name,
                lei: pt.lei,
                other_id: pt.other_id,
                clearing_system_member_id: None,
            };
        }
        Agent::default()
    };
    AppHeader {
        version,
        from: party(ex, n.child("Fr")),
        to: party(ex, n.child("To")),
        business_message_id: n.string(&["BizMsgIdr"]).unwrap_or_default(),
        message_definition_id: n.string(&["MsgDefIdr"]).unwrap_or_default(),
        business_service: n.string(&["BizSvc"]),
        creation_date: ex.datetime(n.child("CreDt")),
        possible_duplicate: n
            .s(&["PssblDplct"])
            .is_some_and(|v| v == "true" || v == "1"),
    }
}

pub(crate) fn group_header(ex: &mut Ex<'_>, n: N<'_>) -> GroupHeader {
    GroupHeader {
        message_id: n.string(&["MsgId"]).unwrap_or_default(),
        creation_date_time: ex.datetime(n.child("CreDtTm")),
        number_of_transactions: ex.count(n.child("NbOfTxs")),
        control_sum: ex.decimal(n.child("CtrlSum")),
        total_interbank_settlement_amount: ex.amount(
            n.child("TtlIntrBkSttlmAmt")
                .or_else(|| n.child("TtlRtrdIntrBkSttlmAmt")),
        ),
        interbank_settlement_date: ex.date(n.child("IntrBkSttlmDt")),
        settlement_method: n.string(&["SttlmInf", "SttlmMtd"]),
        initiating_party: ex.party(n.child("InitgPty")),
        instructing_agent: ex.agent(n.child("InstgAgt")),
        instructed_agent: ex.agent(n.child("InstdAgt")),
        group_status: n.string(&["GrpSts"]),
    }
}

pub(crate) fn payment_info(ex: &mut Ex<'_>, n: N<'_>) -> PaymentInfo {
    let reqd = n.child("ReqdExctnDt");
    PaymentInfo {
        payment_info_id: n.string(&["PmtInfId"]).unwrap_or_default(),
        payment_method: n.string(&["PmtMtd"]),
        number_of_transactions: ex.count(n.child("NbOfTxs")),
        control_sum: ex.decimal(n.child("CtrlSum")),
        requested_execution_date: ex.date_choice(reqd),
        requested_execution_date_time: ex.datetime(reqd.and_then(|r| r.child("DtTm"))),
        debtor: ex.party(n.child("Dbtr")),
        debtor_account: ex.account(n.child("DbtrAcct")),
        debtor_agent: ex.agent(n.child("DbtrAgt")),
        charge_bearer: n.string(&["ChrgBr"]),
    }
}

pub(crate) fn group_status(ex: &mut Ex<'_>, n: N<'_>) -> GroupStatus {
    GroupStatus {
        original_message_id: n.string(&["OrgnlMsgId"]).unwrap_or_default(),
        original_message_name_id: n.string(&["OrgnlMsgNmId"]).unwrap_or_default(),
        original_creation_date_time: ex.datetime(n.child("OrgnlCreDtTm")),
        group_status: n.string(&["GrpSts"]),
        reasons: ex.reasons(n, "StsRsnInf"),
    }
}

pub(crate) fn transaction_status(
    ex: &mut Ex<'_>,
    n: N<'_>,
    index: u64,
    group: Option<&(String, String)>,
    pmt_inf_id: Option<&str>,
) -> TransactionStatus {
    let og = n.child("OrgnlGrpInf");
    TransactionStatus {
        index,
        status_id: n.string(&["StsId"]),
        original_message_id: og
            .and_then(|g| g.string(&["OrgnlMsgId"]))
            .or_else(|| group.map(|g| g.0.clone())),
        original_message_name_id: og
            .and_then(|g| g.string(&["OrgnlMsgNmId"]))
            .or_else(|| group.map(|g| g.1.clone())),
        original_payment_info_id: pmt_inf_id.map(str::to_owned),
        original_instruction_id: n.string(&["OrgnlInstrId"]),
        original_end_to_end_id: n.string(&["OrgnlEndToEndId"]),
        original_transaction_id: n.string(&["OrgnlTxId"]),
        original_uetr: ex.uetr(n.child("OrgnlUETR")),
        status: n.string(&["TxSts"]),
        reasons: ex.reasons(n, "StsRsnInf"),
        acceptance_date_time: ex.datetime(n.child("AccptncDtTm")),
        instructing_agent: ex.agent(n.child("InstgAgt")),
        instructed_agent: ex.agent(n.child("InstdAgt")),
        original_interbank_settlement_amount: ex.amount(n.at(&["OrgnlTxRef", "IntrBkSttlmAmt"])),
    }
}

pub(crate) fn payment_return(
    ex: &mut Ex<'_>,
    n: N<'_>,
    index: u64,
    group: Option<&(String, String)>,
) -> PaymentReturn {
    let og = n.child("OrgnlGrpInf");
    let r = n.child("OrgnlTxRef");
    let chain = n.child("RtrChain");
    let pick = |name: &str| {
        chain
            .and_then(|c| c.child(name))
            .or_else(|| r.and_then(|r| r.child(name)))
    };
    PaymentReturn {
        index,
        return_id: n.string(&["RtrId"]),
        original_message_id: og
            .and_then(|g| g.string(&["OrgnlMsgId"]))
            .or_else(|| group.map(|g| g.0.clone())),
        original_message_name_id: og
            .and_then(|g| g.string(&["OrgnlMsgNmId"]))
            .or_else(|| group.map(|g| g.1.clone())),
        original_instruction_id: n.string(&["OrgnlInstrId"]),
        original_end_to_end_id: n.string(&["OrgnlEndToEndId"]),
        original_transaction_id: n.string(&["OrgnlTxId"]),
        original_uetr: ex.uetr(n.child("OrgnlUETR")),
        original_interbank_settlement_amount: ex.amount(n.child("OrgnlIntrBkSttlmAmt")),
        returned_interbank_settlement_amount: ex.amount(n.child("RtrdIntrBkSttlmAmt")),
        interbank_settlement_date: ex.date(n.child("IntrBkSttlmDt")),
        return_reasons: ex.reasons(n, "RtrRsnInf"),
        debtor: ex.party(pick("Dbtr")),
        debtor_account: ex.account(pick("DbtrAcct")),
        debtor_agent: ex.agent(pick("DbtrAgt")),
        creditor: ex.party(pick("Cdtr")),
        creditor_account: ex.account(pick("CdtrAcct")),
        creditor_agent: ex.agent(pick("CdtrAgt")),
        instructing_agent: ex.agent(n.child("InstgAgt")),
        instructed_agent: ex.agent(n.child("InstdAgt")),
    }
}

pub(crate) fn statement(ex: &mut Ex<'_>, n: N<'_>) -> Statement {
    Statement {
        id: n.string(&["Id"]).unwrap_or_default(),
        electronic_sequence_number: n.string(&["ElctrncSeqNb"]),
        creation_date_time: ex.datetime(n.child("CreDtTm")),
        account: ex.account(n.child("Acct")),
        account_owner: ex.party(n.at(&["Acct", "Ownr"])),
        account_servicer: ex.agent(n.at(&["Acct", "Svcr"])),
        balances: n
            .all("Bal")
            .map(|b| Balance {
                type_code: b
                    .s(&["Tp", "CdOrPrtry", "Cd"])
                    .or_else(|| b.s(&["Tp", "CdOrPrtry", "Prtry"]))
                    .unwrap_or_default()
                    .to_owned(),
                amount: ex.amount(b.child("Amt")),
                credit_debit: CreditDebit::parse(b.s(&["CdtDbtInd"])),
                date: ex.date_choice(b.child("Dt")),
            })
            .collect(),
    }
}

pub(crate) fn entry(ex: &mut Ex<'_>, n: N<'_>, index: u64, statement_id: &str) -> Entry {
    let sts = n.child("Sts");
    let status = sts.and_then(|s| {
        s.string(&["Cd"])
            .or_else(|| s.string(&["Prtry"]))
            .or_else(|| Some(s.text().trim().to_owned()).filter(|t| !t.is_empty()))
    });
    let btc = n.child("BkTxCd");
    let bank_transaction_code = btc.and_then(|b| {
        if let Some(d) = b.child("Domn") {
            Some(format!(
                "{}/{}/{}",
                d.s(&["Cd"]).unwrap_or(""),
                d.s(&["Fmly", "Cd"]).unwrap_or(""),
                d.s(&["Fmly", "SubFmlyCd"]).unwrap_or("")
            ))
        } else {
            b.string(&["Prtry", "Cd"])
        }
    });
    let mut details = vec![];
    for nd in n.all("NtryDtls") {
        for tx in nd.all("TxDtls") {
            let refs = tx.child("Refs");
            let r = |name: &str| refs.and_then(|r| r.string(&[name]));
            let amt = tx
                .child("Amt")
                .or_else(|| tx.at(&["AmtDtls", "TxAmt", "Amt"]));
            let parties = tx.child("RltdPties");
            details.push(EntryDetail {
                message_id: r("MsgId"),
                account_servicer_reference: r("AcctSvcrRef"),
                payment_info_id: r("PmtInfId"),
                instruction_id: r("InstrId"),
                end_to_end_id: r("EndToEndId"),
                transaction_id: r("TxId"),
                uetr: ex.uetr(refs.and_then(|r| r.child("UETR"))),
                amount: ex.amount(amt),
                credit_debit: CreditDebit::parse(tx.s(&["CdtDbtInd"])),
                debtor_name: parties.and_then(|p| {
                    p.string(&["Dbtr", "Nm"])
                        .or_else(|| p.string(&["Dbtr", "Pty", "Nm"]))
                }),
                debtor_account: ex.account(parties.and_then(|p| p.child("DbtrAcct"))),
                creditor_name: parties.and_then(|p| {
                    p.string(&["Cdtr", "Nm"])
                        .or_else(|| p.string(&["Cdtr", "Pty", "Nm"]))
                }),
                creditor_account: ex.account(parties.and_then(|p| p.child("CdtrAcct"))),
                remittance_unstructured: tx
                    .child("RmtInf")
                    .map(|r| r.all("Ustrd").map(|u| u.text().to_owned()).collect())
                    .unwrap_or_default(),
                return_reason: tx
                    .at(&["RtrInf", "Rsn", "Cd"])
                    .map(|c| c.text().trim().to_owned()),
            });
        }
    }
    Entry {
        index,
        statement_id: statement_id.to_owned(),
        entry_reference: n.string(&["NtryRef"]),
        amount: ex.amount(n.child("Amt")),
        credit_debit: CreditDebit::parse(n.s(&["CdtDbtInd"])),
        reversal: n.s(&["RvslInd"]).is_some_and(|v| v == "true" || v == "1"),
        status,
        booking_date: ex.date_choice(n.child("BookgDt")),
        value_date: ex.date_choice(n.child("ValDt")),
        account_servicer_reference: n.string(&["AcctSvcrRef"]),
        bank_transaction_code,
        details,
        additional_info: n.string(&["AddtlNtryInf"]),
    }
}
