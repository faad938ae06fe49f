//! The crate's single error type: every error carries the path of the element it is about
//! and the rule that was broken.

use std::fmt;

/// Most errors collected for one message (or one stream) before reading stops.
pub const ERRORS_MAX: usize = 100;

/// One problem found in a message, located by `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Location, e.g. `/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[3]/IntrBkSttlmAmt`.
    pub path: String,
    /// The rule broken.
    pub kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(path: impl Into<String>, kind: ErrorKind) -> Self {
        Error {
            path: path.into(),
            kind,
        }
    }

    /// True for errors after which the stream cannot go on (malformed or hostile XML,
    /// unsupported message, limits).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Xml(_)
                | ErrorKind::Io(_)
                | ErrorKind::Forbidden(_)
                | ErrorKind::Limit { .. }
                | ErrorKind::Unsupported { .. }
                | ErrorKind::NoDocument(_)
                | ErrorKind::TooManyErrors
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.kind)
    }
}

impl std::error::Error for Error {}

/// The rule an [`Error`] reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not well-formed XML (mismatched tags, truncated file, bad UTF-8, ...).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// The underlying reader failed.
    #[error("read error: {0}")]
    Io(String),
    /// A construct refused for safety (DOCTYPE, entity declaration or reference, XInclude,
    /// non-UTF-8 encoding).
    #[error("forbidden XML construct: {0}")]
    Forbidden(String),
    /// A named limit was exceeded.
    #[error("limit exceeded: {limit} is {max}")]
    Limit { limit: &'static str, max: usize },
    /// The message type or version is not supported.
    #[error("unsupported message: found {found}; supported: {supported}")]
    Unsupported { found: String, supported: String },
    /// No ISO 20022 `Document` was found.
    #[error("no ISO 20022 Document element found{0}")]
    NoDocument(String),
    /// The Business Application Header names another message than the Document.
    #[error("AppHdr/MsgDefIdr is {header} but the Document is {document}")]
    HeaderMismatch { header: String, document: String },
    /// An element the schema does not allow here.
    #[error("unexpected element {0}")]
    UnexpectedElement(String),
    /// An element out of the schema's sequence order.
    #[error("element {element} is out of order (must come before {before})")]
    OutOfOrder { element: String, before: String },
    /// An element repeated more often than the schema allows.
    #[error("element {element} occurs more than {max} time(s)")]
    TooManyOccurrences { element: String, max: u32 },
    /// A required element is missing.
    #[error("required element {0} is missing")]
    MissingElement(String),
    /// A choice has no alternative, or more than one.
    #[error("choice needs exactly one of {0}")]
    Choice(String),
    /// Text where the schema allows only elements.
    #[error("text content not allowed in element-only content: {0:?}")]
    UnexpectedText(String),
    /// A required attribute is missing, or an attribute is not allowed.
    #[error("attribute {0}")]
    Attribute(String),
    /// A value breaks a schema facet or a business rule; `rule` names which.
    #[error("{rule}: {value:?}")]
    Invalid { rule: String, value: String },
    /// NbOfTxs disagrees with the number of transactions.
    #[error("NbOfTxs is {declared} but {counted} transaction(s) were found")]
    NbOfTxs { declared: String, counted: u64 },
    /// CtrlSum (or a total amount) disagrees with the sum of the amounts.
    #[error("{field} is {declared} but the amounts add up to {computed}")]
    ControlSum {
        field: &'static str,
        declared: String,
        computed: String,
    },
    /// The error limit ([`ERRORS_MAX`]) was reached; further problems are not reported.
    #[error("more than {} errors; stopped", ERRORS_MAX)]
    TooManyErrors,
}

impl ErrorKind {
    #[cold]
    pub(crate) fn invalid(rule: impl Into<String>, value: impl Into<String>) -> Self {
        let mut value: String = value.into();
        if value.len() > 80 {
            let mut cut = 80;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
            value.push('…');
        }
        ErrorKind::Invalid {
            rule: rule.into(),
            value,
        }
    }
}

/// A non-empty list of errors (at most [`ERRORS_MAX`] + 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Errors(pub Vec<Error>);

impl Errors {
    /// The errors, in document order.
    pub fn iter(&self) -> std::slice::Iter<'_, Error> {
        self.0.iter()
    }
    /// How many errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Never true for a value returned by this crate.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

impl IntoIterator for Errors {
    type Item = Error;
    type IntoIter = std::vec::IntoIter<Error>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
