//! Scheduling one due attempt: the policy run from its start time forward, and every
//! rule that deferred or stopped it, as recorded for `voxline why`. Pure.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::policy::{self, Attempt, Customer, Decision, Limits, Rule};
use super::triggers::Due;
use super::window::Calendar;

/// The attempt's state after scheduling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Will be dialled at `scheduled_at` (checked again then).
    Queued,
    /// Waits on data (a ticket closing, a call ending, a higher-priority flow).
    Waiting,
    /// Never dialled.
    Blocked,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Waiting => "waiting",
            State::Blocked => "blocked",
        }
    }
}

/// The policy's settings: each flow's calendar and the limits.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub calendars: std::collections::BTreeMap<super::policy::Flow, Calendar>,
    pub limits: Limits,
}

impl Rules {
    pub fn calendar(&self, flow: super::policy::Flow) -> Calendar {
        self.calendars.get(&flow).cloned().unwrap_or_default()
    }
}

/// One recorded decision: at which moment, what, by which rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub at: DateTime<Utc>,
    /// `dial`, `wait` or `never`.
    pub decision: &'static str,
    pub rule: Option<Rule>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub state: State,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub steps: Vec<Step>,
}

/// Plans `due` as attempt `attempt_no` (a callback the customer asked for when
/// `callback`), deciding from `max(now, not_before)` on.
pub fn plan(
    cal: &Calendar,
    limits: &Limits,
    customer: &Customer,
    due: &Due,
    (attempt_no, callback): (u32, bool),
    now: DateTime<Utc>,
) -> Plan {
    let attempt = Attempt { flow: due.flow, attempt_no, callback, expires: due.expires };
    let from = now.max(due.not_before);
    let (decision, at, deferred) = policy::earliest(cal, limits, customer, &attempt, from);
    // Replay the deferrals to record where each one let go.
    let mut steps = Vec::new();
    let mut t = from;
    for rule in deferred {
        if let Decision::Wait { until: Some(until), .. } = policy::decide(cal, limits, customer, &attempt, t) {
            steps.push(Step { at: t, decision: "wait", rule: Some(rule), until: Some(until) });
            t = until;
        }
    }
    let (state, scheduled_at, last) = match decision {
        Decision::Dial => (State::Queued, Some(at), Step { at, decision: "dial", rule: None, until: None }),
        Decision::Wait { rule, until } => {
            (State::Waiting, None, Step { at, decision: "wait", rule: Some(rule), until })
        }
        Decision::Never { rule } => {
            (State::Blocked, None, Step { at, decision: "never", rule: Some(rule), until: None })
        }
    };
    steps.push(last);
    Plan { state, scheduled_at, steps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::policy::Flow;
    use chrono_tz::Tz;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn due(at: &str) -> Due {
        Due {
            flow: Flow::Cod,
            customer_id: "C1".into(),
            subject_id: "O1".into(),
            trigger: "order.placed",
            not_before: utc(at),
            deadline: utc(at),
            expires: None,
            segment: None,
            last_category: None,
        }
    }

    #[test]
    fn deferrals_are_recorded_with_their_rules() {
        let (cal, limits) = (Calendar::default(), Limits::default());
        let c = Customer { tz: Some(Tz::Asia__Kolkata), ..Default::default() };
        // 07:30 IST: waits for the window, then dials at 09:00.
        let p = plan(&cal, &limits, &c, &due("2026-12-01T02:00:00Z"), (1, false), utc("2026-12-01T02:00:00Z"));
        assert_eq!((p.state, p.scheduled_at), (State::Queued, Some(utc("2026-12-01T03:30:00Z"))));
        let rules: Vec<(&str, Option<Rule>)> = p.steps.iter().map(|s| (s.decision, s.rule)).collect();
        assert_eq!(rules, [("wait", Some(Rule::Window)), ("dial", None)]);
        assert_eq!(p.steps[0].until, Some(utc("2026-12-01T03:30:00Z")));

        let opted = Customer { opted_out: true, ..c.clone() };
        let p = plan(&cal, &limits, &opted, &due("2026-12-01T06:00:00Z"), (1, false), utc("2026-12-01T06:00:00Z"));
        assert_eq!((p.state, p.steps[0].rule), (State::Blocked, Some(Rule::OptedOut)));
        let ticket = Customer { open_ticket: true, ..c };
        let p = plan(&cal, &limits, &ticket, &due("2026-12-01T06:00:00Z"), (1, false), utc("2026-12-01T06:00:00Z"));
        assert_eq!((p.state, p.steps[0].rule, p.scheduled_at), (State::Waiting, Some(Rule::OpenTicket), None));
    }
}
