//! Whisper speech recognition through whisper.cpp (whisper-rs).

use std::path::Path;
use std::sync::Arc;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

use super::EngineError;
use crate::models::{inspect_whisper_file, ModelDir, ModelError};

/// Most tokens a caller's turn of `samples` (16 kHz) can hold: 10 a second, at least 16.
pub fn max_tokens_for(samples: usize) -> i32 {
    (samples as f32 / SAMPLE_RATE as f32 * 10.0).ceil().max(16.0) as i32
}

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
    /// A call's turn: one greedy pass (no temperature fallback) of at most
    /// [`max_tokens_for`] tokens, so its decode time is bounded by its length. A
    /// hypothesis that scores low enough to want a fallback is dropped as no speech.
    pub greedy_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// Highest no-speech probability over the segments (0 when unknown).
    pub no_speech: f32,
    /// Mean log-probability of the text tokens (0 when there are none).
    pub avg_logprob: f32,
    /// A hypothesis dropped as no speech (a hallucination on noise or breath); `text` is then empty.
    pub rejected: Option<String>,
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
            return Ok(Transcript {
                text: String::new(),
                no_speech: 1.0,
                avg_logprob: 0.0,
                rejected: None,
                audio_ctx: 0,
            });
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
        if options.partial || options.greedy_only {
            params.set_temperature_inc(0.0);
        }
        if options.partial {
            params.set_max_tokens(48);
        } else if options.greedy_only {
            // A turn holds at most ~4 words (~6 tokens) a second. Unbounded, a short turn
            // padded with silence can run on to Whisper's 224-token limit: a 0.6 s
            // "hello?" decoded in 2.5 s instead of 0.3 s.
            params.set_max_tokens(max_tokens_for(audio_16k.len()));
        }
        if let Some(prompt) = options.prompt.as_deref().filter(|p| !p.is_empty()) {
            params.set_initial_prompt(prompt);
        }
        state.full(params, audio).map_err(|e| EngineError::runtime("whisper", e))?;
        let mut text = String::new();
        let mut no_speech = 0f32;
        let (mut logprob, mut tokens) = (0f64, 0usize);
        for segment in state.as_iter() {
            no_speech = no_speech.max(segment.no_speech_probability());
            if let Ok(part) = segment.to_str_lossy() {
                text.push_str(&part);
            }
            for i in 0..segment.n_tokens() {
                let Some(token) = segment.get_token(i) else { continue };
                // Special tokens ([_BEG_], <|endoftext|>) carry no words.
                let special = token.to_str_lossy().is_ok_and(|t| t.starts_with("[_") || t.starts_with("<|"));
                if !special {
                    logprob += token.token_data().plog as f64;
                    tokens += 1;
                }
            }
        }
        let avg_logprob = if tokens == 0 { 0.0 } else { (logprob / tokens as f64) as f32 };
        let text = clean_transcript(&text);
        if is_no_speech(&text, no_speech, avg_logprob) {
            tracing::debug!(text, no_speech, avg_logprob, "dropping a transcript of no speech");
            return Ok(Transcript { text: String::new(), no_speech, avg_logprob, rejected: Some(text), audio_ctx });
        }
        Ok(Transcript { text, no_speech, avg_logprob, rejected: None, audio_ctx })
    }
}

/// Whisper's own test for a silent window (`no_speech_thold`, `logprob_thold`).
const NO_SPEECH_PROB: f32 = 0.6;
const LOW_LOGPROB: f32 = -1.0;
/// Below this mean log-probability a hypothesis is a guess at noise whatever `no_speech`
/// says (tiny.en's no-speech probability stays near 0 on noise). Real caller turns in
/// the fixtures, accented and phone-band, stay above -0.95.
const NOISE_LOGPROB: f32 = -1.5;
/// What Whisper says to breath, music and line noise (its training subtitles).
const HALLUCINATIONS: &[&str] = &[
    "you",
    "thank you",
    "thanks for watching",
    "thank you for watching",
    "bye",
    "so",
    "okay so",
    "subscribe",
    "please subscribe",
];
/// A stock phrase counts as heard only above this mean log-probability.
const HALLUCINATION_LOGPROB: f32 = -0.8;

/// Whether a decoded hypothesis is Whisper's guess at something that was no speech:
/// no words at all, Whisper's own no-speech test, a very unsure decode, or one of the
/// stock phrases it produces on noise, said unsurely.
pub fn is_no_speech(text: &str, no_speech: f32, avg_logprob: f32) -> bool {
    let words: Vec<String> = crate::words::tokens(text);
    let phrase = words.join(" ");
    words.is_empty()
        || (no_speech > NO_SPEECH_PROB && avg_logprob < LOW_LOGPROB)
        || avg_logprob < NOISE_LOGPROB
        || (HALLUCINATIONS.contains(&phrase.as_str()) && (avg_logprob < HALLUCINATION_LOGPROB || no_speech > 0.3))
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
    fn guesses_at_noise_are_no_speech() {
        assert!(is_no_speech("... ...", 0.0, -0.2), "no words");
        assert!(is_no_speech("altitude.", 0.0, -6.7), "very unsure");
        assert!(is_no_speech("Hello there.", 0.8, -1.2), "whisper's own rule");
        assert!(is_no_speech("Thank you.", 0.0, -0.9), "stock phrase, unsure");
        assert!(!is_no_speech("Thank you.", 0.0, -0.3), "a caller's thanks");
        assert!(!is_no_speech("I place the order yesterday", 0.0, -0.91));
        assert!(!is_no_speech("No.", 0.7, -0.5), "confident words stand");
    }

    #[test]
    fn annotations_are_removed() {
        assert_eq!(clean_transcript(" [BLANK_AUDIO] yes,  please (coughs) "), "yes, please");
        assert_eq!(clean_transcript("unbalanced ] text"), "unbalanced text");
    }
}
