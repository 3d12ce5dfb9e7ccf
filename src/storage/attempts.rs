//! Attempts and the decisions behind them. A CRM event's triggers are scheduled in their
//! own transaction after the event is stored (`events.scheduled` marks it done, so a
//! crash in between is redone at the next run); one attempt per flow, subject and
//! attempt number.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

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

/// A yes/no column: `EXISTS (..)` is a boolean on PostgreSQL and an integer on SQLite,
/// as are the stored 0/1 flags.
pub(super) fn flag<I: sqlx::ColumnIndex<sqlx::any::AnyRow> + Copy>(
    r: &sqlx::any::AnyRow,
    column: I,
) -> StoreResult<bool> {
    match r.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => Ok(r.try_get::<i64, _>(column)? != 0),
    }
}

fn time(text: &str) -> StoreResult<DateTime<Utc>> {
    crate::campaign::crm::fields::time(text).map_err(StoreError::Corrupt)
}

async fn any(db: &mut AnyConnection, sql: &str, binds: &[&str]) -> StoreResult<bool> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    Ok(q.fetch_optional(&mut *db).await?.is_some())
}

/// What the policy needs to know of a customer, for an attempt at `subject` in `flow`:
/// one query (the policy runs twice per attempt, and a campaign decides millions).
async fn customer_state(
    db: &mut AnyConnection,
    customer_id: &str,
    flow: Flow,
    subject: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<policy::Customer>> {
    // `COALESCE(scheduled_at, '')` keeps the planner on the customer's index: on the
    // time index it would walk every due attempt of every customer.
    let sql = format!(
        "SELECT c.timezone, c.opted_out, \
         (SELECT MAX(closed_at) FROM returns WHERE customer_id = c.id) AS return_closed, \
         (SELECT group_concat(flow) FROM (SELECT DISTINCT flow FROM attempts WHERE customer_id = c.id \
            AND state = 'queued' AND flow <> $2 AND COALESCE(scheduled_at, '') <= $4) AS f) AS due_flows, \
         EXISTS (SELECT 1 FROM attempts a JOIN customers p ON p.id = a.customer_id \
            WHERE p.phone = c.phone AND a.outcome = 'wrong_number') AS wrong_number, \
         EXISTS (SELECT 1 FROM tickets WHERE customer_id = c.id AND status IN ('open', 'pending')) AS open_ticket, \
         EXISTS (SELECT 1 FROM attempts WHERE customer_id = c.id AND state IN ('dialing', 'ringing', 'answered')) \
            AS in_progress, \
         (SELECT group_concat(dialed_at) FROM (SELECT dialed_at FROM attempts WHERE customer_id = c.id \
            AND dialed_at IS NOT NULL AND dialed_at >= $5 ORDER BY dialed_at) AS d) AS dials, \
         (SELECT group_concat(dialed_at) FROM (SELECT dialed_at FROM attempts WHERE flow = $2 AND subject_id = $3 \
            AND dialed_at IS NOT NULL ORDER BY dialed_at) AS d) AS subject_dials, \
         (SELECT COUNT(*) FROM attempts WHERE flow = $2 AND subject_id = $3 AND result = 'failed') AS failures, \
         EXISTS (SELECT 1 FROM attempts WHERE flow = $2 AND subject_id = $3 AND outcome IN {FINAL}) AS responded, \
         EXISTS (SELECT 1 FROM returns WHERE customer_id = c.id AND closed_at IS NULL \
            AND status NOT IN ('closed', 'refunded', 'cancelled')) AS active_return \
         FROM customers c WHERE c.id = $1"
    );
    // Dials older than the longest cap window do not count against any cap.
    let since = now - chrono::Duration::days(8);
    let Some(r) = sqlx::query(&sql)
        .bind(customer_id)
        .bind(flow.name())
        .bind(subject)
        .bind(timestamp(now))
        .bind(timestamp(since))
        .fetch_optional(&mut *db)
        .await?
    else {
        return Ok(None);
    };
    let list = |name: &str| -> StoreResult<Vec<String>> {
        let text: Option<String> = r.try_get(name)?;
        Ok(text.map(|t| t.split(',').map(String::from).collect()).unwrap_or_default())
    };
    // Sorted here: an aggregate's order is the inner query's on SQLite, not promised on PostgreSQL.
    let times = |name: &str| -> StoreResult<Vec<DateTime<Utc>>> {
        let mut times = list(name)?.iter().map(|t| time(t)).collect::<StoreResult<Vec<_>>>()?;
        times.sort();
        Ok(times)
    };
    let flag = |name: &str| flag(&r, name);
    let zone: String = r.try_get("timezone")?;
    let closed: Option<String> = r.try_get("return_closed")?;
    Ok(Some(policy::Customer {
        tz: Tz::from_str(&zone).ok(),
        opted_out: flag("opted_out")?,
        wrong_number: flag("wrong_number")?,
        open_ticket: flag("open_ticket")?,
        call_in_progress: flag("in_progress")?,
        dials: times("dials")?,
        subject_dials: times("subject_dials")?,
        subject_failures: r.try_get::<i64, _>("failures")? as u32,
        responded: flag("responded")?,
        subject_over: subject_over(db, flow, subject).await?,
        active_return: flag("active_return")?,
        return_closed_at: closed.as_deref().map(time).transpose()?,
        also_due: list("due_flows")?.iter().filter_map(|f| Flow::parse(f)).collect(),
    }))
}

/// Whether the subject no longer needs `flow`'s call: a COD order no longer awaiting
/// dispatch (cancelled, shipped, delivered) or whose delivery failed (the delivery
/// retry call takes over); a failed delivery since done or its order cancelled; a
/// return closed, cancelled or refunded.
async fn subject_over(db: &mut AnyConnection, flow: Flow, subject: &str) -> StoreResult<bool> {
    let sql = match flow {
        Flow::Cod => {
            "SELECT 1 FROM orders o LEFT JOIN deliveries d ON d.order_id = o.id WHERE o.id = $1 \
             AND (o.status IN ('cancelled', 'shipped', 'delivered', 'returned') OR d.status IS NOT NULL)"
        }
        Flow::DeliveryRetry => {
            "SELECT 1 FROM orders o LEFT JOIN deliveries d ON d.order_id = o.id WHERE o.id = $1 \
             AND (o.status IN ('cancelled', 'delivered', 'returned') OR d.status = 'delivered')"
        }
        Flow::ReturnPickup | Flow::RefundStatus => {
            "SELECT 1 FROM returns WHERE id = $1 AND (closed_at IS NOT NULL OR status IN ('closed', 'cancelled'))"
        }
        Flow::Winback => return Ok(false),
    };
    any(db, sql, &[subject]).await
}

/// How long an attempt waiting on data with no known end (an open ticket, a call in
/// progress) waits before it is decided again; a CRM event for its customer, or the
/// end of its customer's call, wakes it at once.
const RECHECK: chrono::Duration = chrono::Duration::minutes(15);

/// When the dialer next looks at a planned attempt: its dial time when queued, when its
/// wait ends (or [`RECHECK`] on) when waiting, never when blocked.
fn next_check(p: &crate::campaign::schedule::Plan, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match p.state {
        crate::campaign::schedule::State::Waiting => {
            Some(p.steps.last().and_then(|s| s.until).unwrap_or(now + RECHECK).max(now))
        }
        _ => p.scheduled_at,
    }
}

/// Appends decisions to an attempt's record; a lone decision that repeats the last one
/// recorded (an attempt still waiting for the same reason) is not written again.
async fn record(
    db: &mut AnyConnection,
    attempt_id: &str,
    steps: &[crate::campaign::schedule::Step],
) -> StoreResult<()> {
    let last: Option<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT seq, decision, rule FROM decisions WHERE attempt_id = $1 ORDER BY seq DESC LIMIT 1")
            .bind(attempt_id)
            .fetch_optional(&mut *db)
            .await?;
    if let ([step], Some((_, decision, rule))) = (steps, &last) {
        if step.decision == decision && step.rule.map(|r| r.name()) == rule.as_deref() {
            return Ok(());
        }
    }
    let next = last.map_or(0, |(seq, _, _)| seq + 1);
    for (i, step) in steps.iter().enumerate() {
        sqlx::query(
            "INSERT INTO decisions (attempt_id, seq, at, decision, rule, until) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(attempt_id)
        .bind(next + i as i64)
        .bind(timestamp(step.at))
        .bind(step.decision)
        .bind(step.rule.map(|r| r.name()))
        .bind(step.until.map(timestamp))
        .execute(&mut *db)
        .await?;
    }
    Ok(())
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
pub(super) async fn schedule_pending(pool: &sqlx::AnyPool, rules: &Rules, now: DateTime<Utc>) -> StoreResult<u64> {
    let pending: Vec<(String, String)> =
        sqlx::query_as("SELECT id, body FROM events WHERE scheduled = 0 ORDER BY at, id").fetch_all(pool).await?;
    let mut created = 0;
    for (id, body) in pending {
        let mut tx = pool.begin().await?;
        // A stored body that no longer reads is logged and passed over, never retried
        // forever ahead of the events behind it.
        match serde_json::from_str::<Value>(&body)
            .map_err(|e| e.to_string())
            .and_then(|v| events::parse(&v).map_err(|e| e.reason))
        {
            Ok(event) => created += schedule_event(&mut tx, rules, &event, now).await? as u64,
            Err(e) => tracing::error!(event = %id, error = %e, "stored event unreadable: its triggers are skipped"),
        }
        sqlx::query("UPDATE events SET scheduled = 1 WHERE id = $1").bind(&id).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(created)
}

async fn schedule_event(
    db: &mut AnyConnection,
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
    if insert_attempt(db, rules, &due, context, now).await? {
        return Ok(true);
    }
    replan(db, rules, &due, now).await?;
    Ok(false)
}

/// The subject already has attempts in this flow: those not yet dialled take the new
/// timing (a pickup moved to another day is called the day before the new date, never
/// before the old one), decided again by the policy.
async fn replan(db: &mut AnyConnection, rules: &Rules, due: &Due, now: DateTime<Utc>) -> StoreResult<()> {
    let (not_before, deadline, expires) =
        (timestamp(due.not_before), timestamp(due.deadline), due.expires.map(timestamp));
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT id, attempt_no, context FROM attempts WHERE flow = $1 AND subject_id = $2 \
         AND state IN ('queued', 'waiting', 'blocked') AND dialed_at IS NULL \
         AND (not_before <> $3 OR deadline <> $4 OR COALESCE(expires, '') <> COALESCE($5, ''))",
    )
    .bind(due.flow.name())
    .bind(&due.subject_id)
    .bind(&not_before)
    .bind(&deadline)
    .bind(&expires)
    .fetch_all(&mut *db)
    .await?;
    for (id, attempt_no, context) in rows {
        let Some(customer) = customer_state(db, &due.customer_id, due.flow, &due.subject_id, now).await? else {
            continue;
        };
        let callback = serde_json::from_str::<Value>(&context)
            .ok()
            .and_then(|c| c.get("callback").and_then(Value::as_bool))
            .unwrap_or(false);
        let p = plan(&rules.calendar(due.flow), &rules.limits, &customer, due, (attempt_no as u32, callback), now);
        sqlx::query(
            "UPDATE attempts SET state = $1, not_before = $2, deadline = $3, expires = $4, scheduled_at = $5 \
             WHERE id = $6",
        )
        .bind(p.state.name())
        .bind(&not_before)
        .bind(&deadline)
        .bind(&expires)
        .bind(next_check(&p, now).map(timestamp))
        .bind(&id)
        .execute(&mut *db)
        .await?;
        record(db, &id, &p.steps).await?;
        super::dialing::transition(db, &id, p.state.name(), now).await?;
    }
    Ok(())
}

/// Every attempt of a customer not yet dialled (queued, waiting, blocked, superseded),
/// with the rules that allowed or stopped it.
pub(super) async fn why(pool: &sqlx::AnyPool, customer_id: &str) -> StoreResult<Vec<Value>> {
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
    db: &mut AnyConnection,
    rules: &Rules,
    due: &Due,
    context: Value,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    insert_numbered(db, rules, due, (1, false), context, now).await
}

/// Inserts attempt `number.0` (a requested callback when `number.1`) for `due`.
async fn insert_numbered(
    db: &mut AnyConnection,
    rules: &Rules,
    due: &Due,
    number: (u32, bool),
    context: Value,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let Some(customer) = customer_state(db, &due.customer_id, due.flow, &due.subject_id, now).await? else {
        return Ok(false);
    };
    let p = plan(&rules.calendar(due.flow), &rules.limits, &customer, due, number, now);
    let id = uuid::Uuid::new_v4().to_string();
    let inserted = sqlx::query(
        "INSERT INTO attempts (id, customer_id, flow, subject_id, attempt_no, trigger, state, not_before, deadline, \
         expires, scheduled_at, context, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (flow, subject_id, attempt_no) DO NOTHING",
    )
    .bind(&id)
    .bind(&due.customer_id)
    .bind(due.flow.name())
    .bind(&due.subject_id)
    .bind(number.0 as i64)
    .bind(due.trigger)
    .bind(p.state.name())
    .bind(timestamp(due.not_before))
    .bind(timestamp(due.deadline))
    .bind(due.expires.map(timestamp))
    .bind(next_check(&p, now).map(timestamp))
    .bind(context.to_string())
    .bind(timestamp(now))
    .execute(&mut *db)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        record(db, &id, &p.steps).await?;
        super::dialing::transition(db, &id, p.state.name(), now).await?;
    }
    Ok(inserted)
}

/// The win-back run at `now`, in one transaction: every customer not opted out whose
/// last order is 60 to 90 days old gets a `winback` attempt (once: the subject is the
/// customer), with the segment and last category as its context.
pub(super) async fn schedule_winback(pool: &sqlx::AnyPool, rules: &Rules, now: DateTime<Utc>) -> StoreResult<u64> {
    // A day's margin either side: the exact age is counted in each customer's local dates.
    let (from, to) = (timestamp(now - chrono::Duration::days(92)), timestamp(now - chrono::Duration::days(58)));
    let rows = sqlx::query(
        "SELECT c.id, c.timezone, o.placed_at, o.status, o.category, \
         EXISTS (SELECT 1 FROM returns r WHERE r.order_id = o.id) AS returned \
         FROM customers c JOIN orders o ON o.customer_id = c.id \
         WHERE c.opted_out = 0 AND o.placed_at >= $1 AND o.placed_at <= $2 \
         AND NOT EXISTS (SELECT 1 FROM attempts w WHERE w.flow = 'winback' AND w.subject_id = c.id) \
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
            returned: flag(&r, 5)?,
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

/// An attempt claimed for dialling.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Claimed {
    pub attempt_id: String,
    pub customer_id: String,
    pub flow: Flow,
    pub subject_id: String,
    pub attempt_no: u32,
    /// What made it due (`order.placed`, `retry`, `callback`, `winback`, ...).
    pub trigger: String,
    pub phone: String,
    pub context: Value,
}

/// The flows' priority as SQL (delivery_retry first).
const PRIORITY: &str = "CASE flow WHEN 'delivery_retry' THEN 0 WHEN 'cod' THEN 1 WHEN 'return_pickup' THEN 2 \
                        WHEN 'refund_status' THEN 3 ELSE 4 END";

/// The attempts due at `now` (queued and scheduled by then, and those waiting on data),
/// each re-checked by the policy right before dialling, highest-priority flow first and
/// each in its own transaction. One still allowed moves to `dialing` (dialled at `now`)
/// and is returned; the others record their new decision: queued for later, waiting or
/// blocked.
pub(super) async fn claim_due(
    pool: &sqlx::AnyPool,
    node: &super::sql::Node,
    rules: &Rules,
    now: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<Claimed>> {
    let sql = format!(
        "SELECT a.id, a.customer_id, a.flow, a.subject_id, a.attempt_no, a.trigger, a.not_before, a.deadline, a.expires, \
         a.context, c.phone FROM attempts a JOIN customers c ON c.id = a.customer_id \
         WHERE a.state IN ('queued', 'waiting') AND a.scheduled_at <= $1 \
         AND a.flow NOT IN (SELECT flow FROM flow_pauses) \
         ORDER BY {PRIORITY}, a.scheduled_at, a.created_at, a.customer_id, a.subject_id, a.attempt_no LIMIT $2"
    );
    // A backlog is read a few claims' worth at a time (some of what is read is deferred
    // again); the rest waits for the next tick.
    let window = (limit as i64).saturating_mul(4).max(64);
    let rows = fair(sqlx::query(&sql).bind(timestamp(now)).bind(window).fetch_all(pool).await?)?;
    let mut claimed = Vec::new();
    for r in rows {
        if claimed.len() as u32 >= limit {
            break;
        }
        let id: String = r.try_get("id")?;
        let Some(flow) = Flow::parse(&r.try_get::<String, _>("flow")?) else { continue };
        let context: Value = serde_json::from_str(&r.try_get::<String, _>("context")?).unwrap_or(Value::Null);
        let callback = context.get("callback").and_then(Value::as_bool).unwrap_or(false);
        let due = Due {
            flow,
            customer_id: r.try_get("customer_id")?,
            subject_id: r.try_get("subject_id")?,
            trigger: "recheck",
            not_before: time(&r.try_get::<String, _>("not_before")?)?,
            deadline: time(&r.try_get::<String, _>("deadline")?)?,
            expires: r.try_get::<Option<String>, _>("expires")?.as_deref().map(time).transpose()?,
            segment: None,
            last_category: None,
        };
        let attempt_no = r.try_get::<i64, _>("attempt_no")? as u32;
        let mut tx = pool.begin().await?;
        if !lock_for_claim(&mut tx, &due.customer_id, &id).await? {
            continue;
        }
        let Some(customer) = customer_state(&mut tx, &due.customer_id, flow, &due.subject_id, now).await? else {
            continue;
        };
        let p = plan(&rules.calendar(flow), &rules.limits, &customer, &due, (attempt_no, callback), now);
        let dial_now = p.scheduled_at == Some(now);
        let state = if dial_now { "dialing" } else { p.state.name() };
        // Only from the state it was read in: what another claimer took meanwhile is left alone.
        let set = sqlx::query(
            "UPDATE attempts SET state = $1, scheduled_at = $2, dialed_at = CASE WHEN $3 = 1 THEN $4 ELSE dialed_at END, \
             node = $5, lease_until = $6 WHERE id = $7 AND state IN ('queued', 'waiting')",
        )
        .bind(state)
        .bind(next_check(&p, now).map(timestamp))
        .bind(dial_now as i64)
        .bind(timestamp(now))
        .bind(&node.name)
        .bind(timestamp(now + node.lease))
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        if set.rows_affected() != 1 {
            continue;
        }
        record(&mut tx, &id, &p.steps).await?;
        if dial_now {
            super::dialing::transition(&mut tx, &id, "dialing", now).await?;
        }
        tx.commit().await?;
        if dial_now {
            claimed.push(Claimed {
                attempt_id: id,
                customer_id: due.customer_id,
                flow,
                subject_id: due.subject_id,
                attempt_no,
                trigger: r.try_get("trigger")?,
                phone: r.try_get("phone")?,
                context,
            });
        }
    }
    Ok(claimed)
}

/// On PostgreSQL, locks the customer (one node decides for a customer at a time, so two
/// nodes never dial one customer at once) and then the attempt, unless another node holds
/// it or took it meanwhile: then false, and it is left to that node. SQLite has one
/// writer at a time already.
async fn lock_for_claim(db: &mut AnyConnection, customer_id: &str, attempt_id: &str) -> StoreResult<bool> {
    let dialect = super::dialect::Dialect::of(db);
    if dialect == super::dialect::Dialect::Sqlite {
        return Ok(true);
    }
    sqlx::query(&format!("SELECT id FROM customers WHERE id = $1 {}", dialect.for_update()))
        .bind(customer_id)
        .execute(&mut *db)
        .await?;
    let free = sqlx::query(&format!(
        "SELECT id FROM attempts WHERE id = $1 AND state IN ('queued', 'waiting') {}",
        dialect.skip_locked()
    ))
    .bind(attempt_id)
    .fetch_optional(&mut *db)
    .await?;
    Ok(free.is_some())
}

/// The due rows taken in turn from each flow (in priority order), so that one flow's
/// backlog never starves the others of dialer places; within a flow, oldest first.
/// (One customer's several due flows are ordered by the policy, not here.)
fn fair(rows: Vec<sqlx::any::AnyRow>) -> StoreResult<Vec<sqlx::any::AnyRow>> {
    let mut by_flow: Vec<(String, std::collections::VecDeque<sqlx::any::AnyRow>)> = Vec::new();
    for r in rows {
        let flow: String = r.try_get("flow")?;
        match by_flow.iter_mut().find(|(f, _)| *f == flow) {
            Some((_, queue)) => queue.push_back(r),
            None => by_flow.push((flow, std::collections::VecDeque::from([r]))),
        }
    }
    let mut out = Vec::new();
    while by_flow.iter().any(|(_, q)| !q.is_empty()) {
        for (_, queue) in by_flow.iter_mut() {
            out.extend(queue.pop_front());
        }
    }
    Ok(out)
}

/// Records how a dialled attempt ended, in one transaction: its result and outcome, state
/// `completed`, its outbox record, and the attempt that follows it (a retry or a requested callback), planned
/// by the policy.
pub(super) async fn finish_attempt(
    pool: &sqlx::AnyPool,
    rules: &Rules,
    attempt_id: &str,
    ended: crate::campaign::retry::DialResult,
    outcome: Option<&str>,
    callback_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<Option<String>> {
    let mut tx = pool.begin().await?;
    let Some(r) = sqlx::query(
        "SELECT customer_id, flow, subject_id, attempt_no, trigger, expires, context, state FROM attempts \
         WHERE id = $1 AND state IN ('dialing', 'ringing', 'answered')",
    )
    .bind(attempt_id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Err(StoreError::Corrupt(format!("attempt {attempt_id:?} is not being dialled")));
    };
    let result = serde_json::to_value(ended).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    sqlx::query("UPDATE attempts SET state = 'completed', result = $1, outcome = $2 WHERE id = $3")
        .bind(&result)
        .bind(outcome)
        .bind(attempt_id)
        .execute(&mut *tx)
        .await?;
    // The customer's other attempts waiting on this call are decided again at once.
    super::dialing::wake_waiting(&mut tx, &r.try_get::<String, _>("customer_id")?, now).await?;
    if outcome == Some("opted_out") {
        // Never called again, by any flow.
        sqlx::query("UPDATE customers SET opted_out = 1, updated_at = $1 WHERE id = $2")
            .bind(timestamp(now))
            .bind(r.try_get::<String, _>("customer_id")?)
            .execute(&mut *tx)
            .await?;
    }
    if r.try_get::<String, _>("state")? != result {
        super::dialing::transition(&mut tx, attempt_id, &result, now).await?;
    }
    super::dialing::transition(&mut tx, attempt_id, "completed", now).await?;
    let flow_name: String = r.try_get("flow")?;
    let flow = Flow::parse(&flow_name).ok_or_else(|| StoreError::Corrupt(format!("attempt flow {flow_name:?}")))?;
    let (customer_id, subject_id): (String, String) = (r.try_get("customer_id")?, r.try_get("subject_id")?);
    let attempt_no = r.try_get::<i64, _>("attempt_no")? as u32;
    enqueue_outcome(
        &mut tx,
        attempt_id,
        &customer_id,
        flow,
        &subject_id,
        attempt_no,
        &result,
        outcome,
        callback_time,
        now,
    )
    .await?;
    let failures: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM attempts WHERE flow = $1 AND subject_id = $2 AND result = 'failed'")
            .bind(flow.name())
            .bind(&subject_id)
            .fetch_one(&mut *tx)
            .await?;
    let next =
        crate::campaign::retry::next(&rules.limits, attempt_no, ended, outcome, callback_time, failures as u32, now);
    let (number, not_before) = match next {
        crate::campaign::retry::Next::Retry { attempt_no, not_before } => ((attempt_no, false), not_before),
        crate::campaign::retry::Next::Callback { attempt_no, at } => ((attempt_no, true), at),
        crate::campaign::retry::Next::Done => {
            tx.commit().await?;
            return Ok(None);
        }
    };
    let trigger = if number.1 { "callback" } else { "retry" };
    let due = Due {
        flow,
        customer_id,
        subject_id,
        trigger,
        not_before,
        deadline: not_before,
        expires: r.try_get::<Option<String>, _>("expires")?.as_deref().map(time).transpose()?,
        segment: None,
        last_category: None,
    };
    let mut context: Value = serde_json::from_str(&r.try_get::<String, _>("context")?).unwrap_or(json!({}));
    if let Some(map) = context.as_object_mut() {
        map.insert("callback".into(), Value::Bool(number.1));
        map.insert("after".into(), Value::String(attempt_id.to_string()));
    }
    insert_numbered(&mut tx, rules, &due, number, context, now).await?;
    tx.commit().await?;
    Ok(Some(trigger.to_string()))
}

/// The outbox: one record per ended attempt, written with the attempt's end; its id is
/// the attempt's (the webhook's idempotency key).
pub(super) const OUTBOX: &str = r#"
CREATE TABLE outbox (
    attempt_id TEXT PRIMARY KEY REFERENCES attempts (id),
    customer_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    outcome TEXT NOT NULL,
    dissatisfied INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    next_try_at TEXT NOT NULL,
    delivered_at TEXT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (delivered_at, next_try_at);
"#;

/// The outbox record of an ended attempt, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
async fn enqueue_outcome(
    db: &mut AnyConnection,
    attempt_id: &str,
    customer_id: &str,
    flow: Flow,
    subject_id: &str,
    attempt_no: u32,
    result: &str,
    outcome: Option<&str>,
    callback_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    // The call's outcome when answered, else how the dial went (`no_answer` too).
    let code = outcome.unwrap_or(result);
    let dissatisfied = crate::campaign::outbox::dissatisfied(outcome);
    let body = json!({
        "attempt_id": attempt_id, "customer_id": customer_id, "flow": flow.name(), "subject_id": subject_id,
        "attempt_no": attempt_no, "result": result, "outcome": code, "callback_time": callback_time.map(timestamp),
        "dissatisfied": dissatisfied, "ended_at": timestamp(now),
    });
    sqlx::query(
        "INSERT INTO outbox (attempt_id, customer_id, flow, outcome, dissatisfied, body, created_at, next_try_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(attempt_id)
    .bind(customer_id)
    .bind(flow.name())
    .bind(code)
    .bind(dissatisfied as i64)
    .bind(body.to_string())
    .bind(timestamp(now))
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Every deferral and block recorded, in time order: (at, customer, flow, subject,
/// decision, rule, until).
pub(super) async fn decision_log(pool: &sqlx::AnyPool) -> StoreResult<Vec<Value>> {
    type Row = (String, String, String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT d.at, a.customer_id, a.flow, a.subject_id, d.decision, d.rule, d.until FROM decisions d \
         JOIN attempts a ON a.id = d.attempt_id WHERE d.decision IN ('wait', 'never', 'deferred') \
         ORDER BY d.at, a.id, d.seq",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, customer_id, flow, subject_id, decision, rule, until)| {
            json!({"at": at, "customer_id": customer_id, "flow": flow, "subject_id": subject_id, "rule": rule,
                   "decision": decision, "until": until})
        })
        .collect())
}

/// How many decisions were recorded, all kinds.
pub(super) async fn decision_count(pool: &sqlx::AnyPool) -> StoreResult<u64> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM decisions").fetch_one(pool).await? as u64)
}

/// The next moment an attempt is due to be dialled or decided again, and the next
/// outcome delivery try.
pub(super) async fn next_wakeup(pool: &sqlx::AnyPool) -> StoreResult<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> {
    let attempt: Option<String> =
        sqlx::query_scalar("SELECT MIN(scheduled_at) FROM attempts WHERE state IN ('queued', 'waiting')")
            .fetch_one(pool)
            .await?;
    let outbox: Option<String> =
        sqlx::query_scalar("SELECT MIN(next_try_at) FROM outbox WHERE delivered_at IS NULL").fetch_one(pool).await?;
    Ok((attempt.as_deref().map(time).transpose()?, outbox.as_deref().map(time).transpose()?))
}

/// Outbox records not yet delivered whose next try is due, oldest first: (attempt id,
/// body, tries so far).
pub(super) async fn outbox_due(
    pool: &sqlx::AnyPool,
    node: &super::sql::Node,
    now: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<(String, String, u32)>> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        "SELECT attempt_id, body, tries FROM outbox WHERE delivered_at IS NULL AND next_try_at <= $1 \
         AND (held_until IS NULL OR held_until < $1 OR held_by = $3) ORDER BY created_at LIMIT $2 {}",
        super::dialect::Dialect::of(&tx).skip_locked()
    ))
    .bind(timestamp(now))
    .bind(limit as i64)
    .bind(&node.name)
    .fetch_all(&mut *tx)
    .await?;
    // Held for this try (other nodes leave them alone) until the lease runs out: a node
    // that dies mid-delivery has its records tried again by another, or by itself at
    // its restart.
    for (id, _, _) in &rows {
        sqlx::query("UPDATE outbox SET held_by = $1, held_until = $2 WHERE attempt_id = $3")
            .bind(&node.name)
            .bind(timestamp(now + node.lease))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(rows.into_iter().map(|(id, body, tries)| (id, body, tries as u32)).collect())
}

/// A delivery try's result: delivered, or the error and when to try again.
pub(super) async fn outbox_tried(
    pool: &sqlx::AnyPool,
    attempt_id: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let tries: i64 = sqlx::query_scalar("SELECT tries FROM outbox WHERE attempt_id = $1")
        .bind(attempt_id)
        .fetch_one(&mut *tx)
        .await?;
    match error {
        None => {
            sqlx::query(
                "UPDATE outbox SET tries = tries + 1, delivered_at = $1, last_error = NULL, held_by = NULL, \
                 held_until = NULL WHERE attempt_id = $2",
            )
            .bind(timestamp(now))
            .bind(attempt_id)
            .execute(&mut *tx)
            .await?;
        }
        Some(e) => {
            let next = now + crate::campaign::outbox::backoff(tries as u32);
            sqlx::query(
                "UPDATE outbox SET tries = tries + 1, next_try_at = $1, last_error = $2, held_by = NULL, \
                 held_until = NULL WHERE attempt_id = $3",
            )
            .bind(timestamp(next))
            .bind(e)
            .bind(attempt_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
