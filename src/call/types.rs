use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::dialogue::Outcome;
use crate::media::Frame;

/// Everything that can happen to a call, with the time it happened.
#[derive(Debug, Clone)]
pub enum Input {
    /// The call is answered: the bot greets.
    Start,
    /// Caller audio at the call rate.
    Audio(Frame),
    Dtmf(char),
    Asr {
        id: u64,
        text: String,
    },
    /// The engine could not transcribe request `id` (a result that never comes times out instead).
    AsrFailed {
        id: u64,
    },
    Tts(TtsChunk),
    /// The engine could not synthesize request `id`.
    TtsFailed {
        id: u64,
    },
    /// The carrier reports a mark as played.
    MarkPlayed(String),
    /// The far end put the call on hold (`true`) or took it off (`false`): while held the
    /// bot neither speaks nor listens, and its timers stand still.
    Hold(bool),
    /// The caller hung up.
    HangUp,
    /// `poll_timeout` was reached.
    Timeout,
}

/// One sentence of synthesized speech at the call rate.
#[derive(Debug, Clone)]
pub struct TtsChunk {
    pub id: u64,
    pub index: u32,
    pub text: String,
    pub samples: Arc<[f32]>,
    pub last: bool,
    pub cached: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AsrRequest {
    pub id: u64,
    /// Caller audio at `rate`.
    pub audio: Vec<f32>,
    pub rate: u32,
    pub partial: bool,
    pub prompt: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TtsRequest {
    pub id: u64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarrierCommand {
    /// Drop audio the carrier has queued (barge-in).
    Clear,
    /// Report back when playback reaches this point.
    Mark(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptLine {
    pub speaker: &'static str,
    pub text: String,
    pub at_ms: u64,
    /// A bot line the caller cut into: the words they heard before it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heard: Option<String>,
}

/// The intent the bot acted on last, and the caller's words it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerIntent {
    pub name: String,
    pub confidence: f32,
    pub text: String,
}

/// What a human agent receives with the live call (the call core's part; the server
/// adds the call's identity, customer and campaign: `server::handoff`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoffPacket {
    pub flow: String,
    /// The state the call was in when it was handed off.
    pub state: String,
    /// Every state the call went through, in order.
    pub path: Vec<String>,
    pub slots: BTreeMap<String, String>,
    pub transcript: Vec<TranscriptLine>,
    /// The intent that triggered the handoff (none: the bot gave up, e.g. `no_match`).
    pub trigger: Option<TriggerIntent>,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageLatency {
    /// Last voiced audio -> end of turn decided.
    EndpointWait,
    /// ASR request -> result.
    Asr,
    /// TTS request -> first audio.
    TtsFirstAudio,
    /// Last voiced audio -> first bot frame sent.
    Response,
}

/// Timeline events; `at_ms` on [`TimedEvent`] is call time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    SpeechStart,
    SpeechEnd,
    AsrPartial {
        text: String,
    },
    AsrFinal {
        text: String,
    },
    /// A recognition request failed or timed out; a final one ends the turn as not understood.
    AsrFailed {
        reason: &'static str,
        final_result: bool,
    },
    /// Synthesis failed, or its next sentence was overdue with nothing left to play: the
    /// bot's turn ended early.
    TtsFailed {
        reason: &'static str,
    },
    Intent {
        name: String,
        confidence: f32,
        slots: BTreeMap<String, String>,
    },
    BotSay {
        text: String,
    },
    PlayoutStart,
    /// Caller speech over the bot paused playout while its words are recognised.
    PlayoutPause,
    /// Playout continued: `backchannel` from where it paused, `false_interruption` from the sentence start.
    PlayoutResume {
        reason: &'static str,
    },
    PlayoutStop {
        reason: &'static str,
        heard_text: String,
    },
    Dtmf {
        digit: String,
    },
    /// Answering-machine detection decided: `by` is `human` or `machine`.
    AnsweredBy {
        by: &'static str,
        reason: String,
    },
    /// The far end held the call (`on`) or resumed it.
    Hold {
        on: bool,
    },
    Handoff {
        reason: String,
    },
    Outcome {
        code: &'static str,
    },
    Latency {
        stage: StageLatency,
        ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedEvent {
    pub at_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone)]
pub enum Output {
    /// 20 ms of bot audio at the call rate, to send now.
    Audio(Frame),
    Carrier(CarrierCommand),
    Asr(AsrRequest),
    Tts(TtsRequest),
    Event(TimedEvent),
    Handoff(HandoffPacket),
    Outcome(Outcome),
    /// The call is over; the adapter hangs up (after a handoff it bridges instead).
    HangUp,
}

pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}
