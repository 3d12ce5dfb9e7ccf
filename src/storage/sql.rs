//! The store over SQL: calls, and the campaign tables of the modules beside it.

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Column, Row};

use super::dialect::Dialect;
use super::records::*;
use super::{
    timestamp, Applied, ImportReport, OnTheDialer, Refusal, StorageUrl, Store, StoreError, StoreResult, Wakeup,
};
use crate::campaign::crm::events::Event;
use crate::campaign::crm::{Batch, Kind};
use crate::campaign::schedule::Rules;

/// Schema steps in order (SQLite's DDL; see [`Dialect::ddl`]); the database keeps how many have run.
const MIGRATIONS: &[&str] = &[
    CALLS,
    super::crm::MIGRATION,
    super::attempts::MIGRATION,
    super::attempts::OUTBOX,
    super::dialing::MIGRATION,
    super::leases::MIGRATION,
];

const CALLS: &str = r#"
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    context TEXT NOT NULL,
    token TEXT NOT NULL DEFAULT '',
    transport TEXT,
    carrier_call_id TEXT,
    state TEXT NOT NULL,
    result TEXT,
    outcome TEXT,
    handoff TEXT,
    slots TEXT,
    summary TEXT,
    recording_path TEXT,
    consent INTEGER NOT NULL DEFAULT 0,
    closed TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT
);
CREATE INDEX calls_by_created ON calls (created_at);
CREATE TABLE transcript (
    call_id TEXT NOT NULL REFERENCES calls (id),
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    text TEXT NOT NULL,
    intent TEXT,
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE timeline (
    call_id TEXT NOT NULL REFERENCES calls (id),
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
"#;

/// Who this store writes as: the node's name, stamped on the calls it takes and the
/// attempts it dials, and how long its claim on an attempt lasts unrenewed.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub lease: chrono::Duration,
}

impl Default for Node {
    fn default() -> Self {
        Node { name: "local".into(), lease: chrono::Duration::seconds(30) }
    }
}

/// The store on SQLite or PostgreSQL: the same queries and migrations on both.
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    node: Node,
}

impl SqlStore {
    pub async fn open(url: &StorageUrl, node: Node) -> StoreResult<Self> {
        let (pool, dialect) = match url {
            StorageUrl::Sqlite(path) => (Dialect::sqlite(path).await?, Dialect::Sqlite),
            StorageUrl::Postgres(url) => (Dialect::postgres(url).await?, Dialect::Postgres),
        };
        let store = SqlStore { pool, dialect, node };
        store.migrate().await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        self.dialect.lock_schema(&mut tx).await?;
        let version = self.dialect.version(&mut tx).await?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::Unsupported(format!(
                "the database is at schema {version}, newer than this voxline ({})",
                MIGRATIONS.len()
            )));
        }
        for step in &MIGRATIONS[version..] {
            sqlx::raw_sql(&self.dialect.ddl(step)).execute(&mut *tx).await?;
        }
        self.dialect.set_version(&mut tx, MIGRATIONS.len()).await?;
        tx.commit().await?;
        Ok(())
    }
}

const SUMMARY_COLUMNS: &str = "id, flow, transport, carrier_call_id, state, result, outcome, created_at, started_at, \
     ended_at, closed, recording_path, consent";

fn summary(row: &AnyRow) -> StoreResult<CallSummaryRow> {
    let state: String = row.try_get("state")?;
    Ok(CallSummaryRow {
        id: row.try_get("id")?,
        flow: row.try_get("flow")?,
        transport: row.try_get("transport")?,
        carrier_call_id: row.try_get("carrier_call_id")?,
        state: CallState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("call state {state:?}")))?,
        result: row.try_get("result")?,
        outcome: row.try_get("outcome")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        closed: row.try_get("closed")?,
        recording: row.try_get::<Option<String>, _>("recording_path")?.is_some(),
        consent: row.try_get::<i64, _>("consent")? != 0,
    })
}

fn json(text: &str, what: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

impl Store for SqlStore {
    fn create_call(&self, call: NewCall) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            sqlx::query(
                "INSERT INTO calls (id, flow, context, token, state, created_at, node) \
                 VALUES ($1, $2, $3, $4, 'pending', $5, $6)",
            )
            .bind(&call.id)
            .bind(&call.flow)
            .bind(call.context.to_string())
            .bind(&call.token)
            .bind(&call.created_at)
            .bind(&self.node.name)
            .execute(&self.pool)
            .await?;
            Ok(())
        }
        .boxed()
    }

    fn call_live(&self, call: LiveCall) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            sqlx::query(
                "INSERT INTO calls (id, flow, context, state, created_at) VALUES ($1, $2, $3, 'live', $4) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&call.id)
            .bind(&call.flow)
            .bind(call.context.to_string())
            .bind(&call.started_at)
            .execute(&self.pool)
            .await?;
            sqlx::query(
                "UPDATE calls SET state = 'live', transport = $1, carrier_call_id = $2, started_at = $3, \
                 recording_path = $4, consent = $5, node = $6 WHERE id = $7",
            )
            .bind(&call.transport)
            .bind(&call.carrier_call_id)
            .bind(&call.started_at)
            .bind(&call.recording_path)
            .bind(call.consent as i64)
            .bind(&self.node.name)
            .bind(&call.id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }
        .boxed()
    }

    fn call_ended(&self, call: EndedCall) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            let mut tx = self.pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE calls SET state = 'ended', ended_at = $1, outcome = $2, handoff = $3, closed = $4, slots = $5, \
                 summary = $6 WHERE id = $7",
            )
            .bind(&call.ended_at)
            .bind(&call.outcome)
            .bind(call.handoff.as_ref().map(|h| h.to_string()))
            .bind(&call.closed)
            .bind(serde_json::to_string(&call.slots).unwrap_or_default())
            .bind(call.summary.to_string())
            .bind(&call.id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::UnknownCall(call.id));
            }
            for (seq, line) in call.transcript.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO transcript (call_id, seq, at_ms, speaker, text, intent) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&call.id)
                .bind(seq as i64)
                .bind(line.at_ms as i64)
                .bind(&line.speaker)
                .bind(&line.text)
                .bind(&line.intent)
                .execute(&mut *tx)
                .await?;
            }
            for (seq, event) in call.timeline.iter().enumerate() {
                sqlx::query("INSERT INTO timeline (call_id, seq, at_ms, event) VALUES ($1, $2, $3, $4)")
                    .bind(&call.id)
                    .bind(seq as i64)
                    .bind(event["at_ms"].as_i64().unwrap_or(0))
                    .bind(event.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .boxed()
    }

    fn call_ringing(&self, id: String, transport: String, carrier_call_id: String) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            let done = sqlx::query(
                "UPDATE calls SET state = 'ringing', transport = $1, carrier_call_id = $2 WHERE id = $3 AND state = 'pending'",
            )
            .bind(&transport)
            .bind(&carrier_call_id)
            .bind(&id)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::UnknownCall(id));
            }
            Ok(())
        }
        .boxed()
    }

    fn dial_result(&self, id: String, result: String, ended: Option<EndedDial>) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            let done = match ended {
                None => sqlx::query("UPDATE calls SET result = $1 WHERE id = $2").bind(&result).bind(&id),
                Some(end) => sqlx::query(
                    "UPDATE calls SET result = $1, state = 'ended', ended_at = $2, closed = $3, summary = $4 WHERE id = $5",
                )
                .bind(&result)
                .bind(end.ended_at)
                .bind(end.closed)
                .bind(end.summary.to_string())
                .bind(&id),
            }
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::UnknownCall(id));
            }
            Ok(())
        }
        .boxed()
    }

    fn call_handoff(&self, id: String, packet: serde_json::Value) -> BoxFuture<'_, StoreResult<()>> {
        async move {
            let done = sqlx::query("UPDATE calls SET handoff = $1 WHERE id = $2")
                .bind(packet.to_string())
                .bind(&id)
                .execute(&self.pool)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::UnknownCall(id));
            }
            Ok(())
        }
        .boxed()
    }

    fn end_interrupted(&self, ended_at: String, closed: String) -> BoxFuture<'_, StoreResult<u64>> {
        async move {
            let done = sqlx::query(
                "UPDATE calls SET state = 'ended', ended_at = $1, closed = $2 WHERE state IN ('live', 'ringing') \
                 AND (node = $3 OR node IS NULL)",
            )
            .bind(&ended_at)
            .bind(&closed)
            .bind(&self.node.name)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        }
        .boxed()
    }

    fn get_call(&self, id: String) -> BoxFuture<'_, StoreResult<Option<CallRecord>>> {
        async move {
            let mut conn = self.pool.acquire().await?;
            let sql =
                format!("SELECT {SUMMARY_COLUMNS}, context, handoff, slots, summary, token FROM calls WHERE id = $1");
            let Some(row) = sqlx::query(&sql).bind(&id).fetch_optional(&mut *conn).await? else { return Ok(None) };
            let transcript =
                sqlx::query("SELECT at_ms, speaker, text, intent FROM transcript WHERE call_id = $1 ORDER BY seq")
                    .bind(&id)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(StoredLine {
                            at_ms: r.try_get::<i64, _>("at_ms")? as u64,
                            speaker: r.try_get("speaker")?,
                            text: r.try_get("text")?,
                            intent: r.try_get("intent")?,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
            let timeline = sqlx::query("SELECT event FROM timeline WHERE call_id = $1 ORDER BY seq")
                .bind(&id)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| json(&r.try_get::<String, _>("event")?, "timeline event"))
                .collect::<StoreResult<Vec<_>>>()?;
            let optional_json = |column: &str| -> StoreResult<Option<serde_json::Value>> {
                let text: Option<String> = row.try_get(column)?;
                text.map(|t| json(&t, column)).transpose()
            };
            Ok(Some(CallRecord {
                call: summary(&row)?,
                context: json(&row.try_get::<String, _>("context")?, "call context")?,
                handoff: optional_json("handoff")?,
                slots: optional_json("slots")?.unwrap_or_else(|| serde_json::json!({})),
                summary: optional_json("summary")?,
                transcript,
                timeline,
                token: row.try_get("token")?,
                recording_path: row.try_get("recording_path")?,
            }))
        }
        .boxed()
    }

    fn list_calls(&self, filter: CallFilter) -> BoxFuture<'_, StoreResult<Vec<CallSummaryRow>>> {
        async move {
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS} FROM calls WHERE ($1 IS NULL OR flow = $1) AND ($2 IS NULL OR outcome = $2) \
                 AND ($3 IS NULL OR created_at >= $3) AND ($4 IS NULL OR created_at < $4) \
                 ORDER BY created_at DESC, id DESC LIMIT $5"
            );
            let limit = if filter.limit == 0 { 100 } else { filter.limit };
            sqlx::query(&sql)
                .bind(&filter.flow)
                .bind(&filter.outcome)
                .bind(&filter.since)
                .bind(&filter.until)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(summary)
                .collect()
        }
        .boxed()
    }

    fn import_crm(&self, batch: Batch) -> BoxFuture<'_, StoreResult<ImportReport>> {
        async move {
            let mut tx = self.pool.begin().await?;
            let report = super::crm::import(&mut tx, batch, timestamp(chrono::Utc::now())).await?;
            tx.commit().await?;
            Ok(report)
        }
        .boxed()
    }

    fn apply_event(&self, event: Event, body: String) -> BoxFuture<'_, StoreResult<Result<Applied, Refusal>>> {
        async move {
            let mut tx = self.pool.begin().await?;
            let applied = super::crm::apply_event(&mut tx, &event, &body, &timestamp(chrono::Utc::now())).await?;
            if applied.is_ok() {
                tx.commit().await?;
            }
            Ok(applied)
        }
        .boxed()
    }

    fn schedule_pending(&self, rules: Rules, now: chrono::DateTime<chrono::Utc>) -> BoxFuture<'_, StoreResult<u64>> {
        async move { super::attempts::schedule_pending(&self.pool, &rules, now).await }.boxed()
    }

    fn schedule_winback(&self, rules: Rules, now: chrono::DateTime<chrono::Utc>) -> BoxFuture<'_, StoreResult<u64>> {
        async move { super::attempts::schedule_winback(&self.pool, &rules, now).await }.boxed()
    }

    fn claim_due(
        &self,
        rules: Rules,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<super::Claimed>>> {
        async move { super::attempts::claim_due(&self.pool, &self.node, &rules, now, limit).await }.boxed()
    }

    fn finish_attempt(
        &self,
        rules: Rules,
        attempt_id: String,
        result: crate::campaign::retry::DialResult,
        outcome: Option<String>,
        callback_time: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<Option<String>>> {
        async move {
            super::attempts::finish_attempt(
                &self.pool,
                &rules,
                &attempt_id,
                result,
                outcome.as_deref(),
                callback_time,
                now,
            )
            .await
        }
        .boxed()
    }

    fn decision_log(&self) -> BoxFuture<'_, StoreResult<Vec<serde_json::Value>>> {
        async move { super::attempts::decision_log(&self.pool).await }.boxed()
    }

    fn decision_count(&self) -> BoxFuture<'_, StoreResult<u64>> {
        async move { super::attempts::decision_count(&self.pool).await }.boxed()
    }

    fn next_wakeup(&self) -> BoxFuture<'_, StoreResult<Wakeup>> {
        async move { super::attempts::next_wakeup(&self.pool).await }.boxed()
    }

    fn outbox_due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<(String, String, u32)>>> {
        async move { super::attempts::outbox_due(&self.pool, &self.node, now, limit).await }.boxed()
    }

    fn outbox_tried(
        &self,
        attempt_id: String,
        error: Option<String>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        async move { super::attempts::outbox_tried(&self.pool, &attempt_id, error.as_deref(), now).await }.boxed()
    }

    fn attempt_call(
        &self,
        attempt_id: String,
        call_id: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        async move { super::dialing::attempt_call(&self.pool, &self.node.name, &attempt_id, &call_id, now).await }
            .boxed()
    }

    fn attempt_progress(
        &self,
        attempt_id: String,
        state: &'static str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<bool>> {
        async move { super::dialing::attempt_progress(&self.pool, &attempt_id, state, now).await }.boxed()
    }

    fn release_attempt(
        &self,
        attempt_id: String,
        rule: &'static str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        async move { super::dialing::release_attempt(&self.pool, &self.node.name, &attempt_id, rule, now).await }
            .boxed()
    }

    fn take_over(&self, now: chrono::DateTime<chrono::Utc>) -> BoxFuture<'_, StoreResult<Vec<OnTheDialer>>> {
        async move { super::leases::take_over(&self.pool, &self.node, now).await }.boxed()
    }

    fn renew_leases(&self, now: chrono::DateTime<chrono::Utc>) -> BoxFuture<'_, StoreResult<Vec<String>>> {
        async move { super::leases::renew(&self.pool, &self.node, now).await }.boxed()
    }

    fn set_paused(
        &self,
        flow: String,
        paused: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        async move { super::dialing::set_paused(&self.pool, &flow, paused, now).await }.boxed()
    }

    fn paused(&self) -> BoxFuture<'_, StoreResult<Vec<(String, String)>>> {
        async move { super::dialing::paused(&self.pool).await }.boxed()
    }

    fn list_attempts(&self, filter: super::AttemptFilter) -> BoxFuture<'_, StoreResult<Vec<serde_json::Value>>> {
        async move { super::dialing::list(&self.pool, &filter).await }.boxed()
    }

    fn get_attempt(&self, id: String) -> BoxFuture<'_, StoreResult<Option<serde_json::Value>>> {
        async move { super::dialing::show(&self.pool, &id).await }.boxed()
    }

    fn attempt_stats(&self) -> BoxFuture<'_, StoreResult<serde_json::Value>> {
        async move { super::dialing::stats(&self.pool).await }.boxed()
    }

    fn why(&self, customer_id: String) -> BoxFuture<'_, StoreResult<Vec<serde_json::Value>>> {
        async move { super::attempts::why(&self.pool, &customer_id).await }.boxed()
    }

    fn crm_row(&self, kind: Kind, id: String) -> BoxFuture<'_, StoreResult<Option<serde_json::Value>>> {
        async move {
            let row = sqlx::query(super::crm::select_one(kind)).bind(&id).fetch_optional(&self.pool).await?;
            Ok(row.map(|row| {
                let columns = row.columns().iter().map(|c| {
                    let i = c.ordinal();
                    let value = match row.try_get::<Option<i64>, _>(i) {
                        Ok(Some(n)) => serde_json::Value::from(n),
                        Ok(None) => serde_json::Value::Null,
                        Err(_) => row
                            .try_get::<Option<String>, _>(i)
                            .ok()
                            .flatten()
                            .map_or(serde_json::Value::Null, Into::into),
                    };
                    (c.name().to_string(), value)
                });
                serde_json::Value::Object(columns.collect())
            }))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each store test runs on both databases: a SQLite file and a database on a
    /// throwaway PostgreSQL cluster.
    macro_rules! on_both {
        ($($name:ident),* $(,)?) => { $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(super::Which::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name(super::Which::Postgres).await
                }
            }
        )* };
    }

    on_both!(
        a_call_is_written_once_and_read_back_whole,
        calls_a_killed_server_left_live_are_ended_at_startup,
        a_dialled_call_rings_then_ends_with_its_result,
        an_event_stored_before_a_crash_is_scheduled_at_the_next_start,
        a_moved_pickup_moves_its_call,
        an_attempt_is_rechecked_dialled_once_and_retried_at_a_new_hour,
        paused_flows_released_attempts_tickets_and_opt_outs,
    );

    #[derive(Clone, Copy)]
    enum Which {
        Sqlite,
        Postgres,
    }

    /// A test's database, removed on drop.
    struct Db {
        url: StorageUrl,
        dir: std::path::PathBuf,
        _cluster: Option<crate::io::pg_cluster::PgCluster>,
    }

    impl Db {
        async fn open(&self) -> SqlStore {
            SqlStore::open(&self.url, Node::default()).await.unwrap()
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn store(which: Which, name: &str) -> (SqlStore, Db) {
        let dir = std::env::temp_dir().join(format!("voxline-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = match which {
            Which::Sqlite => Db { url: StorageUrl::Sqlite(dir.join("calls.db")), dir, _cluster: None },
            Which::Postgres => {
                let cluster = crate::io::pg_cluster::PgCluster::start().unwrap();
                let url = StorageUrl::Postgres(cluster.database("voxline").unwrap());
                Db { url, dir, _cluster: Some(cluster) }
            }
        };
        (db.open().await, db)
    }

    fn live(id: &str) -> LiveCall {
        LiveCall {
            id: id.into(),
            flow: "cod".into(),
            context: json!({"customer": {"name": "Priya"}}),
            transport: "twilio".into(),
            carrier_call_id: format!("CA{id}"),
            started_at: "2026-12-02T10:00:00.000Z".into(),
            recording_path: None,
            consent: false,
        }
    }

    async fn a_call_is_written_once_and_read_back_whole(which: Which) {
        let (store, dir) = store(which, "whole").await;
        store.call_live(live("a")).await.unwrap();
        let ended = EndedCall {
            id: "a".into(),
            ended_at: "2026-12-02T10:01:00.000Z".into(),
            outcome: Some("confirmed".into()),
            handoff: None,
            closed: "call ended".into(),
            transcript: vec![StoredLine {
                at_ms: 900,
                speaker: "caller".into(),
                text: "yes".into(),
                intent: Some("affirm".into()),
            }],
            timeline: vec![json!({"at_ms": 900, "type": "asr_final", "text": "yes"})],
            slots: [("address_ok".to_string(), "yes".to_string())].into(),
            summary: json!({"outcome": "confirmed"}),
        };
        store.call_ended(ended.clone()).await.unwrap();
        let record = store.get_call("a".into()).await.unwrap().unwrap();
        assert_eq!((record.call.state, record.call.outcome.as_deref()), (CallState::Ended, Some("confirmed")));
        assert_eq!(record.transcript, ended.transcript);
        assert_eq!(record.timeline, ended.timeline);
        assert_eq!(record.slots, json!({"address_ok": "yes"}));
        // A second end of the same call would duplicate its transcript: the transaction fails whole.
        assert!(store.call_ended(ended).await.is_err());
        assert_eq!(store.get_call("a".into()).await.unwrap().unwrap().transcript.len(), 1);
        assert!(matches!(
            store.call_ended(EndedCall { id: "nope".into(), ..sample_end() }).await,
            Err(StoreError::UnknownCall(_))
        ));
        drop(dir);
    }

    fn sample_end() -> EndedCall {
        EndedCall {
            id: String::new(),
            ended_at: String::new(),
            outcome: None,
            handoff: None,
            closed: String::new(),
            transcript: vec![],
            timeline: vec![],
            slots: Default::default(),
            summary: json!({}),
        }
    }

    async fn calls_a_killed_server_left_live_are_ended_at_startup(which: Which) {
        let (store, dir) = store(which, "sweep").await;
        store.call_live(live("x")).await.unwrap();
        store.call_live(live("y")).await.unwrap();
        store.call_ended(EndedCall { id: "y".into(), ended_at: "t".into(), ..sample_end() }).await.unwrap();
        drop(store);
        let store = dir.open().await;
        let n = store.end_interrupted("2026-12-02T11:00:00.000Z".into(), "server restarted".into()).await.unwrap();
        assert_eq!(n, 1);
        let x = store.get_call("x".into()).await.unwrap().unwrap();
        assert_eq!((x.call.state, x.call.closed.as_deref()), (CallState::Ended, Some("server restarted")));
        let listed = store.list_calls(CallFilter { limit: 10, ..Default::default() }).await.unwrap();
        assert!(listed.iter().all(|c| c.state == CallState::Ended), "{listed:?}");
        drop(dir);
    }

    async fn a_dialled_call_rings_then_ends_with_its_result(which: Which) {
        let (store, dir) = store(which, "dial").await;
        let new = |id: &str| NewCall {
            id: id.into(),
            flow: "cod".into(),
            context: json!({}),
            token: "t".into(),
            created_at: "2026-12-02T10:00:00.000Z".into(),
        };
        store.create_call(new("busy")).await.unwrap();
        store.call_ringing("busy".into(), "sip".into(), "sip-1".into()).await.unwrap();
        let ringing = store.get_call("busy".into()).await.unwrap().unwrap();
        assert_eq!((ringing.call.state, ringing.call.carrier_call_id.as_deref()), (CallState::Ringing, Some("sip-1")));
        assert!(store.call_ringing("busy".into(), "sip".into(), "sip-2".into()).await.is_err(), "rings once");
        let end = EndedDial {
            ended_at: "2026-12-02T10:00:05.000Z".into(),
            closed: "busy: 486 Busy Here".into(),
            summary: json!({"dial": {"status": 486}}),
        };
        store.dial_result("busy".into(), "busy".into(), Some(end)).await.unwrap();
        let busy = store.get_call("busy".into()).await.unwrap().unwrap();
        assert_eq!((busy.call.state, busy.call.result.as_deref()), (CallState::Ended, Some("busy")));
        assert_eq!(busy.summary.unwrap()["dial"]["status"], 486);

        // Answered: the result is kept through the call's own life.
        store.create_call(new("ok")).await.unwrap();
        store.call_ringing("ok".into(), "sip".into(), "sip-3".into()).await.unwrap();
        store.dial_result("ok".into(), "answered".into(), None).await.unwrap();
        store.call_live(LiveCall { id: "ok".into(), transport: "sip".into(), ..live("ok") }).await.unwrap();
        let ok = store.get_call("ok".into()).await.unwrap().unwrap();
        assert_eq!((ok.call.state, ok.call.result.as_deref()), (CallState::Live, Some("answered")));
        assert!(store.dial_result("nope".into(), "busy".into(), None).await.is_err());

        // A server killed while a call rang ends it at the next start.
        store.create_call(new("cut")).await.unwrap();
        store.call_ringing("cut".into(), "sip".into(), "sip-4".into()).await.unwrap();
        assert_eq!(store.end_interrupted("2026-12-02T11:00:00.000Z".into(), "restart".into()).await.unwrap(), 2);
        let cut = store.get_call("cut".into()).await.unwrap().unwrap();
        assert_eq!(cut.call.state, CallState::Ended);
        drop(dir);
    }

    async fn an_event_stored_before_a_crash_is_scheduled_at_the_next_start(which: Which) {
        let (store, dir) = store(which, "schedule").await;
        let mut batch = Batch::default();
        batch.add("customers.csv", "id,name,phone,timezone\nC1,Asha,+919812345678,Asia/Kolkata\n");
        assert!(store.import_crm(batch).await.unwrap().rejected.is_empty());
        let body = json!({"id": "e1", "type": "order.placed", "at": "2026-12-01T04:00:00Z", "customer_id": "C1",
            "order_id": "O1", "payment": "cod"});
        let event = crate::campaign::crm::events::parse(&body).unwrap();
        assert_eq!(store.apply_event(event.clone(), body.to_string()).await.unwrap().unwrap(), Applied::Applied);
        // The process dies here, before scheduling: the next one finds the event.
        drop(store);
        let store = dir.open().await;
        assert!(store.why("C1".into()).await.unwrap().is_empty());
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T04:02:00Z").unwrap().to_utc();
        let rules = Rules::default();
        assert_eq!(store.schedule_pending(rules.clone(), now).await.unwrap(), 1);
        assert_eq!(store.schedule_pending(rules.clone(), now).await.unwrap(), 0, "scheduled once");
        // The same event re-sent: a duplicate, and no second attempt.
        assert_eq!(store.apply_event(event, body.to_string()).await.unwrap().unwrap(), Applied::Duplicate);
        assert_eq!(store.schedule_pending(rules, now).await.unwrap(), 0);
        let why = store.why("C1".into()).await.unwrap();
        assert_eq!(why.len(), 1);
        assert_eq!((why[0]["flow"].as_str(), why[0]["state"].as_str()), (Some("cod"), Some("queued")));
        // 09:32 IST: inside the window, dialled at once; the deadline is ten minutes after the order.
        assert_eq!(why[0]["scheduled_at"], "2026-12-01T04:02:00.000Z");
        assert_eq!(why[0]["deadline"], "2026-12-01T04:10:00.000Z");
        assert_eq!(
            why[0]["decisions"],
            json!([{"at": "2026-12-01T04:02:00.000Z", "decision": "dial", "rule": null, "until": null}])
        );
        drop(dir);
    }

    async fn a_moved_pickup_moves_its_call(which: Which) {
        let (store, dir) = store(which, "pickup").await;
        let mut batch = Batch::default();
        batch.add("customers.csv", "id,name,phone,timezone\nC1,Asha,+919812345678,Asia/Kolkata\n");
        batch.add("orders.csv", "id,customer_id,placed_at,payment\nO1,C1,2026-11-20T04:00:00Z,prepaid\n");
        assert!(store.import_crm(batch).await.unwrap().rejected.is_empty());
        let rules = Rules::default();
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T04:00:00Z").unwrap().to_utc();
        let pickup = |id: &str, date: &str| {
            let body = json!({"id": id, "type": "pickup.scheduled", "at": "2026-12-01T03:00:00Z", "customer_id": "C1",
                "return_id": "R1", "order_id": "O1", "status": "pickup_scheduled", "pickup_date": date});
            (crate::campaign::crm::events::parse(&body).unwrap(), body.to_string())
        };
        let (event, body) = pickup("p1", "2026-12-05");
        store.apply_event(event, body).await.unwrap().unwrap();
        assert_eq!(store.schedule_pending(rules.clone(), now).await.unwrap(), 1);
        let why = store.why("C1".into()).await.unwrap();
        // The day before, from 09:00 IST.
        assert_eq!(why[0]["not_before"], "2026-12-04T03:30:00.000Z", "{why:?}");
        // Moved to the 9th: the same attempt, now the day before the new date.
        let (event, body) = pickup("p2", "2026-12-09");
        store.apply_event(event, body).await.unwrap().unwrap();
        assert_eq!(store.schedule_pending(rules, now).await.unwrap(), 0, "no second attempt");
        let why = store.why("C1".into()).await.unwrap();
        assert_eq!(why.len(), 1, "{why:?}");
        assert_eq!(why[0]["not_before"], "2026-12-08T03:30:00.000Z", "{why:?}");
        assert_eq!(why[0]["scheduled_at"], "2026-12-08T03:30:00.000Z", "{why:?}");
        drop(dir);
    }

    async fn an_attempt_is_rechecked_dialled_once_and_retried_at_a_new_hour(which: Which) {
        use crate::campaign::retry::DialResult;
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let (store, dir) = store(which, "claim").await;
        let mut batch = Batch::default();
        batch.add("customers.csv", "id,name,phone,timezone\nC1,Asha,+919812345678,Asia/Kolkata\n");
        store.import_crm(batch).await.unwrap();
        let body = json!({"id": "e1", "type": "order.placed", "at": "2026-12-01T04:30:00Z", "customer_id": "C1",
            "order_id": "O1", "payment": "cod"});
        let event = crate::campaign::crm::events::parse(&body).unwrap();
        store.apply_event(event, body.to_string()).await.unwrap().unwrap();
        let rules = Rules::default();
        let ten = t("2026-12-01T04:30:00Z"); // 10:00 IST
        assert_eq!(store.schedule_pending(rules.clone(), ten).await.unwrap(), 1);
        let claimed = store.claim_due(rules.clone(), ten, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].phone.as_str(), claimed[0].attempt_no), ("+919812345678", 1));
        assert!(store.claim_due(rules.clone(), ten, 10).await.unwrap().is_empty(), "dialled once");
        let id = claimed[0].attempt_id.clone();
        let minute = ten + chrono::Duration::minutes(1);
        let next =
            store.finish_attempt(rules.clone(), id.clone(), DialResult::NoAnswer, None, None, minute).await.unwrap();
        assert_eq!(next.as_deref(), Some("retry"));
        assert!(
            store.finish_attempt(rules.clone(), id.clone(), DialResult::NoAnswer, None, None, minute).await.is_err(),
            "ends once"
        );
        // Its outcome is in the outbox once; a failed delivery is tried again after the backoff.
        let due = store.outbox_due(minute, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        let body: serde_json::Value = serde_json::from_str(&due[0].1).unwrap();
        assert_eq!(
            (due[0].0.as_str(), body["outcome"].as_str(), body["dissatisfied"].as_bool()),
            (id.as_str(), Some("no_answer"), Some(false))
        );
        store.outbox_tried(id.clone(), Some("HTTP 503".into()), minute).await.unwrap();
        assert!(store.outbox_due(minute + chrono::Duration::seconds(9), 10).await.unwrap().is_empty());
        let again = store.outbox_due(minute + chrono::Duration::seconds(10), 10).await.unwrap();
        assert_eq!((again.len(), again[0].2), (1, 1));
        store.outbox_tried(id.clone(), None, minute + chrono::Duration::seconds(10)).await.unwrap();
        assert!(store.outbox_due(minute + chrono::Duration::hours(5), 10).await.unwrap().is_empty(), "delivered once");
        // The retry: two hours after the first attempt ended, at 12:01 IST (a new local hour).
        let why = store.why("C1".into()).await.unwrap();
        assert_eq!((why.len(), why[0]["attempt_no"].as_i64(), why[0]["trigger"].as_str()), (1, Some(2), Some("retry")));
        assert_eq!(why[0]["scheduled_at"], "2026-12-01T06:31:00.000Z");
        assert!(store.claim_due(rules.clone(), ten + chrono::Duration::hours(1), 10).await.unwrap().is_empty());
        let noon = t("2026-12-01T06:31:00Z");
        let second = store.claim_due(rules.clone(), noon, 10).await.unwrap();
        assert_eq!(second[0].attempt_no, 2);
        // Answered: "call me at 15:00". Two dials today already: the callback waits for tomorrow's window.
        let three = Some(t("2026-12-01T09:30:00Z"));
        let cb = store
            .finish_attempt(
                rules,
                second[0].attempt_id.clone(),
                DialResult::Answered,
                Some("callback_requested".into()),
                three,
                noon,
            )
            .await
            .unwrap();
        assert_eq!(cb.as_deref(), Some("callback"));
        let why = store.why("C1".into()).await.unwrap();
        assert_eq!((why[0]["attempt_no"].as_i64(), why[0]["context"]["callback"].as_bool()), (Some(3), Some(true)));
        assert_eq!(why[0]["decisions"][0]["rule"], "daily_cap");
        assert_eq!(why[0]["scheduled_at"], "2026-12-02T03:30:00.000Z");
        let due = store.outbox_due(noon, 10).await.unwrap();
        let body: serde_json::Value = serde_json::from_str(&due[0].1).unwrap();
        assert_eq!(
            (due.len(), body["outcome"].as_str(), body["callback_time"].as_str()),
            (1, Some("callback_requested"), Some("2026-12-01T09:30:00.000Z"))
        );
        drop(dir);
    }

    /// The dialer's side of the store: a paused flow is not claimed until resumed; an
    /// attempt given back is queued again with its reason; one waiting on an open ticket
    /// is decided again when the ticket.closed event arrives; an `opted_out` outcome
    /// blocks the customer's other flows.
    async fn paused_flows_released_attempts_tickets_and_opt_outs(which: Which) {
        use crate::campaign::retry::DialResult;
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let (store, dir) = store(which, "dialer").await;
        let mut batch = Batch::default();
        batch.add("customers.csv", "id,name,phone,timezone\nC1,Asha,+919812345678,Asia/Kolkata\n");
        batch.add("tickets.csv", "id,customer_id,status,opened_at\nT1,C1,open,2026-11-30T10:00:00Z\n");
        store.import_crm(batch).await.unwrap();
        let apply = |body: serde_json::Value| {
            let store = &store;
            async move {
                let event = crate::campaign::crm::events::parse(&body).unwrap();
                store.apply_event(event, body.to_string()).await.unwrap().unwrap();
            }
        };
        apply(json!({"id": "e1", "type": "order.placed", "at": "2026-12-01T04:30:00Z", "customer_id": "C1",
            "order_id": "O1", "payment": "cod"}))
        .await;
        let rules = Rules::default();
        let ten = t("2026-12-01T04:30:00Z");
        store.schedule_pending(rules.clone(), ten).await.unwrap();
        // Waiting on the open ticket: rechecked on a timer, not claimed.
        assert!(store.claim_due(rules.clone(), ten, 10).await.unwrap().is_empty());
        let (next, _) = store.next_wakeup().await.unwrap();
        assert_eq!(next, Some(ten + chrono::Duration::minutes(15)), "rechecked in 15 minutes");
        let eleven = ten + chrono::Duration::hours(1);
        apply(json!({"id": "e2", "type": "ticket.closed", "at": "2026-12-01T05:30:00Z", "customer_id": "C1",
            "ticket_id": "T1"}))
        .await;
        assert_eq!(store.next_wakeup().await.unwrap().0, Some(eleven), "woken by the event");
        store.set_paused("cod".into(), true, eleven).await.unwrap();
        assert_eq!(store.paused().await.unwrap()[0].0, "cod");
        assert!(store.claim_due(rules.clone(), eleven, 10).await.unwrap().is_empty(), "paused");
        store.set_paused("cod".into(), false, eleven).await.unwrap();
        let claimed = store.claim_due(rules.clone(), eleven, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let id = claimed[0].attempt_id.clone();
        // Given back (every trunk full): queued again, then claimed once more.
        store.release_attempt(id.clone(), "trunk_busy", eleven).await.unwrap();
        let shown = store.get_attempt(id.clone()).await.unwrap().unwrap();
        assert_eq!(shown["state"], "queued");
        assert_eq!(shown["decisions"].as_array().unwrap().last().unwrap()["rule"], "trunk_busy");
        let claimed = store.claim_due(rules.clone(), eleven, 10).await.unwrap();
        store.attempt_call(id.clone(), "call-1".into(), eleven).await.unwrap();
        assert!(store.attempt_progress(id.clone(), "ringing", eleven).await.unwrap());
        assert!(store.attempt_progress(id.clone(), "answered", eleven).await.unwrap());
        assert!(!store.attempt_progress(id.clone(), "ringing", eleven).await.unwrap(), "only forward");
        assert_eq!(store.take_over(eleven).await.unwrap(), vec![(id.clone(), Some("call-1".to_string()))]);
        let done = eleven + chrono::Duration::minutes(2);
        store
            .finish_attempt(
                rules.clone(),
                claimed[0].attempt_id.clone(),
                DialResult::Answered,
                Some("opted_out".into()),
                None,
                done,
            )
            .await
            .unwrap();
        let states: Vec<String> = store.get_attempt(id.clone()).await.unwrap().unwrap()["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["state"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(states, ["waiting", "dialing", "queued", "dialing", "ringing", "answered", "completed"]);
        // Opted out on the call: a failed delivery's call for the same customer is never made.
        apply(json!({"id": "e3", "type": "delivery.failed", "at": "2026-12-02T05:00:00Z", "customer_id": "C1",
            "order_id": "O1"}))
        .await;
        store.schedule_pending(rules.clone(), t("2026-12-02T05:00:00Z")).await.unwrap();
        let why = store.why("C1".into()).await.unwrap();
        let retry = why.iter().find(|a| a["flow"] == "delivery_retry").unwrap();
        assert_eq!(
            (retry["state"].as_str(), retry["decisions"][0]["rule"].as_str()),
            (Some("blocked"), Some("opted_out"))
        );
        let stats = store.attempt_stats().await.unwrap();
        assert_eq!(stats["flows"]["cod"]["outcomes"]["opted_out"], 1, "{stats}");
        drop(dir);
    }
}
