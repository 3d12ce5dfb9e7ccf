//! Triggers: what makes a call due. An event or a stored row becomes a [`Due`] attempt
//! for one flow and subject, with the time it may start, the deadline it promises and
//! the end of its useful life. A deadline outside the customer's calling window is
//! pushed to the window's next opening. Pure: times are passed in.

use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::crm::{Order, Return};
use super::policy::Flow;
use super::window::Calendar;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Due {
    pub flow: Flow,
    pub customer_id: String,
    /// The order, the return, or for win-back the customer.
    pub subject_id: String,
    /// What made it due (`order.placed`, `delivery.failed`, `pickup`, `refund.initiated`,
    /// `winback`).
    pub trigger: &'static str,
    pub not_before: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// No call at or after this (None: until the data says otherwise).
    pub expires: Option<DateTime<Utc>>,
    /// Win-back only: `lapsed_returned` or `lapsed`.
    pub segment: Option<&'static str>,
    pub last_category: Option<String>,
}

/// The start of a local day, as an instant.
fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let start = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    start.and_local_timezone(tz).earliest().map_or_else(|| start.and_utc(), |t| t.to_utc())
}

fn due(flow: Flow, trigger: &'static str, customer: &str, subject: &str, start: DateTime<Utc>) -> Due {
    Due {
        flow,
        customer_id: customer.into(),
        subject_id: subject.into(),
        trigger,
        not_before: start,
        deadline: start,
        expires: None,
        segment: None,
        last_category: None,
    }
}

/// Within `within` of `at`, inside the window.
fn soon(cal: &Calendar, tz: Tz, mut d: Due, at: DateTime<Utc>, within: Duration) -> Due {
    d.not_before = cal.next_open(tz, at);
    d.deadline = cal.next_open(tz, at + within).max(d.not_before);
    d
}

/// A placed cash-on-delivery order: a `cod` call within 10 minutes. Other payments: none.
pub fn order_placed(cal: &Calendar, tz: Tz, order: &Order, at: DateTime<Utc>) -> Option<Due> {
    (order.payment == "cod").then(|| {
        let d = due(Flow::Cod, "order.placed", &order.customer_id, &order.id, at);
        soon(cal, tz, d, at, Duration::minutes(10))
    })
}

/// A failed delivery: a `delivery_retry` call within 60 minutes.
pub fn delivery_failed(cal: &Calendar, tz: Tz, customer_id: &str, order_id: &str, failed_at: DateTime<Utc>) -> Due {
    let d = due(Flow::DeliveryRetry, "delivery.failed", customer_id, order_id, failed_at);
    soon(cal, tz, d, failed_at, Duration::hours(1))
}

/// An initiated refund: a `refund_status` call within 4 hours.
pub fn refund_initiated(cal: &Calendar, tz: Tz, customer_id: &str, return_id: &str, at: DateTime<Utc>) -> Due {
    let d = due(Flow::RefundStatus, "refund.initiated", customer_id, return_id, at);
    soon(cal, tz, d, at, Duration::hours(4))
}

/// A scheduled pickup: a `return_pickup` call the day before its date (local), by that
/// day's close; none after the pickup date. `now` is when it was scheduled: a pickup
/// for tomorrow scheduled late today is called at the next opening still before it.
pub fn pickup(cal: &Calendar, tz: Tz, ret: &Return, now: DateTime<Utc>) -> Option<Due> {
    let date = ret.pickup_date?;
    let eve = date.checked_sub_days(Days::new(1))?;
    let expires = local_midnight(tz, date.checked_add_days(Days::new(1))?);
    let start = cal.next_open(tz, local_midnight(tz, eve).max(now));
    if start >= expires {
        return None;
    }
    let mut d = due(Flow::ReturnPickup, "pickup", &ret.customer_id, &ret.id, start);
    // By the close of the day before.
    d.deadline = latest_before(cal, tz, eve).unwrap_or(start).max(start);
    d.expires = Some(expires);
    Some(d)
}

/// The last moment of `day`'s window (its end less a minute), if the day has one.
fn latest_before(cal: &Calendar, tz: Tz, day: NaiveDate) -> Option<DateTime<Utc>> {
    let end = day.and_time(cal.hours.end).and_local_timezone(tz).earliest()?.to_utc() - Duration::minutes(1);
    cal.check(tz, end).is_ok().then_some(end)
}

/// What win-back needs to know of a customer: the last order, and whether it was
/// returned.
#[derive(Debug, Clone)]
pub struct Lapsed {
    pub customer_id: String,
    pub tz: Tz,
    pub placed_at: DateTime<Utc>,
    pub status: String,
    pub category: Option<String>,
    /// The last order has a return.
    pub returned: bool,
}

/// The daily win-back run at `now`: customers whose last order is 60 to 90 days old
/// (local dates), segmented `lapsed_returned` (last order returned) or `lapsed`, due
/// today inside the window.
pub fn winback(cal: &Calendar, customers: &[Lapsed], now: DateTime<Utc>) -> Vec<Due> {
    customers
        .iter()
        .filter_map(|c| {
            let age = (Calendar::local_date(c.tz, now) - Calendar::local_date(c.tz, c.placed_at)).num_days();
            if !(60..=90).contains(&age) {
                return None;
            }
            let start = cal.next_open(c.tz, now);
            let mut d = due(Flow::Winback, "winback", &c.customer_id, &c.customer_id, start);
            d.deadline = latest_before(cal, c.tz, Calendar::local_date(c.tz, start)).unwrap_or(start).max(start);
            d.segment = Some(if c.returned || c.status == "returned" { "lapsed_returned" } else { "lapsed" });
            d.last_category = c.category.clone();
            Some(d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::crm::{Columns, Order, Return};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn order(payment: &str, placed: &str) -> Order {
        let cols =
            [("id", "O1"), ("customer_id", "C1"), ("placed_at", placed), ("payment", payment), ("category", "shoes")];
        Order::read(Columns::new(cols.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())).unwrap()
    }

    fn pickup_on(date: &str) -> Return {
        let cols = [
            ("id", "R1"),
            ("order_id", "O1"),
            ("customer_id", "C1"),
            ("status", "pickup_scheduled"),
            ("pickup_date", date),
        ];
        Return::read(Columns::new(cols.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())).unwrap()
    }

    const IST: Tz = Tz::Asia__Kolkata;

    #[test]
    fn a_cod_order_is_called_within_ten_minutes_inside_the_window() {
        let cal = Calendar::default();
        let at = utc("2026-12-01T05:00:00Z"); // 10:30 IST
        let d = order_placed(&cal, IST, &order("cod", "2026-12-01T05:00:00Z"), at).unwrap();
        assert_eq!((d.flow, d.not_before, d.deadline), (Flow::Cod, at, at + Duration::minutes(10)));
        assert!(order_placed(&cal, IST, &order("prepaid", "2026-12-01T05:00:00Z"), at).is_none());
        // Placed at 23:00 IST: due at 09:00 the next morning.
        let night = utc("2026-12-01T17:30:00Z");
        let d = order_placed(&cal, IST, &order("cod", "2026-12-01T17:30:00Z"), night).unwrap();
        assert_eq!((d.not_before, d.deadline), (utc("2026-12-02T03:30:00Z"), utc("2026-12-02T03:30:00Z")));
        // Placed at 20:55 IST: may still go before 21:00, else at the opening.
        let late = utc("2026-12-01T15:25:00Z");
        let d = order_placed(&cal, IST, &order("cod", "2026-12-01T15:25:00Z"), late).unwrap();
        assert_eq!((d.not_before, d.deadline), (late, utc("2026-12-02T03:30:00Z")));
    }

    #[test]
    fn deliveries_and_refunds() {
        let cal = Calendar::default();
        let failed = utc("2026-12-01T09:00:00Z"); // 14:30 IST
        let d = delivery_failed(&cal, IST, "C1", "O1", failed);
        assert_eq!((d.flow, d.deadline), (Flow::DeliveryRetry, failed + Duration::hours(1)));
        let r = refund_initiated(&cal, IST, "C1", "R1", utc("2026-12-01T13:00:00Z")); // 18:30 IST
        assert_eq!(r.deadline, utc("2026-12-02T03:30:00Z"), "22:30 IST is pushed to the next opening");
    }

    #[test]
    fn a_pickup_is_called_the_day_before() {
        let cal = Calendar::default();
        let d = pickup(&cal, IST, &pickup_on("2026-12-04"), utc("2026-12-01T10:00:00Z")).unwrap();
        assert_eq!(d.not_before, utc("2026-12-03T03:30:00Z"), "09:00 IST on the 3rd");
        assert_eq!(d.deadline, utc("2026-12-03T15:29:00Z"), "20:59 IST on the 3rd");
        assert_eq!(d.expires, Some(utc("2026-12-04T18:30:00Z")), "nothing after the pickup date");
        // Scheduled on the eve at 20:00 IST: called now.
        let eve = utc("2026-12-03T14:30:00Z");
        assert_eq!(pickup(&cal, IST, &pickup_on("2026-12-04"), eve).unwrap().not_before, eve);
        // Scheduled after the pickup date: nothing.
        assert!(pickup(&cal, IST, &pickup_on("2026-12-04"), utc("2026-12-05T04:00:00Z")).is_none());
    }

    #[test]
    fn winback_selects_60_to_90_days_and_segments() {
        let cal = Calendar::default();
        let now = utc("2026-12-01T04:00:00Z"); // 09:30 IST
        let c = |id: &str, placed: &str, returned| Lapsed {
            customer_id: id.into(),
            tz: IST,
            placed_at: utc(placed),
            status: "delivered".into(),
            category: Some("shoes".into()),
            returned,
        };
        let lapsed = [
            c("A", "2026-09-15T06:00:00Z", true),  // 77 days
            c("B", "2026-10-02T06:00:00Z", false), // 60
            c("C", "2026-11-01T06:00:00Z", false), // 30
            c("D", "2026-08-20T06:00:00Z", false), // 103
        ];
        let due = winback(&cal, &lapsed, now);
        let got: Vec<(&str, Option<&str>)> = due.iter().map(|d| (d.subject_id.as_str(), d.segment)).collect();
        assert_eq!(got, [("A", Some("lapsed_returned")), ("B", Some("lapsed"))]);
        assert_eq!(due[0].last_category.as_deref(), Some("shoes"));
        assert_eq!((due[0].not_before, due[0].deadline), (now, utc("2026-12-01T15:29:00Z")));
    }
}
