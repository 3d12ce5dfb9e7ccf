//! Speech engines behind small traits, so the call core can run on deterministic doubles:
//! voice activity (Silero via ort), speech-to-text (whisper.cpp), text-to-speech
//! (Piper via ort, espeak-ng fallback) and sentence embeddings (MiniLM via ort).

mod asr_pool;
mod error;
#[cfg(feature = "espeak")]
pub mod espeak;
mod gate;
mod minilm;
mod onnx;
mod piper;
mod silero;
mod text;
mod tts;
mod whisper;

pub use asr_pool::{AsrJob, AsrPool, AsrReply};
pub use error::EngineError;
pub use gate::{ComputeGate, Priority, Turn};
pub use minilm::{cosine, MiniLm};
pub use onnx::ort_environment;
pub use piper::PiperVoice;
pub use silero::{SileroModel, SileroVad};
pub use text::{split_for_speech, split_sentences};
pub use tts::{PromptCache, Speech, TtsService};
pub use whisper::{audio_ctx_for, AsrOptions, Transcript, WhisperAsr};

/// Per-call voice activity detector: fixed-size chunks in, speech probability out.
pub trait VoiceActivity: Send {
    fn sample_rate(&self) -> u32;
    /// Samples per chunk `speech_probability` expects.
    fn chunk_samples(&self) -> usize;
    fn speech_probability(&mut self, chunk: &[f32]) -> Result<f32, EngineError>;
    /// Forget the call's history (new call, or after a long gap).
    fn reset(&mut self);
}

/// Speech-to-text on 16 kHz mono audio.
pub trait SpeechToText: Send + Sync {
    fn transcribe(&self, audio_16k: &[f32], options: &AsrOptions) -> Result<Transcript, EngineError>;
}

/// One voice: a sentence of text in, mono samples at `sample_rate()` out.
pub trait TextToSpeech: Send {
    fn sample_rate(&self) -> u32;
    fn synthesize(&mut self, sentence: &str) -> Result<Vec<f32>, EngineError>;
    /// Name used in cache keys and logs.
    fn voice_id(&self) -> &str;
}

/// Sentence embeddings, L2-normalised.
pub trait Embedder: Send {
    fn embed(&mut self, text: &str) -> Result<Vec<f32>, EngineError>;
    /// Whether `word` (lower case) is a whole word of the embedder's vocabulary: a real
    /// word, not a misrecognition to correct. Embedders without a vocabulary know none.
    fn knows_word(&self, _word: &str) -> bool {
        false
    }
}
