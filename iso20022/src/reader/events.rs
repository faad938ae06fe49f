//! The event loop's side of the state: one quick-xml event at a time (start tags, end
//! tags, text, CDATA, references, declarations, the end of input) handed to the element
//! stack.

use super::limits::{MAX_ATTRIBUTES, MAX_START_TAG_BYTES, MAX_TEXT_LEN};
use super::namespaces::{is_namespace, NsBinding, XML_NS, XSI};
use super::state::{Ns, Phase, Role, State};
use super::text::{
    is_ws, is_ws_lenient, is_xml_char, is_xml_space, plain_ccy_attribute, text_content,
};
use crate::error::ErrorKind;
use quick_xml::events::{BytesStart, Event};
use quick_xml::XmlVersion;

impl State {
    pub(super) fn on_end(&mut self) {
        self.end();
        self.xml_depth = self.xml_depth.saturating_sub(1);
        while self.ns_depth > self.xml_depth {
            self.ns.pop();
            self.ns_changes += 1;
            self.ns_depth = self.ns.last().map_or(0, |b| b.depth);
        }
    }

    pub(super) fn on_text(&mut self, t: &quick_xml::events::BytesText<'_>) {
        if self.depth > 0 && !self.frames[self.depth - 1].leaf && is_xml_space(t) {
            return;
        }
        match text_content(t, || t.xml10_content()) {
            Ok((s, plain)) => self.push_text(&s, plain),
            Err(e) => self.err(ErrorKind::Xml(format!("invalid UTF-8: {e}"))),
        }
    }

    /// Events other than start, end and text (those come here only from elsewhere).
    #[inline(never)]
    pub(super) fn other_event(&mut self, ev: Event<'_>) {
        match ev {
            Event::Start(e) => self.on_start(&e),
            Event::End(_) => self.on_end(),
            Event::Text(t) => self.on_text(&t),
            Event::Empty(_) => unreachable!("expand_empty_elements is set"),
            Event::CData(t) => match text_content(&t, || t.xml10_content()) {
                Ok((s, plain)) => self.push_text(&s, plain),
                Err(e) => self.err(ErrorKind::Xml(format!("invalid UTF-8: {e}"))),
            },
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => {
                    if is_xml_char(c) {
                        let mut b = [0u8; 4];
                        self.push_text(c.encode_utf8(&mut b), false);
                    } else {
                        self.err(ErrorKind::Xml(format!(
                            "character reference to U+{:04X} is not an XML character",
                            c as u32
                        )));
                    }
                }
                Ok(None) => {
                    let name = String::from_utf8_lossy(&r).into_owned();
                    let c = match name.as_str() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => {
                            self.err(ErrorKind::Forbidden(format!("entity reference &{name};")));
                            return;
                        }
                    };
                    self.push_text(c, false);
                }
                Err(e) => self.err(ErrorKind::Xml(format!("character reference: {e}"))),
            },
            Event::Comment(_) | Event::PI(_) => {}
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    let enc = String::from_utf8_lossy(&enc).to_ascii_lowercase();
                    if enc != "utf-8" && enc != "utf8" {
                        self.err(ErrorKind::Forbidden(format!(
                            "encoding {enc:?} (only UTF-8 is accepted)"
                        )));
                    }
                }
            }
            Event::DocType(_) => self.err(ErrorKind::Forbidden(
                "DOCTYPE (DTDs and entity declarations are refused)".into(),
            )),
            Event::Eof => self.eof(),
        }
    }

    pub(super) fn on_start(&mut self, e: &BytesStart<'_>) {
        self.xml_depth += 1;
        if e.len() > MAX_START_TAG_BYTES {
            self.refuse_long_start_tag(e);
            return;
        }
        let raw = e.attributes_raw();
        let has_attrs = raw
            .iter()
            .any(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        // an amount's usual attribute, read without the attribute iterator
        let plain_ccy = if has_attrs {
            plain_ccy_attribute(raw)
        } else {
            None
        };
        // the usual element: no namespace declaration, a name expected here (no schema
        // name holds a colon, so a qname that is one has no prefix)
        if (!has_attrs || plain_ccy.is_some()) && self.depth > 0 {
            if let Some(pos) = self.child_by_bytes(e.name().into_inner()) {
                if self.usual_child(pos) && self.default_ns_is_expected() {
                    let ccy = plain_ccy.and_then(|v| std::str::from_utf8(v).ok());
                    self.start_usual(pos, ccy);
                    return;
                }
            }
        }
        self.on_start_general(e, has_attrs);
    }

    /// Any other start tag (out of line: the usual path above stays small).
    #[inline(never)]
    fn on_start_general(&mut self, e: &BytesStart<'_>, has_attrs: bool) {
        // namespace declarations first: they apply to the element's own name
        let mut n_attr = 0;
        let mut other_attrs = false;
        if has_attrs {
            match self.scan_attributes(e) {
                Some((n, other)) => (n_attr, other_attrs) = (n, other),
                None => return,
            }
        }
        let qname = e.name().into_inner();
        // a qname that is one of the names expected here has no prefix, and needs neither
        // a search for the colon nor a second look-up
        let whole = match self.depth {
            0 => None,
            _ => self.child_by_bytes(qname),
        };
        let (prefix, local) = match whole {
            Some(_) => (None, qname),
            None => match qname.iter().position(|&b| b == b':') {
                Some(i) => (Some(&qname[..i]), &qname[i + 1..]),
                None => (None, qname),
            },
        };
        let ns = {
            let expected = self.expected_ns();
            let is_expected = |n: &[u8], b: Option<&NsBinding>| is_namespace(expected, n, b);
            match self.lookup_binding(prefix) {
                Ok(None) => Ns::None,
                Ok(Some((n, b))) if is_expected(n, b) => Ns::Expected,
                Ok(Some((n, _))) => Ns::Other(String::from_utf8_lossy(n).into_owned()),
                Err(()) => {
                    let p = String::from_utf8_lossy(prefix.unwrap_or_default()).into_owned();
                    self.err(ErrorKind::Xml(format!("unbound namespace prefix {p:?}")));
                    return;
                }
            }
        };
        // a name the schema expects here is looked up by its bytes, and then needs no
        // UTF-8 check: the schema's names are valid UTF-8
        let hint = match ns {
            Ns::Expected if whole.is_some() => whole,
            Ns::Expected if self.depth > 0 && prefix.is_some() => self.child_by_bytes(local),
            _ => None,
        };
        let local = match hint {
            Some(p) => self.frames[self.depth - 1].children[p].name,
            None => match std::str::from_utf8(local) {
                Ok(l) => l,
                Err(_) => {
                    self.err(ErrorKind::Xml("element name is not UTF-8".into()));
                    return;
                }
            },
        };
        // other attributes
        let mut ccy: Option<String> = None;
        let mut bad_attr: Option<String> = None;
        if other_attrs {
            for a in e.attributes() {
                let Ok(a) = a else { continue };
                let key = a.key;
                if key.as_namespace_binding().is_some() {
                    continue;
                }
                let alocal = key.local_name();
                let alocal = String::from_utf8_lossy(alocal.as_ref());
                match key.prefix().map(|p| self.lookup(Some(p.into_inner()))) {
                    Some(Ok(Some(n))) if n == XSI.as_bytes() || n == XML_NS.as_bytes() => {}
                    None if alocal == "Ccy" => match a.normalized_value(XmlVersion::Implicit1_0) {
                        Ok(v) => ccy = Some(v.into_owned()),
                        Err(err) => {
                            self.err(ErrorKind::Xml(format!("attribute value: {err}")));
                            return;
                        }
                    },
                    Some(Err(())) => {
                        self.err(ErrorKind::Xml("unbound attribute prefix".into()));
                        return;
                    }
                    _ => bad_attr = Some(alocal.into_owned()),
                }
            }
        }
        debug_assert!(n_attr <= MAX_ATTRIBUTES);
        self.start(local, hint, ns, ccy, bad_attr);
    }

    fn eof(&mut self) {
        if self.depth > 0 {
            self.err(ErrorKind::Xml(
                "unexpected end of input: the file is truncated".into(),
            ));
            return;
        }
        if self.doc.is_none() && self.phase == Phase::Running {
            let what = if self.header.is_some() {
                ": the file holds only an AppHdr".to_owned()
            } else {
                String::new()
            };
            self.err(ErrorKind::NoDocument(what));
            return;
        }
        self.flush_errors();
        self.phase = Phase::Done;
        self.ready = true;
        self.flush_errors();
    }

    /// Text of the current element; `plain`: known to be printable ASCII ([`is_plain`]).
    fn push_text(&mut self, s: &str, plain: bool) {
        if !plain {
            self.text_ascii = false;
        }
        if self.depth == 0 {
            if !s.chars().all(is_ws) {
                self.err(ErrorKind::Xml("text outside the root element".into()));
            }
            return;
        }
        let plain = plain
            || s.bytes()
                .all(|b| (0x20..0x80).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'));
        if let Some(c) = (!plain)
            .then(|| s.chars().find(|c| !is_xml_char(*c)))
            .flatten()
        {
            self.err(ErrorKind::Xml(format!(
                "U+{:04X} is not an XML character",
                c as u32
            )));
            return;
        }
        let f = &self.frames[self.depth - 1];
        match f.role {
            Role::Skip | Role::Wrapper => {}
            _ if f.leaf => {
                if self.text.len() + s.len() > MAX_TEXT_LEN {
                    self.err(ErrorKind::Limit {
                        limit: "MAX_TEXT_LEN",
                        max: MAX_TEXT_LEN,
                    });
                    return;
                }
                self.text.push_str(s);
            }
            _ => {
                if !s.chars().all(is_ws_lenient) {
                    // lenient: camt `<Sts>BOOK</Sts>` in versions where Sts is a choice
                    if f.name == "Sts" && self.text.len() + s.len() <= 16 {
                        self.frames[self.depth - 1].lenient_text = true;
                        self.text.push_str(s);
                        return;
                    }
                    let t: String = s.trim().chars().take(40).collect();
                    self.err(ErrorKind::UnexpectedText(t));
                }
            }
        }
    }
}
