//! `voxline serve`: one tokio process with the HTTP server (health now; the REST API,
//! metrics and the agent desk as they land) and the carrier WebSocket media endpoints.
//! Every call runs the same driver; admission refuses what the limits do not allow, and
//! a shutdown stops taking calls and lets live ones finish.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::driver::{drive, EngineHub};
use super::engines::LiveEngines;
use super::signature::twilio_signature_valid;
use super::ws::twilio_stream;
use crate::call::{Call, CallConfig};
use crate::dialogue::{load_flows, FlowDialogue, FlowSpec, IntentClassifier};
use crate::engines::{AsrPool, EngineError, SileroModel, TtsService, WhisperAsr};
use crate::models::ModelDir;
use crate::server::Config;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Dialogue(#[from] crate::dialogue::DialogueError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// What every call shares.
pub struct Shared {
    cfg: Config,
    engines: Arc<LiveEngines>,
    vad: SileroModel,
    flows: BTreeMap<String, (PathBuf, Arc<FlowSpec>)>,
    classifier: Arc<Mutex<IntentClassifier>>,
    active: AtomicUsize,
    draining: AtomicBool,
    /// The static prompts are rendered.
    warm: AtomicBool,
    /// Flips to true at the end of the drain: live streams end their calls.
    stop: watch::Receiver<bool>,
    base_url: String,
}

/// Most concurrent calls when `limits.max_calls` is 0: what one Whisper worker on this
/// kind of machine serves within the latency targets (BENCHMARKS.md).
const DEFAULT_MAX_CALLS: usize = 8;

impl Shared {
    /// Loads the engines, flows and classifier once for the process.
    pub fn load(cfg: Config, models: &ModelDir, prompts: &std::path::Path) -> Result<Self, ServeError> {
        let whisper = WhisperAsr::load(models, "whisper-tiny.en", 2)?;
        let engines = LiveEngines::new(AsrPool::new(&whisper, 1)?, TtsService::load(models)?.with_output_rate(8000));
        let flows = load_flows(&prompts.join("flows"))?;
        let classifier = Arc::new(Mutex::new(IntentClassifier::load(models, &prompts.join("intents.toml"))?));
        let (_, stop) = watch::channel(false);
        Ok(Shared {
            base_url: String::new(),
            cfg,
            engines: Arc::new(engines),
            vad: SileroModel::load(models)?,
            flows,
            classifier,
            active: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            warm: AtomicBool::new(false),
            stop,
        })
    }

    fn max_calls(&self) -> usize {
        match self.cfg.limits.max_calls {
            0 => DEFAULT_MAX_CALLS,
            n => n as usize,
        }
    }
}

/// Serves until SIGTERM/SIGINT, then drains. `ready` gets the bound address (the config
/// may ask for port 0).
/// `warm` is called once the flows' static prompts are rendered (`/readyz` says ready).
pub async fn serve(
    mut shared: Shared,
    ready: impl FnOnce(SocketAddr),
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
        .route("/media/twilio", get(twilio_media))
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
    ready(bound);
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

/// `GET /media/twilio`: the Twilio Media Streams WebSocket.
async fn twilio_media(State(shared): State<Arc<Shared>>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    if shared.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let token = &shared.cfg.twilio.auth_token;
    if !token.is_empty() {
        let url = format!("{}/media/twilio", shared.base_url.replacen("http", "ws", 1));
        let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !twilio_signature_valid(token, signature, &url, &[]) {
            tracing::warn!(url, "refused a Twilio stream: bad or missing X-Twilio-Signature");
            return (StatusCode::FORBIDDEN, "bad signature").into_response();
        }
    }
    if shared.active.load(Ordering::SeqCst) >= shared.max_calls() {
        tracing::warn!(max = shared.max_calls(), "refused a Twilio stream: at capacity");
        return (StatusCode::SERVICE_UNAVAILABLE, "at capacity").into_response();
    }
    upgrade.max_message_size(64 * 1024).on_upgrade(move |socket| twilio_call(shared, socket))
}

/// Decrements the live-call count however the call ends.
struct Live(Arc<Shared>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn twilio_call(shared: Arc<Shared>, mut socket: WebSocket) {
    shared.active.fetch_add(1, Ordering::SeqCst);
    let _live = Live(shared.clone());
    let start = match twilio_stream::await_start(&mut socket).await {
        Ok(start) => start,
        Err(reason) => {
            tracing::warn!(reason, "closing a Twilio stream");
            let _ = socket.send(twilio_stream::close(1008, &reason)).await;
            return;
        }
    };
    let span = tracing::info_span!("call", call = %start.call_sid, stream = %start.stream_sid, transport = "twilio");
    twilio_session(shared, socket, start).instrument(span).await;
}

async fn twilio_session(shared: Arc<Shared>, mut socket: WebSocket, start: crate::io::ws::twilio::StreamStart) {
    let call = match new_call(&shared, &start.custom_parameters) {
        Ok(call) => call,
        Err(reason) => {
            tracing::warn!(reason, "closing a Twilio stream");
            let _ = socket.send(twilio_stream::close(1008, &reason)).await;
            return;
        }
    };
    tracing::info!(flow = %start.custom_parameters.get("flow").map_or("", String::as_str), "call started");
    let (event_tx, event_rx) = mpsc::channel(256);
    let (command_tx, command_rx) = mpsc::channel(256);
    let engines: Arc<dyn EngineHub> = shared.engines.clone();
    let driver = tokio::spawn(drive(call, engines, event_rx, command_tx));
    let mut stop = shared.stop.clone();
    let hang_up = event_tx.clone();
    // At the end of a shutdown drain the call is hung up like a caller hang-up.
    let end_of_drain = tokio::spawn(async move {
        if stop.wait_for(|s| *s).await.is_ok() {
            let _ = hang_up.send(super::driver::TransportEvent::HangUp).await;
        }
    });
    let closed = twilio_stream::run(socket, start.stream_sid.clone(), event_tx, command_rx).await;
    end_of_drain.abort();
    match driver.await {
        Ok(report) => {
            let outcome = report.outcome.map_or("none", |o| o.code());
            let handoff = report.handoff.as_ref().map(|h| h.reason.as_str()).unwrap_or("");
            tracing::info!(outcome, handoff, closed, "call ended");
        }
        Err(e) => tracing::error!(error = %e, "call driver failed"),
    }
}

/// The call the stream's parameters ask for: `flow` and `context` (the call-context JSON).
fn new_call(shared: &Shared, params: &BTreeMap<String, String>) -> Result<Call, String> {
    let flow = params.get("flow").ok_or("customParameters lacks `flow`")?;
    let (_, spec) = shared.flows.get(flow).ok_or_else(|| {
        format!(
            "customParameters.flow: unknown flow {flow:?} (flows: {})",
            shared.flows.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let context = params.get("context").ok_or("customParameters lacks `context` (the call context as JSON)")?;
    let context: serde_json::Value =
        serde_json::from_str(context).map_err(|e| format!("customParameters.context is not JSON: {e}"))?;
    let dialogue = FlowDialogue::new(spec.clone(), context, shared.classifier.clone())
        .map_err(|e| format!("customParameters.context: {e}"))?;
    let vad = shared.vad.detector(8000).map_err(|e| e.to_string())?;
    Call::new(CallConfig::default(), Box::new(vad), Box::new(dialogue)).map_err(|e| e.to_string())
}
