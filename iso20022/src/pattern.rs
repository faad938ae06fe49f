//! A small matcher for the subset of XSD regular expressions the ISO 20022 schemas use:
//! literals, escapes (`\+`, `\p{Zs}`, ...), character classes with ranges, groups with `|`,
//! and the quantifiers `?`, `*`, `+`, `{n}`, `{n,m}`. XSD patterns are anchored at both ends.

use std::cell::Cell;
use std::sync::OnceLock;

#[derive(Debug, Clone)]
enum ClassItem {
    Range(char, char),
    SpaceSep,
}

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Class(Vec<ClassItem>),
    Seq(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, u32, u32),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    root: Node,
    /// Hand-written matcher for the most frequent schema patterns.
    fast: Option<fn(&str) -> bool>,
    /// Bit-parallel position automaton, when the pattern has at most 128 positions; built
    /// on first use (a pattern with a fast matcher never needs it).
    nfa: OnceLock<Option<Box<Nfa>>>,
}

/// A Glushkov position automaton run bit-parallel: one bit per character position of the
/// pattern (counted repetitions expanded). Linear in the input, no backtracking.
#[derive(Debug, Clone)]
struct Nfa {
    /// The single-character node at each position (for non-ASCII input).
    pos: Vec<Node>,
    /// Positions each ASCII byte may occupy.
    ascii: Box<[u128; 128]>,
    /// Positions that may follow each position.
    follow: Vec<u128>,
    first: u128,
    last: u128,
    nullable: bool,
}

struct Frag {
    first: u128,
    last: u128,
    nullable: bool,
}

impl Nfa {
    const MAX_POSITIONS: usize = 128;

    fn build(root: &Node) -> Option<Nfa> {
        let mut nfa = Nfa {
            pos: vec![],
            ascii: Box::new([0; 128]),
            follow: vec![],
            first: 0,
            last: 0,
            nullable: false,
        };
        let f = nfa.frag(root)?;
        nfa.first = f.first;
        nfa.last = f.last;
        nfa.nullable = f.nullable;
        for (i, n) in nfa.pos.iter().enumerate() {
            for b in 0..128u8 {
                if single(n, b as char) == Some(true) {
                    nfa.ascii[b as usize] |= 1u128 << i;
                }
            }
        }
        Some(nfa)
    }

    fn frag(&mut self, n: &Node) -> Option<Frag> {
        if single(n, 'a').is_some() {
            let i = self.pos.len();
            if i >= Self::MAX_POSITIONS {
                return None;
            }
            self.pos.push(n.clone());
            self.follow.push(0);
            let b = 1u128 << i;
            return Some(Frag {
                first: b,
                last: b,
                nullable: false,
            });
        }
        match n {
            Node::Seq(items) => {
                let mut acc = Frag {
                    first: 0,
                    last: 0,
                    nullable: true,
                };
                for it in items {
                    let f = self.frag(it)?;
                    acc = self.concat(acc, f);
                }
                Some(acc)
            }
            Node::Alt(alts) => {
                let mut acc = Frag {
                    first: 0,
                    last: 0,
                    nullable: false,
                };
                for a in alts {
                    let f = self.frag(a)?;
                    acc.first |= f.first;
                    acc.last |= f.last;
                    acc.nullable |= f.nullable;
                }
                Some(acc)
            }
            Node::Repeat(inner, lo, hi) => {
                let mut acc = Frag {
                    first: 0,
                    last: 0,
                    nullable: true,
                };
                let copies = if *hi == u32::MAX { (*lo).max(1) } else { *hi };
                if copies as usize > Self::MAX_POSITIONS {
                    return None;
                }
                for k in 0..copies {
                    let mut f = self.frag(inner)?;
                    if k >= *lo {
                        f.nullable = true;
                    }
                    if *hi == u32::MAX && k + 1 == copies {
                        // the last copy repeats
                        self.link(f.last, f.first);
                    }
                    acc = self.concat(acc, f);
                }
                Some(acc)
            }
            _ => None,
        }
    }

    fn link(&mut self, from: u128, to: u128) {
        let mut s = from;
        while s != 0 {
            let i = s.trailing_zeros() as usize;
            self.follow[i] |= to;
            s &= s - 1;
        }
    }

    fn concat(&mut self, a: Frag, b: Frag) -> Frag {
        self.link(a.last, b.first);
        Frag {
            first: a.first | if a.nullable { b.first } else { 0 },
            last: b.last | if b.nullable { a.last } else { 0 },
            nullable: a.nullable && b.nullable,
        }
    }

    fn class_of(&self, c: char) -> u128 {
        if c.is_ascii() {
            return self.ascii[c as usize];
        }
        let mut m = 0;
        for (i, n) in self.pos.iter().enumerate() {
            if single(n, c) == Some(true) {
                m |= 1u128 << i;
            }
        }
        m
    }

    fn is_match(&self, s: &str) -> bool {
        let mut chars = s.chars();
        let mut state = match chars.next() {
            None => return self.nullable,
            Some(c) => self.first & self.class_of(c),
        };
        for c in chars {
            if state == 0 {
                return false;
            }
            let mut next = 0;
            let mut x = state;
            while x != 0 {
                next |= self.follow[x.trailing_zeros() as usize];
                x &= x - 1;
            }
            state = next & self.class_of(c);
        }
        state & self.last != 0
    }
}

/// Byte classes of the hand-written matchers, one bit each: a run of bytes is in a class
/// when the AND of their entries keeps its bit (no branch per byte).
const UPPER: u8 = 1;
const DIGIT: u8 = 2;
const UPPER_DIGIT: u8 = 4;
const ALNUM: u8 = 8;
/// `[a-f0-9]`
const HEX: u8 = 16;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let (up, lo, dg) = (
            b.is_ascii_uppercase(),
            b.is_ascii_lowercase(),
            b.is_ascii_digit(),
        );
        t[c] = (if up { UPPER | UPPER_DIGIT | ALNUM } else { 0 })
            | (if dg {
                DIGIT | UPPER_DIGIT | ALNUM | HEX
            } else {
                0
            })
            | (if lo { ALNUM } else { 0 })
            | (if matches!(b, b'a'..=b'f') { HEX } else { 0 });
        c += 1;
    }
    t
};

/// Every byte of `b` is in `class`.
#[inline]
fn all(b: &[u8], class: u8) -> bool {
    b.iter().fold(class, |acc, &c| acc & CLASS[c as usize]) != 0
}

fn fast_matcher(p: &str) -> Option<fn(&str) -> bool> {
    Some(match p {
        "[A-Z]{3,3}" => |s| s.len() == 3 && all(s.as_bytes(), UPPER),
        "[A-Z]{2,2}" => |s| s.len() == 2 && all(s.as_bytes(), UPPER),
        "[0-9]{1,15}" => |s| (1..=15).contains(&s.len()) && all(s.as_bytes(), DIGIT),
        "[A-Z0-9]{4,4}[A-Z]{2,2}[A-Z0-9]{2,2}([A-Z0-9]{3,3}){0,1}" => |s| {
            let b = s.as_bytes();
            (b.len() == 8 || b.len() == 11)
                && all(&b[..4], UPPER_DIGIT) & all(&b[4..6], UPPER) & all(&b[6..], UPPER_DIGIT)
        },
        "[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}" => |s| {
            let b = s.as_bytes();
            b.len() == 36
                && all(&b[..8], HEX)
                    & all(&b[9..13], HEX)
                    & all(&b[15..18], HEX)
                    & all(&b[20..23], HEX)
                    & all(&b[24..], HEX)
                && [b[8], b[13], b[18], b[23], b[14]] == *b"----4"
                && matches!(b[19], b'8' | b'9' | b'a' | b'b')
        },
        "[A-Z]{2,2}[0-9]{2,2}[a-zA-Z0-9]{1,30}" => |s| {
            let b = s.as_bytes();
            (5..=34).contains(&b.len())
                && all(&b[..2], UPPER) & all(&b[2..4], DIGIT) & all(&b[4..], ALNUM)
        },
        _ => return None,
    })
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.i += 1;
        c
    }
    fn alt(&mut self) -> Result<Node, String> {
        let mut alts = vec![self.seq()?];
        while self.peek() == Some('|') {
            self.i += 1;
            alts.push(self.seq()?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Seq(vec![]))
        } else {
            Node::Alt(alts)
        })
    }
    fn seq(&mut self) -> Result<Node, String> {
        let mut items = vec![];
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quant(atom)?);
        }
        Ok(Node::Seq(items))
    }
    fn escape(&mut self) -> Result<ClassItem, String> {
        match self.next() {
            Some('p') => {
                let mut name = String::new();
                if self.next() != Some('{') {
                    return Err("bad \\p".into());
                }
                loop {
                    match self.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err("bad \\p".into()),
                    }
                }
                if name == "Zs" {
                    Ok(ClassItem::SpaceSep)
                } else {
                    Err(format!("unsupported \\p{{{name}}}"))
                }
            }
            Some('n') => Ok(ClassItem::Range('\n', '\n')),
            Some('r') => Ok(ClassItem::Range('\r', '\r')),
            Some('t') => Ok(ClassItem::Range('\t', '\t')),
            Some('d') => Ok(ClassItem::Range('0', '9')),
            Some(c) => Ok(ClassItem::Range(c, c)),
            None => Err("dangling \\".into()),
        }
    }
    fn atom(&mut self) -> Result<Node, String> {
        match self.next() {
            Some('(') => {
                let n = self.alt()?;
                if self.next() != Some(')') {
                    return Err("missing )".into());
                }
                Ok(n)
            }
            Some('[') => {
                let mut items = vec![];
                if self.peek() == Some('^') {
                    return Err("negated classes unsupported".into());
                }
                loop {
                    let c = self.next().ok_or("missing ]")?;
                    if c == ']' {
                        break;
                    }
                    let item = if c == '\\' {
                        self.escape()?
                    } else {
                        ClassItem::Range(c, c)
                    };
                    if let ClassItem::Range(lo, _) = item {
                        if self.peek() == Some('-') && self.s.get(self.i + 1) != Some(&']') {
                            self.i += 1;
                            let mut hi = self.next().ok_or("bad range")?;
                            if hi == '\\' {
                                match self.escape()? {
                                    ClassItem::Range(h, _) => hi = h,
                                    _ => return Err("bad range".into()),
                                }
                            }
                            items.push(ClassItem::Range(lo, hi));
                            continue;
                        }
                    }
                    items.push(item);
                }
                Ok(Node::Class(items))
            }
            Some('.') => Ok(Node::Any),
            Some('\\') => Ok(match self.escape()? {
                ClassItem::Range(c, d) if c == d => Node::Char(c),
                item => Node::Class(vec![item]),
            }),
            Some(c) => Ok(Node::Char(c)),
            None => Err("unexpected end".into()),
        }
    }
    fn number(&mut self) -> Result<u32, String> {
        let mut n: u32 = 0;
        let mut any = false;
        while let Some(c) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n.saturating_mul(10).saturating_add(c);
            self.i += 1;
            any = true;
        }
        if any {
            Ok(n)
        } else {
            Err("expected number".into())
        }
    }
    fn quant(&mut self, atom: Node) -> Result<Node, String> {
        let (lo, hi) = match self.peek() {
            Some('?') => (0, 1),
            Some('*') => (0, u32::MAX),
            Some('+') => (1, u32::MAX),
            Some('{') => {
                self.i += 1;
                let lo = self.number()?;
                let hi = if self.peek() == Some(',') {
                    self.i += 1;
                    if self.peek() == Some('}') {
                        u32::MAX
                    } else {
                        self.number()?
                    }
                } else {
                    lo
                };
                if self.peek() != Some('}') {
                    return Err("missing }".into());
                }
                (lo, hi)
            }
            _ => return Ok(atom),
        };
        self.i += 1;
        Ok(Node::Repeat(Box::new(atom), lo, hi))
    }
}

impl Pattern {
    /// Compiles an XSD pattern.
    pub(crate) fn compile(p: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = p.chars().collect();
        let mut parser = Parser { s: &chars, i: 0 };
        let root = parser.alt()?;
        if parser.i != chars.len() {
            return Err(format!("trailing input in pattern {p}"));
        }
        Ok(Pattern {
            fast: fast_matcher(p),
            nfa: OnceLock::new(),
            root,
        })
    }

    fn nfa(&self) -> Option<&Nfa> {
        self.nfa
            .get_or_init(|| Nfa::build(&self.root).map(Box::new))
            .as_deref()
    }

    /// True if the whole of `s` matches.
    pub(crate) fn is_match(&self, s: &str) -> bool {
        if let Some(f) = self.fast {
            return f(s);
        }
        if let Some(n) = self.nfa() {
            return n.is_match(s);
        }
        self.backtrack(s)
    }

    fn backtrack(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        let budget = Cell::new(100_000);
        m(&self.root, &chars, 0, &budget, &mut |p| p == chars.len())
    }
}

fn class_has(items: &[ClassItem], c: char) -> bool {
    items.iter().any(|it| match it {
        ClassItem::Range(lo, hi) => *lo <= c && c <= *hi,
        ClassItem::SpaceSep => matches!(
            c,
            ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
        ),
    })
}

fn single(n: &Node, c: char) -> Option<bool> {
    match n {
        Node::Char(x) => Some(*x == c),
        Node::Any => Some(c != '\n' && c != '\r'),
        Node::Class(items) => Some(class_has(items, c)),
        Node::Alt(alts) => {
            let mut any = false;
            for a in alts {
                any |= single(a, c)?;
            }
            Some(any)
        }
        Node::Seq(items) if items.len() == 1 => single(&items[0], c),
        _ => None,
    }
}

/// Backtracking match of `n` at `pos`, calling `k` with each end position.
/// `budget` bounds the work on adversarial input (an exhausted budget is a non-match).
fn m(
    n: &Node,
    s: &[char],
    pos: usize,
    budget: &Cell<u32>,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    if budget.get() == 0 {
        return false;
    }
    budget.set(budget.get() - 1);
    match n {
        Node::Char(_) | Node::Any | Node::Class(_) => {
            s.get(pos).is_some_and(|c| single(n, *c) == Some(true)) && k(pos + 1)
        }
        Node::Seq(items) => seq(items, s, pos, budget, k),
        Node::Alt(alts) => alts.iter().any(|a| m(a, s, pos, budget, k)),
        Node::Repeat(inner, lo, hi) => {
            if single(inner, 'a').is_some() {
                // one character per repetition: count greedily, then back off, no recursion
                let mut n = 0usize;
                while (n as u64) < *hi as u64
                    && s.get(pos + n)
                        .is_some_and(|c| single(inner, *c) == Some(true))
                {
                    n += 1;
                }
                let lo = *lo as usize;
                let mut j = n;
                loop {
                    if j < lo {
                        return false;
                    }
                    if k(pos + j) {
                        return true;
                    }
                    if j == 0 {
                        return false;
                    }
                    j -= 1;
                }
            }
            rep(inner, *lo, *hi, 0, s, pos, budget, k)
        }
    }
}

fn seq(
    items: &[Node],
    s: &[char],
    pos: usize,
    budget: &Cell<u32>,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    match items.split_first() {
        None => k(pos),
        Some((first, rest)) => m(first, s, pos, budget, &mut |p| seq(rest, s, p, budget, k)),
    }
}

#[allow(clippy::too_many_arguments)]
fn rep(
    inner: &Node,
    lo: u32,
    hi: u32,
    count: u32,
    s: &[char],
    pos: usize,
    budget: &Cell<u32>,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    // greedy: try one more repetition first (only if it consumes input)
    if count < hi
        && m(inner, s, pos, budget, &mut |p| {
            p > pos && rep(inner, lo, hi, count + 1, s, p, budget, k)
        })
    {
        return true;
    }
    count >= lo && k(pos)
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn check(p: &str, yes: &[&str], no: &[&str]) {
        let pat = Pattern::compile(p).unwrap();
        for s in yes {
            assert!(pat.is_match(s), "{p} should match {s:?}");
        }
        for s in no {
            assert!(!pat.is_match(s), "{p} should not match {s:?}");
        }
    }

    #[test]
    fn schema_patterns_match_what_the_xsd_means() {
        check("[A-Z]{3,3}", &["EUR"], &["EU", "EURO", "eur"]);
        check(
            "[A-Z0-9]{4,4}[A-Z]{2,2}[A-Z0-9]{2,2}([A-Z0-9]{3,3}){0,1}",
            &["DEUTDEFF", "DEUTDEFF500", "1234DEFF"],
            &["DEUTDEF", "DEUTDEFF50", "DEUT12FF", "ZZZZ99", ""],
        );
        check(
            "[A-Z]{6,6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3,3}){0,1}",
            &["DEUTDEFF", "DEUTDEFFXXX"],
            &["DEUTDE1F", "DEUTDEFO"],
        );
        check(
            "[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}",
            &["b94458f8-1f27-40e9-bf74-b07cbb339439"],
            &["b94458f8-1f27-30e9-bf74-b07cbb339439"],
        );
        check(
            r"\+[0-9]{1,3}-[0-9()+\-]{1,30}",
            &["+41-79(0)123"],
            &["41-79"],
        );
        check(r"[\+]{0,1}[0-9]{1,15}", &["+12", "12"], &["++12"]);
        check(
            r"([A-Za-z0-9]|[+|\?|/|\-|:|\(|\)|\.|,|'|\p{Zs}])*",
            &["Hello World, a/b-c", ""],
            &["Hällo", "a_b"],
        );
        check(
            ".*Z",
            &["2015-08-27T08:59:00Z"],
            &["2015-08-27T08:59:00+01:00"],
        );
    }

    /// The automaton and the hand-written matchers agree with the backtracking matcher on
    /// every pattern of every schema table, over generated inputs.
    #[test]
    fn fast_matchers_agree_with_the_backtracking_matcher() {
        let mut patterns: Vec<&str> = vec![];
        for (_, text) in crate::schema::TABLES {
            for l in text.lines().filter(|l| l.starts_with("s\t")) {
                for p in l.split('\t').nth(5).unwrap_or("").split("&&&") {
                    if !p.is_empty() && !patterns.contains(&p) {
                        patterns.push(p);
                    }
                }
            }
        }
        assert!(patterns.len() > 20);
        let alphabet: Vec<char> = "AZaf09-+()4b8Mé .,/?_\u{a0}Xx1".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let samples = [
            "DEUTDEFF",
            "DEUTDEFFXXX",
            "b94458f8-1f27-40e9-bf74-b07cbb339439",
            "GB82WEST12345698765432",
            "529900T8BM49AURSDO55",
            "+41-79(0)123",
            "+4912345",
            "EUR",
            "12",
            "abcd",
            "Hello, World",
            "",
        ];
        for p in patterns {
            let pat = Pattern::compile(p).unwrap();
            assert!(pat.nfa().is_some(), "{p} has no automaton");
            let mut inputs: Vec<String> = samples.iter().map(|s| s.to_string()).collect();
            for _ in 0..400 {
                let base: Vec<char> = samples[rnd(samples.len())].chars().collect();
                let mut v = base.clone();
                for _ in 0..rnd(3) {
                    match rnd(3) {
                        0 if !v.is_empty() => {
                            let i = rnd(v.len());
                            v[i] = alphabet[rnd(alphabet.len())];
                        }
                        1 => v.insert(rnd(v.len() + 1), alphabet[rnd(alphabet.len())]),
                        _ if !v.is_empty() => {
                            v.remove(rnd(v.len()));
                        }
                        _ => {}
                    }
                }
                inputs.push(v.into_iter().collect());
                let len = rnd(40);
                inputs.push((0..len).map(|_| alphabet[rnd(alphabet.len())]).collect());
            }
            for s in &inputs {
                assert_eq!(pat.is_match(s), pat.backtrack(s), "{p} on {s:?}");
                if let Some(n) = pat.nfa() {
                    assert_eq!(n.is_match(s), pat.backtrack(s), "nfa {p} on {s:?}");
                }
            }
        }
    }

    #[test]
    fn long_inputs_do_not_recurse_per_character() {
        let p = Pattern::compile(r"([A-Za-z0-9]|[+|\?|/|\-|:|\(|\)|\.|,|'|\p{Zs}])*").unwrap();
        assert!(p.is_match(&"a".repeat(200_000)));
    }
}
