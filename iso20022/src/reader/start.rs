//! An element starts inside the message: its place among the children its parent's type
//! allows (unknown elements, `xs:any`, order, occurrences), its frame, and the unit it
//! starts or belongs to (a tree node, or a plan node of a streamed credit transfer).

use super::limits::{MAX_DEPTH, MAX_UNIT_ELEMENTS};
use super::path::render;
use super::state::{Frame, Ns, Role, State, STREAM};
use super::text::same_bytes;
use crate::error::ErrorKind;
use crate::model::MessageFamily;
use crate::schema::{self, ANY};
use crate::stream::{F, NO_PLAN};
use crate::tree::NONE;

impl State {
    /// Child `pos` of the open element starts the usual way when the open element is inside
    /// a unit (role `None`, `Top` or `Record`: no unit starts here).
    #[inline]
    pub(super) fn usual_child(&self, pos: usize) -> bool {
        let p = &self.frames[self.depth - 1];
        matches!(p.role, Role::None | Role::Top | Role::Record) && pos < p.children.len()
    }

    /// [`Self::start`] of the usual element: child `pos` of the open element, unprefixed
    /// in the expected namespace, without attributes or with only a plain `Ccy` (`ccy`),
    /// where [`Self::usual_child`] holds. Does what `start` and `start_child` do for it,
    /// in the same order.
    #[inline]
    pub(super) fn start_usual(&mut self, pos: usize, ccy: Option<&str>) {
        if self.depth >= MAX_DEPTH {
            self.err(ErrorKind::Limit {
                limit: "MAX_DEPTH",
                max: MAX_DEPTH,
            });
            return;
        }
        self.text.clear();
        self.text_ascii = true;
        let path_len = self.segs.len() as u32;
        let pi = self.depth - 1;
        let p = &self.frames[pi];
        let (schema, children, pchoice) =
            (p.schema.expect("validated frame"), p.children, p.choice);
        let (ptree, pnode, counts_at) = (p.tree, p.node, p.counts_at);
        let child = &children[pos];
        let count = {
            let c = &mut self.counts[counts_at as usize + pos];
            *c += 1;
            *c
        };
        let occ = if child.max > 1 { count } else { 0 };
        self.push_seg(child.name, occ);
        if count > child.max {
            self.err(ErrorKind::TooManyOccurrences {
                element: child.name.into(),
                max: child.max,
            });
        }
        if !pchoice {
            let last = self.frames[pi].last_pos as usize;
            if pos < last {
                let before = children[last].name;
                self.err(ErrorKind::OutOfOrder {
                    element: child.name.into(),
                    before: before.into(),
                });
            } else {
                self.frames[pi].last_pos = pos as u32;
            }
        }
        let leaf = !child.complex;
        if child.content || ccy.is_some() {
            self.check_ccy_attribute(schema, child, ccy);
        }
        let (tree, node, (plan, act)) = if ptree == STREAM {
            let plan = self.stream_child(pi, pos, children);
            (if child.lax { 0 } else { STREAM }, NONE, plan)
        } else {
            let node = match ptree {
                0 => NONE,
                _ => self.add_node(ptree, pnode, child.name, occ),
            };
            (if child.lax { 0 } else { ptree }, node, (NO_PLAN, F::Pass))
        };
        if leaf {
            self.set_ccy(ccy);
        }
        // built whole where it goes, not assembled elsewhere and copied
        self.push_frame(Frame {
            role: Role::None,
            schema: Some(schema),
            name: child.name,
            ty: child.ty,
            path_len,
            counts_at: 0,
            last_pos: 0,
            tree,
            node,
            plan,
            act,
            leaf,
            children: &[],
            choice: false,
            lenient_text: false,
        });
    }

    /// Child `pos` of frame `pi` of a credit transfer built while streaming: counted, and
    /// opened in the transfer if it has a plan node (returned, with its action).
    #[inline(always)]
    fn stream_child(&mut self, pi: usize, pos: usize, children: &[schema::Child]) -> (u16, F) {
        self.stream_elements += 1;
        if self.stream_elements > MAX_UNIT_ELEMENTS {
            self.err(ErrorKind::Limit {
                limit: "MAX_UNIT_ELEMENTS",
                max: MAX_UNIT_ELEMENTS,
            });
        }
        let pplan = self.frames[pi].plan;
        if pplan != NO_PLAN {
            let cache = &mut self.plan_cache[pplan as usize];
            let key = children.as_ptr() as usize;
            if cache.0 != key {
                let plan = self.plan;
                let entry = |c: &schema::Child| match plan.child(pplan, c.name) {
                    NO_PLAN => (NO_PLAN, F::Pass),
                    n => (n, plan.f(n)),
                };
                *cache = (key, children.iter().map(entry).collect());
            }
            let (plan, act) = cache.1[pos];
            if plan != NO_PLAN {
                self.ctb.open(act);
            }
            return (plan, act);
        }
        (NO_PLAN, F::Pass)
    }

    /// Position of the child named `local` among the children the open element allows
    /// (none if it is not validated), looking from the last one seen first.
    #[inline(always)]
    pub(super) fn child_by_bytes(&self, local: &[u8]) -> Option<usize> {
        let p = &self.frames[self.depth - 1];
        let children = p.children;
        let from = (p.last_pos as usize).min(children.len());
        let hit = |c: &schema::Child| same_bytes(c.name.as_bytes(), local) && c.ty != ANY;
        let mut i = from;
        while let Some(c) = children.get(i) {
            if hit(c) {
                return Some(i);
            }
            i += 1;
        }
        children[..from].iter().position(hit)
    }

    pub(super) fn start(
        &mut self,
        local: &str,
        hint: Option<usize>,
        ns: Ns,
        ccy: Option<String>,
        bad_attr: Option<String>,
    ) {
        if self.depth >= MAX_DEPTH {
            self.err(ErrorKind::Limit {
                limit: "MAX_DEPTH",
                max: MAX_DEPTH,
            });
            return;
        }
        self.text.clear();
        self.text_ascii = true;
        let path_len = self.segs.len() as u32;
        let parent_role = if self.depth == 0 {
            Role::Wrapper
        } else if self.frames[self.depth - 1].schema.is_none()
            && self.frames[self.depth - 1].role != Role::Wrapper
        {
            Role::Skip
        } else {
            self.frames[self.depth - 1].role
        };
        match parent_role {
            Role::Wrapper => self.start_outside(local, ns, path_len),
            Role::Skip => {
                self.push_seg_side(local);
                let mut f = Frame::blank();
                f.role = Role::Skip;
                f.path_len = path_len;
                self.push_frame(f);
            }
            _ => self.start_child(local, hint, ns, ccy, bad_attr, path_len),
        }
    }

    fn start_child(
        &mut self,
        local: &str,
        hint: Option<usize>,
        ns: Ns,
        ccy: Option<String>,
        bad_attr: Option<String>,
        path_len: u32,
    ) {
        let pi = self.depth - 1;
        let (schema, pleaf, children, pchoice) = {
            let p = &self.frames[pi];
            (
                p.schema.expect("validated frame"),
                p.leaf,
                p.children,
                p.choice,
            )
        };
        let children = match children {
            c if !pleaf => c,
            _ => {
                self.push_seg_side(local);
                self.err(ErrorKind::UnexpectedElement(format!(
                    "{local} (inside a simple value)"
                )));
                self.skip_frame(path_len);
                return;
            }
        };
        let in_ns = matches!(ns, Ns::Expected);
        let pos = if hint.is_some() {
            hint
        } else if in_ns {
            // children come in sequence order: look from the last one seen first
            let from = self.frames[pi].last_pos as usize;
            let hit = |c: &&crate::schema::Child| crate::tree::same(c.name, local) && c.ty != ANY;
            children[from..]
                .iter()
                .position(|c| hit(&c))
                .map(|p| p + from)
                .or_else(|| children[..from].iter().position(|c| hit(&c)))
        } else {
            None
        };
        let pos = match pos {
            Some(p) => p,
            None => {
                // xs:any?
                let ns_str = match &ns {
                    Ns::Other(s) => s.as_str(),
                    Ns::Expected => schema.namespace,
                    Ns::None => "",
                };
                let any = children.iter().position(|c| {
                    c.ty == ANY
                        && match c.any_ns {
                            "##any" => true,
                            "##other" => ns_str != schema.namespace && !ns_str.is_empty(),
                            uri => uri == ns_str,
                        }
                });
                self.push_seg_side(local);
                match any {
                    Some(i) => {
                        self.counts[self.frames[pi].counts_at as usize + i] += 1;
                    }
                    None => {
                        let shown = match &ns {
                            Ns::Expected => local.to_owned(),
                            Ns::None => format!("{local} (in no namespace)"),
                            Ns::Other(n) => format!("{{{n}}}{local}"),
                        };
                        self.err(ErrorKind::UnexpectedElement(shown));
                    }
                }
                self.skip_frame(path_len);
                return;
            }
        };
        let child = &children[pos];
        let count = {
            let c = &mut self.counts[self.frames[pi].counts_at as usize + pos];
            *c += 1;
            *c
        };
        let occ = if child.max > 1 { count } else { 0 };
        self.push_seg(child.name, occ);
        if count > child.max {
            self.err(ErrorKind::TooManyOccurrences {
                element: child.name.into(),
                max: child.max,
            });
        }
        if !pchoice {
            let last = self.frames[pi].last_pos as usize;
            if pos < last {
                let before = children[last].name;
                self.err(ErrorKind::OutOfOrder {
                    element: child.name.into(),
                    before: before.into(),
                });
            } else {
                self.frames[pi].last_pos = pos as u32;
            }
        }
        let leaf = !child.complex;
        // attributes
        if let Some(a) = bad_attr {
            self.err(ErrorKind::Attribute(format!("{a} is not allowed")));
        }
        self.check_ccy_attribute(schema, child, ccy.as_deref());
        // unit roles and trees
        let parent_role = self.frames[pi].role;
        let ptree = self.frames[pi].tree;
        let pnode = self.frames[pi].node;
        let fam = self.fam;
        let mut f = Frame::blank();
        f.schema = Some(schema);
        f.name = child.name;
        f.ty = child.ty;
        f.path_len = path_len;
        f.leaf = leaf;
        f.role = Role::None;
        match parent_role {
            Role::Document => f.role = Role::Message,
            Role::Message => {
                let fam = fam.expect("document has a family");
                // the base path of a unit with a tree (not of a streamed credit transfer)
                let base = || render(&self.segs[..path_len as usize], &self.side);
                if fam.records.contains(&child.name) && fam.family == MessageFamily::Pacs008 {
                    f.role = Role::Record;
                    self.stream_start(&mut f);
                } else if fam.records.contains(&child.name) {
                    f.role = Role::Record;
                    f.tree = 2;
                    self.trees[1].clear();
                    self.trees[1].base = base();
                    f.node = self.trees[1].add(NONE, child.name, occ);
                } else if fam.containers.iter().any(|(c, _)| *c == child.name) {
                    f.role = Role::Container;
                    f.tree = 1;
                    self.trees[0].clear();
                    self.trees[0].base = base();
                    f.node = self.trees[0].add(NONE, child.name, occ);
                    self.container_start();
                } else if child.name == "SplmtryData" {
                    f.role = Role::Skip;
                    f.leaf = false;
                } else {
                    f.role = Role::Top;
                    f.tree = 1;
                    self.trees[0].clear();
                    self.trees[0].base = base();
                    f.node = self.trees[0].add(NONE, child.name, occ);
                    if self.group_done && !self.collect_all {
                        // flush errors of the previous unit
                    }
                }
            }
            Role::Container => {
                let fam = fam.expect("document has a family");
                let pname = self.frames[pi].name;
                if fam
                    .containers
                    .iter()
                    .any(|(c, r)| *c == pname && *r == child.name)
                {
                    self.record_in_container_start();
                    f.role = Role::Record;
                    if fam.family == MessageFamily::Pain001 {
                        self.stream_start(&mut f);
                        self.push_frame(f);
                        return;
                    }
                    f.tree = 2;
                    self.trees[1].clear();
                    self.trees[1].base = render(&self.segs[..path_len as usize], &self.side);
                    f.node = self.trees[1].add(NONE, child.name, occ);
                } else {
                    f.tree = ptree;
                    f.node = self.add_node(ptree, pnode, child.name, occ);
                }
            }
            _ if ptree == STREAM => {
                (f.plan, f.act) = self.stream_child(pi, pos, children);
                f.tree = if child.lax { 0 } else { STREAM };
            }
            _ => {
                f.tree = ptree;
                if ptree != 0 {
                    f.node = self.add_node(ptree, pnode, child.name, occ);
                }
                if child.lax {
                    // content is xs:any (lax): the children are skipped; Sgntr's
                    // namespace is still checked
                    f.tree = 0;
                }
            }
        }
        if leaf {
            self.set_ccy(ccy.as_deref());
        }
        self.push_frame(f);
    }

    /// A credit transfer starts: built while streaming, without a tree.
    fn stream_start(&mut self, f: &mut Frame) {
        f.tree = STREAM;
        f.plan = 0;
        self.ctb.reset();
        self.stream_elements = 1;
    }

    fn add_node(&mut self, tree: u8, parent: u32, name: &'static str, occ: u32) -> u32 {
        if tree == 0 || parent == NONE {
            return NONE;
        }
        let t = &mut self.trees[tree as usize - 1];
        if t.nodes.len() >= MAX_UNIT_ELEMENTS {
            self.err(ErrorKind::Limit {
                limit: "MAX_UNIT_ELEMENTS",
                max: MAX_UNIT_ELEMENTS,
            });
            return NONE;
        }
        t.add(parent, name, occ)
    }

    fn skip_frame(&mut self, path_len: u32) {
        let mut f = Frame::blank();
        f.role = Role::Skip;
        f.path_len = path_len;
        self.push_frame(f);
    }
}
