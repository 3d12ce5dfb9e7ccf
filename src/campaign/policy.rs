//! The calling policy, one for every flow: whether an attempt may be dialled now, must
//! wait (until when, by which rule) or must never be dialled. The scheduler asks when it
//! schedules an attempt and again right before dialling, as the data may have changed.
//! Pure: the customer's state and the time are passed in.

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::window::{Calendar, Closed};

/// The flows, highest priority first: when several are due for one customer, the
/// first goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    DeliveryRetry,
    Cod,
    ReturnPickup,
    RefundStatus,
    Winback,
}

impl Flow {
    pub const ALL: [Flow; 5] = [Flow::DeliveryRetry, Flow::Cod, Flow::ReturnPickup, Flow::RefundStatus, Flow::Winback];

    pub fn name(self) -> &'static str {
        match self {
            Flow::DeliveryRetry => "delivery_retry",
            Flow::Cod => "cod",
            Flow::ReturnPickup => "return_pickup",
            Flow::RefundStatus => "refund_status",
            Flow::Winback => "winback",
        }
    }

    pub fn parse(name: &str) -> Option<Flow> {
        Flow::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The rule behind a decision, as recorded and as `voxline why` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The customer opted out (import, event or an `opted_out` outcome in any flow).
    OptedOut,
    /// The number was reported wrong: it is never called again.
    WrongNumber,
    /// The subject has a final outcome in this flow.
    AlreadyResponded,
    /// Past the flow's useful life (the order shipped, the pickup date passed).
    Expired,
    /// Retries used up for this subject and flow.
    MaxAttempts,
    /// The number failed too often.
    FailedNumber,
    Holiday,
    Window,
    OpenTicket,
    /// Another call to the customer is in progress.
    InProgress,
    /// A higher-priority flow is due for the customer.
    Priority,
    DailyCap,
    WeeklyCap,
    /// Win-back waits while a return is active.
    ActiveReturn,
    /// Win-back waits 7 days after a return closed.
    RecentReturn,
    /// A retry waits for its gap after the last attempt.
    RetryGap,
    /// A retry must be at a local hour no earlier attempt used.
    NewHour,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::OptedOut => "opted_out",
            Rule::WrongNumber => "wrong_number",
            Rule::AlreadyResponded => "already_responded",
            Rule::Expired => "expired",
            Rule::MaxAttempts => "max_attempts",
            Rule::FailedNumber => "failed_number",
            Rule::Holiday => "holiday",
            Rule::Window => "window",
            Rule::OpenTicket => "open_ticket",
            Rule::InProgress => "in_progress",
            Rule::Priority => "priority",
            Rule::DailyCap => "daily_cap",
            Rule::WeeklyCap => "weekly_cap",
            Rule::ActiveReturn => "active_return",
            Rule::RecentReturn => "recent_return",
            Rule::RetryGap => "retry_gap",
            Rule::NewHour => "new_hour",
        }
    }
}

/// Limits (`[campaign]` config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Dial attempts per customer per local calendar day, all flows.
    pub per_day: usize,
    /// Dial attempts per customer per rolling 7 days, all flows.
    pub per_week: usize,
    /// Attempts per subject and flow (callbacks not counted).
    pub max_attempts: u32,
    /// A retry waits at least this long after the subject's last attempt.
    pub retry_gap: Duration,
    /// Failed dials (transport, auth, trunk errors) after which a number is not retried.
    pub max_failures: u32,
    /// Win-back waits this long after a return closed.
    pub return_cooldown: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_day: 2,
            per_week: 6,
            max_attempts: 3,
            retry_gap: Duration::hours(2),
            max_failures: 2,
            return_cooldown: Duration::days(7),
        }
    }
}

/// The attempt being decided.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub flow: Flow,
    /// 1 for the first attempt at a subject in a flow.
    pub attempt_no: u32,
    /// A callback the customer asked for: exempt from the attempt count, the retry gap
    /// and the new-hour rule, never from windows, caps or suppression.
    pub callback: bool,
    /// The end of the flow's useful life.
    pub expires: Option<DateTime<Utc>>,
}

/// What is known about the customer when deciding.
#[derive(Debug, Clone, Default)]
pub struct Customer {
    pub tz: Option<Tz>,
    pub opted_out: bool,
    pub wrong_number: bool,
    pub open_ticket: bool,
    pub call_in_progress: bool,
    /// When each earlier attempt was dialled, any flow, oldest first.
    pub dials: Vec<DateTime<Utc>>,
    /// When each earlier attempt at this subject in this flow was dialled.
    pub subject_dials: Vec<DateTime<Utc>>,
    pub subject_failures: u32,
    /// The subject has a final outcome in this flow.
    pub responded: bool,
    /// The subject no longer needs this flow's call (a COD order cancelled, shipped or
    /// with a failed delivery; a delivery done; a return closed).
    pub subject_over: bool,
    pub active_return: bool,
    pub return_closed_at: Option<DateTime<Utc>>,
    /// Other flows with an attempt due for this customer now.
    pub also_due: Vec<Flow>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Dial,
    /// Not now: `until` when the rule lets go by itself, None when it waits on data (a
    /// ticket closing, a call ending).
    Wait {
        rule: Rule,
        until: Option<DateTime<Utc>>,
    },
    /// Never for this attempt.
    Never {
        rule: Rule,
    },
}

/// Decides one attempt at `now`.
pub fn decide(cal: &Calendar, limits: &Limits, c: &Customer, a: &Attempt, now: DateTime<Utc>) -> Decision {
    use Decision::{Never, Wait};
    let tz = c.tz.unwrap_or(Tz::UTC);
    if c.opted_out {
        return Never { rule: Rule::OptedOut };
    }
    if c.wrong_number {
        return Never { rule: Rule::WrongNumber };
    }
    if c.responded {
        return Never { rule: Rule::AlreadyResponded };
    }
    if c.subject_over || a.expires.is_some_and(|e| now >= e) {
        return Never { rule: Rule::Expired };
    }
    if c.subject_failures >= limits.max_failures {
        return Never { rule: Rule::FailedNumber };
    }
    if !a.callback && a.attempt_no > limits.max_attempts {
        return Never { rule: Rule::MaxAttempts };
    }
    if c.open_ticket {
        return Wait { rule: Rule::OpenTicket, until: None };
    }
    if c.call_in_progress {
        return Wait { rule: Rule::InProgress, until: None };
    }
    if c.also_due.iter().any(|&f| f < a.flow) {
        return Wait { rule: Rule::Priority, until: None };
    }
    if a.flow == Flow::Winback {
        if c.active_return {
            return Wait { rule: Rule::ActiveReturn, until: None };
        }
        if let Some(closed) = c.return_closed_at.filter(|&t| now < t + limits.return_cooldown) {
            return Wait { rule: Rule::RecentReturn, until: Some(closed + limits.return_cooldown) };
        }
    }
    if let Err(closed) = cal.check(tz, now) {
        let rule = if closed == Closed::Holiday { Rule::Holiday } else { Rule::Window };
        return Wait { rule, until: Some(cal.next_open(tz, now)) };
    }
    let today = Calendar::local_date(tz, now);
    if c.dials.iter().filter(|&&d| Calendar::local_date(tz, d) == today).count() >= limits.per_day {
        let tomorrow = today.succ_opt().unwrap_or(today).and_hms_opt(0, 0, 0).unwrap_or_default();
        let midnight = tomorrow.and_local_timezone(tz).earliest().map_or(now + Duration::days(1), |t| t.to_utc());
        return Wait { rule: Rule::DailyCap, until: Some(cal.next_open(tz, midnight)) };
    }
    let week: Vec<DateTime<Utc>> = c.dials.iter().copied().filter(|&d| d > now - Duration::days(7)).collect();
    if week.len() >= limits.per_week {
        // Once the oldest of the last `per_week` dials is 7 days old.
        let free = week[week.len() - limits.per_week] + Duration::days(7);
        return Wait { rule: Rule::WeeklyCap, until: Some(cal.next_open(tz, free)) };
    }
    if !a.callback {
        if let Some(&last) = c.subject_dials.iter().max() {
            if now < last + limits.retry_gap {
                return Wait { rule: Rule::RetryGap, until: Some(last + limits.retry_gap) };
            }
        }
        let hour = now.with_timezone(&tz).hour();
        if c.subject_dials.iter().any(|d| d.with_timezone(&tz).hour() == hour) {
            let local = now.with_timezone(&tz);
            let into_hour = Duration::minutes(local.minute() as i64) + Duration::seconds(local.second() as i64);
            return Wait { rule: Rule::NewHour, until: Some(now - into_hour + Duration::hours(1)) };
        }
    }
    Decision::Dial
}

/// The first moment at or after `now` when the attempt may be dialled, with every rule
/// that deferred it on the way; or the rule that rules it out (or waits on data).
pub fn earliest(
    cal: &Calendar,
    limits: &Limits,
    c: &Customer,
    a: &Attempt,
    now: DateTime<Utc>,
) -> (Decision, DateTime<Utc>, Vec<Rule>) {
    let (mut at, mut deferred) = (now, Vec::new());
    // Each step moves `at` forward to where one rule lets go; a few dozen always suffice.
    for _ in 0..64 {
        match decide(cal, limits, c, a, at) {
            Decision::Wait { rule, until: Some(t) } if t > at => {
                deferred.push(rule);
                at = t;
            }
            d => return (d, at, deferred),
        }
    }
    (Decision::Wait { rule: Rule::Window, until: None }, at, deferred)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn kolkata() -> Customer {
        Customer { tz: Some(Tz::Asia__Kolkata), ..Default::default() }
    }

    fn first(flow: Flow) -> Attempt {
        Attempt { flow, attempt_no: 1, callback: false, expires: None }
    }

    fn go(c: &Customer, a: &Attempt, at: &str) -> Decision {
        decide(&Calendar::default(), &Limits::default(), c, a, utc(at))
    }

    #[test]
    fn suppression_comes_before_everything() {
        let noon = "2026-12-01T06:30:00Z"; // 12:00 in Kolkata
        assert_eq!(go(&kolkata(), &first(Flow::Cod), noon), Decision::Dial);
        let c = Customer { opted_out: true, open_ticket: true, ..kolkata() };
        assert_eq!(go(&c, &first(Flow::Cod), noon), Decision::Never { rule: Rule::OptedOut });
        let c = Customer { wrong_number: true, ..kolkata() };
        assert_eq!(go(&c, &first(Flow::Cod), noon), Decision::Never { rule: Rule::WrongNumber });
        let c = Customer { responded: true, ..kolkata() };
        assert_eq!(go(&c, &first(Flow::Cod), noon), Decision::Never { rule: Rule::AlreadyResponded });
        let c = Customer { open_ticket: true, ..kolkata() };
        assert_eq!(go(&c, &first(Flow::Cod), noon), Decision::Wait { rule: Rule::OpenTicket, until: None });
        let expired = Attempt { expires: Some(utc("2026-12-01T06:00:00Z")), ..first(Flow::Cod) };
        assert_eq!(go(&kolkata(), &expired, noon), Decision::Never { rule: Rule::Expired });
        let cancelled = Customer { subject_over: true, ..kolkata() };
        assert_eq!(go(&cancelled, &first(Flow::Cod), noon), Decision::Never { rule: Rule::Expired });
        let fourth = Attempt { attempt_no: 4, ..first(Flow::Cod) };
        assert_eq!(go(&kolkata(), &fourth, noon), Decision::Never { rule: Rule::MaxAttempts });
        let callback = Attempt { callback: true, ..fourth };
        assert_eq!(go(&kolkata(), &callback, noon), Decision::Dial, "callbacks are not counted");
        let c = Customer { subject_failures: 2, ..kolkata() };
        assert_eq!(go(&c, &first(Flow::Cod), noon), Decision::Never { rule: Rule::FailedNumber });
    }

    #[test]
    fn windows_caps_and_priority() {
        let early = "2026-12-01T02:00:00Z"; // 07:30 in Kolkata
        let open = Some(utc("2026-12-01T03:30:00Z"));
        assert_eq!(go(&kolkata(), &first(Flow::Cod), early), Decision::Wait { rule: Rule::Window, until: open });
        let c = Customer { also_due: vec![Flow::DeliveryRetry], ..kolkata() };
        assert_eq!(
            go(&c, &first(Flow::Cod), "2026-12-01T06:30:00Z"),
            Decision::Wait { rule: Rule::Priority, until: None }
        );
        let c = Customer { also_due: vec![Flow::Winback], ..kolkata() };
        assert_eq!(go(&c, &first(Flow::Cod), "2026-12-01T06:30:00Z"), Decision::Dial);

        // Two dials today (local) already: the next waits for tomorrow's window.
        let c = Customer { dials: vec![utc("2026-12-01T04:00:00Z"), utc("2026-12-01T08:00:00Z")], ..kolkata() };
        let next_day = Some(utc("2026-12-02T03:30:00Z"));
        assert_eq!(
            go(&c, &first(Flow::Winback), "2026-12-01T12:00:00Z"),
            Decision::Wait { rule: Rule::DailyCap, until: next_day }
        );
        // A dial at 23:00 local yesterday is not today's.
        let c = Customer { dials: vec![utc("2026-11-30T17:30:00Z"), utc("2026-12-01T04:00:00Z")], ..kolkata() };
        assert_eq!(go(&c, &first(Flow::Winback), "2026-12-01T12:00:00Z"), Decision::Dial);

        // Six in the last 7 days: wait until the oldest of them is a week old.
        let six: Vec<_> = (0..6).map(|d| utc("2026-11-25T05:00:00Z") + Duration::days(d)).collect();
        let c = Customer { dials: six, ..kolkata() };
        let (decision, at, rules) =
            earliest(&Calendar::default(), &Limits::default(), &c, &first(Flow::Cod), utc("2026-12-01T06:30:00Z"));
        assert_eq!((decision, at), (Decision::Dial, utc("2026-12-02T05:00:00Z")));
        assert_eq!(rules, [Rule::WeeklyCap]);
    }

    #[test]
    fn retries_need_a_gap_and_a_new_local_hour() {
        // Attempt 1 at 10:15 local; attempt 2 proposed at 11:00: too soon (2 h gap).
        let c = Customer {
            subject_dials: vec![utc("2026-12-01T04:45:00Z")],
            dials: vec![utc("2026-12-01T04:45:00Z")],
            ..kolkata()
        };
        let second = Attempt { attempt_no: 2, ..first(Flow::Cod) };
        let (d, at, rules) =
            earliest(&Calendar::default(), &Limits::default(), &c, &second, utc("2026-12-01T05:30:00Z"));
        assert_eq!((d, at), (Decision::Dial, utc("2026-12-01T06:45:00Z")), "{rules:?}");
        // Attempts at 10:xx and 12:xx local; one proposed at 10:40 the next day moves to 11:00.
        let c = Customer { subject_dials: vec![utc("2026-12-01T04:45:00Z"), utc("2026-12-01T06:45:00Z")], ..kolkata() };
        let third = Attempt { attempt_no: 3, ..first(Flow::Cod) };
        let (d, at, rules) =
            earliest(&Calendar::default(), &Limits::default(), &c, &third, utc("2026-12-02T05:10:00Z"));
        assert_eq!((d, at), (Decision::Dial, utc("2026-12-02T05:30:00Z")));
        assert_eq!(rules, [Rule::NewHour]);
        // A callback keeps its time.
        let callback = Attempt { callback: true, ..third };
        assert_eq!(go(&c, &callback, "2026-12-02T05:10:00Z"), Decision::Dial);
    }

    #[test]
    fn winback_waits_for_returns() {
        let noon = "2026-12-01T06:30:00Z";
        let c = Customer { active_return: true, ..kolkata() };
        assert_eq!(go(&c, &first(Flow::Winback), noon), Decision::Wait { rule: Rule::ActiveReturn, until: None });
        assert_eq!(go(&c, &first(Flow::Cod), noon), Decision::Dial, "only win-back waits");
        let c = Customer { return_closed_at: Some(utc("2026-11-28T06:00:00Z")), ..kolkata() };
        let until = Some(utc("2026-12-05T06:00:00Z"));
        assert_eq!(go(&c, &first(Flow::Winback), noon), Decision::Wait { rule: Rule::RecentReturn, until });
    }
}
