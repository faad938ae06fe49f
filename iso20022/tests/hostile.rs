//! Hostile XML is refused by the codec's own limits, located at the element that breaks
//! them, after work linear in the input (the `hostile` bench measures the time; these
//! tests only pin the refusals).

#[path = "../benches/hostile.rs"]
mod hostile;

use hostile::Shape;
use iso20022::*;

/// The document is refused, both whole and streamed, with an error containing each
/// expected fragment.
fn check_refused(doc: &[u8], expected: &[&str]) {
    let whole = match parse_document(doc) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    for errs in [whole, streamed_errors(doc)] {
        for x in expected {
            assert!(errs.contains(x), "expected {x:?} in:\n{errs:.2000}");
        }
    }
}

#[test]
fn the_generated_base_document_is_valid() {
    parse_document(&hostile::valid_document()).expect("valid base");
}

#[test]
fn a_hundred_thousand_attributes_on_document_are_refused_by_max_attributes() {
    let doc = hostile::document(Shape::AttributesOnDocument, 100_000);
    check_refused(&doc, &["/Document: limit exceeded: MAX_ATTRIBUTES"]);
}

#[test]
fn a_hundred_thousand_attributes_on_grphdr_are_refused_by_max_attributes() {
    let doc = hostile::document(Shape::AttributesOnGroupHeader, 100_000);
    check_refused(
        &doc,
        &["/Document/FIToFICstmrCdtTrf/GrpHdr: limit exceeded: MAX_ATTRIBUTES"],
    );
}

#[test]
fn a_hundred_thousand_namespace_declarations_in_one_start_tag_are_refused_as_attributes() {
    // declarations are attributes, and the attribute count is checked first
    let doc = hostile::document(Shape::NamespaceDeclarations, 100_000);
    check_refused(&doc, &["/Document: limit exceeded: MAX_ATTRIBUTES"]);
}

#[test]
fn more_namespace_declarations_than_max_namespace_declarations_are_refused() {
    let doc = hostile::document(Shape::NamespaceDeclarations, MAX_NAMESPACE_DECLARATIONS);
    check_refused(
        &doc,
        &["/Document: limit exceeded: MAX_NAMESPACE_DECLARATIONS"],
    );
    // the default declaration and MAX_NAMESPACE_DECLARATIONS - 1 others are accepted
    let ok = hostile::document(Shape::NamespaceDeclarations, MAX_NAMESPACE_DECLARATIONS - 1);
    parse_document(&ok).expect("at the limit");
}

#[test]
fn a_three_megabyte_attribute_value_is_refused_by_max_start_tag_bytes() {
    let doc = hostile::document(Shape::LongAttributeValue, 3_000_000);
    check_refused(
        &doc,
        &["/Document/FIToFICstmrCdtTrf/GrpHdr: limit exceeded: MAX_START_TAG_BYTES"],
    );
}

#[test]
fn a_start_tag_just_over_max_start_tag_bytes_is_refused_and_one_at_it_is_not_for_its_length() {
    // `GrpHdr a="…"`: 11 bytes besides the value
    let over = hostile::document(Shape::LongAttributeValue, MAX_START_TAG_BYTES - 10);
    check_refused(&over, &["GrpHdr: limit exceeded: MAX_START_TAG_BYTES"]);
    let at = hostile::document(Shape::LongAttributeValue, MAX_START_TAG_BYTES - 11);
    let errs = parse_document(&at).unwrap_err().to_string();
    assert!(!errs.contains("MAX_START_TAG_BYTES"), "{errs:.2000}");
    assert!(
        errs.contains("GrpHdr"),
        "refused for its unknown attribute: {errs:.2000}"
    );
}

#[test]
fn a_long_start_tag_with_too_many_attributes_names_max_attributes() {
    let doc = hostile::document(Shape::AttributesOnGroupHeader, MAX_ATTRIBUTES + 1);
    check_refused(&doc, &["GrpHdr: limit exceeded: MAX_ATTRIBUTES"]);
}

#[test]
fn a_hundred_thousand_nested_elements_are_refused_by_max_depth() {
    let doc = hostile::document(Shape::NestedElements, 100_000);
    check_refused(&doc, &["/Dbtr/Nm/Nm", "limit exceeded: MAX_DEPTH"]);
}

#[test]
fn ten_thousand_distinct_prefixes_are_refused_after_max_errors() {
    let doc = hostile::document(Shape::DistinctPrefixes, 10_000);
    check_refused(
        &doc,
        &[
            "/Document/FIToFICstmrCdtTrf/GrpHdr/X: unexpected element {urn:p0}X",
            "errors; stopped",
        ],
    );
}

/// A token longer than `MAX_TOKEN_BYTES` put into the base document: the text it
/// replaces, the text it puts there given the token's length, and the located error that
/// refuses it.
struct LongToken {
    replaced: &'static str,
    by: fn(usize) -> String,
    refused: &'static str,
}

const TEXT_NODE: LongToken = LongToken {
    replaced: "<Nm>Alice</Nm>",
    by: |n| format!("<Nm>{}</Nm>", "x".repeat(n)),
    refused: "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]/Dbtr/Nm: limit exceeded: MAX_TOKEN_BYTES",
};

const COMMENT: LongToken = LongToken {
    replaced: "<MsgId>",
    by: |n| format!("<!--{}--><MsgId>", "x".repeat(n)),
    refused: "/Document/FIToFICstmrCdtTrf/GrpHdr: limit exceeded: MAX_TOKEN_BYTES",
};

const ATTRIBUTE_VALUE: LongToken = LongToken {
    replaced: "<GrpHdr>",
    by: |n| format!("<GrpHdr a=\"{}\">", "x".repeat(n)),
    refused: "/Document/FIToFICstmrCdtTrf/GrpHdr: limit exceeded: MAX_START_TAG_BYTES",
};

impl LongToken {
    /// Where the token starts in the base document.
    fn offset(&self) -> usize {
        let base = String::from_utf8(hostile::valid_document()).expect("UTF-8");
        base.find(self.replaced).expect("in the base document")
    }

    /// The base document with a token of `n` bytes.
    fn document(&self, n: usize) -> Vec<u8> {
        let base = String::from_utf8(hostile::valid_document()).expect("UTF-8");
        base.replacen(self.replaced, &(self.by)(n), 1).into_bytes()
    }
}

/// The errors of reading `input` to its end with [`MessageReader`].
fn streamed_errors(input: impl std::io::BufRead) -> String {
    match MessageReader::new(input) {
        Err(e) => e.to_string(),
        Ok(mut r) => {
            let mut errs = String::new();
            while let Some(t) = r.next_transaction() {
                if let Err(e) = t {
                    errs.push_str(&e.to_string());
                }
            }
            errs
        }
    }
}

/// A byte slice as a `BufRead` that counts the bytes the reader consumes: like `&[u8]`,
/// it hands out all the rest of the input at each `fill_buf`.
struct CountingSlice<'a> {
    rest: &'a [u8],
    consumed: usize,
}

impl std::io::Read for CountingSlice<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.rest.len().min(out.len());
        out[..n].copy_from_slice(&self.rest[..n]);
        std::io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl std::io::BufRead for CountingSlice<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Ok(self.rest)
    }
    fn consume(&mut self, n: usize) {
        self.rest = &self.rest[n..];
        self.consumed += n;
    }
}

/// The three-megabyte token is refused with its located error given as a byte slice
/// (whole and streamed), through a small `BufReader` and through one larger than the
/// document.
fn check_three_megabyte_token_refused(token: &LongToken) {
    let doc = token.document(3_000_000);
    check_refused(&doc, &[token.refused]);
    for capacity in [4096, doc.len() + 1] {
        let errs = streamed_errors(std::io::BufReader::with_capacity(capacity, &doc[..]));
        assert!(
            errs.contains(token.refused),
            "capacity {capacity}: expected {:?} in:\n{errs:.2000}",
            token.refused
        );
    }
}

#[test]
fn a_three_megabyte_text_node_given_as_a_byte_slice_is_refused_by_max_token_bytes() {
    check_three_megabyte_token_refused(&TEXT_NODE);
}

#[test]
fn a_three_megabyte_comment_given_as_a_byte_slice_is_refused_by_max_token_bytes() {
    check_three_megabyte_token_refused(&COMMENT);
}

#[test]
fn a_long_start_tag_is_refused_by_the_start_tag_limits_whatever_the_input() {
    // cut off by MAX_TOKEN_BYTES, a start tag is still named by the start tag's limits
    check_three_megabyte_token_refused(&ATTRIBUTE_VALUE);
    let doc = hostile::document(Shape::AttributesOnDocument, 100_000);
    let errs = streamed_errors(std::io::BufReader::with_capacity(4096, &doc[..]));
    assert!(
        errs.contains("/Document: limit exceeded: MAX_ATTRIBUTES"),
        "{errs:.2000}"
    );
}

#[test]
fn a_long_token_in_a_byte_slice_is_refused_within_max_token_bytes_of_its_start() {
    // the work of refusing a long token does not grow with it: whatever the input's
    // buffer, the reader stops MAX_TOKEN_BYTES into the token
    for token in [TEXT_NODE, COMMENT, ATTRIBUTE_VALUE] {
        for n in [3_000_000, 30_000_000] {
            let mut input = CountingSlice {
                rest: &token.document(n),
                consumed: 0,
            };
            let errs = streamed_errors(&mut input);
            assert!(errs.contains(token.refused), "{n} bytes: {errs:.2000}");
            assert!(
                input.consumed <= token.offset() + MAX_TOKEN_BYTES + 64,
                "{}, {n} bytes: {} bytes read, the token starts at {}",
                token.replaced,
                input.consumed,
                token.offset()
            );
        }
    }
}
