//! Whisper speech recognition through whisper.cpp (whisper-rs).

use std::path::Path;
use std::sync::Arc;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

use super::EngineError;
use crate::models::{inspect_whisper_file, ModelDir, ModelError};

/// Whisper's encoder frame: 20 ms of audio per audio_ctx position.
const MS_PER_CTX: u64 = 20;
/// Candidate reduced contexts. Sizing the context tightly to the clip collapses
/// accuracy (see FACTS.md), so only these steps are used.
const CTX_STEPS: [i32; 3] = [512, 768, 1024];
const FULL_CTX: i32 = 1500;
const SAMPLE_RATE: usize = 16_000;
/// Longest clip decoded as one segment (whisper's window is 30 s).
const SINGLE_SEGMENT_MAX: usize = 28 * SAMPLE_RATE;

/// Per-decode options supplied by the caller (the flow, the ASR window).
#[derive(Debug, Clone, Default)]
pub struct AsrOptions {
    /// Domain words and phrases that bias decoding ("order, COD, pickup, refund").
    pub prompt: Option<String>,
    /// Force an audio context; `None` picks one from the utterance length.
    pub audio_ctx: Option<i32>,
    /// A partial hypothesis on a growing window: fewer tokens, no fallback.
    pub partial: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// Highest no-speech probability over the segments (0 when unknown).
    pub no_speech: f32,
    pub audio_ctx: i32,
}

/// The smallest reduced context that covers the audio plus a second of margin.
pub fn audio_ctx_for(samples: usize) -> i32 {
    let ms = (samples * 1000 / SAMPLE_RATE) as u64 + 1000;
    CTX_STEPS.into_iter().find(|&c| c as u64 * MS_PER_CTX >= ms).unwrap_or(FULL_CTX)
}

/// A loaded Whisper model. Decoding needs a `WhisperState` each (see [`super::AsrPool`]).
#[derive(Clone)]
pub struct WhisperAsr {
    context: Arc<WhisperContext>,
    threads: i32,
}

impl WhisperAsr {
    /// Loads `whisper-tiny.en` (or another manifest name) from the models directory.
    pub fn load(dir: &ModelDir, name: &str, threads: usize) -> Result<Self, EngineError> {
        Self::load_file(&dir.require(name)?, threads)
    }

    pub fn load_file(path: &Path, threads: usize) -> Result<Self, EngineError> {
        silence_whisper_logs();
        let load = |reason: String| ModelError::Load { path: path.into(), reason };
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        // whisper.cpp can abort the process on a malformed file: check it first.
        inspect_whisper_file(&bytes).map_err(load)?;
        let context = WhisperContext::new_from_buffer_with_params(&bytes, WhisperContextParameters::default())
            .map_err(|e| load(e.to_string()))?;
        Ok(WhisperAsr { context: Arc::new(context), threads: threads.max(1) as i32 })
    }

    pub fn new_state(&self) -> Result<WhisperState, EngineError> {
        self.context.create_state().map_err(|e| EngineError::runtime("whisper", e))
    }

    /// Decodes `audio_16k` on `state`.
    pub fn decode(
        &self,
        state: &mut WhisperState,
        audio_16k: &[f32],
        options: &AsrOptions,
    ) -> Result<Transcript, EngineError> {
        if audio_16k.is_empty() {
            return Ok(Transcript { text: String::new(), no_speech: 1.0, audio_ctx: 0 });
        }
        // whisper.cpp rejects clips under ~1 s; pad with silence.
        let mut padded;
        let audio = if audio_16k.len() < SAMPLE_RATE + SAMPLE_RATE / 10 {
            padded = audio_16k.to_vec();
            padded.resize(SAMPLE_RATE + SAMPLE_RATE / 10, 0.0);
            &padded[..]
        } else {
            audio_16k
        };
        let audio_ctx = options.audio_ctx.unwrap_or_else(|| audio_ctx_for(audio.len()));
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.threads);
        params.set_language(Some("en"));
        params.set_audio_ctx(audio_ctx);
        params.set_no_context(true);
        // One segment is right for a caller's turn; longer recordings need whisper.cpp's seeking.
        params.set_single_segment(audio.len() <= SINGLE_SEGMENT_MAX);
        params.set_no_timestamps(true);
        params.set_suppress_blank(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_temperature(0.0);
        if options.partial {
            params.set_temperature_inc(0.0);
            params.set_max_tokens(48);
        }
        if let Some(prompt) = options.prompt.as_deref().filter(|p| !p.is_empty()) {
            params.set_initial_prompt(prompt);
        }
        state.full(params, audio).map_err(|e| EngineError::runtime("whisper", e))?;
        let mut text = String::new();
        let mut no_speech = 0f32;
        for segment in state.as_iter() {
            no_speech = no_speech.max(segment.no_speech_probability());
            if let Ok(part) = segment.to_str_lossy() {
                text.push_str(&part);
            }
        }
        Ok(Transcript { text: clean_transcript(&text), no_speech, audio_ctx })
    }
}

/// Drops whisper's non-speech annotations (`[BLANK_AUDIO]`, `(music)`) and squeezes spaces.
pub(crate) fn clean_transcript(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut depth = 0i32;
    for c in raw.chars() {
        match c {
            '[' | '(' | '<' => depth += 1,
            ']' | ')' | '>' => depth = (depth - 1).max(0),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn silence_whisper_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(whisper_rs::install_logging_hooks);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_grows_in_steps_with_the_clip() {
        assert_eq!(audio_ctx_for(16_000), 512);
        assert_eq!(audio_ctx_for(16_000 * 9), 512);
        assert_eq!(audio_ctx_for(16_000 * 12), 768);
        assert_eq!(audio_ctx_for(16_000 * 19), 1024);
        assert_eq!(audio_ctx_for(16_000 * 25), 1500);
    }

    #[test]
    fn annotations_are_removed() {
        assert_eq!(clean_transcript(" [BLANK_AUDIO] yes,  please (coughs) "), "yes, please");
        assert_eq!(clean_transcript("unbalanced ] text"), "unbalanced text");
    }
}
