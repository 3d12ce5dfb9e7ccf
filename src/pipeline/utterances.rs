//! Cuts one side of a conversation into utterances for transcription: what the speech
//! detector marks from onset to offset, with a little audio before the onset, and long
//! speech cut at a bound (Whisper takes at most 30 s). Counted in samples, no clock.

use super::speech::SpeechDetector;
use crate::engines::EngineError;
use crate::media::{Frame, MediaTime};

/// Audio kept before an onset (the detector confirms speech after it began).
const PRE_ROLL_MS: u64 = 300;
/// The longest utterance handed on; longer speech is cut here.
const MAX_MS: u64 = 20_000;

/// One utterance: where it began (media time of this side) and its audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    pub start: MediaTime,
    pub audio: Vec<f32>,
}

pub struct UtteranceCutter {
    detector: SpeechDetector,
    /// Recent audio and the sample its first entry stands at.
    audio: Vec<f32>,
    audio_start: u64,
    /// The current utterance's first sample, while in speech.
    speaking_from: Option<u64>,
}

impl UtteranceCutter {
    pub fn new(detector: SpeechDetector) -> Self {
        UtteranceCutter { detector, audio: Vec::new(), audio_start: 0, speaking_from: None }
    }

    /// Feeds one frame (at the detector's rate); the utterances it completes.
    pub fn push(&mut self, frame: &Frame) -> Result<Vec<Utterance>, EngineError> {
        let rate = self.detector.rate() as u64;
        if self.audio.is_empty() {
            self.audio_start = frame.start.samples;
        }
        self.audio.extend_from_slice(&frame.samples);
        let mut done = Vec::new();
        for decision in self.detector.push(frame, |_, _| 0.0)? {
            if let Some(onset) = decision.onset {
                self.speaking_from = Some(onset.samples.saturating_sub(PRE_ROLL_MS * rate / 1000));
            }
            if let Some(offset) = decision.offset {
                done.extend(self.cut(offset.samples));
            }
        }
        match self.speaking_from {
            Some(from) if self.end() - from >= MAX_MS * rate / 1000 => done.extend(self.cut(self.end())),
            // Outside speech only the pre-roll is kept.
            None => self.trim_to(self.end().saturating_sub(PRE_ROLL_MS * rate / 1000)),
            Some(_) => {}
        }
        Ok(done)
    }

    /// What is left when the conversation ends mid-utterance.
    pub fn finish(&mut self) -> Option<Utterance> {
        self.speaking_from.is_some().then(|| self.cut(self.end())).flatten()
    }

    fn end(&self) -> u64 {
        self.audio_start + self.audio.len() as u64
    }

    /// The utterance from its start to `to`; speech after `to` stays.
    fn cut(&mut self, to: u64) -> Option<Utterance> {
        let from = self.speaking_from.take()?.max(self.audio_start);
        let (a, b) = ((from - self.audio_start) as usize, (to.min(self.end()) - self.audio_start) as usize);
        let utterance = Utterance {
            start: MediaTime::new(from, self.detector.rate()),
            audio: self.audio.get(a..b).map(<[f32]>::to_vec).unwrap_or_default(),
        };
        if self.detector.in_speech() {
            // Cut at the bound while still speaking: the rest is a new utterance.
            self.speaking_from = Some(to);
        }
        self.trim_to(to);
        (!utterance.audio.is_empty()).then_some(utterance)
    }

    fn trim_to(&mut self, sample: u64) {
        let drop = (sample.saturating_sub(self.audio_start) as usize).min(self.audio.len());
        self.audio.drain(..drop);
        self.audio_start += drop as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::speech::tests::EnergyVad;
    use crate::pipeline::VadConfig;

    fn cutter() -> UtteranceCutter {
        UtteranceCutter::new(SpeechDetector::new(Box::new(EnergyVad), VadConfig::default()))
    }

    /// Feeds 20 ms frames, loud where `loud(i)`; the utterances and what `finish` leaves.
    fn run(frames: usize, loud: impl Fn(usize) -> bool) -> (Vec<Utterance>, Option<Utterance>) {
        let mut c = cutter();
        let mut out = Vec::new();
        for i in 0..frames {
            let frame = Frame::new(MediaTime::new(i as u64 * 160, 8000), vec![if loud(i) { 0.2 } else { 0.0 }; 160]);
            out.extend(c.push(&frame).unwrap());
        }
        (out, c.finish())
    }

    #[test]
    fn speech_between_silences_is_one_utterance_with_its_pre_roll() {
        // 1 s silence, 1 s speech, 1 s silence, 0.6 s speech, 1 s silence.
        let (out, rest) = run(230, |i| (50..100).contains(&i) || (150..180).contains(&i));
        assert_eq!(out.len(), 2, "{:?}", out.iter().map(|u| u.start).collect::<Vec<_>>());
        let (first, second) = (&out[0], &out[1]);
        assert!((first.start.as_ms() as i64 - 700).abs() <= 40, "{:?}", first.start);
        let ms = first.audio.len() as u64 / 8;
        assert!((1200..=1400).contains(&ms), "{ms} ms: 1 s of speech and the pre-roll");
        assert!((second.start.as_ms() as i64 - 2700).abs() <= 40, "{:?}", second.start);
        assert!(rest.is_none());
    }

    #[test]
    fn long_speech_is_cut_at_the_bound_and_the_tail_is_finished() {
        // 25 s of speech without a pause, and the conversation ends mid-speech.
        let (out, rest) = run(1250, |_| true);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].audio.len() as u64, MAX_MS * 8);
        let rest = rest.expect("the tail");
        assert_eq!(rest.start.samples, MAX_MS * 8);
        assert!(rest.audio.len() as u64 >= 4_900 * 8, "{}", rest.audio.len());
    }

    #[test]
    fn silence_keeps_only_the_pre_roll() {
        let mut c = cutter();
        for i in 0..500u64 {
            assert!(c.push(&Frame::new(MediaTime::new(i * 160, 8000), vec![0.0; 160])).unwrap().is_empty());
        }
        assert!(c.audio.len() as u64 <= PRE_ROLL_MS * 8 + 160);
        assert!(c.finish().is_none());
    }
}
