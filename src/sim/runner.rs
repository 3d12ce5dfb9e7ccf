//! The virtual-clock event loop: caller audio in 20 ms frames, engine results at
//! their charged times, bot frames recorded, until the call ends.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::channel::{Channel, ChannelOptions};
use super::report::{summarize, Summary};
use super::script::{Cue, Expect};
use super::{SimEngines, SimError};
use crate::call::{Call, CallConfig, Input, Output, TimedEvent};
use crate::dialogue::Dialogue;
use crate::media::{samples_per_20ms, Frame, MediaTime};

/// Who is on the other end.
pub enum Caller {
    /// A fixed recording at the call rate, played from the start.
    Recording(Vec<f32>),
    /// Turns at the call rate with their cue and delay; a first turn without a cue is
    /// the callee's "hello" and the bot greets after it.
    Script(Vec<(Vec<f32>, Option<Cue>, u64)>),
}

pub struct SimOutput {
    pub summary: Summary,
    pub events: Vec<TimedEvent>,
    pub caller_track: Vec<f32>,
    pub bot_track: Vec<f32>,
    pub rate: u32,
}

/// Longest simulated call.
const MAX_CALL: Duration = Duration::from_secs(180);

pub fn run_call(
    engines: &mut SimEngines,
    dialogue: Box<dyn Dialogue>,
    caller: Caller,
    channel: ChannelOptions,
    realtime: bool,
    expect: &Expect,
) -> Result<SimOutput, SimError> {
    let rate = engines.rate();
    let frame_len = samples_per_20ms(rate);
    for prompt in dialogue.static_prompts() {
        engines.prerender(&prompt)?;
    }
    for prompt in dialogue.call_prompts() {
        engines.prepare(&prompt)?;
    }
    let mut call =
        Call::new(CallConfig { rate, ..Default::default() }, Box::new(engines.vad.detector(rate)?), dialogue)?;

    let (mut caller_track, turns) = match caller {
        Caller::Recording(audio) => (audio, Vec::new()),
        Caller::Script(turns) => (Vec::new(), turns),
    };
    let speech_rms = {
        let all: Vec<&f32> = caller_track.iter().chain(turns.iter().flat_map(|t| t.0.iter())).collect();
        let e = all.iter().map(|s| **s * **s).sum::<f32>() / all.len().max(1) as f32;
        e.sqrt().max(1e-4)
    };
    let mut line = Channel::new(channel, rate, speech_rms);
    let mut st = State::default();

    // Scripted caller state: next turn, and the times from which its cue may fire: a
    // `bot_start` counts from the start of the caller's previous turn (the reply may
    // start while its trailing silence still plays), a `bot_done` from its end.
    let mut next_turn = 0usize;
    let (mut armed_start, mut armed_at) = (0u64, 0u64);
    let mut start_at = Some(0u64);
    if let Some((audio, None, delay)) = turns.first() {
        let begin = delay * rate as u64 / 1000;
        place(&mut caller_track, begin as usize, audio);
        armed_start = begin * 1000 / rate as u64;
        armed_at = (begin + audio.len() as u64) * 1000 / rate as u64;
        next_turn = 1;
    }
    let wall_start = Instant::now();
    let mut t = 0u64; // ms
    let mut idle_since: Option<u64> = None;
    loop {
        let step_end = t + 20;
        if start_at.is_some_and(|s| s <= t) {
            start_at = None;
            call.handle_input(Duration::from_millis(t), Input::Start);
            drain(&mut call, engines, &mut st, t * 1000)?;
        }
        // Engine results due in this step, at their exact times.
        while let Some((&(due, k), _)) = st.pending.iter().next() {
            if due > step_end * 1000 {
                break;
            }
            let input = st.pending.remove(&(due, k)).expect("present");
            call.handle_input(Duration::from_micros(due), input);
            drain(&mut call, engines, &mut st, due)?;
        }
        // Cue the next scripted turn.
        if let Some((audio, Some(cue), delay)) = turns.get(next_turn) {
            let from = if *cue == Cue::BotStart { armed_start } else { armed_at };
            if let Some(&(at, _)) = st.bot_events.iter().find(|(at, c)| *at >= from && c == cue) {
                let begin_ms = at + delay;
                if begin_ms <= t {
                    let begin = (begin_ms * rate as u64 / 1000) as usize;
                    place(&mut caller_track, begin, audio);
                    armed_start = begin_ms;
                    armed_at = begin_ms + audio.len() as u64 * 1000 / rate as u64;
                    next_turn += 1;
                }
            }
        }
        // The caller frame covering [t, t + 20).
        let start = (t * rate as u64 / 1000) as usize;
        let mut samples: Vec<f32> =
            (start..start + frame_len).map(|i| caller_track.get(i).copied().unwrap_or(0.0)).collect();
        if let Some((db, delay_ms)) = line.echo() {
            let gain = 10f32.powf(db / 20.0);
            let delay = delay_ms as usize * rate as usize / 1000;
            for (i, s) in samples.iter_mut().enumerate() {
                if let Some(b) = (start + i).checked_sub(delay).and_then(|j| st.bot_track.get(j)) {
                    *s += b * gain;
                }
            }
        }
        let heard = line.carry(samples, start as u64);
        let now = Duration::from_millis(step_end);
        call.handle_input(now, Input::Audio(Frame::new(MediaTime::new(start as u64, rate), heard)));
        call.handle_input(now, Input::Timeout);
        drain(&mut call, engines, &mut st, step_end * 1000)?;
        if realtime {
            let ahead = Duration::from_millis(step_end).saturating_sub(wall_start.elapsed());
            std::thread::sleep(ahead);
        }
        t = step_end;
        if call.is_ended() {
            break;
        }
        // A recording that has ended and a bot that has nothing left to say: stop.
        let caller_done = start >= caller_track.len() && next_turn >= turns.len();
        let quiet = st.pending.is_empty() && call.poll_timeout().is_none_or(|d| d > now + Duration::from_secs(30));
        idle_since = if caller_done && quiet { idle_since.or(Some(t)) } else { None };
        if idle_since.is_some_and(|s| t - s > 1000) || Duration::from_millis(t) > MAX_CALL {
            call.handle_input(now, Input::HangUp);
            drain(&mut call, engines, &mut st, step_end * 1000)?;
            break;
        }
    }
    let mut summary = summarize(&st.events, &st.bot_frames_ms);
    check_expectations(&mut summary, expect, &call.dialogue().slots(), st.handoff_reason.as_deref());
    let mut bot_track = st.bot_track;
    caller_track.resize(caller_track.len().max(bot_track.len()), 0.0);
    bot_track.resize(caller_track.len(), 0.0);
    Ok(SimOutput { summary, events: st.events, caller_track, bot_track, rate })
}

fn place(track: &mut Vec<f32>, at: usize, audio: &[f32]) {
    if track.len() < at + audio.len() {
        track.resize(at + audio.len(), 0.0);
    }
    for (dst, src) in track[at..].iter_mut().zip(audio) {
        *dst += src;
    }
}

/// What the loop accumulates besides the call itself.
#[derive(Default)]
struct State {
    pending: BTreeMap<(u64, u64), Input>,
    seq: u64,
    asr_free: u64,
    tts_free: u64,
    bot_track: Vec<f32>,
    bot_frames_ms: Vec<u64>,
    events: Vec<TimedEvent>,
    bot_events: Vec<(u64, Cue)>,
    /// Why the call went to a human, from the handoff packet.
    handoff_reason: Option<String>,
}

impl State {
    fn schedule(&mut self, due_us: u64, input: Input) {
        self.seq += 1;
        self.pending.insert((due_us, self.seq), input);
    }
}

/// Handles everything the call emitted; engine work is charged to the virtual clock
/// (one ASR worker, one TTS worker, as on a 2-core machine).
fn drain(call: &mut Call, engines: &mut SimEngines, cx: &mut State, now_us: u64) -> Result<(), SimError> {
    while let Some(out) = call.poll_output() {
        match out {
            Output::Audio(frame) => {
                let at = frame.start.samples as usize;
                place(&mut cx.bot_track, at, &frame.samples);
                cx.bot_frames_ms.push(frame.start.as_ms());
            }
            Output::Asr(req) => {
                let begin = cx.asr_free.max(now_us);
                match engines.transcribe(&req) {
                    Ok((text, cost)) => {
                        cx.asr_free = begin + cost;
                        cx.schedule(begin + cost, Input::Asr { id: req.id, text });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "transcription failed");
                        cx.schedule(begin, Input::AsrFailed { id: req.id });
                    }
                }
            }
            Output::Tts(req) => {
                let begin = cx.tts_free.max(now_us);
                match engines.synthesize(&req) {
                    Ok(chunks) => {
                        let mut last = begin;
                        for (chunk, ready) in chunks {
                            last = begin + ready;
                            cx.schedule(last, Input::Tts(chunk));
                        }
                        cx.tts_free = last;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "synthesis failed");
                        cx.schedule(begin, Input::TtsFailed { id: req.id });
                    }
                }
            }
            Output::Event(e) => {
                match &e.event {
                    crate::call::Event::PlayoutStart => cx.bot_events.push((e.at_ms, Cue::BotStart)),
                    crate::call::Event::PlayoutStop { .. } => cx.bot_events.push((e.at_ms, Cue::BotDone)),
                    _ => {}
                }
                cx.events.push(e);
            }
            Output::Handoff(packet) => cx.handoff_reason = Some(packet.reason),
            Output::Carrier(_) | Output::Outcome(_) | Output::HangUp => {}
        }
    }
    Ok(())
}

/// Sets `expect_ok` and `expect_failures` from what the call ended with.
pub fn check_expectations(
    summary: &mut Summary,
    expect: &Expect,
    slots: &std::collections::BTreeMap<String, String>,
    handoff_reason: Option<&str>,
) {
    let failures = expectation_failures(expect, summary.outcome, summary.handoff, handoff_reason, slots);
    summary.expect_ok = failures.is_empty();
    summary.expect_failures = failures;
}

/// What in `expect` the call did not do.
pub fn expectation_failures(
    expect: &Expect,
    outcome: Option<&str>,
    handoff: bool,
    handoff_reason: Option<&str>,
    slots: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(want) = expect.outcome {
        if outcome != Some(want.code()) {
            failures.push(format!("outcome {outcome:?}, expected {}", want.code()));
        }
    }
    if let Some(want) = expect.handoff {
        if handoff != want {
            failures.push(format!("handoff {handoff}, expected {want}"));
        }
    }
    if let Some(want) = &expect.handoff_reason {
        if handoff_reason != Some(want.as_str()) {
            failures.push(format!("handoff reason {handoff_reason:?}, expected {want}"));
        }
    }
    for (k, v) in &expect.slots {
        if slots.get(k) != Some(v) {
            failures.push(format!("slot {k} = {:?}, expected {v:?}", slots.get(k)));
        }
    }
    failures
}
