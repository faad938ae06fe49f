//! A small arena tree of one unit (a transaction, a group header, a PmtInf or Stmt
//! header) built while streaming, so the typed layer can query it by child names.
//! It is cleared after each unit, so memory stays bounded by the unit's size.

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: &'static str,
    pub parent: u32,
    pub first: u32,
    pub last: u32,
    pub next: u32,
    /// Occurrence number when the element may repeat (for paths), else 0.
    pub occ: u32,
    pub text: (u32, u32),
    pub ccy: (u32, u32),
    /// The reader already checked this IBAN (pattern and mod-97).
    pub iban_ok: bool,
}

pub(crate) const NONE: u32 = u32::MAX;

/// Equality of two short names without a call to `memcmp`.
#[inline]
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// `s` without leading and trailing XML whitespace (byte-wise: the whitespace is ASCII).
#[inline]
pub(crate) fn trim_ws(s: &str) -> &str {
    let b = s.as_bytes();
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
    &s[start..end]
}

#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub nodes: Vec<Node>,
    pub text: String,
    /// Amounts the reader already parsed and checked, by node.
    pub amounts: Vec<(u32, crate::types::Amount)>,
    /// Path of the parent of the root node (e.g. `/Document/FIToFICstmrCdtTrf`).
    pub base: String,
}

impl Tree {
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.text.clear();
        self.amounts.clear();
        self.base.clear();
    }

    pub fn add(&mut self, parent: u32, name: &'static str, occ: u32) -> u32 {
        let id = self.nodes.len() as u32;
        self.nodes.push(Node {
            name,
            parent,
            first: NONE,
            last: NONE,
            next: NONE,
            occ,
            text: (0, 0),
            ccy: (0, 0),
            iban_ok: false,
        });
        if parent != NONE {
            let p = &mut self.nodes[parent as usize];
            if p.first == NONE {
                p.first = id;
            } else {
                let last = p.last as usize;
                self.nodes[last].next = id;
            }
            self.nodes[parent as usize].last = id;
        }
        id
    }

    pub fn set_text(&mut self, node: u32, text: &str) {
        let s = self.text.len() as u32;
        self.text.push_str(text);
        self.nodes[node as usize].text = (s, self.text.len() as u32);
    }

    pub fn set_ccy(&mut self, node: u32, ccy: &str) {
        let s = self.text.len() as u32;
        self.text.push_str(ccy);
        self.nodes[node as usize].ccy = (s, self.text.len() as u32);
    }

    pub fn root(&self) -> Option<N<'_>> {
        if self.nodes.is_empty() {
            None
        } else {
            Some(N { t: self, i: 0 })
        }
    }
}

/// A node handle with query helpers.
#[derive(Clone, Copy)]
pub(crate) struct N<'a> {
    pub t: &'a Tree,
    pub i: u32,
}

impl<'a> N<'a> {
    fn node(&self) -> &'a Node {
        &self.t.nodes[self.i as usize]
    }
    pub fn name(&self) -> &'static str {
        self.node().name
    }
    pub fn children(self) -> impl Iterator<Item = N<'a>> {
        let mut c = self.node().first;
        std::iter::from_fn(move || {
            if c == NONE {
                return None;
            }
            let n = N { t: self.t, i: c };
            c = self.t.nodes[c as usize].next;
            Some(n)
        })
    }
    pub fn all(self, name: &'static str) -> impl Iterator<Item = N<'a>> {
        self.children().filter(move |c| same(c.name(), name))
    }
    pub fn child(self, name: &str) -> Option<N<'a>> {
        self.children().find(|c| same(c.name(), name))
    }
    /// Follows a chain of child names.
    pub fn at(self, path: &[&str]) -> Option<N<'a>> {
        let mut n = self;
        for p in path {
            n = n.child(p)?;
        }
        Some(n)
    }
    pub fn text(&self) -> &'a str {
        let (s, e) = self.node().text;
        &self.t.text[s as usize..e as usize]
    }
    /// The amount the reader parsed here, if it did.
    pub fn checked_amount(&self) -> Option<crate::types::Amount> {
        self.t.amounts.iter().find(|a| a.0 == self.i).map(|a| a.1)
    }
    /// The reader already checked this node's IBAN.
    pub fn iban_ok(&self) -> bool {
        self.node().iban_ok
    }
    pub fn ccy(&self) -> &'a str {
        let (s, e) = self.node().ccy;
        &self.t.text[s as usize..e as usize]
    }
    /// Text of the element at `path`, trimmed of XML whitespace.
    pub fn s(self, path: &[&str]) -> Option<&'a str> {
        self.at(path).map(|n| trim_ws(n.text()))
    }
    /// Owned text at `path`.
    pub fn string(self, path: &[&str]) -> Option<String> {
        self.s(path).map(str::to_owned)
    }
    /// Absolute path of this node, for errors.
    pub fn path(&self) -> String {
        let mut parts = vec![];
        let mut i = self.i;
        while i != NONE {
            let n = &self.t.nodes[i as usize];
            parts.push(if n.occ > 0 {
                format!("/{}[{}]", n.name, n.occ)
            } else {
                format!("/{}", n.name)
            });
            i = n.parent;
        }
        let mut p = self.t.base.clone();
        for part in parts.iter().rev() {
            p.push_str(part);
        }
        p
    }
}
