//! Credit transfers (pacs.008 and pain.001 `CdtTrfTxInf`) built directly while streaming,
//! without the per-unit tree: a static plan of the element paths the typed layer reads
//! (relative to `CdtTrfTxInf`) gives each open element a plan node, and a leaf with a
//! plan node stores its value straight into the transfer under construction.
//!
//! The plan reads what the tree-based extraction of `model.rs` reads for the other units
//! (`Ex::agent`, `Ex::party`, `Ex::account`): the first occurrence wins where a tree query
//! takes the first child; `BICFI`/`BIC`, `AnyBIC`/`BICOrBEI`, `Pty`/`Agt` and
//! `PstlAdr/Ctry` before `CtryOfRes` as there. Conversion errors are collected apart and
//! appended when the transaction ends, after the schema errors, deduplicated by path, as
//! the tree-based extraction did (checked equal on every sample and invalid file, and on
//! each of their text values replaced in turn, before it was removed).

use crate::error::{Error, ErrorKind};
use crate::model::{Account, AccountId, Agent, CreditTransfer, Party, PaymentInfo};
use crate::tree::trim_ws;
use crate::types::{Amount, Bic, CurrencyCode, Iban, IsoDate, Uetr};
use std::sync::{Arc, OnceLock};

/// No plan node: the element and everything below it are not read.
pub(crate) const NO_PLAN: u16 = u16::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ag {
    DbtrAgt,
    CdtrAgt,
    InstgAgt,
    InstdAgt,
    /// `Dbtr/Agt` (a party given as an agent).
    Dbtr,
    /// `Cdtr/Agt`.
    Cdtr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pt {
    Dbtr,
    Cdtr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum F {
    /// An element on the way to a value.
    Pass,
    InstrId,
    EndToEndId,
    TxId,
    Uetr,
    IntrBkSttlmAmt,
    IntrBkSttlmDt,
    InstdAmt,
    ChrgBr,
    Purp,
    /// `RmtInf` starts (only the first one's `Ustrd` are read).
    RmtOpen,
    Ustrd,
    /// The element starts an agent (present even if empty).
    AgentOpen(Ag),
    AgentBic(Ag),
    AgentMmbId(Ag),
    AgentLei(Ag),
    AgentNm(Ag),
    AgentOthrId(Ag),
    PartyOpen(Pt),
    PartyNm(Pt),
    PartyBic(Pt),
    PartyLei(Pt),
    PartyOthrId(Pt),
    PartyCtry(Pt),
    PartyCtryOfRes(Pt),
    AcctIban(Pt),
    AcctOthrId(Pt),
    AcctCcy(Pt),
    AcctNm(Pt),
}

#[derive(Debug)]
pub(crate) struct PNode {
    pub name: &'static str,
    pub f: F,
    kids: Vec<u16>,
}

#[derive(Debug, Default)]
pub(crate) struct Plan {
    nodes: Vec<PNode>,
}

impl Plan {
    fn add(&mut self, parent: Option<u16>, name: &'static str, f: F) -> u16 {
        let id = self.nodes.len() as u16;
        self.nodes.push(PNode {
            name,
            f,
            kids: vec![],
        });
        if let Some(p) = parent {
            self.nodes[p as usize].kids.push(id);
        }
        id
    }

    fn agent(&mut self, n: u16, a: Ag) {
        let fi = self.add(Some(n), "FinInstnId", F::Pass);
        self.add(Some(fi), "BICFI", F::AgentBic(a));
        self.add(Some(fi), "BIC", F::AgentBic(a));
        let c = self.add(Some(fi), "ClrSysMmbId", F::Pass);
        self.add(Some(c), "MmbId", F::AgentMmbId(a));
        self.add(Some(fi), "LEI", F::AgentLei(a));
        self.add(Some(fi), "Nm", F::AgentNm(a));
        let o = self.add(Some(fi), "Othr", F::Pass);
        self.add(Some(o), "Id", F::AgentOthrId(a));
    }

    fn party_core(&mut self, n: u16, p: Pt) {
        self.add(Some(n), "Nm", F::PartyNm(p));
        let id = self.add(Some(n), "Id", F::Pass);
        let org = self.add(Some(id), "OrgId", F::Pass);
        self.add(Some(org), "AnyBIC", F::PartyBic(p));
        self.add(Some(org), "BICOrBEI", F::PartyBic(p));
        self.add(Some(org), "LEI", F::PartyLei(p));
        let o = self.add(Some(org), "Othr", F::Pass);
        self.add(Some(o), "Id", F::PartyOthrId(p));
        let prv = self.add(Some(id), "PrvtId", F::Pass);
        let o = self.add(Some(prv), "Othr", F::Pass);
        self.add(Some(o), "Id", F::PartyOthrId(p));
        let adr = self.add(Some(n), "PstlAdr", F::Pass);
        self.add(Some(adr), "Ctry", F::PartyCtry(p));
        self.add(Some(n), "CtryOfRes", F::PartyCtryOfRes(p));
    }

    fn party(&mut self, parent: u16, name: &'static str, p: Pt, a: Ag) {
        let n = self.add(Some(parent), name, F::PartyOpen(p));
        self.party_core(n, p);
        let agt = self.add(Some(n), "Agt", F::AgentOpen(a));
        self.agent(agt, a);
        let pty = self.add(Some(n), "Pty", F::Pass);
        self.party_core(pty, p);
    }

    fn account(&mut self, parent: u16, name: &'static str, p: Pt) {
        let n = self.add(Some(parent), name, F::Pass);
        let id = self.add(Some(n), "Id", F::Pass);
        self.add(Some(id), "IBAN", F::AcctIban(p));
        let o = self.add(Some(id), "Othr", F::Pass);
        self.add(Some(o), "Id", F::AcctOthrId(p));
        self.add(Some(n), "Ccy", F::AcctCcy(p));
        self.add(Some(n), "Nm", F::AcctNm(p));
    }

    fn credit_transfer() -> Plan {
        let mut p = Plan::default();
        let r = p.add(None, "CdtTrfTxInf", F::Pass);
        let id = p.add(Some(r), "PmtId", F::Pass);
        p.add(Some(id), "InstrId", F::InstrId);
        p.add(Some(id), "EndToEndId", F::EndToEndId);
        p.add(Some(id), "TxId", F::TxId);
        p.add(Some(id), "UETR", F::Uetr);
        p.add(Some(r), "IntrBkSttlmAmt", F::IntrBkSttlmAmt);
        p.add(Some(r), "IntrBkSttlmDt", F::IntrBkSttlmDt);
        p.add(Some(r), "InstdAmt", F::InstdAmt);
        let amt = p.add(Some(r), "Amt", F::Pass);
        p.add(Some(amt), "InstdAmt", F::InstdAmt);
        let eqvt = p.add(Some(amt), "EqvtAmt", F::Pass);
        p.add(Some(eqvt), "Amt", F::InstdAmt);
        p.add(Some(r), "ChrgBr", F::ChrgBr);
        for (name, a) in [
            ("InstgAgt", Ag::InstgAgt),
            ("InstdAgt", Ag::InstdAgt),
            ("DbtrAgt", Ag::DbtrAgt),
            ("CdtrAgt", Ag::CdtrAgt),
        ] {
            let n = p.add(Some(r), name, F::AgentOpen(a));
            p.agent(n, a);
        }
        p.party(r, "Dbtr", Pt::Dbtr, Ag::Dbtr);
        p.party(r, "Cdtr", Pt::Cdtr, Ag::Cdtr);
        p.account(r, "DbtrAcct", Pt::Dbtr);
        p.account(r, "CdtrAcct", Pt::Cdtr);
        let purp = p.add(Some(r), "Purp", F::Pass);
        p.add(Some(purp), "Cd", F::Purp);
        p.add(Some(purp), "Prtry", F::Purp);
        let rmt = p.add(Some(r), "RmtInf", F::RmtOpen);
        p.add(Some(rmt), "Ustrd", F::Ustrd);
        p
    }

    /// The plan of a credit transfer; node 0 is `CdtTrfTxInf`.
    pub(crate) fn ct() -> &'static Plan {
        static P: OnceLock<Plan> = OnceLock::new();
        P.get_or_init(Plan::credit_transfer)
    }

    /// The plan node of child `name` of plan node `parent`, or [`NO_PLAN`].
    #[inline]
    pub(crate) fn child(&self, parent: u16, name: &str) -> u16 {
        if parent == NO_PLAN {
            return NO_PLAN;
        }
        for &k in &self.nodes[parent as usize].kids {
            if crate::tree::same(self.nodes[k as usize].name, name) {
                return k;
            }
        }
        NO_PLAN
    }

    /// Number of plan nodes.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    #[inline]
    pub(crate) fn f(&self, node: u16) -> F {
        self.nodes[node as usize].f
    }
}

#[derive(Debug, Default)]
struct AccountB {
    id: Option<AccountId>,
    currency: Option<CurrencyCode>,
    name: Option<String>,
    /// The IBAN failed its conversion: no account.
    failed: bool,
}

/// A credit transfer under construction.
#[derive(Debug, Default)]
pub(crate) struct CtBuild {
    pub ct: CreditTransfer,
    ctry_of_res: [Option<String>; 2],
    accounts: [AccountB; 2],
    /// Conversion errors, appended when the transaction ends.
    pub errs: Vec<Error>,
    /// `RmtInf` seen (only the first one's `Ustrd` are read).
    rmt_seen: u32,
    /// `ct` is the default value (taken by `finish`): `reset` need not write it again.
    fresh: bool,
}

fn set<T>(slot: &mut Option<T>, v: impl FnOnce() -> Option<T>) {
    if slot.is_none() {
        *slot = v();
    }
}

/// Rules of the typed layer that a value passed by passing its schema type.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Checked {
    /// IBAN pattern and mod-97.
    pub iban: bool,
    /// [`Bic::new`].
    pub bic: bool,
    /// [`Uetr::new`].
    pub uetr: bool,
}

/// What the reader knows about a leaf it checked.
pub(crate) struct Leaf<'a> {
    /// The element's text as read (untrimmed).
    pub text: &'a str,
    /// Its `Ccy` attribute.
    pub ccy: Option<&'a str>,
    /// The amount the reader parsed and checked.
    pub amount: Option<Amount>,
    /// What the reader's check of the value already guarantees.
    pub checked: Checked,
    /// Path of the element, for conversion errors.
    pub path: crate::reader::PathRef<'a>,
}

impl CtBuild {
    pub(crate) fn reset(&mut self) {
        // (a transfer is about 1.4 KB: not rewritten when `finish` left the default)
        if !self.fresh {
            self.ct = CreditTransfer::default();
        }
        self.fresh = false;
        self.ctry_of_res = [None, None];
        self.accounts = Default::default();
        self.errs.clear();
        self.rmt_seen = 0;
    }

    fn fail(&mut self, path: String, k: ErrorKind) {
        if !self.errs.iter().any(|e| e.path == path) {
            self.errs.push(Error::new(path, k));
        }
    }

    fn conv<T>(&mut self, l: &Leaf<'_>, f: impl FnOnce(&str) -> Result<T, ErrorKind>) -> Option<T> {
        match f(trim_ws(l.text)) {
            Ok(v) => Some(v),
            Err(k) => {
                self.fail(l.path.render(), k);
                None
            }
        }
    }

    fn agent(&mut self, a: Ag) -> &mut Option<Agent> {
        let ct = &mut self.ct;
        match a {
            Ag::DbtrAgt => &mut ct.debtor_agent,
            Ag::CdtrAgt => &mut ct.creditor_agent,
            Ag::InstgAgt => &mut ct.instructing_agent,
            Ag::InstdAgt => &mut ct.instructed_agent,
            Ag::Dbtr => &mut ct.debtor.get_or_insert_with(Party::default).agent,
            Ag::Cdtr => &mut ct.creditor.get_or_insert_with(Party::default).agent,
        }
    }

    fn agent_mut(&mut self, a: Ag) -> &mut Agent {
        self.agent(a).get_or_insert_with(Agent::default)
    }

    fn party(&mut self, p: Pt) -> &mut Party {
        match p {
            Pt::Dbtr => &mut self.ct.debtor,
            Pt::Cdtr => &mut self.ct.creditor,
        }
        .get_or_insert_with(Party::default)
    }

    /// An element with plan node action `f` starts.
    #[inline]
    pub(crate) fn open(&mut self, f: F) {
        match f {
            F::AgentOpen(a) => {
                let s = self.agent(a);
                if s.is_none() {
                    *s = Some(Agent::default());
                }
            }
            F::PartyOpen(p) => {
                self.party(p);
            }
            F::RmtOpen => self.rmt_seen += 1,
            _ => {}
        }
    }

    /// A leaf with plan node action `f` ends, its value checked by the reader.
    pub(crate) fn leaf(&mut self, f: F, l: &Leaf<'_>) {
        let owned = || Some(trim_ws(l.text).to_owned());
        match f {
            F::Pass | F::AgentOpen(_) | F::PartyOpen(_) | F::RmtOpen => {}
            F::InstrId => set(&mut self.ct.instruction_id, owned),
            F::EndToEndId => {
                if self.ct.end_to_end_id.is_empty() {
                    self.ct.end_to_end_id = trim_ws(l.text).to_owned();
                }
            }
            F::TxId => set(&mut self.ct.transaction_id, owned),
            F::Uetr => {
                if self.ct.uetr.is_none() {
                    self.ct.uetr = if l.checked.uetr {
                        Some(Uetr::checked(l.text))
                    } else {
                        self.conv(l, Uetr::new)
                    };
                }
            }
            F::IntrBkSttlmAmt => {
                if self.ct.interbank_settlement_amount.is_none() {
                    self.ct.interbank_settlement_amount = self.amount(l);
                }
            }
            F::InstdAmt => {
                if self.ct.instructed_amount.is_none() {
                    self.ct.instructed_amount = self.amount(l);
                }
            }
            F::IntrBkSttlmDt => {
                if self.ct.interbank_settlement_date.is_none() {
                    self.ct.interbank_settlement_date = self.conv(l, IsoDate::parse);
                }
            }
            F::ChrgBr => set(&mut self.ct.charge_bearer, owned),
            F::Purp => set(&mut self.ct.purpose, owned),
            F::Ustrd => {
                if self.rmt_seen == 1 {
                    self.ct.remittance_unstructured.push(l.text.to_owned());
                }
            }
            F::AgentBic(a) => {
                if self.agent_mut(a).bic.is_none() {
                    let b = self.bic(l);
                    self.agent_mut(a).bic = b;
                }
            }
            F::AgentMmbId(a) => set(&mut self.agent_mut(a).clearing_system_member_id, owned),
            F::AgentLei(a) => set(&mut self.agent_mut(a).lei, owned),
            F::AgentNm(a) => set(&mut self.agent_mut(a).name, owned),
            F::AgentOthrId(a) => set(&mut self.agent_mut(a).other_id, owned),
            F::PartyNm(p) => set(&mut self.party(p).name, owned),
            F::PartyBic(p) => {
                if self.party(p).bic.is_none() {
                    let b = self.bic(l);
                    self.party(p).bic = b;
                }
            }
            F::PartyLei(p) => set(&mut self.party(p).lei, owned),
            F::PartyOthrId(p) => set(&mut self.party(p).other_id, owned),
            F::PartyCtry(p) => set(&mut self.party(p).country, owned),
            F::PartyCtryOfRes(p) => set(&mut self.ctry_of_res[p as usize], owned),
            F::AcctIban(p) => {
                if self.accounts[p as usize].id.is_none() && !self.accounts[p as usize].failed {
                    let id = if l.checked.iban {
                        Some(Iban::checked(l.text))
                    } else {
                        self.conv(l, Iban::new)
                    };
                    let b = &mut self.accounts[p as usize];
                    match id {
                        Some(i) => b.id = Some(AccountId::Iban(i)),
                        // an IBAN that fails leaves no account, as in the tree-based
                        // extraction
                        None => b.failed = true,
                    }
                }
            }
            F::AcctOthrId(p) => {
                let b = &mut self.accounts[p as usize];
                if b.id.is_none() && !b.failed {
                    b.id = Some(AccountId::Other(trim_ws(l.text).to_owned()));
                }
            }
            F::AcctCcy(p) => {
                if self.accounts[p as usize].currency.is_none() {
                    let c = self.conv(l, CurrencyCode::new);
                    self.accounts[p as usize].currency = c;
                }
            }
            F::AcctNm(p) => set(&mut self.accounts[p as usize].name, owned),
        }
    }

    fn bic(&mut self, l: &Leaf<'_>) -> Option<Bic> {
        if l.checked.bic {
            // the schema pattern admits no whitespace: the text is the trimmed text
            Some(Bic::checked(l.text))
        } else {
            self.conv(l, Bic::new)
        }
    }

    fn amount(&mut self, l: &Leaf<'_>) -> Option<Amount> {
        if let Some(a) = l.amount {
            return Some(a);
        }
        let ccy = l.ccy.unwrap_or("");
        self.conv(l, |t| Amount::parse(ccy, t))
    }

    /// The finished transfer, with its pain.001 `PmtInf` context.
    pub(crate) fn finish(&mut self, index: u64, pmt: Option<&Arc<PaymentInfo>>) -> CreditTransfer {
        // completed in place and moved out once (a transfer is about 1.4 KB)
        let ct = &mut self.ct;
        ct.index = index;
        ct.payment_info = pmt.cloned();
        for (p, party) in [(0, &mut ct.debtor), (1, &mut ct.creditor)] {
            if let Some(party) = party {
                if party.agent.is_some() {
                    // a party given as an agent carries only the agent
                    *party = Party {
                        agent: party.agent.take(),
                        ..Party::default()
                    };
                } else if party.country.is_none() {
                    party.country = self.ctry_of_res[p].take();
                }
            }
        }
        for (p, acct) in [(0, &mut ct.debtor_account), (1, &mut ct.creditor_account)] {
            let b = std::mem::take(&mut self.accounts[p]);
            if let (Some(id), false) = (b.id, b.failed) {
                *acct = Some(Account {
                    id,
                    currency: b.currency,
                    name: b.name,
                });
            }
        }
        if let Some(pi) = pmt {
            if ct.debtor.is_none() {
                ct.debtor = pi.debtor.clone();
            }
            if ct.debtor_account.is_none() {
                ct.debtor_account = pi.debtor_account.clone();
            }
            if ct.debtor_agent.is_none() {
                ct.debtor_agent = pi.debtor_agent.clone();
            }
            if ct.charge_bearer.is_none() {
                ct.charge_bearer = pi.charge_bearer.clone();
            }
            ct.requested_execution_date = pi.requested_execution_date;
        }
        self.fresh = true;
        std::mem::take(&mut self.ct)
    }
}
