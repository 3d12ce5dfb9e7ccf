//! What follows an attempt's end: a retry (no answer, busy, voicemail, a failed dial),
//! a callback the customer asked for, or nothing. The policy then places the next
//! attempt (its gap, a new local hour, windows, caps). Pure.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::policy::Limits;

/// How a dial went (the SIP dialer's results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DialResult {
    Answered,
    NoAnswer,
    Busy,
    Rejected,
    Failed,
    Voicemail,
}

impl DialResult {
    pub fn parse(text: &str) -> Option<DialResult> {
        Some(match text {
            "answered" => DialResult::Answered,
            "no_answer" => DialResult::NoAnswer,
            "busy" => DialResult::Busy,
            "rejected" => DialResult::Rejected,
            "failed" => DialResult::Failed,
            "voicemail" => DialResult::Voicemail,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Attempt `attempt_no`, not before `not_before`.
    Retry {
        attempt_no: u32,
        not_before: DateTime<Utc>,
    },
    /// A callback at the time the customer asked for.
    Callback {
        attempt_no: u32,
        at: DateTime<Utc>,
    },
    Done,
}

/// After attempt `attempt_no` ended at `now` with `result` (and the flow's `outcome`
/// when answered); `failures` counts this subject's failed dials, this one included.
pub fn next(
    limits: &Limits,
    attempt_no: u32,
    result: DialResult,
    outcome: Option<&str>,
    callback_time: Option<DateTime<Utc>>,
    failures: u32,
    now: DateTime<Utc>,
) -> Next {
    let retry = || {
        if attempt_no < limits.max_attempts {
            Next::Retry { attempt_no: attempt_no + 1, not_before: now + limits.retry_gap }
        } else {
            Next::Done
        }
    };
    match result {
        DialResult::Answered if outcome == Some("callback_requested") => {
            // "Call me later" with no time: an hour on, inside the window.
            Next::Callback {
                attempt_no: attempt_no + 1,
                at: callback_time.unwrap_or(now + Duration::hours(1)).max(now),
            }
        }
        DialResult::Answered | DialResult::Rejected => Next::Done,
        DialResult::NoAnswer | DialResult::Busy | DialResult::Voicemail => retry(),
        DialResult::Failed if failures < limits.max_failures => retry(),
        DialResult::Failed => Next::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn retries_up_to_the_limit_and_callbacks_at_their_time() {
        let limits = Limits::default();
        let now = utc("2026-12-01T05:00:00Z");
        let gap = now + Duration::hours(2);
        assert_eq!(
            next(&limits, 1, DialResult::NoAnswer, None, None, 0, now),
            Next::Retry { attempt_no: 2, not_before: gap }
        );
        assert_eq!(
            next(&limits, 2, DialResult::Voicemail, None, None, 0, now),
            Next::Retry { attempt_no: 3, not_before: gap }
        );
        assert_eq!(next(&limits, 3, DialResult::Busy, None, None, 0, now), Next::Done, "three attempts at most");
        assert_eq!(
            next(&limits, 1, DialResult::Failed, None, None, 1, now),
            Next::Retry { attempt_no: 2, not_before: gap }
        );
        assert_eq!(next(&limits, 2, DialResult::Failed, None, None, 2, now), Next::Done, "not after two failures");
        assert_eq!(next(&limits, 1, DialResult::Rejected, None, None, 0, now), Next::Done);
        assert_eq!(next(&limits, 1, DialResult::Answered, Some("confirmed"), None, 0, now), Next::Done);
        let at = utc("2026-12-01T12:30:00Z");
        let cb = next(&limits, 3, DialResult::Answered, Some("callback_requested"), Some(at), 0, now);
        assert_eq!(cb, Next::Callback { attempt_no: 4, at }, "callbacks are not counted against the attempts");
        let cb = next(&limits, 1, DialResult::Answered, Some("callback_requested"), None, 0, now);
        assert_eq!(cb, Next::Callback { attempt_no: 2, at: now + Duration::hours(1) });
        assert_eq!(DialResult::parse("no_answer"), Some(DialResult::NoAnswer));
        assert_eq!(DialResult::parse("maybe"), None);
    }
}
