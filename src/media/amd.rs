//! Answering-machine detection: from the first seconds of an answered outbound call,
//! a human or a voicemail greeting. Humans say something short and wait; machines
//! talk on (a long greeting), beep, or say what they are. Fed 20 ms frames at 8 kHz
//! from the moment of answer (time is the frame count: pure, no clock), and the ASR
//! text as it comes. After a machine decision it also tells when the greeting is over
//! (the beep, or a long silence), which is when a message may be left.

/// Samples per frame: 20 ms at 8 kHz.
pub const FRAME: usize = 160;
const FRAME_MS: u64 = 20;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmdConfig {
    /// Decide by then whatever the audio says (a silent or unclear line is a human).
    pub decide_by_ms: u64,
    /// Speech without a long pause for this long is a greeting, not a "hello".
    pub greeting_ms: u64,
    /// At the deadline, still talking after this much speech since the last pause is a
    /// greeting (a human's long answer has ended by then).
    pub still_talking_ms: u64,
    /// Silence after speech that ends a human's answer.
    pub answer_gap_ms: u64,
    /// Silence after a greeting that ends it (when no beep comes).
    pub greeting_end_ms: u64,
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            decide_by_ms: 3500,
            greeting_ms: 3000,
            still_talking_ms: 1500,
            answer_gap_ms: 800,
            greeting_end_ms: 1500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "answered_by", content = "reason", rename_all = "snake_case")]
pub enum Decision {
    Human(String),
    Machine(String),
}

impl Decision {
    pub fn is_machine(&self) -> bool {
        matches!(self, Decision::Machine(_))
    }
}

/// Phrases only machines say when they answer.
const MACHINE_PHRASES: [&str; 12] = [
    "leave a message",
    "leave your message",
    "leave me a message",
    "record your message",
    "after the tone",
    "after the beep",
    "not available",
    "unavailable",
    "mailbox",
    "voicemail",
    "voice mail",
    "can't take your call",
];

/// The machine phrase in `text` (ASR of the callee), if any.
pub fn machine_phrase(text: &str) -> Option<&'static str> {
    let text: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '\'' { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("cannot", "can't")
        .replace("can not", "can't");
    MACHINE_PHRASES.iter().copied().find(|p| text.contains(p))
}

pub struct Detector {
    cfg: AmdConfig,
    frames: u64,
    /// Line noise level (mean square), tracked from the quietest frames.
    floor: f32,
    in_speech: bool,
    /// Consecutive loud / quiet frames.
    loud: u64,
    quiet: u64,
    /// Speech since the last long pause, and in all.
    run_ms: u64,
    spoken_ms: u64,
    /// A tone: its frequency and how many frames it has held.
    tone: Option<(f32, u64)>,
    beeped: bool,
    decision: Option<Decision>,
    greeting_over: bool,
}

/// Loudness above the floor that counts as speech (x 16 = 12 dB) and the least
/// absolute level (about -46 dBFS).
const SPEECH_OVER_FLOOR: f32 = 16.0;
const SPEECH_MIN: f32 = 2.5e-5;
/// A gap inside speech shorter than this is between words.
const WORD_GAP_MS: u64 = 300;
/// A beep: one frequency holding most of the energy for this long.
const TONE_MS: u64 = 140;
const TONE_PURITY: f32 = 0.75;

impl Detector {
    pub fn new(cfg: AmdConfig) -> Self {
        Detector {
            cfg,
            frames: 0,
            floor: f32::MAX,
            in_speech: false,
            loud: 0,
            quiet: 0,
            run_ms: 0,
            spoken_ms: 0,
            tone: None,
            beeped: false,
            decision: None,
            greeting_over: false,
        }
    }

    pub fn decision(&self) -> Option<&Decision> {
        self.decision.as_ref()
    }

    /// After a machine decision: the greeting is over (its beep, or a long silence).
    pub fn greeting_over(&self) -> bool {
        self.greeting_over
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.frames * FRAME_MS
    }

    /// The callee's words so far (ASR): a machine phrase decides.
    pub fn on_text(&mut self, text: &str) -> Option<&Decision> {
        if self.decision.is_none() {
            if let Some(phrase) = machine_phrase(text) {
                self.decision = Some(Decision::Machine(format!("said {phrase:?}")));
            }
        }
        self.decision.as_ref()
    }

    /// One 20 ms frame of the callee (8 kHz). Returns the decision once there is one.
    pub fn on_frame(&mut self, frame: &[f32]) -> Option<&Decision> {
        self.frames += 1;
        let power = frame.iter().map(|s| s * s).sum::<f32>() / frame.len().max(1) as f32;
        // The floor follows the quietest frames down at once and up slowly.
        self.floor = if power < self.floor { power } else { self.floor * 1.002 };
        let speechy = power > (self.floor * SPEECH_OVER_FLOOR).max(SPEECH_MIN);
        self.track_tone(frame, power, speechy);
        if speechy {
            self.loud += 1;
            self.quiet = 0;
        } else {
            self.quiet += 1;
            self.loud = 0;
        }
        if !self.in_speech && self.loud >= 2 {
            self.in_speech = true;
        }
        if self.in_speech {
            self.run_ms += FRAME_MS;
            self.spoken_ms += FRAME_MS;
            if self.quiet * FRAME_MS >= WORD_GAP_MS {
                self.in_speech = false;
                // The word gap was counted as speech; it was not.
                self.run_ms = self.run_ms.saturating_sub(WORD_GAP_MS);
                self.spoken_ms = self.spoken_ms.saturating_sub(WORD_GAP_MS);
            }
        }
        let gap_ms = self.quiet * FRAME_MS;
        if self.decision.is_none() {
            self.decision = self.decide(gap_ms);
        } else if self.decision.as_ref().is_some_and(Decision::is_machine) && !self.greeting_over {
            self.greeting_over = self.beeped || (self.spoken_ms > 0 && gap_ms >= self.cfg.greeting_end_ms);
        }
        self.decision.as_ref()
    }

    fn decide(&mut self, gap_ms: u64) -> Option<Decision> {
        if self.beeped {
            return Some(Decision::Machine("a beep".into()));
        }
        if self.run_ms >= self.cfg.greeting_ms {
            return Some(Decision::Machine(format!("{} ms of speech without a pause", self.run_ms)));
        }
        if !self.in_speech && self.spoken_ms > 0 && gap_ms >= self.cfg.answer_gap_ms {
            return Some(Decision::Human(format!("{} ms of speech, then {gap_ms} ms of silence", self.spoken_ms)));
        }
        if !self.in_speech && gap_ms >= self.cfg.answer_gap_ms {
            // A long pause resets the run: a second "hello?" is not a greeting.
            self.run_ms = 0;
        }
        if self.elapsed_ms() >= self.cfg.decide_by_ms {
            if self.in_speech && self.run_ms >= self.cfg.still_talking_ms {
                return Some(Decision::Machine(format!("still talking at {} ms", self.elapsed_ms())));
            }
            let why =
                if self.spoken_ms == 0 { "silence".to_string() } else { format!("{} ms of speech", self.spoken_ms) };
            return Some(Decision::Human(format!("undecided at {} ms ({why})", self.elapsed_ms())));
        }
        None
    }

    /// A beep: a loud frame whose energy sits in one frequency (300-2500 Hz), held.
    fn track_tone(&mut self, frame: &[f32], power: f32, speechy: bool) {
        let tone = if speechy { dominant_tone(frame, power) } else { None };
        self.tone = match (tone, self.tone) {
            (Some(f), Some((held, n))) if (f - held).abs() <= 50.0 => Some((held, n + 1)),
            (Some(f), _) => Some((f, 1)),
            (None, _) => None,
        };
        if self.tone.is_some_and(|(_, n)| n * FRAME_MS >= TONE_MS) {
            self.beeped = true;
        }
    }
}

/// The frequency holding at least [`TONE_PURITY`] of the frame's energy, if one does
/// (Goertzel every 25 Hz from 300 to 2500 Hz).
fn dominant_tone(frame: &[f32], power: f32) -> Option<f32> {
    let n = frame.len() as f32;
    let total = power * n * n / 2.0;
    if total <= 0.0 {
        return None;
    }
    let mut best = (0.0f32, 0.0f32);
    let mut f = 300.0f32;
    while f <= 2500.0 {
        let w = 2.0 * std::f32::consts::PI * f / 8000.0;
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &x in frame {
            let s0 = x + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        if p > best.1 {
            best = (f, p);
        }
        f += 25.0;
    }
    (best.1 / total >= TONE_PURITY).then_some(best.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, ms: usize, amp: f32) -> Vec<f32> {
        (0..ms * 8).map(|i| amp * (2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0).sin()).collect()
    }

    /// Speech-like: a few harmonics of a wandering pitch, amplitude-modulated.
    fn babble(ms: usize) -> Vec<f32> {
        (0..ms * 8)
            .map(|i| {
                let t = i as f32 / 8000.0;
                let f0 = 120.0 + 30.0 * (t * 3.0).sin();
                let env = 0.5 + 0.5 * (t * 2.0 * std::f32::consts::PI * 4.0).sin().abs();
                env * (1..6).map(|h| (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32).sum::<f32>()
                    * 0.1
            })
            .collect()
    }

    fn silence(ms: usize) -> Vec<f32> {
        (0..ms * 8).map(|i| 0.002 * ((i * 7919 % 101) as f32 / 50.0 - 1.0)).collect()
    }

    fn run(audio: &[f32]) -> (Option<Decision>, u64, bool) {
        let mut d = Detector::new(AmdConfig::default());
        let mut at = None;
        for frame in audio.chunks(FRAME) {
            if d.on_frame(frame).is_some() && at.is_none() {
                at = Some(d.elapsed_ms());
            }
        }
        (d.decision().cloned(), at.unwrap_or(0), d.greeting_over())
    }

    #[test]
    fn a_short_hello_then_silence_is_a_human() {
        let audio = [silence(400), babble(700), silence(3000)].concat();
        let (decision, at, _) = run(&audio);
        assert!(matches!(decision, Some(Decision::Human(_))), "{decision:?}");
        assert!(at <= 2200, "decided at {at} ms");
    }

    #[test]
    fn a_long_greeting_is_a_machine_and_its_beep_ends_it() {
        let audio = [silence(300), babble(4000), silence(300), tone(1000.0, 500, 0.4), silence(1000)].concat();
        let (decision, at, over) = run(&audio);
        assert!(matches!(decision, Some(Decision::Machine(_))), "{decision:?}");
        assert!(at <= AmdConfig::default().decide_by_ms, "decided at {at} ms");
        assert!(over, "the beep ends the greeting");
    }

    #[test]
    fn a_beep_alone_is_a_machine_and_silence_is_a_human() {
        let (decision, ..) = run(&[silence(500), tone(850.0, 400, 0.3), silence(3000)].concat());
        assert_eq!(decision, Some(Decision::Machine("a beep".into())));
        let (decision, at, _) = run(&silence(5000));
        assert!(matches!(decision, Some(Decision::Human(ref why)) if why.contains("silence")), "{decision:?}");
        assert_eq!(at, 3500);
    }

    #[test]
    fn two_hellos_with_a_pause_are_a_human() {
        let audio = [babble(600), silence(700), babble(600), silence(2000)].concat();
        let (decision, ..) = run(&audio);
        assert!(matches!(decision, Some(Decision::Human(_))), "{decision:?}");
    }

    #[test]
    fn machine_phrases_in_the_transcript() {
        assert_eq!(machine_phrase("Please leave a message after the tone."), Some("leave a message"));
        assert_eq!(machine_phrase("I CANNOT take your call"), Some("can't take your call"));
        assert_eq!(machine_phrase("The subscriber is unavailable"), Some("unavailable"));
        assert_eq!(machine_phrase("Hello? Who is this?"), None);
        let mut d = Detector::new(AmdConfig::default());
        assert!(d.on_text("you've reached the voicemail of Asha").is_some_and(Decision::is_machine));
    }
}
