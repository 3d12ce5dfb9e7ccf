//! `voxline caller twilio URL SCRIPT.toml`: plays a caller script over the real Twilio
//! Media Streams protocol in real time, as Twilio would: 20 ms mu-law frames, bot audio
//! played out at its real pace, marks echoed when their audio has played, `clear`
//! dropping what is queued (and echoing its marks).

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::json;
use tokio::time::{interval, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use super::ws::twilio;
use crate::media::{mulaw_decode, mulaw_encode};
use crate::sim::{load_audio, CallerScript, Cue, SimError};

#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    #[error(transparent)]
    Script(#[from] SimError),
    #[error("{url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{0}: {1}")]
    Io(std::path::PathBuf, std::io::Error),
}

/// What the caller heard and did, printed as one JSON line.
#[derive(Debug, Default, Serialize)]
pub struct CallerSummary {
    pub turns_sent: usize,
    pub bot_audio_ms: u64,
    pub marks_echoed: usize,
    pub clears: usize,
    /// Why the stream ended: the server's close reason, or "timeout".
    pub closed: String,
}

enum Played {
    Audio(Vec<u8>),
    Mark(String),
}

/// Longest call the client stays on the line.
const MAX_CALL: Duration = Duration::from_secs(180);
/// Bot silence after which the bot counts as done with its turn.
const BOT_DONE_AFTER: Duration = Duration::from_millis(500);

pub async fn call_twilio(
    url: &str,
    script_path: &std::path::Path,
    params: &[(String, String)],
) -> Result<CallerSummary, CallerError> {
    let script = CallerScript::load(script_path).map_err(SimError::from)?;
    let context = std::fs::read_to_string(&script.context).map_err(|e| CallerError::Io(script.context.clone(), e))?;
    let turns = script
        .turns
        .iter()
        .map(|t| Ok((load_audio(&t.audio, twilio::SAMPLE_RATE)?, t.after, t.delay_ms)))
        .collect::<Result<Vec<_>, SimError>>()?;
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| CallerError::Connect { url: url.into(), reason: e.to_string() })?;
    let (stream_sid, call_sid) = ("MZvoxlinecaller".to_string(), format!("CAvoxline{}", std::process::id()));
    let mut custom: serde_json::Map<String, serde_json::Value> =
        [("flow".to_string(), script.flow.clone().into()), ("context".to_string(), context.into())]
            .into_iter()
            .collect();
    custom.extend(params.iter().map(|(k, v)| (k.clone(), v.clone().into())));
    let start = json!({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid, "start": {
        "streamSid": stream_sid, "callSid": call_sid, "accountSid": "ACvoxline", "tracks": ["inbound"],
        "customParameters": custom, "mediaFormat": {"encoding": twilio::ENCODING, "sampleRate": 8000, "channels": 1}}});
    let send_err =
        |e: tokio_tungstenite::tungstenite::Error| CallerError::Connect { url: url.into(), reason: e.to_string() };
    socket
        .send(Message::text(json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string()))
        .await
        .map_err(send_err)?;
    socket.send(Message::text(start.to_string())).await.map_err(send_err)?;

    let began = Instant::now();
    let mut summary = CallerSummary::default();
    let mut queue: VecDeque<Played> = VecDeque::new();
    let mut tick = interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    // The caller's side: the turn being spoken and where it is, the next turn to start.
    let mut speaking: Option<(Vec<f32>, usize)> = None;
    let mut next_turn = 0usize;
    let mut turn_due: Option<Instant> =
        turns.first().filter(|t| t.1.is_none()).map(|t| began + Duration::from_millis(t.2));
    let (mut bot_started, mut bot_last_audio): (Option<Instant>, Option<Instant>) = (None, None);
    let mut seq = 2u64;
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                    match v["event"].as_str() {
                        Some("media") => {
                            let payload = v["media"]["payload"].as_str().unwrap_or("");
                            let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, payload).unwrap_or_default();
                            queue.extend(bytes.chunks(160).map(|c| Played::Audio(c.to_vec())));
                        }
                        Some("mark") => queue.push_back(Played::Mark(v["mark"]["name"].as_str().unwrap_or("").to_string())),
                        Some("clear") => {
                            summary.clears += 1;
                            for played in std::mem::take(&mut queue) {
                                if let Played::Mark(name) = played {
                                    socket.send(Message::text(twilio::mark(&stream_sid, &name))).await.map_err(send_err)?;
                                    summary.marks_echoed += 1;
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    summary.closed = frame.map(|f| f.reason.to_string()).unwrap_or_else(|| "closed".into());
                    return Ok(summary);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    summary.closed = format!("socket error: {e}");
                    return Ok(summary);
                }
                None => {
                    summary.closed = "closed".into();
                    return Ok(summary);
                }
            },
            _ = tick.tick() => {
                let now = Instant::now();
                if now - began > MAX_CALL {
                    summary.closed = "timeout".into();
                    return Ok(summary);
                }
                // Play 20 ms of bot audio; echo the marks it reaches.
                while let Some(Played::Mark(_)) = queue.front() {
                    let Some(Played::Mark(name)) = queue.pop_front() else { break };
                    socket.send(Message::text(twilio::mark(&stream_sid, &name))).await.map_err(send_err)?;
                    summary.marks_echoed += 1;
                }
                if let Some(Played::Audio(frame)) = queue.front() {
                    let energy = frame.iter().map(|&b| (mulaw_decode(b) as f32 / 32768.0).abs()).fold(0.0, f32::max);
                    if energy > 0.01 {
                        bot_started.get_or_insert(now);
                        bot_last_audio = Some(now);
                    }
                    summary.bot_audio_ms += 20;
                    queue.pop_front();
                }
                // Start the next turn when its cue comes.
                if speaking.is_none() && turn_due.is_none() {
                    if let Some((_, Some(cue), delay)) = turns.get(next_turn) {
                        let from = match cue {
                            Cue::BotStart => bot_started,
                            Cue::BotDone => bot_last_audio.filter(|t| now - *t >= BOT_DONE_AFTER && queue.is_empty()),
                        };
                        turn_due = from.map(|t| t + Duration::from_millis(*delay));
                    }
                }
                if turn_due.is_some_and(|due| now >= due) && speaking.is_none() {
                    turn_due = None;
                    speaking = turns.get(next_turn).map(|t| (t.0.clone(), 0));
                    next_turn += 1;
                    summary.turns_sent += 1;
                    (bot_started, bot_last_audio) = (None, None);
                }
                // Send 20 ms of the caller: the turn's audio, else line silence.
                let mut frame = [0f32; 160];
                if let Some((audio, pos)) = speaking.as_mut() {
                    let end = (*pos + 160).min(audio.len());
                    frame[..end - *pos].copy_from_slice(&audio[*pos..end]);
                    *pos = end;
                    if *pos >= audio.len() {
                        speaking = None;
                    }
                }
                let bytes: Vec<u8> = frame.iter().map(|&s| mulaw_encode((s.clamp(-1.0, 1.0) * 32767.0) as i16)).collect();
                let payload = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
                let media = json!({"event": "media", "sequenceNumber": seq.to_string(), "streamSid": stream_sid,
                    "media": {"track": "inbound", "chunk": (seq - 1).to_string(), "timestamp": ((now - began).as_millis() as u64).to_string(), "payload": payload}});
                seq += 1;
                if socket.send(Message::text(media.to_string())).await.is_err() {
                    summary.closed = "the server went away".into();
                    return Ok(summary);
                }
            }
        }
    }
}
