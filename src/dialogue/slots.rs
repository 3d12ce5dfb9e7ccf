//! Slot values from caller words: dates resolved against the call's local date, and
//! time windows.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use super::intent::normalize;

const WEEKDAYS: [(&str, Weekday); 14] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

const MONTHS: [&str; 12] = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];

const ORDINALS: [(&str, u32); 31] = [
    ("first", 1), ("second", 2), ("third", 3), ("fourth", 4), ("fifth", 5), ("sixth", 6), ("seventh", 7), ("eighth", 8),
    ("ninth", 9), ("tenth", 10), ("eleventh", 11), ("twelfth", 12), ("thirteenth", 13), ("fourteenth", 14), ("fifteenth", 15),
    ("sixteenth", 16), ("seventeenth", 17), ("eighteenth", 18), ("nineteenth", 19), ("twentieth", 20), ("twenty-first", 21),
    ("twenty-second", 22), ("twenty-third", 23), ("twenty-fourth", 24), ("twenty-fifth", 25), ("twenty-sixth", 26),
    ("twenty-seventh", 27), ("twenty-eighth", 28), ("twenty-ninth", 29), ("thirtieth", 30), ("thirty-first", 31),
];

/// Day of month from "5th", "5", "fifth", "twenty-eighth".
fn day_number(word: &str) -> Option<u32> {
    let digits: String = word.chars().take_while(|c| c.is_ascii_digit()).collect();
    let suffix = &word[digits.len()..];
    if !digits.is_empty() && matches!(suffix, "" | "st" | "nd" | "rd" | "th") {
        return digits.parse().ok().filter(|d| (1..=31).contains(d));
    }
    ORDINALS.iter().find(|(w, _)| *w == word).map(|(_, d)| *d)
}

fn next_weekday(today: NaiveDate, target: Weekday) -> NaiveDate {
    let ahead = (7 + target.num_days_from_monday() as i64 - today.weekday().num_days_from_monday() as i64) % 7;
    today + Duration::days(if ahead == 0 { 7 } else { ahead })
}

/// The date the words name, relative to `today` (the call's local date): "today",
/// "tomorrow" / "kal", "day after tomorrow" / "parson", "on Friday" (the next one),
/// "next Monday" (in the following week), "the 5th" (this month, or next if past),
/// "December 2nd" / "2 December", ISO dates.
pub fn resolve_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let raw = text.to_lowercase();
    for token in raw.split_whitespace() {
        if let Ok(d) = NaiveDate::parse_from_str(token.trim_matches(|c: char| !c.is_ascii_digit() && c != '-'), "%Y-%m-%d") {
            return Some(d);
        }
    }
    let words = normalize(text);
    let joined = format!(" {} ", words.join(" "));
    if joined.contains(" day after tomorrow ") || joined.contains(" parson ") || joined.contains(" parso ") {
        return Some(today + Duration::days(2));
    }
    if joined.contains(" tomorrow ") || joined.contains(" kal ") {
        return Some(today + Duration::days(1));
    }
    if joined.contains(" today ") || joined.contains(" aaj ") {
        return Some(today);
    }
    for (i, w) in words.iter().enumerate() {
        if let Some((_, wd)) = WEEKDAYS.iter().find(|(n, _)| n == w) {
            let next = next_weekday(today, *wd);
            let said_next = i > 0 && words[i - 1] == "next";
            if said_next {
                // "next Monday": the Monday of the following week.
                let days_to_week_end = 6 - today.weekday().num_days_from_monday() as i64;
                let week_end = today + Duration::days(days_to_week_end);
                return Some(if next <= week_end { next + Duration::days(7) } else { next });
            }
            return Some(next);
        }
    }
    for (i, w) in words.iter().enumerate() {
        if let Some(m) = MONTHS.iter().position(|n| n == w || (w.len() >= 3 && n.starts_with(w.as_str()) && w.len() == 3)) {
            let day = words.get(i + 1).and_then(|x| day_number(x)).or_else(|| i.checked_sub(1).and_then(|j| day_number(&words[j])));
            if let Some(day) = day {
                let mut year = today.year();
                let mut d = NaiveDate::from_ymd_opt(year, m as u32 + 1, day)?;
                if d < today {
                    year += 1;
                    d = NaiveDate::from_ymd_opt(year, m as u32 + 1, day)?;
                }
                return Some(d);
            }
        }
    }
    for (i, w) in words.iter().enumerate() {
        let ordinal_form = w.ends_with("st") || w.ends_with("nd") || w.ends_with("rd") || w.ends_with("th");
        let after_the = i > 0 && (words[i - 1] == "the" || words[i - 1] == "on");
        if let Some(day) = day_number(w).filter(|_| ordinal_form || after_the) {
            let this = NaiveDate::from_ymd_opt(today.year(), today.month(), day);
            return match this {
                Some(d) if d >= today => Some(d),
                _ => {
                    let (y, m) = if today.month() == 12 { (today.year() + 1, 1) } else { (today.year(), today.month() + 1) };
                    NaiveDate::from_ymd_opt(y, m, day)
                }
            };
        }
    }
    None
}

/// A time window as ("HH:MM", "HH:MM").
pub fn resolve_time_window(text: &str) -> Option<(String, String)> {
    let words = normalize(text);
    let joined = format!(" {} ", words.join(" "));
    let hour = |w: &str| -> Option<u32> {
        let n: u32 = w.trim_end_matches("pm").trim_end_matches("am").parse().ok()?;
        (1..=12).contains(&n).then_some(n)
    };
    // Bare hours 1-7 are afternoon/evening for deliveries; "am"/"pm" or "morning" override.
    let to24 = |h: u32, pm_hint: bool, am_hint: bool| -> u32 {
        if am_hint {
            h % 12
        } else if pm_hint || (1..=7).contains(&h) {
            h % 12 + 12
        } else {
            h
        }
    };
    let fmt = |a: u32, b: u32| (format!("{a:02}:00"), format!("{:02}:00", b.min(23)));
    let pm = joined.contains(" pm ") || joined.contains(" evening ") || joined.contains(" shaam ");
    let am = joined.contains(" am ") || joined.contains(" morning ") || joined.contains(" subah ");
    for (i, w) in words.iter().enumerate() {
        if matches!(w.as_str(), "between" | "from") {
            let a = words.get(i + 1).and_then(|x| hour(x));
            let b = words.iter().skip(i + 2).take(3).find_map(|x| hour(x));
            if let (Some(a), Some(b)) = (a, b) {
                let (a, b) = (to24(a, pm || words[i + 1].ends_with("pm"), am), to24(b, pm, am && b > a));
                return Some(fmt(a, b.max(a + 1)));
            }
        }
        if matches!(w.as_str(), "after" | "before" | "at" | "around") {
            let next = words.get(i + 1).map(String::as_str);
            let h = next.and_then(hour).map(|h| to24(h, pm || next.is_some_and(|n| n.ends_with("pm")), am || next.is_some_and(|n| n.ends_with("am"))));
            match (w.as_str(), h, next) {
                ("after", Some(h), _) => return Some(fmt(h, 21)),
                ("before", Some(h), _) => return Some(fmt(9, h)),
                ("at" | "around", Some(h), _) => return Some(fmt(h, h + 1)),
                ("before", None, Some("noon" | "lunch")) => return Some(fmt(9, 12)),
                ("after", None, Some("noon" | "lunch")) => return Some(fmt(12, 17)),
                _ => {}
            }
        }
    }
    if joined.contains(" morning ") || joined.contains(" subah ") {
        return Some(fmt(9, 12));
    }
    if joined.contains(" afternoon ") || joined.contains(" dopahar ") {
        return Some(fmt(12, 16));
    }
    if joined.contains(" evening ") || joined.contains(" shaam ") {
        return Some(fmt(16, 20));
    }
    if joined.contains(" night ") {
        return Some(fmt(19, 21));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn dates_resolve_against_the_call_date() {
        let today = d("2026-11-26"); // a Thursday
        let cases = [
            ("tomorrow", "2026-11-27"),
            ("day after tomorrow", "2026-11-28"),
            ("kal bhej do", "2026-11-27"),
            ("on Friday", "2026-11-27"),
            ("thursday", "2026-12-03"),
            ("next Monday", "2026-11-30"),
            ("next Saturday", "2026-12-05"),
            ("the 5th", "2026-12-05"),
            ("on the 28th", "2026-11-28"),
            ("December 2nd", "2026-12-02"),
            ("2 december", "2026-12-02"),
            ("2027-01-04 works", "2027-01-04"),
            ("today", "2026-11-26"),
        ];
        for (text, want) in cases {
            assert_eq!(resolve_date(text, today), Some(d(want)), "{text}");
        }
        assert_eq!(resolve_date("I am not sure", today), None);
    }

    #[test]
    fn time_windows() {
        let w = |t: &str| resolve_time_window(t).map(|(a, b)| format!("{a}-{b}"));
        assert_eq!(w("in the morning").as_deref(), Some("09:00-12:00"));
        assert_eq!(w("after 6 pm").as_deref(), Some("18:00-21:00"));
        assert_eq!(w("between 2 and 4").as_deref(), Some("14:00-16:00"));
        assert_eq!(w("at 11 am").as_deref(), Some("11:00-12:00"));
        assert_eq!(w("evening").as_deref(), Some("16:00-20:00"));
        assert_eq!(w("whenever"), None);
    }
}
