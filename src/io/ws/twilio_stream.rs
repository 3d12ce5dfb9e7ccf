//! The Twilio Media Streams adapter: owns one WebSocket, turns its frames into
//! [`TransportEvent`]s for the driver and the driver's commands into Twilio messages.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::twilio::{self, StreamStart, TwilioIn};
use crate::io::driver::{TransportCommand, TransportEvent};
use crate::media::{mulaw_decode, mulaw_encode, Frame, MediaTime};

/// Caller frames are 20 ms at 8 kHz.
const FRAME: usize = 160;
/// How long to wait for the carrier's answer to our close frame.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Messages allowed before `start` (Twilio sends `connected` first).
const MAX_BEFORE_START: usize = 8;

/// Close codes: 1000 normal, 1008 policy (bad parameters), 1007 invalid payload.
pub fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.chars().take(120).collect::<String>().into() }))
}

/// Reads until Twilio's `start`: the stream's ids and the call's custom parameters.
pub async fn await_start(socket: &mut WebSocket) -> Result<StreamStart, String> {
    for _ in 0..MAX_BEFORE_START {
        let Some(Ok(message)) = socket.next().await else { return Err("the stream closed before `start`".into()) };
        let text = match message {
            Message::Text(t) => t,
            Message::Close(_) => return Err("the stream closed before `start`".into()),
            Message::Binary(_) => return Err("binary frame on a JSON protocol".into()),
            _ => continue,
        };
        match twilio::parse(text.as_str()).map_err(|e| e.to_string())? {
            TwilioIn::Connected => {}
            TwilioIn::Start(start) => return Ok(start),
            other => return Err(format!("{other:?} before `start`").chars().take(80).collect()),
        }
    }
    Err("no `start` in the stream's first messages".into())
}

/// Runs the stream until the call or the socket ends. Returns why the socket closed.
pub async fn run(
    socket: WebSocket,
    stream_sid: String,
    events: mpsc::Sender<TransportEvent>,
    mut commands: mpsc::Receiver<TransportCommand>,
) -> String {
    let (mut tx, mut rx) = socket.split();
    let mut pending: Vec<f32> = Vec::with_capacity(FRAME);
    let mut received = 0u64;
    loop {
        tokio::select! {
            message = rx.next() => {
                let text = match message {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let _ = tx.send(close(1003, "binary frame on a JSON protocol")).await;
                        let _ = events.send(TransportEvent::HangUp).await;
                        return "binary frame on a JSON protocol".into();
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        let _ = events.send(TransportEvent::HangUp).await;
                        return "the carrier closed the stream".into();
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        let _ = events.send(TransportEvent::HangUp).await;
                        return format!("socket error: {e}");
                    }
                };
                let event = match twilio::parse(text.as_str()) {
                    Ok(TwilioIn::Media { mulaw, .. }) => {
                        pending.extend(mulaw.iter().map(|&b| mulaw_decode(b) as f32 / 32768.0));
                        while pending.len() >= FRAME {
                            let samples: Vec<f32> = pending.drain(..FRAME).collect();
                            let frame = Frame::new(MediaTime::new(received, twilio::SAMPLE_RATE), samples);
                            received += FRAME as u64;
                            if events.send(TransportEvent::Audio(frame)).await.is_err() {
                                break;
                            }
                        }
                        continue;
                    }
                    Ok(TwilioIn::Dtmf(digit)) => TransportEvent::Dtmf(digit),
                    Ok(TwilioIn::Mark(name)) => TransportEvent::MarkPlayed(name),
                    Ok(TwilioIn::Stop) => {
                        let _ = events.send(TransportEvent::HangUp).await;
                        return "the carrier stopped the stream".into();
                    }
                    Ok(TwilioIn::Connected | TwilioIn::Start(_)) => continue,
                    Err(e) => {
                        let reason = e.to_string();
                        let _ = tx.send(close(1007, &reason)).await;
                        let _ = events.send(TransportEvent::HangUp).await;
                        return reason;
                    }
                };
                if events.send(event).await.is_err() {
                    return "the call ended".into();
                }
            }
            command = commands.recv() => {
                let text = match command {
                    Some(TransportCommand::Audio(frame)) => {
                        let bytes: Vec<u8> =
                            frame.samples.iter().map(|&s| mulaw_encode((s.clamp(-1.0, 1.0) * 32767.0) as i16)).collect();
                        twilio::media(&stream_sid, &bytes)
                    }
                    Some(TransportCommand::Mark(name)) => twilio::mark(&stream_sid, &name),
                    Some(TransportCommand::Clear) => twilio::clear(&stream_sid),
                    Some(TransportCommand::HangUp) | None => {
                        let _ = tx.send(close(1000, "call ended")).await;
                        // Complete the closing handshake so the carrier reads our reason.
                        let _ = tokio::time::timeout(CLOSE_WAIT, async {
                            while let Some(Ok(m)) = rx.next().await {
                                if matches!(m, Message::Close(_)) {
                                    break;
                                }
                            }
                        })
                        .await;
                        return "the call ended".into();
                    }
                };
                if tx.send(Message::Text(text.into())).await.is_err() {
                    let _ = events.send(TransportEvent::HangUp).await;
                    return "the carrier went away".into();
                }
            }
        }
    }
}
