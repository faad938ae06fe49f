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

impl Error {
    /// Where the error is: its element's path, or `/` for input refused
    /// before any element (not XML at all, a DOCTYPE, an empty document).
    pub fn location(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.kind)
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
    #[error("{rule}: {value:?}{}", upper_case_hint(rule, value))]
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

/// ` (upper case: "EUR")` when `value` breaks a currency, BIC or IBAN rule only for
/// being in lower case, else nothing. Computed when the error is shown, never while
/// reading.
fn upper_case_hint(rule: &str, value: &str) -> String {
    if !value.bytes().any(|byte| byte.is_ascii_lowercase()) {
        return String::new();
    }
    let upper = value.to_ascii_uppercase();
    let valid_in_upper_case = if rule.contains("Currency") || rule.contains("currency") {
        crate::types::CurrencyCode::new(&upper).is_ok()
    } else if rule.contains("BIC") {
        crate::types::Bic::new(&upper).is_ok()
    } else if rule.contains("IBAN") {
        crate::types::Iban::new(&upper).is_ok()
    } else {
        false
    };
    if valid_in_upper_case {
        format!(" (upper case: {upper:?})")
    } else {
        String::new()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_case_currency_bic_or_iban_is_shown_with_its_upper_case_form() {
        let check = |rule: &str, value: &str, expected: &str| {
            assert_eq!(ErrorKind::invalid(rule, value).to_string(), expected);
        };
        check(
            "ActiveOrHistoricCurrencyCode: pattern [A-Z]{3,3}",
            "eur",
            r#"ActiveOrHistoricCurrencyCode: pattern [A-Z]{3,3}: "eur" (upper case: "EUR")"#,
        );
        check(
            "ISO 4217 active currency code",
            "eur",
            r#"ISO 4217 active currency code: "eur" (upper case: "EUR")"#,
        );
        check(
            "BICFIDec2014Identifier: pattern [A-Z0-9]{4,4}[A-Z]{2,2}[A-Z0-9]{2,2}([A-Z0-9]{3,3}){0,1}",
            "cobadeffxxx",
            r#"BICFIDec2014Identifier: pattern [A-Z0-9]{4,4}[A-Z]{2,2}[A-Z0-9]{2,2}([A-Z0-9]{3,3}){0,1}: "cobadeffxxx" (upper case: "COBADEFFXXX")"#,
        );
        check(
            "IBAN pattern",
            "de89370400440532013000",
            r#"IBAN pattern: "de89370400440532013000" (upper case: "DE89370400440532013000")"#,
        );
        // No suggestion where upper case would not help, or for other rules.
        check(
            "ISO 4217 active currency code",
            "xyz",
            r#"ISO 4217 active currency code: "xyz""#,
        );
        check("BIC pattern", "not a bic", r#"BIC pattern: "not a bic""#);
        check(
            "Max35Text: minLength 1",
            "abc",
            r#"Max35Text: minLength 1: "abc""#,
        );
    }
}
