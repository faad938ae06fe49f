//! The streaming reader: one loop over quick-xml events with an explicit element stack,
//! validating every element against the schema table of the message's version, and
//! building one small tree per unit (group header, transaction) for the typed layer.

mod end;
mod envelope;
mod events;
mod leaf;
mod limits;
mod namespaces;
mod path;
mod start;
mod state;
mod text;
mod units;

use crate::error::{Error, ErrorKind, Errors};
use crate::model::{AppHeader, GroupHeader, MessageKind, Transaction};
use crate::schema;
use limits::Guard;
use quick_xml::events::Event;
use quick_xml::Reader;
use state::{Phase, State};
use std::io::BufRead;

pub use limits::{
    MAX_ATTRIBUTES, MAX_DEPTH, MAX_ENVELOPE_DEPTH, MAX_NAMESPACE_DECLARATIONS, MAX_START_TAG_BYTES,
    MAX_TEXT_LEN, MAX_TOKEN_BYTES, MAX_TOTAL_BYTES, MAX_UNIT_ELEMENTS,
};
pub(crate) use path::PathRef;

/// Namespaces of the documents this crate reads.
pub fn supported_messages() -> Vec<&'static str> {
    schema::TABLES
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !id.starts_with("head."))
        .collect()
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
            Err(e) => Self::read_error(xml, buf, st, e),
        }
    }

    #[cold]
    #[inline(never)]
    fn read_error(xml: &Reader<Guard<R>>, buf: &[u8], st: &mut State, e: quick_xml::Error) {
        let tripped = xml.get_ref().tripped;
        // a start tag cut off by the token limit is named by the start tag's limits
        if tripped == Some("MAX_TOKEN_BYTES") && st.refuse_cut_start_tag(buf) {
            return;
        }
        let kind = match (tripped, &e) {
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
