//! Leaf values: the `Ccy` attribute, amounts with their currency (facets, minor units), and
//! where a checked value goes (the unit's tree or the streamed credit transfer).

use super::path::PathRef;
use super::state::State;
use crate::error::ErrorKind;
use crate::schema::{self, Schema, TypeDef};
use crate::stream::{Checked, Leaf, NO_PLAN};
use crate::tree::NONE;

impl State {
    /// The `Ccy` attribute of `child` (its value, if present) against its type.
    #[inline]
    pub(super) fn check_ccy_attribute(
        &mut self,
        schema: &Schema,
        child: &schema::Child,
        ccy: Option<&str>,
    ) {
        let cty = if child.content {
            Some(schema.ty(child.ty))
        } else {
            None
        };
        match cty {
            Some(TypeDef::Content { attrs, .. }) => {
                for (aname, aty, required) in attrs {
                    if *aname == "Ccy" {
                        match ccy {
                            None if *required => {
                                self.err(ErrorKind::Attribute("Ccy is required".into()))
                            }
                            Some(v) => {
                                if let TypeDef::Simple(s) = schema.ty(*aty) {
                                    if let Err(k) = schema::check_simple(s, "Ccy", v, false) {
                                        self.err(k);
                                    }
                                }
                            }
                            None => {}
                        }
                    }
                }
            }
            _ => {
                if ccy.is_some() {
                    self.err(ErrorKind::Attribute("Ccy is not allowed".into()));
                }
            }
        }
    }

    /// Keeps the `Ccy` attribute of the leaf that starts (the buffer is reused).
    #[inline]
    pub(super) fn set_ccy(&mut self, ccy: Option<&str>) {
        self.ccy_set = ccy.is_some();
        if let Some(c) = ccy {
            self.ccy.clear();
            self.ccy.push_str(c);
        }
    }

    /// End of an element of simple content with attributes (an amount and its `Ccy`).
    #[inline(never)]
    pub(super) fn end_content(
        &mut self,
        d: usize,
        schema: &Schema,
        name: &str,
        base: u32,
        plan: u16,
    ) {
        let text = std::mem::take(&mut self.text);
        let ccy_buf = std::mem::take(&mut self.ccy);
        let ccy = self.ccy_set.then_some(ccy_buf.as_str());
        self.ccy_set = false;
        let mut ok = true;
        let mut amount = None;
        match schema.ty(base) {
            // the usual amount type: its value parsed once for both checks
            TypeDef::Simple(s) if s.amount => {
                match schema::check_amount_once(s, ccy, &text) {
                    Ok(a) => amount = a,
                    Err((_, k)) => self.err(k),
                }
                ok = false;
            }
            TypeDef::Simple(s) => {
                if let Err(k) = schema::check_simple(s, name, &text, self.text_ascii) {
                    self.err(k);
                    ok = false;
                }
            }
            _ => {}
        }
        if let (true, Some(c)) = (ok, ccy) {
            if crate::types::CurrencyCode::new(c).is_ok() {
                match schema::check_amount(c, &text) {
                    Err(k) => self.err(k),
                    Ok(a) => amount = Some(a),
                }
            }
        }
        if plan != NO_PLAN {
            let checked = Checked::default();
            self.stream_leaf(d, &text, ccy, amount, checked);
        } else {
            self.store_text(d, &text, ccy);
            if let Some(a) = amount {
                self.store_amount(d, a);
            }
        }
        self.text = text;
        self.ccy = ccy_buf;
    }

    #[inline]
    pub(super) fn stream_leaf(
        &mut self,
        d: usize,
        text: &str,
        ccy: Option<&str>,
        amount: Option<crate::types::Amount>,
        checked: Checked,
    ) {
        let f = self.frames[d].act;
        let leaf = Leaf {
            text,
            ccy,
            amount,
            checked,
            path: PathRef {
                segs: &self.segs,
                side: &self.side,
            },
        };
        self.ctb.leaf(f, &leaf);
    }

    #[inline]
    pub(super) fn store_text(&mut self, d: usize, text: &str, ccy: Option<&str>) {
        let (tree, node) = (self.frames[d].tree, self.frames[d].node);
        if tree == 0 || node == NONE {
            return;
        }
        let t = &mut self.trees[tree as usize - 1];
        t.set_text(node, text);
        if let Some(c) = ccy {
            t.set_ccy(node, c);
        }
    }

    #[inline]
    pub(super) fn mark_iban(&mut self, d: usize) {
        let (tree, node) = (self.frames[d].tree, self.frames[d].node);
        if tree != 0 && node != NONE {
            self.trees[tree as usize - 1].nodes[node as usize].iban_ok = true;
        }
    }

    #[inline]
    fn store_amount(&mut self, d: usize, a: crate::types::Amount) {
        let (tree, node) = (self.frames[d].tree, self.frames[d].node);
        if tree != 0 && node != NONE {
            self.trees[tree as usize - 1].amounts.push((node, a));
        }
    }
}
