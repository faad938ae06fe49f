//! The case table: each case is a template, a mutation and the answer it
//! must get, labelled from the contract (docs/semantics.md, docs/api.md,
//! docs/cli.md) and the codec's rules (iso20022/README.md), never from what
//! the service happens to answer.

use tonic::Code;

use super::documents::*;

/// The answer a document must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The whole document is refused: the gRPC code, the `ErrorInfo`
    /// reason (none for `INVALID_ARGUMENT`, whose details are a
    /// `BadRequest`), and every element path the field violations name.
    Refused {
        code: Code,
        reason: Option<&'static str>,
        paths: Vec<String>,
    },
    /// The document is read; each transaction gets its outcome and reason
    /// code (empty unless `REJECTED`).
    Outcomes(Vec<(&'static str, &'static str)>),
}

impl Answer {
    fn invalid(paths: Vec<String>) -> Answer {
        Answer::Refused {
            code: Code::InvalidArgument,
            reason: None,
            paths,
        }
    }

    fn rejected(reason: &'static str) -> Answer {
        Answer::Outcomes(vec![("REJECTED", reason)])
    }

    /// The label the summary counts the case under.
    pub fn label(&self) -> String {
        match self {
            Answer::Refused { code, reason, .. } => match reason {
                Some(reason) => format!("{code:?} {reason}"),
                None => format!("{code:?}"),
            },
            Answer::Outcomes(outcomes) => {
                let mut words: Vec<String> = outcomes
                    .iter()
                    .map(|(outcome, reason)| {
                        if reason.is_empty() {
                            (*outcome).to_owned()
                        } else {
                            format!("{outcome} {reason}")
                        }
                    })
                    .collect();
                words.dedup();
                words.join(" + ")
            }
        }
    }
}

/// One labelled case.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub family: Family,
    /// Documents applied first, each of whose transactions must be applied.
    pub setup: Vec<Doc>,
    pub document: Doc,
    /// The answer over gRPC (`SubmitPayment`).
    pub grpc: Answer,
    /// The answer of `ledger ingest`: the same outcomes, except where a
    /// request's all-or-nothing rule or its size limit is the gRPC API's own.
    pub ingest: Answer,
}

/// Unique tags for the cases' ids.
struct Numbering(usize);

impl Numbering {
    fn next(&mut self) -> usize {
        self.0 += 1;
        self.0
    }
}

struct Table {
    numbering: Numbering,
    cases: Vec<Case>,
}

impl Table {
    fn push(&mut self, name: String, family: Family, setup: Vec<Doc>, document: Doc, grpc: Answer) {
        self.push_with_ingest(name, family, setup, document, grpc.clone(), grpc);
    }

    fn push_with_ingest(
        &mut self,
        name: String,
        family: Family,
        setup: Vec<Doc>,
        document: Doc,
        grpc: Answer,
        ingest: Answer,
    ) {
        self.cases.push(Case {
            name,
            family,
            setup,
            document,
            grpc,
            ingest,
        });
    }
}

/// A mutation of a one-transaction credit transfer whose document is
/// refused: what it changes, and the paths (relative to the transaction
/// unless they start with `/`) that the refusal must name.
struct DocumentMutation {
    name: &'static str,
    /// Which credit-transfer families it applies to.
    families: &'static [Family],
    mutate: fn(&mut Doc),
    paths: fn(Version) -> Vec<String>,
}

/// A follow-up's refusal: its name, its mutation, the paths it must name.
type NamedRefusal = (&'static str, fn(&mut Doc), Vec<String>);

const CREDIT: &[Family] = &[Family::Pacs008, Family::Pain001];
const PACS008_ONLY: &[Family] = &[Family::Pacs008];
const PAIN001_ONLY: &[Family] = &[Family::Pain001];

fn at(version: Version, relative: &str) -> Vec<String> {
    vec![format!("{}/{relative}", version.transaction_path(1))]
}

fn at_amount(version: Version) -> Vec<String> {
    at(version, version.amount_element())
}

fn at_group(version: Version, element: &str) -> Vec<String> {
    vec![format!("{}/{element}", version.group_path())]
}

/// The agent BIC element of a credit transfer's creditor agent.
fn creditor_agent_bic(version: Version) -> Vec<String> {
    let element = if version.id == "pain.001.001.03" {
        "BIC"
    } else {
        "BICFI"
    };
    at(version, &format!("CdtrAgt/FinInstnId/{element}"))
}

fn debtor_account_iban(version: Version) -> Vec<String> {
    match version.family {
        Family::Pain001 => vec!["/Document/CstmrCdtTrfInitn/PmtInf[1]/DbtrAcct/Id/IBAN".to_owned()],
        _ => at(version, "DbtrAcct/Id/IBAN"),
    }
}

fn amount(doc: &mut Doc, currency: &str, value: &str) {
    doc.set(1, "CCY", currency);
    doc.set(1, "AMOUNT", value);
}

/// The document-level refusals of a credit transfer (pacs.008, pain.001).
fn credit_transfer_refusals() -> Vec<DocumentMutation> {
    vec![
        DocumentMutation {
            name: "creditor IBAN with wrong check digits",
            families: CREDIT,
            mutate: |doc| doc.set(1, "CDTR_IBAN", "FR1520041010050500013M02606"),
            paths: |v| at(v, "CdtrAcct/Id/IBAN"),
        },
        DocumentMutation {
            name: "debtor IBAN with wrong check digits",
            families: CREDIT,
            mutate: |doc| doc.set(1, "DBTR_IBAN", "DE88370400440532013000"),
            paths: debtor_account_iban,
        },
        DocumentMutation {
            name: "creditor IBAN one character short for its country",
            families: CREDIT,
            mutate: |doc| doc.set(1, "CDTR_IBAN", iban("DE", "37040044053201300")),
            paths: |v| at(v, "CdtrAcct/Id/IBAN"),
        },
        DocumentMutation {
            name: "creditor IBAN one character long for its country",
            families: CREDIT,
            mutate: |doc| doc.set(1, "CDTR_IBAN", iban("DE", "3704004405320130001")),
            paths: |v| at(v, "CdtrAcct/Id/IBAN"),
        },
        DocumentMutation {
            name: "creditor IBAN of a country that does not exist",
            families: CREDIT,
            mutate: |doc| doc.set(1, "CDTR_IBAN", iban("XQ", "370400440532013000")),
            paths: |v| at(v, "CdtrAcct/Id/IBAN"),
        },
        DocumentMutation {
            name: "creditor IBAN in lower case",
            families: CREDIT,
            mutate: |doc| doc.set(1, "CDTR_IBAN", "fr1420041010050500013m02606"),
            paths: |v| at(v, "CdtrAcct/Id/IBAN"),
        },
        DocumentMutation {
            name: "creditor agent BIC with a digit in its country code",
            families: CREDIT,
            mutate: |doc| doc.set(1, "CDTR_BIC", "BNPAF1PPXXX"),
            paths: creditor_agent_bic,
        },
        DocumentMutation {
            name: "creditor agent BIC of seven characters",
            families: CREDIT,
            mutate: |doc| doc.set(1, "CDTR_BIC", "BNPAFRP"),
            paths: creditor_agent_bic,
        },
        DocumentMutation {
            name: "creditor agent BIC of ten characters",
            families: CREDIT,
            mutate: |doc| doc.set(1, "CDTR_BIC", "BNPAFRPPXX"),
            paths: creditor_agent_bic,
        },
        DocumentMutation {
            name: "creditor agent BIC in lower case",
            families: CREDIT,
            mutate: |doc| doc.set(1, "CDTR_BIC", "bnpafrppxxx"),
            paths: creditor_agent_bic,
        },
        DocumentMutation {
            name: "instructing agent BIC with a digit in its country code",
            families: PACS008_ONLY,
            mutate: |doc| doc.set(1, "INSTG_BIC", "COBAD3FFXXX"),
            paths: |v| at(v, "InstgAgt/FinInstnId/BICFI"),
        },
        DocumentMutation {
            name: "unknown currency ABC",
            families: CREDIT,
            mutate: |doc| amount(doc, "ABC", "1.00"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "historic currency DEM",
            families: CREDIT,
            mutate: |doc| amount(doc, "DEM", "1.00"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "historic currency FRF",
            families: CREDIT,
            mutate: |doc| amount(doc, "FRF", "1.00"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "commodity XAU is no currency",
            families: CREDIT,
            mutate: |doc| amount(doc, "XAU", "1.00"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "XXX means no currency",
            families: CREDIT,
            mutate: |doc| amount(doc, "XXX", "1.00"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "currency code in lower case",
            families: CREDIT,
            mutate: |doc| amount(doc, "eur", "1.00"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "JPY with decimals",
            families: CREDIT,
            mutate: |doc| amount(doc, "JPY", "100.5"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "EUR with three decimals",
            families: CREDIT,
            mutate: |doc| amount(doc, "EUR", "1.001"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "BHD with four decimals",
            families: CREDIT,
            mutate: |doc| amount(doc, "BHD", "1.0001"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "amount of 19 digits",
            families: CREDIT,
            mutate: |doc| amount(doc, "EUR", "1234567890123456789"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "amount of 18 integer digits, beyond the ledger's 10^18 - 1 minor units",
            families: CREDIT,
            mutate: |doc| amount(doc, "EUR", "999999999999999999"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "zero amount",
            families: CREDIT,
            mutate: |doc| amount(doc, "EUR", "0.00"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "negative amount",
            families: CREDIT,
            mutate: |doc| amount(doc, "EUR", "-1.00"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "amount with a decimal comma",
            families: CREDIT,
            mutate: |doc| amount(doc, "EUR", "1,00"),
            paths: at_amount,
        },
        DocumentMutation {
            name: "empty amount",
            families: CREDIT,
            mutate: |doc| amount(doc, "EUR", ""),
            paths: at_amount,
        },
        DocumentMutation {
            name: "NbOfTxs says 2 for one transaction",
            families: CREDIT,
            mutate: |doc| doc.set_group("NB_OF_TXS", "2"),
            paths: |v| at_group(v, "NbOfTxs"),
        },
        DocumentMutation {
            name: "CtrlSum 2.00 for one transaction of 1.00",
            families: CREDIT,
            mutate: |doc| doc.set_group("CTRL_SUM", "<CtrlSum>2.00</CtrlSum>"),
            paths: |v| at_group(v, "CtrlSum"),
        },
        DocumentMutation {
            name: "PmtInf NbOfTxs says 2 for one transaction",
            families: PAIN001_ONLY,
            mutate: |doc| doc.set_group("PMTINF_NB_OF_TXS", "2"),
            paths: |_| vec!["/Document/CstmrCdtTrfInitn/PmtInf[1]/NbOfTxs".to_owned()],
        },
        DocumentMutation {
            name: "PmtInf CtrlSum 0.99 for one transaction of 1.00",
            families: PAIN001_ONLY,
            mutate: |doc| doc.set_group("PMTINF_CTRL_SUM", "<CtrlSum>0.99</CtrlSum>"),
            paths: |_| vec!["/Document/CstmrCdtTrfInitn/PmtInf[1]/CtrlSum".to_owned()],
        },
        DocumentMutation {
            name: "TtlIntrBkSttlmAmt 5.00 for one transaction of 1.00",
            families: PACS008_ONLY,
            mutate: |doc| {
                doc.set_group(
                    "TTL_AMOUNT",
                    "<TtlIntrBkSttlmAmt Ccy=\"EUR\">5.00</TtlIntrBkSttlmAmt>",
                )
            },
            paths: |v| at_group(v, "TtlIntrBkSttlmAmt"),
        },
        DocumentMutation {
            name: "EndToEndId missing",
            families: CREDIT,
            mutate: |doc| {
                let e2e = doc.tx(1)["E2E"].clone();
                doc.replace(format!("<EndToEndId>{e2e}</EndToEndId>"), "");
            },
            // A missing element has no path of its own: its parent is named.
            paths: |v| at(v, "PmtId"),
        },
        DocumentMutation {
            name: "settlement amount missing",
            families: PACS008_ONLY,
            mutate: |doc| doc.replace("<IntrBkSttlmAmt Ccy=\"EUR\">1.00</IntrBkSttlmAmt>", ""),
            paths: |v| vec![v.transaction_path(1)],
        },
        DocumentMutation {
            name: "instructed amount missing",
            families: PAIN001_ONLY,
            mutate: |doc| doc.replace("<Amt><InstdAmt Ccy=\"EUR\">1.00</InstdAmt></Amt>", ""),
            paths: |v| vec![v.transaction_path(1)],
        },
        DocumentMutation {
            // pain.001's Cdtr is optional
            name: "creditor missing",
            families: PACS008_ONLY,
            mutate: |doc| doc.replace("<Cdtr><Nm>Creditor</Nm></Cdtr>", ""),
            paths: |v| vec![v.transaction_path(1)],
        },
        DocumentMutation {
            name: "MsgId missing",
            families: CREDIT,
            mutate: |doc| {
                let id = doc.message_id().to_owned();
                doc.replace(format!("<MsgId>{id}</MsgId>"), "");
            },
            paths: |v| vec![v.group_path().to_owned()],
        },
        DocumentMutation {
            name: "unknown element in the transaction",
            families: CREDIT,
            mutate: |doc| doc.replace("</PmtId>", "</PmtId><Surprise>1</Surprise>"),
            paths: |v| at(v, "Surprise"),
        },
        DocumentMutation {
            name: "unknown element in the group header",
            families: CREDIT,
            mutate: |doc| doc.replace("<CreDtTm>", "<Surprise>1</Surprise><CreDtTm>"),
            paths: |v| at_group(v, "Surprise"),
        },
        DocumentMutation {
            name: "creditor before the creditor agent (out of order)",
            families: CREDIT,
            mutate: |doc| {
                doc.replace("<Cdtr><Nm>Creditor</Nm></Cdtr>", "");
                doc.replace("<CdtrAgt>", "<Cdtr><Nm>Creditor</Nm></Cdtr><CdtrAgt>");
            },
            paths: |v| at(v, "CdtrAgt"),
        },
        DocumentMutation {
            name: "EndToEndId of 36 characters (Max35Text)",
            families: CREDIT,
            mutate: |doc| doc.set(1, "E2E", "E".repeat(36)),
            paths: |v| at(v, "PmtId/EndToEndId"),
        },
        DocumentMutation {
            name: "InstrId of 36 characters (Max35Text)",
            families: CREDIT,
            mutate: |doc| {
                doc.set(
                    1,
                    "INSTR_ID",
                    format!("<InstrId>{}</InstrId>", "I".repeat(36)),
                )
            },
            paths: |v| at(v, "PmtId/InstrId"),
        },
        DocumentMutation {
            name: "TxId of 36 characters (Max35Text)",
            families: PACS008_ONLY,
            mutate: |doc| doc.set(1, "TX_ID", "T".repeat(36)),
            paths: |v| at(v, "PmtId/TxId"),
        },
        DocumentMutation {
            name: "MsgId of 36 characters (Max35Text)",
            families: CREDIT,
            mutate: |doc| doc.set_group("MSG_ID", "M".repeat(36)),
            paths: |v| at_group(v, "MsgId"),
        },
        DocumentMutation {
            name: "debtor name of 141 characters (Max140Text)",
            families: CREDIT,
            mutate: |doc| doc.set(1, "DBTR_NM", "N".repeat(141)),
            paths: |v| match v.family {
                Family::Pain001 => vec!["/Document/CstmrCdtTrfInitn/PmtInf[1]/Dbtr/Nm".to_owned()],
                _ => at(v, "Dbtr/Nm"),
            },
        },
        DocumentMutation {
            name: "UETR that is not a version 4 UUID",
            families: PACS008_ONLY,
            mutate: |doc| {
                doc.set(
                    1,
                    "UETR",
                    "<UETR>b94458f8-1f27-10e9-bf74-b07cbb339439</UETR>",
                )
            },
            paths: |v| at(v, "PmtId/UETR"),
        },
        DocumentMutation {
            name: "namespace of a version that does not exist",
            families: CREDIT,
            mutate: |doc| {
                let id = doc.version.id;
                let family = &id[..8];
                doc.replace(format!("xsd:{id}\""), format!("xsd:{family}.001.99\""));
            },
            paths: |_| vec!["/Document".to_owned()],
        },
        DocumentMutation {
            name: "namespace of another message (camt.053.001.08)",
            families: CREDIT,
            mutate: |doc| {
                let id = doc.version.id;
                doc.replace(format!("xsd:{id}\""), "xsd:camt.053.001.08\"");
            },
            // not a message the API takes: its own request field is named
            paths: |_| vec!["document".to_owned()],
        },
        DocumentMutation {
            name: "no namespace",
            families: CREDIT,
            mutate: |doc| {
                let id = doc.version.id;
                doc.replace(
                    format!(" xmlns=\"urn:iso:std:iso:20022:tech:xsd:{id}\""),
                    "",
                );
            },
            paths: |_| vec!["/Document".to_owned()],
        },
        DocumentMutation {
            name: "mismatched end tag",
            families: CREDIT,
            mutate: |doc| doc.replace("</Cdtr>", "</Cdtx>"),
            paths: |v| at(v, "Cdtr"),
        },
        DocumentMutation {
            name: "truncated in the middle of a transaction",
            families: CREDIT,
            mutate: |doc| {
                let cut = String::from_utf8(doc.render())
                    .unwrap()
                    .find("<Cdtr>")
                    .unwrap();
                doc.edit(Edit::Truncate(cut));
            },
            // the element left open where the document ends
            paths: |v| vec![v.transaction_path(1)],
        },
        DocumentMutation {
            name: "a DOCTYPE with an entity",
            families: CREDIT,
            mutate: |doc| {
                doc.replace(
                    "<Document",
                    "<!DOCTYPE Document [<!ENTITY x \"y\">]><Document",
                )
            },
            // before any element: the document's root, `/` (as the codec writes it)
            paths: |_| vec!["/".to_owned()],
        },
        DocumentMutation {
            name: "bytes that are not UTF-8 in a name",
            families: CREDIT,
            mutate: |doc| {
                let mut bytes = doc.render();
                let at = bytes.windows(6).position(|w| w == b"Debtor").unwrap();
                bytes[at] = 0xff;
                doc.edit(Edit::Bytes(bytes));
            },
            paths: |v| match v.family {
                Family::Pain001 => vec!["/Document/CstmrCdtTrfInitn/PmtInf[1]/Dbtr/Nm".to_owned()],
                _ => at(v, "Dbtr/Nm"),
            },
        },
        DocumentMutation {
            name: "not XML at all",
            families: CREDIT,
            mutate: |doc| doc.edit(Edit::Bytes(b"pacs.008 payment, please".to_vec())),
            // before any element: the document's root, `/` (as the codec writes it)
            paths: |_| vec!["/".to_owned()],
        },
    ]
}

/// Every labelled case.
pub fn all() -> Vec<Case> {
    let mut table = Table {
        numbering: Numbering(0),
        cases: Vec::new(),
    };
    credit_transfer_documents(&mut table);
    credit_transfer_ledger_refusals(&mut table);
    status_report_cases(&mut table);
    payment_return_cases(&mut table);
    oversize_requests(&mut table);
    table.cases
}

/// 5 MiB of XML comments before the `Document`: legal XML (each comment
/// under the codec's token limit) that makes the request larger than the
/// server's 4 MiB limit.
fn pad_to_five_mebibytes(doc: &mut Doc) {
    let comment = format!("<!--{}-->\n", "p".repeat(100 * 1024));
    doc.replace("<Document", format!("{}<Document", comment.repeat(52)));
}

/// A request over `--request-size-max-bytes` is refused at its header over
/// gRPC (docs/api.md); `ledger ingest` has no such limit and reads the file.
fn oversize_requests(table: &mut Table) {
    let pacs008 = Version {
        family: Family::Pacs008,
        id: "pacs.008.001.08",
    };
    let too_large = Answer::Refused {
        code: Code::ResourceExhausted,
        reason: Some("REQUEST_TOO_LARGE"),
        paths: Vec::new(),
    };
    for family in [
        Family::Pacs008,
        Family::Pain001,
        Family::Pacs002,
        Family::Pacs004,
    ] {
        let version = versions(family)[0];
        let case = table.numbering.next();
        let tag = format!("c{case}");
        let (mut doc, ingest) = match family {
            Family::Pacs008 | Family::Pain001 => (
                Doc::credit_transfer(version, &tag, 1),
                Answer::Outcomes(vec![("APPLIED", "")]),
            ),
            Family::Pacs002 => (
                Doc::status_report(
                    version,
                    &tag,
                    &Doc::credit_transfer(pacs008, &format!("{tag}-o"), 1),
                    "ACSC",
                ),
                Answer::rejected("ORIGINAL_NOT_FOUND"),
            ),
            Family::Pacs004 => (
                Doc::payment_return(
                    version,
                    &tag,
                    &Doc::credit_transfer(pacs008, &format!("{tag}-o"), 1),
                ),
                Answer::rejected("ORIGINAL_NOT_FOUND"),
            ),
        };
        pad_to_five_mebibytes(&mut doc);
        table.push_with_ingest(
            format!("{} a request of 5 MiB", version.id),
            family,
            Vec::new(),
            doc,
            too_large.clone(),
            ingest,
        );
    }
}

fn credit_transfer_documents(table: &mut Table) {
    for family in [Family::Pacs008, Family::Pain001] {
        for version in versions(family) {
            for mutation in credit_transfer_refusals() {
                if !mutation.families.contains(&family) {
                    continue;
                }
                if mutation.name.starts_with("UETR") && !version.has_uetr() {
                    continue;
                }
                let case = table.numbering.next();
                let mut doc = Doc::credit_transfer(version, &format!("c{case}"), 1);
                if version.has_uetr() && family == Family::Pacs008 {
                    doc = Doc::credit_transfer_with_uetr(version, &format!("c{case}"), case, 1);
                }
                (mutation.mutate)(&mut doc);
                table.push(
                    format!("{} {}", version.id, mutation.name),
                    family,
                    Vec::new(),
                    doc,
                    Answer::invalid((mutation.paths)(version)),
                );
            }
        }
    }
}

fn credit_transfer_ledger_refusals(table: &mut Table) {
    for family in [Family::Pacs008, Family::Pain001] {
        for version in versions(family) {
            let id = version.id;
            let next = |table: &mut Table| {
                let case = table.numbering.next();
                (case, format!("c{case}"))
            };
            // A control: the template as it is, applied.
            let (_, tag) = next(table);
            table.push(
                format!("{id} control: the template is applied"),
                family,
                Vec::new(),
                Doc::credit_transfer(version, &tag, 1),
                Answer::Outcomes(vec![("APPLIED", "")]),
            );

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 1);
            doc.set(1, "DBTR_IBAN", POOR_IBAN);
            table.push(
                format!("{id} overdraft of an account that forbids it"),
                family,
                Vec::new(),
                doc,
                Answer::rejected("INSUFFICIENT_FUNDS"),
            );

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 1);
            doc.set(1, "AMOUNT", "1000000.00");
            doc.set(1, "DBTR_IBAN", CREDITOR_IBAN);
            doc.set(1, "CDTR_IBAN", DEBTOR_IBAN);
            table.push(
                format!("{id} overdraft of a credited account beyond its credits"),
                family,
                Vec::new(),
                doc,
                Answer::rejected("INSUFFICIENT_FUNDS"),
            );

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 1);
            doc.set(1, "CDTR_IBAN", UNKNOWN_IBAN);
            table.push(
                format!("{id} creditor account not held and no clearing account"),
                family,
                Vec::new(),
                doc,
                Answer::rejected("ACCOUNT_NOT_FOUND"),
            );

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 1);
            doc.set(1, "DBTR_IBAN", UNKNOWN_IBAN);
            table.push(
                format!("{id} debtor account not held and no clearing account"),
                family,
                Vec::new(),
                doc,
                Answer::rejected("ACCOUNT_NOT_FOUND"),
            );

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 1);
            doc.replace(
                format!("<CdtrAcct><Id><IBAN>{CREDITOR_IBAN}</IBAN></Id></CdtrAcct>"),
                "",
            );
            table.push(
                format!("{id} creditor account missing and no settlement account for its agent"),
                family,
                Vec::new(),
                doc,
                Answer::rejected("ACCOUNT_NOT_FOUND"),
            );

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 1);
            amount(&mut doc, "USD", "1.00");
            table.push(
                format!("{id} USD between EUR accounts"),
                family,
                Vec::new(),
                doc,
                Answer::rejected("CURRENCY_MISMATCH"),
            );

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 1);
            doc.set(1, "CDTR_IBAN", DEBTOR_IBAN);
            table.push(
                format!("{id} debtor and creditor are the same account"),
                family,
                Vec::new(),
                doc,
                Answer::rejected("SAME_ACCOUNT"),
            );

            // The same business key by its ids (no UETR), in another message.
            let (_, tag) = next(table);
            let original = Doc::credit_transfer(version, &tag, 1);
            let mut doc = original.clone();
            doc.set_group("MSG_ID", format!("M-{tag}-again"));
            doc.set(1, "AMOUNT", "2.00");
            table.push(
                format!("{id} same InstrId and EndToEndId with another amount in another message"),
                family,
                vec![original.clone()],
                doc,
                Answer::rejected("BUSINESS_KEY_CONFLICT"),
            );

            let (_, tag) = next(table);
            let original = Doc::credit_transfer(version, &tag, 1);
            let mut doc = original.clone();
            doc.set_group("MSG_ID", format!("M-{tag}-again"));
            doc.set(1, "CDTR_IBAN", POOR_IBAN);
            table.push(
                format!("{id} same InstrId and EndToEndId to another creditor in another message"),
                family,
                vec![original.clone()],
                doc,
                Answer::rejected("BUSINESS_KEY_CONFLICT"),
            );

            let (_, tag) = next(table);
            let original = Doc::credit_transfer(version, &tag, 1);
            let mut doc = original.clone();
            doc.set_group("MSG_ID", format!("M-{tag}-again"));
            table.push(
                format!("{id} control: the same payment in another message is a duplicate"),
                family,
                vec![original],
                doc,
                Answer::Outcomes(vec![("DUPLICATE", "")]),
            );

            if version.has_uetr() {
                let (case, tag) = next(table);
                let original = Doc::credit_transfer_with_uetr(version, &tag, case, 1);
                let mut doc = Doc::credit_transfer_with_uetr(version, &format!("{tag}-b"), case, 1);
                doc.set(1, "AMOUNT", "2.00");
                table.push(
                    format!("{id} same UETR with another amount"),
                    family,
                    vec![original],
                    doc,
                    Answer::rejected("BUSINESS_KEY_CONFLICT"),
                );

                let (case, tag) = next(table);
                let original = Doc::credit_transfer_with_uetr(version, &tag, case, 1);
                let mut doc = Doc::credit_transfer_with_uetr(version, &format!("{tag}-b"), case, 1);
                doc.set(1, "CDTR_IBAN", POOR_IBAN);
                table.push(
                    format!("{id} same UETR to another creditor"),
                    family,
                    vec![original],
                    doc,
                    Answer::rejected("BUSINESS_KEY_CONFLICT"),
                );

                let (case, tag) = next(table);
                let mut doc = Doc::credit_transfer_with_uetr(version, &tag, case, 2);
                let first_uetr = doc.tx(1)["UETR"].clone();
                doc.set(2, "UETR", first_uetr);
                table.push(
                    format!("{id} one UETR twice in one message, same content"),
                    family,
                    Vec::new(),
                    doc,
                    Answer::Outcomes(vec![("APPLIED", ""), ("DUPLICATE", "")]),
                );

                let (case, tag) = next(table);
                let mut doc = Doc::credit_transfer_with_uetr(version, &tag, case, 2);
                let first_uetr = doc.tx(1)["UETR"].clone();
                doc.set(2, "UETR", first_uetr);
                doc.set(2, "AMOUNT", "3.00");
                table.push(
                    format!("{id} one UETR twice in one message with another amount"),
                    family,
                    Vec::new(),
                    doc,
                    Answer::Outcomes(vec![("APPLIED", ""), ("REJECTED", "BUSINESS_KEY_CONFLICT")]),
                );
            }

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 2);
            let (instruction, e2e) = (doc.tx(1)["INSTR_ID"].clone(), doc.tx(1)["E2E"].clone());
            doc.set(2, "INSTR_ID", instruction);
            doc.set(2, "E2E", e2e);
            table.push(
                format!("{id} InstrId and EndToEndId twice in one message, same content"),
                family,
                Vec::new(),
                doc,
                Answer::Outcomes(vec![("APPLIED", ""), ("DUPLICATE", "")]),
            );

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 2);
            let (instruction, e2e) = (doc.tx(1)["INSTR_ID"].clone(), doc.tx(1)["E2E"].clone());
            doc.set(2, "INSTR_ID", instruction);
            doc.set(2, "E2E", e2e);
            doc.set(2, "AMOUNT", "4.00");
            table.push(
                format!("{id} InstrId and EndToEndId twice in one message with another amount"),
                family,
                Vec::new(),
                doc,
                Answer::Outcomes(vec![("APPLIED", ""), ("REJECTED", "BUSINESS_KEY_CONFLICT")]),
            );

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 2);
            let instruction = doc.tx(1)["INSTR_ID"].clone();
            doc.set(2, "INSTR_ID", instruction);
            table.push(
                format!(
                    "{id} one InstrId twice in one message with other EndToEndIds: two payments"
                ),
                family,
                Vec::new(),
                doc,
                Answer::Outcomes(vec![("APPLIED", ""), ("APPLIED", "")]),
            );

            if family == Family::Pacs008 {
                let (_, tag) = next(table);
                let mut doc = Doc::credit_transfer(version, &tag, 2);
                for position in [1, 2] {
                    doc.set(position, "INSTR_ID", "");
                    doc.set(position, "TX_ID", format!("T-{tag}"));
                    doc.set(position, "E2E", format!("E-{tag}"));
                }
                doc.set(2, "AMOUNT", "5.00");
                table.push(
                    format!("{id} TxId and EndToEndId twice in one message without InstrId, another amount"),
                    family,
                    Vec::new(),
                    doc,
                    Answer::Outcomes(vec![("APPLIED", ""), ("REJECTED", "BUSINESS_KEY_CONFLICT")]),
                );
            }

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 3);
            doc.set_group("NB_OF_TXS", "2");
            table.push(
                format!("{id} NbOfTxs says 2 for three transactions"),
                family,
                Vec::new(),
                doc,
                Answer::invalid(at_group(version, "NbOfTxs")),
            );

            let (_, tag) = next(table);
            let mut doc = Doc::credit_transfer(version, &tag, 3);
            doc.set(2, "CDTR_IBAN", "FR1420041010050500013M02607");
            doc.set(3, "AMOUNT", "0.001");
            table.push(
                format!("{id} two bad transactions of three, every bad field named"),
                family,
                Vec::new(),
                doc,
                Answer::invalid(vec![
                    format!("{}/CdtrAcct/Id/IBAN", version.transaction_path(2)),
                    format!(
                        "{}/{}",
                        version.transaction_path(3),
                        version.amount_element()
                    ),
                ]),
            );
        }
    }
}

fn status_report_cases(table: &mut Table) {
    let original_version = Version {
        family: Family::Pacs008,
        id: "pacs.008.001.08",
    };
    let pain_version = Version {
        family: Family::Pain001,
        id: "pain.001.001.09",
    };
    for version in versions(Family::Pacs002) {
        let id = version.id;
        let p = |relative: &str| format!("{}/{relative}", version.transaction_path(1));
        // A report of a version without OrgnlUETR names an original without one.
        let original_of = |case: usize, tag: &str| {
            if version.has_uetr() {
                Doc::credit_transfer_with_uetr(original_version, &format!("{tag}-o"), case, 1)
            } else {
                Doc::credit_transfer(original_version, &format!("{tag}-o"), 1)
            }
        };
        for status in ["ACSC", "RJCT", "PDNG"] {
            let case = table.numbering.next();
            let tag = format!("c{case}");
            let never_sent = original_of(case, &tag);
            table.push(
                format!("{id} {status} for a payment the ledger has never seen"),
                Family::Pacs002,
                Vec::new(),
                Doc::status_report(version, &tag, &never_sent, status),
                Answer::rejected("ORIGINAL_NOT_FOUND"),
            );
        }

        let case = table.numbering.next();
        let tag = format!("c{case}");
        let never_sent = Doc::credit_transfer(pain_version, &format!("{tag}-o"), 1);
        table.push(
            format!("{id} ACSC for a pain.001 instruction the ledger has never seen"),
            Family::Pacs002,
            Vec::new(),
            Doc::status_report(version, &tag, &never_sent, "ACSC"),
            Answer::rejected("ORIGINAL_NOT_FOUND"),
        );

        let case = table.numbering.next();
        let tag = format!("c{case}");
        let original = original_of(case, &tag);
        table.push(
            format!("{id} RJCT for a settled payment"),
            Family::Pacs002,
            vec![original.clone()],
            Doc::status_report(version, &tag, &original, "RJCT"),
            Answer::rejected("STATE_CONFLICT"),
        );

        let case = table.numbering.next();
        let tag = format!("c{case}");
        let held = Doc::credit_transfer(pain_version, &format!("{tag}-o"), 1);
        let rejection = Doc::status_report(version, &format!("{tag}-r"), &held, "RJCT");
        table.push(
            format!("{id} ACSC for a hold rejected before"),
            Family::Pacs002,
            vec![held.clone(), rejection],
            Doc::status_report(version, &tag, &held, "ACSC"),
            Answer::rejected("STATE_CONFLICT"),
        );

        let case = table.numbering.next();
        let tag = format!("c{case}");
        let original = original_of(case, &tag);
        let payment_return = Doc::payment_return(
            Version {
                family: Family::Pacs004,
                id: "pacs.004.001.09",
            },
            &format!("{tag}-r"),
            &original,
        );
        table.push(
            format!("{id} RJCT for a returned payment"),
            Family::Pacs002,
            vec![original.clone(), payment_return],
            Doc::status_report(version, &tag, &original, "RJCT"),
            Answer::rejected("STATE_CONFLICT"),
        );

        // Two statuses in one request, one of them for an unknown payment:
        // over gRPC the request is all or nothing; ingest sends each alone.
        let case = table.numbering.next();
        let tag = format!("c{case}");
        let mut both =
            Doc::credit_transfer_with_uetr(original_version, &format!("{tag}-o"), case, 2);
        if !version.has_uetr() {
            both = Doc::credit_transfer(original_version, &format!("{tag}-o"), 2);
        }
        let mut sent = both.clone();
        sent.transactions.truncate(1);
        sent.set_group("NB_OF_TXS", "1");
        table.push_with_ingest(
            format!("{id} two statuses, the second for a payment never seen"),
            Family::Pacs002,
            vec![sent],
            Doc::status_report(version, &tag, &both, "ACSC"),
            Answer::Outcomes(vec![
                ("REJECTED", "REQUEST_NOT_APPLIED"),
                ("REJECTED", "ORIGINAL_NOT_FOUND"),
            ]),
            Answer::Outcomes(vec![
                ("ALREADY_APPLIED", ""),
                ("REJECTED", "ORIGINAL_NOT_FOUND"),
            ]),
        );

        let document_refusals: Vec<NamedRefusal> = vec![
            (
                "a status the ledger does not know (BLCK)",
                |doc| doc.set(1, "STATUS", "BLCK"),
                vec![p("TxSts")],
            ),
            (
                "no status",
                |doc| doc.replace("<TxSts>ACSC</TxSts>", ""),
                vec![p("TxSts")],
            ),
            (
                "status of five characters",
                |doc| doc.set(1, "STATUS", "ACSCX"),
                vec![p("TxSts")],
            ),
            (
                "names no original (no UETR, no InstrId, EndToEndId NOTPROVIDED)",
                |doc| {
                    doc.set(1, "ORGNL_UETR", "");
                    doc.set(1, "ORGNL_INSTR_ID", "");
                    doc.set(1, "ORGNL_E2E", "NOTPROVIDED");
                },
                vec![p("OrgnlEndToEndId")],
            ),
            (
                "no UETR and no instructed agent to scope the original's ids",
                |doc| {
                    doc.set(1, "ORGNL_UETR", "");
                    doc.replace(
                        "<InstdAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstdAgt>",
                        "",
                    );
                },
                vec![p("InstdAgt")],
            ),
            (
                "instructed agent BIC with a digit in its country code",
                |doc| doc.set_group("INSTD_BIC", "COBAD3FFXXX"),
                vec!["/Document/FIToFIPmtStsRpt/GrpHdr/InstdAgt/FinInstnId/BICFI".to_owned()],
            ),
            (
                "OrgnlEndToEndId of 36 characters",
                |doc| doc.set(1, "ORGNL_E2E", "E".repeat(36)),
                vec![p("OrgnlEndToEndId")],
            ),
            (
                "unknown element in the transaction",
                |doc| doc.replace("<TxSts>", "<Surprise>1</Surprise><TxSts>"),
                vec![p("Surprise")],
            ),
            (
                "MsgId missing",
                |doc| {
                    let id = doc.message_id().to_owned();
                    doc.replace(format!("<MsgId>{id}</MsgId>"), "");
                },
                vec!["/Document/FIToFIPmtStsRpt/GrpHdr".to_owned()],
            ),
            (
                "namespace of a version that does not exist",
                |doc| {
                    let id = doc.version.id;
                    doc.replace(format!("xsd:{id}\""), "xsd:pacs.002.001.99\"");
                },
                vec!["/Document".to_owned()],
            ),
            (
                "mismatched end tag",
                |doc| doc.replace("</TxSts>", "</TxStatus>"),
                vec![p("TxSts")],
            ),
        ];
        for (name, mutate, paths) in document_refusals {
            let case = table.numbering.next();
            let tag = format!("c{case}");
            let original = original_of(case, &tag);
            let mut doc = Doc::status_report(version, &tag, &original, "ACSC");
            mutate(&mut doc);
            table.push(
                format!("{id} {name}"),
                Family::Pacs002,
                vec![original],
                doc,
                Answer::invalid(paths),
            );
        }
    }
}

fn payment_return_cases(table: &mut Table) {
    let original_version = Version {
        family: Family::Pacs008,
        id: "pacs.008.001.08",
    };
    let pain_version = Version {
        family: Family::Pain001,
        id: "pain.001.001.09",
    };
    let status_version = Version {
        family: Family::Pacs002,
        id: "pacs.002.001.10",
    };
    for version in versions(Family::Pacs004) {
        let id = version.id;
        let p = |relative: &str| format!("{}/{relative}", version.transaction_path(1));
        let original_of = |case: usize, tag: &str| {
            Doc::credit_transfer_with_uetr(original_version, &format!("{tag}-o"), case, 1)
        };

        let case = table.numbering.next();
        let tag = format!("c{case}");
        let never_sent = original_of(case, &tag);
        table.push(
            format!("{id} return of a payment the ledger has never seen"),
            Family::Pacs004,
            Vec::new(),
            Doc::payment_return(version, &tag, &never_sent),
            Answer::rejected("ORIGINAL_NOT_FOUND"),
        );

        let case = table.numbering.next();
        let tag = format!("c{case}");
        let never_sent = Doc::credit_transfer(original_version, &format!("{tag}-o"), 1);
        table.push(
            format!("{id} return of a pacs.008 without UETR the ledger has never seen"),
            Family::Pacs004,
            Vec::new(),
            Doc::payment_return(version, &tag, &never_sent),
            Answer::rejected("ORIGINAL_NOT_FOUND"),
        );

        // Semantics §2: returns add up to at most the settled amount.
        for (name, currency, value, reason) in [
            (
                "more than the amount",
                "EUR",
                "2.00",
                "RETURN_EXCEEDS_REMAINING",
            ),
            (
                "one cent more than the amount",
                "EUR",
                "1.01",
                "RETURN_EXCEEDS_REMAINING",
            ),
            (
                "the amount in USD",
                "USD",
                "1.00",
                "RETURN_CURRENCY_MISMATCH",
            ),
            ("the amount in JPY", "JPY", "1", "RETURN_CURRENCY_MISMATCH"),
        ] {
            let case = table.numbering.next();
            let tag = format!("c{case}");
            let original = original_of(case, &tag);
            let mut doc = Doc::payment_return(version, &tag, &original);
            doc.set(1, "CCY", currency);
            doc.set(1, "AMOUNT", value);
            table.push(
                format!("{id} return of {name}"),
                Family::Pacs004,
                vec![original],
                doc,
                Answer::rejected(reason),
            );
        }

        let case = table.numbering.next();
        let tag = format!("c{case}");
        let original = original_of(case, &tag);
        let mut first_return = Doc::payment_return(version, &format!("{tag}-r"), &original);
        first_return.set(1, "AMOUNT", "0.60");
        let mut doc = Doc::payment_return(version, &tag, &original);
        doc.set(1, "AMOUNT", "0.60");
        table.push(
            format!("{id} a second return beyond what is left to return"),
            Family::Pacs004,
            vec![original, first_return],
            doc,
            Answer::rejected("RETURN_EXCEEDS_REMAINING"),
        );

        let case = table.numbering.next();
        let tag = format!("c{case}");
        let held = Doc::credit_transfer_with_uetr(pain_version, &format!("{tag}-o"), case, 1);
        let rejection = Doc::status_report(status_version, &format!("{tag}-r"), &held, "RJCT");
        table.push(
            format!("{id} return of a rejected hold"),
            Family::Pacs004,
            vec![held.clone(), rejection],
            Doc::payment_return(version, &tag, &held),
            Answer::rejected("STATE_CONFLICT"),
        );

        // The creditor spent what it received: the reversal would overdraw it.
        let case = table.numbering.next();
        let tag = format!("c{case}");
        let mut original = original_of(case, &tag);
        original.set(1, "CDTR_IBAN", SPENDER_IBAN);
        let mut spent = Doc::credit_transfer(original_version, &format!("{tag}-s"), 1);
        spent.set(1, "DBTR_IBAN", SPENDER_IBAN);
        spent.set(1, "CDTR_IBAN", DEBTOR_IBAN);
        table.push(
            format!("{id} return whose reversal overdraws the creditor"),
            Family::Pacs004,
            vec![original.clone(), spent],
            Doc::payment_return(version, &tag, &original),
            Answer::rejected("INSUFFICIENT_FUNDS"),
        );

        let a = p("RtrdIntrBkSttlmAmt");
        let document_refusals: Vec<NamedRefusal> = vec![
            (
                "zero returned amount",
                |doc| doc.set(1, "AMOUNT", "0.00"),
                vec![a.clone()],
            ),
            (
                "negative returned amount",
                |doc| doc.set(1, "AMOUNT", "-1.00"),
                vec![a.clone()],
            ),
            (
                "returned amount of 19 digits",
                |doc| doc.set(1, "AMOUNT", "1234567890123456789"),
                vec![a.clone()],
            ),
            (
                "returned amount in EUR with three decimals",
                |doc| doc.set(1, "AMOUNT", "1.001"),
                vec![a.clone()],
            ),
            (
                "returned amount in JPY with decimals",
                |doc| {
                    doc.set(1, "CCY", "JPY");
                    doc.set(1, "AMOUNT", "1.5");
                },
                vec![a.clone()],
            ),
            (
                "returned amount in an unknown currency",
                |doc| doc.set(1, "CCY", "QQQ"),
                vec![a.clone()],
            ),
            (
                "returned amount in a historic currency (ITL)",
                |doc| doc.set(1, "CCY", "ITL"),
                vec![a.clone()],
            ),
            (
                "returned amount missing",
                |doc| {
                    doc.replace(
                        "<RtrdIntrBkSttlmAmt Ccy=\"EUR\">1.00</RtrdIntrBkSttlmAmt>",
                        "",
                    )
                },
                vec![version.transaction_path(1)],
            ),
            (
                "NbOfTxs says 3 for one return",
                |doc| doc.set_group("NB_OF_TXS", "3"),
                vec!["/Document/PmtRtr/GrpHdr/NbOfTxs".to_owned()],
            ),
            (
                "CtrlSum 9.99 for one return of 1.00",
                |doc| doc.set_group("CTRL_SUM", "<CtrlSum>9.99</CtrlSum>"),
                vec!["/Document/PmtRtr/GrpHdr/CtrlSum".to_owned()],
            ),
            (
                "names no original (no UETR, no InstrId, EndToEndId NOTPROVIDED)",
                |doc| {
                    doc.set(1, "ORGNL_UETR", "");
                    doc.set(1, "ORGNL_INSTR_ID", "");
                    doc.set(1, "ORGNL_E2E", "NOTPROVIDED");
                },
                vec![p("OrgnlEndToEndId")],
            ),
            (
                "instructed agent BIC of seven characters",
                |doc| doc.set(1, "INSTD_BIC", "COBADEF"),
                vec![p("InstdAgt/FinInstnId/BICFI")],
            ),
            (
                "RtrId of 36 characters",
                |doc| doc.set(1, "RTR_ID", "R".repeat(36)),
                vec![p("RtrId")],
            ),
            (
                "OrgnlUETR that is not a UUID",
                |doc| doc.set(1, "ORGNL_UETR", "<OrgnlUETR>not-a-uuid</OrgnlUETR>"),
                vec![p("OrgnlUETR")],
            ),
            (
                "unknown element in the transaction",
                |doc| doc.replace("<ChrgBr>", "<Surprise>1</Surprise><ChrgBr>"),
                vec![p("Surprise")],
            ),
            (
                "namespace of a version that does not exist",
                |doc| {
                    let id = doc.version.id;
                    doc.replace(format!("xsd:{id}\""), "xsd:pacs.004.001.99\"");
                },
                vec!["/Document".to_owned()],
            ),
            (
                "truncated after the first transaction's return id",
                |doc| {
                    let text = String::from_utf8(doc.render()).unwrap();
                    let cut = text.find("</RtrId>").unwrap() + "</RtrId>".len();
                    doc.edit(Edit::Truncate(cut));
                },
                vec![version.transaction_path(1)],
            ),
        ];
        for (name, mutate, paths) in document_refusals {
            let case = table.numbering.next();
            let tag = format!("c{case}");
            let original = original_of(case, &tag);
            let mut doc = Doc::payment_return(version, &tag, &original);
            mutate(&mut doc);
            table.push(
                format!("{id} {name}"),
                Family::Pacs004,
                vec![original],
                doc,
                Answer::invalid(paths),
            );
        }
    }
}
