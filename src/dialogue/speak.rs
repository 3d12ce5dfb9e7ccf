//! Spoken forms: amounts in rupees (Indian grouping), dates, ids digit by digit.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike};

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

fn below_hundred(n: u64) -> String {
    match n {
        0..=19 => ONES[n as usize].to_string(),
        _ if n % 10 == 0 => TENS[(n / 10) as usize].to_string(),
        _ => format!("{}-{}", TENS[(n / 10) as usize], ONES[(n % 10) as usize]),
    }
}

fn below_thousand(n: u64) -> String {
    match (n / 100, n % 100) {
        (0, r) => below_hundred(r),
        (h, 0) => format!("{} hundred", ONES[h as usize]),
        (h, r) => format!("{} hundred {}", ONES[h as usize], below_hundred(r)),
    }
}

/// Number in words with Indian grouping (thousand, lakh, crore).
pub fn number_words(n: u64) -> String {
    if n == 0 {
        return "zero".into();
    }
    let mut parts = Vec::new();
    let (crore, rest) = (n / 10_000_000, n % 10_000_000);
    let (lakh, rest) = (rest / 100_000, rest % 100_000);
    let (thousand, rest) = (rest / 1000, rest % 1000);
    if crore > 0 {
        parts.push(format!("{} crore", number_words(crore)));
    }
    if lakh > 0 {
        parts.push(format!("{} lakh", below_hundred(lakh)));
    }
    if thousand > 0 {
        parts.push(format!("{} thousand", below_hundred(thousand)));
    }
    if rest > 0 {
        parts.push(below_thousand(rest));
    }
    parts.join(" ")
}

/// "1499" -> "one thousand four hundred ninety-nine rupees"; paise after a decimal point.
pub fn rupees(amount: &str) -> Option<String> {
    let clean: String = amount.chars().filter(|c| *c != ',' && !c.is_whitespace()).collect();
    let (whole, frac) = clean.split_once('.').unwrap_or((&clean, ""));
    let n: u64 = whole.parse().ok()?;
    let unit = if n == 1 { "rupee" } else { "rupees" };
    let paise: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}")[..2].parse().ok()? };
    Some(if paise > 0 {
        format!("{} {unit} and {} paise", number_words(n), number_words(paise))
    } else {
        format!("{} {unit}", number_words(n))
    })
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const ORDINAL_WORDS: [&str; 31] = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "twenty-first",
    "twenty-second",
    "twenty-third",
    "twenty-fourth",
    "twenty-fifth",
    "twenty-sixth",
    "twenty-seventh",
    "twenty-eighth",
    "twenty-ninth",
    "thirtieth",
    "thirty-first",
];

/// "2026-11-28" -> "Saturday, November twenty-eighth".
pub fn date(iso: &str) -> Option<String> {
    let d = NaiveDate::parse_from_str(iso.trim(), "%Y-%m-%d").ok()?;
    Some(format!("{}, {} {}", d.format("%A"), MONTH_NAMES[d.month0() as usize], ORDINAL_WORDS[d.day0() as usize]))
}

/// "ORD-1042" -> "O R D, one zero four two".
pub fn digits(id: &str) -> String {
    let mut groups: Vec<String> = Vec::new();
    for part in id.split(|c: char| !c.is_alphanumeric()).filter(|p| !p.is_empty()) {
        let spoken: Vec<String> = part
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    ONES[c as usize - '0' as usize].to_string()
                } else {
                    c.to_ascii_uppercase().to_string()
                }
            })
            .collect();
        groups.push(spoken.join(" "));
    }
    groups.join(", ")
}

/// "10:00-14:00" -> "between 10 AM and 2 PM".
pub fn window(w: &str) -> Option<String> {
    let (a, b) = w.split_once('-')?;
    let hour = |t: &str| -> Option<String> {
        let h: u32 = t.split(':').next()?.trim().parse().ok()?;
        Some(match h {
            0 => "midnight".into(),
            12 => "noon".into(),
            1..=11 => format!("{h} AM"),
            _ => format!("{} PM", h - 12),
        })
    };
    Some(format!("between {} and {}", hour(a)?, hour(b)?))
}

fn clock(h: u32, m: u32) -> String {
    match (h, m) {
        (0, 0) => "midnight".into(),
        (12, 0) => "noon".into(),
        _ => {
            let (h12, half) = (if h % 12 == 0 { 12 } else { h % 12 }, if h < 12 { "AM" } else { "PM" });
            if m == 0 {
                format!("{h12} {half}")
            } else {
                format!("{h12}:{m:02} {half}")
            }
        }
    }
}

/// "2026-11-27T10:00:00+05:30" -> "tomorrow at 10 AM" (relative to `today`, the call's
/// local date), "today at 6:30 PM", "on Monday, November thirtieth at 10 AM".
pub fn when(rfc3339: &str, today: Option<NaiveDate>) -> Option<String> {
    let t = DateTime::parse_from_rfc3339(rfc3339.trim()).ok()?;
    let at = clock(t.hour(), t.minute());
    let d = t.date_naive();
    Some(match today {
        Some(today) if d == today => format!("today at {at}"),
        Some(today) if d == today + Duration::days(1) => format!("tomorrow at {at}"),
        _ => format!("on {} at {at}", date(&d.to_string())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoken_forms() {
        assert_eq!(rupees("1499").unwrap(), "one thousand four hundred ninety-nine rupees");
        assert_eq!(rupees("2,15,000").unwrap(), "two lakh fifteen thousand rupees");
        assert_eq!(rupees("99.5").unwrap(), "ninety-nine rupees and fifty paise");
        assert_eq!(rupees("1").unwrap(), "one rupee");
        assert!(rupees("abc").is_none());
        assert_eq!(date("2026-11-28").unwrap(), "Saturday, November twenty-eighth");
        assert_eq!(digits("ORD-1042"), "O R D, one zero four two");
        assert_eq!(window("10:00-14:00").unwrap(), "between 10 AM and 2 PM");
        let today = NaiveDate::from_ymd_opt(2026, 11, 26);
        assert_eq!(when("2026-11-26T18:30:00+05:30", today).unwrap(), "today at 6:30 PM");
        assert_eq!(when("2026-11-27T12:00:00+05:30", today).unwrap(), "tomorrow at noon");
        assert_eq!(when("2026-11-30T10:00:00+05:30", today).unwrap(), "on Monday, November thirtieth at 10 AM");
        assert!(when("tomorrow", today).is_none());
        assert_eq!(
            number_words(123_456_789),
            "twelve crore thirty-four lakh fifty-six thousand seven hundred eighty-nine"
        );
    }
}
