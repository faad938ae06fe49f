//! An element ends: a leaf's text is checked against its simple type, a complex element's
//! children against its type (required elements, choices, groups), and the unit it closes
//! is handed on.

use super::state::{Frame, Role, State};
use crate::error::ErrorKind;
use crate::schema::{self, Schema, TypeDef};
use crate::stream::{Checked, NO_PLAN};

impl State {
    #[inline]
    pub(super) fn end(&mut self) {
        if self.depth == 0 {
            self.err(ErrorKind::Xml("unexpected end tag".into()));
            return;
        }
        self.depth -= 1;
        let d = self.depth;
        let Frame {
            role,
            schema,
            ty,
            name,
            plan,
            path_len,
            counts_at,
            lenient_text,
            ..
        } = self.frames[d];
        if let (Some(schema), false) = (schema, matches!(role, Role::Skip)) {
            match schema.ty(ty) {
                TypeDef::Simple(s) => {
                    let text = std::mem::take(&mut self.text);
                    let ok = match schema::check_simple(s, name, &text, self.text_ascii) {
                        Err(k) => {
                            self.err(k);
                            false
                        }
                        Ok(()) => true,
                    };
                    if plan != NO_PLAN {
                        let checked = Checked {
                            iban: ok && s.iban,
                            bic: ok && s.bic,
                            uetr: ok && s.uetr,
                        };
                        self.stream_leaf(d, &text, None, None, checked);
                    } else {
                        self.store_text(d, &text, None);
                        if ok && s.iban {
                            self.mark_iban(d);
                        }
                    }
                    self.text = text;
                }
                TypeDef::Content { base, .. } => self.end_content(d, schema, name, *base, plan),
                TypeDef::Complex {
                    choice,
                    children,
                    required,
                    grouped,
                    ..
                } => {
                    // the usual case here; choices, nested groups, the lenient `Sts` text and
                    // missing elements out of line
                    let counts = &self.counts[counts_at as usize..];
                    let usual = !*choice
                        && !*grouped
                        && !lenient_text
                        && required.iter().all(|&i| {
                            counts.get(i as usize).copied().unwrap_or(0) >= children[i as usize].min
                        });
                    if !usual {
                        self.end_complex(d, schema, ty, counts_at, lenient_text);
                    }
                }
            }
        }
        self.text.clear();
        self.text_ascii = true;
        match role {
            Role::AppHdr => self.app_header_end(),
            Role::Top => self.top_end(),
            Role::Record => self.record_end(),
            Role::Container => self.container_end(),
            Role::Message => self.message_end(),
            Role::Document => {
                self.doc_done = true;
            }
            _ => {}
        }
        self.truncate_segs(path_len as usize);
        self.counts.truncate(counts_at as usize);
    }

    /// End of an element of complex type whose children need more than the usual check:
    /// a choice, nested groups, the lenient `Sts` text, or a missing element.
    #[inline(never)]
    fn end_complex(
        &mut self,
        d: usize,
        schema: &Schema,
        ty: u32,
        counts_at: u32,
        lenient_text: bool,
    ) {
        let TypeDef::Complex {
            choice,
            children,
            required,
            grouped,
            ..
        } = schema.ty(ty)
        else {
            return;
        };
        let lenient = lenient_text;
        if lenient {
            let t = std::mem::take(&mut self.text);
            self.store_text(d, t.trim(), None);
            self.text.clear();
            self.text_ascii = true;
        }
        let all_counts = std::mem::take(&mut self.counts);
        let counts = &all_counts[counts_at as usize..];
        if *choice {
            let present = counts.iter().filter(|c| **c > 0).count();
            if present != 1 && !(lenient && present == 0) {
                let names: Vec<&str> = children.iter().map(|c| c.name).collect();
                self.err(ErrorKind::Choice(names.join(" | ")));
            }
        } else {
            for &i in required {
                let c = &children[i as usize];
                if counts.get(i as usize).copied().unwrap_or(0) < c.min {
                    self.err(ErrorKind::MissingElement(c.name.into()));
                }
            }
            if *grouped {
                let mut groups: Vec<(i32, u32)> = vec![];
                for (c, n) in children.iter().zip(counts) {
                    if c.group == 0 {
                        continue;
                    }
                    if let Some(g) = groups.iter_mut().find(|g| g.0 == c.group) {
                        g.1 += u32::from(*n > 0);
                    } else {
                        groups.push((c.group, u32::from(*n > 0)));
                    }
                }
                for (g, n) in groups {
                    if n > 1 || (g > 0 && n == 0) {
                        let names: Vec<&str> = children
                            .iter()
                            .filter(|c| c.group == g)
                            .map(|c| c.name)
                            .collect();
                        self.err(ErrorKind::Choice(names.join(" | ")));
                    }
                }
            }
        }
        self.counts = all_counts;
    }
}
