//! `voxline campaign simulate`: the real store, scheduler, policy, claim-before-dial
//! re-check, retries and outbox on a virtual clock, against the simulated carrier. The
//! clock jumps from one due moment to the next (an event, a call's end, an attempt's
//! dial or recheck, an outcome's delivery try, the daily win-back run); a trunk of
//! `max_calls` lines takes at most `cps` new calls a second. The clock moves a dialer
//! tick (10 s by default) or more a step, as `voxline serve`'s dialer ticks.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::carrier::{Carrier, Dialled};
use crate::campaign::crm::events;
use crate::campaign::schedule::Rules;
use crate::sim::rng::Rng;
use crate::storage::{self, StorageUrl, Store};

#[derive(Debug, Clone)]
pub struct Options {
    pub crm: PathBuf,
    pub start: DateTime<Utc>,
    pub days: u32,
    pub seed: u64,
    pub db: StorageUrl,
    pub out: PathBuf,
    /// Lines on the simulated trunk, and new calls it takes per second.
    pub max_calls: usize,
    pub cps: u32,
    /// The dialer's tick: the clock moves at least this far a step, and a tick claims
    /// at most `cps` calls per second of it.
    pub tick: Duration,
    /// Share of webhook tries the simulated CRM refuses (retried with the backoff).
    pub webhook_failures: f32,
    /// Progress lines on stderr.
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CampaignSimError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] storage::StoreError),
    #[error("{0}")]
    Input(String),
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> CampaignSimError + '_ {
    move |source| CampaignSimError::Io { path: path.display().to_string(), source }
}

/// One dialled attempt as `attempts.jsonl` has it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AttemptLine {
    pub attempt_id: String,
    pub customer_id: String,
    pub flow: String,
    pub subject_id: String,
    pub attempt_no: u32,
    pub trigger: String,
    pub dialed_at: String,
    pub local_time: String,
    pub result: Option<String>,
    pub outcome: Option<String>,
    pub callback_time: Option<String>,
    pub ended_at: Option<String>,
    pub phone: String,
}

/// One delivered outcome as `outbox.jsonl` has it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OutboxLine {
    pub attempt_id: String,
    pub customer_id: String,
    pub flow: String,
    pub outcome: String,
    pub delivered_at: String,
    pub tries: u32,
}

/// The events file, in time order (a stable sort keeps equal times in file order).
fn read_events(path: &Path) -> Result<Vec<(events::Event, Value)>, CampaignSimError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |reason: String| CampaignSimError::Input(format!("{}:{}: {reason}", path.display(), i + 1));
        let value: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let event =
            events::parse(&value).map_err(|e| bad(format!("{}: {}", e.field.as_deref().unwrap_or("row"), e.reason)))?;
        out.push((event, value));
    }
    out.sort_by_key(|(e, _)| e.at);
    Ok(out)
}

fn local(tz: Option<&Tz>, t: DateTime<Utc>) -> String {
    match tz {
        Some(tz) => t.with_timezone(tz).format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        None => storage::timestamp(t),
    }
}

/// A call in progress on the simulated trunk, ending at its `ended_at`.
struct InFlight {
    attempt_id: String,
    dialled: Dialled,
}

/// Runs the simulation; writes the three files to `options.out` and returns the summary
/// (without the checker's violations, which [`super::check`] adds).
pub async fn simulate(options: &Options, rules: &Rules) -> Result<Value, CampaignSimError> {
    let wall = std::time::Instant::now();
    std::fs::create_dir_all(&options.out).map_err(io_error(&options.out))?;
    let store: Arc<dyn Store> = storage::open(&options.db, storage::Node::default()).await?;
    let batch = crate::campaign::crm::read_dir(&options.crm).map_err(io_error(&options.crm))?;
    let zones: HashMap<String, Tz> =
        batch.customers.iter().filter_map(|c| Some((c.row.id.clone(), Tz::from_str(&c.row.timezone).ok()?))).collect();
    let report = store.import_crm(batch).await?;
    let events = read_events(&options.crm.join("events.jsonl"))?;
    let end = options.start + Duration::days(options.days as i64);

    let mut carrier = Carrier::new(options.seed);
    let mut webhook = Rng::new(options.seed ^ 0x0b0c_5eed);
    let mut calls: BinaryHeap<Reverse<(DateTime<Utc>, u64)>> = BinaryHeap::new();
    let mut in_flight: HashMap<u64, InFlight> = HashMap::new();
    let mut lines: Vec<AttemptLine> = Vec::new();
    let mut line_of: HashMap<String, usize> = HashMap::new();
    let mut outbox = std::io::BufWriter::new(
        std::fs::File::create(options.out.join("outbox.jsonl")).map_err(io_error(&options.out))?,
    );
    let (mut next_event, mut serial, mut delivered) = (0usize, 0u64, 0u64);
    let mut refused_events = 0u64;
    let mut next_winback = options.start;
    let mut t = options.start;
    let mut last_progress = options.start;
    let mut steps = 0u64;
    loop {
        steps += 1;
        let open = t < end;
        // Events up to now, then their triggers.
        let mut applied = false;
        while open && next_event < events.len() && events[next_event].0.at <= t {
            let (event, body) = events[next_event].clone();
            match store.apply_event(event, body.to_string()).await? {
                Ok(_) => applied = true,
                Err(_) => refused_events += 1,
            }
            next_event += 1;
        }
        if applied {
            store.schedule_pending(rules.clone(), t).await?;
        }
        if open && t >= next_winback {
            store.schedule_winback(rules.clone(), t).await?;
            next_winback += Duration::days(1);
        }
        // Calls that ended.
        while let Some(Reverse((ended, id))) = calls.peek().copied() {
            if ended > t {
                break;
            }
            calls.pop();
            let call = in_flight.remove(&id).expect("a call in flight");
            let d = &call.dialled;
            let outcome = d.outcome.map(String::from);
            store
                .finish_attempt(rules.clone(), call.attempt_id.clone(), d.result, outcome, d.callback_time, ended)
                .await?;
            let line = &mut lines[line_of[&call.attempt_id]];
            line.result = serde_json::to_value(d.result).ok().and_then(|v| v.as_str().map(String::from));
            line.outcome = d.outcome.map(String::from);
            line.callback_time = d.callback_time.map(storage::timestamp);
            line.ended_at = Some(storage::timestamp(ended));
        }
        // New calls: what the trunk has lines for, at most `cps` a second of this tick.
        let per_tick = (options.cps as i64 * options.tick.num_seconds().max(1)) as usize;
        let room = options.max_calls.saturating_sub(in_flight.len()).min(per_tick);
        let mut full_second = false;
        if open && room > 0 {
            let claimed = store.claim_due(rules.clone(), t, room as u32).await?;
            full_second = claimed.len() == room;
            for c in claimed {
                let key = format!("{}/{}/{}/{}", c.customer_id, c.flow.name(), c.subject_id, c.attempt_no);
                let dialled = carrier.dial(c.flow, &key, t);
                serial += 1;
                calls.push(Reverse((dialled.ended_at, serial)));
                line_of.insert(c.attempt_id.clone(), lines.len());
                lines.push(AttemptLine {
                    attempt_id: c.attempt_id.clone(),
                    customer_id: c.customer_id.clone(),
                    flow: c.flow.name().into(),
                    subject_id: c.subject_id,
                    attempt_no: c.attempt_no,
                    trigger: c.trigger,
                    dialed_at: storage::timestamp(t),
                    local_time: local(zones.get(&c.customer_id), t),
                    result: None,
                    outcome: None,
                    callback_time: None,
                    ended_at: None,
                    phone: c.phone,
                });
                in_flight.insert(serial, InFlight { attempt_id: c.attempt_id, dialled });
            }
        }
        // Outcomes due for delivery: the simulated CRM refuses some tries.
        for (attempt_id, body, tries) in store.outbox_due(t, 10_000).await? {
            if webhook.unit() < options.webhook_failures {
                store.outbox_tried(attempt_id, Some("HTTP 503 (simulated)".into()), t).await?;
                continue;
            }
            store.outbox_tried(attempt_id.clone(), None, t).await?;
            let record: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let line = OutboxLine {
                attempt_id,
                customer_id: record["customer_id"].as_str().unwrap_or_default().into(),
                flow: record["flow"].as_str().unwrap_or_default().into(),
                outcome: record["outcome"].as_str().unwrap_or_default().into(),
                delivered_at: storage::timestamp(t),
                tries: tries + 1,
            };
            writeln!(outbox, "{}", serde_json::to_string(&line).unwrap_or_default()).map_err(io_error(&options.out))?;
            delivered += 1;
        }
        if options.progress && t - last_progress >= Duration::hours(12) {
            last_progress = t;
            eprintln!(
                "campaign simulate: {} ({} of {} events, {} dialled, {} calls live, {:.0} s)",
                t.format("%Y-%m-%d %H:%M"),
                next_event,
                events.len(),
                lines.len(),
                in_flight.len(),
                wall.elapsed().as_secs_f64()
            );
        }
        // The next moment anything is due.
        let mut next: Vec<DateTime<Utc>> = Vec::new();
        if let Some(Reverse((ended, _))) = calls.peek() {
            next.push(*ended);
        }
        let (attempt_due, outbox_due) = store.next_wakeup().await?;
        // An attempt due while every line is busy waits for a call to end; after the end
        // nothing new is dialled.
        if let Some(w) = attempt_due.filter(|w| open && (*w > t || in_flight.len() < options.max_calls)) {
            next.push(w);
        }
        next.extend(outbox_due);
        if open {
            next.push(next_winback.min(end));
            if let Some((e, _)) = events.get(next_event) {
                next.push(e.at);
            }
            if full_second {
                next.push(t + options.tick);
            }
        }
        // Done once the days are over, every call has ended and every outcome is delivered.
        let Some(&soonest) = next.iter().min() else { break };
        // Never stand still: at least a tick on.
        t = soonest.max(t + options.tick);
    }
    outbox.flush().map_err(io_error(&options.out))?;

    let mut attempts = std::io::BufWriter::new(
        std::fs::File::create(options.out.join("attempts.jsonl")).map_err(io_error(&options.out))?,
    );
    let mut results: BTreeMap<String, u64> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for line in &lines {
        *results.entry(line.result.clone().unwrap_or_else(|| "none".into())).or_default() += 1;
        if let Some(o) = &line.outcome {
            *outcomes.entry(o.clone()).or_default() += 1;
        }
        writeln!(attempts, "{}", serde_json::to_string(line).unwrap_or_default()).map_err(io_error(&options.out))?;
    }
    attempts.flush().map_err(io_error(&options.out))?;
    let mut decisions = std::io::BufWriter::new(
        std::fs::File::create(options.out.join("decisions.jsonl")).map_err(io_error(&options.out))?,
    );
    let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
    for d in store.decision_log().await? {
        *by_rule.entry(d["rule"].as_str().unwrap_or("none").to_string()).or_default() += 1;
        writeln!(decisions, "{d}").map_err(io_error(&options.out))?;
    }
    decisions.flush().map_err(io_error(&options.out))?;
    let decided = store.decision_count().await?;
    let secs = wall.elapsed().as_secs_f64();
    Ok(json!({
        "customers": zones.len(),
        "rejected_rows": report.rejected.len(),
        "events": events.len(),
        "refused_events": refused_events,
        "attempts": lines.len(),
        "results": results,
        "outcomes": outcomes,
        "delivered": delivered,
        "decisions": by_rule,
        "decisions_total": decided,
        "decisions_per_second": (decided as f64 / secs.max(1e-9)).round(),
        "wall_s": (secs * 100.0).round() / 100.0,
        "clock_steps": steps,
        "virtual_end": storage::timestamp(t),
    }))
}
