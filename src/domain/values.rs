//! Value types that can only hold valid data: each `parse` either returns the value or says
//! why the input was refused.

use crate::error::ViolationCode;
use chrono_tz::Tz;
use std::fmt;

/// Why a value was refused: the code and a sentence for people.
pub type Refusal = (ViolationCode, String);

/// The longest free text (names, labels) Nudge stores.
pub const MAX_TEXT: usize = 255;

/// How deeply custom attributes may nest (objects and lists).
pub const MAX_ATTRIBUTE_DEPTH: usize = 16;
/// The largest custom attributes object, as JSON.
pub const MAX_ATTRIBUTE_BYTES: usize = 16 * 1024;

/// Checks a customer's custom attributes: a JSON object, at most [`MAX_ATTRIBUTE_DEPTH`]
/// levels deep and [`MAX_ATTRIBUTE_BYTES`] long, so that it is stored and read back alike on
/// both databases.
pub fn check_attributes(value: &serde_json::Value) -> Result<(), Refusal> {
    if !value.is_object() {
        return Err((ViolationCode::Invalid, "must be a JSON object".into()));
    }
    fn depth(value: &serde_json::Value, limit: usize) -> usize {
        let children: Vec<&serde_json::Value> = match value {
            serde_json::Value::Array(items) => items.iter().collect(),
            serde_json::Value::Object(fields) => fields.values().collect(),
            _ => return 0,
        };
        if limit == 0 {
            return 1;
        }
        1 + children
            .into_iter()
            .map(|child| depth(child, limit - 1))
            .max()
            .unwrap_or(0)
    }
    if depth(value, MAX_ATTRIBUTE_DEPTH) > MAX_ATTRIBUTE_DEPTH {
        return Err((
            ViolationCode::OutOfRange,
            format!("must nest at most {MAX_ATTRIBUTE_DEPTH} levels deep"),
        ));
    }
    if value.to_string().len() > MAX_ATTRIBUTE_BYTES {
        return Err((
            ViolationCode::TooLong,
            format!("must be at most {MAX_ATTRIBUTE_BYTES} bytes of JSON"),
        ));
    }
    Ok(())
}

/// Trims `raw` and refuses it when empty or longer than `max` characters.
pub fn required_text(raw: &str, max: usize) -> Result<String, Refusal> {
    let text = raw.trim();
    if text.is_empty() {
        return Err((ViolationCode::Blank, "must not be blank".into()));
    }
    if text.chars().count() > max {
        return Err((
            ViolationCode::TooLong,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// Like [`required_text`], but blank means "no value".
pub fn optional_text(raw: &str, max: usize) -> Result<Option<String>, Refusal> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    required_text(raw, max).map(Some)
}

/// An email address, stored in lower case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let candidate = raw.trim().to_lowercase();
        let refused = || {
            (
                ViolationCode::Invalid,
                "is not a valid email address".to_owned(),
            )
        };
        if candidate.len() > 254 || !email_address::EmailAddress::is_valid(&candidate) {
            return Err(refused());
        }
        // A shop sends mail to real domains: insist on a dot and no display-name form.
        let (_, domain) = candidate.rsplit_once('@').ok_or_else(refused)?;
        if !domain.contains('.') || candidate.contains(['<', '>', ' ']) {
            return Err(refused());
        }
        Ok(Self(candidate))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 form (`+48601234567`), checked against the numbering plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let refused = || {
            (
                ViolationCode::Invalid,
                "must be a valid phone number in E.164 form, e.g. +14155550100".to_owned(),
            )
        };
        let candidate = raw.trim();
        let digits = candidate.strip_prefix('+').ok_or_else(refused)?;
        if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refused());
        }
        let parsed = phonenumber::parse(None, candidate).map_err(|_| refused())?;
        if !phonenumber::is_valid(&parsed) {
            return Err(refused());
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name such as `Europe/Warsaw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeZoneName(pub Tz);

impl TimeZoneName {
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        raw.trim().parse::<Tz>().map(Self).map_err(|_| {
            (
                ViolationCode::Invalid,
                "is not an IANA time zone name (e.g. Europe/Warsaw)".to_owned(),
            )
        })
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// An ISO 4217 currency (checked against the standard's list, through `iso_currency`) with
/// its number of minor-unit digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency(iso_currency::Currency, u32);

impl Currency {
    /// A current ISO 4217 code that money is counted in (`USD`, `eur`); codes that are not in
    /// the standard (`XYZ`), and units without minor units (gold `XAU`, `XXX`), are refused.
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let code = raw.trim().to_ascii_uppercase();
        let refused = || {
            (
                ViolationCode::Invalid,
                format!("{code:?} is not an ISO 4217 currency code such as USD"),
            )
        };
        let currency = iso_currency::Currency::from_code(&code).ok_or_else(refused)?;
        let exponent = currency.exponent().ok_or_else(refused)?;
        Ok(Self(currency, u32::from(exponent)))
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point (ISO 4217 minor units).
    pub fn exponent(&self) -> u32 {
        self.1
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Parses a decimal amount ("12.5", "-3", "0.99") exactly into minor units of `currency`.
/// More decimals than the currency has, exponents, or values beyond ±10¹⁵ are refused.
pub fn parse_amount(raw: &str, currency: &Currency) -> Result<i64, Refusal> {
    let exponent = currency.exponent();
    let refused = |why: &str| (ViolationCode::Invalid, why.to_owned());
    let text = raw.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(refused("must be a decimal amount such as 19.99"));
    }
    if unsigned.contains('.') && fraction.is_empty() {
        return Err(refused("must be a decimal amount such as 19.99"));
    }
    if fraction.len() > exponent as usize {
        return Err(refused(&format!(
            "has more than {exponent} decimal places for {currency}"
        )));
    }
    if whole.trim_start_matches('0').len() > 15 {
        return Err((ViolationCode::OutOfRange, "is too large".into()));
    }
    let scale = 10_i64.pow(exponent);
    let whole: i64 = whole.parse().map_err(|_| refused("is not a number"))?;
    let padded = format!("{fraction:0<width$}", width = exponent as usize);
    let fraction: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().map_err(|_| refused("is not a number"))?
    };
    let minor = whole * scale + fraction;
    Ok(if negative { -minor } else { minor })
}

/// Formats minor units of `currency_code` as a decimal string ("1234" USD → "12.34").
pub fn format_amount(minor: i64, currency_code: &str) -> String {
    format_minor_units(minor, minor_unit_exponent(currency_code))
}

/// How many decimals a currency's amounts have (2 for a code that is not one: stored codes
/// were checked on the way in).
pub fn minor_unit_exponent(currency_code: &str) -> u32 {
    Currency::parse(currency_code).map_or(2, |c| c.exponent())
}

/// An amount in minor units as a decimal with `exponent` decimals (`1234`, 2 → `12.34`).
pub fn format_minor_units(minor: i64, exponent: u32) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10_u64.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = exponent as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("usd").expect("valid")
    }

    #[test]
    fn emails_are_lowercased_and_must_have_a_domain_with_a_dot() {
        assert_eq!(
            EmailAddress::parse(" Ann@Example.COM ").map(|e| e.0),
            Ok("ann@example.com".to_owned())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@localhost",
            "a b@x.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn phones_must_be_valid_e164() {
        assert_eq!(
            PhoneNumber::parse("+14155550100").map(|p| p.0),
            Ok("+14155550100".to_owned())
        );
        for bad in [
            "4155550100",
            "+1 415 555 0100",
            "+1",
            "+999999999999",
            "+48abc",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert!(TimeZoneName::parse("Pacific/Auckland").is_ok());
        assert!(TimeZoneName::parse("CEST+2").is_err());
    }

    #[test]
    fn amounts_parse_exactly_into_minor_units() {
        assert_eq!(parse_amount("12.34", &usd()), Ok(1234));
        assert_eq!(parse_amount("12.3", &usd()), Ok(1230));
        assert_eq!(parse_amount("-0.01", &usd()), Ok(-1));
        assert_eq!(parse_amount("7", &usd()), Ok(700));
        let yen = Currency::parse("JPY").expect("valid");
        assert_eq!(parse_amount("1500", &yen), Ok(1500));
        assert!(parse_amount("1500.5", &yen).is_err());
        let dinar = Currency::parse("KWD").expect("valid");
        assert_eq!(parse_amount("1.234", &dinar), Ok(1234));
        for bad in [
            "",
            "1.",
            ".5",
            "1.234",
            "1e3",
            "abc",
            "1,5",
            "9999999999999999",
        ] {
            assert!(parse_amount(bad, &usd()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn amounts_format_back_to_decimals() {
        assert_eq!(format_amount(1234, "USD"), "12.34");
        assert_eq!(format_amount(-5, "EUR"), "-0.05");
        assert_eq!(format_amount(1500, "JPY"), "1500");
        assert_eq!(format_amount(1234, "KWD"), "1.234");
    }

    #[test]
    fn currencies_are_checked_against_iso_4217() {
        assert_eq!(Currency::parse(" eur ").map(|c| c.code()), Ok("EUR"));
        assert_eq!(Currency::parse("JPY").map(|c| c.exponent()), Ok(0));
        assert_eq!(Currency::parse("BHD").map(|c| c.exponent()), Ok(3));
        for bad in ["XYZ", "QQQ", "XXX", "XAU", "US", "DOLLAR"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }
}
