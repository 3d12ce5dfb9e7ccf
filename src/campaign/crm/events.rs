//! CRM events (`POST /v1/events`): `{"id", "type", "at", "customer_id", ...}` plus the
//! subject's id (`order_id`, `return_id`, `ticket_id`) and the same fields as that
//! subject's import row. Pure: JSON in, the change to the CRM tables out.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::fields;
use super::files::column_text;
use super::rows::{Columns, Delivery, Order, Return, RowError, Ticket};

/// What an event changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `order.placed`: the order row.
    Order(Order),
    /// `order.cancelled`.
    OrderCancelled { order_id: String },
    /// `delivery.failed` (status `failed`) and `delivery.completed` (`delivered`).
    Delivery(Delivery),
    /// `pickup.scheduled`: the return row.
    Return(Return),
    /// `refund.initiated`: the return's refund fields.
    Refund { return_id: String, amount: Option<i64>, method: Option<String>, eta: Option<String> },
    /// `ticket.opened`: the ticket row.
    TicketOpened(Ticket),
    /// `ticket.closed`.
    TicketClosed { ticket_id: String },
    /// `customer.opted_out`: never called again, by any flow.
    OptedOut,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub customer_id: String,
    pub change: Change,
}

pub const TYPES: [&str; 9] = [
    "order.placed",
    "order.cancelled",
    "delivery.failed",
    "delivery.completed",
    "pickup.scheduled",
    "refund.initiated",
    "ticket.opened",
    "ticket.closed",
    "customer.opted_out",
];

fn required<'a>(body: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, RowError> {
    match body.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim()),
        Some(_) => Err(RowError::field(name, "must be a non-empty string")),
        None => Err(RowError::field(name, "required")),
    }
}

/// The event's fields as a subject row: `subject` (e.g. `order_id`) becomes the row's
/// `id`; `defaults` fill columns the event left out.
fn columns(body: &serde_json::Map<String, Value>, subject: Option<&str>, defaults: &[(&str, String)]) -> Columns {
    let mut map: std::collections::BTreeMap<String, String> = body
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "id" | "type" | "at"))
        .map(|(k, v)| (k.to_ascii_lowercase(), column_text(v.clone())))
        .collect();
    if let Some(subject) = subject {
        if let Some(id) = map.remove(subject) {
            map.insert("id".into(), id);
        }
    }
    for (k, v) in defaults {
        map.entry(k.to_string()).or_insert_with(|| v.clone());
    }
    Columns::new(map)
}

pub fn parse(value: &Value) -> Result<Event, RowError> {
    let Value::Object(body) = value else { return Err(RowError::row("an event is a JSON object")) };
    let id = required(body, "id")?.to_string();
    let kind = required(body, "type")?.to_string();
    let at = fields::time(required(body, "at")?).map_err(|e| RowError::field("at", e))?;
    let customer_id = required(body, "customer_id")?.to_string();
    let stamp = crate::storage::timestamp(at);
    let change = match kind.as_str() {
        "order.placed" => Change::Order(Order::read(columns(body, Some("order_id"), &[("placed_at", stamp)]))?),
        "order.cancelled" => Change::OrderCancelled { order_id: required(body, "order_id")?.into() },
        "delivery.failed" | "delivery.completed" => {
            let status = if kind == "delivery.failed" { "failed" } else { "delivered" };
            let mut defaults = vec![("status", status.to_string())];
            if status == "failed" {
                defaults.push(("failed_at", stamp));
            }
            Change::Delivery(Delivery::read(columns(body, None, &defaults))?)
        }
        "pickup.scheduled" => Change::Return(Return::read(columns(
            body,
            Some("return_id"),
            &[("status", "pickup_scheduled".to_string())],
        ))?),
        "refund.initiated" => {
            let mut c = columns(body, Some("return_id"), &[]);
            let amount = c.parsed("refund_amount", fields::amount)?;
            Change::Refund {
                return_id: required(body, "return_id")?.into(),
                amount,
                method: c.take("refund_method").map(|m| m.to_ascii_lowercase()),
                eta: c.take("refund_eta"),
            }
        }
        "ticket.opened" => Change::TicketOpened(Ticket::read(columns(
            body,
            Some("ticket_id"),
            &[("status", "open".to_string()), ("opened_at", stamp)],
        ))?),
        "ticket.closed" => Change::TicketClosed { ticket_id: required(body, "ticket_id")?.into() },
        "customer.opted_out" => Change::OptedOut,
        other => return Err(RowError::field("type", format!("{other:?} is not one of {}", TYPES.join(", ")))),
    };
    Ok(Event { id, kind, at, customer_id, change })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_order_placed_carries_the_order_columns() {
        let e = parse(&json!({
            "id": "ev1", "type": "order.placed", "at": "2026-12-01T10:00:00+05:30", "customer_id": "C1",
            "order_id": "O9", "payment": "COD", "amount": 499, "items": ["Mug x 2"], "gift_note": "for Ma",
        }))
        .unwrap();
        let Change::Order(o) = e.change else { panic!("{:?}", e.change) };
        assert_eq!((o.id.as_str(), o.customer_id.as_str(), o.payment.as_str()), ("O9", "C1", "cod"));
        assert_eq!((o.amount, o.items[0].qty, o.placed_at), (Some(49900), 2, e.at), "placed_at defaults to at");
        assert_eq!(o.extra["gift_note"], "for Ma");
    }

    #[test]
    fn the_other_types() {
        let base = |t: &str, extra: Value| {
            let mut v = json!({"id": "e", "type": t, "at": "2026-12-02T09:30:00Z", "customer_id": "C1"});
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            parse(&v)
        };
        let d = base("delivery.failed", json!({"order_id": "O1", "next_slots": "Fri 10-13; Sat 9-12"})).unwrap();
        let Change::Delivery(d) = d.change else { panic!() };
        assert_eq!((d.status.as_str(), d.next_slots.len(), d.failed_at.is_some()), ("failed", 2, true));
        let r = base("pickup.scheduled", json!({"return_id": "R1", "order_id": "O1", "pickup_date": "2026-12-04"}));
        assert!(matches!(r.unwrap().change, Change::Return(r) if r.id == "R1" && r.status == "pickup_scheduled"));
        let f = base("refund.initiated", json!({"return_id": "R1", "refund_amount": "899.5"})).unwrap();
        assert!(matches!(f.change, Change::Refund { amount: Some(89950), .. }));
        let t = base("ticket.opened", json!({"ticket_id": "T1"})).unwrap();
        assert!(matches!(t.change, Change::TicketOpened(t) if t.is_open()));
        assert_eq!(base("customer.opted_out", json!({})).unwrap().change, Change::OptedOut);
    }

    #[test]
    fn bad_events_name_their_field() {
        let field = |v: Value| parse(&v).unwrap_err().field;
        assert_eq!(field(json!({"type": "order.placed"})), Some("id".into()));
        let e = json!({"id": "e", "type": "order.shipped", "at": "2026-12-02T09:30:00Z", "customer_id": "C1"});
        assert_eq!(field(e), Some("type".into()));
        let e = json!({"id": "e", "type": "order.cancelled", "at": "today", "customer_id": "C1"});
        assert_eq!(field(e), Some("at".into()));
        let e = json!({"id": "e", "type": "order.cancelled", "at": "2026-12-02T09:30:00Z", "customer_id": "C1"});
        assert_eq!(field(e), Some("order_id".into()));
        assert!(parse(&json!([1])).is_err());
    }
}
