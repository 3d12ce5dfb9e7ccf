//! The one call driver: runs a sans-IO [`Call`] in real time over any transport. It is
//! where live time enters: `now` is the tokio clock since the driver started, the call's
//! `poll_timeout` is honoured, and everything the call asks for is routed: audio, clear
//! and marks to the transport, ASR and TTS requests to the engines, whose results come
//! back on the call's own channel.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::call::{AsrRequest, Call, CarrierCommand, HandoffPacket, Input, Output, TimedEvent, TtsRequest};
use crate::dialogue::Outcome;
use crate::io::metrics::Histogram;
use crate::media::Frame;

/// What a transport adapter reports, in the call's terms (audio already decoded to the
/// call rate).
#[derive(Debug, Clone)]
pub enum TransportEvent {
    /// Caller audio at the call rate, stamped with its media time.
    Audio(Frame),
    Dtmf(char),
    /// The carrier played up to this mark (or cleared it).
    MarkPlayed(String),
    /// The far end held the call (SIP `sendonly`/`inactive`) or resumed it.
    Hold(bool),
    /// The caller hung up or the stream closed.
    HangUp,
}

/// What the driver asks a transport adapter to do.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportCommand {
    /// 20 ms of bot audio at the call rate, to send now.
    Audio(Frame),
    /// Drop what the carrier has buffered (barge-in).
    Clear,
    /// Report back when playback reaches this point.
    Mark(String),
    /// The bot handed the call off (the reason); the HangUp that follows ends the bot's
    /// part, and an adapter that can transfer (SIP) does so instead of hanging up.
    HandOff(String),
    /// End the call.
    HangUp,
}

/// The engines a live call uses. Each request is answered with an [`Input`] on `reply`
/// (`Asr`/`AsrFailed`, `Tts` per sentence/`TtsFailed`); a lost answer times out in the call.
pub trait EngineHub: Send + Sync {
    fn transcribe(&self, request: AsrRequest, reply: mpsc::UnboundedSender<Input>);
    fn synthesize(&self, request: TtsRequest, reply: mpsc::UnboundedSender<Input>);
}

/// What a finished call leaves behind for its record.
#[derive(Debug, Default)]
pub struct CallReport {
    pub events: Vec<TimedEvent>,
    pub outcome: Option<Outcome>,
    pub handoff: Option<HandoffPacket>,
    /// The transport went away before the call ended by itself.
    pub transport_lost: bool,
    /// How late (ms) each wake-up that sent bot audio came against the call's schedule.
    pub frame_lateness: Histogram,
    /// When (call ms) each bot frame went out.
    pub bot_frames_ms: Vec<u64>,
    /// The dialogue's slots at the end.
    pub slots: std::collections::BTreeMap<String, String>,
}

/// Runs `call` until it ends: answers it, feeds it the transport's events and the
/// engines' results as they come, and wakes it at its `poll_timeout`.
pub async fn drive(
    mut call: Call,
    engines: Arc<dyn EngineHub>,
    mut events: mpsc::Receiver<TransportEvent>,
    commands: mpsc::Sender<TransportCommand>,
    // Each handoff packet as the call emits it (before the call ends: the agent needs it
    // while the caller waits).
    handoffs: Option<mpsc::UnboundedSender<HandoffPacket>>,
) -> CallReport {
    let start = Instant::now();
    let (reply, mut results) = mpsc::unbounded_channel::<Input>();
    let mut report = CallReport::default();
    call.handle_input(Duration::ZERO, Input::Start);
    let mut transport_open = true;
    let mut lateness: Option<Duration> = None;
    loop {
        let (open, audio_sent) =
            route(&mut call, start, engines.as_ref(), &reply, &commands, handoffs.as_ref(), &mut report).await;
        transport_open &= open;
        if let Some(late) = lateness.take().filter(|_| audio_sent) {
            report.frame_lateness.observe(late.as_secs_f64() * 1000.0);
        }
        if call.is_ended() {
            break;
        }
        if !transport_open {
            // Nobody is listening any more: the call ends as a hang-up.
            report.transport_lost = true;
            call.handle_input(start.elapsed(), Input::HangUp);
            continue;
        }
        let wake = call.poll_timeout().map(|t| start + t);
        let input = tokio::select! {
            event = events.recv() => match event {
                Some(TransportEvent::Audio(frame)) => Input::Audio(frame),
                Some(TransportEvent::Dtmf(digit)) => Input::Dtmf(digit),
                Some(TransportEvent::MarkPlayed(name)) => Input::MarkPlayed(name),
                Some(TransportEvent::Hold(on)) => Input::Hold(on),
                Some(TransportEvent::HangUp) | None => {
                    transport_open = false;
                    report.transport_lost = true;
                    Input::HangUp
                }
            },
            Some(result) = results.recv() => result,
            _ = sleep_until(wake) => {
                lateness = wake.map(|w| w.elapsed());
                Input::Timeout
            }
        };
        call.handle_input(start.elapsed(), input);
    }
    // Whatever the call said last (its outcome) is routed before the adapter hangs up.
    route(&mut call, start, engines.as_ref(), &reply, &commands, handoffs.as_ref(), &mut report).await;
    report.slots = call.dialogue().slots();
    report
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends everything the call has produced where it belongs. Returns whether the
/// transport is still there and whether bot audio went out.
async fn route(
    call: &mut Call,
    start: Instant,
    engines: &dyn EngineHub,
    reply: &mpsc::UnboundedSender<Input>,
    commands: &mpsc::Sender<TransportCommand>,
    handoffs: Option<&mpsc::UnboundedSender<HandoffPacket>>,
    report: &mut CallReport,
) -> (bool, bool) {
    let (mut open, mut audio) = (true, false);
    while let Some(out) = call.poll_output() {
        audio |= matches!(out, Output::Audio(_));
        let command = match out {
            Output::Audio(frame) => {
                report.bot_frames_ms.push(start.elapsed().as_millis() as u64);
                Some(TransportCommand::Audio(frame))
            }
            Output::Carrier(CarrierCommand::Clear) => Some(TransportCommand::Clear),
            Output::Carrier(CarrierCommand::Mark(name)) => Some(TransportCommand::Mark(name)),
            Output::HangUp => Some(TransportCommand::HangUp),
            Output::Asr(request) => {
                engines.transcribe(request, reply.clone());
                None
            }
            Output::Tts(request) => {
                engines.synthesize(request, reply.clone());
                None
            }
            Output::Event(e) => {
                report.events.push(e);
                None
            }
            Output::Handoff(packet) => {
                let reason = packet.reason.clone();
                if let Some(handoffs) = handoffs {
                    let _ = handoffs.send(packet.clone());
                }
                report.handoff = Some(packet);
                Some(TransportCommand::HandOff(reason))
            }
            Output::Outcome(outcome) => {
                report.outcome = Some(outcome);
                None
            }
        };
        if let Some(command) = command.filter(|_| open) {
            open = commands.send(command).await.is_ok();
        }
    }
    (open, audio)
}
