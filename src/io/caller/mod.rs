//! `voxline caller CARRIER URL SCRIPT.toml`: plays a caller script over a carrier's real
//! protocol in real time, as the carrier would: 20 ms caller frames, bot audio played out
//! at its real pace, marks echoed when their audio has played, a clear dropping what is
//! queued (and echoing its marks). Against a plain `ws://` server it first creates the
//! call with `POST /v1/calls` and afterwards reads its record, so it prints the same
//! summary as `voxline simulate`, checked against the script's expectations.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::{interval, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::http_client::{self, HttpError};
use super::ws::{Carrier, Heard, WsFrame};
use crate::sim::{expectation_failures, load_audio, CallerScript, SimError};
use turns::{DoneRule, TurnTaker};

pub mod rtp;
pub mod turns;

#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    #[error(transparent)]
    Script(#[from] SimError),
    #[error("{url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{0}: the call context is not JSON: {1}")]
    Context(PathBuf, serde_json::Error),
    #[error("recording {0}: {1}")]
    Wav(PathBuf, hound::Error),
}

pub struct CallerOptions {
    pub carrier: Carrier,
    pub url: String,
    pub script: PathBuf,
    /// Extra stream parameters (`call_id`, or anything the flow reads).
    pub params: Vec<(String, String)>,
    /// The call's token, when the call was created elsewhere.
    pub token: Option<String>,
    /// Where to write what the carrier heard: stereo WAV, caller left, bot right.
    pub wav: Option<PathBuf>,
    /// Stream rate where the protocol lets the carrier choose (Vonage, Exotel, jambonz).
    pub rate: u32,
}

/// What the caller's side did, added to the call's summary.
#[derive(Debug, Default)]
struct CallerSide {
    bot_audio_ms: u64,
    marks_echoed: usize,
    clears: usize,
    closed: String,
}

enum Played {
    Audio(Vec<f32>),
    Mark(String),
}

/// Longest call the client stays on the line.
const MAX_CALL: Duration = Duration::from_secs(180);
/// The bot is done with its turn after 500 ms of silence once the mark after the turn's
/// last sentence (`TURN.INDEX.end`) has played (a bot paused for a barge-in, or between
/// sentences while the next renders, is not done), or after 8 s whatever the marks say:
/// longer than any barge-in pause (recognition times out after 5 s).
const MARKED_DONE: DoneRule = DoneRule { quiet: Duration::from_millis(500), quiet_open: Duration::from_secs(8) };
/// How long the call record may take to be written after the stream closed.
const RECORD_WAIT: Duration = Duration::from_secs(10);

/// `ws://host:port/...` -> `http://host:port`.
fn http_base(url: &str) -> Option<String> {
    let rest = url.strip_prefix("ws://")?;
    Some(format!("http://{}", &rest[..rest.find('/').unwrap_or(rest.len())]))
}

pub async fn run(opts: CallerOptions) -> Result<Value, CallerError> {
    let script = CallerScript::load(&opts.script).map_err(SimError::from)?;
    let context = std::fs::read_to_string(&script.context).map_err(|e| CallerError::Io(script.context.clone(), e))?;
    let mut codec = opts.carrier.caller_codec(opts.rate);
    let rate = codec.sample_rate();
    let turns = script
        .turns
        .iter()
        .map(|t| Ok((load_audio(&t.audio, rate)?, t.after, t.delay_ms)))
        .collect::<Result<Vec<_>, SimError>>()?;
    let mut params: BTreeMap<String, String> = opts.params.iter().cloned().collect();
    if let Some(token) = &opts.token {
        params.insert("token".into(), token.clone());
    }
    let api = http_base(&opts.url);
    let mut url = opts.url.clone();
    if !params.contains_key("call_id") {
        if let Some(api) = &api {
            let context: Value =
                serde_json::from_str(&context).map_err(|e| CallerError::Context(script.context.clone(), e))?;
            let body = json!({"flow": script.flow, "context": context, "carrier": opts.carrier.name()});
            let created = http_client::json("POST", &format!("{api}/v1/calls"), Some(&body)).await?;
            for key in ["call_id", "token"] {
                params.insert(key.into(), created[key].as_str().unwrap_or_default().into());
            }
        } else {
            params.insert("flow".into(), script.flow.clone());
            params.insert("context".into(), context);
        }
    }
    if opts.carrier != Carrier::Twilio && params.contains_key("call_id") && !url.contains('?') {
        // Carriers other than Twilio may carry the call on the URL too (Exotel must).
        url = format!("{url}?call_id={}&token={}", params["call_id"], params.get("token").map_or("", String::as_str));
    }
    let connect_err = |reason: String| CallerError::Connect { url: opts.url.clone(), reason };
    let mut request = url.as_str().into_client_request().map_err(|e| connect_err(e.to_string()))?;
    if let Some(p) = codec.subprotocol() {
        request.headers_mut().insert("sec-websocket-protocol", p.parse().expect("a token"));
    }
    let config = WebSocketConfig::default().read_buffer_size(super::serve::READ_BUFFER);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), false)
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let call_sid = format!("CA{:032x}", uuid::Uuid::new_v4().as_u128());
    // A server refusing the call (at capacity, bad parameters) closes at once: its close
    // frame, not the failed write, says why.
    let mut refused = None;
    for frame in codec.open(&call_sid, &params) {
        if let Err(e) = socket.send(to_message(frame)).await {
            refused = Some(close_reason(&mut socket).await.unwrap_or_else(|| format!("socket error: {e}")));
            break;
        }
    }

    let mut wav = match &opts.wav {
        Some(path) => Some(wav_writer(path, rate)?),
        None => None,
    };
    let frame_len = rate as usize / 50;
    let began = Instant::now();
    let mut heard = CallerSide::default();
    let mut queue: VecDeque<Played> = VecDeque::new();
    let mut tick = interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut caller = TurnTaker::new(turns, frame_len, MARKED_DONE, began);
    // Bot audio has come since the last end-of-turn mark: the bot's turn is still open.
    let mut turn_open = false;
    heard.closed = match refused {
        Some(reason) => reason,
        None => loop {
            tokio::select! {
                message = socket.next() => {
                    let frame = match message {
                        Some(Ok(Message::Text(t))) => WsFrame::Text(t.to_string()),
                        Some(Ok(Message::Binary(b))) => WsFrame::Binary(b.to_vec()),
                        Some(Ok(Message::Close(frame))) => {
                            break frame.map(|f| f.reason.to_string()).unwrap_or_else(|| "closed".into());
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => break format!("socket error: {e}"),
                        None => break "closed".into(),
                    };
                    match codec.decode(frame) {
                        Ok(Heard::Audio(samples)) => {
                            turn_open = true;
                            queue.extend(samples.chunks(frame_len).map(|c| Played::Audio(c.to_vec())));
                        }
                        Ok(Heard::Mark(name)) => {
                            turn_open &= !name.ends_with(".end");
                            queue.push_back(Played::Mark(name));
                        }
                        Ok(Heard::Clear) => {
                            heard.clears += 1;
                            for played in std::mem::take(&mut queue) {
                                if let Played::Mark(name) = played {
                                    if let Some(m) = echo(codec.mark_played(&name)) {
                                        let _ = socket.send(m).await;
                                    }
                                    heard.marks_echoed += 1;
                                }
                            }
                        }
                        Ok(Heard::Nothing) => {}
                        Err(e) => break format!("the server sent an invalid message: {e}"),
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    if now - began > MAX_CALL {
                        if let Some(m) = echo(codec.hang_up()) {
                            let _ = socket.send(m).await;
                        }
                        break "timeout".into();
                    }
                    // Play 20 ms of bot audio; echo the marks it reaches.
                    while let Some(Played::Mark(_)) = queue.front() {
                        let Some(Played::Mark(name)) = queue.pop_front() else { break };
                        if let Some(m) = echo(codec.mark_played(&name)) {
                            let _ = socket.send(m).await;
                        }
                        heard.marks_echoed += 1;
                    }
                    let mut bot = vec![0f32; frame_len];
                    let mut played = false;
                    if let Some(Played::Audio(frame)) = queue.front() {
                        bot[..frame.len().min(frame_len)].copy_from_slice(&frame[..frame.len().min(frame_len)]);
                        heard.bot_audio_ms += 20;
                        queue.pop_front();
                        played = true;
                    }
                    let frame = caller.tick(now, played.then_some(&bot[..]), turn_open, !queue.is_empty());
                    if let Some(w) = wav.as_mut() {
                        for (&c, &b) in frame.iter().zip(&bot) {
                            let pcm = |s: f32| (s.clamp(-1.0, 1.0) * 32767.0) as i16;
                            let _ = w.write_sample(pcm(c)).and_then(|_| w.write_sample(pcm(b)));
                        }
                    }
                    let at_ms = (now - began).as_millis() as u64;
                    if socket.send(to_message(codec.audio(&frame, at_ms))).await.is_err() {
                        break "the server went away".into();
                    }
                }
            }
        },
    };
    if let Some(w) = wav {
        w.finalize().map_err(|e| CallerError::Wav(opts.wav.clone().unwrap_or_default(), e))?;
    }
    let call_id = params.get("call_id").cloned();
    let mut summary = match (&api, &call_id) {
        // A server that exits right after its last call (a drain) has no record to give.
        (Some(api), Some(id)) => {
            record_summary(api, id, &script).await.unwrap_or_else(|e| json!({"record_error": e.to_string()}))
        }
        _ => json!({}),
    };
    let fields = [
        ("call_id", json!(call_id)),
        ("turns_sent", json!(caller.turns_sent)),
        ("bot_audio_ms", json!(heard.bot_audio_ms)),
        ("marks_echoed", json!(heard.marks_echoed)),
        ("clears", json!(heard.clears)),
        ("closed", json!(heard.closed)),
    ];
    for (k, v) in fields {
        summary[k] = v;
    }
    Ok(summary)
}

/// The call's summary from its stored record, checked against the script's expectations.
async fn record_summary(api: &str, id: &str, script: &CallerScript) -> Result<Value, CallerError> {
    let url = format!("{api}/v1/calls/{id}");
    let deadline = Instant::now() + RECORD_WAIT;
    let record = loop {
        let record = http_client::json("GET", &url, None).await?;
        // A refused stream leaves the call pending; a live one is written just after the
        // server closes the stream.
        if record["state"] != "live" || Instant::now() > deadline {
            break record;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut summary = record["summary"].clone();
    if !summary.is_object() {
        summary = json!({});
    }
    let slots: BTreeMap<String, String> = serde_json::from_value(record["slots"].clone()).unwrap_or_default();
    let failures = expectation_failures(
        &script.expect,
        record["outcome"].as_str(),
        !record["handoff"].is_null(),
        record["handoff"]["reason"].as_str(),
        &slots,
    );
    summary["expect_ok"] = json!(failures.is_empty());
    summary["expect_failures"] = json!(failures);
    Ok(summary)
}

/// The reason in the server's close frame, if one arrives within a second.
async fn close_reason<S>(socket: &mut S) -> Option<String>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let read = async {
        while let Some(Ok(m)) = socket.next().await {
            if let Message::Close(frame) = m {
                return frame.map(|f| f.reason.to_string());
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(1), read).await.ok().flatten()
}

fn echo(frame: Option<WsFrame>) -> Option<Message> {
    frame.map(to_message)
}

fn to_message(frame: WsFrame) -> Message {
    match frame {
        WsFrame::Text(t) => Message::text(t),
        WsFrame::Binary(b) => Message::binary(b),
    }
}

fn wav_writer(path: &Path, rate: u32) -> Result<hound::WavWriter<std::io::BufWriter<std::fs::File>>, CallerError> {
    let spec =
        hound::WavSpec { channels: 2, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    hound::WavWriter::create(path, spec).map_err(|e| CallerError::Wav(path.to_path_buf(), e))
}
