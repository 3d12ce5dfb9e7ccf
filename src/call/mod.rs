//! The call core: one `Call` per phone call, sans-IO. Inputs (caller frames, DTMF,
//! engine results, timers) go in with the current time; outputs (bot frames, carrier
//! commands, engine requests, events, handoff, outcome) come out of `poll_output`.
//! No sockets, clocks or sleeps: the same core runs live and on a virtual clock.

mod answering;
mod config;
mod session;
mod types;

pub use config::CallConfig;
pub use session::Call;
pub use types::{
    AsrRequest, CarrierCommand, Event, HandoffPacket, Input, Output, StageLatency, TimedEvent, TranscriptLine,
    TriggerIntent, TtsChunk, TtsRequest,
};
