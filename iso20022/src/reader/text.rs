//! Byte and character tests on text and names: XML whitespace, plain (printable ASCII)
//! text, XML characters, a plain `Ccy` attribute, short name equality; word at a time
//! where it pays.

use std::borrow::Cow;

/// Text of a text or CDATA event: borrowed when it needs no line-end normalization; and
/// whether it is plain (printable ASCII only: XML characters, nothing to normalize).
#[inline]
pub(super) fn text_content<'b>(
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
pub(super) fn plain_ccy_attribute(raw: &[u8]) -> Option<&[u8]> {
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
pub(super) fn is_xml_space(b: &[u8]) -> bool {
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

/// Equality of two short names without a call to `memcmp`: eight bytes at a time (the
/// last word overlapping the previous one), or two overlapping four-byte words.
#[inline]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
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

#[inline]
pub(super) fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// XML whitespace, plus U+00A0 used as indentation by some real files (README: lenient).
#[inline]
pub(super) fn is_ws_lenient(c: char) -> bool {
    is_ws(c) || c == '\u{a0}'
}

#[inline]
pub(super) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}
