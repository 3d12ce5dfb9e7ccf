//! Slot values from caller words: dates resolved against the call's local date, time
//! windows, callback times inside the calling window, and spoken addresses.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Weekday,
};

use crate::words::tokens as normalize;

const WEEKDAYS: [(&str, Weekday); 11] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
    // Short forms that are no other word ("sat", "sun" and "wed" are), taken only in a date context.
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
];

/// Words before a day that make it a date: "on the 5th", "by Friday", "till the 3rd".
const DATE_LEAD: [&str; 10] = ["on", "by", "till", "until", "the", "from", "before", "after", "coming", "next"];
/// Words before an ordinal that make it a count of something, never a date ("a second", "my first").
const COUNT_LEAD: [&str; 14] =
    ["a", "one", "just", "this", "that", "my", "your", "his", "her", "our", "their", "every", "each", "another"];
/// What may follow a day in a date ("the 5th is fine", "the 5th at 4 pm", "5 tarikh ko"); any
/// other word makes it an ordinal of that word ("the third time", "the second floor").
const DATE_FOLLOW: [&str; 34] = [
    "is",
    "please",
    "works",
    "would",
    "will",
    "then",
    "okay",
    "morning",
    "evening",
    "afternoon",
    "night",
    "at",
    "between",
    "after",
    "before",
    "around",
    "instead",
    "and",
    "or",
    "itself",
    "only",
    "also",
    "sir",
    "madam",
    "ji",
    "na",
    "if",
    "but",
    "so",
    "because",
    "tarikh",
    "tareekh",
    "ko",
    "fine",
];

/// Whether the bot asked for a day: then a bare "5th" or "fifth please" is a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateCue {
    /// The question asked for a day ("Which day works for you?").
    Asked,
    /// Any other turn: a day needs a date context in the words themselves.
    Unasked,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const ORDINALS: [(&str, u32); 31] = [
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("eleventh", 11),
    ("twelfth", 12),
    ("thirteenth", 13),
    ("fourteenth", 14),
    ("fifteenth", 15),
    ("sixteenth", 16),
    ("seventeenth", 17),
    ("eighteenth", 18),
    ("nineteenth", 19),
    ("twentieth", 20),
    ("twenty-first", 21),
    ("twenty-second", 22),
    ("twenty-third", 23),
    ("twenty-fourth", 24),
    ("twenty-fifth", 25),
    ("twenty-sixth", 26),
    ("twenty-seventh", 27),
    ("twenty-eighth", 28),
    ("twenty-ninth", 29),
    ("thirtieth", 30),
    ("thirty-first", 31),
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
/// "December 2nd" / "2 December", ISO dates. An ordinal is a date only in a date
/// context (a month, "on"/"the"/"by" before it, or `cue` says a day was asked for)
/// and never when it counts something ("wait a second", "the third time you called").
pub fn resolve_date(text: &str, today: NaiveDate, cue: DateCue) -> Option<NaiveDate> {
    let raw = text.to_lowercase();
    for token in raw.split_whitespace() {
        if let Ok(d) =
            NaiveDate::parse_from_str(token.trim_matches(|c: char| !c.is_ascii_digit() && c != '-'), "%Y-%m-%d")
        {
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
    let before = |i: usize| i.checked_sub(1).map(|j| words[j].as_str());
    let lead = |i: usize| before(i).is_some_and(|w| DATE_LEAD.contains(&w));
    let counts = |i: usize| before(i).is_some_and(|w| COUNT_LEAD.contains(&w));
    // The day ends the phrase, or what follows it can follow a date.
    let follows = |i: usize| match words.get(i + 1).map(String::as_str) {
        None => true,
        Some("of") => words.get(i + 2).is_some_and(|m| month_of(m).is_some() || m == "this" || m == "next"),
        Some(w) => DATE_FOLLOW.contains(&w) || month_of(w).is_some() || w.chars().all(|c| c.is_ascii_digit()),
    };
    for (i, w) in words.iter().enumerate() {
        if let Some((name, wd)) = WEEKDAYS.iter().find(|(n, _)| n == w) {
            if name.len() == 3 && !(lead(i) || cue == DateCue::Asked) {
                continue;
            }
            let next = next_weekday(today, *wd);
            if before(i) == Some("next") {
                // "next Monday": the Monday of the following week.
                let days_to_week_end = 6 - today.weekday().num_days_from_monday() as i64;
                let week_end = today + Duration::days(days_to_week_end);
                return Some(if next <= week_end { next + Duration::days(7) } else { next });
            }
            return Some(next);
        }
    }
    for (i, w) in words.iter().enumerate() {
        let Some(m) = month_of(w) else { continue };
        let after = words.get(i + 1).and_then(|x| day_number(x)).filter(|_| follows(i + 1));
        let day = after.or_else(|| i.checked_sub(1).and_then(|j| day_number(&words[j])).filter(|_| !counts(i - 1)));
        if let Some(day) = day {
            let mut year = today.year();
            let mut d = NaiveDate::from_ymd_opt(year, m, day)?;
            if d < today {
                year += 1;
                d = NaiveDate::from_ymd_opt(year, m, day)?;
            }
            return Some(d);
        }
    }
    for (i, w) in words.iter().enumerate() {
        let ordinal_form = w.ends_with("st") || w.ends_with("nd") || w.ends_with("rd") || w.ends_with("th");
        let context = lead(i) || (cue == DateCue::Asked && ordinal_form);
        if let Some(day) = day_number(w).filter(|_| context && !counts(i) && follows(i)) {
            let this = NaiveDate::from_ymd_opt(today.year(), today.month(), day);
            return match this {
                Some(d) if d >= today => Some(d),
                _ => {
                    let (y, m) =
                        if today.month() == 12 { (today.year() + 1, 1) } else { (today.year(), today.month() + 1) };
                    NaiveDate::from_ymd_opt(y, m, day)
                }
            };
        }
    }
    None
}

/// Month number of a month name or its three-letter form ("dec").
fn month_of(w: &str) -> Option<u32> {
    MONTHS.iter().position(|n| *n == w || (w.len() == 3 && n.starts_with(w))).map(|m| m as u32 + 1)
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
            let h = next.and_then(hour).map(|h| {
                to24(h, pm || next.is_some_and(|n| n.ends_with("pm")), am || next.is_some_and(|n| n.ends_with("am")))
            });
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

/// Calls are placed only between these local hours (start inclusive, end exclusive).
pub const CALLING_WINDOW: (u32, u32) = (9, 21);

/// Moves `t` into the calling window: before 09:00 to 09:00 that day, from 21:00 to
/// 09:00 the next day.
pub fn within_calling_window(t: NaiveDateTime) -> NaiveDateTime {
    let open = |d: NaiveDate| d.and_hms_opt(CALLING_WINDOW.0, 0, 0).expect("valid hour");
    match t.hour() {
        h if h < CALLING_WINDOW.0 => open(t.date()),
        h if h >= CALLING_WINDOW.1 => open(t.date() + Duration::days(1)),
        _ => t,
    }
}

/// When to call back if the caller named no time: two hours on, inside the window.
pub fn default_callback_time(now: NaiveDateTime) -> NaiveDateTime {
    within_calling_window(round_up_quarter(now + Duration::hours(2)))
}

fn round_up_quarter(t: NaiveDateTime) -> NaiveDateTime {
    let past = (t.minute() % 15) as i64 * 60 + t.second() as i64;
    let t = t - Duration::seconds(t.second() as i64) - Duration::nanoseconds(t.nanosecond() as i64);
    if past == 0 {
        t
    } else {
        t + Duration::minutes(15 - (t.minute() % 15) as i64)
    }
}

fn count_word(w: &str) -> Option<i64> {
    const WORDS: [(&str, i64); 20] = [
        ("a", 1),
        ("an", 1),
        ("one", 1),
        ("ek", 1),
        ("two", 2),
        ("three", 3),
        ("teen", 3),
        ("four", 4),
        ("char", 4),
        ("five", 5),
        ("paanch", 5),
        ("six", 6),
        ("ten", 10),
        ("fifteen", 15),
        ("twenty", 20),
        ("thirty", 30),
        ("forty", 40),
        ("fifty", 50),
        ("half", 0),
        ("couple", 2),
    ];
    w.parse().ok().filter(|n| (1..=600).contains(n)).or_else(|| WORDS.iter().find(|(n, _)| *n == w).map(|(_, v)| *v))
}

/// The count before a unit word at `i`: "45", "forty five" (ASR splits "forty-five"),
/// "two and a half", "couple of", "a few", Hindi "do".
fn count_before(words: &[String], i: usize, per: i64) -> Option<i64> {
    let before = |k: usize| i.checked_sub(k).map(|j| words[j].as_str());
    let tens_units = |t: &str, u: &str| {
        Some(count_word(t)? + count_word(u)?)
            .filter(|_| t.len() > 4 && ["twenty", "thirty", "forty", "fifty"].contains(&t))
    };
    match (before(4), before(3), before(2), before(1)) {
        (Some(n), Some("and"), Some("a"), Some("half")) => Some(count_word(n)? * per + per / 2),
        (_, _, Some("half"), Some("an" | "a")) => Some(per / 2),
        (_, _, Some("couple"), Some("of")) => Some(2 * per),
        (_, _, _, Some("few")) => Some(if per == 60 { 180 } else { 15 }),
        (_, _, _, Some("do")) if per == 60 => Some(120),
        (_, _, Some(t), Some(u)) if tens_units(t, u).is_some() => Some(tens_units(t, u)? * per),
        (_, _, _, Some(n)) => count_word(n).filter(|&n| n > 0).map(|n| n * per),
        _ => None,
    }
}

/// "in an hour", "after 45 minutes", "half an hour", "do ghante baad": minutes from now.
/// With several ("wait a minute... call me in an hour") the longest counts.
fn relative_minutes(words: &[String]) -> Option<i64> {
    let joined = format!(" {} ", words.join(" "));
    let half_hour =
        [" half hour ", " aadha ghanta ", " aadhe ghante "].iter().any(|p| joined.contains(p)).then_some(30);
    let counted = words.iter().enumerate().filter_map(|(i, w)| {
        let per = match w.as_str() {
            "hour" | "hours" | "hr" | "hrs" | "ghanta" | "ghante" | "ghanton" => 60,
            "minute" | "minutes" | "min" | "mins" => 1,
            _ => return None,
        };
        count_before(words, i, per)
    });
    counted.chain(half_hour).max()
}

/// Callbacks are at least this far ahead.
const MIN_CALLBACK_LEAD_MIN: i64 = 15;

/// When the caller asks to be called back, as a local time inside the calling window:
/// "in an hour", "after 30 minutes", "tomorrow morning", "at 5", "this evening",
/// "on Saturday", "next week". `None` when the words name no time.
pub fn resolve_callback_time(text: &str, now: NaiveDateTime) -> Option<NaiveDateTime> {
    let words = normalize(text);
    if let Some(minutes) = relative_minutes(&words) {
        return Some(within_calling_window(round_up_quarter(
            now + Duration::minutes(minutes.max(MIN_CALLBACK_LEAD_MIN)),
        )));
    }
    let joined = format!(" {} ", words.join(" "));
    let today = now.date();
    let date = if joined.contains(" next week ") || joined.contains(" agle hafte ") {
        Some(next_weekday(today, Weekday::Mon))
    } else {
        resolve_date(text, today, DateCue::Unasked)
    };
    let window = if joined.contains(" tonight ") {
        Some((19, 21))
    } else {
        resolve_time_window(text)
            .and_then(|(a, b)| Some((a.get(..2)?.parse::<u32>().ok()?, b.get(..2)?.parse::<u32>().ok()?)))
    };
    let at = |d: NaiveDate, h: u32| d.and_time(NaiveTime::from_hms_opt(h.min(23), 0, 0).expect("valid hour"));
    let t = match (date, window) {
        (None, None) => return None,
        (Some(d), None) if d == today => return None,
        (Some(d), None) => at(d, 10),
        (Some(d), Some((start, _))) if d != today => at(d, start),
        (_, Some((start, end))) => {
            let t = at(today, start);
            if t > now {
                t
            } else if at(today, end) > now + Duration::hours(1) {
                // "This evening", asked at 5 PM: within the hour.
                round_up_quarter(now + Duration::hours(1))
            } else {
                at(today + Duration::days(1), start)
            }
        }
    };
    Some(within_calling_window(t.max(now)))
}

/// The `callback_time` slot for a caller who asked to be called back: the time they
/// named, or two hours on; RFC 3339 in the call's offset.
pub fn callback_slot(text: &str, now: DateTime<FixedOffset>) -> String {
    let local = now.naive_local();
    let at = resolve_callback_time(text, local).unwrap_or_else(|| default_callback_time(local));
    now.offset().from_local_datetime(&at).single().unwrap_or(now).format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// Words that make a number part of an address ("45 Brigade Road", "flat 302").
const ADDRESS_WORDS: [&str; 26] = [
    "road",
    "rd",
    "street",
    "nagar",
    "layout",
    "colony",
    "sector",
    "flat",
    "apartment",
    "apartments",
    "society",
    "lane",
    "cross",
    "marg",
    "phase",
    "stage",
    "tower",
    "plot",
    "villa",
    "enclave",
    "gali",
    "chowk",
    "pin",
    "pincode",
    "building",
    "avenue",
];
/// A number followed by one of these is a time, a count or an amount, not a house number.
const NOT_ADDRESS_UNITS: [&str; 16] = [
    "am", "pm", "baje", "o'clock", "minutes", "minute", "hours", "hour", "days", "day", "calls", "times", "rupees",
    "rs", "percent", "items",
];

/// An address in the caller's words ("no, it's 45 Brigade Road, Indiranagar now"): a
/// house or pin number together with an address word. Returns the words from the first
/// number or address word on, without trailing fillers.
pub fn spoken_address(text: &str) -> Option<String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let bare = |t: &str| t.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'').to_lowercase();
    let is_number = |i: usize| {
        let t = bare(tokens[i]);
        let ordinal_date = ["st", "nd", "rd", "th"].iter().any(|s| t.ends_with(s))
            && !tokens.get(i + 1).is_some_and(|n| ADDRESS_WORDS.contains(&bare(n).as_str()));
        let unit = tokens.get(i + 1).is_some_and(|n| NOT_ADDRESS_UNITS.contains(&bare(n).as_str()));
        t.chars().any(|c| c.is_ascii_digit()) && !ordinal_date && !unit
    };
    let has_number = (0..tokens.len()).any(is_number);
    let has_word = tokens.iter().any(|t| ADDRESS_WORDS.contains(&bare(t).as_str()));
    if !(has_number && has_word) {
        return None;
    }
    let start = (0..tokens.len()).find(|&i| is_number(i) || ADDRESS_WORDS.contains(&bare(tokens[i]).as_str()))?;
    let mut end = tokens.len();
    while end > start + 1
        && matches!(bare(tokens[end - 1]).as_str(), "now" | "please" | "only" | "hai" | "ji" | "sir" | "madam")
    {
        end -= 1;
    }
    let address = tokens[start..end].join(" ");
    Some(address.trim_end_matches(|c: char| !c.is_alphanumeric()).to_string())
}

/// Whether a spoken address differs from the one on file: it has a number the file lacks.
pub fn is_new_address(spoken: &str, known: &str) -> bool {
    let numbers = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
            .map(str::to_lowercase)
            .collect()
    };
    let on_file = numbers(known);
    numbers(spoken).iter().any(|n| !on_file.contains(n))
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
            assert_eq!(resolve_date(text, today, DateCue::Unasked), Some(d(want)), "{text}");
        }
        assert_eq!(resolve_date("I am not sure", today, DateCue::Asked), None);
        assert_eq!(resolve_date("5th", today, DateCue::Asked), Some(d("2026-12-05")), "answer to which day");
        assert_eq!(resolve_date("5th", today, DateCue::Unasked), None);
        for trap in ["wait a second", "hold on a second", "this is the third time you called", "the second floor"] {
            assert_eq!(resolve_date(trap, today, DateCue::Asked), None, "{trap}");
        }
    }

    #[test]
    fn callback_times_stay_inside_the_calling_window() {
        let now = d("2026-11-26").and_hms_opt(11, 5, 0).unwrap();
        let cb = |t: &str| resolve_callback_time(t, now).map(|t| t.format("%Y-%m-%d %H:%M").to_string());
        assert_eq!(cb("call me in an hour").as_deref(), Some("2026-11-26 12:15"));
        assert_eq!(cb("after 30 minutes").as_deref(), Some("2026-11-26 11:45"));
        assert_eq!(cb("half an hour baad").as_deref(), Some("2026-11-26 11:45"));
        assert_eq!(cb("do ghante baad call karo").as_deref(), Some("2026-11-26 13:15"));
        assert_eq!(cb("call me tomorrow morning").as_deref(), Some("2026-11-27 09:00"));
        assert_eq!(cb("call me in the evening").as_deref(), Some("2026-11-26 16:00"));
        assert_eq!(cb("after 6 pm").as_deref(), Some("2026-11-26 18:00"));
        assert_eq!(cb("call on saturday").as_deref(), Some("2026-11-28 10:00"));
        assert_eq!(cb("next week").as_deref(), Some("2026-11-30 10:00"));
        assert_eq!(cb("tonight").as_deref(), Some("2026-11-26 19:00"));
        assert_eq!(cb("call me in 12 hours").as_deref(), Some("2026-11-27 09:00"), "23:05 is outside the window");
        assert_eq!(cb("call me after forty-five minutes").as_deref(), Some("2026-11-26 12:00"));
        assert_eq!(cb("two and a half hours").as_deref(), Some("2026-11-26 13:45"));
        assert_eq!(
            cb("wait a minute, no, call me back in an hour").as_deref(),
            Some("2026-11-26 12:15"),
            "the longest mention"
        );
        assert_eq!(cb("give me five minutes").as_deref(), Some("2026-11-26 11:30"), "at least 15 minutes ahead");
        assert_eq!(cb("I am busy, call me later"), None);
        let late = d("2026-11-26").and_hms_opt(17, 10, 0).unwrap();
        assert_eq!(
            resolve_callback_time("call me this evening", late).map(|t| t.format("%H:%M").to_string()).as_deref(),
            Some("18:15")
        );
        assert_eq!(resolve_callback_time("in the morning", late).unwrap().date(), d("2026-11-27"));
        assert_eq!(
            resolve_callback_time("call me today evening", late).map(|t| t.format("%H:%M").to_string()).as_deref(),
            Some("18:15")
        );
        assert_eq!(default_callback_time(now).format("%H:%M").to_string(), "13:15");
        assert_eq!(
            default_callback_time(late.with_hour(20).unwrap()).format("%Y-%m-%d %H:%M").to_string(),
            "2026-11-27 09:00"
        );
    }

    #[test]
    fn spoken_addresses() {
        let known = "12 MG Road, Bengaluru 560001";
        let a = spoken_address("No, it's 45 Brigade Road, Indiranagar now.").unwrap();
        assert_eq!(a, "45 Brigade Road, Indiranagar");
        assert!(is_new_address(&a, known));
        let same = spoken_address("yes 12 MG Road").unwrap();
        assert!(!is_new_address(&same, known));
        assert_eq!(spoken_address("mera naya address flat 302, Sector 15 hai").as_deref(), Some("flat 302, Sector 15"));
        assert!(spoken_address("deliver between 2 and 4").is_none());
        assert!(spoken_address("come on the 5th").is_none());
        assert!(spoken_address("block my number").is_none());
        assert!(spoken_address("main 6 baje ke baad ghar pe hoon").is_none());
        assert!(spoken_address("block my number, I get 10 calls a day").is_none());
        assert!(spoken_address("the parcel is lying on the floor for 3 days").is_none());
        assert!(spoken_address("deliver on the 28th to my building").is_none());
        assert_eq!(spoken_address("it's on 5th cross, 2nd stage").as_deref(), Some("5th cross, 2nd stage"));
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
