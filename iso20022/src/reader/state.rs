//! The reader's state: the element stack (frames, one per open element, and the child
//! occurrence counts), what was found so far, the unit being built and the output.

use super::limits::MAX_DEPTH;
use super::namespaces::NsBinding;
use super::path::Seg;
use super::units::FamilyDef;
use crate::error::{Error, Errors};
use crate::model::{self, AppHeader, GroupHeader, MessageKind, Transaction};
use crate::schema::{self, Schema, TypeDef};
use crate::stream::{CtBuild, Plan, F, NO_PLAN};
use crate::tree::{Tree, NONE};
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    None,
    Wrapper,
    AppHdr,
    Document,
    Message,
    /// A child of the message element kept whole (GrpHdr, OrgnlGrpInf, ...).
    Top,
    /// A transaction.
    Record,
    /// PmtInf / Stmt / Ntfctn / OrgnlPmtInfAndSts: header in the context tree, records inside.
    Container,
    Skip,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    pub(super) role: Role,
    pub(super) schema: Option<&'static Schema>,
    pub(super) name: &'static str,
    pub(super) ty: u32,
    /// Length of `MessageReader::segs` (the path) before this element.
    pub(super) path_len: u32,
    /// Where this element's child occurrence counts start in `MessageReader::counts`.
    pub(super) counts_at: u32,
    pub(super) last_pos: u32,
    /// 0: no tree; 1, 2: `trees[tree - 1]`; [`STREAM`]: a credit transfer built while
    /// streaming (no tree, elements counted).
    pub(super) tree: u8,
    pub(super) node: u32,
    /// Node of the credit transfer plan ([`NO_PLAN`]: not read), and its action.
    pub(super) plan: u16,
    pub(super) act: F,
    pub(super) leaf: bool,
    /// The children of a complex type (set by `push_frame`).
    pub(super) children: &'static [schema::Child],
    pub(super) choice: bool,
    /// text seen in an element-only element that the lenient `Sts` rule accepted
    pub(super) lenient_text: bool,
}

impl Frame {
    #[inline]
    pub(super) fn blank() -> Frame {
        Frame {
            role: Role::None,
            schema: None,
            name: "",
            ty: 0,
            path_len: 0,
            counts_at: 0,
            last_pos: 0,
            tree: 0,
            node: NONE,
            plan: NO_PLAN,
            act: F::Pass,
            leaf: false,
            children: &[],
            choice: false,
            lenient_text: false,
        }
    }
}

/// `Frame::tree` of a credit transfer built while streaming.
pub(super) const STREAM: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Running,
    Done,
}

/// Where the ISO elements' expected namespace comes from, resolved per event.
pub(super) enum Ns {
    None,
    Expected,
    Other(String),
}

/// Everything the reader knows besides its input: the element stack, the unit being
/// built, the output.
pub(super) struct State {
    /// Namespace declarations in scope, innermost last.
    pub(super) ns: Vec<NsBinding>,
    /// Nesting level of the innermost declaration in scope (0: none).
    pub(super) ns_depth: usize,
    /// Declarations that came into or went out of scope, counted.
    pub(super) ns_changes: u64,
    /// [`Self::default_ns_is_expected`] for (`ns_changes`, address of the expected
    /// namespace).
    pub(super) default_ns: ((u64, usize), bool),
    /// Nesting level of the XML (every element, validated or not).
    pub(super) xml_depth: usize,
    pub(super) frames: Vec<Frame>,
    /// Occurrence counts of the children of every open element, innermost last.
    pub(super) counts: Vec<u32>,
    pub(super) depth: usize,
    /// The path of the current element, one segment per step; rendered only when
    /// needed (errors, unit bases).
    pub(super) segs: Vec<Seg>,
    /// Names of the segments that are not schema names (skipped, unknown elements).
    pub(super) side: String,
    pub(super) text: String,
    /// Every piece of `text` was plain ([`is_plain`]): it is ASCII.
    pub(super) text_ascii: bool,
    /// The `Ccy` attribute of the open leaf (`ccy_set`), in a buffer kept between leaves.
    pub(super) ccy: String,
    pub(super) ccy_set: bool,
    pub(super) phase: Phase,
    pub(super) collect_all: bool,
    // what was found
    pub(super) head: Option<&'static Schema>,
    pub(super) doc: Option<&'static Schema>,
    pub(super) fam: Option<FamilyDef>,
    pub(super) kind: Option<MessageKind>,
    pub(super) header: Option<AppHeader>,
    pub(super) group: Option<GroupHeader>,
    pub(super) group_done: bool,
    pub(super) doc_done: bool,
    // units
    pub(super) trees: [Tree; 2],
    /// The credit transfer being read (pacs.008, pain.001), and its element count.
    pub(super) ctb: CtBuild,
    pub(super) stream_elements: usize,
    pub(super) plan: &'static Plan,
    /// By plan node: the parent's children (address of the schema's slice) and the plan
    /// node (with its action) of each of them, so a child's plan node is found by its
    /// position.
    pub(super) plan_cache: Vec<(usize, Vec<(u16, F)>)>,
    pub(super) pmt: Option<Arc<model::PaymentInfo>>,
    pub(super) pmt_count: u64,
    pub(super) pmt_sum: Decimal,
    pub(super) pmt_path: String,
    pub(super) stmt_id: String,
    pub(super) stmt_emitted: bool,
    pub(super) orig_group: Option<(String, String)>,
    pub(super) count: u64,
    pub(super) sum: Decimal,
    // output
    pub(super) errs: Vec<Error>,
    pub(super) total_errors: usize,
    pub(super) out: VecDeque<Result<Transaction, Errors>>,
    /// Index of a credit transfer complete in `ctb`, to be yielded before anything in
    /// `out` (set only when `out` is empty): it is moved once, into the caller's value.
    pub(super) ct_ready: Option<u64>,
    /// Something may be ready for the caller (`ct_ready`, `out`, or the end): set with
    /// each of them, so the event loop tests one flag.
    pub(super) ready: bool,
}

impl State {
    pub(super) fn new(collect_all: bool) -> State {
        State {
            ns: Vec::new(),
            ns_depth: 0,
            ns_changes: 0,
            default_ns: ((u64::MAX, 0), false),
            xml_depth: 0,
            frames: Vec::new(),
            counts: Vec::new(),
            depth: 0,
            segs: Vec::with_capacity(MAX_DEPTH),
            side: String::new(),
            text: String::new(),
            text_ascii: true,
            ccy: String::new(),
            ccy_set: false,
            phase: Phase::Running,
            collect_all,
            head: None,
            doc: None,
            fam: None,
            kind: None,
            header: None,
            group: None,
            group_done: false,
            doc_done: false,
            trees: [Tree::default(), Tree::default()],
            ctb: CtBuild::default(),
            stream_elements: 0,
            plan: Plan::ct(),
            plan_cache: vec![(0, vec![]); Plan::ct().len()],
            pmt: None,
            pmt_count: 0,
            pmt_sum: Decimal::ZERO,
            pmt_path: String::new(),
            stmt_id: String::new(),
            stmt_emitted: false,
            orig_group: None,
            count: 0,
            sum: Decimal::ZERO,
            errs: Vec::new(),
            total_errors: 0,
            out: VecDeque::new(),
            ct_ready: None,
            ready: false,
        }
    }

    #[inline(always)]
    pub(super) fn push_frame(&mut self, mut f: Frame) {
        f.counts_at = self.counts.len() as u32;
        if let (Some(s), false) = (f.schema, f.leaf) {
            if let TypeDef::Complex {
                children, choice, ..
            } = s.ty(f.ty)
            {
                f.children = children;
                f.choice = *choice;
                // (a loop of stores: `resize` is a call per element)
                self.counts.extend(std::iter::repeat_n(0, children.len()));
            }
        }
        if self.depth < self.frames.len() {
            self.frames[self.depth] = f;
        } else {
            self.frames.push(f);
        }
        self.depth += 1;
    }
}
