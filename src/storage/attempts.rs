//! Attempts and the decisions behind them. A CRM event's triggers are scheduled in their
//! own transaction after the event is stored (`events.scheduled` marks it done, so a
//! crash in between is redone at the next run); one attempt per flow, subject and
//! attempt number.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use sqlx::{Row, SqliteConnection};

use super::{timestamp, StoreError, StoreResult};
use crate::campaign::crm::events::{self, Change};
use crate::campaign::policy::{self, Flow};
use crate::campaign::schedule::{plan, Rules};
use crate::campaign::triggers::{self, Due};

pub(super) const MIGRATION: &str = r#"
CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    flow TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    attempt_no INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    -- queued, waiting, blocked, superseded; then dialing, ringing, answered, ..., completed
    state TEXT NOT NULL,
    not_before TEXT NOT NULL,
    deadline TEXT NOT NULL,
    expires TEXT,
    scheduled_at TEXT,
    dialed_at TEXT,
    result TEXT,
    outcome TEXT,
    context TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (flow, subject_id, attempt_no)
);
CREATE INDEX attempts_by_customer ON attempts (customer_id, state);
CREATE INDEX attempts_due ON attempts (state, scheduled_at);
CREATE TABLE decisions (
    attempt_id TEXT NOT NULL REFERENCES attempts (id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    decision TEXT NOT NULL,
    rule TEXT,
    until TEXT,
    PRIMARY KEY (attempt_id, seq)
);
"#;

/// Outcomes that end a flow for its subject.
const FINAL: &str = "('confirmed', 'cancelled', 'rescheduled', 'declined', 'interested', 'acknowledged')";

fn time(text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("time {text:?}: {e}")))
}

async fn times(db: &mut SqliteConnection, sql: &str, binds: &[&str]) -> StoreResult<Vec<DateTime<Utc>>> {
    let mut q = sqlx::query_scalar::<_, String>(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_all(&mut *db).await?.iter().map(|t| time(t)).collect()
}

async fn any(db: &mut SqliteConnection, sql: &str, binds: &[&str]) -> StoreResult<bool> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    Ok(q.fetch_optional(&mut *db).await?.is_some())
}

/// What the policy needs to know of a customer, for an attempt at `subject` in `flow`.
async fn customer_state(
    db: &mut SqliteConnection,
    customer_id: &str,
    flow: Flow,
    subject: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<policy::Customer>> {
    let Some(row) = sqlx::query("SELECT timezone, opted_out, phone FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(&mut *db)
        .await?
    else {
        return Ok(None);
    };
    let (zone, opted_out, phone): (String, i64, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let f = flow.name();
    let closed: Option<String> = sqlx::query_scalar("SELECT MAX(closed_at) FROM returns WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_one(&mut *db)
        .await?;
    let due_flows: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT flow FROM attempts WHERE customer_id = $1 AND state = 'queued' AND flow <> $2 AND scheduled_at <= $3",
    )
    .bind(customer_id)
    .bind(f)
    .bind(timestamp(now))
    .fetch_all(&mut *db)
    .await?;
    Ok(Some(policy::Customer {
        tz: Tz::from_str(&zone).ok(),
        opted_out: opted_out != 0,
        wrong_number: any(
            db,
            "SELECT 1 FROM attempts a JOIN customers c ON c.id = a.customer_id WHERE c.phone = $1 AND a.outcome = 'wrong_number'",
            &[&phone],
        )
        .await?,
        open_ticket: any(db, "SELECT 1 FROM tickets WHERE customer_id = $1 AND status IN ('open', 'pending')", &[customer_id])
            .await?,
        call_in_progress: any(
            db,
            "SELECT 1 FROM attempts WHERE customer_id = $1 AND state IN ('dialing', 'ringing', 'answered')",
            &[customer_id],
        )
        .await?,
        dials: times(db, "SELECT dialed_at FROM attempts WHERE customer_id = $1 AND dialed_at IS NOT NULL ORDER BY dialed_at", &[customer_id]).await?,
        subject_dials: times(
            db,
            "SELECT dialed_at FROM attempts WHERE flow = $1 AND subject_id = $2 AND dialed_at IS NOT NULL ORDER BY dialed_at",
            &[f, subject],
        )
        .await?,
        subject_failures: sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM attempts WHERE flow = $1 AND subject_id = $2 AND result = 'failed'",
        )
        .bind(f)
        .bind(subject)
        .fetch_one(&mut *db)
        .await? as u32,
        responded: any(db, &format!("SELECT 1 FROM attempts WHERE flow = $1 AND subject_id = $2 AND outcome IN {FINAL}"), &[f, subject])
            .await?,
        active_return: any(
            db,
            "SELECT 1 FROM returns WHERE customer_id = $1 AND closed_at IS NULL AND status NOT IN ('closed', 'refunded', 'cancelled')",
            &[customer_id],
        )
        .await?,
        return_closed_at: closed.as_deref().map(time).transpose()?,
        also_due: due_flows.iter().filter_map(|f| Flow::parse(f)).collect(),
    }))
}

/// What an event makes due, if anything.
fn due_of(rules: &Rules, tz: Tz, event: &events::Event, now: DateTime<Utc>) -> Option<Due> {
    let cal = |flow| rules.calendar(flow);
    match &event.change {
        Change::Order(o) => triggers::order_placed(&cal(Flow::Cod), tz, o, event.at),
        Change::Delivery(d) if d.status == "failed" => Some(triggers::delivery_failed(
            &cal(Flow::DeliveryRetry),
            tz,
            &event.customer_id,
            &d.order_id,
            d.failed_at.unwrap_or(event.at),
        )),
        Change::Return(r) => triggers::pickup(&cal(Flow::ReturnPickup), tz, r, now.max(event.at)),
        Change::Refund { return_id, .. } => {
            Some(triggers::refund_initiated(&cal(Flow::RefundStatus), tz, &event.customer_id, return_id, event.at))
        }
        _ => None,
    }
}

/// Schedules the triggers of every event not yet scheduled, each in its own transaction.
/// Returns the attempts created.
pub(super) async fn schedule_pending(pool: &sqlx::SqlitePool, rules: &Rules, now: DateTime<Utc>) -> StoreResult<u64> {
    let pending: Vec<(String, String)> =
        sqlx::query_as("SELECT id, body FROM events WHERE scheduled = 0 ORDER BY at, id").fetch_all(pool).await?;
    let mut created = 0;
    for (id, body) in pending {
        let mut tx = pool.begin().await?;
        let value: Value = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("event {id}: {e}")))?;
        if let Ok(event) = events::parse(&value) {
            created += schedule_event(&mut tx, rules, &event, now).await? as u64;
        }
        sqlx::query("UPDATE events SET scheduled = 1 WHERE id = $1").bind(&id).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(created)
}

async fn schedule_event(
    db: &mut SqliteConnection,
    rules: &Rules,
    event: &events::Event,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let zone: Option<String> = sqlx::query_scalar("SELECT timezone FROM customers WHERE id = $1")
        .bind(&event.customer_id)
        .fetch_optional(&mut *db)
        .await?;
    let Some(tz) = zone.and_then(|z| Tz::from_str(&z).ok()) else { return Ok(false) };
    let Some(due) = due_of(rules, tz, event, now) else { return Ok(false) };
    if due.flow == Flow::DeliveryRetry {
        // A failed delivery's call replaces the order's pending COD confirmation.
        sqlx::query(
            "UPDATE attempts SET state = 'superseded' WHERE flow = 'cod' AND subject_id = $1 AND state IN ('queued', 'waiting')",
        )
        .bind(&due.subject_id)
        .execute(&mut *db)
        .await?;
    }
    let context = json!({"segment": due.segment, "last_category": due.last_category, "event_id": event.id});
    insert_attempt(db, rules, &due, context, now).await
}

/// Every attempt of a customer not yet dialled (queued, waiting, blocked, superseded),
/// with the rules that allowed or stopped it.
pub(super) async fn why(pool: &sqlx::SqlitePool, customer_id: &str) -> StoreResult<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT id, flow, subject_id, attempt_no, trigger, state, not_before, deadline, expires, scheduled_at, context \
         FROM attempts WHERE customer_id = $1 AND state IN ('queued', 'waiting', 'blocked', 'superseded') \
         ORDER BY created_at, id",
    )
    .bind(customer_id)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let id: String = r.try_get("id")?;
        let steps = sqlx::query("SELECT at, decision, rule, until FROM decisions WHERE attempt_id = $1 ORDER BY seq")
            .bind(&id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|d| {
                Ok(json!({"at": d.try_get::<String, _>(0)?, "decision": d.try_get::<String, _>(1)?,
                    "rule": d.try_get::<Option<String>, _>(2)?, "until": d.try_get::<Option<String>, _>(3)?}))
            })
            .collect::<StoreResult<Vec<Value>>>()?;
        out.push(json!({
            "attempt_id": id, "flow": r.try_get::<String, _>("flow")?, "subject_id": r.try_get::<String, _>("subject_id")?,
            "attempt_no": r.try_get::<i64, _>("attempt_no")?, "trigger": r.try_get::<String, _>("trigger")?,
            "state": r.try_get::<String, _>("state")?, "not_before": r.try_get::<String, _>("not_before")?,
            "deadline": r.try_get::<String, _>("deadline")?, "expires": r.try_get::<Option<String>, _>("expires")?,
            "scheduled_at": r.try_get::<Option<String>, _>("scheduled_at")?,
            "context": serde_json::from_str::<Value>(&r.try_get::<String, _>("context")?).unwrap_or(Value::Null),
            "decisions": steps,
        }));
    }
    Ok(out)
}

/// Inserts an attempt for `due` as the policy plans it; false when the flow, subject and
/// attempt number already have one.
async fn insert_attempt(
    db: &mut SqliteConnection,
    rules: &Rules,
    due: &Due,
    context: Value,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let Some(customer) = customer_state(db, &due.customer_id, due.flow, &due.subject_id, now).await? else {
        return Ok(false);
    };
    let p = plan(&rules.calendar(due.flow), &rules.limits, &customer, due, 1, now);
    let id = uuid::Uuid::new_v4().to_string();
    let inserted = sqlx::query(
        "INSERT INTO attempts (id, customer_id, flow, subject_id, attempt_no, trigger, state, not_before, deadline, \
         expires, scheduled_at, context, created_at) VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (flow, subject_id, attempt_no) DO NOTHING",
    )
    .bind(&id)
    .bind(&due.customer_id)
    .bind(due.flow.name())
    .bind(&due.subject_id)
    .bind(due.trigger)
    .bind(p.state.name())
    .bind(timestamp(due.not_before))
    .bind(timestamp(due.deadline))
    .bind(due.expires.map(timestamp))
    .bind(p.scheduled_at.map(timestamp))
    .bind(context.to_string())
    .bind(timestamp(now))
    .execute(&mut *db)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        for (seq, step) in p.steps.iter().enumerate() {
            sqlx::query(
                "INSERT INTO decisions (attempt_id, seq, at, decision, rule, until) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(seq as i64)
            .bind(timestamp(step.at))
            .bind(step.decision)
            .bind(step.rule.map(|r| r.name()))
            .bind(step.until.map(timestamp))
            .execute(&mut *db)
            .await?;
        }
    }
    Ok(inserted)
}

/// The win-back run at `now`, in one transaction: every customer not opted out whose
/// last order is 60 to 90 days old gets a `winback` attempt (once: the subject is the
/// customer), with the segment and last category as its context.
pub(super) async fn schedule_winback(pool: &sqlx::SqlitePool, rules: &Rules, now: DateTime<Utc>) -> StoreResult<u64> {
    // A day's margin either side: the exact age is counted in each customer's local dates.
    let (from, to) = (timestamp(now - chrono::Duration::days(92)), timestamp(now - chrono::Duration::days(58)));
    let rows = sqlx::query(
        "SELECT c.id, c.timezone, o.placed_at, o.status, o.category, \
         EXISTS (SELECT 1 FROM returns r WHERE r.order_id = o.id) AS returned \
         FROM customers c JOIN orders o ON o.customer_id = c.id \
         WHERE c.opted_out = 0 AND o.placed_at >= $1 AND o.placed_at <= $2 \
         AND o.placed_at = (SELECT MAX(placed_at) FROM orders WHERE customer_id = c.id) ORDER BY c.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut lapsed = Vec::with_capacity(rows.len());
    for r in rows {
        let Ok(tz) = Tz::from_str(&r.try_get::<String, _>(1)?) else { continue };
        lapsed.push(triggers::Lapsed {
            customer_id: r.try_get(0)?,
            tz,
            placed_at: time(&r.try_get::<String, _>(2)?)?,
            status: r.try_get(3)?,
            category: r.try_get(4)?,
            returned: r.try_get::<i64, _>(5)? != 0,
        });
    }
    let mut tx = pool.begin().await?;
    let mut created = 0;
    for due in triggers::winback(&rules.calendar(Flow::Winback), &lapsed, now) {
        let context = json!({"segment": due.segment, "last_category": due.last_category});
        created += insert_attempt(&mut tx, rules, &due, context, now).await? as u64;
    }
    tx.commit().await?;
    Ok(created)
}
