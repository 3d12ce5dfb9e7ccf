//! The one WebSocket adapter: owns a carrier's socket, runs its codec, converts between
//! the stream's rate and the call's (8 kHz, 20 ms frames), and turns frames into
//! [`TransportEvent`]s for the driver and the driver's commands into frames.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{CarrierCodec, CarrierEvent, StreamStart, WsFrame};
use crate::io::driver::{TransportCommand, TransportEvent};
use crate::io::recording::Recorder;
use crate::media::{Frame, MediaTime, StreamResampler};

/// The call's rate and frame.
pub const CALL_RATE: u32 = 8000;
const FRAME: usize = 160;
/// How long to wait for the carrier's answer to our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Messages allowed before the stream starts (Twilio sends `connected` first).
const MAX_BEFORE_START: usize = 8;
/// Caller audio may run this far ahead of real time (network bunching) before the
/// stream counts as a flood.
const MAX_AHEAD: Duration = Duration::from_secs(2);

/// Close codes: 1000 normal, 1003 unsupported data, 1007 invalid payload, 1008 policy.
pub fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.chars().take(120).collect::<String>().into() }))
}

fn to_message(frame: WsFrame) -> Message {
    match frame {
        WsFrame::Text(t) => Message::Text(t.into()),
        WsFrame::Binary(b) => Message::Binary(b.into()),
    }
}

/// Reads until the codec sees the stream's start.
pub async fn await_start(socket: &mut WebSocket, codec: &mut dyn CarrierCodec) -> Result<StreamStart, String> {
    for _ in 0..MAX_BEFORE_START {
        let frame = match socket.next().await {
            Some(Ok(Message::Text(t))) => WsFrame::Text(t.to_string()),
            Some(Ok(Message::Binary(b))) => WsFrame::Binary(b.to_vec()),
            Some(Ok(Message::Close(_))) | None => return Err("the stream closed before it started".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("socket error before the stream started: {e}")),
        };
        match codec.decode(frame).map_err(|e| e.to_string())? {
            CarrierEvent::Start(start) => return Ok(start),
            CarrierEvent::Nothing => {}
            other => return Err(format!("{other:?} before the stream started").chars().take(80).collect()),
        }
    }
    Err("no start in the stream's first messages".into())
}

/// Rate conversion both ways, and the caller audio cut into the call's frames.
struct Rates {
    inbound: StreamResampler,
    outbound: StreamResampler,
    pending_in: Vec<f32>,
    scratch: Vec<f32>,
    stream_frame: usize,
    received: u64,
}

impl Rates {
    fn new(rate: u32) -> Result<Self, String> {
        let stream_frame = rate as usize / 50;
        Ok(Rates {
            inbound: StreamResampler::new(rate, CALL_RATE, stream_frame).map_err(|e| e.to_string())?,
            outbound: StreamResampler::new(CALL_RATE, rate, FRAME).map_err(|e| e.to_string())?,
            pending_in: Vec::new(),
            scratch: Vec::new(),
            stream_frame,
            received: 0,
        })
    }

    /// Caller audio at the stream rate -> whole call frames.
    fn caller(&mut self, samples: &[f32]) -> Vec<Frame> {
        if self.inbound.process(samples, &mut self.pending_in).is_err() {
            return Vec::new();
        }
        let mut frames = Vec::new();
        while self.pending_in.len() >= FRAME {
            let samples: Vec<f32> = self.pending_in.drain(..FRAME).collect();
            frames.push(Frame::new(MediaTime::new(self.received, CALL_RATE), samples));
            self.received += FRAME as u64;
        }
        frames
    }

    /// A bot frame at the call rate -> 20 ms chunks at the stream rate.
    fn bot(&mut self, samples: &[f32]) -> Vec<Vec<f32>> {
        if self.outbound.process(samples, &mut self.scratch).is_err() {
            return Vec::new();
        }
        let mut chunks = Vec::new();
        while self.scratch.len() >= self.stream_frame {
            chunks.push(self.scratch.drain(..self.stream_frame).collect());
        }
        chunks
    }
}

/// How a stream ended.
pub struct StreamEnd {
    /// Why the socket closed.
    pub reason: String,
    /// Bot audio frames (20 ms) written to the socket.
    pub frames_sent: u64,
}

/// Runs the stream until the call or the socket ends.
pub async fn run(
    socket: WebSocket,
    mut codec: Box<dyn CarrierCodec>,
    start: &StreamStart,
    events: mpsc::Sender<TransportEvent>,
    mut commands: mpsc::Receiver<TransportCommand>,
    mut recorder: Option<Recorder>,
) -> StreamEnd {
    let (mut tx, mut rx) = socket.split();
    let mut frames_sent = 0u64;
    let mut rates = match Rates::new(start.sample_rate) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(close(1003, &e)).await;
            let _ = events.send(TransportEvent::HangUp).await;
            return StreamEnd { reason: e, frames_sent };
        }
    };
    let mut first_audio: Option<Instant> = None;
    let reason = loop {
        tokio::select! {
            message = rx.next() => {
                let frame = match message {
                    Some(Ok(Message::Text(t))) => WsFrame::Text(t.to_string()),
                    Some(Ok(Message::Binary(b))) => WsFrame::Binary(b.to_vec()),
                    Some(Ok(Message::Close(_))) | None => break "the carrier closed the stream".to_string(),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break format!("socket error: {e}"),
                };
                let event = match codec.decode(frame) {
                    Ok(CarrierEvent::Audio(samples)) => {
                        let frames = rates.caller(&samples);
                        let began = *first_audio.get_or_insert_with(Instant::now);
                        let ahead = Duration::from_millis(rates.received * 1000 / CALL_RATE as u64);
                        if ahead > began.elapsed() + MAX_AHEAD {
                            let _ = tx.send(close(1008, "caller audio arrives faster than real time")).await;
                            break "caller audio arrives faster than real time".into();
                        }
                        for frame in frames {
                            if let Some(r) = recorder.as_mut() {
                                r.caller(&frame.samples);
                            }
                            // A driver that has ended left its last audio and its hang-up in
                            // `commands`: those close the stream with its reason.
                            let _ = events.send(TransportEvent::Audio(frame)).await;
                        }
                        continue;
                    }
                    Ok(CarrierEvent::Dtmf(digit)) => TransportEvent::Dtmf(digit),
                    Ok(CarrierEvent::Mark(name)) => TransportEvent::MarkPlayed(name),
                    Ok(CarrierEvent::Stop) => break "the carrier stopped the stream".into(),
                    Ok(CarrierEvent::Nothing | CarrierEvent::Start(_)) => continue,
                    Err(e) => {
                        let reason = e.to_string();
                        let code = if matches!(e, super::WireError::UnexpectedBinary) { 1003 } else { 1007 };
                        let _ = tx.send(close(code, &reason)).await;
                        break reason;
                    }
                };
                // As above: a driver that ended left its hang-up in `commands`.
                let _ = events.send(event).await;
            }
            command = commands.recv() => {
                let frames = match command {
                    Some(TransportCommand::Audio(frame)) => {
                        if let Some(r) = recorder.as_mut() {
                            r.bot(&frame.samples);
                        }
                        frames_sent += 1;
                        rates.bot(&frame.samples).iter().flat_map(|chunk| codec.audio(chunk)).collect()
                    }
                    Some(TransportCommand::Mark(name)) => codec.mark(&name),
                    Some(TransportCommand::Clear) => codec.clear(),
                    // A carrier stream cannot be transferred from here: the bot hangs up.
                    Some(TransportCommand::HandOff(_)) => Vec::new(),
                    Some(TransportCommand::HangUp) | None => {
                        for frame in codec.hang_up() {
                            let _ = tx.send(to_message(frame)).await;
                        }
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
                        if let Some(r) = recorder.take() {
                            r.finish();
                        }
                        return StreamEnd { reason: "the call ended".into(), frames_sent };
                    }
                };
                let mut gone = false;
                for frame in frames {
                    gone = gone || tx.send(to_message(frame)).await.is_err();
                }
                if gone {
                    break "the carrier went away".into();
                }
            }
        }
    };
    let _ = events.send(TransportEvent::HangUp).await;
    if let Some(r) = recorder.take() {
        r.finish();
    }
    StreamEnd { reason, frames_sent }
}
