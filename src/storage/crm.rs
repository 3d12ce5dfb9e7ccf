//! The CRM tables: customers, orders, returns, deliveries, tickets, written by an import
//! in one transaction. Rows are keyed by the CRM's ids, so a re-import updates; a row
//! whose reference is unknown is refused and changes nothing. An opt-out is never undone
//! by a later import. An event is applied once: its id is stored with the change, in the
//! same transaction.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::AnyConnection;

use super::{timestamp, StoreResult};
use crate::campaign::crm::events::{Change, Event};
use crate::campaign::crm::{Batch, Customer, Delivery, Kind, Order, Rejected, Return, Ticket};

pub(super) const MIGRATION: &str = r#"
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    timezone TEXT NOT NULL,
    language TEXT NOT NULL,
    opted_out INTEGER NOT NULL DEFAULT 0,
    extra TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX customers_by_phone ON customers (phone);
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    placed_at TEXT NOT NULL,
    payment TEXT NOT NULL,
    amount INTEGER,
    currency TEXT,
    items TEXT NOT NULL,
    category TEXT,
    address TEXT,
    status TEXT NOT NULL,
    expected_delivery TEXT,
    extra TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX orders_by_customer ON orders (customer_id, placed_at);
CREATE TABLE returns (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    item TEXT,
    status TEXT NOT NULL,
    pickup_date TEXT,
    pickup_window TEXT,
    refund_amount INTEGER,
    refund_method TEXT,
    refund_eta TEXT,
    refund_initiated_at TEXT,
    closed_at TEXT,
    extra TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX returns_by_customer ON returns (customer_id);
CREATE TABLE deliveries (
    order_id TEXT PRIMARY KEY REFERENCES orders (id),
    status TEXT NOT NULL,
    failed_at TEXT,
    failure_reason TEXT,
    next_slots TEXT NOT NULL,
    extra TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    status TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    extra TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX tickets_by_customer ON tickets (customer_id);
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    -- 1 once its triggers are scheduled (in their own transaction; redone after a crash).
    scheduled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_by_customer ON events (customer_id, at);
"#;

/// Rows written per kind: new ids and re-imported ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Written {
    pub inserted: u64,
    pub updated: u64,
}

/// What an import did: rows written by kind, and every refused row with its reason.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub imported: BTreeMap<Kind, Written>,
    pub rejected: Vec<Rejected>,
}

/// The row of `kind` with id `$1`, all columns.
pub(super) fn select_one(kind: Kind) -> &'static str {
    match kind {
        Kind::Customers => "SELECT * FROM customers WHERE id = $1",
        Kind::Orders => "SELECT * FROM orders WHERE id = $1",
        Kind::Returns => "SELECT * FROM returns WHERE id = $1",
        Kind::Deliveries => "SELECT * FROM deliveries WHERE order_id = $1",
        Kind::Tickets => "SELECT * FROM tickets WHERE id = $1",
    }
}

async fn exists(db: &mut AnyConnection, kind: Kind, id: &str) -> StoreResult<bool> {
    Ok(sqlx::query(select_one(kind)).bind(id).fetch_optional(&mut *db).await?.is_some())
}

async fn order_customer(db: &mut AnyConnection, order_id: &str) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT customer_id FROM orders WHERE id = $1").bind(order_id).fetch_optional(db).await?)
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn count(written: &mut Written, existed: bool) {
    if existed {
        written.updated += 1;
    } else {
        written.inserted += 1;
    }
}

/// A row the store refuses (a reference to nothing): the column and why.
#[derive(Debug)]
pub struct Refusal {
    pub field: &'static str,
    pub reason: String,
}

fn refuse(field: &'static str, reason: String) -> Result<bool, Refusal> {
    Err(Refusal { field, reason })
}

/// Each writer upserts one row after checking its references; `Ok(existed)`.
type Wrote = StoreResult<Result<bool, Refusal>>;

async fn write_customer(db: &mut AnyConnection, c: &Customer, now: &str) -> Wrote {
    let existed = exists(db, Kind::Customers, &c.id).await?;
    sqlx::query(
        "INSERT INTO customers (id, name, phone, timezone, language, opted_out, extra, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
         phone = excluded.phone, timezone = excluded.timezone, language = excluded.language, \
         opted_out = CASE WHEN customers.opted_out = 1 THEN 1 ELSE excluded.opted_out END, \
         extra = excluded.extra, updated_at = excluded.updated_at",
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(&c.phone)
    .bind(&c.timezone)
    .bind(&c.language)
    .bind(c.opted_out as i64)
    .bind(json(&c.extra))
    .bind(now)
    .execute(&mut *db)
    .await?;
    Ok(Ok(existed))
}

async fn write_order(db: &mut AnyConnection, o: &Order, now: &str) -> Wrote {
    if !exists(db, Kind::Customers, &o.customer_id).await? {
        return Ok(refuse("customer_id", format!("unknown customer {:?}", o.customer_id)));
    }
    let existed = exists(db, Kind::Orders, &o.id).await?;
    sqlx::query(
        "INSERT INTO orders (id, customer_id, placed_at, payment, amount, currency, items, category, address, \
         status, expected_delivery, extra, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, placed_at = excluded.placed_at, \
         payment = excluded.payment, amount = excluded.amount, currency = excluded.currency, \
         items = excluded.items, category = excluded.category, address = excluded.address, \
         status = excluded.status, expected_delivery = excluded.expected_delivery, extra = excluded.extra, \
         updated_at = excluded.updated_at",
    )
    .bind(&o.id)
    .bind(&o.customer_id)
    .bind(timestamp(o.placed_at))
    .bind(&o.payment)
    .bind(o.amount)
    .bind(&o.currency)
    .bind(json(&o.items))
    .bind(&o.category)
    .bind(&o.address)
    .bind(&o.status)
    .bind(&o.expected_delivery)
    .bind(json(&o.extra))
    .bind(now)
    .execute(&mut *db)
    .await?;
    Ok(Ok(existed))
}

/// The order must exist and be `customer_id`'s.
async fn owned_order(db: &mut AnyConnection, order_id: &str, customer_id: Option<&str>) -> Wrote {
    match order_customer(db, order_id).await? {
        None => Ok(refuse("order_id", format!("unknown order {order_id:?}"))),
        Some(owner) if customer_id.is_some_and(|c| c != owner) => Ok(refuse(
            "customer_id",
            format!("order {order_id:?} is customer {owner:?}'s, not {:?}'s", customer_id.unwrap_or_default()),
        )),
        Some(_) => Ok(Ok(true)),
    }
}

async fn write_return(db: &mut AnyConnection, r: &Return, now: &str) -> Wrote {
    if let Err(refusal) = owned_order(db, &r.order_id, Some(&r.customer_id)).await? {
        return Ok(Err(refusal));
    }
    let existed = exists(db, Kind::Returns, &r.id).await?;
    sqlx::query(
        "INSERT INTO returns (id, order_id, customer_id, item, status, pickup_date, pickup_window, refund_amount, \
         refund_method, refund_eta, refund_initiated_at, closed_at, extra, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO UPDATE SET \
         order_id = excluded.order_id, customer_id = excluded.customer_id, item = excluded.item, \
         status = excluded.status, pickup_date = excluded.pickup_date, pickup_window = excluded.pickup_window, \
         refund_amount = excluded.refund_amount, refund_method = excluded.refund_method, \
         refund_eta = excluded.refund_eta, refund_initiated_at = excluded.refund_initiated_at, \
         closed_at = excluded.closed_at, extra = excluded.extra, updated_at = excluded.updated_at",
    )
    .bind(&r.id)
    .bind(&r.order_id)
    .bind(&r.customer_id)
    .bind(&r.item)
    .bind(&r.status)
    .bind(r.pickup_date.map(|d| d.to_string()))
    .bind(&r.pickup_window)
    .bind(r.refund_amount)
    .bind(&r.refund_method)
    .bind(&r.refund_eta)
    .bind(r.refund_initiated_at.map(timestamp))
    .bind(r.closed_at.map(timestamp))
    .bind(json(&r.extra))
    .bind(now)
    .execute(&mut *db)
    .await?;
    Ok(Ok(existed))
}

async fn write_delivery(db: &mut AnyConnection, d: &Delivery, customer_id: Option<&str>, now: &str) -> Wrote {
    if let Err(refusal) = owned_order(db, &d.order_id, customer_id).await? {
        return Ok(Err(refusal));
    }
    let existed = exists(db, Kind::Deliveries, &d.order_id).await?;
    sqlx::query(
        "INSERT INTO deliveries (order_id, status, failed_at, failure_reason, next_slots, extra, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, \
         failed_at = excluded.failed_at, failure_reason = excluded.failure_reason, \
         next_slots = excluded.next_slots, extra = excluded.extra, updated_at = excluded.updated_at",
    )
    .bind(&d.order_id)
    .bind(&d.status)
    .bind(d.failed_at.map(timestamp))
    .bind(&d.failure_reason)
    .bind(json(&d.next_slots))
    .bind(json(&d.extra))
    .bind(now)
    .execute(&mut *db)
    .await?;
    Ok(Ok(existed))
}

async fn write_ticket(db: &mut AnyConnection, t: &Ticket, now: &str) -> Wrote {
    if !exists(db, Kind::Customers, &t.customer_id).await? {
        return Ok(refuse("customer_id", format!("unknown customer {:?}", t.customer_id)));
    }
    let existed = exists(db, Kind::Tickets, &t.id).await?;
    sqlx::query(
        "INSERT INTO tickets (id, customer_id, status, opened_at, closed_at, extra, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, \
         status = excluded.status, opened_at = excluded.opened_at, closed_at = excluded.closed_at, \
         extra = excluded.extra, updated_at = excluded.updated_at",
    )
    .bind(&t.id)
    .bind(&t.customer_id)
    .bind(&t.status)
    .bind(timestamp(t.opened_at))
    .bind(t.closed_at.map(timestamp))
    .bind(json(&t.extra))
    .bind(now)
    .execute(&mut *db)
    .await?;
    Ok(Ok(existed))
}

/// Counts a written row, or refuses it in the batch.
fn tally(
    batch: &mut Batch,
    imported: &mut BTreeMap<Kind, Written>,
    kind: Kind,
    line: u64,
    wrote: Result<bool, Refusal>,
) {
    match wrote {
        Ok(existed) => count(imported.entry(kind).or_default(), existed),
        Err(r) => batch.refuse(kind, line, r.field, r.reason),
    }
}

/// Writes a batch in the caller's transaction, kinds in reference order.
pub(super) async fn import(db: &mut AnyConnection, mut batch: Batch, now: String) -> StoreResult<ImportReport> {
    let mut imported: BTreeMap<Kind, Written> = BTreeMap::new();
    for line in std::mem::take(&mut batch.customers) {
        let wrote = write_customer(db, &line.row, &now).await?;
        tally(&mut batch, &mut imported, Kind::Customers, line.line, wrote);
    }
    for line in std::mem::take(&mut batch.orders) {
        let wrote = write_order(db, &line.row, &now).await?;
        tally(&mut batch, &mut imported, Kind::Orders, line.line, wrote);
    }
    for line in std::mem::take(&mut batch.returns) {
        let wrote = write_return(db, &line.row, &now).await?;
        tally(&mut batch, &mut imported, Kind::Returns, line.line, wrote);
    }
    for line in std::mem::take(&mut batch.deliveries) {
        let wrote = write_delivery(db, &line.row, None, &now).await?;
        tally(&mut batch, &mut imported, Kind::Deliveries, line.line, wrote);
    }
    for line in std::mem::take(&mut batch.tickets) {
        let wrote = write_ticket(db, &line.row, &now).await?;
        tally(&mut batch, &mut imported, Kind::Tickets, line.line, wrote);
    }
    Ok(ImportReport { imported, rejected: batch.rejected })
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    Applied,
    /// Its id was seen before: nothing changed.
    Duplicate,
}

/// An update of one row that must exist and be the customer's.
async fn update(db: &mut AnyConnection, sql: &str, binds: &[Option<&str>]) -> StoreResult<bool> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    Ok(q.execute(&mut *db).await?.rows_affected() == 1)
}

/// Stores the event and applies its change, in the caller's transaction; `Err` refusals
/// leave the caller to roll back, so the event can be re-sent once its subject exists.
pub(super) async fn apply_event(
    db: &mut AnyConnection,
    e: &Event,
    body: &str,
    now: &str,
) -> StoreResult<Result<Applied, Refusal>> {
    let fresh = sqlx::query(
        "INSERT INTO events (id, type, at, customer_id, body, received_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&e.id)
    .bind(&e.kind)
    .bind(timestamp(e.at))
    .bind(&e.customer_id)
    .bind(body)
    .bind(now)
    .execute(&mut *db)
    .await;
    match fresh {
        Ok(r) if r.rows_affected() == 0 => return Ok(Ok(Applied::Duplicate)),
        Ok(_) => {}
        // The customer does not exist (the foreign key).
        Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
            return Ok(Err(Refusal { field: "customer_id", reason: format!("unknown customer {:?}", e.customer_id) }));
        }
        Err(other) => return Err(other.into()),
    }
    let (at, customer) = (timestamp(e.at), Some(e.customer_id.as_str()));
    let gone = |field: &'static str, what: &str, id: &str| {
        refuse(field, format!("no {what} {id:?} of customer {:?}", e.customer_id))
    };
    let wrote = match &e.change {
        Change::Order(o) => write_order(db, o, now).await?,
        Change::Return(r) => write_return(db, r, now).await?,
        Change::Delivery(d) => write_delivery(db, d, customer, now).await?,
        Change::TicketOpened(t) => write_ticket(db, t, now).await?,
        Change::OrderCancelled { order_id } => {
            let sql = "UPDATE orders SET status = 'cancelled', updated_at = $1 WHERE id = $2 AND customer_id = $3";
            match update(db, sql, &[Some(now), Some(order_id), customer]).await? {
                true => Ok(true),
                false => gone("order_id", "order", order_id),
            }
        }
        Change::Refund { return_id, amount, method, eta } => {
            let amount = amount.map(|a| a.to_string());
            let sql = "UPDATE returns SET status = 'refund_initiated', refund_initiated_at = $1, \
                       refund_amount = COALESCE(CAST($2 AS INTEGER), refund_amount), \
                       refund_method = COALESCE($3, refund_method), refund_eta = COALESCE($4, refund_eta), \
                       updated_at = $5 WHERE id = $6 AND customer_id = $7";
            let binds = [
                Some(at.as_str()),
                amount.as_deref(),
                method.as_deref(),
                eta.as_deref(),
                Some(now),
                Some(return_id),
                customer,
            ];
            match update(db, sql, &binds).await? {
                true => Ok(true),
                false => gone("return_id", "return", return_id),
            }
        }
        Change::TicketClosed { ticket_id } => {
            let sql = "UPDATE tickets SET status = 'closed', closed_at = $1, updated_at = $2 WHERE id = $3 AND customer_id = $4";
            match update(db, sql, &[Some(at.as_str()), Some(now), Some(ticket_id), customer]).await? {
                true => Ok(true),
                false => gone("ticket_id", "ticket", ticket_id),
            }
        }
        Change::OptedOut => {
            let sql = "UPDATE customers SET opted_out = 1, updated_at = $1 WHERE id = $2";
            update(db, sql, &[Some(now), customer]).await?;
            Ok(true)
        }
    };
    if wrote.is_ok() {
        // The customer's data changed: attempts waiting on it are decided again at once.
        super::dialing::wake_waiting(db, &e.customer_id, e.at).await?;
    }
    Ok(wrote.map(|_| Applied::Applied))
}
