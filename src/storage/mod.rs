//! The store: calls, their transcript and timeline, and the CRM's customers, orders,
//! returns, deliveries and tickets.
//! One trait, [`Store`], and its implementations; every state change of a call is one
//! transaction, so a crash or a shutdown never leaves a call half-written.

mod attempts;
mod crm;
mod dialect;
mod dialing;
mod leases;
mod records;
mod sql;

use futures_util::future::BoxFuture;

pub use crate::server::config::StorageUrl;
pub use attempts::Claimed;
pub use crm::{Applied, ImportReport, Refusal, Written};
pub use dialect::Dialect;
pub use dialing::AttemptFilter;
pub use records::{
    CallFilter, CallRecord, CallState, CallSummaryRow, EndedCall, EndedDial, LiveCall, NewCall, StoredLine,
};
pub use sql::{Node, SqlStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("unknown call {0:?}")]
    UnknownCall(String),
    #[error("stored row is invalid: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Unsupported(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The next attempt due (dial or recheck) and the next outcome delivery try.
pub type Wakeup = (Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>);

/// An attempt on the dialer: its id, and its call's once placed.
pub type OnTheDialer = (String, Option<String>);

/// Where calls are kept. Every method is one transaction.
pub trait Store: Send + Sync {
    /// A call created before its media arrives (`POST /v1/calls`): state `pending`.
    fn create_call(&self, call: NewCall) -> BoxFuture<'_, StoreResult<()>>;
    /// The call's media is up: state `live`, with the transport's ids. Creates the row
    /// when the stream carried its own flow and context.
    fn call_live(&self, call: LiveCall) -> BoxFuture<'_, StoreResult<()>>;
    /// The call ended: outcome, handoff, transcript and timeline in one transaction.
    fn call_ended(&self, call: EndedCall) -> BoxFuture<'_, StoreResult<()>>;
    /// A pending call is being dialled: state `ringing`, with the transport's call id.
    fn call_ringing(&self, id: String, transport: String, carrier_call_id: String) -> BoxFuture<'_, StoreResult<()>>;
    /// How dialling went (`answered`, `busy`, `no_answer`, ...). With `ended`, the call
    /// never got media: it ends here, `summary` saying what the dial saw.
    fn dial_result(&self, id: String, result: String, ended: Option<EndedDial>) -> BoxFuture<'_, StoreResult<()>>;
    /// The call's handoff packet, stored the moment the bot hands off (the call is still live).
    fn call_handoff(&self, id: String, packet: serde_json::Value) -> BoxFuture<'_, StoreResult<()>>;
    /// Ends every call of this node still `live` or `ringing`: at startup, what its previous process left
    /// when it was killed. They keep no outcome; `closed` says why. Returns how many.
    fn end_interrupted(&self, ended_at: String, closed: String) -> BoxFuture<'_, StoreResult<u64>>;
    fn get_call(&self, id: String) -> BoxFuture<'_, StoreResult<Option<CallRecord>>>;
    /// Newest first.
    fn list_calls(&self, filter: CallFilter) -> BoxFuture<'_, StoreResult<Vec<CallSummaryRow>>>;
    /// Writes a CRM import: every good row, in one transaction; rows referring to unknown
    /// customers or orders are refused and added to the batch's refusals.
    fn import_crm(&self, batch: crate::campaign::crm::Batch) -> BoxFuture<'_, StoreResult<ImportReport>>;
    /// Applies a CRM event once (by its id) with its change, in one transaction; a refused
    /// event (its subject does not exist) stores nothing.
    fn apply_event(
        &self,
        event: crate::campaign::crm::events::Event,
        body: String,
    ) -> BoxFuture<'_, StoreResult<Result<Applied, Refusal>>>;
    /// Schedules the triggers of every stored event not yet scheduled (an attempt per
    /// flow and subject, with the policy's decisions); returns the attempts created.
    fn schedule_pending(
        &self,
        rules: crate::campaign::schedule::Rules,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<u64>>;
    /// The win-back run: a `winback` attempt for every customer whose last order is 60 to
    /// 90 days old (once per customer); returns the attempts created.
    fn schedule_winback(
        &self,
        rules: crate::campaign::schedule::Rules,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<u64>>;
    /// Claims up to `limit` attempts due at `now` for dialling, each re-checked by the
    /// policy first (state `dialing`); the rest get their new decision recorded.
    fn claim_due(
        &self,
        rules: crate::campaign::schedule::Rules,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<Claimed>>>;
    /// A dialled attempt ended: its result and outcome, and the retry or callback that
    /// follows, in one transaction. Returns `retry` or `callback` when one was planned.
    fn finish_attempt(
        &self,
        rules: crate::campaign::schedule::Rules,
        attempt_id: String,
        result: crate::campaign::retry::DialResult,
        outcome: Option<String>,
        callback_time: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<Option<String>>>;
    /// Every deferral and block, in time order (a simulation's `decisions.jsonl`).
    fn decision_log(&self) -> BoxFuture<'_, StoreResult<Vec<serde_json::Value>>>;
    /// How many decisions were recorded, all kinds.
    fn decision_count(&self) -> BoxFuture<'_, StoreResult<u64>>;
    /// The next moment an attempt is due to be dialled or decided again, and the next
    /// outcome delivery try (a simulation's clock jumps there).
    fn next_wakeup(&self) -> BoxFuture<'_, StoreResult<Wakeup>>;
    /// Outbox records due for delivery at `now`: (attempt id, JSON body, tries so far).
    fn outbox_due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<(String, String, u32)>>>;
    /// A delivery try: delivered (`error` None), or failed and due again after the backoff.
    fn outbox_tried(
        &self,
        attempt_id: String,
        error: Option<String>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<()>>;
    /// The call placed for a claimed attempt (stored before the dial starts).
    fn attempt_call(
        &self,
        attempt_id: String,
        call_id: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<()>>;
    /// A dial's progress (`ringing`, `answered`); false when it was already past it.
    fn attempt_progress(
        &self,
        attempt_id: String,
        state: &'static str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<bool>>;
    /// A claimed attempt that was not dialled goes back to the queue, `rule` saying why.
    fn release_attempt(
        &self,
        attempt_id: String,
        rule: &'static str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<()>>;
    /// Takes the attempts on the dialer this node left (a previous process) or whose node's lease ran out,
    /// ending the calls a lost node left unfinished: (attempt id, its call id once placed).
    fn take_over(&self, now: chrono::DateTime<chrono::Utc>) -> BoxFuture<'_, StoreResult<Vec<OnTheDialer>>>;
    /// Renews this node's leases on its attempts on the dialer; returns those it still holds.
    fn renew_leases(&self, now: chrono::DateTime<chrono::Utc>) -> BoxFuture<'_, StoreResult<Vec<String>>>;
    /// Pauses or resumes a flow's dialling (its attempts keep being scheduled).
    fn set_paused(
        &self,
        flow: String,
        paused: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, StoreResult<()>>;
    /// Paused flows: (flow, paused since).
    fn paused(&self) -> BoxFuture<'_, StoreResult<Vec<(String, String)>>>;
    fn list_attempts(&self, filter: AttemptFilter) -> BoxFuture<'_, StoreResult<Vec<serde_json::Value>>>;
    /// One attempt with its transitions and decisions.
    fn get_attempt(&self, id: String) -> BoxFuture<'_, StoreResult<Option<serde_json::Value>>>;
    /// Attempts by flow and state, results and outcomes; the outbox's counts.
    fn attempt_stats(&self) -> BoxFuture<'_, StoreResult<serde_json::Value>>;
    /// A customer's attempts not yet dialled, each with its decisions (`voxline why`).
    fn why(&self, customer_id: String) -> BoxFuture<'_, StoreResult<Vec<serde_json::Value>>>;
    /// One stored CRM row as JSON (its columns), by its id (a delivery's is its order id).
    fn crm_row(
        &self,
        kind: crate::campaign::crm::Kind,
        id: String,
    ) -> BoxFuture<'_, StoreResult<Option<serde_json::Value>>>;
}

/// Opens the store a `storage.url` names, creating and migrating it as needed, writing as `node`.
pub async fn open(url: &StorageUrl, node: Node) -> StoreResult<std::sync::Arc<dyn Store>> {
    Ok(std::sync::Arc::new(SqlStore::open(url, node).await?))
}

/// Store timestamps: RFC 3339 UTC with milliseconds, so text order is time order.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
