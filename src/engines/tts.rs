//! Text-to-speech service: sentence-level streaming over one voice, with a prompt cache.

use std::collections::HashMap;
use std::sync::Arc;

use super::text::split_for_speech;
use super::{EngineError, PiperVoice, TextToSpeech};
use crate::models::ModelDir;

/// One synthesized sentence.
#[derive(Debug, Clone)]
pub struct Speech {
    pub text: String,
    pub rate: u32,
    pub samples: Arc<[f32]>,
    /// Served from the prompt cache, no synthesis.
    pub cached: bool,
}

/// Rendered sentences. Pinned entries (static prompt text) stay for the process;
/// other sentences are kept in a small bounded set (templated text repeats less).
#[derive(Default)]
pub struct PromptCache {
    pinned: HashMap<String, Arc<[f32]>>,
    recent: HashMap<String, Arc<[f32]>>,
    recent_cap: usize,
    pub hits: u64,
    pub misses: u64,
}

impl PromptCache {
    pub fn new(recent_cap: usize) -> Self {
        PromptCache { recent_cap, ..Default::default() }
    }

    fn get(&mut self, key: &str) -> Option<Arc<[f32]>> {
        let found = self.pinned.get(key).or_else(|| self.recent.get(key)).cloned();
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    fn insert(&mut self, key: String, audio: Arc<[f32]>, pin: bool) {
        if pin {
            self.recent.remove(&key);
            self.pinned.insert(key, audio);
            return;
        }
        if self.recent.len() >= self.recent_cap {
            // Cheap bound: drop everything rather than track recency per entry.
            self.recent.clear();
        }
        if self.recent_cap > 0 {
            self.recent.insert(key, audio);
        }
    }

    pub fn len(&self) -> usize {
        self.pinned.len() + self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct TtsService {
    voice: Box<dyn TextToSpeech>,
    /// Rate audio is delivered (and cached) at; the voice's own when `None`.
    output_rate: Option<u32>,
    pub cache: PromptCache,
}

impl TtsService {
    pub fn new(voice: Box<dyn TextToSpeech>) -> Self {
        TtsService { voice, output_rate: None, cache: PromptCache::new(64) }
    }

    /// Delivers and caches audio at `rate` (e.g. the call's 8 kHz), so cache hits need no resampling.
    pub fn with_output_rate(mut self, rate: u32) -> Self {
        self.output_rate = Some(rate);
        self.cache = PromptCache::new(self.cache.recent_cap);
        self
    }

    fn render(&mut self, sentence: &str) -> Result<Arc<[f32]>, EngineError> {
        let audio = self.voice.synthesize(sentence)?;
        Ok(match self.output_rate {
            Some(rate) if rate != self.voice.sample_rate() => {
                crate::media::resample(&audio, self.voice.sample_rate(), rate)
                    .map_err(|e| EngineError::runtime("tts", e))?
                    .into()
            }
            _ => audio.into(),
        })
    }

    /// The Piper voice, or espeak-ng's own voice when Piper cannot be loaded.
    pub fn load(dir: &ModelDir) -> Result<Self, EngineError> {
        match PiperVoice::load(dir) {
            Ok(voice) => Ok(Self::new(Box::new(voice))),
            Err(e) => Self::fallback(e),
        }
    }

    #[cfg(feature = "espeak")]
    fn fallback(cause: EngineError) -> Result<Self, EngineError> {
        tracing::warn!(error = %cause, code = cause.code(), "Piper voice unavailable, using espeak-ng voice");
        Ok(Self::new(Box::new(super::espeak::EspeakVoice::new("en-us", 165))))
    }

    #[cfg(not(feature = "espeak"))]
    fn fallback(cause: EngineError) -> Result<Self, EngineError> {
        Err(cause)
    }

    pub fn sample_rate(&self) -> u32 {
        self.output_rate.unwrap_or_else(|| self.voice.sample_rate())
    }

    pub fn voice_id(&self) -> &str {
        self.voice.voice_id()
    }

    /// Renders static prompt text ahead of time so calls never wait for it.
    pub fn prerender(&mut self, text: &str) -> Result<(), EngineError> {
        for sentence in split_for_speech(text) {
            if self.cache.pinned.contains_key(&sentence) {
                continue;
            }
            let audio = self.render(&sentence)?;
            self.cache.insert(sentence, audio, true);
        }
        Ok(())
    }

    /// One sentence, from the cache when possible.
    pub fn sentence(&mut self, sentence: &str) -> Result<Speech, EngineError> {
        let rate = self.sample_rate();
        if let Some(samples) = self.cache.get(sentence) {
            return Ok(Speech { text: sentence.into(), rate, samples, cached: true });
        }
        let samples = self.render(sentence)?;
        self.cache.insert(sentence.into(), samples.clone(), false);
        Ok(Speech { text: sentence.into(), rate, samples, cached: false })
    }

    /// Sentence-by-sentence synthesis: each item is ready before the next is rendered,
    /// so playout can start after the first sentence.
    pub fn stream<'a>(&'a mut self, text: &str) -> impl Iterator<Item = Result<Speech, EngineError>> + 'a {
        split_for_speech(text).into_iter().map(move |s| self.sentence(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic voice: one sample per character, counts calls.
    struct CountingVoice(usize);
    impl TextToSpeech for CountingVoice {
        fn sample_rate(&self) -> u32 {
            8000
        }
        fn voice_id(&self) -> &str {
            "counting"
        }
        fn synthesize(&mut self, s: &str) -> Result<Vec<f32>, EngineError> {
            self.0 += 1;
            Ok(vec![0.5; s.len()])
        }
    }

    #[test]
    fn stream_yields_sentences_and_cache_skips_synthesis() {
        let mut tts = TtsService::new(Box::new(CountingVoice(0)));
        tts.prerender("Hello. This is an automated assistant.").unwrap();
        let out: Vec<Speech> = tts.stream("Hello. Your order ORD-1 is ready.").collect::<Result<_, _>>().unwrap();
        assert_eq!(out.len(), 2);
        assert!(out[0].cached && !out[1].cached);
        assert_eq!(out[1].samples.len(), "Your order ORD-1 is ready.".len());
        let again: Vec<Speech> = tts.stream("Your order ORD-1 is ready.").collect::<Result<_, _>>().unwrap();
        assert!(again[0].cached);
        assert_eq!((tts.cache.hits, tts.cache.misses), (2, 1));
    }
}
