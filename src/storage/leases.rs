//! Which node holds what, so several `voxline serve` processes can share one
//! PostgreSQL store. A call belongs to the node that placed or took it; an attempt on
//! the dialer to the node that claimed it, for a lease it renews every tick. A node that
//! stops renewing (it died) loses its attempts to the next node that looks: their calls
//! are ended as cut off, and the attempts are finished from those records by the taker.
//! Claims and take-overs lock the rows they move and skip those another node holds, and
//! every move is conditional on the owner it read, so no attempt is dialled twice.

use chrono::{DateTime, Utc};

use super::dialect::Dialect;
use super::sql::Node;
use super::{timestamp, OnTheDialer, StoreResult};

pub(super) const MIGRATION: &str = r#"
ALTER TABLE calls ADD COLUMN node TEXT;
ALTER TABLE attempts ADD COLUMN node TEXT;
ALTER TABLE attempts ADD COLUMN lease_until TEXT;
CREATE INDEX attempts_on_the_dialer ON attempts (state, lease_until);
-- An outcome being delivered: by which node, until when (then another may try it).
ALTER TABLE outbox ADD COLUMN held_by TEXT;
ALTER TABLE outbox ADD COLUMN held_until TEXT;
"#;

/// Takes over the attempts on the dialer that are this node's (left by its previous
/// process) or whose lease ran out (their node died): each moves to this node with a
/// fresh lease, and a call of theirs another node left unfinished is ended as cut off.
/// Returns (attempt id, its call's id once placed), each attempt once.
pub(super) async fn take_over(pool: &sqlx::AnyPool, node: &Node, now: DateTime<Utc>) -> StoreResult<Vec<OnTheDialer>> {
    let mut tx = pool.begin().await?;
    let dialect = Dialect::of(&tx);
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(&format!(
        "SELECT id, call_id, node FROM attempts WHERE state IN ('dialing', 'ringing', 'answered') \
         AND (node = $1 OR node IS NULL OR lease_until IS NULL OR lease_until < $2) ORDER BY dialed_at, id {}",
        dialect.skip_locked()
    ))
    .bind(&node.name)
    .bind(timestamp(now))
    .fetch_all(&mut *tx)
    .await?;
    let until = timestamp(now + node.lease);
    let mut taken = Vec::with_capacity(rows.len());
    for (id, call_id, owner) in rows {
        sqlx::query("UPDATE attempts SET node = $1, lease_until = $2 WHERE id = $3")
            .bind(&node.name)
            .bind(&until)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let foreign = owner.as_deref().is_some_and(|o| o != node.name);
        if let (true, Some(call)) = (foreign, &call_id) {
            sqlx::query(
                "UPDATE calls SET state = 'ended', ended_at = $1, closed = $2 \
                 WHERE id = $3 AND state IN ('pending', 'live', 'ringing')",
            )
            .bind(timestamp(now))
            .bind(format!("node {} lost", owner.as_deref().unwrap_or("?")))
            .bind(call)
            .execute(&mut *tx)
            .await?;
        }
        taken.push((id, call_id));
    }
    tx.commit().await?;
    Ok(taken)
}

/// Extends this node's leases on its attempts on the dialer; returns the attempts it
/// still holds (one missing was taken over: its node was too late to renew).
pub(super) async fn renew(pool: &sqlx::AnyPool, node: &Node, now: DateTime<Utc>) -> StoreResult<Vec<String>> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE attempts SET lease_until = $1 WHERE node = $2 AND state IN ('dialing', 'ringing', 'answered')")
        .bind(timestamp(now + node.lease))
        .bind(&node.name)
        .execute(&mut *tx)
        .await?;
    let held: Vec<String> =
        sqlx::query_scalar("SELECT id FROM attempts WHERE node = $1 AND state IN ('dialing', 'ringing', 'answered')")
            .bind(&node.name)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(held)
}
