//! The five CRM row kinds, typed: each is built from a row's columns by header name, and
//! the columns it does not know are kept as context for the flows.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::fields::{self, Item};

/// Why a row was refused: the column and the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub field: Option<String>,
    pub reason: String,
}

impl RowError {
    pub fn field(field: &str, reason: impl Into<String>) -> Self {
        RowError { field: Some(field.to_string()), reason: reason.into() }
    }

    pub fn row(reason: impl Into<String>) -> Self {
        RowError { field: None, reason: reason.into() }
    }
}

/// One row's columns by header name (lower case), values as text; the typed readers take
/// the columns they know and the rest stays behind as `extra`.
#[derive(Debug, Clone, Default)]
pub struct Columns(BTreeMap<String, String>);

impl Columns {
    pub fn new(columns: BTreeMap<String, String>) -> Self {
        Columns(columns)
    }

    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn required(&mut self, name: &str) -> Result<String, RowError> {
        self.take(name).ok_or_else(|| RowError::field(name, "required"))
    }

    pub fn parsed<T>(&mut self, name: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, RowError> {
        self.take(name).map(|v| parse(&v).map_err(|e| RowError::field(name, e))).transpose()
    }

    fn parsed_required<T>(&mut self, name: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, RowError> {
        let v = self.required(name)?;
        parse(&v).map_err(|e| RowError::field(name, e))
    }

    /// What is left: the columns no reader took, empty ones dropped.
    fn extra(self) -> BTreeMap<String, String> {
        self.0.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub phone: String,
    pub timezone: String,
    pub language: String,
    pub opted_out: bool,
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    pub placed_at: DateTime<Utc>,
    /// Lower case: `cod`, `prepaid`, ... as the CRM names it.
    pub payment: String,
    /// Minor units (paise, cents).
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub items: Vec<Item>,
    pub category: Option<String>,
    pub address: Option<String>,
    pub status: String,
    /// A date or an RFC 3339 time, as the CRM gave it.
    pub expected_delivery: Option<String>,
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Return {
    pub id: String,
    pub order_id: String,
    pub customer_id: String,
    pub item: Option<String>,
    pub status: String,
    pub pickup_date: Option<NaiveDate>,
    pub pickup_window: Option<String>,
    pub refund_amount: Option<i64>,
    pub refund_method: Option<String>,
    pub refund_eta: Option<String>,
    pub refund_initiated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub order_id: String,
    pub status: String,
    pub failed_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub next_slots: Vec<String>,
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    pub id: String,
    pub customer_id: String,
    /// `open`, `pending`, `closed` or `resolved`.
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub extra: BTreeMap<String, String>,
}

impl Ticket {
    pub const STATUSES: [&'static str; 4] = ["open", "pending", "closed", "resolved"];

    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "open" | "pending")
    }
}

fn lower(v: String) -> String {
    v.to_ascii_lowercase()
}

/// An id: printable, no spaces at its ends, at most 128 characters.
fn id(c: &mut Columns, name: &str) -> Result<String, RowError> {
    let v = c.required(name)?;
    if v.len() > 128 || v.chars().any(char::is_control) {
        return Err(RowError::field(name, format!("{v:?} is not an id (printable, at most 128 characters)")));
    }
    Ok(v)
}

/// A date or an RFC 3339 time.
fn day_or_time(v: &str) -> Result<String, String> {
    fields::date(v)
        .map(|_| v.to_string())
        .or_else(|_| fields::time(v).map(crate::storage::timestamp))
        .map_err(|_| format!("{v:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"))
}

impl Customer {
    pub fn read(mut c: Columns) -> Result<Self, RowError> {
        Ok(Customer {
            id: id(&mut c, "id")?,
            name: c.required("name")?,
            phone: c.parsed_required("phone", fields::phone)?,
            timezone: c.parsed_required("timezone", fields::timezone)?.name().to_string(),
            language: c.take("language").map(lower).unwrap_or_else(|| "en".into()),
            opted_out: c.parsed("opted_out", fields::flag)?.unwrap_or(false),
            extra: c.extra(),
        })
    }
}

impl Order {
    pub fn read(mut c: Columns) -> Result<Self, RowError> {
        Ok(Order {
            id: id(&mut c, "id")?,
            customer_id: id(&mut c, "customer_id")?,
            placed_at: c.parsed_required("placed_at", fields::time)?,
            payment: lower(c.required("payment")?),
            amount: c.parsed("amount", fields::amount)?,
            currency: c.take("currency").map(|v| v.to_ascii_uppercase()),
            items: c.parsed("items", fields::items)?.unwrap_or_default(),
            category: c.take("category").map(lower),
            address: c.take("address"),
            status: c.take("status").map(lower).unwrap_or_else(|| "placed".into()),
            expected_delivery: c.parsed("expected_delivery", day_or_time)?,
            extra: c.extra(),
        })
    }
}

impl Return {
    pub fn read(mut c: Columns) -> Result<Self, RowError> {
        Ok(Return {
            id: id(&mut c, "id")?,
            order_id: id(&mut c, "order_id")?,
            customer_id: id(&mut c, "customer_id")?,
            item: c.take("item"),
            status: lower(c.required("status")?),
            pickup_date: c.parsed("pickup_date", fields::date)?,
            pickup_window: c.take("pickup_window"),
            refund_amount: c.parsed("refund_amount", fields::amount)?,
            refund_method: c.take("refund_method").map(lower),
            refund_eta: c.parsed("refund_eta", day_or_time)?,
            refund_initiated_at: c.parsed("refund_initiated_at", fields::time)?,
            closed_at: c.parsed("closed_at", fields::time)?,
            extra: c.extra(),
        })
    }
}

impl Delivery {
    pub fn read(mut c: Columns) -> Result<Self, RowError> {
        Ok(Delivery {
            order_id: id(&mut c, "order_id")?,
            status: lower(c.required("status")?),
            failed_at: c.parsed("failed_at", fields::time)?,
            failure_reason: c.take("failure_reason"),
            next_slots: c.take("next_slots").map(|v| fields::list(&v)).unwrap_or_default(),
            extra: c.extra(),
        })
    }
}

impl Ticket {
    pub fn read(mut c: Columns) -> Result<Self, RowError> {
        Ok(Ticket {
            id: id(&mut c, "id")?,
            customer_id: id(&mut c, "customer_id")?,
            status: c.parsed_required("status", |v| fields::one_of(v, &Ticket::STATUSES))?,
            opened_at: c.parsed_required("opened_at", fields::time)?,
            closed_at: c.parsed("closed_at", fields::time)?,
            extra: c.extra(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(pairs: &[(&str, &str)]) -> Columns {
        Columns::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn a_customer_row_with_context_columns() {
        let c = Customer::read(columns(&[
            ("id", "C1"),
            ("name", "Asha Rao"),
            ("phone", "+91 98123 45678"),
            ("timezone", "Asia/Calcutta"),
            ("opted_out", ""),
            ("tier", "gold"),
            ("notes", " "),
        ]))
        .unwrap();
        assert_eq!(
            (c.phone.as_str(), c.timezone.as_str(), c.language.as_str()),
            ("+919812345678", "Asia/Calcutta", "en")
        );
        assert!(!c.opted_out);
        assert_eq!(c.extra, BTreeMap::from([("tier".to_string(), "gold".to_string())]));
    }

    #[test]
    fn bad_rows_name_their_field() {
        let err = |r: Result<Customer, RowError>| r.unwrap_err().field.unwrap();
        let base = [("id", "C1"), ("name", "A"), ("phone", "+919812345678"), ("timezone", "Asia/Kolkata")];
        let with = |k: &str, v: &str| {
            let mut p: Vec<(&str, &str)> = base.iter().copied().filter(|(n, _)| *n != k).collect();
            p.push((k, v));
            columns(&p.iter().map(|&(a, b)| (a, b)).collect::<Vec<_>>())
        };
        assert_eq!(err(Customer::read(with("phone", "98123"))), "phone");
        assert_eq!(err(Customer::read(with("timezone", "IST"))), "timezone");
        assert_eq!(err(Customer::read(with("id", ""))), "id");
        assert_eq!(err(Customer::read(with("opted_out", "perhaps"))), "opted_out");
    }

    #[test]
    fn orders_returns_deliveries_tickets() {
        let o = Order::read(columns(&[
            ("id", "O1"),
            ("customer_id", "C1"),
            ("placed_at", "2026-12-01T10:00:00+05:30"),
            ("payment", "COD"),
            ("amount", "1499.00"),
            ("currency", "inr"),
            ("items", "Kurta x 2; Scarf"),
            ("category", "Apparel"),
            ("expected_delivery", "2026-12-05"),
        ]))
        .unwrap();
        assert_eq!(
            (o.payment.as_str(), o.amount, o.items.len(), o.status.as_str()),
            ("cod", Some(149900), 2, "placed")
        );
        let r = Return::read(columns(&[
            ("id", "R1"),
            ("order_id", "O1"),
            ("customer_id", "C1"),
            ("status", "pickup_scheduled"),
            ("pickup_date", "2026-12-09"),
        ]))
        .unwrap();
        assert_eq!(r.pickup_date, NaiveDate::from_ymd_opt(2026, 12, 9));
        let d = Delivery::read(columns(&[
            ("order_id", "O1"),
            ("status", "failed"),
            ("next_slots", "Fri 10-13; Sat 14-18"),
        ]))
        .unwrap();
        assert_eq!(d.next_slots, ["Fri 10-13", "Sat 14-18"]);
        let t =
            columns(&[("id", "T1"), ("customer_id", "C1"), ("status", "Open"), ("opened_at", "2026-12-01T09:00:00Z")]);
        assert!(Ticket::read(t).unwrap().is_open());
        let t = columns(&[
            ("id", "T1"),
            ("customer_id", "C1"),
            ("status", "snoozed"),
            ("opened_at", "2026-12-01T09:00:00Z"),
        ]);
        assert_eq!(Ticket::read(t).unwrap_err().field.as_deref(), Some("status"));
    }
}
