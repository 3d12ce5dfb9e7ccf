//! The simulation's own checker, written against its output files and the CRM input,
//! not the policy's code: every dial inside its flow's local hours and off holidays; no
//! dial to an opted-out customer (import, event, or an earlier `opted_out` outcome), to
//! a number that was a wrong number, or while a ticket was open; at most `per_day` dials
//! a local day and `per_week` in any 7 days per customer; one call at a time per
//! customer; no win-back with a return open or closed under the cooldown; nothing after
//! a final outcome for the subject, after a COD order's cancellation or failed delivery,
//! or after a pickup's date; retries at a local hour no earlier attempt used and a
//! gap after the last, no more than `max_attempts` (callbacks aside), none after
//! `max_failures`; and each dialled attempt's outcome delivered exactly once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde_json::Value;

use super::run::{AttemptLine, OutboxLine};
use crate::campaign::policy::Flow;
use crate::campaign::schedule::Rules;

const FINAL: [&str; 6] = ["confirmed", "cancelled", "rescheduled", "declined", "interested", "acknowledged"];

#[derive(Debug, Clone, serde::Serialize)]
pub struct Violation {
    pub rule: &'static str,
    pub attempt_id: String,
    pub detail: String,
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// A ticket: (customer, opened, closed).
type TicketFacts = (String, DateTime<Utc>, Option<DateTime<Utc>>);

/// A return: (customer, appeared, closed, pickup date).
type ReturnFacts = (String, DateTime<Utc>, Option<DateTime<Utc>>, Option<NaiveDate>);

/// What the CRM input says over time, as the checker needs it.
#[derive(Default)]
struct Facts {
    /// Opted out from this moment (the import's flag: from the beginning).
    opted_out: HashMap<String, DateTime<Utc>>,
    /// Ticket id -> (customer, opened, closed).
    tickets: HashMap<String, TicketFacts>,
    /// Return id -> (customer, appeared, closed, pickup date).
    returns: HashMap<String, ReturnFacts>,
    /// COD order id -> when it stopped needing a confirmation call (cancelled, failed delivery).
    cod_over: HashMap<String, DateTime<Utc>>,
}

fn rows(dir: &Path, kind: &str) -> Vec<Value> {
    let jsonl = std::fs::read_to_string(dir.join(format!("{kind}.jsonl"))).unwrap_or_default();
    let mut out: Vec<Value> = jsonl.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    if let Ok(mut reader) = csv::Reader::from_path(dir.join(format!("{kind}.csv"))) {
        let headers = reader.headers().cloned().unwrap_or_default();
        for record in reader.records().flatten() {
            let row = headers.iter().zip(record.iter()).map(|(h, v)| (h.to_string(), Value::String(v.into())));
            out.push(Value::Object(row.collect()));
        }
    }
    out
}

fn text<'a>(row: &'a Value, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or("")
}

fn facts(dir: &Path) -> Facts {
    let mut f = Facts::default();
    let dawn = DateTime::<Utc>::MIN_UTC;
    for c in rows(dir, "customers") {
        if matches!(text(&c, "opted_out").to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "y") {
            f.opted_out.insert(text(&c, "id").into(), dawn);
        }
    }
    for t in rows(dir, "tickets") {
        let opened = time(text(&t, "opened_at")).unwrap_or(dawn);
        let status = text(&t, "status");
        let closed = time(text(&t, "closed_at")).or((status == "closed").then_some(opened));
        f.tickets.insert(text(&t, "id").into(), (text(&t, "customer_id").into(), opened, closed));
    }
    for r in rows(dir, "returns") {
        let date = NaiveDate::parse_from_str(text(&r, "pickup_date"), "%Y-%m-%d").ok();
        f.returns
            .insert(text(&r, "id").into(), (text(&r, "customer_id").into(), dawn, time(text(&r, "closed_at")), date));
    }
    for e in rows(dir, "events") {
        let (Some(at), customer) = (time(text(&e, "at")), text(&e, "customer_id").to_string()) else { continue };
        match text(&e, "type") {
            "customer.opted_out" => {
                f.opted_out.entry(customer).or_insert(at);
            }
            "ticket.opened" => {
                f.tickets.insert(text(&e, "ticket_id").into(), (customer, at, None));
            }
            "ticket.closed" => {
                if let Some(t) = f.tickets.get_mut(text(&e, "ticket_id")) {
                    t.2 = Some(at);
                }
            }
            "pickup.scheduled" => {
                let date = NaiveDate::parse_from_str(text(&e, "pickup_date"), "%Y-%m-%d").ok();
                f.returns.insert(text(&e, "return_id").into(), (customer, at, None, date));
            }
            "order.cancelled" | "delivery.failed" => {
                f.cod_over.entry(text(&e, "order_id").into()).or_insert(at);
            }
            _ => {}
        }
    }
    f
}

/// Checks a simulation's output in `out` against the CRM in `crm`.
pub fn check(crm: &Path, attempts: &[AttemptLine], outbox: &[OutboxLine], rules: &Rules) -> Vec<Violation> {
    let f = facts(crm);
    let mut tickets: HashMap<&str, Vec<(&String, &TicketFacts)>> = HashMap::new();
    for (id, t) in &f.tickets {
        tickets.entry(t.0.as_str()).or_default().push((id, t));
    }
    let mut returns: HashMap<&str, Vec<(&String, &ReturnFacts)>> = HashMap::new();
    for (id, r) in &f.returns {
        returns.entry(r.0.as_str()).or_default().push((id, r));
    }
    let mut v = Vec::new();
    let mut flag = |rule: &'static str, a: &AttemptLine, detail: String| {
        v.push(Violation { rule, attempt_id: a.attempt_id.clone(), detail })
    };
    let dialed = |a: &AttemptLine| time(&a.dialed_at).expect("dialed_at");
    let ended = |a: &AttemptLine| a.ended_at.as_deref().and_then(time);
    let mut by_customer: BTreeMap<&str, Vec<&AttemptLine>> = BTreeMap::new();
    let mut by_subject: BTreeMap<(&str, &str), Vec<&AttemptLine>> = BTreeMap::new();
    let mut wrong_numbers: HashMap<&str, DateTime<Utc>> = HashMap::new();
    for a in attempts {
        by_customer.entry(&a.customer_id).or_default().push(a);
        by_subject.entry((&a.flow, &a.subject_id)).or_default().push(a);
        if a.outcome.as_deref() == Some("wrong_number") {
            let at = ended(a).unwrap_or(dialed(a));
            wrong_numbers.entry(&a.phone).and_modify(|t| *t = (*t).min(at)).or_insert(at);
        }
    }
    for a in attempts {
        let at = dialed(a);
        let Some(local) = DateTime::parse_from_rfc3339(&a.local_time).ok() else {
            flag("window", a, format!("local_time {:?} unreadable", a.local_time));
            continue;
        };
        if local.with_timezone(&Utc) != at {
            flag("window", a, format!("local_time {} is not dialed_at {}", a.local_time, a.dialed_at));
        }
        let Some(flow) = Flow::parse(&a.flow) else {
            flag("flow", a, format!("unknown flow {:?}", a.flow));
            continue;
        };
        let cal = rules.calendar(flow);
        let clock = local.time();
        if clock < cal.hours.start || clock >= cal.hours.end {
            flag("window", a, format!("{} dialled at local {}", a.flow, a.local_time));
        }
        if cal.holidays.contains(&local.date_naive()) {
            flag("holiday", a, format!("dialled on {}", local.date_naive()));
        }
        if f.opted_out.get(&a.customer_id).is_some_and(|t| *t <= at) {
            flag("opted_out", a, format!("customer {} had opted out", a.customer_id));
        }
        if wrong_numbers.get(a.phone.as_str()).is_some_and(|t| *t <= at) {
            flag("wrong_number", a, format!("{} was a wrong number", a.phone));
        }
        for (id, (_, opened, closed)) in tickets.get(a.customer_id.as_str()).into_iter().flatten() {
            if *opened <= at && closed.is_none_or(|c| c > at) {
                flag("open_ticket", a, format!("ticket {id} was open"));
            }
        }
        match flow {
            Flow::Winback => {
                for (id, (_, appeared, closed, _)) in returns.get(a.customer_id.as_str()).into_iter().flatten() {
                    let blocking = closed.is_none_or(|c| c + rules.limits.return_cooldown > at);
                    if *appeared <= at && blocking {
                        flag("active_return", a, format!("return {id} was open or recently closed"));
                    }
                }
            }
            Flow::Cod if f.cod_over.get(&a.subject_id).is_some_and(|t| *t <= at) => {
                flag("expired", a, format!("order {} was cancelled or its delivery failed", a.subject_id));
            }
            Flow::ReturnPickup => {
                let pickup = f.returns.get(&a.subject_id).and_then(|r| r.3);
                if pickup.is_some_and(|d| local.date_naive() > d) {
                    flag("expired", a, format!("pickup date {pickup:?} reached"));
                }
            }
            _ => {}
        }
    }
    // Per customer: caps and one call at a time.
    for list in by_customer.values() {
        let mut per_day: HashMap<NaiveDate, usize> = HashMap::new();
        for (i, a) in list.iter().enumerate() {
            let Some(local) = DateTime::parse_from_rfc3339(&a.local_time).ok() else { continue };
            let n = per_day.entry(local.date_naive()).or_default();
            *n += 1;
            if *n > rules.limits.per_day {
                flag("daily_cap", a, format!("dial {n} on local {}", local.date_naive()));
            }
            let at = dialed(a);
            let week = list[..=i].iter().filter(|b| dialed(b) > at - Duration::days(7)).count();
            if week > rules.limits.per_week {
                flag("weekly_cap", a, format!("dial {week} in 7 days"));
            }
            if let Some(prev) = list[..i].iter().find(|b| ended(b).is_none_or(|e| e > at)) {
                flag("one_call_at_a_time", a, format!("attempt {} was still on the line", prev.attempt_id));
            }
        }
    }
    // Per subject and flow: responded, retries, failures.
    for list in by_subject.values() {
        for (i, a) in list.iter().enumerate() {
            let at = dialed(a);
            let earlier = &list[..i];
            if let Some(done) = earlier.iter().find(|b| b.outcome.as_deref().is_some_and(|o| FINAL.contains(&o))) {
                flag("responded", a, format!("attempt {} ended {:?}", done.attempt_id, done.outcome));
            }
            let failures = earlier.iter().filter(|b| b.result.as_deref() == Some("failed")).count() as u32;
            if failures >= rules.limits.max_failures {
                flag("failures", a, format!("{failures} failed dials before"));
            }
            if a.trigger == "retry" {
                let hour = |b: &AttemptLine| DateTime::parse_from_rfc3339(&b.local_time).ok().map(|t| t.hour());
                let mine = hour(a);
                if earlier.iter().any(|b| hour(b) == mine) {
                    flag("new_hour", a, format!("a retry at local hour {mine:?} already used"));
                }
                if let Some(last) = earlier.iter().filter_map(|b| ended(b)).max() {
                    if at < last + rules.limits.retry_gap {
                        flag("retry_gap", a, format!("{} after the last attempt", at - last));
                    }
                }
            }
            let counted = list[..=i].iter().filter(|b| b.trigger != "callback").count() as u32;
            if a.trigger != "callback" && counted > rules.limits.max_attempts {
                flag("max_attempts", a, format!("attempt {counted}"));
            }
        }
    }
    // The outbox: every dialled attempt's outcome exactly once, nothing else.
    let mut delivered: HashMap<&str, usize> = HashMap::new();
    for o in outbox {
        *delivered.entry(&o.attempt_id).or_default() += 1;
    }
    let known: HashSet<&str> = attempts.iter().map(|a| a.attempt_id.as_str()).collect();
    for a in attempts {
        match delivered.get(a.attempt_id.as_str()) {
            Some(1) => {}
            n => flag("outbox", a, format!("delivered {} times", n.copied().unwrap_or(0))),
        }
    }
    for o in outbox.iter().filter(|o| !known.contains(o.attempt_id.as_str())) {
        v.push(Violation {
            rule: "outbox",
            attempt_id: o.attempt_id.clone(),
            detail: "no such dialled attempt".into(),
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        crate::server::Config::default().campaign.rules()
    }

    fn attempt(id: &str, customer: &str, flow: &str, subject: &str, dialed: &str, local: &str) -> AttemptLine {
        let end = time(dialed).unwrap() + Duration::minutes(2);
        AttemptLine {
            attempt_id: id.into(),
            customer_id: customer.into(),
            flow: flow.into(),
            subject_id: subject.into(),
            attempt_no: 1,
            trigger: "order.placed".into(),
            dialed_at: dialed.into(),
            local_time: local.into(),
            result: Some("no_answer".into()),
            outcome: None,
            callback_time: None,
            ended_at: Some(crate::storage::timestamp(end)),
            phone: format!("+9198{customer}"),
        }
    }

    fn delivered(a: &AttemptLine) -> OutboxLine {
        OutboxLine {
            attempt_id: a.attempt_id.clone(),
            customer_id: a.customer_id.clone(),
            flow: a.flow.clone(),
            outcome: "no_answer".into(),
            delivered_at: a.dialed_at.clone(),
            tries: 1,
        }
    }

    /// Each rule the checker knows, broken once by hand-made output: it finds each, and
    /// nothing in a clean run.
    #[test]
    fn every_broken_rule_is_found() {
        let dir = std::env::temp_dir().join(format!("voxline-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,name,phone,timezone,language,opted_out\nOUT,O,+919800000001,Asia/Kolkata,en,true\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("tickets.jsonl"),
            r#"{"id":"T1","customer_id":"TKT","status":"open","opened_at":"2026-12-01T00:00:00Z"}"#,
        )
        .unwrap();
        std::fs::write(dir.join("events.jsonl"), r#"{"id":"e1","type":"order.cancelled","at":"2026-12-01T05:00:00Z","customer_id":"CAN","order_id":"O-CAN"}"#).unwrap();
        let ok = attempt("ok", "OK", "cod", "O-OK", "2026-12-01T05:00:00Z", "2026-12-01T10:30:00+05:30");
        let clean = check(&dir, std::slice::from_ref(&ok), &[delivered(&ok)], &rules());
        assert!(clean.is_empty(), "{clean:?}");

        let mut attempts = vec![
            attempt("night", "N", "cod", "O-N", "2026-12-01T17:00:00Z", "2026-12-01T22:30:00+05:30"),
            attempt("out", "OUT", "cod", "O-OUT", "2026-12-01T05:00:00Z", "2026-12-01T10:30:00+05:30"),
            attempt("tkt", "TKT", "cod", "O-T", "2026-12-01T05:00:00Z", "2026-12-01T10:30:00+05:30"),
            attempt("can", "CAN", "cod", "O-CAN", "2026-12-01T06:00:00Z", "2026-12-01T11:30:00+05:30"),
        ];
        // Three dials in one local day, the second while the first was on the line.
        let dials = [("05:00", "10:30"), ("05:01", "10:31"), ("09:00", "14:30")];
        for (i, (utc, local)) in dials.iter().enumerate() {
            let (dialed, local) = (format!("2026-12-02T{utc}:00Z"), format!("2026-12-02T{local}:00+05:30"));
            attempts.push(attempt(&format!("cap{i}"), "CAP", "cod", &format!("O-CAP{i}"), &dialed, &local));
        }
        // A retry at the hour its first attempt used; a confirmed subject called again.
        let mut first = attempt("r1", "R", "cod", "O-R", "2026-12-03T05:00:00Z", "2026-12-03T10:30:00+05:30");
        first.result = Some("answered".into());
        first.outcome = Some("confirmed".into());
        let mut retry = attempt("r2", "R", "cod", "O-R", "2026-12-04T05:10:00Z", "2026-12-04T10:40:00+05:30");
        retry.trigger = "retry".into();
        attempts.extend([first, retry]);
        let mut outbox: Vec<OutboxLine> = attempts.iter().map(delivered).collect();
        outbox.push(delivered(&attempts[0]));
        outbox.retain(|o| o.attempt_id != "tkt");
        let found = check(&dir, &attempts, &outbox, &rules());
        let rules_found: HashSet<&str> = found.iter().map(|v| v.rule).collect();
        for rule in [
            "window",
            "opted_out",
            "open_ticket",
            "expired",
            "daily_cap",
            "one_call_at_a_time",
            "responded",
            "new_hour",
            "outbox",
        ] {
            assert!(rules_found.contains(rule), "{rule} not found: {found:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
