//! Voice activity with hysteresis: VAD probabilities per chunk become speech onsets
//! and voiced spans, counted in samples.

use crate::engines::{EngineError, VoiceActivity};
use crate::media::{energy, Frame, MediaTime};

#[derive(Debug, Clone, Copy)]
pub struct VadConfig {
    /// Probability at or above which a chunk is voiced.
    pub threshold: f32,
    /// Probability below which a voiced span ends (hysteresis).
    pub release: f32,
    /// Voiced time needed before an onset is reported.
    pub onset_ms: u32,
    /// Unvoiced time after which the detector leaves the speech state.
    pub release_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig { threshold: 0.5, release: 0.35, onset_ms: 64, release_ms: 300 }
    }
}

/// What one VAD chunk decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkDecision {
    pub end: MediaTime,
    pub probability: f32,
    pub voiced: bool,
    /// Set on the chunk that confirms an onset: when the speech began.
    pub onset: Option<MediaTime>,
    /// Set on the chunk that leaves the speech state: end of the last voiced chunk.
    pub offset: Option<MediaTime>,
}

pub struct SpeechDetector {
    vad: Box<dyn VoiceActivity>,
    cfg: VadConfig,
    rate: u32,
    pending: Vec<f32>,
    /// Start of `pending` in samples.
    cursor: u64,
    in_speech: bool,
    voiced_run: u64,
    run_start: u64,
    last_voiced_end: u64,
}

impl SpeechDetector {
    pub fn new(vad: Box<dyn VoiceActivity>, cfg: VadConfig) -> Self {
        let rate = vad.sample_rate();
        SpeechDetector {
            vad,
            cfg,
            rate,
            pending: Vec::new(),
            cursor: 0,
            in_speech: false,
            voiced_run: 0,
            run_start: 0,
            last_voiced_end: 0,
        }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn in_speech(&self) -> bool {
        self.in_speech
    }

    pub fn last_voiced_end(&self) -> MediaTime {
        MediaTime::new(self.last_voiced_end, self.rate)
    }

    fn ms(&self, ms: u32) -> u64 {
        ms as u64 * self.rate as u64 / 1000
    }

    /// Feeds a frame at the detector's rate. `echo_floor(start, end)` gives the energy a
    /// chunk must exceed to count (0 when the bot is silent).
    pub fn push(
        &mut self,
        frame: &Frame,
        echo_floor: impl Fn(u64, u64) -> f32,
    ) -> Result<Vec<ChunkDecision>, EngineError> {
        if frame.rate() != self.rate {
            return Err(EngineError::input(
                "vad",
                format!("frame at {} Hz, detector at {} Hz", frame.rate(), self.rate),
            ));
        }
        if self.pending.is_empty() {
            self.cursor = frame.start.samples;
        }
        self.pending.extend_from_slice(&frame.samples);
        let n = self.vad.chunk_samples();
        let mut out = Vec::new();
        while self.pending.len() >= n {
            let chunk: Vec<f32> = self.pending.drain(..n).collect();
            let (start, end) = (self.cursor, self.cursor + n as u64);
            self.cursor = end;
            let p = self.vad.speech_probability(&chunk)?;
            let loud_enough = energy(&chunk) > echo_floor(start, end);
            let voiced = loud_enough && if self.in_speech { p >= self.cfg.release } else { p >= self.cfg.threshold };
            let mut decision = ChunkDecision {
                end: MediaTime::new(end, self.rate),
                probability: p,
                voiced,
                onset: None,
                offset: None,
            };
            if voiced {
                if self.voiced_run == 0 {
                    self.run_start = start;
                }
                self.voiced_run += n as u64;
                self.last_voiced_end = end;
                if !self.in_speech && self.voiced_run >= self.ms(self.cfg.onset_ms) {
                    self.in_speech = true;
                    decision.onset = Some(MediaTime::new(self.run_start, self.rate));
                }
            } else {
                self.voiced_run = 0;
                if self.in_speech && end - self.last_voiced_end >= self.ms(self.cfg.release_ms) {
                    self.in_speech = false;
                    decision.offset = Some(MediaTime::new(self.last_voiced_end, self.rate));
                }
            }
            out.push(decision);
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Deterministic VAD double: probability = chunk RMS * 10.
    pub struct EnergyVad;
    impl VoiceActivity for EnergyVad {
        fn sample_rate(&self) -> u32 {
            8000
        }
        fn chunk_samples(&self) -> usize {
            256
        }
        fn speech_probability(&mut self, c: &[f32]) -> Result<f32, EngineError> {
            Ok((energy(c).sqrt() * 10.0).min(1.0))
        }
        fn reset(&mut self) {}
    }

    fn run(detector: &mut SpeechDetector, loud: &[bool]) -> Vec<ChunkDecision> {
        let mut out = Vec::new();
        for (i, &l) in loud.iter().enumerate() {
            let frame = Frame::new(MediaTime::new(i as u64 * 160, 8000), vec![if l { 0.2 } else { 0.0 }; 160]);
            out.extend(detector.push(&frame, |_, _| 0.0).unwrap());
        }
        out
    }

    #[test]
    fn onset_needs_sustained_speech_and_offset_needs_sustained_silence() {
        let mut d = SpeechDetector::new(Box::new(EnergyVad), VadConfig::default());
        // 200 ms silence, 400 ms speech, 600 ms silence (20 ms frames).
        let pattern: Vec<bool> = (0..60).map(|i| (10..30).contains(&i)).collect();
        let out = run(&mut d, &pattern);
        let onset = out.iter().find_map(|c| c.onset).unwrap();
        let offset = out.iter().find_map(|c| c.offset).unwrap();
        assert!((onset.as_ms() as i64 - 200).abs() <= 32, "{onset:?}");
        assert!((offset.as_ms() as i64 - 600).abs() <= 32, "{offset:?}");
        assert!(!d.in_speech());
    }

    #[test]
    fn a_blip_is_not_an_onset_and_the_echo_floor_gates() {
        let mut d = SpeechDetector::new(Box::new(EnergyVad), VadConfig::default());
        let pattern: Vec<bool> = (0..20).map(|i| i == 5).collect();
        assert!(run(&mut d, &pattern).iter().all(|c| c.onset.is_none()));
        let mut d = SpeechDetector::new(Box::new(EnergyVad), VadConfig::default());
        for i in 0..20u64 {
            let frame = Frame::new(MediaTime::new(i * 160, 8000), vec![0.2; 160]);
            let out = d.push(&frame, |_, _| 1.0).unwrap();
            assert!(out.iter().all(|c| !c.voiced));
        }
    }
}
