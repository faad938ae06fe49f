//! Namespaces: scoped declarations (`xmlns`, `xmlns:p`, `xmlns=""`, the reserved `xml`
//! and `xmlns` prefixes), their look-up, and whether a namespace is the one the open
//! element's schema expects (decided once per declaration, not per element).

use super::state::State;
use quick_xml::name::PrefixDeclaration;

pub(super) const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

pub(super) const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// One namespace declaration in scope (`prefix` empty: the default namespace; `uri`
/// empty: undeclared).
#[derive(Debug)]
pub(super) struct NsBinding {
    pub(super) prefix: Vec<u8>,
    pub(super) uri: Vec<u8>,
    /// Nesting level of the element that declared it.
    pub(super) depth: usize,
    /// Last comparison with an expected namespace: (its address, equal).
    pub(super) expected: std::cell::Cell<(usize, bool)>,
}

/// A namespace in scope: its URI and the declaration it comes from (none for `xml`).
type Bound<'a> = (&'a [u8], Option<&'a NsBinding>);

/// `uri`, bound by declaration `b`, is the namespace `expected`: compared once per
/// declaration and expected namespace, not per element.
#[inline]
pub(super) fn is_namespace(expected: &str, uri: &[u8], b: Option<&NsBinding>) -> bool {
    match b {
        Some(b) => {
            let key = expected.as_ptr() as usize ^ (expected.len() << 48);
            match b.expected.get() {
                (k, v) if k == key => v,
                _ => {
                    let v = uri == expected.as_bytes();
                    b.expected.set((key, v));
                    v
                }
            }
        }
        None => uri == expected.as_bytes(),
    }
}

impl State {
    #[inline]
    pub(super) fn expected_ns(&self) -> &'static str {
        if self.depth == 0 {
            return "";
        }
        match self.frames[self.depth - 1].schema {
            Some(s) => s.namespace,
            None => "",
        }
    }

    /// Binds the prefix of one `xmlns`/`xmlns:p` attribute for the element being started.
    pub(super) fn bind(&mut self, decl: PrefixDeclaration<'_>, uri: &[u8]) -> Result<(), String> {
        let prefix: &[u8] = match decl {
            PrefixDeclaration::Default => b"",
            PrefixDeclaration::Named(b"xml") => {
                if uri != XML_NS.as_bytes() {
                    return Err("the prefix xml is bound to another namespace".into());
                }
                return Ok(());
            }
            PrefixDeclaration::Named(b"xmlns") => {
                return Err("the prefix xmlns cannot be declared".into());
            }
            PrefixDeclaration::Named(p) => {
                if uri == XML_NS.as_bytes() || uri == XMLNS_NS.as_bytes() {
                    return Err(format!(
                        "prefix {:?} bound to a reserved namespace",
                        String::from_utf8_lossy(p)
                    ));
                }
                p
            }
        };
        self.ns_changes += 1;
        self.ns.push(NsBinding {
            prefix: prefix.to_vec(),
            uri: uri.to_vec(),
            depth: self.xml_depth,
            expected: std::cell::Cell::new((0, false)),
        });
        self.ns_depth = self.xml_depth;
        Ok(())
    }

    /// The namespace bound to `prefix` (`None`: the default namespace) in scope:
    /// `Ok(None)` if unbound, `Err(())` for an unknown prefix.
    pub(super) fn lookup(&self, prefix: Option<&[u8]>) -> Result<Option<&[u8]>, ()> {
        self.lookup_binding(prefix).map(|b| b.map(|b| b.0))
    }

    /// As [`Self::lookup`], with the declaration it comes from (none for `xml`).
    pub(super) fn lookup_binding(&self, prefix: Option<&[u8]>) -> Result<Option<Bound<'_>>, ()> {
        if prefix == Some(b"xml") {
            return Ok(Some((XML_NS.as_bytes(), None)));
        }
        let key = prefix.unwrap_or(b"");
        match self.ns.iter().rev().find(|b| b.prefix == key) {
            Some(b) if !b.uri.is_empty() => Ok(Some((&b.uri, Some(b)))),
            _ if prefix.is_none() => Ok(None),
            _ => Err(()),
        }
    }

    /// The default namespace in scope is the one the open element's schema expects
    /// (remembered until a declaration comes into or goes out of scope, or the expected
    /// namespace changes).
    #[inline]
    pub(super) fn default_ns_is_expected(&mut self) -> bool {
        let key = (self.ns_changes, self.expected_ns().as_ptr() as usize);
        if key != self.default_ns.0 {
            let v = match self.lookup_binding(None) {
                Ok(Some((uri, b))) => is_namespace(self.expected_ns(), uri, b),
                _ => false,
            };
            self.default_ns = (key, v);
        }
        self.default_ns.1
    }
}
