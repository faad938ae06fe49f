//! Money as a type: an ISO 4217 currency and an exact, non-negative amount in
//! that currency's minor units. Constructed only through checked parsers.

use std::fmt;

use rust_decimal::Decimal;

/// An active ISO 4217 currency with a defined number of minor units.
///
/// Codes without minor units (gold, SDR, testing codes) are not currencies a
/// payment can be made in and are refused by [`Currency::parse`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    minor_units: u8,
}

/// ISO 4217 active codes and their minor units (exponent), sorted by code.
#[rustfmt::skip]
const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("AOA", 2), ("ARS", 2), ("AUD", 2),
    ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2), ("BHD", 3),
    ("BIF", 0), ("BMD", 2), ("BND", 2), ("BOB", 2), ("BOV", 2), ("BRL", 2), ("BSD", 2),
    ("BTN", 2), ("BWP", 2), ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2), ("CHE", 2),
    ("CHF", 2), ("CHW", 2), ("CLF", 4), ("CLP", 0), ("CNY", 2), ("COP", 2), ("COU", 2),
    ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0), ("DKK", 2), ("DOP", 2),
    ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2), ("FKP", 2),
    ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0), ("GTQ", 2),
    ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2), ("ILS", 2),
    ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3), ("JPY", 0),
    ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0), ("KWD", 3),
    ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2), ("LRD", 2), ("LSL", 2),
    ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2), ("MMK", 2), ("MNT", 2),
    ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2), ("MXN", 2), ("MXV", 2),
    ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2), ("NPR", 2),
    ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2), ("PKR", 2),
    ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2), ("RWF", 0),
    ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2), ("SHP", 2),
    ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2), ("SYP", 2),
    ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2), ("TRY", 2),
    ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2), ("USN", 2),
    ("UYI", 0), ("UYU", 2), ("UYW", 4), ("UZS", 2), ("VED", 2), ("VES", 2), ("VND", 0),
    ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0), ("XPF", 0),
    ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

/// The largest number of minor units any currency in [`ISO_4217`] has.
const MINOR_UNITS_MAX: u8 = 4;

const _: () = {
    let mut index = 0;
    while index < ISO_4217.len() {
        assert!(ISO_4217[index].1 <= MINOR_UNITS_MAX);
        index += 1;
    }
};

impl Currency {
    /// A count of this currency's minor units as an exact decimal with the
    /// currency's decimals: for balances and their sums, which may exceed
    /// the largest single amount (`10^18` cents is `10000000000000000.00`).
    /// Any value an `i64` balance or a sum of a few can take fits.
    pub fn decimal_of_minor_units(self, minor_units: i128) -> Decimal {
        Decimal::from_i128_with_scale(minor_units, u32::from(self.minor_units))
    }

    /// Parses an active ISO 4217 alphabetic code (exactly three upper-case letters).
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let index = ISO_4217
            .binary_search_by(|(known, _)| known.cmp(&code))
            .map_err(|_| MoneyError::UnknownCurrency {
                code: code.chars().take(8).collect(),
            })?;
        let (code, minor_units) = ISO_4217[index];
        Ok(Currency { code, minor_units })
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Number of digits after the decimal point (ISO 4217 exponent): EUR 2, JPY 0, BHD 3.
    pub fn minor_units(&self) -> u8 {
        self.minor_units
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A non-negative, exact amount of money in one currency, held as an integer
/// number of the currency's minor units (cents for EUR, yen for JPY).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    currency: Currency,
    minor_units: i64,
}

impl Amount {
    /// Parses a decimal amount. Refuses negative values and more decimals than
    /// the currency allows; never rounds.
    pub fn from_decimal(currency: Currency, value: Decimal) -> Result<Amount, MoneyError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MoneyError::Negative {
                value: value.to_string(),
            });
        }
        let value = value.normalize();
        if value.scale() > u32::from(currency.minor_units) {
            return Err(MoneyError::TooManyDecimals {
                value: value.to_string(),
                currency,
            });
        }
        let mut scaled = value;
        scaled
            .set_scale(0)
            .expect("a scale of zero is always valid");
        let factor = Decimal::from(10_i64.pow(u32::from(currency.minor_units) - value.scale()));
        let minor = scaled
            .checked_mul(factor)
            .and_then(|minor| i64::try_from(minor).ok())
            .ok_or(MoneyError::TooLarge {
                value: value.to_string(),
            })?;
        Amount::from_minor_units(currency, minor)
    }

    /// Builds an amount from an integer count of minor units.
    pub fn from_minor_units(currency: Currency, minor_units: i64) -> Result<Amount, MoneyError> {
        if minor_units < 0 {
            return Err(MoneyError::Negative {
                value: minor_units.to_string(),
            });
        }
        if minor_units > AMOUNT_MINOR_UNITS_MAX {
            return Err(MoneyError::TooLarge {
                value: minor_units.to_string(),
            });
        }
        Ok(Amount {
            currency,
            minor_units,
        })
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn minor_units(&self) -> i64 {
        self.minor_units
    }

    pub fn is_zero(&self) -> bool {
        self.minor_units == 0
    }

    /// The amount as an exact decimal with the currency's number of decimals.
    pub fn to_decimal(&self) -> Decimal {
        Decimal::new(self.minor_units, u32::from(self.currency.minor_units))
    }
}

/// The largest amount a single payment may carry, in minor units: 10^18 - 1,
/// the ISO 20022 `ActiveCurrencyAndAmount` limit of 18 total digits. Keeping
/// single amounts this far below `i64::MAX` leaves balances room to grow.
pub const AMOUNT_MINOR_UNITS_MAX: i64 = 999_999_999_999_999_999;

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal(), self.currency)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal(), self.currency)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error(
        "unknown or non-monetary ISO 4217 currency code {code:?}{}",
        upper_case_hint(code)
    )]
    UnknownCurrency { code: String },
    #[error("amount {value} is negative")]
    Negative { value: String },
    #[error("amount {value} has more decimals than {currency} allows ({})", currency.minor_units())]
    TooManyDecimals { value: String, currency: Currency },
    #[error("amount {value} exceeds the largest amount the ledger accepts")]
    TooLarge { value: String },
}

/// `(codes are upper case: "EUR")` when the upper-case form of a refused code
/// is a currency, else nothing.
fn upper_case_hint(code: &str) -> String {
    let upper = code.to_ascii_uppercase();
    if upper != code && Currency::parse(&upper).is_ok() {
        format!(" (codes are upper case: {upper:?})")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    //! Money is exact, never rounded, never negative.
    use super::*;
    use std::str::FromStr;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn check(currency: &str, value: &str, expected: Result<i64, &str>) {
        let currency = Currency::parse(currency).unwrap();
        let actual = Amount::from_decimal(currency, Decimal::from_str(value).unwrap());
        match (actual, expected) {
            (Ok(amount), Ok(minor)) => assert_eq!(amount.minor_units(), minor, "{value}"),
            (Err(error), Err(kind)) => assert!(format!("{error:?}").starts_with(kind), "{error:?}"),
            (actual, expected) => panic!("{value}: got {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn the_currency_table_is_sorted_so_binary_search_finds_every_code() {
        assert!(ISO_4217.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (code, _) in ISO_4217 {
            assert_eq!(Currency::parse(code).unwrap().code(), *code);
        }
    }

    #[test]
    fn amounts_are_converted_to_minor_units_exactly() {
        check("EUR", "12.34", Ok(1234));
        check("EUR", "12.3", Ok(1230));
        check("EUR", "12", Ok(1200));
        check("EUR", "12.340000", Ok(1234));
        check("EUR", "0", Ok(0));
        check("JPY", "1500", Ok(1500));
        check("BHD", "1.234", Ok(1234));
        check("CLF", "0.0001", Ok(1));
        check("EUR", "9999999999999999.99", Ok(999_999_999_999_999_999));
    }

    #[test]
    fn amounts_with_more_decimals_than_the_currency_are_refused_not_rounded() {
        check("EUR", "12.345", Err("TooManyDecimals"));
        check("JPY", "1.5", Err("TooManyDecimals"));
        check("BHD", "0.0001", Err("TooManyDecimals"));
        check("EUR", "0.001", Err("TooManyDecimals"));
    }

    #[test]
    fn negative_and_oversized_amounts_are_refused() {
        check("EUR", "-0.01", Err("Negative"));
        check("EUR", "-5", Err("Negative"));
        check("EUR", "10000000000000000.00", Err("TooLarge"));
        check("EUR", "79228162514264337593543950335", Err("TooLarge"));
        assert!(matches!(
            Amount::from_minor_units(eur(), -1),
            Err(MoneyError::Negative { .. })
        ));
    }

    #[test]
    fn unknown_lowercase_and_non_monetary_currency_codes_are_refused() {
        for code in ["eur", "XAU", "XXX", "EU", "EURO", "", "ZZZ", "É€R"] {
            assert!(
                matches!(
                    Currency::parse(code),
                    Err(MoneyError::UnknownCurrency { .. })
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn a_lower_case_currency_code_is_refused_with_its_upper_case_form() {
        let message = Currency::parse("eur").unwrap_err().to_string();
        assert_eq!(
            message,
            r#"unknown or non-monetary ISO 4217 currency code "eur" (codes are upper case: "EUR")"#
        );
        // No suggestion where the upper-case form is no currency either.
        for code in ["xau", "euro", "ZZZ"] {
            let message = Currency::parse(code).unwrap_err().to_string();
            assert!(!message.contains("upper case"), "{message}");
        }
    }

    #[test]
    fn an_amount_prints_with_its_currency_scale() {
        let amount = Amount::from_minor_units(eur(), 5).unwrap();
        assert_eq!(amount.to_string(), "0.05 EUR");
        assert_eq!(amount.to_decimal(), Decimal::from_str("0.05").unwrap());
    }
}
