//! Field values of CRM rows: phone numbers, time zones, times, dates, amounts, flags and
//! lists, each parsed to its typed form or refused with the reason in words.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// E.164: `+`, a country code that does not start with 0, 8 to 15 digits in all. Spaces,
/// dots, hyphens and brackets between digits are dropped (`+91 98123-45678`).
pub fn phone(value: &str) -> Result<String, String> {
    let v = value.trim();
    let Some(rest) = v.strip_prefix('+') else {
        return Err(format!("{v:?} is not E.164 (it must start with + and the country code)"));
    };
    let mut digits = String::with_capacity(16);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(format!("{v:?} is not E.164 ({c:?} is not a digit)")),
        }
    }
    if digits.starts_with('0') {
        return Err(format!("{v:?} is not E.164 (a country code never starts with 0)"));
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(format!("{v:?} is not E.164 ({} digits; 8 to 15 expected)", digits.len()));
    }
    Ok(format!("+{digits}"))
}

/// An IANA zone, old names included (`Asia/Calcutta`, a link to `Asia/Kolkata`, keeps its
/// name and has the same offsets).
pub fn timezone(value: &str) -> Result<Tz, String> {
    let v = value.trim();
    v.parse::<Tz>().map_err(|_| format!("{v:?} is not an IANA time zone (e.g. Asia/Kolkata)"))
}

/// RFC 3339 with an offset (`2026-12-01T10:15:00+05:30`), kept in UTC.
pub fn time(value: &str) -> Result<DateTime<Utc>, String> {
    let v = value.trim();
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{v:?} is not an RFC 3339 time with an offset ({e})"))
}

/// A calendar date, `YYYY-MM-DD` (a pickup date is the customer's local day).
pub fn date(value: &str) -> Result<NaiveDate, String> {
    let v = value.trim();
    NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| format!("{v:?} is not a date (YYYY-MM-DD)"))
}

/// A non-negative amount with at most two decimals, in minor units (`1499.50` -> 149950).
pub fn amount(value: &str) -> Result<i64, String> {
    let v = value.trim();
    let bad = || format!("{v:?} is not an amount (e.g. 1499 or 1499.50)");
    let (whole, cents) = v.split_once('.').unwrap_or((v, ""));
    if whole.is_empty() || cents.len() > 2 || !whole.bytes().chain(cents.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{cents:0<2}").parse().map_err(|_| bad())?;
    whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(bad)
}

/// `true`/`false`, `1`/`0`, `yes`/`no` (any case); empty is false.
pub fn flag(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" => Ok(true),
        "false" | "0" | "no" | "n" | "" => Ok(false),
        other => Err(format!("{other:?} is not true or false")),
    }
}

/// `a; b; c`: trimmed, empty entries dropped.
pub fn list(value: &str) -> Vec<String> {
    value.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// One order line: `name x qty` (a bare name is one of it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    pub name: String,
    pub qty: u32,
}

/// `Blue kurta x 2; Dupatta x 1`.
pub fn items(value: &str) -> Result<Vec<Item>, String> {
    list(value)
        .into_iter()
        .map(|entry| {
            let split = entry.rfind(" x ").or_else(|| entry.rfind(" X "));
            match split {
                Some(i) => {
                    let qty = entry[i + 3..].trim();
                    let qty: u32 =
                        qty.parse().ok().filter(|&q| q > 0).ok_or_else(|| format!("{qty:?} is not a quantity"))?;
                    Ok(Item { name: entry[..i].trim().to_string(), qty })
                }
                None => Ok(Item { name: entry, qty: 1 }),
            }
        })
        .collect()
}

/// A value from a closed set, compared without case.
pub fn one_of(value: &str, allowed: &[&str]) -> Result<String, String> {
    let v = value.trim().to_ascii_lowercase();
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(format!("{:?} is not one of {}", value.trim(), allowed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_e164() {
        assert_eq!(phone(" +91 98123-45678 ").unwrap(), "+919812345678");
        assert_eq!(phone("+1 (415) 555.0100").unwrap(), "+14155550100");
        for bad in ["919812345678", "+0919812345678", "+91981", "+9198123456789012", "+91 98x12345678", ""] {
            assert!(phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zones_take_old_names() {
        assert_eq!(timezone("Asia/Kolkata").unwrap(), Tz::Asia__Kolkata);
        assert_eq!(timezone("Asia/Calcutta").unwrap().name(), "Asia/Calcutta");
        assert!(timezone("Asia/Katmandu").is_ok());
        assert!(timezone("Mars/Olympus").is_err());
        assert!(timezone("+05:30").is_err());
    }

    #[test]
    fn times_dates_amounts_flags() {
        assert_eq!(time("2026-12-01T10:15:00+05:30").unwrap().to_rfc3339(), "2026-12-01T04:45:00+00:00");
        assert!(time("2026-12-01 10:15").is_err(), "an offset is required");
        assert_eq!(date("2026-12-04").unwrap().to_string(), "2026-12-04");
        assert!(date("04/12/2026").is_err());
        assert_eq!((amount("1499").unwrap(), amount("1499.5").unwrap(), amount("0.05").unwrap()), (149900, 149950, 5));
        for bad in ["-1", "1.234", "1,499", "", "abc", ".5", "99999999999999999999"] {
            assert!(amount(bad).is_err(), "{bad}");
        }
        assert_eq!((flag("TRUE"), flag("0"), flag("")), (Ok(true), Ok(false), Ok(false)));
        assert!(flag("maybe").is_err());
    }

    #[test]
    fn lists_and_items() {
        assert_eq!(list(" a ;; b;"), ["a", "b"]);
        assert_eq!(
            items("Blue kurta x 2; Dupatta").unwrap(),
            [Item { name: "Blue kurta".into(), qty: 2 }, Item { name: "Dupatta".into(), qty: 1 }]
        );
        assert!(items("Kurta x 0").is_err());
        assert!(items("Kurta x two").is_err());
    }
}
