//! Limits and hostile-input guards: the named limits, the input guard that counts the bytes
//! of the input and of the token in progress, and the start-tag checks that bound the work
//! per tag whatever it holds.

use super::state::State;
use crate::error::ErrorKind;
use quick_xml::events::BytesStart;
use std::io::{self, BufRead, Read};

/// Deepest element nesting accepted (wrappers included).
pub const MAX_DEPTH: usize = 48;

/// Longest text of one element, in bytes.
pub const MAX_TEXT_LEN: usize = 16 * 1024;

/// Most attributes on one element (namespace declarations included). Counted while the
/// attributes are read: the 17th ends the element's read (the samples have at most 3).
pub const MAX_ATTRIBUTES: usize = 16;

/// Most namespace declarations (`xmlns`, `xmlns:p`) on one element (the samples have at
/// most 2). Checked after [`MAX_ATTRIBUTES`].
pub const MAX_NAMESPACE_DECLARATIONS: usize = 8;

/// Longest start tag (name and attributes, between `<` and `>`), in bytes (the samples'
/// longest is 321). A longer one is refused before its attributes are read.
pub const MAX_START_TAG_BYTES: usize = 4 * 1024;

/// Largest input accepted, in bytes.
pub const MAX_TOTAL_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Largest single XML token (tag, text run, comment) before it is buffered, in bytes.
pub const MAX_TOKEN_BYTES: usize = 256 * 1024;

/// Most elements in one unit (one transaction, one group header, one PmtInf header).
pub const MAX_UNIT_ELEMENTS: usize = 50_000;

/// Deepest nesting of non-ISO wrapper elements around `AppHdr` and `Document`.
pub const MAX_ENVELOPE_DEPTH: usize = 4;

/// Wraps the input: counts bytes (total limit) and the bytes of the token in progress, so
/// that no single token is buffered beyond [`MAX_TOKEN_BYTES`], whatever the input's
/// buffer size.
pub(super) struct Guard<R> {
    pub(super) inner: R,
    pub(super) total: u64,
    /// `total` may not exceed this: the lower of the end of the token's budget
    /// (`MAX_TOKEN_BYTES` after where the token started) and `MAX_TOTAL_BYTES`.
    pub(super) limit: u64,
    pub(super) tripped: Option<&'static str>,
}

impl<R: BufRead> Read for Guard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(out.len());
            out[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R> Guard<R> {
    /// A new token starts here.
    #[inline]
    pub(super) fn start_token(&mut self) {
        self.limit = (self.total + MAX_TOKEN_BYTES as u64).min(MAX_TOTAL_BYTES);
    }

    #[cold]
    fn trip(&mut self) -> io::Error {
        if self.total > MAX_TOTAL_BYTES {
            self.tripped = Some("MAX_TOTAL_BYTES");
            io::Error::other("input too large")
        } else {
            self.tripped = Some("MAX_TOKEN_BYTES");
            io::Error::other("token too large")
        }
    }
}

impl<R: BufRead> BufRead for Guard<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.total > self.limit {
            return Err(self.trip());
        }
        // at most one byte past the budget, so that the check above comes before a token
        // is read past it even when the input hands out all it has at once (a byte slice,
        // a large buffer): the limit does not depend on where buffer boundaries fall
        let room = (self.limit - self.total) as usize + 1;
        let available = self.inner.fill_buf()?;
        Ok(&available[..available.len().min(room)])
    }
    #[inline]
    fn consume(&mut self, n: usize) {
        self.total += n as u64;
        self.inner.consume(n);
    }
}

impl State {
    /// Counts the attributes of a start tag and binds its namespace declarations; whether
    /// it has others. `None` after reporting an error. Stops at the first attribute past
    /// [`MAX_ATTRIBUTES`], and binds no declaration past [`MAX_NAMESPACE_DECLARATIONS`], so
    /// the work per tag is bounded whatever the tag holds (quick-xml's duplicate check
    /// looks at most at `MAX_ATTRIBUTES` names).
    pub(super) fn scan_attributes(&mut self, e: &BytesStart<'_>) -> Option<(usize, bool)> {
        let mut n_attr = 0;
        let mut n_decl = 0;
        let mut other_attrs = false;
        for a in e.attributes() {
            n_attr += 1;
            if n_attr > MAX_ATTRIBUTES {
                self.refuse_start_tag(e, "MAX_ATTRIBUTES", MAX_ATTRIBUTES);
                return None;
            }
            let a = match a {
                Ok(a) => a,
                Err(err) => {
                    self.err(ErrorKind::Xml(format!("attribute: {err}")));
                    return None;
                }
            };
            match a.key.as_namespace_binding() {
                Some(decl) => {
                    n_decl += 1;
                    if n_decl > MAX_NAMESPACE_DECLARATIONS {
                        continue;
                    }
                    if let Err(m) = self.bind(decl, &a.value) {
                        self.err(ErrorKind::Xml(format!("namespace: {m}")));
                        return None;
                    }
                }
                None => other_attrs = true,
            }
        }
        if n_decl > MAX_NAMESPACE_DECLARATIONS {
            self.refuse_start_tag(e, "MAX_NAMESPACE_DECLARATIONS", MAX_NAMESPACE_DECLARATIONS);
            return None;
        }
        Some((n_attr, other_attrs))
    }

    /// A start tag longer than [`MAX_START_TAG_BYTES`]: refused, naming the most specific
    /// limit it breaks. Reads at most `MAX_ATTRIBUTES + 1` attributes, without the
    /// duplicate check.
    #[cold]
    #[inline(never)]
    pub(super) fn refuse_long_start_tag(&mut self, e: &BytesStart<'_>) {
        let mut attrs = e.attributes();
        attrs.with_checks(false);
        let (mut n_attr, mut n_decl) = (0, 0);
        for a in attrs.take(MAX_ATTRIBUTES + 1) {
            let Ok(a) = a else { break };
            n_attr += 1;
            if a.key.as_namespace_binding().is_some() {
                n_decl += 1;
            }
        }
        if n_attr > MAX_ATTRIBUTES {
            self.refuse_start_tag(e, "MAX_ATTRIBUTES", MAX_ATTRIBUTES);
        } else if n_decl > MAX_NAMESPACE_DECLARATIONS {
            self.refuse_start_tag(e, "MAX_NAMESPACE_DECLARATIONS", MAX_NAMESPACE_DECLARATIONS);
        } else {
            self.refuse_start_tag(e, "MAX_START_TAG_BYTES", MAX_START_TAG_BYTES);
        }
    }

    /// A start tag cut off by [`MAX_TOKEN_BYTES`] (`partial`: `<` and the tag as far as it
    /// was read, as quick-xml buffers it): refused as any start tag longer than
    /// [`MAX_START_TAG_BYTES`], at its element. `false` if `partial` is not a start tag
    /// (text, a comment, an end tag, a processing instruction).
    #[cold]
    #[inline(never)]
    pub(super) fn refuse_cut_start_tag(&mut self, partial: &[u8]) -> bool {
        let tag = match partial {
            [b'<', c, ..] if !matches!(c, b'!' | b'/' | b'?') => &partial[1..],
            _ => return false,
        };
        let tag = String::from_utf8_lossy(tag);
        let name_len = tag
            .find([' ', '\t', '\n', '\r', '/', '>'])
            .unwrap_or(tag.len());
        self.refuse_long_start_tag(&BytesStart::from_content(tag, name_len));
        true
    }

    /// Reports a per-element limit broken by the start tag `e`, at the path of the element
    /// it starts (its name as written, cut to 64 bytes).
    #[cold]
    #[inline(never)]
    fn refuse_start_tag(&mut self, e: &BytesStart<'_>, limit: &'static str, max: usize) {
        let qname = e.name().into_inner();
        let name = String::from_utf8_lossy(&qname[..qname.len().min(64)]);
        let path = format!("{}/{name}", self.path());
        self.err_at(path, ErrorKind::Limit { limit, max });
    }
}
