//! A claimed attempt's call context, built from the stored CRM rows: what the flow's
//! prompts read (`customer`, `order`, `return`, `delivery`, `winback`, `call.now`), in the
//! shape the flows take (`audio-fixtures/calls/ctx_full.json`). A row's extra CRM columns
//! come along under its own key. Pure.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use super::policy::Flow;

/// The stored rows an attempt's call reads (as `Store::crm_row` returns them).
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub customer: Value,
    pub order: Option<Value>,
    pub ret: Option<Value>,
    pub delivery: Option<Value>,
}

/// Which rows a flow's subject names: (order id, return id).
pub fn subject_rows(flow: Flow, subject_id: &str) -> (Option<String>, Option<String>) {
    match flow {
        Flow::Cod | Flow::DeliveryRetry => (Some(subject_id.to_string()), None),
        Flow::ReturnPickup | Flow::RefundStatus => (None, Some(subject_id.to_string())),
        Flow::Winback => (None, None),
    }
}

/// Minor units (paise, cents) as the prompts speak them: "1499", "1499.50".
fn major(minor: &Value) -> Value {
    match minor.as_i64() {
        Some(n) if n % 100 == 0 => Value::String((n / 100).to_string()),
        Some(n) => Value::String(format!("{}.{:02}", n / 100, (n % 100).abs())),
        None => Value::Null,
    }
}

/// A column stored as JSON text (`items`, `next_slots`, `extra`).
fn parsed(row: &Value, column: &str) -> Value {
    row.get(column).and_then(Value::as_str).and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null)
}

/// The named columns of a row, then its extra CRM columns (never over a named one).
fn pick(row: &Value, columns: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    for c in columns {
        out.insert(c.to_string(), row.get(*c).cloned().unwrap_or(Value::Null));
    }
    if let Value::Object(extra) = parsed(row, "extra") {
        for (k, v) in extra {
            out.entry(k).or_insert(v);
        }
    }
    out
}

/// The call's context for `flow` at `now`. `attempt` is the attempt's own context (a
/// win-back's segment and last category); `offers` maps a category to its win-back
/// offer (`default` for the rest).
pub fn call_context(
    flow: Flow,
    rows: &Rows,
    attempt: &Value,
    now: DateTime<Utc>,
    offers: &BTreeMap<String, String>,
) -> Result<Value, String> {
    let c = &rows.customer;
    let zone = c.get("timezone").and_then(Value::as_str).ok_or("the customer has no time zone")?;
    let tz = Tz::from_str(zone).map_err(|_| format!("the customer's time zone {zone:?} is unknown"))?;
    let mut ctx = json!({
        "customer": pick(c, &["id", "name", "phone", "timezone", "language"]),
        "call": {"now": now.with_timezone(&tz).format("%Y-%m-%dT%H:%M:%S%:z").to_string()},
    });
    if let Some(o) = &rows.order {
        let mut order =
            pick(o, &["id", "payment", "currency", "category", "address", "status", "expected_delivery", "placed_at"]);
        order.insert("items".into(), parsed(o, "items"));
        order.insert("amount".into(), major(o.get("amount").unwrap_or(&Value::Null)));
        ctx["order"] = Value::Object(order);
    }
    if let Some(r) = &rows.ret {
        let mut ret = pick(
            r,
            &["id", "order_id", "item", "status", "pickup_date", "pickup_window", "refund_method", "refund_eta"],
        );
        ret.insert("refund_amount".into(), major(r.get("refund_amount").unwrap_or(&Value::Null)));
        ctx["return"] = Value::Object(ret);
    }
    if let Some(d) = &rows.delivery {
        let mut delivery = pick(d, &["status", "failed_at", "failure_reason"]);
        delivery.insert("next_slots".into(), parsed(d, "next_slots"));
        ctx["delivery"] = Value::Object(delivery);
    }
    let needs = match flow {
        Flow::Cod => rows.order.is_some(),
        Flow::DeliveryRetry => rows.order.is_some() && rows.delivery.is_some(),
        Flow::ReturnPickup | Flow::RefundStatus => rows.ret.is_some(),
        Flow::Winback => true,
    };
    if !needs {
        return Err(format!("the {} call's CRM rows are missing", flow.name()));
    }
    if flow == Flow::Winback {
        let category = attempt.get("last_category").and_then(Value::as_str).unwrap_or("");
        let offer = offers.get(category).or_else(|| offers.get("default")).cloned().unwrap_or_default();
        ctx["winback"] = json!({
            "segment": attempt.get("segment").cloned().unwrap_or(json!("lapsed")),
            "last_category": category,
            "offer": offer,
        });
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T05:35:00Z").unwrap().with_timezone(&Utc)
    }

    fn customer() -> Value {
        json!({"id": "C1", "name": "Priya Sharma", "phone": "+919812345678", "timezone": "Asia/Kolkata",
               "language": "en-IN", "opted_out": 0, "extra": "{\"tier\":\"gold\"}"})
    }

    #[test]
    fn a_cod_call_reads_the_order_as_the_flow_expects() {
        let order = json!({"id": "ORD-1042", "customer_id": "C1", "payment": "cod", "amount": 149900,
            "currency": "INR", "items": "[{\"name\":\"running shoes\",\"qty\":1}]", "address": "12 MG Road",
            "status": "placed", "expected_delivery": "2026-11-28", "extra": "{}"});
        let rows = Rows { customer: customer(), order: Some(order), ..Default::default() };
        let ctx = call_context(Flow::Cod, &rows, &json!({}), now(), &BTreeMap::new()).unwrap();
        assert_eq!(ctx["call"]["now"], "2026-11-26T11:05:00+05:30");
        assert_eq!(ctx["order"]["amount"], "1499");
        assert_eq!(ctx["order"]["items"][0]["name"], "running shoes");
        assert_eq!(ctx["customer"]["tier"], "gold", "extra CRM columns come along");
        assert_eq!(ctx["customer"]["name"], "Priya Sharma");
    }

    #[test]
    fn missing_rows_and_odd_amounts() {
        let rows = Rows { customer: customer(), ..Default::default() };
        assert!(call_context(Flow::Cod, &rows, &json!({}), now(), &BTreeMap::new()).unwrap_err().contains("missing"));
        assert_eq!(major(&json!(219950)), "2199.50");
        assert_eq!(major(&json!(5)), "0.05");
        let offers = BTreeMap::from([("default".to_string(), "10 percent off".to_string())]);
        let attempt = json!({"segment": "lapsed_returned", "last_category": "fashion"});
        let ctx = call_context(Flow::Winback, &rows, &attempt, now(), &offers).unwrap();
        assert_eq!(ctx["winback"]["offer"], "10 percent off");
        assert_eq!(ctx["winback"]["segment"], "lapsed_returned");
    }
}
