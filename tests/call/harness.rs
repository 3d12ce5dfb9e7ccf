//! A virtual-clock driver for `Call` with scripted caller speech, an energy VAD, an
//! ASR double that returns the scripted words, and a TTS double (a tone per word).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use voxline::call::{Call, CallConfig, Event, HandoffPacket, Input, Output, TimedEvent, TtsChunk};
use voxline::dialogue::{BotTurn, BuiltinCod, CallEnd, Dialogue, Outcome};
use voxline::engines::{split_sentences, EngineError, VoiceActivity};
use voxline::media::amd::AmdConfig;
use voxline::media::{energy, Frame, MediaTime};

pub const RATE: u32 = 8000;

/// Probability from loudness: speech bursts are 0.2 amplitude, echo 20 dB down.
pub struct EnergyVad;

impl VoiceActivity for EnergyVad {
    fn sample_rate(&self) -> u32 {
        RATE
    }
    fn chunk_samples(&self) -> usize {
        256
    }
    fn speech_probability(&mut self, c: &[f32]) -> Result<f32, EngineError> {
        Ok((energy(c).sqrt() * 8.0).min(1.0))
    }
    fn reset(&mut self) {}
}

/// Something the caller does.
#[derive(Clone)]
pub enum Act {
    /// Speak `text` for `ms`, `delay_ms` after the bot finishes (or starts) its turn `turn`.
    Say {
        text: &'static str,
        ms: u64,
        at: Cue,
    },
    /// Non-speech noise at speech level that ASR hears as nothing.
    Noise {
        ms: u64,
        at: Cue,
    },
    Dtmf {
        digit: char,
        at: Cue,
    },
    /// A pure tone (an answering machine's beep), which ASR hears as nothing.
    Beep {
        ms: u64,
        at: Cue,
    },
    /// The far end holds (`on`) or resumes the call.
    Hold {
        on: bool,
        at: Cue,
    },
}

#[derive(Clone, Copy)]
pub enum Cue {
    /// `delay` ms after the bot's n-th turn (1-based) finished playing.
    AfterBot(u32, u64),
    /// `delay` ms after the bot's n-th turn started playing.
    DuringBot(u32, u64),
    /// At this call time (ms).
    At(u64),
}

pub struct Options {
    pub asr_ms: u64,
    pub tts_ms: u64,
    /// Echo of the bot in the caller channel: (attenuation dB, delay ms).
    pub echo: Option<(f32, u64)>,
    pub max_ms: u64,
    /// Deliver each turn's sentences last first (a cache hit overtaking synthesis).
    pub tts_reverse: bool,
    /// (n, i): the n-th synthesis request (1-based) never delivers sentences from index i on.
    pub tts_lost: Option<(usize, u32)>,
    pub asr: AsrDouble,
    /// Answering-machine detection, as on an outbound call.
    pub amd: bool,
    /// The message the flow leaves on a machine (none: it hangs up).
    pub voicemail: Option<&'static str>,
}

/// How the ASR double answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AsrDouble {
    /// The scripted words, `asr_ms` after the request.
    Hears,
    /// Every request fails at once.
    Fails,
    /// No result ever comes back.
    Loses,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            asr_ms: 120,
            tts_ms: 60,
            echo: None,
            max_ms: 60_000,
            tts_reverse: false,
            tts_lost: None,
            asr: AsrDouble::Hears,
            amd: false,
            voicemail: None,
        }
    }
}

pub struct Run {
    pub events: Vec<TimedEvent>,
    pub outcome: Option<Outcome>,
    pub handoff: Option<HandoffPacket>,
    pub bot_frames: Vec<(u64, usize)>,
    pub clears: usize,
}

impl Run {
    pub fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|e| f(&e.event)).count()
    }
    pub fn first(&self, f: impl Fn(&Event) -> bool) -> Option<&TimedEvent> {
        self.events.iter().find(|e| f(&e.event))
    }
    /// Last bot frame sent at or before `t` ms.
    pub fn last_frame_before(&self, t: u64) -> Option<u64> {
        self.bot_frames.iter().map(|(at, _)| *at).filter(|&at| at <= t).max()
    }
}

#[derive(PartialEq)]
enum Sound {
    Words,
    Noise,
    Beep,
}

struct Speaking {
    start_ms: u64,
    end_ms: u64,
    text: &'static str,
    sound: Sound,
}

/// The built-in COD flow, leaving `voicemail` on a machine when set.
struct Cod(BuiltinCod, Option<&'static str>);

impl Dialogue for Cod {
    fn flow(&self) -> &str {
        self.0.flow()
    }
    fn state(&self) -> &str {
        self.0.state()
    }
    fn slots(&self) -> BTreeMap<String, String> {
        self.0.slots()
    }
    fn greet(&mut self) -> BotTurn {
        self.0.greet()
    }
    fn on_text(&mut self, elapsed: Duration, text: &str) -> BotTurn {
        self.0.on_text(elapsed, text)
    }
    fn on_dtmf(&mut self, elapsed: Duration, digit: char) -> BotTurn {
        self.0.on_dtmf(elapsed, digit)
    }
    fn on_no_input(&mut self, elapsed: Duration) -> BotTurn {
        self.0.on_no_input(elapsed)
    }
    fn on_voicemail(&mut self) -> BotTurn {
        let end = Some(CallEnd { outcome: Outcome::Voicemail, handoff: None });
        BotTurn { say: self.1.unwrap_or_default().into(), intent: None, end }
    }
}

/// Runs the built-in COD flow against a scripted caller.
pub fn run(script: &[Act], opts: Options) -> Run {
    let context = serde_json::json!({"customer": {"name": "Priya"}, "order": {"items": [{"name": "running shoes"}], "amount": "1499"}});
    let dialogue = Cod(BuiltinCod::new(&context), opts.voicemail);
    let mut call = Call::new(CallConfig::default(), Box::new(EnergyVad), Box::new(dialogue)).unwrap();
    if opts.amd {
        call.detect_answering_machine(AmdConfig::default());
    }
    let mut pending: BTreeMap<(u64, u64), Input> = BTreeMap::new();
    let mut seq = 0u64;
    let mut schedule = |pending: &mut BTreeMap<(u64, u64), Input>, at: u64, input: Input| {
        seq += 1;
        pending.insert((at, seq), input);
    };
    let mut acts: Vec<Option<Act>> = script.iter().cloned().map(Some).collect();
    let mut spoken: Vec<Speaking> = Vec::new();
    let mut bot_audio: BTreeMap<u64, Vec<f32>> = BTreeMap::new();
    let mut bot_turn_starts: Vec<u64> = Vec::new();
    let mut bot_turn_ends: Vec<u64> = Vec::new();
    let mut run = Run { events: Vec::new(), outcome: None, handoff: None, bot_frames: Vec::new(), clears: 0 };
    let frame = (RATE / 50) as usize;
    let mut tts_requests = 0usize;
    call.handle_input(Duration::ZERO, Input::Start);
    let mut t = 0u64;
    while t <= opts.max_ms && !call.is_ended() {
        let now = Duration::from_millis(t);
        // Engine results due now.
        let due: Vec<(u64, u64)> = pending.range(..=(t, u64::MAX)).map(|(k, _)| *k).collect();
        for k in due {
            let input = pending.remove(&k).unwrap();
            call.handle_input(now, input);
        }
        // Start caller acts whose cue has come.
        for slot in acts.iter_mut() {
            let Some(act) = slot.clone() else { continue };
            let cue = match &act {
                Act::Say { at, .. }
                | Act::Noise { at, .. }
                | Act::Beep { at, .. }
                | Act::Dtmf { at, .. }
                | Act::Hold { at, .. } => *at,
            };
            let start = match cue {
                Cue::AfterBot(n, d) => bot_turn_ends.get(n as usize - 1).map(|e| e + d),
                Cue::DuringBot(n, d) => bot_turn_starts.get(n as usize - 1).map(|s| s + d),
                Cue::At(ms) => Some(ms),
            };
            if start.is_some_and(|s| s <= t) {
                let s = start.unwrap();
                match act {
                    Act::Say { text, ms, .. } => {
                        spoken.push(Speaking { start_ms: s, end_ms: s + ms, text, sound: Sound::Words })
                    }
                    Act::Noise { ms, .. } => {
                        spoken.push(Speaking { start_ms: s, end_ms: s + ms, text: "", sound: Sound::Noise })
                    }
                    Act::Beep { ms, .. } => {
                        spoken.push(Speaking { start_ms: s, end_ms: s + ms, text: "", sound: Sound::Beep })
                    }
                    Act::Dtmf { digit, .. } => call.handle_input(now, Input::Dtmf(digit)),
                    Act::Hold { on, .. } => call.handle_input(now, Input::Hold(on)),
                }
                *slot = None;
            }
        }
        // Caller frame ending at t + 20.
        let mut samples = vec![0f32; frame];
        for (i, s) in samples.iter_mut().enumerate() {
            let ms_at = t + (i as u64 * 1000 / RATE as u64);
            if let Some(sp) = spoken.iter().find(|sp| (sp.start_ms..sp.end_ms).contains(&ms_at)) {
                *s = if sp.sound == Sound::Beep {
                    let n = t * RATE as u64 / 1000 + i as u64;
                    0.3 * (2.0 * std::f32::consts::PI * 1000.0 * n as f32 / RATE as f32).sin()
                } else if i % 2 == 0 {
                    0.2
                } else {
                    -0.2
                };
            }
            if let Some((db, delay)) = opts.echo {
                let src = (t + (i as u64 * 1000 / RATE as u64)).checked_sub(delay);
                if let Some(src) = src {
                    let key = src / 20 * 20;
                    if let Some(b) = bot_audio.get(&key) {
                        *s += b[i] * 10f32.powf(db / 20.0);
                    }
                }
            }
        }
        let t_next = t + 20;
        call.handle_input(
            Duration::from_millis(t_next),
            Input::Audio(Frame::new(MediaTime::from_ms(t, RATE), samples)),
        );
        call.handle_input(Duration::from_millis(t_next), Input::Timeout);
        // A deadline already past after a wake-up would make a real driver spin.
        let wake = call.poll_timeout();
        assert!(wake.is_none_or(|w| w > Duration::from_millis(t_next)), "wake-up at {wake:?} is not after {t_next} ms");
        while let Some(out) = call.poll_output() {
            match out {
                Output::Audio(f) => {
                    let at = f.start.as_ms();
                    run.bot_frames.push((at, f.samples.len()));
                    bot_audio.insert(at, f.samples);
                }
                Output::Asr(req) => {
                    // The double hears whatever was spoken inside the request's audio span.
                    let end_ms = t_next;
                    let start_ms = end_ms.saturating_sub(req.audio.len() as u64 * 1000 / RATE as u64);
                    let words: Vec<&str> = spoken
                        .iter()
                        .filter(|sp| sp.sound == Sound::Words && sp.start_ms < end_ms && sp.end_ms > start_ms)
                        .map(|sp| {
                            if req.partial && sp.end_ms > end_ms {
                                sp.text.split(' ').next().unwrap_or("")
                            } else {
                                sp.text
                            }
                        })
                        .collect();
                    match opts.asr {
                        AsrDouble::Hears => schedule(
                            &mut pending,
                            t_next + opts.asr_ms,
                            Input::Asr { id: req.id, text: words.join(" ") },
                        ),
                        AsrDouble::Fails => schedule(&mut pending, t_next, Input::AsrFailed { id: req.id }),
                        AsrDouble::Loses => {}
                    }
                }
                Output::Tts(req) => {
                    tts_requests += 1;
                    let sentences = split_sentences(&req.text);
                    let n = sentences.len();
                    for (i, s) in sentences.into_iter().enumerate() {
                        let len = s.split_whitespace().count() * 240 * RATE as usize / 1000;
                        let samples: Arc<[f32]> =
                            (0..len).map(|k| if k % 2 == 0 { 0.3 } else { -0.3 }).collect::<Vec<f32>>().into();
                        let chunk =
                            TtsChunk { id: req.id, index: i as u32, text: s, samples, last: i + 1 == n, cached: false };
                        if opts.tts_lost.is_some_and(|(nth, from)| nth == tts_requests && i as u32 >= from) {
                            continue;
                        }
                        let order = if opts.tts_reverse { n - i } else { i + 1 } as u64;
                        schedule(&mut pending, t_next + opts.tts_ms * order, Input::Tts(chunk));
                    }
                }
                Output::Event(e) => {
                    match &e.event {
                        Event::PlayoutStart => bot_turn_starts.push(e.at_ms),
                        Event::PlayoutStop { .. } => bot_turn_ends.push(e.at_ms),
                        _ => {}
                    }
                    run.events.push(e);
                }
                Output::Carrier(voxline::call::CarrierCommand::Clear) => run.clears += 1,
                Output::Carrier(_) | Output::HangUp => {}
                Output::Handoff(p) => run.handoff = Some(p),
                Output::Outcome(o) => run.outcome = Some(o),
            }
        }
        t = t_next;
    }
    run
}
