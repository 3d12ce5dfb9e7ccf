//! The CRM tables: customers, orders, returns, deliveries, tickets, written by an import
//! in one transaction. Rows are keyed by the CRM's ids, so a re-import updates; a row
//! whose reference is unknown is refused and changes nothing. An opt-out is never undone
//! by a later import.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::SqliteConnection;

use super::{timestamp, StoreResult};
use crate::campaign::crm::{Batch, Kind, Rejected};

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

async fn exists(db: &mut SqliteConnection, kind: Kind, id: &str) -> StoreResult<bool> {
    Ok(sqlx::query(select_one(kind)).bind(id).fetch_optional(&mut *db).await?.is_some())
}

async fn order_customer(db: &mut SqliteConnection, order_id: &str) -> StoreResult<Option<String>> {
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

/// Writes a batch in the caller's transaction, kinds in reference order.
pub(super) async fn import(db: &mut SqliteConnection, mut batch: Batch, now: String) -> StoreResult<ImportReport> {
    let mut imported: BTreeMap<Kind, Written> = BTreeMap::new();
    for line in std::mem::take(&mut batch.customers) {
        let c = line.row;
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
        .bind(&now)
        .execute(&mut *db)
        .await?;
        count(imported.entry(Kind::Customers).or_default(), existed);
    }
    for line in std::mem::take(&mut batch.orders) {
        let o = line.row;
        if !exists(db, Kind::Customers, &o.customer_id).await? {
            batch.refuse(Kind::Orders, line.line, "customer_id", format!("unknown customer {:?}", o.customer_id));
            continue;
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
        .bind(&now)
        .execute(&mut *db)
        .await?;
        count(imported.entry(Kind::Orders).or_default(), existed);
    }
    for line in std::mem::take(&mut batch.returns) {
        let r = line.row;
        match order_customer(db, &r.order_id).await? {
            None => {
                batch.refuse(Kind::Returns, line.line, "order_id", format!("unknown order {:?}", r.order_id));
                continue;
            }
            Some(owner) if owner != r.customer_id => {
                let reason = format!("order {:?} is customer {owner:?}'s, not {:?}'s", r.order_id, r.customer_id);
                batch.refuse(Kind::Returns, line.line, "customer_id", reason);
                continue;
            }
            Some(_) => {}
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
        .bind(&now)
        .execute(&mut *db)
        .await?;
        count(imported.entry(Kind::Returns).or_default(), existed);
    }
    for line in std::mem::take(&mut batch.deliveries) {
        let d = line.row;
        if !exists(db, Kind::Orders, &d.order_id).await? {
            batch.refuse(Kind::Deliveries, line.line, "order_id", format!("unknown order {:?}", d.order_id));
            continue;
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
        .bind(&now)
        .execute(&mut *db)
        .await?;
        count(imported.entry(Kind::Deliveries).or_default(), existed);
    }
    for line in std::mem::take(&mut batch.tickets) {
        let t = line.row;
        if !exists(db, Kind::Customers, &t.customer_id).await? {
            batch.refuse(Kind::Tickets, line.line, "customer_id", format!("unknown customer {:?}", t.customer_id));
            continue;
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
        .bind(&now)
        .execute(&mut *db)
        .await?;
        count(imported.entry(Kind::Tickets).or_default(), existed);
    }
    Ok(ImportReport { imported, rejected: batch.rejected })
}
