//! The streaming reader: one loop over quick-xml events with an explicit element stack,
//! validating every element against the schema table of the message's version, and
//! building one small tree per unit (group header, transaction) for the typed layer.

use crate::error::{Error, ErrorKind, Errors, ERRORS_MAX};
use crate::model::{self, AppHeader, Ex, GroupHeader, MessageFamily, MessageKind, Transaction};
use crate::schema::{self, Schema, TypeDef, ANY};
use crate::stream::{Checked, CtBuild, Leaf, Plan, F, NO_PLAN};
use crate::tree::{Tree, NONE};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::PrefixDeclaration;
use quick_xml::{Reader, XmlVersion};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::sync::Arc;

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

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// One namespace declaration in scope (`prefix` empty: the default namespace; `uri`
/// empty: undeclared).
#[derive(Debug)]
struct NsBinding {
    prefix: Vec<u8>,
    uri: Vec<u8>,
    /// Nesting level of the element that declared it.
    depth: usize,
    /// Last comparison with an expected namespace: (its address, equal).
    expected: std::cell::Cell<(usize, bool)>,
}

/// A namespace in scope: its URI and the declaration it comes from (none for `xml`).
type Bound<'a> = (&'a [u8], Option<&'a NsBinding>);

/// `uri`, bound by declaration `b`, is the namespace `expected`: compared once per
/// declaration and expected namespace, not per element.
#[inline]
fn is_namespace(expected: &str, uri: &[u8], b: Option<&NsBinding>) -> bool {
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

/// Text of a text or CDATA event: borrowed when it needs no line-end normalization; and
/// whether it is plain (printable ASCII only: XML characters, nothing to normalize).
fn text_content<'b>(
    raw: &'b [u8],
    normalize: impl FnOnce() -> Result<Cow<'b, str>, quick_xml::encoding::EncodingError>,
) -> Result<(Cow<'b, str>, bool), quick_xml::encoding::EncodingError> {
    if is_plain(raw) {
        Ok((Cow::Borrowed(std::str::from_utf8(raw)?), true))
    } else if raw.contains(&b'\r') {
        Ok((normalize()?, false))
    } else {
        Ok((Cow::Borrowed(std::str::from_utf8(raw)?), false))
    }
}

/// The value of the attributes of a start tag when they are exactly one `Ccy="..."` (XML
/// whitespace around it) whose value is ASCII letters and digits: what the attribute
/// iterator and `unescape_value` would give for it.
#[inline]
fn plain_ccy_attribute(raw: &[u8]) -> Option<&[u8]> {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = raw.iter().position(|b| !ws(b))?;
    let v = raw[start..].strip_prefix(b"Ccy=\"")?;
    let end = v.iter().position(|&b| b == b'"')?;
    let (value, rest) = (&v[..end], &v[end + 1..]);
    (value.iter().all(u8::is_ascii_alphanumeric) && rest.iter().all(ws)).then_some(value)
}

/// Every byte is XML whitespace (space, tab, line feed, carriage return). Words of spaces
/// and line feeds only (the usual indentation) are recognised eight or four bytes at a
/// time; anything else is decided byte by byte.
#[inline]
fn is_xml_space(b: &[u8]) -> bool {
    // high bit of each byte of `x` that is not zero (exact: no carry between bytes)
    fn nonzero(x: u64) -> u64 {
        (((x & 0x7F7F_7F7F_7F7F_7F7F) + 0x7F7F_7F7F_7F7F_7F7F) | x) & 0x8080_8080_8080_8080
    }
    let sp_lf =
        |w: u64| nonzero(w ^ 0x2020_2020_2020_2020) & nonzero(w ^ 0x0A0A_0A0A_0A0A_0A0A) == 0;
    let w8 = |s: &[u8]| s.first_chunk::<8>().map_or(0, |c| u64::from_le_bytes(*c));
    let w4 = |s: &[u8]| {
        s.first_chunk::<4>()
            .map_or(0, |c| u64::from(u32::from_le_bytes(*c)))
    };
    let n = b.len();
    let fast = if n >= 8 {
        b.chunks_exact(8).all(|c| sp_lf(w8(c))) && sp_lf(w8(&b[n - 8..]))
    } else if n >= 4 {
        // the upper four bytes of each word are zero: make them spaces
        let pad = 0x2020_2020_0000_0000;
        sp_lf(w4(b) | pad) && sp_lf(w4(&b[n - 4..]) | pad)
    } else {
        false
    };
    fast || b.iter().all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Every byte is printable ASCII (0x20 to 0x7F): so the text is UTF-8, made of XML
/// characters, and holds no line end to normalize. Eight bytes at a time.
#[inline]
fn is_plain(b: &[u8]) -> bool {
    // a byte below 0x20 borrows into its high bit; a byte from 0x80 has it set. A borrow
    // can only flag more bytes, never hide one.
    const LOW: u64 = 0x2020_2020_2020_2020;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let bad = |w: u64| (w.wrapping_sub(LOW) | w) & HIGH != 0;
    let word = |s: &[u8]| s.first_chunk::<8>().map_or(0, |c| u64::from_le_bytes(*c));
    let n = b.len();
    if n >= 8 {
        let mut chunks = b.chunks_exact(8);
        if chunks.by_ref().any(|c| bad(word(c))) {
            return false;
        }
        // the last bytes, in a word overlapping the previous one
        n.is_multiple_of(8) || !bad(word(&b[n - 8..]))
    } else {
        b.iter().all(|&c| (0x20..0x80).contains(&c))
    }
}
const ISO_NS: &str = "urn:iso:std:iso:20022:tech:xsd:";

/// Namespaces of the documents this crate reads.
pub fn supported_messages() -> Vec<&'static str> {
    schema::TABLES
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !id.starts_with("head."))
        .collect()
}

// ---------------------------------------------------------------------------------------
// input guard

/// Wraps the input: counts bytes (total limit) and the bytes of the token in progress, so
/// that no single token is buffered beyond [`MAX_TOKEN_BYTES`].
struct Guard<R> {
    inner: R,
    total: u64,
    /// `total` may not exceed this: the lower of the end of the token's budget
    /// (`MAX_TOKEN_BYTES` after where the token started) and `MAX_TOTAL_BYTES`.
    limit: u64,
    tripped: Option<&'static str>,
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
    fn start_token(&mut self) {
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
        self.inner.fill_buf()
    }
    #[inline]
    fn consume(&mut self, n: usize) {
        self.total += n as u64;
        self.inner.consume(n);
    }
}

// ---------------------------------------------------------------------------------------
// stack frames

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
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
struct Frame {
    role: Role,
    schema: Option<&'static Schema>,
    name: &'static str,
    ty: u32,
    /// Length of `MessageReader::segs` (the path) before this element.
    path_len: u32,
    /// Where this element's child occurrence counts start in `MessageReader::counts`.
    counts_at: u32,
    last_pos: u32,
    /// 0: no tree; 1, 2: `trees[tree - 1]`; [`STREAM`]: a credit transfer built while
    /// streaming (no tree, elements counted).
    tree: u8,
    node: u32,
    /// Node of the credit transfer plan ([`NO_PLAN`]: not read), and its action.
    plan: u16,
    act: F,
    leaf: bool,
    /// The children of a complex type (set by `push_frame`).
    children: &'static [schema::Child],
    choice: bool,
    /// text seen in an element-only element that the lenient `Sts` rule accepted
    lenient_text: bool,
}

impl Frame {
    fn blank() -> Frame {
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
const STREAM: u8 = 3;

#[derive(Debug, Clone, Copy)]
struct FamilyDef {
    family: MessageFamily,
    records: &'static [&'static str],
    /// (container element, record element inside it)
    containers: &'static [(&'static str, &'static str)],
}

fn family_of(id: &str) -> Option<FamilyDef> {
    let f = |family, records, containers| {
        Some(FamilyDef {
            family,
            records,
            containers,
        })
    };
    match id.get(..8)? {
        "pacs.008" => f(MessageFamily::Pacs008, &["CdtTrfTxInf"], &[]),
        "pain.001" => f(MessageFamily::Pain001, &[], &[("PmtInf", "CdtTrfTxInf")]),
        "pacs.002" => f(
            MessageFamily::Pacs002,
            &["OrgnlGrpInfAndSts", "TxInfAndSts"],
            &[],
        ),
        "pain.002" => f(
            MessageFamily::Pain002,
            &["OrgnlGrpInfAndSts"],
            &[("OrgnlPmtInfAndSts", "TxInfAndSts")],
        ),
        "pacs.004" => f(MessageFamily::Pacs004, &["TxInf"], &[]),
        "camt.053" => f(MessageFamily::Camt053, &[], &[("Stmt", "Ntry")]),
        "camt.054" => f(MessageFamily::Camt054, &[], &[("Ntfctn", "Ntry")]),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Done,
}

/// Where the ISO elements' expected namespace comes from, resolved per event.
enum Ns {
    None,
    Expected,
    Other(String),
}

/// Streaming reader of one ISO 20022 message (optionally with AppHdr and envelope).
///
/// ```no_run
/// # fn f(bytes: &[u8]) -> Result<(), iso20022::Errors> {
/// let mut reader = iso20022::MessageReader::new(bytes)?;
/// println!("{:?} {}", reader.kind(), reader.group_header().message_id);
/// while let Some(item) = reader.next_transaction() {
///     let tx = item?;
///     // ...
/// #   let _ = tx;
/// }
/// # Ok(()) }
/// ```
pub struct MessageReader<R: BufRead> {
    xml: Reader<Guard<R>>,
    /// The buffer events are read into; apart from the state, so that an event borrowed
    /// from it can be handed to the state without moving the buffer out and back.
    buf: Vec<u8>,
    st: State,
}

/// Everything the reader knows besides its input: the element stack, the unit being
/// built, the output.
struct State {
    /// Namespace declarations in scope, innermost last.
    ns: Vec<NsBinding>,
    /// Nesting level of the innermost declaration in scope (0: none).
    ns_depth: usize,
    /// Declarations that came into or went out of scope, counted.
    ns_changes: u64,
    /// [`Self::default_ns_is_expected`] for (`ns_changes`, address of the expected
    /// namespace).
    default_ns: ((u64, usize), bool),
    /// Nesting level of the XML (every element, validated or not).
    xml_depth: usize,
    frames: Vec<Frame>,
    /// Occurrence counts of the children of every open element, innermost last.
    counts: Vec<u32>,
    depth: usize,
    /// The path of the current element, one segment per step; rendered only when
    /// needed (errors, unit bases).
    segs: Vec<Seg>,
    /// Names of the segments that are not schema names (skipped, unknown elements).
    side: String,
    text: String,
    /// Every piece of `text` was plain ([`is_plain`]): it is ASCII.
    text_ascii: bool,
    /// The `Ccy` attribute of the open leaf (`ccy_set`), in a buffer kept between leaves.
    ccy: String,
    ccy_set: bool,
    phase: Phase,
    collect_all: bool,
    // what was found
    head: Option<&'static Schema>,
    doc: Option<&'static Schema>,
    fam: Option<FamilyDef>,
    kind: Option<MessageKind>,
    header: Option<AppHeader>,
    group: Option<GroupHeader>,
    group_done: bool,
    doc_done: bool,
    // units
    trees: [Tree; 2],
    /// The credit transfer being read (pacs.008, pain.001), and its element count.
    ctb: CtBuild,
    stream_elements: usize,
    plan: &'static Plan,
    /// By plan node: the parent's children (address of the schema's slice) and the plan
    /// node (with its action) of each of them, so a child's plan node is found by its
    /// position.
    plan_cache: Vec<(usize, Vec<(u16, F)>)>,
    pmt: Option<Arc<model::PaymentInfo>>,
    pmt_count: u64,
    pmt_sum: Decimal,
    pmt_path: String,
    stmt_id: String,
    stmt_emitted: bool,
    orig_group: Option<(String, String)>,
    count: u64,
    sum: Decimal,
    // output
    errs: Vec<Error>,
    total_errors: usize,
    out: VecDeque<Result<Transaction, Errors>>,
    /// Index of a credit transfer complete in `ctb`, to be yielded before anything in
    /// `out` (set only when `out` is empty): it is moved once, into the caller's value.
    ct_ready: Option<u64>,
    /// Something may be ready for the caller (`ct_ready`, `out`, or the end): set with
    /// each of them, so the event loop tests one flag.
    ready: bool,
}

impl<R: BufRead> std::fmt::Debug for MessageReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("kind", &self.st.kind)
            .field("path", &self.st.path())
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> MessageReader<R> {
    /// Reads up to and including the group header. Fails if the input is not a supported
    /// message, is malformed or hostile, or if the AppHdr or the group header is invalid.
    pub fn new(input: R) -> Result<Self, Errors> {
        let mut r = Self::create(input, false);
        r.read_header();
        if !r.st.errs.is_empty() || r.st.kind.is_none() {
            // a fatal error (a limit at the Document's start tag) was queued as a stream item
            for item in std::mem::take(&mut r.st.out) {
                if let Err(e) = item {
                    r.st.errs.extend(e);
                }
            }
            if r.st.errs.is_empty() {
                r.st.errs
                    .push(Error::new("", ErrorKind::NoDocument(String::new())));
            }
            return Err(Errors(std::mem::take(&mut r.st.errs)));
        }
        Ok(r)
    }

    pub(crate) fn create(input: R, collect_all: bool) -> Self {
        let mut xml = Reader::from_reader(Guard {
            inner: input,
            total: 0,
            limit: MAX_TOKEN_BYTES as u64,
            tripped: None,
        });
        {
            let c = xml.config_mut();
            c.expand_empty_elements = true;
            c.check_end_names = true;
            c.trim_text(false);
        }
        MessageReader {
            xml,
            buf: Vec::with_capacity(1024),
            st: State::new(collect_all),
        }
    }

    pub(crate) fn read_header(&mut self) {
        while self.st.phase == Phase::Running
            && !self.st.group_done
            && self.st.out.is_empty()
            && self.st.ct_ready.is_none()
        {
            self.step();
        }
    }

    /// The message type and version.
    pub fn kind(&self) -> MessageKind {
        self.st.kind.expect("set by new()")
    }

    /// The Business Application Header, when the message has one.
    pub fn header(&self) -> Option<&AppHeader> {
        self.st.header.as_ref()
    }

    /// The group header (`GrpHdr`).
    pub fn group_header(&self) -> &GroupHeader {
        static EMPTY: std::sync::OnceLock<GroupHeader> = std::sync::OnceLock::new();
        self.st
            .group
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(GroupHeader::default))
    }

    /// The next transaction, or the errors found in it. Group-level checks (NbOfTxs,
    /// CtrlSum) are yielded as a last `Err` when the stream ends. After a fatal error
    /// (malformed XML, limit) the stream ends.
    pub fn next_transaction(&mut self) -> Option<Result<Transaction, Errors>> {
        let st = &mut self.st;
        loop {
            if let Some(index) = st.ct_ready.take() {
                let ct = st.ctb.finish(index, st.pmt.as_ref());
                return Some(Ok(Transaction::CreditTransfer(ct)));
            }
            if let Some(x) = st.out.pop_front() {
                return Some(x);
            }
            if st.phase == Phase::Done {
                if !st.errs.is_empty() {
                    return Some(Err(Errors(std::mem::take(&mut st.errs))));
                }
                return None;
            }
            // events until something is ready (nothing is: checked above)
            st.ready = false;
            loop {
                Self::step_with(&mut self.xml, &mut self.buf, st);
                if st.ready {
                    break;
                }
            }
        }
    }

    fn step(&mut self) {
        Self::step_with(&mut self.xml, &mut self.buf, &mut self.st);
    }

    /// Reads one event and hands it to the state (inlined into the loop of
    /// `next_transaction`: no call per event).
    #[inline(always)]
    fn step_with(xml: &mut Reader<Guard<R>>, buf: &mut Vec<u8>, st: &mut State) {
        buf.clear();
        xml.get_mut().start_token();
        // the event is matched where it was returned, not moved: a copy of it reads
        // memory its fields were just written to piecewise, which stalls
        match xml.read_event_into(buf) {
            Ok(Event::Start(ref e)) => st.on_start(e),
            Ok(Event::End(_)) => st.on_end(),
            Ok(Event::Text(ref t)) => st.on_text(t),
            Ok(ev) => st.other_event(ev),
            Err(e) => Self::read_error(xml, st, e),
        }
    }

    #[cold]
    #[inline(never)]
    fn read_error(xml: &Reader<Guard<R>>, st: &mut State, e: quick_xml::Error) {
        let kind = match (xml.get_ref().tripped, &e) {
            (Some(limit), _) => ErrorKind::Limit {
                limit,
                max: if limit == "MAX_TOKEN_BYTES" {
                    MAX_TOKEN_BYTES
                } else {
                    MAX_TOTAL_BYTES as usize
                },
            },
            (None, quick_xml::Error::Io(io)) => ErrorKind::Io(io.to_string()),
            _ => ErrorKind::Xml(format!("{e} (at byte {})", xml.buffer_position())),
        };
        st.err(kind);
    }
}

impl State {
    fn new(collect_all: bool) -> State {
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

    // -----------------------------------------------------------------------------------
    // errors

    // rare: out of line, and the paths that report them are laid out apart from the usual
    #[cold]
    #[inline(never)]
    fn err(&mut self, kind: ErrorKind) {
        let p = self.path();
        self.err_at(p, kind);
    }

    #[cold]
    #[inline(never)]
    fn err_at(&mut self, path: String, kind: ErrorKind) {
        if self.phase == Phase::Done {
            return;
        }
        self.total_errors += 1;
        if self.total_errors > ERRORS_MAX {
            self.errs.push(Error::new(path, ErrorKind::TooManyErrors));
            self.finish();
            return;
        }
        let fatal = Error::new(String::new(), kind.clone()).is_fatal();
        self.errs.push(Error::new(path, kind));
        if fatal {
            self.finish();
        }
    }

    fn finish(&mut self) {
        self.phase = Phase::Done;
        self.ready = true;
        if !self.errs.is_empty() {
            let e = std::mem::take(&mut self.errs);
            self.ready = true;
            self.out.push_back(Err(Errors(e)));
        }
    }

    /// Flushes errors collected since the last unit as one stream item.
    fn flush_errors(&mut self) {
        if !self.errs.is_empty() && (!self.collect_all || self.phase == Phase::Done) {
            let e = std::mem::take(&mut self.errs);
            self.ready = true;
            self.out.push_back(Err(Errors(e)));
        }
    }

    // -----------------------------------------------------------------------------------
    // the path

    /// The path of the current element.
    fn path(&self) -> String {
        render(&self.segs, &self.side)
    }

    #[inline]
    fn push_seg(&mut self, name: &'static str, occ: u32) {
        self.segs.push(Seg {
            name: SegName::Static(name),
            occ,
        });
    }

    /// A segment whose name is not a schema name (kept in `side`).
    fn push_seg_side(&mut self, name: &str) {
        let a = self.side.len() as u32;
        self.side.push_str(name);
        self.segs.push(Seg {
            name: SegName::Side(a, self.side.len() as u32),
            occ: 0,
        });
    }

    #[inline]
    fn truncate_segs(&mut self, n: usize) {
        if self.side.is_empty() {
            // no segment names a range of `side`
            self.segs.truncate(n);
        } else if let Some(cut) = self.segs.get(n..) {
            if let Some(a) = cut.iter().find_map(|s| match s.name {
                SegName::Side(a, _) => Some(a),
                SegName::Static(_) => None,
            }) {
                self.side.truncate(a as usize);
            }
            self.segs.truncate(n);
        }
    }

    // -----------------------------------------------------------------------------------
    // the loop

    fn expected_ns(&self) -> &'static str {
        if self.depth == 0 {
            return "";
        }
        match self.frames[self.depth - 1].schema {
            Some(s) => s.namespace,
            None => "",
        }
    }

    fn on_end(&mut self) {
        self.end();
        self.xml_depth = self.xml_depth.saturating_sub(1);
        while self.ns_depth > self.xml_depth {
            self.ns.pop();
            self.ns_changes += 1;
            self.ns_depth = self.ns.last().map_or(0, |b| b.depth);
        }
    }

    fn on_text(&mut self, t: &quick_xml::events::BytesText<'_>) {
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
    fn other_event(&mut self, ev: Event<'_>) {
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

    /// Binds the prefix of one `xmlns`/`xmlns:p` attribute for the element being started.
    fn bind(&mut self, decl: PrefixDeclaration<'_>, uri: &[u8]) -> Result<(), String> {
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
    fn lookup(&self, prefix: Option<&[u8]>) -> Result<Option<&[u8]>, ()> {
        self.lookup_binding(prefix).map(|b| b.map(|b| b.0))
    }

    /// As [`Self::lookup`], with the declaration it comes from (none for `xml`).
    fn lookup_binding(&self, prefix: Option<&[u8]>) -> Result<Option<Bound<'_>>, ()> {
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

    fn on_start(&mut self, e: &BytesStart<'_>) {
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

    /// Counts the attributes of a start tag and binds its namespace declarations; whether
    /// it has others. `None` after reporting an error. Stops at the first attribute past
    /// [`MAX_ATTRIBUTES`], and binds no declaration past [`MAX_NAMESPACE_DECLARATIONS`], so
    /// the work per tag is bounded whatever the tag holds (quick-xml's duplicate check
    /// looks at most at `MAX_ATTRIBUTES` names).
    fn scan_attributes(&mut self, e: &BytesStart<'_>) -> Option<(usize, bool)> {
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
    fn refuse_long_start_tag(&mut self, e: &BytesStart<'_>) {
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

    /// Child `pos` of the open element starts the usual way when the open element is inside
    /// a unit (role `None`, `Top` or `Record`: no unit starts here).
    #[inline]
    fn usual_child(&self, pos: usize) -> bool {
        let p = &self.frames[self.depth - 1];
        matches!(p.role, Role::None | Role::Top | Role::Record) && pos < p.children.len()
    }

    /// The default namespace in scope is the one the open element's schema expects
    /// (remembered until a declaration comes into or goes out of scope, or the expected
    /// namespace changes).
    #[inline]
    fn default_ns_is_expected(&mut self) -> bool {
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

    /// [`Self::start`] of the usual element: child `pos` of the open element, unprefixed
    /// in the expected namespace, without attributes or with only a plain `Ccy` (`ccy`),
    /// where [`Self::usual_child`] holds. Does what `start` and `start_child` do for it,
    /// in the same order.
    fn start_usual(&mut self, pos: usize, ccy: Option<&str>) {
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
    fn child_by_bytes(&self, local: &[u8]) -> Option<usize> {
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

    #[inline(always)]
    fn push_frame(&mut self, mut f: Frame) {
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

    fn start(
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

    fn start_outside(&mut self, local: &str, ns: Ns, path_len: u32) {
        let ns_str = match &ns {
            Ns::None => "",
            Ns::Expected => "",
            Ns::Other(s) => s.as_str(),
        };
        let mut f = Frame::blank();
        f.path_len = path_len;
        if local == "AppHdr" || local == "Document" {
            let found = schema::by_namespace(ns_str);
            let is_head = local == "AppHdr";
            let schema = match found {
                Some(s) if s.root == local => s,
                _ => {
                    let what = if ns_str.is_empty() {
                        format!("{local} in no namespace")
                    } else {
                        format!("{local} in namespace {ns_str}")
                    };
                    let supported = if is_head {
                        "head.001.001.01 to head.001.001.04".to_owned()
                    } else {
                        supported_messages().join(", ")
                    };
                    self.push_seg_side(local);
                    self.err(ErrorKind::Unsupported {
                        found: what,
                        supported,
                    });
                    return;
                }
            };
            self.truncate_segs(0);
            self.push_seg(if is_head { "AppHdr" } else { "Document" }, 0);
            f.path_len = 0;
            f.schema = Some(schema);
            f.name = schema.root;
            f.ty = schema.root_type;
            if is_head {
                if self.header.is_some() || self.head.is_some() {
                    self.err(ErrorKind::UnexpectedElement("second AppHdr".into()));
                }
                if self.doc.is_some() {
                    self.err(ErrorKind::UnexpectedElement(
                        "AppHdr after the Document".into(),
                    ));
                }
                self.head = Some(schema);
                f.role = Role::AppHdr;
                f.tree = 1;
                self.trees[0].clear();
                f.node = self.trees[0].add(NONE, schema.root, 0);
            } else {
                if self.doc.is_some() {
                    self.err(ErrorKind::UnexpectedElement("second Document".into()));
                    return;
                }
                let fam = match family_of(schema.id) {
                    Some(f) => f,
                    None => {
                        self.err(ErrorKind::Unsupported {
                            found: schema.id.into(),
                            supported: supported_messages().join(", "),
                        });
                        return;
                    }
                };
                self.doc = Some(schema);
                self.fam = Some(fam);
                self.kind = Some(MessageKind {
                    family: fam.family,
                    id: schema.id,
                    namespace: schema.namespace,
                });
                if let Some(h) = &self.header {
                    let def = h.message_definition_id.clone();
                    // a variant suffix in the header (pacs.002.001.03.ch.01) is accepted
                    let base_ok = def == schema.id
                        || def
                            .strip_prefix(schema.id)
                            .is_some_and(|rest| rest.starts_with('.'))
                        || schema
                            .id
                            .strip_prefix(def.as_str())
                            .is_some_and(|rest| rest.starts_with('.'));
                    if !base_ok {
                        self.err_at(
                            "/AppHdr/MsgDefIdr".into(),
                            ErrorKind::HeaderMismatch {
                                header: def,
                                document: schema.id.into(),
                            },
                        );
                    }
                }
                f.role = Role::Document;
            }
            self.push_frame(f);
            return;
        }
        if ns_str.starts_with(ISO_NS) {
            self.push_seg_side(local);
            self.err(ErrorKind::Unsupported {
                found: format!("root element {local} in {ns_str}"),
                supported: supported_messages().join(", "),
            });
            return;
        }
        if self.depth >= MAX_ENVELOPE_DEPTH {
            self.err(ErrorKind::Limit {
                limit: "MAX_ENVELOPE_DEPTH",
                max: MAX_ENVELOPE_DEPTH,
            });
            return;
        }
        f.role = Role::Wrapper;
        self.push_frame(f);
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

    /// The `Ccy` attribute of `child` (its value, if present) against its type.
    fn check_ccy_attribute(&mut self, schema: &Schema, child: &schema::Child, ccy: Option<&str>) {
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
    fn set_ccy(&mut self, ccy: Option<&str>) {
        self.ccy_set = ccy.is_some();
        if let Some(c) = ccy {
            self.ccy.clear();
            self.ccy.push_str(c);
        }
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

    fn end(&mut self) {
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

    /// End of an element of simple content with attributes (an amount and its `Ccy`).
    #[inline(never)]
    fn end_content(&mut self, d: usize, schema: &Schema, name: &str, base: u32, plan: u16) {
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

    fn stream_leaf(
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

    fn store_text(&mut self, d: usize, text: &str, ccy: Option<&str>) {
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

    fn mark_iban(&mut self, d: usize) {
        let (tree, node) = (self.frames[d].tree, self.frames[d].node);
        if tree != 0 && node != NONE {
            self.trees[tree as usize - 1].nodes[node as usize].iban_ok = true;
        }
    }

    fn store_amount(&mut self, d: usize, a: crate::types::Amount) {
        let (tree, node) = (self.frames[d].tree, self.frames[d].node);
        if tree != 0 && node != NONE {
            self.trees[tree as usize - 1].amounts.push((node, a));
        }
    }

    // -----------------------------------------------------------------------------------
    // units

    #[inline(never)]
    fn app_header_end(&mut self) {
        let version = self.head.map(|h| h.id).unwrap_or("");
        let mut errs = std::mem::take(&mut self.errs);
        if let Some(root) = self.trees[0].root() {
            let h = model::app_header(&mut Ex { errs: &mut errs }, version, root);
            self.header = Some(h);
        }
        self.errs = errs;
        self.trees[0].clear();
    }

    #[inline(never)]
    fn top_end(&mut self) {
        let mut errs = std::mem::take(&mut self.errs);
        if let Some(root) = self.trees[0].root() {
            let mut ex = Ex { errs: &mut errs };
            match root.name() {
                "GrpHdr" => {
                    self.group = Some(model::group_header(&mut ex, root));
                    self.group_done = true;
                }
                "OrgnlGrpInf" => {
                    self.orig_group = Some((
                        root.string(&["OrgnlMsgId"]).unwrap_or_default(),
                        root.string(&["OrgnlMsgNmId"]).unwrap_or_default(),
                    ));
                }
                _ => {}
            }
        }
        self.errs = errs;
        self.trees[0].clear();
        if self.group_done {
            self.flush_errors();
        }
    }

    #[inline(never)]
    fn container_start(&mut self) {
        self.pmt = None;
        self.pmt_count = 0;
        self.pmt_sum = Decimal::ZERO;
        self.pmt_path = self.path();
        self.stmt_emitted = false;
        self.stmt_id.clear();
    }

    /// Called when the first record of a container starts: its header is complete.
    #[inline(never)]
    fn record_in_container_start(&mut self) {
        let fam = self.fam.map(|f| f.family);
        let mut errs = std::mem::take(&mut self.errs);
        if let Some(root) = self.trees[0].root() {
            let mut ex = Ex { errs: &mut errs };
            match fam {
                Some(MessageFamily::Pain001) if self.pmt.is_none() => {
                    self.pmt = Some(Arc::new(model::payment_info(&mut ex, root)));
                }
                Some(MessageFamily::Pain002) if self.pmt.is_none() => {
                    self.stmt_id = root.string(&["OrgnlPmtInfId"]).unwrap_or_default();
                    self.pmt = Some(Arc::default());
                }
                Some(MessageFamily::Camt053 | MessageFamily::Camt054) if !self.stmt_emitted => {
                    let s = model::statement(&mut ex, root);
                    self.stmt_id = s.id.clone();
                    self.stmt_emitted = true;
                    if ex.errs.is_empty() {
                        self.ready = true;
                        self.out.push_back(Ok(Transaction::Statement(s)));
                    }
                }
                _ => {}
            }
        }
        self.errs = errs;
        self.flush_errors();
    }

    #[inline(never)]
    fn container_end(&mut self) {
        let fam = self.fam.map(|f| f.family);
        match fam {
            Some(MessageFamily::Camt053 | MessageFamily::Camt054) if !self.stmt_emitted => {
                self.record_in_container_start();
            }
            Some(MessageFamily::Pain001) => {
                if self.pmt.is_none() {
                    self.record_in_container_start();
                }
                if let Some(p) = self.pmt.clone() {
                    self.check_counts(
                        &format!("{}/NbOfTxs", self.pmt_path),
                        &format!("{}/CtrlSum", self.pmt_path),
                        p.number_of_transactions,
                        p.control_sum,
                        self.pmt_count,
                        self.pmt_sum,
                    );
                }
            }
            _ => {}
        }
        self.trees[0].clear();
        self.pmt = None;
        self.flush_errors();
    }

    fn check_counts(
        &mut self,
        nb_path: &str,
        sum_path: &str,
        declared: Option<u64>,
        ctrl: Option<Decimal>,
        count: u64,
        sum: Decimal,
    ) {
        if let Some(n) = declared {
            if n != count {
                self.err_at(
                    nb_path.to_owned(),
                    ErrorKind::NbOfTxs {
                        declared: n.to_string(),
                        counted: count,
                    },
                );
            }
        }
        if let Some(c) = ctrl {
            if c.normalize() != sum.normalize() {
                self.err_at(
                    sum_path.to_owned(),
                    ErrorKind::ControlSum {
                        field: "CtrlSum",
                        declared: c.normalize().to_string(),
                        computed: sum.normalize().to_string(),
                    },
                );
            }
        }
    }

    #[inline(never)]
    fn record_end(&mut self) {
        let fam = match self.fam {
            Some(f) => f.family,
            None => return,
        };
        self.count += 1;
        let index = self.count;
        let mut errs = std::mem::take(&mut self.errs);
        let mut tx = None;
        let mut ct_done = false;
        if matches!(fam, MessageFamily::Pacs008 | MessageFamily::Pain001) {
            // built while streaming; its conversion errors come after the schema errors
            // (`finish` adds none: it runs when the transfer is yielded)
            for e in self.ctb.errs.drain(..) {
                if !errs.iter().any(|x| x.path == e.path) {
                    errs.push(e);
                }
            }
            if let Some(a) = self.ctb.ct.amount() {
                self.sum += a.value();
                self.pmt_sum += a.value();
            }
            self.pmt_count += 1;
            ct_done = true;
        } else if let Some(root) = self.trees[1].root() {
            let mut ex = Ex { errs: &mut errs };
            tx = match (fam, root.name()) {
                // built while streaming (above)
                (MessageFamily::Pacs008 | MessageFamily::Pain001, _) => None,
                (MessageFamily::Pacs002 | MessageFamily::Pain002, "OrgnlGrpInfAndSts") => {
                    self.count -= 1;
                    let g = model::group_status(&mut ex, root);
                    self.orig_group = Some((
                        g.original_message_id.clone(),
                        g.original_message_name_id.clone(),
                    ));
                    Some(Transaction::GroupStatus(g))
                }
                (MessageFamily::Pacs002 | MessageFamily::Pain002, _) => {
                    let pmt = if fam == MessageFamily::Pain002 {
                        Some(self.stmt_id.as_str())
                    } else {
                        None
                    };
                    Some(Transaction::TransactionStatus(model::transaction_status(
                        &mut ex,
                        root,
                        index,
                        self.orig_group.as_ref(),
                        pmt,
                    )))
                }
                (MessageFamily::Pacs004, _) => {
                    let r = model::payment_return(&mut ex, root, index, self.orig_group.as_ref());
                    if let Some(a) = r.returned_interbank_settlement_amount {
                        self.sum += a.value();
                    }
                    Some(Transaction::PaymentReturn(r))
                }
                (MessageFamily::Camt053 | MessageFamily::Camt054, _) => Some(Transaction::Entry(
                    model::entry(&mut ex, root, index, &self.stmt_id),
                )),
            };
        }
        self.trees[1].clear();
        if errs.is_empty() {
            if ct_done && self.out.is_empty() {
                self.ct_ready = Some(index);
                self.ready = true;
            } else if ct_done {
                let ct = self.ctb.finish(index, self.pmt.as_ref());
                self.ready = true;
                self.out.push_back(Ok(Transaction::CreditTransfer(ct)));
            } else if let Some(tx) = tx {
                self.ready = true;
                self.out.push_back(Ok(tx));
            }
            self.errs = errs;
        } else {
            self.errs = errs;
            self.flush_errors();
        }
    }

    #[inline(never)]
    fn message_end(&mut self) {
        let fam = match self.fam {
            Some(f) => f.family,
            None => return,
        };
        let base = self.path();
        let g = self.group.clone().unwrap_or_default();
        match fam {
            MessageFamily::Pacs008 | MessageFamily::Pain001 | MessageFamily::Pacs004 => {
                self.check_counts(
                    &format!("{base}/GrpHdr/NbOfTxs"),
                    &format!("{base}/GrpHdr/CtrlSum"),
                    g.number_of_transactions,
                    g.control_sum,
                    self.count,
                    self.sum,
                );
                if let Some(t) = g.total_interbank_settlement_amount {
                    if t.value().normalize() != self.sum.normalize() {
                        let field = if fam == MessageFamily::Pacs004 {
                            "TtlRtrdIntrBkSttlmAmt"
                        } else {
                            "TtlIntrBkSttlmAmt"
                        };
                        self.err_at(
                            format!("{base}/GrpHdr/{field}"),
                            ErrorKind::ControlSum {
                                field,
                                declared: t.value().normalize().to_string(),
                                computed: self.sum.normalize().to_string(),
                            },
                        );
                    }
                }
            }
            _ => {}
        }
        self.flush_errors();
    }
}

/// Equality of two short names without a call to `memcmp`: eight bytes at a time (the
/// last word overlapping the previous one), or two overlapping four-byte words.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let w = |s: &[u8], i: usize| s[i..].first_chunk::<8>().map(|c| u64::from_le_bytes(*c));
        let mut i = 0;
        while i + 8 < n {
            if w(a, i) != w(b, i) {
                return false;
            }
            i += 8;
        }
        w(a, n - 8) == w(b, n - 8)
    } else if n >= 4 {
        let w = |s: &[u8], i: usize| s[i..].first_chunk::<4>().map(|c| u32::from_le_bytes(*c));
        w(a, 0) == w(b, 0) && w(a, n - 4) == w(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

/// Appends `[n]` without the formatting machinery.
fn push_index(path: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    path.push('[');
    path.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
    path.push(']');
}

/// Name of one path segment: a schema name, or a range of `MessageReader::side`.
#[derive(Debug, Clone, Copy)]
enum SegName {
    Static(&'static str),
    Side(u32, u32),
}

/// One step of the path of the current element: `/name` and `[occ]` if `occ > 0`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seg {
    name: SegName,
    occ: u32,
}

/// The path of an element, rendered only when needed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathRef<'a> {
    segs: &'a [Seg],
    side: &'a str,
}

impl PathRef<'_> {
    pub(crate) fn render(&self) -> String {
        render(self.segs, self.side)
    }
}

/// `/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[3]/...` from its segments.
fn render(segs: &[Seg], side: &str) -> String {
    let mut p = String::new();
    for s in segs {
        p.push('/');
        match s.name {
            SegName::Static(n) => p.push_str(n),
            SegName::Side(a, b) => p.push_str(&side[a as usize..b as usize]),
        }
        if s.occ > 0 {
            push_index(&mut p, s.occ);
        }
    }
    p
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// XML whitespace, plus U+00A0 used as indentation by some real files (README: lenient).
fn is_ws_lenient(c: char) -> bool {
    is_ws(c) || c == '\u{a0}'
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// A whole message, read at once ([`parse_document`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    pub kind: MessageKind,
    pub header: Option<AppHeader>,
    pub group_header: GroupHeader,
    pub transactions: Vec<Transaction>,
}

/// Reads a whole (small) message, collecting every error (up to [`ERRORS_MAX`]).
pub fn parse_document(bytes: &[u8]) -> Result<Message, Errors> {
    let mut r = MessageReader::create(bytes, true);
    let mut txs = vec![];
    let mut errs = vec![];
    while let Some(item) = r.next_transaction() {
        match item {
            Ok(t) => txs.push(t),
            Err(e) => errs.extend(e),
        }
    }
    errs.append(&mut r.st.errs);
    if errs.is_empty() && r.st.kind.is_none() {
        errs.push(Error::new("", ErrorKind::NoDocument(String::new())));
    }
    if !errs.is_empty() {
        return Err(Errors(errs));
    }
    Ok(Message {
        kind: r.st.kind.expect("checked"),
        header: r.st.header,
        group_header: r.st.group.unwrap_or_default(),
        transactions: txs,
    })
}
