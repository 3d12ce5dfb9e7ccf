//! The campaign dialer and the outbox's webhook delivery, on `voxline serve`'s clock.
//! Each tick: follow the attempts on the dialer (ringing, answered, ended: the attempt is
//! finished with its call's result and outcome), claim the due attempts the trunks have
//! room for (the policy re-checks each one), place their calls through the SIP dialer,
//! and POST the outcomes due for delivery. Whatever a stopped process left on the dialer
//! is picked up at start: an attempt whose call was placed is finished from that call's
//! record (a call cut off by the stop ends `failed`, and is retried by the policy), one
//! that never got its call goes back to the queue. Each tick renews this node's leases
//! on its attempts and takes over those of a node that stopped renewing (several servers
//! on one PostgreSQL store), the same way. An attempt is never dialled twice.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::Instrument;

use super::api::create_pending;
use super::serve::{Prepared, Shared};
use super::sip::uac::{self, DialTarget};
use crate::campaign::context::{call_context, subject_rows, Rows};
use crate::campaign::crm::Kind;
use crate::campaign::retry::DialResult;
use crate::storage::Claimed;

/// How many outcomes one tick delivers at most.
const DELIVERIES_PER_TICK: u32 = 32;

/// An attempt on the dialer: its call, and the last progress stored.
struct Watch {
    call_id: String,
    seen: &'static str,
    /// Left by a stopped process: a call of its still `pending` was cut off between its
    /// record and its dial (it may have rung), and ends `failed`.
    recovered: bool,
}

struct Dialer {
    shared: Arc<Shared>,
    /// The calling policy's settings (`[campaign]`, fixed for the process).
    rules: crate::campaign::schedule::Rules,
    watching: BTreeMap<String, Watch>,
    /// The trunk to try first next time (round robin).
    next_trunk: usize,
}

/// Runs until the server drains.
pub async fn run(shared: Arc<Shared>) {
    let rules = shared.cfg.campaign.rules();
    let mut dialer = Dialer { shared: shared.clone(), rules, watching: BTreeMap::new(), next_trunk: 0 };
    let mut every = tokio::time::interval(shared.cfg.campaign.tick());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        if shared.draining.load(Ordering::SeqCst) {
            break;
        }
        dialer.renew().await;
        dialer.take_over().await;
        dialer.follow().await;
        if !shared.cfg.campaign.trunks.is_empty() {
            dialer.dial_due().await;
        }
        deliver(&shared).await;
    }
}

/// The attempt's result from its call's record: how the dial went, an answering machine
/// as `voicemail`, a call that never got a result (cut off) as `failed`.
fn dial_result(call: &crate::storage::CallRecord) -> DialResult {
    match (call.call.result.as_deref().and_then(DialResult::parse), call.call.outcome.as_deref()) {
        (Some(DialResult::Answered), Some("voicemail")) => DialResult::Voicemail,
        (Some(result), _) => result,
        (None, _) => DialResult::Failed,
    }
}

/// The callback time the caller asked for (`slots.callback_time`, RFC 3339).
fn callback_time(call: &crate::storage::CallRecord) -> Option<DateTime<Utc>> {
    let text = call.slots.get("callback_time")?.as_str()?;
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

impl Dialer {
    /// Follows the attempts on the dialer that a stopped process of this node left, or
    /// whose node stopped renewing its leases (their calls are ended as cut off): those
    /// with a call are finished from its record, the others go back to the queue.
    async fn take_over(&mut self) {
        let left = match self.shared.store.take_over(Utc::now()).await {
            Ok(left) => left,
            Err(e) => return tracing::error!(error = %e, "attempts on the dialer not read"),
        };
        let mut taken = 0;
        for (attempt_id, call_id) in left {
            if self.watching.contains_key(&attempt_id) {
                continue;
            }
            taken += 1;
            match call_id {
                Some(call_id) => {
                    self.watching.insert(attempt_id, Watch { call_id, seen: "dialing", recovered: true });
                }
                None => self.release(&attempt_id, "restart").await,
            }
        }
        if taken > 0 {
            tracing::info!(attempts = taken, "took over the attempts a stopped server left dialling");
        }
    }

    /// Renews this node's leases; an attempt another node took over meanwhile (this one
    /// was too late to renew) is no longer followed here.
    async fn renew(&mut self) {
        if self.watching.is_empty() {
            return;
        }
        let held = match self.shared.store.renew_leases(Utc::now()).await {
            Ok(held) => held,
            Err(e) => return tracing::error!(error = %e, "attempt leases not renewed"),
        };
        self.watching.retain(|attempt_id, watch| {
            let kept = held.contains(attempt_id);
            if !kept {
                tracing::error!(attempt = %attempt_id, call = %watch.call_id, "lease lost: another server took the attempt over");
            }
            kept
        });
    }

    async fn release(&self, attempt_id: &str, rule: &'static str) {
        if let Err(e) = self.shared.store.release_attempt(attempt_id.into(), rule, Utc::now()).await {
            tracing::error!(attempt = attempt_id, error = %e, "attempt not given back to the queue");
        }
    }

    /// Stores each watched attempt's progress; finishes those whose call ended.
    async fn follow(&mut self) {
        let store = self.shared.store.clone();
        let mut done = Vec::new();
        for (attempt_id, watch) in self.watching.iter_mut() {
            let call = match store.get_call(watch.call_id.clone()).await {
                Ok(Some(call)) => call,
                Ok(None) => {
                    tracing::error!(attempt = %attempt_id, call = %watch.call_id, "the attempt's call is gone");
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "call record not read");
                    continue;
                }
            };
            let progress = match (call.call.state.as_str(), call.call.result.as_deref()) {
                (_, Some("answered")) => Some("answered"),
                ("ringing", _) => Some("ringing"),
                _ => None,
            };
            if let Some(state) = progress.filter(|s| *s != watch.seen) {
                if let Err(e) = store.attempt_progress(attempt_id.clone(), state, Utc::now()).await {
                    tracing::error!(attempt = %attempt_id, error = %e, "attempt progress not stored");
                }
                watch.seen = state;
            }
            let cut_off = watch.recovered && call.call.state.as_str() == "pending";
            if call.call.state.as_str() != "ended" && !cut_off {
                continue;
            }
            let result = dial_result(&call);
            let outcome = call.call.outcome.clone().filter(|o| o != "voicemail");
            let finished = store
                .finish_attempt(
                    self.rules.clone(),
                    attempt_id.clone(),
                    result,
                    outcome.clone(),
                    callback_time(&call),
                    Utc::now(),
                )
                .await;
            match finished {
                Ok(next) => {
                    tracing::info!(attempt = %attempt_id, ?result, outcome = outcome.as_deref().unwrap_or("none"),
                        next = next.as_deref().unwrap_or("none"), "attempt ended");
                    done.push(attempt_id.clone());
                }
                // Finished already (by a previous process): nothing more to do.
                Err(crate::storage::StoreError::Corrupt(e)) => {
                    tracing::warn!(attempt = %attempt_id, error = %e, "attempt not finished");
                    done.push(attempt_id.clone());
                }
                Err(e) => tracing::error!(attempt = %attempt_id, error = %e, "attempt end not stored; tried again"),
            }
        }
        for id in done {
            self.watching.remove(&id);
        }
    }

    /// Claims what the trunks (and the server) have room for and dials it.
    async fn dial_due(&mut self) {
        let shared = self.shared.clone();
        let Some(sip) = shared.sip.get().cloned() else { return };
        let server_room = shared.max_calls().saturating_sub(shared.active.load(Ordering::SeqCst));
        let trunks = &shared.cfg.campaign.trunks;
        let room: usize = trunks.iter().map(|t| sip.trunk_room(t, server_room)).sum::<usize>().min(server_room);
        if room == 0 {
            return;
        }
        let claimed = match shared.store.claim_due(self.rules.clone(), Utc::now(), room as u32).await {
            Ok(c) => c,
            Err(e) => return tracing::error!(error = %e, "due attempts not claimed"),
        };
        for attempt in claimed {
            self.dial(attempt).await;
        }
    }

    /// The stored rows an attempt's call reads.
    async fn rows(&self, attempt: &Claimed) -> Result<Rows, crate::storage::StoreError> {
        let store = &self.shared.store;
        let (order_id, return_id) = subject_rows(attempt.flow, &attempt.subject_id);
        let customer = store.crm_row(Kind::Customers, attempt.customer_id.clone()).await?.unwrap_or(Value::Null);
        let ret = match return_id {
            Some(id) => store.crm_row(Kind::Returns, id).await?,
            None => None,
        };
        let order_id = order_id.or_else(|| ret.as_ref()?.get("order_id")?.as_str().map(String::from));
        let (order, delivery) = match order_id {
            Some(id) => (store.crm_row(Kind::Orders, id.clone()).await?, store.crm_row(Kind::Deliveries, id).await?),
            None => (None, None),
        };
        Ok(Rows { customer, order, ret, delivery })
    }

    /// Places one claimed attempt's call, or ends the attempt `failed` when its call
    /// cannot be made (missing CRM rows, a context the flow refuses, a bad number), or
    /// gives it back when every trunk is full.
    async fn dial(&mut self, attempt: Claimed) {
        let span = tracing::info_span!("attempt", attempt = %attempt.attempt_id, flow = attempt.flow.name());
        self.place(attempt).instrument(span).await
    }

    async fn place(&mut self, attempt: Claimed) {
        let shared = self.shared.clone();
        let id = attempt.attempt_id.clone();
        let rows = match self.rows(&attempt).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "CRM rows not read");
                return self.release(&id, "store_error").await;
            }
        };
        let now = Utc::now();
        let mut context = match call_context(attempt.flow, &rows, &attempt.context, now, &shared.cfg.campaign.offers) {
            Ok(c) => c,
            Err(e) => return self.fail(&id, &e).await,
        };
        context["call"]["attempt_id"] = Value::String(id.clone());
        let trunks = &shared.cfg.campaign.trunks;
        let mut dial = None;
        for i in 0..trunks.len() {
            let trunk = &trunks[(self.next_trunk + i) % trunks.len()];
            let target = DialTarget { trunk: trunk.clone(), to: attempt.phone.clone(), digits: String::new() };
            match uac::check(&shared, &target) {
                Ok(d) => {
                    self.next_trunk = (self.next_trunk + i + 1) % trunks.len();
                    dial = Some(d);
                    break;
                }
                Err(e) if e.is_busy() => continue,
                Err(e) => return self.fail(&id, &e.to_string()).await,
            }
        }
        let Some(dial) = dial else { return self.release(&id, "trunk_busy").await };
        let flow = attempt.flow.name().to_string();
        let (call_id, _, call) = match create_pending(&shared, &flow, context.clone()).await {
            Ok(created) => created,
            Err((_, e)) => return self.fail(&id, &e).await,
        };
        // The call is tied to the attempt before anything is sent: a restart finds it.
        if let Err(e) = shared.store.attempt_call(id.clone(), call_id.clone(), now).await {
            tracing::error!(error = %e, "attempt's call not stored; not dialled");
            let ended = crate::storage::EndedDial {
                ended_at: crate::storage::timestamp(Utc::now()),
                closed: "not dialled: the attempt was not this server's".into(),
                summary: serde_json::json!({}),
            };
            if let Err(e) = shared.store.dial_result(call_id, "failed".into(), Some(ended)).await {
                tracing::error!(error = %e, "undialled call not ended");
            }
            return self.release(&id, "store_error").await;
        }
        tracing::info!(call = %call_id, customer = %attempt.customer_id, "dialling the attempt");
        dial.start(shared.clone(), Prepared { id: call_id.clone(), flow, context, call });
        self.watching.insert(id, Watch { call_id, seen: "dialing", recovered: false });
    }

    /// An attempt whose call cannot be placed ends `failed` (the policy may retry it).
    async fn fail(&self, attempt_id: &str, why: &str) {
        tracing::error!(attempt = attempt_id, error = why, "attempt's call cannot be placed");
        let ended = self.shared.store.finish_attempt(
            self.rules.clone(),
            attempt_id.into(),
            DialResult::Failed,
            None,
            None,
            Utc::now(),
        );
        if let Err(e) = ended.await {
            tracing::error!(attempt = attempt_id, error = %e, "attempt end not stored");
        }
    }
}

/// POSTs the outcomes due for delivery, each signed, with the attempt id as its
/// idempotency key; a failure is tried again after the outbox's backoff.
async fn deliver(shared: &Shared) {
    let cfg = &shared.cfg.campaign;
    if cfg.webhook_url.is_empty() {
        return;
    }
    let due = match shared.store.outbox_due(Utc::now(), DELIVERIES_PER_TICK).await {
        Ok(due) => due,
        Err(e) => return tracing::error!(error = %e, "outbox not read"),
    };
    for (attempt_id, body, tries) in due {
        let signature = crate::campaign::outbox::signature(cfg.webhook_secret.as_bytes(), body.as_bytes());
        let headers = [("X-Voxline-Signature", signature.as_str()), ("Idempotency-Key", attempt_id.as_str())];
        let sent = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            super::http_client::send("POST", &cfg.webhook_url, &headers, &body),
        )
        .await;
        let error = match sent {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("no answer within 10 s".to_string()),
        };
        match &error {
            None => shared.metrics.inc("voxline_outbox_delivered_total", &[]),
            Some(e) => {
                tracing::warn!(attempt = %attempt_id, tries = tries + 1, error = %e, "outcome webhook failed; retried");
                shared.metrics.inc("voxline_outbox_failures_total", &[]);
            }
        }
        if let Err(e) = shared.store.outbox_tried(attempt_id.clone(), error, Utc::now()).await {
            tracing::error!(attempt = %attempt_id, error = %e, "outbox delivery not stored");
        }
    }
}
