//! Schema tables generated from the official XSDs (see `tools/gen_tables.py`) and the
//! generic validation of simple values against them.

use crate::error::ErrorKind;
use crate::pattern::Pattern;
use crate::types::{parse_decimal, Amount, CurrencyCode, Iban, IsoDate, IsoDateTime};
use std::collections::HashMap;
use std::sync::OnceLock;

macro_rules! tables {
    ($($id:literal),* $(,)?) => {
        /// Every schema version this crate knows, by message identifier.
        pub(crate) static TABLES: &[(&str, &str)] = &[
            $(($id, include_str!(concat!("../schema/", $id, ".tbl"))),)*
        ];
    };
}

tables!(
    "camt.053.001.02",
    "camt.053.001.03",
    "camt.053.001.04",
    "camt.053.001.05",
    "camt.053.001.06",
    "camt.053.001.07",
    "camt.053.001.08",
    "camt.053.001.09",
    "camt.053.001.10",
    "camt.053.001.11",
    "camt.053.001.12",
    "camt.054.001.02",
    "camt.054.001.03",
    "camt.054.001.04",
    "camt.054.001.05",
    "camt.054.001.06",
    "camt.054.001.07",
    "camt.054.001.08",
    "camt.054.001.09",
    "camt.054.001.10",
    "camt.054.001.11",
    "camt.054.001.12",
    "head.001.001.01",
    "head.001.001.02",
    "head.001.001.03",
    "head.001.001.04",
    "pacs.002.001.03",
    "pacs.002.001.08",
    "pacs.002.001.09",
    "pacs.002.001.10",
    "pacs.002.001.11",
    "pacs.002.001.12",
    "pacs.002.001.13",
    "pacs.002.001.14",
    "pacs.004.001.09",
    "pacs.004.001.10",
    "pacs.004.001.11",
    "pacs.004.001.12",
    "pacs.004.001.13",
    "pacs.008.001.07",
    "pacs.008.001.08",
    "pacs.008.001.09",
    "pacs.008.001.10",
    "pacs.008.001.11",
    "pacs.008.001.12",
    "pain.001.001.03",
    "pain.001.001.03.ch.02",
    "pain.001.001.04",
    "pain.001.001.05",
    "pain.001.001.06",
    "pain.001.001.07",
    "pain.001.001.08",
    "pain.001.001.09",
    "pain.001.003.03",
    "pain.002.001.10",
);

/// Sentinel type index of an `xs:any` child.
pub(crate) const ANY: u32 = u32::MAX;

#[derive(Debug)]
pub(crate) struct Child {
    pub name: &'static str,
    /// Type index, or [`ANY`] (then `any_ns` is the allowed namespace).
    pub ty: u32,
    pub any_ns: &'static str,
    pub min: u32,
    pub max: u32,
    /// 0: plain; >0 member of required nested choice n; <0 member of optional nested choice.
    pub group: i32,
    /// The child's type is complex (element-only content), known without looking it up.
    pub complex: bool,
    /// The child's type is simple content with attributes (amounts).
    pub content: bool,
    /// `SplmtryData` or `Sgntr`: content is `xs:any` (lax), its children are skipped.
    pub lax: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    String,
    Decimal,
    Date,
    DateTime,
    Boolean,
    Time,
    GYear,
    GYearMonth,
    Base64,
}

#[derive(Debug)]
pub(crate) struct Simple {
    pub name: &'static str,
    pub base: Base,
    pub min_len: Option<u32>,
    pub max_len: Option<u32>,
    pub patterns: Vec<(&'static str, Pattern)>,
    pub enums: Vec<&'static str>,
    pub total: Option<u32>,
    pub fraction: Option<u32>,
    pub min_zero: bool,
    /// An IBAN type (mod-97 checked).
    pub iban: bool,
    /// A currency code type (checked against ISO 4217).
    pub currency: bool,
    /// Its pattern implies [`crate::types::Bic`]'s rule: a value that passed needs no
    /// second check in the typed layer.
    pub bic: bool,
    /// Its pattern is [`crate::types::Uetr`]'s rule.
    pub uetr: bool,
    /// A decimal with the facets [`crate::types::Amount::parse`] applies (totalDigits 18,
    /// fractionDigits 5, minInclusive 0): its parsed value is the amount's.
    pub amount: bool,
}

/// Schema patterns whose matches satisfy [`crate::types::Bic::new`] (Dec-2014 and older).
const BIC_PATTERNS: &[&str] = &[
    "[A-Z0-9]{4,4}[A-Z]{2,2}[A-Z0-9]{2,2}([A-Z0-9]{3,3}){0,1}",
    "[A-Z]{6,6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3,3}){0,1}",
];
/// The schema pattern equal to [`crate::types::Uetr::new`]'s rule.
const UETR_PATTERN: &str = "[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}";

#[derive(Debug)]
pub(crate) enum TypeDef {
    Complex {
        #[allow(dead_code)]
        name: &'static str,
        choice: bool,
        children: Vec<Child>,
        /// Children outside any nested choice that must occur (indices, ascending).
        required: Vec<u16>,
        /// Some children belong to nested choices.
        grouped: bool,
    },
    Simple(Simple),
    /// simpleContent: a simple value plus attributes (amounts).
    Content {
        #[allow(dead_code)]
        name: &'static str,
        base: u32,
        attrs: Vec<(&'static str, u32, bool)>,
    },
}

#[derive(Debug)]
pub(crate) struct Schema {
    pub id: &'static str,
    pub namespace: &'static str,
    pub root: &'static str,
    pub root_type: u32,
    pub types: Vec<TypeDef>,
}

impl Schema {
    fn load(id: &'static str, text: &'static str) -> Schema {
        let mut names: HashMap<&'static str, u32> = HashMap::new();
        let lines: Vec<Vec<&'static str>> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split('\t').collect())
            .collect();
        for l in &lines {
            if l[0] != "r" {
                names.insert(l[1], names.len() as u32);
            }
        }
        let idx = |n: &str| -> u32 {
            *names
                .get(n)
                .unwrap_or_else(|| panic!("schema table {id}: unknown type {n}"))
        };
        let num = |s: &str| -> Option<u32> {
            if s.is_empty() {
                None
            } else {
                s.parse().ok()
            }
        };
        let mut types = Vec::with_capacity(names.len());
        let (mut root, mut root_type, mut namespace) = ("", 0, "");
        for l in &lines {
            match l[0] {
                "r" => {
                    root = l[1];
                    root_type = idx(l[2]);
                    namespace = l[3];
                }
                "c" => {
                    let mut children = vec![];
                    for c in l
                        .get(3)
                        .copied()
                        .unwrap_or("")
                        .split(',')
                        .filter(|c| !c.is_empty())
                    {
                        // name:type:min:max:group, where an xs:any's "type" is a namespace URI
                        let mut r = c.rsplitn(4, ':');
                        let (g, mx, mn, rest) = (
                            r.next().unwrap_or("0"),
                            r.next().unwrap_or("1"),
                            r.next().unwrap_or("1"),
                            r.next().unwrap_or(""),
                        );
                        let (n, t) = rest.split_once(':').unwrap_or((rest, ""));
                        let f = [n, t, mn, mx, g];
                        let max = if f[3] == "u" {
                            u32::MAX
                        } else {
                            f[3].parse().unwrap_or(1)
                        };
                        let (ty, any_ns) = if f[0] == "*" {
                            (ANY, f[1])
                        } else {
                            (idx(f[1]), "")
                        };
                        children.push(Child {
                            lax: f[0] == "SplmtryData" || f[0] == "Sgntr",
                            name: f[0],
                            ty,
                            any_ns,
                            min: f[2].parse().unwrap_or(1),
                            max,
                            group: f[4].parse().unwrap_or(0),
                            complex: false,
                            content: false,
                        });
                    }
                    let required = children
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.group == 0 && c.min > 0 && c.ty != ANY)
                        .map(|(i, _)| i as u16)
                        .collect();
                    let grouped = children.iter().any(|c| c.group != 0);
                    types.push(TypeDef::Complex {
                        name: l[1],
                        choice: l[2] == "cho",
                        children,
                        required,
                        grouped,
                    });
                }
                "s" => {
                    let base = match l[2] {
                        "string" => Base::String,
                        "decimal" => Base::Decimal,
                        "date" => Base::Date,
                        "dateTime" => Base::DateTime,
                        "boolean" => Base::Boolean,
                        "time" => Base::Time,
                        "gYear" => Base::GYear,
                        "gYearMonth" => Base::GYearMonth,
                        _ => Base::Base64,
                    };
                    let patterns = l[5]
                        .split("&&&")
                        .filter(|p| !p.is_empty())
                        // the head.001.001.01 `.*Z` pattern is deliberately not applied (README)
                        .filter(|p| *p != ".*Z")
                        .map(|p| {
                            (
                                p,
                                Pattern::compile(p).unwrap_or_else(|e| panic!("{id}: {e}")),
                            )
                        })
                        .collect::<Vec<_>>();
                    let only = |ps: &[&str]| patterns.len() == 1 && ps.contains(&patterns[0].0);
                    let (bic, uetr) = (only(BIC_PATTERNS), only(&[UETR_PATTERN]));
                    let (total, fraction, min_zero) = (num(l[7]), num(l[8]), l[9] == "0");
                    let amount = base == Base::Decimal
                        && total == Some(18)
                        && fraction == Some(5)
                        && min_zero
                        && patterns.is_empty()
                        && l[6].is_empty();
                    types.push(TypeDef::Simple(Simple {
                        name: l[1],
                        base,
                        min_len: num(l[3]),
                        max_len: num(l[4]),
                        patterns,
                        enums: l[6].split('|').filter(|e| !e.is_empty()).collect(),
                        total,
                        fraction,
                        min_zero,
                        iban: l[1].starts_with("IBAN"),
                        currency: l[1].contains("CurrencyCode"),
                        bic,
                        uetr,
                        amount,
                    }));
                }
                "v" => {
                    let attrs = l
                        .get(3)
                        .copied()
                        .unwrap_or("")
                        .split(',')
                        .filter(|a| !a.is_empty())
                        .map(|a| {
                            let f: Vec<&'static str> = a.split(':').collect();
                            (f[0], idx(f[1]), f[2] == "1")
                        })
                        .collect();
                    types.push(TypeDef::Content {
                        name: l[1],
                        base: idx(l[2]),
                        attrs,
                    });
                }
                _ => panic!("schema table {id}: bad line"),
            }
        }
        // what each child's type is, so the reader need not look it up per element
        let kinds: Vec<(bool, bool)> = types
            .iter()
            .map(|t| {
                (
                    matches!(t, TypeDef::Complex { .. }),
                    matches!(t, TypeDef::Content { .. }),
                )
            })
            .collect();
        for t in &mut types {
            if let TypeDef::Complex { children, .. } = t {
                for c in children.iter_mut().filter(|c| c.ty != ANY) {
                    (c.complex, c.content) = kinds[c.ty as usize];
                }
            }
        }
        Schema {
            id,
            namespace,
            root,
            root_type,
            types,
        }
    }

    pub(crate) fn ty(&self, i: u32) -> &TypeDef {
        &self.types[i as usize]
    }
}

fn loaded() -> &'static [OnceLock<Schema>] {
    static L: OnceLock<Vec<OnceLock<Schema>>> = OnceLock::new();
    L.get_or_init(|| TABLES.iter().map(|_| OnceLock::new()).collect())
}

fn schema_at(i: usize) -> &'static Schema {
    loaded()[i].get_or_init(|| Schema::load(TABLES[i].0, TABLES[i].1))
}

/// The namespace a table declares, without loading the whole table.
fn table_namespace(text: &'static str) -> &'static str {
    text.lines()
        .find(|l| l.starts_with("r\t"))
        .and_then(|l| l.split('\t').nth(3))
        .unwrap_or("")
}

/// The schema whose target namespace is `ns`. Every document asks, so the
/// namespaces are indexed once rather than read from the tables each time.
pub(crate) fn by_namespace(ns: &str) -> Option<&'static Schema> {
    static BY_NAMESPACE: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    BY_NAMESPACE
        .get_or_init(|| {
            TABLES
                .iter()
                .enumerate()
                .map(|(i, (_, t))| (table_namespace(t), i))
                .collect()
        })
        .get(ns)
        .copied()
        .map(schema_at)
}

/// The schema of message identifier `id` (e.g. `pacs.002.001.10`).
#[cfg(test)]
pub(crate) fn by_id(id: &str) -> Option<&'static Schema> {
    TABLES.iter().position(|(i, _)| *i == id).map(schema_at)
}

/// Elements whose free text is accepted beyond the schema's maxLength (README: lenient).
pub(crate) const NARRATIVE: &[&str] = &[
    "Ustrd",
    "AddtlInf",
    "AddtlNtryInf",
    "AddtlTxInf",
    "AddtlStmtInf",
    "AddtlNtfctnInf",
    "AddtlRmtInf",
];

fn is_xml_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Checks `text` against simple type `s`; `element` is the element's local name; `ascii`:
/// the text is known to be ASCII (else it is found out).
pub(crate) fn check_simple(
    s: &Simple,
    element: &str,
    text: &str,
    ascii: bool,
) -> Result<(), ErrorKind> {
    match s.base {
        Base::String => {
            let n = if ascii || text.is_ascii() {
                text.len()
            } else {
                text.chars().count()
            } as u32;
            if let Some(min) = s.min_len {
                if n < min {
                    return Err(ErrorKind::invalid(
                        format!("{}: minLength {min}", s.name),
                        text,
                    ));
                }
            }
            if let Some(max) = s.max_len {
                if n > max && !NARRATIVE.contains(&element) {
                    return Err(ErrorKind::invalid(
                        format!("{}: maxLength {max} (length {n})", s.name),
                        text,
                    ));
                }
            }
            if !s.enums.is_empty() && !s.enums.contains(&text) {
                return Err(ErrorKind::invalid(
                    format!("{}: one of {}", s.name, s.enums.join(", ")),
                    text,
                ));
            }
            for (src, p) in &s.patterns {
                if !p.is_match(text) {
                    return Err(ErrorKind::invalid(
                        format!("{}: pattern {src}", s.name),
                        text,
                    ));
                }
            }
            if s.iban {
                Iban::check(text)?;
            }
            if s.currency {
                CurrencyCode::new(text)?;
            }
            Ok(())
        }
        _ => {
            let t = text.trim_matches(is_xml_ws);
            let ok = match s.base {
                Base::Decimal => {
                    parse_decimal(t, s.total, s.fraction, s.min_zero).map_err(|e| match e {
                        ErrorKind::Invalid { rule, value } => ErrorKind::Invalid {
                            rule: format!("{}: {rule}", s.name),
                            value,
                        },
                        e => e,
                    })?;
                    true
                }
                Base::Date => {
                    IsoDate::parse(t)?;
                    true
                }
                Base::DateTime => {
                    IsoDateTime::parse(t)?;
                    true
                }
                Base::Boolean => matches!(t, "true" | "false" | "1" | "0"),
                Base::Time => IsoDateTime::parse(&format!("2000-01-01T{t}")).is_ok(),
                Base::GYear => t.len() == 4 && t.bytes().all(|c| c.is_ascii_digit()),
                Base::GYearMonth => IsoDate::parse(&format!("{t}-01")).is_ok(),
                Base::Base64 => t
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"+/= \t\r\n".contains(&c)),
                Base::String => unreachable!(),
            };
            if !ok {
                return Err(ErrorKind::invalid(
                    format!("{} ({:?})", s.name, s.base),
                    text,
                ));
            }
            if !s.enums.is_empty() && !s.enums.contains(&t) {
                return Err(ErrorKind::invalid(
                    format!("{}: one of {}", s.name, s.enums.join(", ")),
                    text,
                ));
            }
            Ok(())
        }
    }
}

/// Checks an amount's decimals against its currency (after each part passed its own type).
pub(crate) fn check_amount(ccy: &str, value: &str) -> Result<Amount, ErrorKind> {
    Amount::parse(ccy, value.trim_matches(is_xml_ws))
}

/// [`check_simple`] of an amount's value whose type has the facets of
/// [`Simple::amount`], then [`check_amount`] with its currency (if a valid code), parsing
/// the decimal once: `Ok(None)` where `check_amount` would not run.
pub(crate) fn check_amount_once(
    s: &Simple,
    ccy: Option<&str>,
    text: &str,
) -> Result<Option<Amount>, (bool, ErrorKind)> {
    debug_assert!(s.amount);
    let t = text.trim_matches(is_xml_ws);
    let v = parse_decimal(t, s.total, s.fraction, s.min_zero).map_err(|e| {
        (
            false,
            match e {
                ErrorKind::Invalid { rule, value } => ErrorKind::Invalid {
                    rule: format!("{}: {rule}", s.name),
                    value,
                },
                e => e,
            },
        )
    })?;
    match ccy.map(CurrencyCode::new) {
        Some(Ok(c)) => Amount::new(c, v).map(Some).map_err(|e| (true, e)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Structural differences between two tables, by element path (type names ignored):
    /// what the reader validates. Mirrors `tools/compare_tables.py`.
    fn differences(a: &Schema, b: &Schema) -> Vec<String> {
        fn walk(
            a: &Schema,
            x: u32,
            b: &Schema,
            y: u32,
            path: &str,
            seen: &mut std::collections::HashSet<(u32, u32)>,
            out: &mut Vec<String>,
        ) {
            if !seen.insert((x, y)) {
                return;
            }
            match (a.ty(x), b.ty(y)) {
                (TypeDef::Simple(s), TypeDef::Simple(t)) => {
                    let key = |s: &Simple| {
                        let mut e = s.enums.clone();
                        e.sort_unstable();
                        let p: Vec<&str> = s.patterns.iter().map(|p| p.0).collect();
                        format!(
                            "{:?} {:?} {:?} {p:?} {e:?} {:?} {:?} {} {} {}",
                            s.base,
                            s.min_len,
                            s.max_len,
                            s.total,
                            s.fraction,
                            s.min_zero,
                            s.iban,
                            s.currency
                        )
                    };
                    if key(s) != key(t) {
                        out.push(format!("{path}: {} vs {}", s.name, t.name));
                    }
                }
                (
                    TypeDef::Content {
                        base: bx,
                        attrs: ax,
                        ..
                    },
                    TypeDef::Content {
                        base: by,
                        attrs: ay,
                        ..
                    },
                ) => {
                    walk(a, *bx, b, *by, path, seen, out);
                    let names = |v: &Vec<(&str, u32, bool)>| -> Vec<(String, bool)> {
                        v.iter().map(|(n, _, r)| (n.to_string(), *r)).collect()
                    };
                    if names(ax) != names(ay) {
                        out.push(format!("{path}: attributes differ"));
                    }
                    for (p, q) in ax.iter().zip(ay) {
                        walk(a, p.1, b, q.1, &format!("{path}/@{}", p.0), seen, out);
                    }
                }
                (
                    TypeDef::Complex {
                        choice: cx,
                        children: kx,
                        ..
                    },
                    TypeDef::Complex {
                        choice: cy,
                        children: ky,
                        ..
                    },
                ) => {
                    let names =
                        |v: &Vec<Child>| -> Vec<&str> { v.iter().map(|c| c.name).collect() };
                    if cx != cy || names(kx) != names(ky) {
                        out.push(format!("{path}: children differ"));
                        return;
                    }
                    for (c, d) in kx.iter().zip(ky) {
                        let p = format!("{path}/{}", c.name);
                        if (c.min, c.max, c.group, c.any_ns) != (d.min, d.max, d.group, d.any_ns) {
                            out.push(format!("{p}: occurrences differ"));
                        }
                        if c.ty != ANY && d.ty != ANY {
                            walk(a, c.ty, b, d.ty, &p, seen, out);
                        }
                    }
                }
                _ => out.push(format!("{path}: kind of type differs")),
            }
        }
        let mut out = vec![];
        walk(
            a,
            a.root_type,
            b,
            b.root_type,
            &format!("/{}", a.root),
            &mut Default::default(),
            &mut out,
        );
        out
    }

    /// Each version between two others has its own table, generated from its own XSD: for
    /// every one of them the table differs from both neighbours', so neither neighbour's
    /// table could stand in for it (README, "Messages and versions").
    #[test]
    fn versions_between_neighbours_have_tables_that_differ_from_both() {
        let runs: &[&[&str]] = &[
            &["pacs.008.001.10", "pacs.008.001.11", "pacs.008.001.12"],
            &[
                "pain.001.001.03",
                "pain.001.001.04",
                "pain.001.001.05",
                "pain.001.001.06",
                "pain.001.001.07",
                "pain.001.001.08",
            ],
            &["pacs.002.001.08", "pacs.002.001.09", "pacs.002.001.10"],
            &["pacs.002.001.12", "pacs.002.001.13", "pacs.002.001.14"],
            &[
                "pacs.004.001.10",
                "pacs.004.001.11",
                "pacs.004.001.12",
                "pacs.004.001.13",
            ],
            &[
                "camt.053.001.04",
                "camt.053.001.05",
                "camt.053.001.06",
                "camt.053.001.07",
            ],
            &[
                "camt.053.001.08",
                "camt.053.001.09",
                "camt.053.001.10",
                "camt.053.001.11",
                "camt.053.001.12",
            ],
            &[
                "camt.054.001.02",
                "camt.054.001.03",
                "camt.054.001.04",
                "camt.054.001.05",
                "camt.054.001.06",
                "camt.054.001.07",
                "camt.054.001.08",
                "camt.054.001.09",
                "camt.054.001.10",
                "camt.054.001.11",
                "camt.054.001.12",
            ],
        ];
        for run in runs {
            for pair in run.windows(2) {
                let (x, y) = (by_id(pair[0]).unwrap(), by_id(pair[1]).unwrap());
                assert!(
                    !differences(x, y).is_empty(),
                    "{} and {} agree",
                    pair[0],
                    pair[1]
                );
            }
        }
        // the comparison itself: a table agrees with itself, and a known change is found
        let s = by_id("pacs.008.001.10").unwrap();
        assert!(differences(s, s).is_empty());
        let d = differences(s, by_id("pacs.008.001.12").unwrap());
        assert!(
            d.iter()
                .any(|x| x.ends_with("/CdtTrfTxInf/ChrgsInf: children differ")),
            "{d:?}"
        );
    }

    #[test]
    fn every_table_loads_and_names_its_namespace() {
        for (i, (id, _)) in TABLES.iter().enumerate() {
            let s = schema_at(i);
            assert_eq!(&s.id, id);
            assert!(
                s.namespace.ends_with(id) || s.namespace.contains(id),
                "{id}"
            );
            assert!(s.root == "Document" || s.root == "AppHdr");
            assert!(std::ptr::eq(by_id(id).unwrap(), s));
            assert!(std::ptr::eq(by_namespace(s.namespace).unwrap(), s));
        }
    }
}
