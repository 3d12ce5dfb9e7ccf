//! Answering-machine detection for an outbound call's first seconds. The call core
//! feeds the callee's audio and asks for a transcript of it now and then; the
//! [`Detector`] decides from the cadence, a beep or a machine's phrases.

use crate::media::amd::{AmdConfig, Decision, Detector, FRAME};

/// Caller audio kept for the phrase check: the detector decides by `decide_by_ms`.
const HEARD_MAX_MS: u64 = 6000;
/// The first transcript of the callee, then one every second while undecided.
const FIRST_ASR_MS: u64 = 1500;
const ASR_EVERY_MS: u64 = 1000;

pub(super) struct Amd {
    pub cfg: AmdConfig,
    detector: Detector,
    /// The callee's audio since answer at 8 kHz, for the phrase check.
    heard: Vec<f32>,
    /// Audio not yet fed to the detector (less than a frame).
    partial: Vec<f32>,
    pub asr_in_flight: Option<u64>,
    next_asr_ms: u64,
}

impl Amd {
    pub fn new(cfg: AmdConfig) -> Self {
        Amd {
            cfg,
            detector: Detector::new(cfg),
            heard: Vec::new(),
            partial: Vec::new(),
            asr_in_flight: None,
            next_asr_ms: FIRST_ASR_MS,
        }
    }

    pub fn decided(&self) -> bool {
        self.detector.decision().is_some()
    }

    /// After a machine: its greeting is over (the beep, or a long silence).
    pub fn greeting_over(&self) -> bool {
        self.detector.greeting_over()
    }

    /// Callee audio at `rate` (8 or 16 kHz). Returns the decision when this audio made it.
    pub fn on_audio(&mut self, samples: &[f32], rate: u32) -> Option<Decision> {
        let before = self.decided();
        let step = (rate / 8000).max(1) as usize;
        let narrow = samples.iter().step_by(step).copied();
        if self.heard.len() < (HEARD_MAX_MS * 8) as usize {
            self.heard.extend(narrow.clone());
        }
        self.partial.extend(narrow);
        let whole = self.partial.len() / FRAME * FRAME;
        for frame in self.partial[..whole].chunks(FRAME) {
            self.detector.on_frame(frame);
        }
        self.partial.drain(..whole);
        self.newly(before)
    }

    /// The callee's words (the transcript this module asked for, or a finished turn).
    pub fn on_text(&mut self, text: &str) -> Option<Decision> {
        let before = self.decided();
        self.detector.on_text(text);
        self.newly(before)
    }

    /// Decides now, as a human: the line stayed silent (no audio came) until the deadline.
    pub fn give_up(&self) -> Decision {
        Decision::Human(format!("no decision from the audio by {} ms", self.cfg.decide_by_ms))
    }

    /// The audio to transcribe, when a transcript is due (undecided, none in flight).
    pub fn asr_due(&self) -> Option<Vec<f32>> {
        let heard_ms = self.heard.len() as u64 / 8;
        (!self.decided() && self.asr_in_flight.is_none() && heard_ms >= self.next_asr_ms).then(|| self.heard.clone())
    }

    pub fn asr_sent(&mut self, id: u64) {
        self.asr_in_flight = Some(id);
        self.next_asr_ms = self.heard.len() as u64 / 8 + ASR_EVERY_MS;
    }

    fn newly(&self, before: bool) -> Option<Decision> {
        (!before).then(|| self.detector.decision().cloned()).flatten()
    }
}
