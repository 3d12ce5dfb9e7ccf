//! `voxline serve`: one tokio process with the HTTP server (REST API, health, metrics)
//! and the carrier WebSocket media endpoints. Every call runs the same driver over the
//! same adapter; admission refuses what the limits do not allow, and a shutdown stops
//! taking calls and lets live ones finish.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::api;
use super::driver::{drive, CallReport, EngineHub, TransportCommand, TransportEvent};
use super::engines::{LiveEngines, ServerEngines};
use super::metrics::Metrics;
use super::recording::Recorder;
use super::signature::twilio_signature_valid;
use super::ws::{stream, Carrier, StreamStart};
use crate::call::{Call, CallConfig, Event};
use crate::dialogue::{load_flows, FlowDialogue, FlowSpec, IntentClassifier};
use crate::engines::{AsrPool, ComputeGate, EngineError, SileroModel, TtsService, WhisperAsr};
use crate::models::ModelDir;
use crate::server::Config;
use crate::storage::{self, timestamp, CallState, EndedCall, LiveCall, Store};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Dialogue(#[from] crate::dialogue::DialogueError),
    #[error(transparent)]
    Store(#[from] storage::StoreError),
    #[error("storage.url: {0}")]
    StorageUrl(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// What every call shares.
pub struct Shared {
    pub(super) cfg: Config,
    engines: Arc<dyn ServerEngines>,
    /// The same engines, as each call's driver sees them.
    pub(super) hub: Arc<dyn EngineHub>,
    pub(super) vad: SileroModel,
    pub(super) flows: BTreeMap<String, (PathBuf, Arc<FlowSpec>)>,
    pub(super) classifier: Arc<Mutex<IntentClassifier>>,
    pub(super) store: Arc<dyn Store>,
    pub(super) metrics: Arc<Metrics>,
    /// Where recordings go: `recordings/` next to the store.
    recordings: PathBuf,
    pub(super) active: AtomicUsize,
    pub(super) draining: AtomicBool,
    /// The static prompts are rendered.
    warm: AtomicBool,
    /// Flips to true at the end of the drain: live streams end their calls.
    pub(super) stop: watch::Receiver<bool>,
    pub(super) base_url: String,
    /// The SIP stack, once started (for dialling out).
    pub(crate) sip: std::sync::OnceLock<Arc<super::sip::stack::Sip>>,
}

/// Recognition requests waiting for a worker at which new calls are refused: live calls'
/// final results are then already queued behind one another.
const ASR_BACKLOG_REFUSE: usize = 4;

/// A stream's read buffer. Carrier messages are well under 1 KiB (20 ms of audio), and
/// every read zero-fills the buffer: at the 128 KiB default that memset was a fifth of
/// the server's CPU at 300 calls.
pub const READ_BUFFER: usize = 4 * 1024;

/// Most concurrent calls when `limits.max_calls` is 0: what one Whisper worker on a
/// 2-core machine serves in steady load with every call ending as expected and replies
/// at p95 <= 1.2 s (`VOXLINE_PIPELINE_MODE=steady cargo bench --bench pipeline`,
/// BENCHMARKS.md). Callees answering all at once queue at the decoder: the dialer paces.
const DEFAULT_MAX_CALLS: usize = 8;

impl Shared {
    /// Loads the engines, flows, classifier and store once for the process. Relative
    /// paths in the config (the SQLite file) are taken from `config_dir`.
    pub async fn load(
        cfg: Config,
        config_dir: &std::path::Path,
        models: &ModelDir,
        prompts: &std::path::Path,
    ) -> Result<Self, ServeError> {
        let metrics = Arc::new(Metrics::default());
        let whisper = WhisperAsr::load(models, &cfg.engines.asr_model, cfg.engines.asr_threads as usize)?;
        let tts = TtsService::load_with_threads(models, cfg.engines.tts_threads as usize)?
            .with_output_rate(stream::CALL_RATE);
        let gate = ComputeGate::default();
        let asr = AsrPool::with_gate(&whisper, 1, gate.clone())?;
        let engines = Arc::new(LiveEngines::new(asr, tts, gate, metrics.clone()));
        Self::with_engines(cfg, config_dir, models, prompts, engines, metrics).await
    }

    /// As [`Shared::load`], with other engines (the load bench's silent ones).
    pub async fn with_engines<E: ServerEngines + 'static>(
        cfg: Config,
        config_dir: &std::path::Path,
        models: &ModelDir,
        prompts: &std::path::Path,
        engines: Arc<E>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ServeError> {
        let flows = load_flows(&prompts.join("flows"))?;
        let classifier = Arc::new(Mutex::new(IntentClassifier::load(models, &prompts.join("intents.toml"))?));
        let url = cfg.storage_url(config_dir).map_err(ServeError::StorageUrl)?;
        let node = cfg.node();
        tracing::info!(node = %node.name, "store node");
        let store = storage::open(&url, node).await?;
        // A call of this node still live in the store was cut off by a kill or a crash
        // (other nodes' calls are theirs; the campaign dialer takes over a dead node's).
        let closed = "the server stopped before the call ended".to_string();
        let swept = store.end_interrupted(timestamp(chrono::Utc::now()), closed).await?;
        if swept > 0 {
            tracing::warn!(calls = swept, "ended the calls a previous server left live");
        }
        // Events stored before a crash but not yet scheduled.
        let scheduled = store.schedule_pending(cfg.campaign.rules(), chrono::Utc::now()).await?;
        if scheduled > 0 {
            tracing::info!(attempts = scheduled, "scheduled the triggers of events stored before the restart");
        }
        // Recordings live next to the SQLite file, else next to the config.
        let recordings = match &url {
            storage::StorageUrl::Sqlite(path) => path.parent().unwrap_or(config_dir).join("recordings"),
            storage::StorageUrl::Postgres(_) => config_dir.join("recordings"),
        };
        let (_, stop) = watch::channel(false);
        Ok(Shared {
            base_url: String::new(),
            recordings,
            cfg,
            hub: engines.clone(),
            engines,
            vad: SileroModel::load(models)?,
            flows,
            classifier,
            store,
            metrics,
            active: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            warm: AtomicBool::new(false),
            stop,
            sip: std::sync::OnceLock::new(),
        })
    }

    /// Starts rendering the call's own opening text (see [`ServerEngines::prepare`]).
    pub(super) fn prepare_greeting(&self, call: &Call) {
        self.engines.prepare(call.dialogue().call_prompts());
    }

    pub(super) fn max_calls(&self) -> usize {
        match self.cfg.limits.max_calls {
            0 => DEFAULT_MAX_CALLS,
            n => n as usize,
        }
    }

    /// `ws://host` or `wss://host` for the stream URLs we hand out.
    pub(super) fn ws_base(&self) -> String {
        self.base_url.replacen("http", "ws", 1)
    }
}

/// Serves until SIGTERM/SIGINT, then drains. `ready` gets the bound HTTP address and the
/// SIP listener's, if any (the config may ask for port 0); `warm` is called once the
/// flows' static prompts are rendered (`/readyz` says ready from then on).
pub async fn serve(
    mut shared: Shared,
    ready: impl FnOnce(SocketAddr, Option<SocketAddr>),
    warm: impl FnOnce() + Send + 'static,
) -> Result<(), ServeError> {
    let addr = shared.cfg.listen();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr: addr.to_string(), source })?;
    let bound = listener.local_addr()?;
    shared.base_url = match shared.cfg.http.public_url.trim_end_matches('/') {
        "" => format!("http://{bound}"),
        url => url.to_string(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    shared.stop = stop_rx;
    let drain = shared.cfg.drain_timeout();
    let shared = Arc::new(shared);
    let statics: Vec<String> = shared.flows.values().flat_map(|(_, spec)| spec.static_texts()).collect();
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/media/{carrier}", get(media))
        .merge(api::routes())
        .merge(super::campaign_api::routes())
        .with_state(shared.clone());
    // The flows' static prompts render in the background: calls are taken at once and
    // meet a warm cache within seconds.
    let warming = shared.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = warming.engines.prerender(&statics) {
            tracing::warn!(error = %e, "static prompts could not be pre-rendered");
        }
        warming.warm.store(true, Ordering::SeqCst);
        tracing::info!(prompts = statics.len(), "static prompts rendered");
        warm();
    });
    tokio::spawn(winback_runs(shared.clone()));
    let sip = super::sip::stack::start(shared.clone()).await?;
    if let Some((_, stack)) = &sip {
        let _ = shared.sip.set(stack.clone());
    }
    tokio::spawn(super::campaign::run(shared.clone()));
    ready(bound, sip.map(|(addr, _)| addr));
    let draining = shared.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            draining.draining.store(true, Ordering::SeqCst);
            tracing::info!(active = draining.active.load(Ordering::SeqCst), "shutting down: no new calls");
            let deadline = tokio::time::Instant::now() + drain;
            while draining.active.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Calls still live after the drain are ended by their streams.
            let _ = stop_tx.send(true);
            while draining.active.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await?;
    Ok(())
}

/// Win-back selection at start and every hour after (a customer gets one win-back
/// attempt, so a run that finds nothing new changes nothing).
async fn winback_runs(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        match shared.store.schedule_winback(shared.cfg.campaign.rules(), chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(attempts = n, "win-back: lapsed customers scheduled"),
            Err(e) => tracing::error!(error = %e, "win-back run failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    if !shared.warm.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "warming up: rendering static prompts").into_response();
    }
    "ready".into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], shared.metrics.render()).into_response()
}

/// `GET /media/{carrier}`: a carrier's media stream (WebSocket upgrade).
async fn media(
    State(shared): State<Arc<Shared>>,
    Path(carrier): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(carrier) = Carrier::parse(&carrier) else {
        return (StatusCode::NOT_FOUND, format!("no media endpoint for {carrier:?}")).into_response();
    };
    if shared.draining.load(Ordering::SeqCst) {
        refused(&shared, carrier.name(), "draining");
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let mut signed = false;
    let token = &shared.cfg.twilio.auth_token;
    if carrier == Carrier::Twilio && !token.is_empty() {
        let url = format!("{}{}", shared.ws_base(), uri.path_and_query().map_or("/media/twilio", |p| p.as_str()));
        let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !twilio_signature_valid(token, signature, &url, &[]) {
            tracing::warn!(url, "refused a Twilio stream: bad or missing X-Twilio-Signature");
            refused(&shared, carrier.name(), "bad_signature");
            return (StatusCode::FORBIDDEN, "bad signature").into_response();
        }
        signed = true;
    }
    let codec = carrier.server_codec();
    let upgrade = match codec.subprotocol() {
        Some(p) => upgrade.protocols([p]),
        None => upgrade,
    };
    upgrade
        .max_message_size(64 * 1024)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| carrier_call(shared, carrier, socket, query, signed))
}

pub(super) fn refused(shared: &Shared, transport: &str, reason: &str) {
    shared.metrics.inc("voxline_calls_refused_total", &[("transport", transport), ("reason", reason)]);
}

/// A live call counted against the limits; the count drops however the call ends.
pub(super) struct Live(Arc<Shared>, &'static str);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.gauge_add("voxline_calls_active", &[("transport", self.1)], -1);
    }
}

/// Admission: a call beyond capacity is refused before it costs anything: beyond
/// `max_calls`, or while recognition is already behind for the calls that are live.
/// The error is the reason (`capacity`, `asr_behind`).
pub(super) fn admit(shared: &Arc<Shared>, transport: &'static str) -> Result<Live, &'static str> {
    let behind = shared.engines.asr_backlog() >= ASR_BACKLOG_REFUSE;
    if shared.active.fetch_add(1, Ordering::SeqCst) >= shared.max_calls() || behind {
        shared.active.fetch_sub(1, Ordering::SeqCst);
        let reason = if behind { "asr_behind" } else { "capacity" };
        tracing::warn!(transport, max = shared.max_calls(), reason, "refused a call: at capacity");
        refused(shared, transport, reason);
        return Err(reason);
    }
    shared.metrics.gauge_add("voxline_calls_active", &[("transport", transport)], 1);
    Ok(Live(shared.clone(), transport))
}

async fn close_with(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket.send(stream::close(code, reason)).await;
}

async fn carrier_call(
    shared: Arc<Shared>,
    carrier: Carrier,
    mut socket: WebSocket,
    query: BTreeMap<String, String>,
    signed: bool,
) {
    let Ok(_live) = admit(&shared, carrier.name()) else {
        close_with(&mut socket, 1013, "at capacity, try again later").await;
        return;
    };
    let mut codec = carrier.server_codec();
    let mut start = match stream::await_start(&mut socket, codec.as_mut()).await {
        Ok(start) => start,
        Err(reason) => {
            tracing::warn!(transport = carrier.name(), reason, "closing a stream");
            stream_error(&shared, carrier, "bad_start");
            close_with(&mut socket, 1008, &reason).await;
            return;
        }
    };
    // Query parameters on the stream URL count like the carrier's own parameters.
    for (k, v) in query {
        start.params.entry(k).or_insert(v);
    }
    let prepared = match prepare(&shared, carrier, &start, signed).await {
        Ok(p) => p,
        Err(reason) => {
            tracing::warn!(transport = carrier.name(), carrier_call_id = %start.carrier_call_id, reason, "closing a stream");
            stream_error(&shared, carrier, "bad_parameters");
            close_with(&mut socket, 1008, &reason).await;
            return;
        }
    };
    let span = tracing::info_span!("call", call = %prepared.id, transport = carrier.name());
    session(shared, carrier, socket, codec, start, prepared).instrument(span).await;
}

fn stream_error(shared: &Shared, carrier: Carrier, kind: &str) {
    shared.metrics.inc("voxline_stream_errors_total", &[("transport", carrier.name()), ("kind", kind)]);
}

/// A call, ready to run.
pub(super) struct Prepared {
    pub id: String,
    pub flow: String,
    pub context: serde_json::Value,
    pub call: Call,
}

/// The call a stream's parameters ask for: `call_id` of a call created with
/// `POST /v1/calls` (with its `token` unless the stream was signed), or `flow` plus
/// `context` (the call-context JSON).
async fn prepare(shared: &Shared, carrier: Carrier, start: &StreamStart, signed: bool) -> Result<Prepared, String> {
    let params = &start.params;
    let origin = match carrier {
        Carrier::Twilio => "customParameters",
        Carrier::Telnyx | Carrier::Exotel => "custom_parameters",
        Carrier::Vonage => "the websocket:connected headers",
        Carrier::Jambonz => "metadata",
    };
    resolve(shared, params, origin, signed).await
}

/// The call `params` ask for: `call_id` of a pending call (with its `token` unless the
/// transport vouches for the caller), or `flow` plus `context` (JSON). Errors name the
/// parameter at fault, as found in `origin`.
pub(super) async fn resolve(
    shared: &Shared,
    params: &BTreeMap<String, String>,
    origin: &str,
    signed: bool,
) -> Result<Prepared, String> {
    let (id, flow, context) = if let Some(id) = params.get("call_id") {
        let record = shared
            .store
            .get_call(id.clone())
            .await
            .map_err(|e| format!("call {id:?} could not be read: {e}"))?
            .ok_or_else(|| format!("{origin}.call_id: no call {id:?} (create it with POST /v1/calls)"))?;
        if record.call.state != CallState::Pending {
            return Err(format!("{origin}.call_id: call {id:?} is {}, not pending", record.call.state.as_str()));
        }
        if !signed && params.get("token") != Some(&record.token) {
            return Err(format!("{origin}.token: missing or wrong for call {id:?}"));
        }
        if params.get("flow").is_some_and(|f| *f != record.call.flow) {
            return Err(format!("{origin}.flow: call {id:?} runs {}", record.call.flow));
        }
        (id.clone(), record.call.flow, record.context)
    } else {
        let flow = params.get("flow").ok_or(format!("{origin} lacks `flow` (or `call_id`)"))?;
        let context = params.get("context").ok_or(format!("{origin} lacks `context` (the call context as JSON)"))?;
        let context: serde_json::Value =
            serde_json::from_str(context).map_err(|e| format!("{origin}.context is not JSON: {e}"))?;
        (uuid::Uuid::new_v4().to_string(), flow.clone(), context)
    };
    let call = new_call(shared, &flow, &context).map_err(|e| format!("{origin}.{e}"))?;
    // A call made by POST /v1/calls has its greeting rendered already (unless evicted).
    shared.prepare_greeting(&call);
    Ok(Prepared { id, flow, context, call })
}

/// A call running `flow` with `context`; errors name the field at fault.
pub(super) fn new_call(shared: &Shared, flow: &str, context: &serde_json::Value) -> Result<Call, String> {
    let (_, spec) = shared.flows.get(flow).ok_or_else(|| {
        format!("flow: unknown flow {flow:?} (flows: {})", shared.flows.keys().cloned().collect::<Vec<_>>().join(", "))
    })?;
    let dialogue = FlowDialogue::new(spec.clone(), context.clone(), shared.classifier.clone())
        .map_err(|e| format!("context: {e}"))?;
    let vad = shared.vad.detector(stream::CALL_RATE).map_err(|e| e.to_string())?;
    Call::new(CallConfig::default(), Box::new(vad), Box::new(dialogue)).map_err(|e| e.to_string())
}

async fn session(
    shared: Arc<Shared>,
    carrier: Carrier,
    socket: WebSocket,
    codec: Box<dyn super::ws::CarrierCodec>,
    start: StreamStart,
    prepared: Prepared,
) {
    let carrier_call_id = start.carrier_call_id.clone();
    run_call(shared, carrier.name(), carrier_call_id, prepared, move |events, commands, recorder| async move {
        let end = stream::run(socket, codec, &start, events, commands, recorder).await;
        TransportEnd {
            reason: end.reason,
            frames_sent: end.frames_sent,
            media: None,
            dial: None,
            transfer: None,
            transcript: Vec::new(),
        }
    })
    .await
}

/// How a call's transport ended.
pub(super) struct TransportEnd {
    /// Why it closed.
    pub reason: String,
    /// Bot audio frames (20 ms) it sent.
    pub frames_sent: u64,
    /// Transport figures kept with the call's summary (`media`: RTP loss and jitter).
    pub media: Option<serde_json::Value>,
    /// How the call was dialled (`dial`: trunk, number, SIP status, ring time).
    pub dial: Option<serde_json::Value>,
    /// How a handed-off call was transferred (`transfer`: mode, target, result).
    pub transfer: Option<serde_json::Value>,
    /// What was said after the bot's part (a bridge's caller and agent lines).
    pub transcript: Vec<crate::storage::StoredLine>,
}

/// Runs a prepared call over a transport: the record goes live, the driver and the
/// transport run until the call ends, and the outcome is stored. `transport` gets the
/// driver's channels and the recorder (when recording).
/// Stores the call's handoff packet (v1) as soon as the bot hands off; returns it for
/// the call's final record.
async fn store_handoff(
    shared: Arc<Shared>,
    id: String,
    context: serde_json::Value,
    recorded: bool,
    mut packets: mpsc::UnboundedReceiver<crate::call::HandoffPacket>,
) -> Option<serde_json::Value> {
    let core = packets.recv().await?;
    let recording = recorded.then(|| format!("/v1/calls/{id}/recording.wav"));
    let packet = crate::server::handoff::packet(&id, &context, &core, &timestamp(chrono::Utc::now()), recording);
    let packet = serde_json::to_value(packet).ok()?;
    if let Err(e) = shared.store.call_handoff(id.clone(), packet.clone()).await {
        tracing::error!(error = %e, "handoff packet not stored");
    }
    Some(packet)
}

pub(super) async fn run_call<F, Fut>(
    shared: Arc<Shared>,
    transport: &'static str,
    carrier_call_id: String,
    prepared: Prepared,
    run_transport: F,
) where
    F: FnOnce(mpsc::Sender<TransportEvent>, mpsc::Receiver<TransportCommand>, Option<Recorder>) -> Fut,
    Fut: std::future::Future<Output = TransportEnd>,
{
    let Prepared { id, flow, context, call } = prepared;
    // Recorded when the config says so, unless the call's context withholds consent.
    let consent = context.get("recording_consent").and_then(|v| v.as_bool()) != Some(false);
    let recorder = (shared.cfg.recording.enabled && consent)
        .then(|| {
            let path = shared.recordings.join(format!("{id}.wav"));
            Recorder::create(&path, stream::CALL_RATE)
                .map_err(|e| tracing::warn!(path = %path.display(), error = %e, "cannot record the call"))
                .ok()
        })
        .flatten();
    let recording_path = recorder.as_ref().map(|_| shared.recordings.join(format!("{id}.wav")).display().to_string());
    let recorded = recorder.is_some();
    let live = LiveCall {
        id: id.clone(),
        flow: flow.clone(),
        context: context.clone(),
        transport: transport.into(),
        carrier_call_id: carrier_call_id.clone(),
        started_at: timestamp(chrono::Utc::now()),
        recording_path,
        consent: shared.cfg.recording.enabled && consent,
    };
    if let Err(e) = shared.store.call_live(live).await {
        tracing::error!(error = %e, "call record not written");
        shared.metrics.inc("voxline_store_errors_total", &[]);
    }
    shared.metrics.inc("voxline_calls_total", &[("transport", transport), ("flow", &flow)]);
    tracing::info!(flow, carrier_call_id = %carrier_call_id, "call started");
    let (event_tx, event_rx) = mpsc::channel(256);
    let (command_tx, command_rx) = mpsc::channel(256);
    let (handoff_tx, handoff_rx) = mpsc::unbounded_channel();
    let handoff = tokio::spawn(store_handoff(shared.clone(), id.clone(), context, recorded, handoff_rx));
    let driver =
        tokio::spawn(drive(call, shared.hub.clone(), event_rx, command_tx, Some(handoff_tx)).in_current_span());
    let mut stop = shared.stop.clone();
    let hang_up = event_tx.clone();
    // At the end of a shutdown drain the call is hung up like a caller hang-up.
    let end_of_drain = tokio::spawn(async move {
        if stop.wait_for(|s| *s).await.is_ok() {
            let _ = hang_up.send(TransportEvent::HangUp).await;
        }
    });
    let end = run_transport(event_tx, command_rx, recorder).await;
    shared.metrics.add("voxline_bot_frames_total", &[("transport", transport)], end.frames_sent);
    let closed = end.reason;
    end_of_drain.abort();
    let report = match driver.await {
        Ok(report) => report,
        Err(e) => {
            tracing::error!(error = %e, "call driver failed");
            CallReport::default()
        }
    };
    let outcome = report.outcome.map(|o| o.code());
    let reason = report.handoff.as_ref().map(|h| h.reason.as_str()).unwrap_or("");
    tracing::info!(outcome = outcome.unwrap_or("none"), handoff = reason, closed, "call ended");
    let handoff = handoff.await.ok().flatten();
    record_metrics(&shared, &flow, outcome.unwrap_or("none"), &report);
    let ended = EndedCall {
        id,
        ended_at: timestamp(chrono::Utc::now()),
        outcome: outcome.map(str::to_string),
        handoff,
        closed,
        transcript: {
            let mut lines = crate::sim::transcript(&report.events);
            lines.extend(end.transcript);
            lines
        },
        summary: {
            let mut summary =
                serde_json::to_value(crate::sim::summarize(&report.events, &report.bot_frames_ms)).unwrap_or_default();
            if let Some(map) = summary.as_object_mut() {
                for (key, value) in [("media", end.media), ("dial", end.dial), ("transfer", end.transfer)] {
                    if let Some(value) = value {
                        map.insert(key.into(), value);
                    }
                }
            }
            summary
        },
        slots: report.slots.clone(),
        timeline: report.events.iter().filter_map(|e| serde_json::to_value(e).ok()).collect(),
    };
    if let Err(e) = shared.store.call_ended(ended).await {
        tracing::error!(error = %e, "call outcome not written");
        shared.metrics.inc("voxline_store_errors_total", &[]);
    }
}

fn record_metrics(shared: &Shared, flow: &str, outcome: &str, report: &CallReport) {
    let m = &shared.metrics;
    m.inc("voxline_call_outcomes_total", &[("flow", flow), ("outcome", outcome)]);
    m.merge("voxline_outbound_frame_lateness_ms", &[], &report.frame_lateness);
    for e in &report.events {
        match &e.event {
            Event::Latency { stage, ms } => {
                let stage = serde_json::to_value(stage).ok().and_then(|v| v.as_str().map(str::to_string));
                m.observe("voxline_stage_latency_ms", &[("stage", stage.as_deref().unwrap_or("?"))], *ms as f64);
            }
            Event::PlayoutPause => m.inc("voxline_barge_ins_total", &[("flow", flow)]),
            _ => {}
        }
    }
}
