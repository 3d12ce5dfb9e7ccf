//! Text-to-speech service: sentence-level streaming over one voice, with a prompt cache.

use std::collections::{BTreeMap, HashMap};
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

/// Rendered sentences. Pinned entries are the flows' static prompt text, the same for
/// every call and rendered once; everything else (text with a customer's name, amount
/// or date in it) lives in a least-recently-used set bounded in bytes.
#[derive(Default)]
pub struct PromptCache {
    pinned: HashMap<String, Arc<[f32]>>,
    recent: HashMap<String, (Arc<[f32]>, u64)>,
    /// Use stamp -> key, oldest first.
    order: BTreeMap<u64, String>,
    stamp: u64,
    recent_bytes: usize,
    budget_bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

fn bytes_of(audio: &[f32]) -> usize {
    std::mem::size_of_val(audio)
}

impl PromptCache {
    /// A cache whose unpinned audio stays under `budget_bytes`.
    pub fn new(budget_bytes: usize) -> Self {
        PromptCache { budget_bytes, ..Default::default() }
    }

    fn get(&mut self, key: &str) -> Option<Arc<[f32]>> {
        let found = match self.pinned.get(key) {
            Some(audio) => Some(audio.clone()),
            None => self.touch(key),
        };
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// Marks `key` as just used.
    fn touch(&mut self, key: &str) -> Option<Arc<[f32]>> {
        self.stamp += 1;
        let (audio, stamp) = self.recent.get_mut(key)?;
        self.order.remove(stamp);
        *stamp = self.stamp;
        self.order.insert(self.stamp, key.to_string());
        Some(audio.clone())
    }

    fn contains(&self, key: &str) -> bool {
        self.pinned.contains_key(key) || self.recent.contains_key(key)
    }

    fn pin(&mut self, key: String, audio: Arc<[f32]>) {
        self.remove_recent(&key);
        self.pinned.insert(key, audio);
    }

    fn insert(&mut self, key: String, audio: Arc<[f32]>) {
        if self.pinned.contains_key(&key) || bytes_of(&audio) > self.budget_bytes {
            return;
        }
        self.remove_recent(&key);
        self.recent_bytes += bytes_of(&audio);
        while self.recent_bytes > self.budget_bytes {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            if let Some((old, _)) = self.recent.remove(&oldest) {
                self.recent_bytes -= bytes_of(&old);
            }
        }
        self.stamp += 1;
        self.order.insert(self.stamp, key.clone());
        self.recent.insert(key, (audio, self.stamp));
    }

    fn remove_recent(&mut self, key: &str) {
        if let Some((audio, stamp)) = self.recent.remove(key) {
            self.order.remove(&stamp);
            self.recent_bytes -= bytes_of(&audio);
        }
    }

    pub fn len(&self) -> usize {
        self.pinned.len() + self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Audio bytes held: (pinned, recent).
    pub fn bytes(&self) -> (usize, usize) {
        (self.pinned.values().map(|a| bytes_of(a)).sum(), self.recent_bytes)
    }
}

/// Unpinned audio kept per voice: about six minutes of 8 kHz speech.
pub const DEFAULT_CACHE_BYTES: usize = 12 << 20;

pub struct TtsService {
    voice: Box<dyn TextToSpeech>,
    /// Rate audio is delivered (and cached) at; the voice's own when `None`.
    output_rate: Option<u32>,
    pub cache: PromptCache,
}

impl TtsService {
    pub fn new(voice: Box<dyn TextToSpeech>) -> Self {
        TtsService { voice, output_rate: None, cache: PromptCache::new(DEFAULT_CACHE_BYTES) }
    }

    /// Delivers and caches audio at `rate` (e.g. the call's 8 kHz), so cache hits need no resampling.
    pub fn with_output_rate(mut self, rate: u32) -> Self {
        self.output_rate = Some(rate);
        self.cache = PromptCache::new(self.cache.budget_bytes);
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
        Self::from_voice(PiperVoice::load(dir))
    }

    /// As [`TtsService::load`], with `threads` intra-op threads for the Piper voice.
    pub fn load_with_threads(dir: &ModelDir, threads: usize) -> Result<Self, EngineError> {
        Self::from_voice(PiperVoice::load_with_threads(dir, threads))
    }

    fn from_voice(voice: Result<PiperVoice, EngineError>) -> Result<Self, EngineError> {
        match voice {
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

    /// Renders static prompt text (the same for every call) once, kept for the process.
    pub fn prerender(&mut self, text: &str) -> Result<(), EngineError> {
        for sentence in split_for_speech(text) {
            if self.cache.pinned.contains_key(&sentence) {
                continue;
            }
            let audio = match self.cache.touch(&sentence) {
                Some(audio) => audio,
                None => self.render(&sentence)?,
            };
            self.cache.pin(sentence, audio);
        }
        Ok(())
    }

    /// Renders one call's text ahead of need (its greeting, while the phone rings) into
    /// the bounded cache: played without delay, evicted when no longer used.
    pub fn prepare(&mut self, text: &str) -> Result<(), EngineError> {
        for sentence in split_for_speech(text) {
            if !self.cache.contains(&sentence) {
                let audio = self.render(&sentence)?;
                self.cache.insert(sentence, audio);
            }
        }
        Ok(())
    }

    /// The sentence is rendered already (pinned or cached).
    pub fn has(&self, sentence: &str) -> bool {
        self.cache.contains(sentence)
    }

    /// One sentence, from the cache when possible.
    pub fn sentence(&mut self, sentence: &str) -> Result<Speech, EngineError> {
        let rate = self.sample_rate();
        if let Some(samples) = self.cache.get(sentence) {
            return Ok(Speech { text: sentence.into(), rate, samples, cached: true });
        }
        let samples = self.render(sentence)?;
        self.cache.insert(sentence.into(), samples.clone());
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
    fn unpinned_audio_is_bounded_in_bytes_least_recently_used_first() {
        let mut c = PromptCache::new(1000);
        let audio = |n: usize| -> Arc<[f32]> { vec![0.0; n].into() };
        c.pin("static".into(), audio(400));
        c.insert("a".into(), audio(100)); // 400 bytes
        c.insert("b".into(), audio(100));
        assert!(c.get("a").is_some(), "a is now the most recent");
        c.insert("c".into(), audio(100)); // over 1000: b, the least recent, goes
        assert!(c.get("b").is_none() && c.get("a").is_some() && c.get("c").is_some());
        assert_eq!(c.bytes(), (1600, 800));
        c.insert("huge".into(), audio(1000));
        assert!(c.get("huge").is_none(), "larger than the whole budget");
        assert!(c.get("static").is_some(), "pinned audio is never evicted");
        for i in 0..100 {
            c.insert(format!("call {i}"), audio(100));
        }
        assert!(c.bytes().1 <= 1000 && c.len() == 3);
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
