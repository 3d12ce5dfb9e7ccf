//! The REST API: call records (`/v1/calls`), calls created before their media arrives,
//! and Twilio's voice webhook answering with TwiML that connects the call's stream.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::serve::{new_call, Prepared, Shared};
use super::signature::twilio_signature_valid;
use super::sip::uac::{self, DialTarget};
use super::ws::Carrier;
use crate::call::Call;
use crate::storage::{timestamp, CallFilter, NewCall};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/calls", post(create_call).get(list_calls))
        .route("/v1/calls/{id}", get(show_call))
        .route("/v1/calls/{id}/recording.wav", get(recording))
        .route("/v1/calls/{id}/timeline.svg", get(timeline_svg))
        .route("/v1/handoffs/{id}", get(show_handoff))
        .route("/v1/crm/import", post(crm_import).layer(DefaultBodyLimit::max(IMPORT_LIMIT)))
        .route("/v1/crm/{kind}/{id}", get(crm_row))
        .route("/v1/events", post(post_events))
        .route("/v1/customers/{id}/why", get(why))
        .route("/twilio/voice", post(twilio_voice))
}

/// The largest import body (about 500 000 customer rows).
const IMPORT_LIMIT: usize = 64 << 20;

#[derive(Deserialize)]
struct ImportQuery {
    file: Option<String>,
}

#[derive(Deserialize)]
struct ImportFiles {
    /// File name (`customers.csv`, `orders.jsonl`, ...) -> its contents.
    files: BTreeMap<String, String>,
}

/// `POST /v1/crm/import?file=customers.csv` with the file as the body, or
/// `POST /v1/crm/import` with `{"files": {"customers.csv": "...", ...}}` (one transaction
/// for all of them) -> `{"imported", "rejected"}`, as `voxline crm import`.
async fn crm_import(State(shared): State<Arc<Shared>>, Query(q): Query<ImportQuery>, body: String) -> Response {
    let mut batch = crate::campaign::crm::Batch::default();
    match q.file {
        Some(file) => batch.add(&file, &body),
        None => match serde_json::from_str::<ImportFiles>(&body) {
            Ok(f) => f.files.iter().for_each(|(name, text)| batch.add(name, text)),
            Err(e) => {
                return error(StatusCode::BAD_REQUEST, format!("expected ?file=NAME or {{\"files\": {{..}}}}: {e}"))
            }
        },
    }
    match shared.store.import_crm(batch).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "CRM import failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, e)
        }
    }
}

/// One event's answer: `{"id", "result": "applied"|"duplicate"}`, or a refusal with
/// `"error"` and `"field"` (and its status: 400 malformed, 422 unknown subject).
async fn apply_event(shared: &Shared, value: &Value) -> (StatusCode, Value) {
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let event = match crate::campaign::crm::events::parse(value) {
        Ok(e) => e,
        Err(e) => return (StatusCode::BAD_REQUEST, json!({"id": id, "error": e.reason, "field": e.field})),
    };
    match shared.store.apply_event(event, value.to_string()).await {
        Ok(Ok(applied)) => (StatusCode::OK, json!({"id": id, "result": applied})),
        Ok(Err(r)) => (StatusCode::UNPROCESSABLE_ENTITY, json!({"id": id, "error": r.reason, "field": r.field})),
        Err(e) => {
            tracing::error!(error = %e, "event not stored");
            (StatusCode::INTERNAL_SERVER_ERROR, json!({"id": id, "error": e.to_string()}))
        }
    }
}

/// `POST /v1/events`: one event object (answered with its own status) or an array of
/// them, applied in order (200 with `{"results": [..]}`, one answer each). Idempotent by
/// event id.
async fn post_events(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let (status, answer) = match body {
        Value::Array(events) => {
            let mut results = Vec::with_capacity(events.len());
            for event in &events {
                results.push(apply_event(&shared, event).await.1);
            }
            (StatusCode::OK, json!({"results": results}))
        }
        event => apply_event(&shared, &event).await,
    };
    // The stored events' triggers (a failure here is retried at the next event or start).
    if let Err(e) = shared.store.schedule_pending(shared.cfg.campaign.rules(), chrono::Utc::now()).await {
        tracing::error!(error = %e, "scheduling the events' triggers failed");
    }
    (status, Json(answer)).into_response()
}

/// `GET /v1/customers/{id}/why`: `{"customer_id", "attempts": [..]}`, each attempt not
/// yet dialled with the rules that allowed, deferred or blocked it.
async fn why(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if let Ok(None) = shared.store.crm_row(crate::campaign::crm::Kind::Customers, id.clone()).await {
        return error(StatusCode::NOT_FOUND, format!("no customer {id:?}"));
    }
    match shared.store.why(id.clone()).await {
        Ok(attempts) => Json(json!({"customer_id": id, "attempts": attempts})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `GET /v1/crm/{customers|orders|returns|deliveries|tickets}/{id}`: the stored row.
async fn crm_row(State(shared): State<Arc<Shared>>, Path((kind, id)): Path<(String, String)>) -> Response {
    let Some(kind) = crate::campaign::crm::Kind::ALL.into_iter().find(|k| k.name() == kind) else {
        return error(StatusCode::NOT_FOUND, format!("no CRM table {kind:?}"));
    };
    match shared.store.crm_row(kind, id.clone()).await {
        Ok(Some(row)) => Json(row).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no {} row {id:?}", kind.name())),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

#[derive(Deserialize)]
struct CreateCall {
    flow: String,
    #[serde(default)]
    context: Value,
    /// Which carrier's endpoint `stream_url` names (twilio when absent).
    #[serde(default)]
    carrier: Option<String>,
    /// Dial the call out through a SIP trunk: `{"trunk", "to"}`.
    #[serde(default)]
    dial: Option<DialTarget>,
}

/// A pending call: its id and token, and the call itself (its greeting rendering); or
/// the status and reason it was refused.
pub(super) async fn create_pending(
    shared: &Shared,
    flow: &str,
    context: Value,
) -> Result<(String, String, Call), (StatusCode, String)> {
    // The context is checked against the flow now, not when the phone rings.
    let call = new_call(shared, flow, &context).map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e))?;
    // Rendered while the phone rings.
    shared.prepare_greeting(&call);
    let id = uuid::Uuid::new_v4().to_string();
    let token = uuid::Uuid::new_v4().simple().to_string();
    let record = NewCall {
        id: id.clone(),
        flow: flow.into(),
        context,
        token: token.clone(),
        created_at: timestamp(chrono::Utc::now()),
    };
    shared.store.create_call(record).await.map_err(|e| {
        tracing::error!(error = %e, "call not created");
        (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    })?;
    Ok((id, token, call))
}

/// `POST /v1/calls {"flow", "context"}` -> `{"call_id", "stream_url", "token"}`. With
/// `"dial": {"trunk", "to"}` voxline also places the call through that SIP trunk (the
/// record shows `ringing`, then its `result`); the answer adds `"dial"`.
async fn create_call(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<CreateCall>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let carrier = match body.carrier.as_deref().map(Carrier::parse) {
        None => Carrier::Twilio,
        Some(Some(c)) => c,
        Some(None) => return error(StatusCode::BAD_REQUEST, "carrier: one of twilio, telnyx, exotel, vonage, jambonz"),
    };
    // A dial is checked, and holds its trunk and server places, before the call exists.
    let dial = match body.dial.as_ref().map(|target| uac::check(&shared, target)).transpose() {
        Ok(d) => d,
        Err(e) if e.is_busy() => return error(StatusCode::SERVICE_UNAVAILABLE, e),
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    let (id, token, call) = match create_pending(&shared, &body.flow, body.context.clone()).await {
        Ok(v) => v,
        Err((status, e)) => return error(status, e),
    };
    tracing::info!(call = %id, flow = %body.flow, "call created");
    let stream_url = format!("{}/media/{}?call_id={id}&token={token}", shared.ws_base(), carrier.name());
    let mut answer = json!({"call_id": id, "stream_url": stream_url, "token": token});
    if let (Some(dial), Some(target)) = (dial, &body.dial) {
        let prepared = Prepared { id: id.clone(), flow: body.flow.clone(), context: body.context, call };
        dial.start(shared.clone(), prepared);
        answer["dial"] = json!({"trunk": target.trunk, "to": target.to});
    }
    (StatusCode::CREATED, Json(answer)).into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    flow: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/calls?flow=&outcome=&since=&until=&limit=` -> `{"calls": [..]}`, newest first.
async fn list_calls(State(shared): State<Arc<Shared>>, Query(q): Query<ListQuery>) -> Response {
    let filter =
        CallFilter { flow: q.flow, outcome: q.outcome, since: q.since, until: q.until, limit: q.limit.unwrap_or(100) };
    match shared.store.list_calls(filter).await {
        Ok(calls) => Json(json!({"calls": calls})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn show_call(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.store.get_call(id.clone()).await {
        Ok(Some(record)) => Json(record).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no call {id:?}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `GET /v1/handoffs/{id}`: the handoff packet of call `id` (stored when the bot handed
/// off, while the call is still live).
async fn show_handoff(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.store.get_call(id.clone()).await {
        Ok(Some(record)) => match record.handoff {
            Some(packet) => Json(packet).into_response(),
            None => error(StatusCode::NOT_FOUND, format!("call {id:?} was not handed off")),
        },
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no handoff {id:?}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn recording(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let record = match shared.store.get_call(id.clone()).await {
        Ok(Some(r)) => r,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no call {id:?}")),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let Some(path) = record.recording_path else { return error(StatusCode::NOT_FOUND, "the call was not recorded") };
    if record.call.state.as_str() != "ended" {
        return error(StatusCode::CONFLICT, "the call is still live");
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([("content-type", "audio/wav")], bytes).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, format!("recording {path}: {e}")),
    }
}

/// `GET /v1/calls/{id}/timeline.svg`: the call's picture, waveforms from its recording
/// when it has one (an ended call's), the timeline alone otherwise.
async fn timeline_svg(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let record = match shared.store.get_call(id.clone()).await {
        Ok(Some(r)) => r,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no call {id:?}")),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let title = format!(
        "call {id} · {} · {} · {}",
        record.call.flow,
        record.call.transport.as_deref().unwrap_or("no transport"),
        record.call.outcome.as_deref().unwrap_or(record.call.state.as_str())
    );
    let path = record.recording_path.clone().filter(|_| record.call.state.as_str() == "ended");
    let svg = tokio::task::spawn_blocking(move || {
        let audio = path.and_then(|p| match crate::media::read_wav_stereo(std::path::Path::new(&p)) {
            Ok(channels) => Some(channels),
            Err(e) => {
                tracing::warn!(error = %e, "timeline drawn without the recording");
                None
            }
        });
        let tracks = audio.as_ref().map(|(caller, bot)| crate::sim::Tracks {
            caller: &caller.samples,
            bot: &bot.samples,
            rate: caller.rate,
        });
        crate::sim::timeline_svg(&title, tracks, &record.timeline)
    })
    .await;
    match svg {
        Ok(svg) => ([("content-type", "image/svg+xml")], svg).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `POST /twilio/voice`: Twilio's voice webhook. `?call_id=` names a call made with
/// `POST /v1/calls`; `?flow=&context=` creates one. Answers TwiML that streams the call
/// to `/media/twilio` with the call's id (and token) as `<Parameter>`s.
async fn twilio_voice(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let auth = &shared.cfg.twilio.auth_token;
    if !auth.is_empty() {
        let url = format!("{}{}", shared.base_url, uri.path_and_query().map_or("/twilio/voice", |p| p.as_str()));
        let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !twilio_signature_valid(auth, signature, &url, &form) {
            tracing::warn!(url, "refused a Twilio webhook: bad or missing X-Twilio-Signature");
            shared.metrics.inc("voxline_calls_refused_total", &[("transport", "twilio"), ("reason", "bad_signature")]);
            return (StatusCode::FORBIDDEN, "bad signature").into_response();
        }
    }
    if shared.draining.load(Ordering::SeqCst) || shared.active.load(Ordering::SeqCst) >= shared.max_calls() {
        shared.metrics.inc("voxline_calls_refused_total", &[("transport", "twilio"), ("reason", "capacity")]);
        return (StatusCode::SERVICE_UNAVAILABLE, "at capacity").into_response();
    }
    let call_sid = form.iter().find(|(k, _)| k == "CallSid").map_or("", |(_, v)| v.as_str());
    let (id, token) = match (query.get("call_id"), query.get("flow")) {
        (Some(id), _) => match shared.store.get_call(id.clone()).await {
            Ok(Some(r)) => (id.clone(), r.token),
            Ok(None) => return error(StatusCode::NOT_FOUND, format!("call_id: no call {id:?}")),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        (None, Some(flow)) => {
            let context = match serde_json::from_str(query.get("context").map_or("{}", String::as_str)) {
                Ok(c) => c,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("context is not JSON: {e}")),
            };
            match create_pending(&shared, flow, context).await {
                Ok((id, token, _)) => (id, token),
                Err((status, e)) => return error(status, e),
            }
        }
        (None, None) => return error(StatusCode::BAD_REQUEST, "the webhook URL needs ?call_id= or ?flow=&context="),
    };
    tracing::info!(call = %id, call_sid, "twilio voice webhook");
    let url = format!("{}/media/twilio", shared.ws_base());
    let twiml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Connect><Stream url=\"{}\"><Parameter name=\"call_id\" value=\"{}\"/><Parameter name=\"token\" value=\"{}\"/></Stream></Connect></Response>\n",
        xml_escape(&url),
        xml_escape(&id),
        xml_escape(&token)
    );
    ([("content-type", "text/xml")], twiml).into_response()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
