//! A seeded synthetic CRM for campaign simulations: customers across ten time zones
//! (+05:30 and +05:45 among them), some opted out; order histories with lapsed
//! customers (last order 55-88 days before the start, some of those returned); open
//! tickets and pending returns at import; and over the simulated days, events: COD
//! orders, failed deliveries, cancellations, pickups, refunds, tickets opening and
//! closing, opt-outs. `voxline campaign generate` writes it as import files plus
//! `events.jsonl`.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::sim::rng::Rng;

/// Zones and their country codes.
pub const ZONES: [(&str, &str); 10] = [
    ("Asia/Kolkata", "91"),
    ("Asia/Kathmandu", "977"),
    ("America/New_York", "1"),
    ("America/Los_Angeles", "1"),
    ("Europe/London", "44"),
    ("Asia/Tokyo", "81"),
    ("Australia/Sydney", "61"),
    ("Asia/Dubai", "971"),
    ("America/Sao_Paulo", "55"),
    ("Africa/Nairobi", "254"),
];

const CATEGORIES: [&str; 6] = ["fashion", "footwear", "electronics", "home", "beauty", "toys"];
const ITEMS: [&str; 6] = ["denim jacket", "running shoes", "earbuds", "table lamp", "face cream", "puzzle"];

#[derive(Debug, Clone)]
pub struct Options {
    pub customers: usize,
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub days: u32,
}

/// What was written, by kind.
#[derive(Debug, Default, serde::Serialize)]
pub struct Written {
    pub customers: usize,
    pub orders: usize,
    pub returns: usize,
    pub tickets: usize,
    pub events: usize,
}

struct Gen {
    rng: Rng,
    start: DateTime<Utc>,
    span: Duration,
}

impl Gen {
    fn chance(&mut self, p: f32) -> bool {
        self.rng.unit() < p
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.rng.next_u64() % from.len() as u64) as usize]
    }

    /// A moment in the simulated span.
    fn during(&mut self) -> DateTime<Utc> {
        self.start + Duration::seconds((self.rng.unit() as f64 * self.span.num_seconds() as f64) as i64)
    }

    fn days_before(&mut self, lo: i64, hi: i64) -> DateTime<Utc> {
        let secs = (lo * 86_400) + (self.rng.unit() as f64 * ((hi - lo) * 86_400) as f64) as i64;
        self.start - Duration::seconds(secs)
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    crate::storage::timestamp(t)
}

fn line(out: &mut impl Write, v: &Value) -> std::io::Result<()> {
    writeln!(out, "{v}")
}

/// Writes `customers.csv`, `orders.jsonl`, `returns.jsonl`, `tickets.jsonl` and
/// `events.jsonl` (in time order) into `dir`.
pub fn generate(options: &Options, dir: &Path) -> std::io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let file = |name: &str| std::fs::File::create(dir.join(name)).map(std::io::BufWriter::new);
    let (mut customers, mut orders, mut returns, mut tickets) =
        (file("customers.csv")?, file("orders.jsonl")?, file("returns.jsonl")?, file("tickets.jsonl")?);
    let mut events: Vec<(DateTime<Utc>, Value)> = Vec::new();
    let mut g = Gen { rng: Rng::new(options.seed), start: options.start, span: Duration::days(options.days as i64) };
    let mut n = Written::default();
    writeln!(customers, "id,name,phone,timezone,language,opted_out,tier")?;
    let mut event = |at: DateTime<Utc>, mut body: Value, n: &mut Written| {
        n.events += 1;
        body["id"] = json!(format!("ev{}", n.events));
        body["at"] = json!(stamp(at));
        events.push((at, body));
    };
    for i in 0..options.customers {
        let id = format!("C{i:06}");
        let (zone, cc) = g.pick(&ZONES);
        let opted_out = g.chance(0.02);
        let tier = if g.chance(0.1) { "gold" } else { "" };
        writeln!(customers, "{id},Customer {i},+{cc}{:010},{zone},en,{opted_out},{tier}", 7_000_000_000u64 + i as u64)?;
        n.customers += 1;
        // The order history: lapsed (55-88 days ago, so the 60-90 day window opens during
        // the run) or recent.
        let lapsed = g.chance(0.3);
        let placed = if lapsed { g.days_before(55, 88) } else { g.days_before(1, 50) };
        let category = g.pick(&CATEGORIES);
        let returned = lapsed && g.chance(0.2);
        let history = format!("{id}-H");
        let status = if returned { "returned" } else { "delivered" };
        line(
            &mut orders,
            &json!({"id": history, "customer_id": id, "placed_at": stamp(placed), "payment": "prepaid",
                "amount": 1299, "currency": "INR", "items": [format!("{} x 1", g.pick(&ITEMS))], "category": category,
                "status": status}),
        )?;
        n.orders += 1;
        if returned {
            let closed = placed + Duration::days(12);
            line(
                &mut returns,
                &json!({"id": format!("{id}-HR"), "order_id": history, "customer_id": id, "status": "closed",
                    "item": "old item", "closed_at": stamp(closed)}),
            )?;
            n.returns += 1;
        } else if !lapsed && g.chance(0.03) {
            // A return pending pickup at import: no win-back while it is open.
            let pickup = (options.start + Duration::days(2)).date_naive();
            line(
                &mut returns,
                &json!({"id": format!("{id}-PR"), "order_id": history, "customer_id": id,
                    "status": "pickup_scheduled", "item": "pending item", "pickup_date": pickup.to_string()}),
            )?;
            n.returns += 1;
        }
        if g.chance(0.01) {
            let opened = g.days_before(1, 5);
            line(
                &mut tickets,
                &json!({"id": format!("{id}-T0"), "customer_id": id, "status": "open", "opened_at": stamp(opened)}),
            )?;
            n.tickets += 1;
        }
        // Events during the run.
        if g.chance(0.3) {
            let at = g.during();
            let order = format!("{id}-O1");
            let item = g.pick(&ITEMS);
            event(
                at,
                json!({"type": "order.placed", "customer_id": id, "order_id": order, "payment": "cod",
                    "amount": 899, "currency": "INR", "items": [format!("{item} x 1")], "category": category,
                    "address": "12 MG Road, Bengaluru 560001", "status": "placed",
                    "expected_delivery": (at + Duration::days(3)).date_naive().to_string()}),
                &mut n,
            );
            if g.chance(0.25) {
                let failed = at + Duration::hours(24 + (g.rng.next_u64() % 48) as i64);
                let slots =
                    [failed + Duration::days(1), failed + Duration::days(2)].map(|d| d.date_naive().to_string());
                event(
                    failed,
                    json!({"type": "delivery.failed", "customer_id": id, "order_id": order,
                        "failure_reason": "customer not available", "next_slots": slots}),
                    &mut n,
                );
            } else if g.chance(0.05) {
                event(
                    at + Duration::hours(6),
                    json!({"type": "order.cancelled", "customer_id": id, "order_id": order}),
                    &mut n,
                );
            }
        }
        if !lapsed && g.chance(0.06) {
            let at = g.during();
            let ret = format!("{id}-R1");
            let pickup = (at + Duration::days(1 + (g.rng.next_u64() % 3) as i64)).date_naive();
            event(
                at,
                json!({"type": "pickup.scheduled", "customer_id": id, "return_id": ret, "order_id": history,
                    "item": g.pick(&ITEMS), "pickup_date": pickup.to_string(), "pickup_window": "10:00-14:00"}),
                &mut n,
            );
            if g.chance(0.6) {
                let refund = at + Duration::days(4);
                let eta = (refund + Duration::days(5)).date_naive().to_string();
                event(
                    refund,
                    json!({"type": "refund.initiated", "customer_id": id, "return_id": ret, "refund_amount": 1299,
                        "refund_method": "original payment method", "refund_eta": eta}),
                    &mut n,
                );
            }
        }
        if g.chance(0.03) {
            let opened = g.during();
            let ticket = format!("{id}-T1");
            event(opened, json!({"type": "ticket.opened", "customer_id": id, "ticket_id": ticket}), &mut n);
            if g.chance(0.7) {
                let closed = opened + Duration::hours(24 + (g.rng.next_u64() % 72) as i64);
                event(closed, json!({"type": "ticket.closed", "customer_id": id, "ticket_id": ticket}), &mut n);
            }
        }
        if g.chance(0.01) {
            let at = g.during();
            event(at, json!({"type": "customer.opted_out", "customer_id": id}), &mut n);
        }
    }
    events.sort_by_key(|e| e.0);
    let mut out = file("events.jsonl")?;
    for (_, e) in &events {
        line(&mut out, e)?;
    }
    for w in [&mut customers, &mut orders, &mut returns, &mut tickets, &mut out] {
        w.flush()?;
    }
    Ok(n)
}
