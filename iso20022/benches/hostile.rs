//! Hostile documents, generated: shared by `tests/hostile.rs`, the `hostile` bench and
//! `api/tests/hostile_xml.rs` (included with `#[path]`).
#![allow(dead_code)]

/// The shapes of hostile XML the codec refuses, each grown by its count `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `n` distinct attributes on the `Document` start tag.
    AttributesOnDocument,
    /// `n` distinct attributes on the `GrpHdr` start tag.
    AttributesOnGroupHeader,
    /// `n` `xmlns:pN` declarations on the `Document` start tag.
    NamespaceDeclarations,
    /// One attribute value of `n` bytes on `GrpHdr`.
    LongAttributeValue,
    /// `n` nested elements inside the debtor's name.
    NestedElements,
    /// `n` sibling elements in the group header, each with its own prefix declared on it
    /// and bound to its own namespace.
    DistinctPrefixes,
}

impl Shape {
    pub const ALL: [Shape; 6] = [
        Shape::AttributesOnDocument,
        Shape::AttributesOnGroupHeader,
        Shape::NamespaceDeclarations,
        Shape::LongAttributeValue,
        Shape::NestedElements,
        Shape::DistinctPrefixes,
    ];

    /// The count of the hostile documents reported (100,000 attributes, a 3 MB value...).
    pub fn reported_count(self) -> usize {
        match self {
            Shape::LongAttributeValue => 3_000_000,
            Shape::DistinctPrefixes => 10_000,
            _ => 100_000,
        }
    }
}

const NS: &str = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08";

/// A valid pacs.008.001.08 with one transaction, with the parts a shape replaces marked.
fn base(document_attrs: &str, grphdr_attrs: &str, grphdr_extra: &str, name: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{NS}"{document_attrs}>
<FIToFICstmrCdtTrf>
<GrpHdr{grphdr_attrs}><MsgId>MSG-HOSTILE</MsgId>{grphdr_extra}<CreDtTm>2026-04-13T08:10:00Z</CreDtTm><NbOfTxs>1</NbOfTxs><SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf></GrpHdr>
<CdtTrfTxInf>
<PmtId><InstrId>I-H1</InstrId><EndToEndId>H1</EndToEndId><TxId>T-H1</TxId><UETR>b94458f8-1f27-40e9-bf74-b07cbb339439</UETR></PmtId>
<IntrBkSttlmAmt Ccy="EUR">1.00</IntrBkSttlmAmt>
<IntrBkSttlmDt>2026-04-13</IntrBkSttlmDt>
<ChrgBr>SLEV</ChrgBr>
<InstgAgt><FinInstnId><BICFI>DEUTDEFF</BICFI></FinInstnId></InstgAgt>
<InstdAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></InstdAgt>
<Dbtr>{name}</Dbtr>
<DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
<DbtrAgt><FinInstnId><BICFI>DEUTDEFF</BICFI></FinInstnId></DbtrAgt>
<CdtrAgt><FinInstnId><BICFI>COBADEFF</BICFI></FinInstnId></CdtrAgt>
<Cdtr><Nm>Bob</Nm></Cdtr>
<CdtrAcct><Id><IBAN>GB82WEST12345698765432</IBAN></Id></CdtrAcct>
</CdtTrfTxInf>
</FIToFICstmrCdtTrf>
</Document>"#
    )
}

/// The hostile document of `shape` grown to `n`.
pub fn document(shape: Shape, n: usize) -> Vec<u8> {
    let attrs = |n: usize| -> String { (0..n).map(|i| format!(" a{i}=\"1\"")).collect() };
    let alice = "<Nm>Alice</Nm>";
    let doc = match shape {
        Shape::AttributesOnDocument => base(&attrs(n), "", "", alice),
        Shape::AttributesOnGroupHeader => base("", &attrs(n), "", alice),
        Shape::NamespaceDeclarations => {
            let decls: String = (0..n)
                .map(|i| format!(" xmlns:p{i}=\"urn:p{i}\""))
                .collect();
            base(&decls, "", "", alice)
        }
        Shape::LongAttributeValue => base("", &format!(" a=\"{}\"", "x".repeat(n)), "", alice),
        Shape::NestedElements => {
            let name = format!("{}Alice{}", "<Nm>".repeat(n), "</Nm>".repeat(n));
            base("", "", "", &name)
        }
        Shape::DistinctPrefixes => {
            let extra: String = (0..n)
                .map(|i| format!("<p{i}:X xmlns:p{i}=\"urn:p{i}\"/>"))
                .collect();
            base("", "", &extra, alice)
        }
    };
    doc.into_bytes()
}

/// A valid document of the same form (parsed to show the base is valid).
pub fn valid_document() -> Vec<u8> {
    base("", "", "", "<Nm>Alice</Nm>").into_bytes()
}
