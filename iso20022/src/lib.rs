//! Strict, streaming, versioned ISO 20022 reader and writer.
//!
//! Reads pacs.008, pain.001, pacs.002, pacs.004, camt.053 and camt.054 (the versions in
//! [`supported_messages`]), bare or with a Business Application Header inside the
//! envelopes real files use; writes pacs.002.001.10 and pain.002.001.10 status reports.
//! Every element is validated against the schema of its version (generated from the
//! official XSDs), plus the business rules the XSDs leave out (IBAN check digits,
//! ISO 4217 codes and minor units, NbOfTxs and CtrlSum). Every error names its path.
//!
//! Pure: no IO beyond `std::io::BufRead` / `Write`.

mod error;
mod model;
mod pattern;
mod reader;
mod schema;
mod stream;
mod tree;
mod types;
mod writer;

pub use error::{Error, ErrorKind, Errors, ERRORS_MAX};
pub use model::*;
pub use reader::{
    parse_document, supported_messages, Message, MessageReader, MAX_ATTRIBUTES, MAX_DEPTH,
    MAX_ENVELOPE_DEPTH, MAX_NAMESPACE_DECLARATIONS, MAX_START_TAG_BYTES, MAX_TEXT_LEN,
    MAX_TOKEN_BYTES, MAX_TOTAL_BYTES, MAX_UNIT_ELEMENTS,
};
pub use types::*;
pub use writer::*;
