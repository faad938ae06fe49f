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
    let streamed = match MessageReader::new(doc) {
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
    };
    for errs in [whole, streamed] {
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
