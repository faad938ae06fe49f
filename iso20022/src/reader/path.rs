//! Where an error is: the path of the current element kept as segments and rendered only
//! for an error or a unit's base path, and the collection of errors (`ERRORS_MAX`, fatal
//! errors end the stream).

use super::state::{Phase, State};
use crate::error::{Error, ErrorKind, Errors, ERRORS_MAX};

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
    pub(super) segs: &'a [Seg],
    pub(super) side: &'a str,
}

impl PathRef<'_> {
    pub(crate) fn render(&self) -> String {
        render(self.segs, self.side)
    }
}

/// `/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[3]/...` from its segments.
pub(super) fn render(segs: &[Seg], side: &str) -> String {
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

impl State {
    // rare: out of line, and the paths that report them are laid out apart from the usual
    #[cold]
    #[inline(never)]
    pub(super) fn err(&mut self, kind: ErrorKind) {
        let p = self.path();
        self.err_at(p, kind);
    }

    #[cold]
    #[inline(never)]
    pub(super) fn err_at(&mut self, path: String, kind: ErrorKind) {
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

    pub(super) fn finish(&mut self) {
        self.phase = Phase::Done;
        self.ready = true;
        if !self.errs.is_empty() {
            let e = std::mem::take(&mut self.errs);
            self.ready = true;
            self.out.push_back(Err(Errors(e)));
        }
    }

    /// Flushes errors collected since the last unit as one stream item.
    pub(super) fn flush_errors(&mut self) {
        if !self.errs.is_empty() && (!self.collect_all || self.phase == Phase::Done) {
            let e = std::mem::take(&mut self.errs);
            self.ready = true;
            self.out.push_back(Err(Errors(e)));
        }
    }

    /// The path of the current element.
    pub(super) fn path(&self) -> String {
        render(&self.segs, &self.side)
    }

    #[inline]
    pub(super) fn push_seg(&mut self, name: &'static str, occ: u32) {
        self.segs.push(Seg {
            name: SegName::Static(name),
            occ,
        });
    }

    /// A segment whose name is not a schema name (kept in `side`).
    pub(super) fn push_seg_side(&mut self, name: &str) {
        let a = self.side.len() as u32;
        self.side.push_str(name);
        self.segs.push(Seg {
            name: SegName::Side(a, self.side.len() as u32),
            occ: 0,
        });
    }

    #[inline]
    pub(super) fn truncate_segs(&mut self, n: usize) {
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
}
