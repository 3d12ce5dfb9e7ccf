//! Calling windows: the hours a customer may be called, in the customer's own time zone,
//! less holidays. A flow may narrow the outer window, never widen it. Pure: the instant
//! is passed in.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Local hours `[start, end)`: a call may start at `start` and must start before `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Hours {
    /// The outer bound for every flow (India's 09:00-21:00).
    pub fn outer() -> Hours {
        Hours { start: hm(9, 0), end: hm(21, 0) }
    }

    /// `"09:00-21:00"`.
    pub fn parse(text: &str) -> Result<Hours, String> {
        let bad = || format!("{text:?} is not a window such as 09:00-21:00");
        let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
        // `24:00` ends the window at the end of the day.
        let end = match b.trim() {
            "24:00" => NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).expect("a valid time"),
            b => time(b)?,
        };
        let hours = Hours { start: time(a)?, end };
        if hours.start >= hours.end {
            return Err(format!("{text:?}: the window must end after it starts, on the same day"));
        }
        Ok(hours)
    }

    /// Both windows at once (a flow's hours inside the outer ones); None when they miss.
    pub fn within(self, outer: Hours) -> Option<Hours> {
        let h = Hours { start: self.start.max(outer.start), end: self.end.min(outer.end) };
        (h.start < h.end).then_some(h)
    }
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("a valid time")
}

/// When a call may be placed: the hours and the dates that are closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub hours: Hours,
    /// Local dates with no calls at all.
    pub holidays: BTreeSet<NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar { hours: Hours::outer(), holidays: BTreeSet::new() }
    }
}

/// The UTC instant of a local wall time; a time a clock change skips is moved on to the
/// first one that exists.
fn instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut t = local;
    for _ in 0..180 {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(d) => return d.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => t += chrono::Duration::minutes(1),
        }
    }
    Utc.from_utc_datetime(&local)
}

/// Why a moment is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Hours,
    Holiday,
}

impl Calendar {
    /// Whether a call may start at `at` for a customer in `tz`, and if not why.
    pub fn check(&self, tz: Tz, at: DateTime<Utc>) -> Result<(), Closed> {
        let local = at.with_timezone(&tz).naive_local();
        if self.holidays.contains(&local.date()) {
            return Err(Closed::Holiday);
        }
        let time = local.time();
        if time < self.hours.start || time >= self.hours.end {
            return Err(Closed::Hours);
        }
        Ok(())
    }

    /// The first moment at or after `at` when a call may start (`at` itself when open).
    pub fn next_open(&self, tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.check(tz, at).is_ok() {
            return at;
        }
        let local = at.with_timezone(&tz).naive_local();
        let mut day = local.date();
        if local.time() >= self.hours.start {
            day = day + Days::new(1);
        }
        // A year of holidays in a row is a configuration error; stop looking after that.
        for _ in 0..366 {
            if !self.holidays.contains(&day) {
                let open = instant(tz, day.and_time(self.hours.start));
                if open >= at && self.check(tz, open).is_ok() {
                    return open;
                }
            }
            day = day + Days::new(1);
        }
        instant(tz, day.and_time(self.hours.start))
    }

    /// The customer's local calendar date at `at`.
    pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&tz).date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_are_in_the_customers_own_zone() {
        let cal = Calendar::default();
        // 03:25 UTC is 08:55 in Kolkata (+05:30) and 09:10 in Kathmandu (+05:45).
        let at = utc("2026-12-01T03:25:00Z");
        assert_eq!(cal.check(Tz::Asia__Kolkata, at), Err(Closed::Hours));
        assert_eq!(cal.check(Tz::Asia__Kathmandu, at), Ok(()));
        assert_eq!(cal.next_open(Tz::Asia__Kolkata, at), utc("2026-12-01T03:30:00Z"));
        assert_eq!(cal.next_open(Tz::Asia__Kathmandu, at), at);
        // 21:00 local is closed; the next opening is 09:00 the next day.
        let late = utc("2026-12-01T15:30:00Z");
        assert_eq!(cal.check(Tz::Asia__Kolkata, late), Err(Closed::Hours));
        assert_eq!(cal.next_open(Tz::Asia__Kolkata, late), utc("2026-12-02T03:30:00Z"));
        assert_eq!(cal.check(Tz::Asia__Kolkata, late - chrono::Duration::seconds(1)), Ok(()));
    }

    #[test]
    fn holidays_and_clock_changes() {
        let mut cal = Calendar::default();
        cal.holidays.insert(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap());
        let xmas_eve_night = utc("2026-12-24T22:00:00Z"); // 22:00 London
        assert_eq!(cal.check(Tz::Europe__London, utc("2026-12-25T12:00:00Z")), Err(Closed::Holiday));
        assert_eq!(cal.next_open(Tz::Europe__London, xmas_eve_night), utc("2026-12-26T09:00:00Z"));
        // New York on the day clocks go forward (2027-03-14): 09:00 is EDT, UTC-4.
        let ny = Calendar::default().next_open(Tz::America__New_York, utc("2027-03-14T05:00:00Z"));
        assert_eq!(ny, utc("2027-03-14T13:00:00Z"));
        // A window starting inside the skipped hour opens at the first minute that exists.
        let night = Calendar { hours: Hours::parse("02:30-05:00").unwrap(), holidays: BTreeSet::new() };
        assert_eq!(night.next_open(Tz::America__New_York, utc("2027-03-14T05:00:00Z")), utc("2027-03-14T07:00:00Z"));
    }

    #[test]
    fn hours_parse_and_narrow() {
        let cod = Hours::parse("10:00-22:30").unwrap();
        assert_eq!(cod.within(Hours::outer()), Some(Hours { start: hm(10, 0), end: hm(21, 0) }));
        assert_eq!(Hours::parse("06:00-08:00").unwrap().within(Hours::outer()), None);
        for bad in ["21:00-09:00", "9-5", "09:00", "25:00-26:00"] {
            assert!(Hours::parse(bad).is_err(), "{bad}");
        }
    }
}
