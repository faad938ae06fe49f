//! The corpus's documents: a template per message type (`corpus/*.xml`, a
//! group part and a transaction part with `{{NAME}}` placeholders), the
//! values a case fills in, and the edits a mutation makes to the text.

use std::collections::BTreeMap;

/// The ledger's accounts the corpus uses (all EUR).
pub const DEBTOR_IBAN: &str = "DE89370400440532013000";
/// Forbids overdraft; credited by the corpus's accepted payments.
pub const CREDITOR_IBAN: &str = "FR1420041010050500013M02606";
/// Forbids overdraft and is never credited: every debit is an overdraft.
pub const POOR_IBAN: &str = "GB82WEST12345698765432";
/// Forbids overdraft; credited and emptied again by the setups of the
/// return-overdraft cases, so it holds nothing when a case runs.
pub const SPENDER_IBAN: &str = "BE68539007547034";
/// A valid IBAN the ledger does not hold (and no clearing account is set).
pub const UNKNOWN_IBAN: &str = "NL91ABNA0417164300";

/// The accounts the corpus opens on top of the test server's two, each
/// forbidding overdraft.
pub const EXTRA_ACCOUNTS: [&str; 2] = [POOR_IBAN, SPENDER_IBAN];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Pacs008,
    Pain001,
    Pacs002,
    Pacs004,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Pacs008 => "pacs.008",
            Family::Pain001 => "pain.001",
            Family::Pacs002 => "pacs.002",
            Family::Pacs004 => "pacs.004",
        }
    }
}

/// A message version the codec reads, e.g. `pacs.008.001.08`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub family: Family,
    pub id: &'static str,
}

impl Version {
    fn number(self) -> u32 {
        self.id[self.id.len() - 2..].parse().unwrap()
    }

    /// Whether the version carries a UETR (`PmtId/UETR`, `OrgnlUETR`).
    pub fn has_uetr(self) -> bool {
        match self.family {
            Family::Pacs008 => self.number() >= 8,
            Family::Pain001 => self.number() >= 9,
            Family::Pacs002 => self.number() >= 10,
            Family::Pacs004 => true,
        }
    }

    /// The element holding an agent's BIC.
    fn bic_element(self) -> &'static str {
        if self.family == Family::Pain001 && self.number() == 3 {
            "BIC"
        } else {
            "BICFI"
        }
    }

    /// The path of transaction `position` (1-based), as the codec names it.
    pub fn transaction_path(self, position: usize) -> String {
        match self.family {
            Family::Pacs008 => format!("/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[{position}]"),
            Family::Pain001 => {
                format!("/Document/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[{position}]")
            }
            Family::Pacs002 => format!("/Document/FIToFIPmtStsRpt/TxInfAndSts[{position}]"),
            Family::Pacs004 => format!("/Document/PmtRtr/TxInf[{position}]"),
        }
    }

    /// The path of the group header.
    pub fn group_path(self) -> &'static str {
        match self.family {
            Family::Pacs008 => "/Document/FIToFICstmrCdtTrf/GrpHdr",
            Family::Pain001 => "/Document/CstmrCdtTrfInitn/GrpHdr",
            Family::Pacs002 => "/Document/FIToFIPmtStsRpt/GrpHdr",
            Family::Pacs004 => "/Document/PmtRtr/GrpHdr",
        }
    }

    /// The amount element of a transaction, relative to it.
    pub fn amount_element(self) -> &'static str {
        match self.family {
            Family::Pacs008 => "IntrBkSttlmAmt",
            Family::Pain001 => "Amt/InstdAmt",
            Family::Pacs002 => "",
            Family::Pacs004 => "RtrdIntrBkSttlmAmt",
        }
    }
}

pub const PACS008: [&str; 4] = [
    "pacs.008.001.08",
    "pacs.008.001.09",
    "pacs.008.001.10",
    "pacs.008.001.12",
];
pub const PAIN001: [&str; 3] = ["pain.001.001.03", "pain.001.001.08", "pain.001.001.09"];
pub const PACS002: [&str; 3] = ["pacs.002.001.08", "pacs.002.001.10", "pacs.002.001.12"];
pub const PACS004: [&str; 3] = ["pacs.004.001.09", "pacs.004.001.10", "pacs.004.001.13"];

pub fn versions(family: Family) -> Vec<Version> {
    let ids: &[&'static str] = match family {
        Family::Pacs008 => &PACS008,
        Family::Pain001 => &PAIN001,
        Family::Pacs002 => &PACS002,
        Family::Pacs004 => &PACS004,
    };
    ids.iter().map(|&id| Version { family, id }).collect()
}

/// One change to a rendered document's text.
#[derive(Debug, Clone)]
pub enum Edit {
    /// The first occurrence of `from` becomes `to`; the edit must match.
    Replace(String, String),
    /// The document is cut after this many bytes.
    Truncate(usize),
    /// The whole document is these bytes instead.
    Bytes(Vec<u8>),
}

/// A document of the corpus: a version, the group's values, each
/// transaction's values, and edits made to the rendered text.
#[derive(Debug, Clone)]
pub struct Doc {
    pub version: Version,
    pub group: BTreeMap<&'static str, String>,
    pub transactions: Vec<BTreeMap<&'static str, String>>,
    pub edits: Vec<Edit>,
}

/// A UUIDv4 (the ISO pattern) unique to a case, a document and a transaction.
pub fn uetr(case: usize, salt: usize) -> String {
    format!("{case:08x}-{salt:04x}-4000-8000-00000000c0de")
}

fn element(name: &str, value: &str) -> String {
    format!("<{name}>{value}</{name}>")
}

impl Doc {
    /// A credit transfer (pacs.008 or pain.001) of `count` transactions of
    /// 1.00 EUR from `DEBTOR_IBAN` to `CREDITOR_IBAN`, ids unique to `tag`.
    pub fn credit_transfer(version: Version, tag: &str, count: usize) -> Doc {
        assert!(matches!(version.family, Family::Pacs008 | Family::Pain001));
        let mut group = BTreeMap::new();
        group.insert("MSG_ID", format!("M-{tag}"));
        group.insert("PMT_INF_ID", format!("P-{tag}"));
        group.insert("DBTR_IBAN", DEBTOR_IBAN.to_owned());
        group.insert("DBTR_BIC", "COBADEFFXXX".to_owned());
        group.insert("DBTR_NM", "Debtor".to_owned());
        let transactions = (1..=count)
            .map(|position| {
                let mut tx = BTreeMap::new();
                tx.insert(
                    "INSTR_ID",
                    element("InstrId", &format!("I-{tag}-{position}")),
                );
                tx.insert("E2E", format!("E-{tag}-{position}"));
                tx.insert("TX_ID", format!("T-{tag}-{position}"));
                tx.insert("UETR", String::new());
                tx.insert("AMOUNT", "1.00".to_owned());
                tx.insert("CCY", "EUR".to_owned());
                tx.insert("INSTG_BIC", "COBADEFFXXX".to_owned());
                tx.insert("INSTD_BIC", "BNPAFRPPXXX".to_owned());
                tx.insert("DBTR_IBAN", DEBTOR_IBAN.to_owned());
                tx.insert("DBTR_BIC", "COBADEFFXXX".to_owned());
                tx.insert("DBTR_NM", "Debtor".to_owned());
                tx.insert("CDTR_BIC", "BNPAFRPPXXX".to_owned());
                tx.insert("CDTR_IBAN", CREDITOR_IBAN.to_owned());
                tx
            })
            .collect();
        Doc {
            version,
            group,
            transactions,
            edits: Vec::new(),
        }
    }

    /// The same, each transaction with a UETR (`version` must have one).
    pub fn credit_transfer_with_uetr(
        version: Version,
        tag: &str,
        case: usize,
        count: usize,
    ) -> Doc {
        assert!(version.has_uetr(), "{} has no UETR", version.id);
        let mut doc = Doc::credit_transfer(version, tag, count);
        for (index, tx) in doc.transactions.iter_mut().enumerate() {
            tx.insert("UETR", element("UETR", &uetr(case, index + 1)));
        }
        doc
    }

    /// A pacs.002 with one status per transaction of `original` (a credit
    /// transfer), naming each by its UETR when `version` has one and the
    /// original carries it, else by its instructing agent and ids (pacs.008)
    /// or by its instruction reference (pain.001).
    pub fn status_report(version: Version, tag: &str, original: &Doc, status: &str) -> Doc {
        assert_eq!(version.family, Family::Pacs002);
        Doc::follow_up(version, tag, original, |tx, original_tx| {
            tx.insert("STS_ID", format!("S-{tag}"));
            tx.insert("STATUS", status.to_owned());
            let reason = if status == "RJCT" {
                "<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf>".to_owned()
            } else {
                String::new()
            };
            tx.insert("REASON", reason);
            let _ = original_tx;
        })
    }

    /// A pacs.004 returning each transaction of `original` in full.
    pub fn payment_return(version: Version, tag: &str, original: &Doc) -> Doc {
        assert_eq!(version.family, Family::Pacs004);
        Doc::follow_up(version, tag, original, |tx, original_tx| {
            tx.insert("RTR_ID", format!("R-{tag}"));
            tx.insert("ORGNL_AMOUNT", original_tx["AMOUNT"].clone());
            tx.insert("AMOUNT", original_tx["AMOUNT"].clone());
            tx.insert("CCY", original_tx["CCY"].clone());
        })
    }

    fn follow_up(
        version: Version,
        tag: &str,
        original: &Doc,
        fill: impl Fn(&mut BTreeMap<&'static str, String>, &BTreeMap<&'static str, String>),
    ) -> Doc {
        let mut group = BTreeMap::new();
        group.insert("MSG_ID", format!("M-{tag}"));
        group.insert("INSTD_BIC", "COBADEFFXXX".to_owned());
        group.insert("ORGNL_MSG_ID", original.group["MSG_ID"].clone());
        group.insert("ORGNL_MSG_NM_ID", original.version.id.to_owned());
        let transactions = original
            .transactions
            .iter()
            .enumerate()
            .map(|(index, original_tx)| {
                let mut tx = BTreeMap::new();
                let uetr_value = original_tx["UETR"]
                    .strip_prefix("<UETR>")
                    .and_then(|rest| rest.strip_suffix("</UETR>"))
                    .map(str::to_owned);
                let by_uetr = version.has_uetr() && uetr_value.is_some();
                tx.insert(
                    "ORGNL_UETR",
                    match (&uetr_value, by_uetr) {
                        (Some(value), true) => element("OrgnlUETR", value),
                        _ => String::new(),
                    },
                );
                let instruction_id = original_tx["INSTR_ID"]
                    .strip_prefix("<InstrId>")
                    .and_then(|rest| rest.strip_suffix("</InstrId>"))
                    .map(str::to_owned);
                tx.insert(
                    "ORGNL_INSTR_ID",
                    instruction_id
                        .map(|id| element("OrgnlInstrId", &id))
                        .unwrap_or_default(),
                );
                tx.insert("ORGNL_E2E", original_tx["E2E"].clone());
                tx.insert("INSTD_BIC", original_tx["INSTG_BIC"].clone());
                tx.insert("STS_ID", format!("S-{tag}-{}", index + 1));
                tx.insert("RTR_ID", format!("R-{tag}-{}", index + 1));
                fill(&mut tx, original_tx);
                tx
            })
            .collect();
        Doc {
            version,
            group,
            transactions,
            edits: Vec::new(),
        }
    }

    pub fn tx(&mut self, position: usize) -> &mut BTreeMap<&'static str, String> {
        &mut self.transactions[position - 1]
    }

    pub fn set(&mut self, position: usize, name: &'static str, value: impl Into<String>) {
        let tx = self.tx(position);
        assert!(tx.contains_key(name), "no {name} in the transaction");
        tx.insert(name, value.into());
    }

    pub fn set_group(&mut self, name: &'static str, value: impl Into<String>) {
        self.group.insert(name, value.into());
    }

    pub fn replace(&mut self, from: impl Into<String>, to: impl Into<String>) {
        self.edits.push(Edit::Replace(from.into(), to.into()));
    }

    pub fn edit(&mut self, edit: Edit) {
        self.edits.push(edit);
    }

    /// The group's message id.
    pub fn message_id(&self) -> &str {
        &self.group["MSG_ID"]
    }

    pub fn render(&self) -> Vec<u8> {
        let (group_template, transaction_template) = match self.version.family {
            Family::Pacs008 => (include_str!("pacs008.xml"), include_str!("pacs008_tx.xml")),
            Family::Pain001 => (include_str!("pain001.xml"), include_str!("pain001_tx.xml")),
            Family::Pacs002 => (include_str!("pacs002.xml"), include_str!("pacs002_tx.xml")),
            Family::Pacs004 => (include_str!("pacs004.xml"), include_str!("pacs004_tx.xml")),
        };
        let bic = self.version.bic_element();
        let mut common: BTreeMap<&str, String> = BTreeMap::new();
        common.insert("VERSION", self.version.id.to_owned());
        common.insert("BIC", bic.to_owned());
        common.insert(
            "ANY_BIC",
            if bic == "BIC" { "BICOrBEI" } else { "AnyBIC" }.to_owned(),
        );
        common.insert(
            "REQD_EXCTN_DT",
            if self.version.family == Family::Pain001 && self.version.number() >= 8 {
                "<ReqdExctnDt><Dt>2026-11-28</Dt></ReqdExctnDt>"
            } else {
                "<ReqdExctnDt>2026-11-28</ReqdExctnDt>"
            }
            .to_owned(),
        );
        let count = self.transactions.len().to_string();
        common.insert("NB_OF_TXS", count.clone());
        common.insert("PMTINF_NB_OF_TXS", count);
        for name in ["CTRL_SUM", "PMTINF_CTRL_SUM", "TTL_AMOUNT"] {
            common.insert(name, String::new());
        }
        let mut transactions = String::new();
        common.extend(
            self.group
                .iter()
                .map(|(name, value)| (*name, value.clone())),
        );
        for tx in &self.transactions {
            let mut values = common.clone();
            values.extend(tx.iter().map(|(name, value)| (*name, value.clone())));
            transactions.push_str(&fill(transaction_template, &values));
        }
        let mut values = common;
        values.extend(
            self.group
                .iter()
                .map(|(name, value)| (*name, value.clone())),
        );
        // pain.001's debtor is its PmtInf's: the first transaction's.
        if self.version.family == Family::Pain001 {
            if let Some(first) = self.transactions.first() {
                for name in ["DBTR_IBAN", "DBTR_BIC", "DBTR_NM"] {
                    values.insert(name, first[name].clone());
                }
            }
        }
        values.insert("TRANSACTIONS", transactions);
        let mut text = fill(group_template, &values);
        let mut bytes = None;
        for edit in &self.edits {
            match edit {
                Edit::Replace(from, to) => {
                    assert!(text.contains(from.as_str()), "no {from:?} in\n{text}");
                    text = text.replacen(from.as_str(), to, 1);
                }
                Edit::Truncate(length) => text.truncate(*length),
                Edit::Bytes(whole) => bytes = Some(whole.clone()),
            }
        }
        bytes.unwrap_or_else(|| text.into_bytes())
    }
}

fn fill(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("a closed placeholder") + start;
        let name = &rest[start + 2..end];
        let value = values
            .get(name)
            .unwrap_or_else(|| panic!("no value for {{{{{name}}}}}"));
        out.push_str(value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out.trim_end().to_owned()
}

/// An IBAN of `country` and `bban` with valid ISO 7064 mod-97 check digits,
/// whatever the country's length or whether the country exists.
pub fn iban(country: &str, bban: &str) -> String {
    let digits: String = format!("{bban}{country}00")
        .chars()
        .map(|c| match c {
            '0'..='9' => c.to_string(),
            _ => (c as u32 - 'A' as u32 + 10).to_string(),
        })
        .collect();
    let remainder = digits
        .bytes()
        .fold(0u32, |acc, digit| (acc * 10 + u32::from(digit - b'0')) % 97);
    format!("{country}{:02}{bban}", 98 - remainder)
}

#[test]
fn generated_ibans_have_valid_check_digits() {
    assert_eq!(iban("DE", "370400440532013000"), DEBTOR_IBAN);
    assert_eq!(iban("GB", "WEST12345698765432"), POOR_IBAN);
}
