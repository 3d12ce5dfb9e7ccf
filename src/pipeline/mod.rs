//! Synchronous per-frame stages the call core runs: speech detection with an echo
//! gate, endpointing, barge-in word classes, and playout; and the utterances of a bridged
//! call's two sides. No clocks: every stage counts time in samples or takes `now` from
//! its caller.

mod echo;
mod endpoint;
mod interjection;
mod playout;
mod speech;
mod utterances;

pub use echo::{EchoConfig, EchoGate};
pub use endpoint::{completeness, Completeness, EndpointConfig};
pub use interjection::{classify_interjection, Interjection};
pub use playout::{Playout, PlayoutSegment, PlayoutTick};
pub use speech::{ChunkDecision, SpeechDetector, VadConfig};
pub use utterances::{Utterance, UtteranceCutter};
