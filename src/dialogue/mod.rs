//! The dialogue a call runs: a bot turn for each caller turn, and the call's outcome.
//! The flow runtime over `prompts/` replaces the built-in flow; the call core only
//! sees the [`Dialogue`] trait.

mod builtin;
mod flow;
pub mod intent;
pub mod lexicon;
mod outcome;
mod rules;
pub mod slots;
pub mod speak;
pub mod template;

use std::collections::BTreeMap;
use std::time::Duration;

pub use builtin::BuiltinCod;
pub use flow::{load_flows, FlowDialogue, FlowSpec, OnVoicemail, StateSpec, Step};
pub use intent::{Intent, IntentClassifier, Scored};
pub use outcome::Outcome;

/// Errors in flow and intent files, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum DialogueError {
    #[error("{path}: {reason}")]
    Invalid { path: std::path::PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Engine(#[from] crate::engines::EngineError),
}

use crate::pipeline::EndpointConfig;

/// 1-based line of a TOML parse error in `text`, for messages that name the line.
pub(crate) fn toml_error_line(text: &str, e: &toml::de::Error) -> usize {
    e.span().map(|s| text[..s.start].lines().count().max(1)).unwrap_or(1)
}

/// What the dialogue understood from a caller turn.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IntentResult {
    pub name: String,
    pub confidence: f32,
    pub slots: BTreeMap<String, String>,
}

/// How the call ends after the bot's closing words.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEnd {
    pub outcome: Outcome,
    /// Set when a human agent takes over; the reason travels in the handoff packet.
    pub handoff: Option<String>,
}

/// The bot's next turn.
#[derive(Debug, Clone, PartialEq)]
pub struct BotTurn {
    pub say: String,
    pub intent: Option<IntentResult>,
    pub end: Option<CallEnd>,
}

pub trait Dialogue: Send {
    fn flow(&self) -> &str;
    fn state(&self) -> &str;
    fn slots(&self) -> BTreeMap<String, String>;
    /// The opening turn; must disclose that the caller is speaking with an automated assistant.
    fn greet(&mut self) -> BotTurn;
    /// The caller's words; `elapsed` is the call's own clock (time since it started),
    /// so times the caller names are resolved against now, not the call's start.
    fn on_text(&mut self, elapsed: Duration, text: &str) -> BotTurn;
    fn on_dtmf(&mut self, elapsed: Duration, digit: char) -> BotTurn;
    fn on_no_input(&mut self, elapsed: Duration) -> BotTurn;
    /// An answering machine took the call: the message to leave once its greeting is
    /// over (empty `say`: hang up at once). The call ends as `voicemail`.
    fn on_voicemail(&mut self) -> BotTurn {
        BotTurn { say: String::new(), intent: None, end: Some(CallEnd { outcome: Outcome::Voicemail, handoff: None }) }
    }
    /// Words that bias recognition in the current state.
    fn asr_prompt(&self) -> Option<String> {
        None
    }
    /// Prompt text that holds no call data (the same for every call), rendered once for
    /// the process so it plays with no synthesis delay.
    fn static_prompts(&self) -> Vec<String> {
        Vec::new()
    }
    /// This call's own text worth rendering before it is needed (the greeting, while the
    /// phone rings); cached within a bound, never pinned.
    fn call_prompts(&self) -> Vec<String> {
        Vec::new()
    }
    /// Endpointing for the current state.
    fn endpoint(&self) -> EndpointConfig {
        EndpointConfig::default()
    }
}
