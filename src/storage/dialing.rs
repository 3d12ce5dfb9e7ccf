//! An attempt's life on the dialer: the call placed for it, each transition (queued,
//! dialing, ringing, answered or how the dial ended, completed) with its time, attempts
//! given back when a trunk had no room, flows paused by an operator, and the listings
//! and counts the campaigns API shows.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

use super::{timestamp, StoreError, StoreResult};

pub(super) const MIGRATION: &str = r#"
ALTER TABLE attempts ADD COLUMN call_id TEXT;
CREATE TABLE transitions (
    attempt_id TEXT NOT NULL REFERENCES attempts (id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (attempt_id, seq)
);
-- The win-back selection asks whether an order was returned; scheduling reads the
-- events not yet scheduled.
CREATE INDEX returns_by_order ON returns (order_id);
CREATE INDEX events_unscheduled ON events (at, id) WHERE scheduled = 0;
CREATE TABLE flow_pauses (
    flow TEXT PRIMARY KEY,
    paused_at TEXT NOT NULL
);
"#;

/// Appends a transition to an attempt's history, in the caller's transaction.
pub(super) async fn transition(
    db: &mut AnyConnection,
    attempt_id: &str,
    state: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO transitions (attempt_id, seq, at, state) \
         SELECT $1, COALESCE(MAX(seq) + 1, 0), $2, $3 FROM transitions WHERE attempt_id = $1",
    )
    .bind(attempt_id)
    .bind(timestamp(at))
    .bind(state)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Appends one dialer decision (`dialed`, or `deferred` by `rule` until `at`), in the
/// caller's transaction.
async fn note(
    db: &mut AnyConnection,
    attempt_id: &str,
    decision: &str,
    rule: Option<&str>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let until = rule.map(|_| timestamp(at));
    sqlx::query(
        "INSERT INTO decisions (attempt_id, seq, at, decision, rule, until) \
         SELECT $1, COALESCE(MAX(seq) + 1, 0), $2, $3, $4, $5 FROM decisions WHERE attempt_id = $1",
    )
    .bind(attempt_id)
    .bind(timestamp(at))
    .bind(decision)
    .bind(rule)
    .bind(until)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Attempts of the customer waiting on data are decided again at `at` (their data
/// changed, or their call ended), in the caller's transaction.
pub(super) async fn wake_waiting(db: &mut AnyConnection, customer_id: &str, at: DateTime<Utc>) -> StoreResult<()> {
    sqlx::query("UPDATE attempts SET scheduled_at = $1 WHERE customer_id = $2 AND state = 'waiting'")
        .bind(timestamp(at))
        .bind(customer_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// The call placed for a claimed attempt (before it is dialled, so a restart finds it),
/// if this node still holds the attempt: an error otherwise, and the call is not dialled.
pub(super) async fn attempt_call(
    pool: &sqlx::AnyPool,
    node: &str,
    attempt_id: &str,
    call_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let set = sqlx::query(
        "UPDATE attempts SET call_id = $1 WHERE id = $2 AND state = 'dialing' AND call_id IS NULL AND node = $3",
    )
    .bind(call_id)
    .bind(attempt_id)
    .bind(node)
    .execute(&mut *tx)
    .await?;
    if set.rows_affected() != 1 {
        return Err(StoreError::Corrupt(format!("attempt {attempt_id:?} is not waiting for its call")));
    }
    note(&mut tx, attempt_id, "dialed", None, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A dial's progress: `ringing`, then `answered`. Only forward: a late `ringing` after
/// the answer changes nothing. Returns whether it changed.
pub(super) async fn attempt_progress(
    pool: &sqlx::AnyPool,
    attempt_id: &str,
    state: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let from = match state {
        "ringing" => "('dialing')",
        "answered" => "('dialing', 'ringing')",
        other => return Err(StoreError::Corrupt(format!("{other:?} is not a dial's progress"))),
    };
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(&format!("UPDATE attempts SET state = $1 WHERE id = $2 AND state IN {from}"))
        .bind(state)
        .bind(attempt_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if changed {
        transition(&mut tx, attempt_id, state, now).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// A claimed attempt that was never dialled (its trunk had no room, its context did not
/// fit the flow): queued again at `now`, its dial undone, the reason recorded.
pub(super) async fn release_attempt(
    pool: &sqlx::AnyPool,
    node: &str,
    attempt_id: &str,
    rule: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let released = sqlx::query(
        "UPDATE attempts SET state = 'queued', scheduled_at = $1, dialed_at = NULL \
         WHERE id = $2 AND state = 'dialing' AND call_id IS NULL AND node = $3",
    )
    .bind(timestamp(now))
    .bind(attempt_id)
    .bind(node)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if released == 1 {
        note(&mut tx, attempt_id, "deferred", Some(rule), now).await?;
        transition(&mut tx, attempt_id, "queued", now).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn set_paused(pool: &sqlx::AnyPool, flow: &str, paused: bool, now: DateTime<Utc>) -> StoreResult<()> {
    if paused {
        sqlx::query("INSERT INTO flow_pauses (flow, paused_at) VALUES ($1, $2) ON CONFLICT (flow) DO NOTHING")
            .bind(flow)
            .bind(timestamp(now))
            .execute(pool)
            .await?;
    } else {
        sqlx::query("DELETE FROM flow_pauses WHERE flow = $1").bind(flow).execute(pool).await?;
    }
    Ok(())
}

/// Paused flows and since when.
pub(super) async fn paused(pool: &sqlx::AnyPool) -> StoreResult<Vec<(String, String)>> {
    Ok(sqlx::query_as("SELECT flow, paused_at FROM flow_pauses ORDER BY flow").fetch_all(pool).await?)
}

/// What `GET /v1/attempts` filters on.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AttemptFilter {
    pub flow: Option<String>,
    pub state: Option<String>,
    pub customer_id: Option<String>,
    pub limit: Option<u32>,
}

const ATTEMPT_COLUMNS: &str = "id, customer_id, flow, subject_id, attempt_no, trigger, state, not_before, deadline, \
     expires, scheduled_at, dialed_at, result, outcome, call_id, created_at, node, lease_until";

fn attempt_json(r: &sqlx::any::AnyRow) -> StoreResult<Value> {
    let text = |name: &str| r.try_get::<Option<String>, _>(name);
    Ok(json!({
        "attempt_id": text("id")?, "customer_id": text("customer_id")?, "flow": text("flow")?,
        "subject_id": text("subject_id")?, "attempt_no": r.try_get::<i64, _>("attempt_no")?,
        "trigger": text("trigger")?, "state": text("state")?, "not_before": text("not_before")?,
        "deadline": text("deadline")?, "expires": text("expires")?, "scheduled_at": text("scheduled_at")?,
        "dialed_at": text("dialed_at")?, "result": text("result")?, "outcome": text("outcome")?,
        "call_id": text("call_id")?, "created_at": text("created_at")?, "node": text("node")?,
        "lease_until": text("lease_until")?,
    }))
}

/// Attempts, newest first, as the filter asks (at most 1000).
pub(super) async fn list(pool: &sqlx::AnyPool, filter: &AttemptFilter) -> StoreResult<Vec<Value>> {
    let rows = sqlx::query(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE ($1 IS NULL OR flow = $1) AND ($2 IS NULL OR state = $2) \
         AND ($3 IS NULL OR customer_id = $3) ORDER BY created_at DESC, id LIMIT $4"
    ))
    .bind(&filter.flow)
    .bind(&filter.state)
    .bind(&filter.customer_id)
    .bind(filter.limit.unwrap_or(100).min(1000) as i64)
    .fetch_all(pool)
    .await?;
    rows.iter().map(attempt_json).collect()
}

/// One attempt with its transitions and decisions.
pub(super) async fn show(pool: &sqlx::AnyPool, id: &str) -> StoreResult<Option<Value>> {
    let Some(r) = sqlx::query(&format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let mut attempt = attempt_json(&r)?;
    let transitions: Vec<(String, String)> =
        sqlx::query_as("SELECT at, state FROM transitions WHERE attempt_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(pool)
            .await?;
    attempt["transitions"] = transitions.into_iter().map(|(at, state)| json!({"at": at, "state": state})).collect();
    let decisions: Vec<(String, String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT at, decision, rule, until FROM decisions WHERE attempt_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(pool)
            .await?;
    attempt["decisions"] = decisions
        .into_iter()
        .map(|(at, decision, rule, until)| json!({"at": at, "decision": decision, "rule": rule, "until": until}))
        .collect();
    Ok(Some(attempt))
}

/// Counts by flow: attempts by state, ended attempts by result and by outcome, outbox
/// records delivered and waiting.
pub(super) async fn stats(pool: &sqlx::AnyPool) -> StoreResult<Value> {
    let mut flows = serde_json::Map::new();
    let mut add = |flow: String, group: &str, key: String, n: i64| {
        let entry = flows.entry(flow).or_insert_with(|| json!({"states": {}, "results": {}, "outcomes": {}}));
        entry[group][key] = json!(n);
    };
    let groups = [
        ("states", "SELECT flow, state, COUNT(*) FROM attempts GROUP BY flow, state"),
        ("results", "SELECT flow, result, COUNT(*) FROM attempts WHERE result IS NOT NULL GROUP BY flow, result"),
        ("outcomes", "SELECT flow, outcome, COUNT(*) FROM outbox GROUP BY flow, outcome"),
    ];
    for (group, sql) in groups {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(sql).fetch_all(pool).await?;
        for (flow, key, n) in rows {
            add(flow, group, key, n);
        }
    }
    let (delivered, waiting, dissatisfied): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(delivered_at), COUNT(*) - COUNT(delivered_at), \
         CAST(COALESCE(SUM(dissatisfied), 0) AS BIGINT) FROM outbox",
    )
    .fetch_one(pool)
    .await?;
    Ok(json!({
        "flows": flows,
        "outbox": {"delivered": delivered, "waiting": waiting, "dissatisfied": dissatisfied},
    }))
}
