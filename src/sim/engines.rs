//! The real engines as the simulator uses them: each request runs to completion and
//! reports its wall-clock cost, which the runner charges to the virtual clock.

use std::time::Instant;

use whisper_rs::WhisperState;

use crate::call::{AsrRequest, TtsChunk, TtsRequest};
use crate::engines::{split_for_speech, AsrOptions, EngineError, SileroModel, TtsService, WhisperAsr};
use crate::media::resample;
use crate::models::ModelDir;

/// What engine work costs on the virtual clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostModel {
    /// The wall-clock time the engines took: honest latencies for this machine.
    Measured,
    /// Fixed costs, so results do not depend on machine load (tests).
    Fixed { asr_ms: u64, tts_sentence_ms: u64 },
}

pub struct SimEngines {
    pub cost: CostModel,
    pub vad: SileroModel,
    asr: WhisperAsr,
    state: WhisperState,
    tts: TtsService,
    rate: u32,
}

impl SimEngines {
    /// Loads Silero, Whisper tiny.en (2 threads) and the default voice delivering at `rate`.
    pub fn load(dir: &ModelDir, rate: u32) -> Result<Self, EngineError> {
        let asr = WhisperAsr::load(dir, "whisper-tiny.en", 2)?;
        let state = asr.new_state()?;
        Ok(SimEngines {
            cost: CostModel::Measured,
            vad: SileroModel::load(dir)?,
            asr,
            state,
            tts: TtsService::load(dir)?.with_output_rate(rate),
            rate,
        })
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Renders static prompt text into the cache for the process (not charged to any call).
    pub fn prerender(&mut self, text: &str) -> Result<(), EngineError> {
        self.tts.prerender(text)
    }

    /// Renders a call's own text (its greeting) into the bounded cache before the call starts.
    pub fn prepare(&mut self, text: &str) -> Result<(), EngineError> {
        self.tts.prepare(text)
    }

    /// Audio bytes in the prompt cache: (pinned, recent).
    pub fn cache_bytes(&self) -> (usize, usize) {
        self.tts.cache.bytes()
    }

    /// (transcript, cost in microseconds).
    pub fn transcribe(&mut self, req: &AsrRequest) -> Result<(String, u64), EngineError> {
        let started = Instant::now();
        let audio = resample(&req.audio, req.rate, 16_000).map_err(|e| EngineError::runtime("whisper", e))?;
        let options =
            AsrOptions { prompt: req.prompt.clone(), audio_ctx: None, partial: req.partial, greedy_only: true };
        let t = self.asr.decode(&mut self.state, &audio, &options)?;
        let cost = match self.cost {
            CostModel::Measured => started.elapsed().as_micros() as u64,
            CostModel::Fixed { asr_ms, .. } => asr_ms * 1000,
        };
        Ok((t.text, cost))
    }

    /// Sentences with the cumulative cost (microseconds) at which each is ready.
    pub fn synthesize(&mut self, req: &TtsRequest) -> Result<Vec<(TtsChunk, u64)>, EngineError> {
        let sentences = split_for_speech(&req.text);
        let n = sentences.len();
        let mut out = Vec::with_capacity(n);
        let started = Instant::now();
        let mut fixed_us = 0;
        for (i, sentence) in sentences.iter().enumerate() {
            let s = self.tts.sentence(sentence)?;
            // One worker renders the sentences in turn: each is ready after those before it.
            let ready = match self.cost {
                CostModel::Measured => started.elapsed().as_micros() as u64,
                CostModel::Fixed { tts_sentence_ms, .. } => {
                    fixed_us += tts_sentence_ms * 1000 * u64::from(!s.cached);
                    fixed_us
                }
            };
            out.push((
                TtsChunk {
                    id: req.id,
                    index: i as u32,
                    text: s.text,
                    samples: s.samples,
                    last: i + 1 == n,
                    cached: s.cached,
                },
                ready,
            ));
        }
        Ok(out)
    }
}
