//! Checked value types: each can only hold a value that satisfies the ISO 20022 rule it
//! stands for. Constructors return the rule broken as an [`ErrorKind`].

use crate::error::ErrorKind;
use rust_decimal::Decimal;
use std::fmt;

#[cold]
#[inline(never)]
fn invalid(rule: &str, v: &str) -> ErrorKind {
    ErrorKind::invalid(rule, v)
}

/// Text of 1 to `N` characters (`Max35Text` and friends).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text<const N: usize>(String);

/// `Max35Text`: identifiers such as MsgId, EndToEndId, TxId.
pub type Max35Text = Text<35>;
/// `Max140Text`: names.
pub type Max140Text = Text<140>;

impl<const N: usize> Text<N> {
    /// Checks 1..=N characters.
    pub fn new(s: &str) -> Result<Self, ErrorKind> {
        let n = s.chars().count();
        if n == 0 {
            return Err(invalid("minLength 1", s));
        }
        if n > N {
            return Err(invalid(&format!("maxLength {N} (length {n})"), s));
        }
        Ok(Text(s.to_owned()))
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> fmt::Display for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A BIC (ISO 9362), 8 or 11 characters. Accepts the Dec-2014 pattern
/// `[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?`; the schema validator additionally applies
/// the stricter pre-2014 pattern where the message version uses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bic(String);

impl Bic {
    /// Checks the BIC pattern.
    pub fn new(s: &str) -> Result<Self, ErrorKind> {
        let b = s.as_bytes();
        let ok = (b.len() == 8 || b.len() == 11)
            && b[..4]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && b[4..6].iter().all(|c| c.is_ascii_uppercase())
            && b[6..]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if ok {
            Ok(Bic(s.to_owned()))
        } else {
            Err(invalid("BIC pattern", s))
        }
    }
    /// A value the reader already matched against a schema BIC pattern (both of which
    /// imply this type's rule).
    pub(crate) fn checked(s: &str) -> Self {
        Bic(s.to_owned())
    }
    /// The BIC.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The institution's 8-character BIC (without branch code).
    pub fn bic8(&self) -> &str {
        &self.0[..8]
    }
}

impl fmt::Display for Bic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IBAN: pattern `[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}`, a country of SWIFT's IBAN
/// registry with its length, and ISO 13616 mod-97 check digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iban(String);

impl Iban {
    /// Checks pattern, country, length and check digits.
    pub fn new(s: &str) -> Result<Self, ErrorKind> {
        Self::check(s)?;
        Ok(Iban(s.to_owned()))
    }
    /// A value the reader already checked (pattern and check digits).
    pub(crate) fn checked(s: &str) -> Self {
        Iban(s.to_owned())
    }
    /// Checks pattern, country, length and check digits without keeping the value.
    pub(crate) fn check(s: &str) -> Result<(), ErrorKind> {
        let b = s.as_bytes();
        let pattern = b.len() >= 5
            && b.len() <= 34
            && b[..2].iter().all(|c| c.is_ascii_uppercase())
            && b[2..4].iter().all(|c| c.is_ascii_digit())
            && b[4..].iter().all(|&c| IBAN_VALUE[c as usize] != NOT_ALNUM);
        if !pattern {
            return Err(invalid("IBAN pattern", s));
        }
        // The pattern held: the first two bytes are ASCII letters.
        let country = &s[..2];
        match iban_length(country) {
            Some(length) if length == s.len() => {}
            Some(length) => return Err(iban_length_wrong(country, length, s)),
            None => return Err(iban_country_unknown(country, s)),
        }
        // mod 97 of the rearranged number (a letter counts as two digits, 10 to 35),
        // reduced only when the accumulator grows large; no branch on the kind of
        // character (two loops rather than a chained iterator, which is slower)
        let step = |rem: u64, &c: &u8| {
            let v = u64::from(IBAN_VALUE[c as usize]);
            let rem = rem * if v < 10 { 10 } else { 100 } + v;
            if rem >= 1 << 50 {
                rem % 97
            } else {
                rem
            }
        };
        let rem = b[4..].iter().fold(0, step);
        let rem = b[..4].iter().fold(rem, step) % 97;
        if rem != 1 {
            return Err(invalid("IBAN mod-97 check digits", s));
        }
        Ok(())
    }
    /// The IBAN.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Its country code.
    pub fn country(&self) -> &str {
        &self.0[..2]
    }
}

/// The error of an IBAN whose length is not its country's (a character missing or one
/// too many).
#[cold]
#[inline(never)]
fn iban_length_wrong(country: &str, length: usize, s: &str) -> ErrorKind {
    invalid(
        &format!(
            "IBAN length: {country} IBANs have {length} characters, this one has {}",
            s.len()
        ),
        s,
    )
}

/// The error of an IBAN whose country SWIFT's IBAN registry does not list.
#[cold]
#[inline(never)]
fn iban_country_unknown(country: &str, s: &str) -> ErrorKind {
    invalid(
        &format!("IBAN country: {country} is not a country of the IBAN registry"),
        s,
    )
}

/// The length of an IBAN of `country` (SWIFT's IBAN registry), if the registry has it.
pub(crate) fn iban_length(country: &str) -> Option<usize> {
    IBAN_LENGTHS
        .binary_search_by(|(code, _)| code.cmp(&country))
        .ok()
        .map(|index| usize::from(IBAN_LENGTHS[index].1))
}

/// IBAN lengths by country (SWIFT's IBAN registry), sorted by country code.
#[rustfmt::skip]
const IBAN_LENGTHS: &[(&str, u8)] = &[
    ("AD", 24), ("AE", 23), ("AL", 28), ("AT", 20), ("AZ", 28), ("BA", 20), ("BE", 16),
    ("BG", 22), ("BH", 22), ("BI", 27), ("BR", 29), ("BY", 28), ("CH", 21), ("CR", 22),
    ("CY", 28), ("CZ", 24), ("DE", 22), ("DJ", 27), ("DK", 18), ("DO", 28), ("EE", 20),
    ("EG", 29), ("ES", 24), ("FI", 18), ("FK", 18), ("FO", 18), ("FR", 27), ("GB", 22),
    ("GE", 22), ("GI", 23), ("GL", 18), ("GR", 27), ("GT", 28), ("HN", 28), ("HR", 21),
    ("HU", 28), ("IE", 22), ("IL", 23), ("IQ", 23), ("IS", 26), ("IT", 27), ("JO", 30),
    ("KW", 30), ("KZ", 20), ("LB", 28), ("LC", 32), ("LI", 21), ("LT", 20), ("LU", 20),
    ("LV", 21), ("LY", 25), ("MC", 27), ("MD", 24), ("ME", 22), ("MK", 19), ("MN", 20),
    ("MR", 27), ("MT", 31), ("MU", 30), ("NI", 28), ("NL", 18), ("NO", 15), ("OM", 23),
    ("PK", 24), ("PL", 28), ("PS", 29), ("PT", 25), ("QA", 29), ("RO", 24), ("RS", 22),
    ("RU", 33), ("SA", 24), ("SC", 31), ("SD", 18), ("SE", 24), ("SI", 19), ("SK", 24),
    ("SM", 27), ("SO", 23), ("ST", 25), ("SV", 28), ("TL", 23), ("TN", 24), ("TR", 26),
    ("UA", 29), ("VA", 22), ("VG", 24), ("XK", 20), ("YE", 30),
];

/// [`IBAN_VALUE`] of a byte that is not an ASCII letter or digit.
const NOT_ALNUM: u8 = u8::MAX;

/// Value of a character in the IBAN check: digits 0 to 9, letters (either case) 10 to 35.
static IBAN_VALUE: [u8; 256] = {
    let mut t = [NOT_ALNUM; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_digit() {
            t[c] = b - b'0';
        } else if b.is_ascii_uppercase() {
            t[c] = b - b'A' + 10;
        } else if b.is_ascii_lowercase() {
            t[c] = b - b'a' + 10;
        }
        c += 1;
    }
    t
};

impl fmt::Display for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A UETR: lowercase UUID version 4,
/// `[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uetr(String);

impl Uetr {
    /// Checks the UUIDv4 pattern.
    pub fn new(s: &str) -> Result<Self, ErrorKind> {
        let b = s.as_bytes();
        let hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
        let ok = b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                14 => *c == b'4',
                19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
                _ => hex(c),
            });
        if ok {
            Ok(Uetr(s.to_owned()))
        } else {
            Err(invalid("UETR must be a lowercase UUID v4", s))
        }
    }
    /// A value the reader already matched against the schema's UUIDv4 pattern (this
    /// type's rule).
    pub(crate) fn checked(s: &str) -> Self {
        Uetr(s.to_owned())
    }
    /// The UETR.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uetr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Active ISO 4217 currency codes and their minor units. Fund codes (BOV, CHE, CHW, CLF,
/// COU, MXV, USN, UYI, UYW) are included; precious metals, SDR, testing and "no currency"
/// codes (XAU, XAG, XPD, XPT, XBA..XBD, XDR, XSU, XUA, XTS, XXX) are refused: a ledger
/// amount needs a minor unit.
pub static CURRENCIES: &[(&str, u32)] = CURRENCY_TABLE;

/// Position in [`CURRENCY_TABLE`] of each three-letter code `[A-Z]{3}` (letters as base-26
/// digits), `u8::MAX` for codes not in it: one load per look-up.
static CURRENCY_INDEX: [u8; 26 * 26 * 26] = {
    assert!(CURRENCY_TABLE.len() < u8::MAX as usize);
    let mut index = [u8::MAX; 26 * 26 * 26];
    let mut i = 0;
    while i < CURRENCY_TABLE.len() {
        let b = CURRENCY_TABLE[i].0.as_bytes();
        assert!(b.len() == 3 && b[0].is_ascii_uppercase());
        assert!(b[1].is_ascii_uppercase() && b[2].is_ascii_uppercase());
        let at =
            ((b[0] - b'A') as usize * 26 + (b[1] - b'A') as usize) * 26 + (b[2] - b'A') as usize;
        index[at] = i as u8;
        i += 1;
    }
    index
};

const CURRENCY_TABLE: &[(&str, u32)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// An active ISO 4217 currency code, with its minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurrencyCode {
    code: &'static str,
    minor_units: u32,
}

impl CurrencyCode {
    /// Looks the code up in [`CURRENCIES`].
    pub fn new(s: &str) -> Result<Self, ErrorKind> {
        let i = match *s.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => {
                let at = ((a - b'A') as usize * 26 + (b - b'A') as usize) * 26;
                CURRENCY_INDEX[at + (c - b'A') as usize]
            }
            _ => u8::MAX,
        };
        match CURRENCY_TABLE.get(i as usize) {
            Some(&(code, minor_units)) => Ok(CurrencyCode { code, minor_units }),
            None => Err(invalid("ISO 4217 active currency code", s)),
        }
    }
    /// The three-letter code.
    pub fn as_str(&self) -> &'static str {
        self.code
    }
    /// Number of decimals the currency allows (EUR 2, JPY 0, KWD 3, CLF 4).
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// Checks the lexical form of an `xs:decimal` with the ISO amount facets and returns it.
/// `total` and `fraction` are the XSD facets; `min_zero` forbids negatives.
pub(crate) fn parse_decimal(
    s: &str,
    total: Option<u32>,
    fraction: Option<u32>,
    min_zero: bool,
) -> Result<Decimal, ErrorKind> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(invalid("decimal number", s));
    }
    let int_sig = int.trim_start_matches('0');
    let frac_sig = frac.trim_end_matches('0');
    if let Some(f) = fraction {
        if frac_sig.len() as u32 > f {
            return Err(invalid(&format!("fractionDigits {f}"), s));
        }
    }
    let total_digits = (int_sig.len() + frac_sig.len()) as u32;
    if let Some(t) = total {
        if total_digits > t {
            return Err(invalid(&format!("totalDigits {t}"), s));
        }
    }
    if total_digits > 28 {
        return Err(invalid("decimal too large", s));
    }
    // at most 28 significant digits: the mantissa fits in 96 bits
    let mut m: i128 = 0;
    for c in int_sig.bytes().chain(frac_sig.bytes()) {
        m = m * 10 + i128::from(c - b'0');
    }
    if neg {
        m = -m;
    }
    let mut d = Decimal::try_from_i128_with_scale(m, frac_sig.len() as u32)
        .map_err(|_| invalid("decimal number", s))?;
    d = d.normalize();
    if min_zero && d.is_sign_negative() && !d.is_zero() {
        return Err(invalid("minInclusive 0", s));
    }
    Ok(d)
}

/// An amount with its currency: `ActiveCurrencyAndAmount` /
/// `ActiveOrHistoricCurrencyAndAmount`. Never negative; at most 18 digits, 5 of them
/// decimals (XSD), and no more decimals than the currency's minor units (business rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    currency: CurrencyCode,
    value: Decimal,
}

impl Amount {
    /// Parses the decimal text and checks it against the facets and the currency.
    pub fn parse(currency: &str, value: &str) -> Result<Self, ErrorKind> {
        let currency = CurrencyCode::new(currency)?;
        let value = parse_decimal(value, Some(18), Some(5), true)?;
        Self::new(currency, value)
    }

    /// Checks an already numeric value.
    pub fn new(currency: CurrencyCode, value: Decimal) -> Result<Self, ErrorKind> {
        let value = value.normalize();
        if value.is_sign_negative() && !value.is_zero() {
            return Err(invalid("amount must not be negative", &value.to_string()));
        }
        if value.scale() > 5 {
            return Err(invalid("fractionDigits 5", &value.to_string()));
        }
        if value.scale() > currency.minor_units {
            return Err(invalid(
                &format!(
                    "{} allows {} decimal(s)",
                    currency.code, currency.minor_units
                ),
                &value.to_string(),
            ));
        }
        // more than 18 digits, without formatting the mantissa
        if value.mantissa().unsigned_abs() >= 1_000_000_000_000_000_000 && !value.is_zero() {
            return Err(invalid("totalDigits 18", &value.to_string()));
        }
        Ok(Amount { currency, value })
    }
    /// The currency.
    pub fn currency(&self) -> CurrencyCode {
        self.currency
    }
    /// The value (never negative).
    pub fn value(&self) -> Decimal {
        self.value
    }
    /// The value in minor units (cents): exact, since decimals never exceed the minor units.
    pub fn minor_units(&self) -> i128 {
        let mut v = self.value;
        v.rescale(self.currency.minor_units);
        v.mantissa()
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.value)
    }
}

/// An `xs:date` without time zone (`ISODate`), e.g. `2024-05-31`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IsoDate {
    year: i32,
    month: u8,
    day: u8,
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

fn num(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |a, c| {
        a.checked_mul(10)?.checked_add((c - b'0') as u32)
    })
}

fn parse_ymd(b: &[u8]) -> Option<(i32, u8, u8)> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = num(&b[..4])? as i32;
    let m = num(&b[5..7])? as u8;
    let d = num(&b[8..10])? as u8;
    if y == 0 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some((y, m, d))
}

/// Parses an optional time zone `Z` or `±hh:mm`; returns the offset in minutes.
fn parse_tz(b: &[u8]) -> Option<Option<i16>> {
    match b {
        [] => Some(None),
        [b'Z'] => Some(Some(0)),
        [s @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = num(&[*h1, *h2])? as i16;
            let m = num(&[*m1, *m2])? as i16;
            if h > 14 || m > 59 || (h == 14 && m > 0) {
                return None;
            }
            let v = h * 60 + m;
            Some(Some(if *s == b'-' { -v } else { v }))
        }
        _ => None,
    }
}

impl IsoDate {
    /// Parses `YYYY-MM-DD` (an optional time zone is accepted as `xs:date` allows).
    pub fn parse(s: &str) -> Result<Self, ErrorKind> {
        let b = s.as_bytes();
        let err = || invalid("ISO date (YYYY-MM-DD)", s);
        if b.len() < 10 {
            return Err(err());
        }
        let (y, m, d) = parse_ymd(&b[..10]).ok_or_else(err)?;
        parse_tz(&b[10..]).ok_or_else(err)?;
        Ok(IsoDate {
            year: y,
            month: m,
            day: d,
        })
    }
    /// Year.
    pub fn year(&self) -> i32 {
        self.year
    }
    /// Month 1..=12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// Day of month.
    pub fn day(&self) -> u8 {
        self.day
    }
}

impl fmt::Display for IsoDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// An `xs:dateTime` (`ISODateTime`), with optional fractional seconds and optional offset,
/// e.g. `2023-05-05T16:20:45.837-04:00`. The original text is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IsoDateTime {
    text: String,
    date: IsoDate,
    offset_minutes: Option<i16>,
}

impl IsoDateTime {
    /// Parses `YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm]`.
    pub fn parse(s: &str) -> Result<Self, ErrorKind> {
        let b = s.as_bytes();
        let err = || invalid("ISO date-time (YYYY-MM-DDThh:mm:ss[.s][Z|±hh:mm])", s);
        if b.len() < 19 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(err());
        }
        let (y, m, d) = parse_ymd(&b[..10]).ok_or_else(err)?;
        let hh = num(&b[11..13]).ok_or_else(err)?;
        let mm = num(&b[14..16]).ok_or_else(err)?;
        let ss = num(&b[17..19]).ok_or_else(err)?;
        let mut rest = &b[19..];
        if let Some(r) = rest.strip_prefix(b".") {
            let n = r.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return Err(err());
            }
            rest = &r[n..];
        }
        let midnight_24 = hh == 24 && mm == 0 && ss == 0;
        if (hh > 23 && !midnight_24) || mm > 59 || ss > 59 {
            return Err(err());
        }
        let offset = parse_tz(rest).ok_or_else(err)?;
        Ok(IsoDateTime {
            text: s.to_owned(),
            date: IsoDate {
                year: y,
                month: m,
                day: d,
            },
            offset_minutes: offset,
        })
    }
    /// The calendar date part.
    pub fn date(&self) -> IsoDate {
        self.date
    }
    /// The UTC offset in minutes, if the value carries one (`Z` is 0).
    pub fn offset_minutes(&self) -> Option<i16> {
        self.offset_minutes
    }
    /// The original text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for IsoDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_parsed_exactly() {
        let d = |s: &str| parse_decimal(s, None, None, false).map(|d| d.to_string());
        assert_eq!(d("00012.3400").unwrap(), "12.34");
        assert_eq!(d("-1.50").unwrap(), "-1.5");
        assert_eq!(d("+7").unwrap(), "7");
        assert_eq!(d(".5").unwrap(), "0.5");
        assert_eq!(d("5.").unwrap(), "5");
        assert_eq!(d("0.000").unwrap(), "0");
        assert_eq!(d("-0.0").unwrap(), "0");
        let max = "9".repeat(28);
        assert_eq!(d(&max).unwrap(), max);
        assert_eq!(d(&format!("0.{max}")).unwrap(), format!("0.{max}"));
        assert!(d(&"9".repeat(29)).is_err());
        for bad in ["", ".", "-", "1.2.3", "1e5", " 1", "1,5", "--1"] {
            assert!(d(bad).is_err(), "{bad:?}");
        }
        assert!(parse_decimal("1.234", Some(18), Some(2), false).is_err());
        assert!(parse_decimal("1234", Some(3), None, false).is_err());
        assert!(parse_decimal("-1", None, None, true).is_err());
        assert!(parse_decimal("-0", None, None, true).is_ok());
    }

    #[test]
    fn currency_table_is_sorted_for_binary_search() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn currency_look_up_finds_exactly_the_codes_in_the_table() {
        let letters = || b'A'..=b'Z';
        for a in letters() {
            for b in letters() {
                for c in letters() {
                    let s = String::from_utf8(vec![a, b, c]).unwrap();
                    let in_table = CURRENCIES.iter().find(|(code, _)| *code == s);
                    match (CurrencyCode::new(&s), in_table) {
                        (Ok(x), Some(&(code, minor))) => {
                            assert_eq!((x.as_str(), x.minor_units()), (code, minor));
                        }
                        (Err(_), None) => {}
                        (x, t) => panic!("{s}: {x:?} vs {t:?}"),
                    }
                }
            }
        }
        for bad in ["", "EU", "EURO", "eur", "Eur", "EU1", "\u{c9}UR", "E\u{c9}"] {
            assert!(CurrencyCode::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn iban_check_digits_are_verified() {
        assert!(Iban::new("DE89370400440532013000").is_ok());
        assert!(Iban::new("GB82WEST12345698765432").is_ok());
        assert!(Iban::new("DE88370400440532013000").is_err());
        assert!(Iban::new("de89370400440532013000").is_err());
        assert!(Iban::new("DE8").is_err());
    }

    #[test]
    fn an_iban_of_the_wrong_length_names_its_length_and_its_countrys() {
        // A digit missing from DE89370400440532013000: the length is wrong, not the
        // check digits.
        let error = Iban::new("DE8937040044053201300").unwrap_err().to_string();
        assert_eq!(
            error,
            r#"IBAN length: DE IBANs have 22 characters, this one has 21: "DE8937040044053201300""#
        );
        let error = Iban::new("DE88370400440532013000").unwrap_err().to_string();
        assert!(error.starts_with("IBAN mod-97 check digits"), "{error}");
        // A country the registry does not list is refused whatever its digits.
        let error = Iban::new("ZZ12345").unwrap_err().to_string();
        assert!(error.starts_with("IBAN country: ZZ"), "{error}");
        let error = Iban::new("XQ67370400440532013000").unwrap_err().to_string();
        assert!(error.starts_with("IBAN country: XQ"), "{error}");
        // Valid check digits do not save an IBAN of another length than its country's.
        let error = Iban::new("DE5137040044053201300").unwrap_err().to_string();
        assert!(
            error.starts_with("IBAN length: DE IBANs have 22"),
            "{error}"
        );
        let error = Iban::new("DE543704004405320130001")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("IBAN length: DE IBANs have 22"),
            "{error}"
        );
        assert!(IBAN_LENGTHS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (country, length) in IBAN_LENGTHS {
            assert!((15..=34).contains(length), "{country}");
        }
    }

    #[test]
    fn amounts_respect_currency_minor_units() {
        assert!(Amount::parse("JPY", "100").is_ok());
        assert!(Amount::parse("JPY", "100.00").is_ok());
        assert!(Amount::parse("JPY", "100.01").is_err());
        assert!(Amount::parse("KWD", "1.234").is_ok());
        assert!(Amount::parse("EUR", "1.234").is_err());
        assert!(Amount::parse("EUR", "-1").is_err());
        assert!(Amount::parse("XAU", "1").is_err());
        assert!(Amount::parse("EUR", "1234567890123456789").is_err());
        assert_eq!(Amount::parse("EUR", "10.5").unwrap().minor_units(), 1050);
    }

    #[test]
    fn dates_and_times_are_checked() {
        assert!(IsoDate::parse("2024-02-29").is_ok());
        assert!(IsoDate::parse("2023-02-29").is_err());
        assert!(IsoDate::parse("YYYY-MM-DD").is_err());
        assert!(IsoDateTime::parse("2023-05-05T16:20:45.837-04:00").is_ok());
        assert!(IsoDateTime::parse("1999-04-20T03:25:06.30").is_ok());
        assert!(IsoDateTime::parse("2023-05-05").is_err());
        assert!(IsoDateTime::parse("2023-05-05T25:00:00Z").is_err());
    }

    #[test]
    fn uetr_must_be_lowercase_v4() {
        assert!(Uetr::new("b94458f8-1f27-40e9-bf74-b07cbb339439").is_ok());
        assert!(Uetr::new("B94458F8-1F27-40E9-BF74-B07CBB339439").is_err());
        assert!(Uetr::new("b94458f8-1f27-30e9-bf74-b07cbb339439").is_err());
    }
}
