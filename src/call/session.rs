use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::answering::Amd;
use super::types::{
    ms, AsrRequest, CarrierCommand, Event, HandoffPacket, Input, Output, StageLatency, TimedEvent, TranscriptLine,
    TriggerIntent, TtsChunk, TtsRequest,
};
use super::CallConfig;
use crate::dialogue::{BotTurn, CallEnd, Dialogue, Outcome};
use crate::engines::{EngineError, VoiceActivity};
use crate::media::amd::{AmdConfig, Decision};
use crate::media::{samples_per_20ms, Frame, MediaTime};
use crate::pipeline::{classify_interjection, EchoGate, Interjection, Playout, PlayoutSegment, SpeechDetector};

const FRAME: Duration = Duration::from_millis(20);
/// Audio kept after the last voiced chunk when sending a turn to ASR.
const TAIL_MS: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AsrKind {
    Partial,
    /// A final decode started at the first short silence, valid if speech does not resume.
    Speculative {
        covers: u64,
    },
    Final,
    /// The callee's first seconds, for answering-machine detection.
    Amd,
}

/// The caller's turn in progress.
struct UserTurn {
    onset: u64,
    audio_start: u64,
    audio: Vec<f32>,
    last_voiced_end: u64,
    voiced_since_partial: u64,
    partial_in_flight: bool,
    partial_text: Option<String>,
    /// The most recent hypothesis of any kind, for endpointing.
    latest_text: Option<String>,
    spec_requested_for: Option<u64>,
    spec_text: Option<(u64, String)>,
    /// Set once the endpoint fired: the decode whose result ends the turn.
    final_id: Option<u64>,
}

/// Answering-machine detection on an outbound call.
enum Answering {
    /// Deciding: the bot waits.
    Deciding(Box<Amd>),
    /// A machine: its message plays once the greeting is over, or the call ends at `give_up_at`.
    Machine { amd: Box<Amd>, message: Option<BotTurn>, give_up_at: Duration },
}

/// Playout paused by caller speech, waiting for its words.
struct Pause {
    since: Duration,
}

pub struct Call {
    cfg: CallConfig,
    detector: SpeechDetector,
    echo: EchoGate,
    playout: Playout,
    dialogue: Box<dyn Dialogue>,
    out: VecDeque<Output>,
    now: Duration,
    /// `now` when the call was answered (`Input::Start`).
    started_at: Duration,
    next_id: u64,
    asr: HashMap<u64, (AsrKind, Duration)>,

    greeted: bool,
    greet_at: Option<Duration>,
    bot_turn: u32,
    tts_id: Option<u64>,
    tts_requested_at: Duration,
    /// While more of the current turn's sentences are due: when the request went out, a
    /// sentence came or a frame played, whichever was last.
    tts_waiting_since: Option<Duration>,
    speaking: bool,
    next_frame_at: Option<Duration>,
    sent_first_frame: bool,
    pause: Option<Pause>,
    ending: Option<CallEnd>,
    ended: bool,
    no_input_at: Option<Duration>,
    respond_from: Option<u64>,

    /// Since when the far end holds the call.
    held_since: Option<Duration>,
    preroll: VecDeque<f32>,
    user: Option<UserTurn>,
    transcript: Vec<TranscriptLine>,
    /// The dialogue states the call went through, in order.
    path: Vec<String>,
    /// The latest turn's intent, with the caller's words it came from.
    last_intent: Option<TriggerIntent>,
    /// The caller's latest words.
    last_words: String,
    answering: Option<Answering>,
}

impl Call {
    pub fn new(cfg: CallConfig, vad: Box<dyn VoiceActivity>, dialogue: Box<dyn Dialogue>) -> Result<Self, EngineError> {
        if vad.sample_rate() != cfg.rate {
            return Err(EngineError::input(
                "call",
                format!("VAD runs at {} Hz, call at {} Hz", vad.sample_rate(), cfg.rate),
            ));
        }
        Ok(Call {
            detector: SpeechDetector::new(vad, cfg.vad),
            echo: EchoGate::new(cfg.echo, cfg.rate),
            playout: Playout::new(samples_per_20ms(cfg.rate)),
            dialogue,
            out: VecDeque::new(),
            now: Duration::ZERO,
            started_at: Duration::ZERO,
            next_id: 1,
            asr: HashMap::new(),
            greeted: false,
            greet_at: None,
            bot_turn: 0,
            tts_id: None,
            tts_requested_at: Duration::ZERO,
            tts_waiting_since: None,
            speaking: false,
            next_frame_at: None,
            sent_first_frame: false,
            pause: None,
            ending: None,
            ended: false,
            no_input_at: None,
            respond_from: None,
            held_since: None,
            preroll: VecDeque::new(),
            user: None,
            transcript: Vec::new(),
            path: Vec::new(),
            last_intent: None,
            last_words: String::new(),
            answering: None,
            cfg,
        })
    }

    /// Decide whether a person or an answering machine took the call before greeting
    /// (outbound calls; before `Input::Start`).
    pub fn detect_answering_machine(&mut self, cfg: AmdConfig) {
        self.answering = Some(Answering::Deciding(Box::new(Amd::new(cfg))));
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn dialogue(&self) -> &dyn Dialogue {
        self.dialogue.as_ref()
    }

    pub fn transcript(&self) -> &[TranscriptLine] {
        &self.transcript
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the call next needs `Input::Timeout` if nothing else arrives. Only deadlines
    /// that time alone can act on count: one waiting on an engine's answer would be due
    /// at once, again and again, and spin the driver.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.ended {
            return None;
        }
        let listening = self.user.as_ref().map(|_| self.now + FRAME);
        let asr_deadline = self.asr.values().map(|(_, sent)| *sent + self.asr_timeout()).min();
        if self.held_since.is_some() {
            return asr_deadline;
        }
        [
            self.next_frame_at,
            self.no_input_due(),
            self.false_interruption_due(),
            listening,
            self.greet_due(),
            self.answering_due(),
            asr_deadline,
            self.tts_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The greeting, if the callee has not started saying hello (then its end cues it)
    /// and is known to be a person when that is checked.
    fn greet_due(&self) -> Option<Duration> {
        self.greet_at.filter(|_| !self.greeted && self.user.is_none() && self.answering.is_none())
    }

    /// Detection's own deadline: a line silent past `decide_by_ms` (no audio at all), or
    /// a machine's greeting that never ends.
    fn answering_due(&self) -> Option<Duration> {
        match self.answering.as_ref()? {
            Answering::Deciding(amd) => Some(self.started_at + Duration::from_millis(amd.cfg.decide_by_ms + 1000)),
            Answering::Machine { message: Some(_), give_up_at, .. } => Some(*give_up_at),
            Answering::Machine { message: None, .. } => None,
        }
    }

    /// The no-input prompt, once neither side is talking.
    fn no_input_due(&self) -> Option<Duration> {
        self.no_input_at.filter(|_| self.user.is_none() && !self.speaking)
    }

    /// Resuming a paused bot: no words have been recognised and no decode that may yet
    /// hear some is running (a slow recogniser must not turn a barge-in into a false one).
    fn false_interruption_due(&self) -> Option<Duration> {
        let pause = self.pause.as_ref()?;
        let words = self.user.as_ref().is_some_and(|u| {
            u.partial_text.as_deref().is_some_and(|t| !t.trim().is_empty())
                || u.spec_text.as_ref().is_some_and(|(_, t)| !t.trim().is_empty())
        });
        (!words && self.asr.is_empty())
            .then(|| pause.since + Duration::from_millis(self.cfg.false_interruption_ms as u64))
    }

    /// Giving up on the bot's next sentence; not while the caller holds it paused.
    fn tts_due(&self) -> Option<Duration> {
        self.tts_waiting_since.filter(|_| self.pause.is_none()).map(|t| t + self.tts_timeout())
    }

    pub fn handle_input(&mut self, now: Duration, input: Input) {
        if self.ended {
            return;
        }
        self.now = self.now.max(now);
        match input {
            Input::Start => {
                self.started_at = self.now;
                if self.answering.is_some() {
                    tracing::debug!("answered: listening for a person or a machine before greeting");
                }
                self.greet_at = Some(self.now + Duration::from_millis(self.cfg.wait_for_callee_ms as u64));
            }
            // Held: the line carries hold music or nothing the bot should act on.
            Input::Audio(_) | Input::Dtmf(_) if self.held_since.is_some() => {}
            Input::Audio(frame) => self.on_audio(frame),
            Input::Dtmf(digit) => self.on_dtmf(digit),
            Input::Asr { id, text } => self.on_asr(id, text),
            Input::AsrFailed { id } => self.on_asr_failed(id, "error"),
            Input::Tts(chunk) => self.on_tts(chunk),
            Input::TtsFailed { id } => {
                if self.tts_id == Some(id) {
                    self.tts_failed("error");
                }
            }
            Input::MarkPlayed(_) | Input::Timeout => {}
            Input::Hold(on) => self.on_hold(on),
            Input::HangUp => {
                let machine = matches!(self.answering, Some(Answering::Machine { .. }));
                let unfinished = if machine { Outcome::Voicemail } else { Outcome::NoResponse };
                let outcome = self.ending.take().map_or(unfinished, |e| e.outcome);
                self.emit(Event::Outcome { code: outcome.code() });
                self.out.push_back(Output::Outcome(outcome));
                self.ended = true;
                return;
            }
        }
        self.tick();
    }

    fn emit(&mut self, event: Event) {
        self.emit_at(ms(self.now), event);
    }

    fn emit_at(&mut self, at_ms: u64, event: Event) {
        self.out.push_back(Output::Event(TimedEvent { at_ms, event }));
    }

    fn samples_now(&self) -> u64 {
        (self.now.as_micros() as u64) * self.cfg.rate as u64 / 1_000_000
    }

    fn samples_to_ms(&self, samples: u64) -> u64 {
        MediaTime::new(samples, self.cfg.rate).as_ms()
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    // ---- bot side ----

    fn greet(&mut self) {
        self.greeted = true;
        let turn = self.dialogue.greet();
        self.respond(turn);
    }

    fn respond(&mut self, turn: BotTurn) {
        // The turn's own intent only: a handoff for want of one (no match) has none.
        self.last_intent = turn.intent.as_ref().map(|intent| TriggerIntent {
            name: intent.name.clone(),
            confidence: intent.confidence,
            text: self.last_words.clone(),
        });
        if let Some(intent) = turn.intent {
            self.emit(Event::Intent { name: intent.name, confidence: intent.confidence, slots: intent.slots });
        }
        let state = self.dialogue.state();
        if self.path.last().map(String::as_str) != Some(state) {
            self.path.push(state.to_string());
        }
        if turn.end.is_some() {
            self.ending = turn.end;
        }
        if turn.say.trim().is_empty() {
            self.turn_done();
            return;
        }
        self.bot_turn += 1;
        let id = self.id();
        self.emit(Event::BotSay { text: turn.say.clone() });
        self.transcript.push(TranscriptLine {
            heard: None,
            speaker: "bot",
            text: turn.say.clone(),
            at_ms: ms(self.now),
        });
        self.out.push_back(Output::Tts(TtsRequest { id, text: turn.say }));
        self.tts_id = Some(id);
        self.tts_requested_at = self.now;
        self.tts_waiting_since = Some(self.now);
        self.speaking = true;
        self.sent_first_frame = false;
        self.no_input_at = None;
    }

    fn on_tts(&mut self, chunk: TtsChunk) {
        if self.tts_id != Some(chunk.id) {
            return; // a turn that was interrupted
        }
        if chunk.index == 0 {
            let ms = ms(self.now.saturating_sub(self.tts_requested_at));
            self.emit(Event::Latency { stage: StageLatency::TtsFirstAudio, ms });
        }
        self.tts_waiting_since = Some(self.now);
        self.playout.enqueue(PlayoutSegment {
            turn: self.bot_turn,
            index: chunk.index,
            text: chunk.text,
            samples: chunk.samples,
            last: chunk.last,
        });
        if self.next_frame_at.is_none() && !self.playout.is_paused() {
            self.next_frame_at = Some(self.now);
        }
    }

    /// Sends every bot frame that is due.
    fn send_due_frames(&mut self) {
        while let Some(at) = self.next_frame_at.filter(|&at| at <= self.now) {
            let Some(tick) = self.playout.next_frame() else {
                self.next_frame_at = None;
                return;
            };
            let start = MediaTime::new(at.as_micros() as u64 * self.cfg.rate as u64 / 1_000_000, self.cfg.rate);
            if !self.sent_first_frame {
                self.sent_first_frame = true;
                self.emit_at(ms(at), Event::PlayoutStart);
                if let Some(from) = self.respond_from.take() {
                    let from_ms = self.samples_to_ms(from);
                    self.emit_at(
                        ms(at),
                        Event::Latency { stage: StageLatency::Response, ms: ms(at).saturating_sub(from_ms) },
                    );
                }
            }
            self.echo.sent(start.samples, &tick.samples);
            if let Some(t) = self.tts_waiting_since.as_mut() {
                *t = (*t).max(at);
            }
            self.out.push_back(Output::Audio(Frame::new(start, tick.samples)));
            // "TURN.INDEX" after each sentence; the turn's last one is "TURN.INDEX.end".
            if let Some((turn, index)) = tick.finished {
                let end = if tick.turn_done { ".end" } else { "" };
                self.out.push_back(Output::Carrier(CarrierCommand::Mark(format!("{turn}.{index}{end}"))));
            }
            self.next_frame_at = Some(at + FRAME);
            if tick.turn_done {
                self.turn_done();
            }
        }
    }

    fn tts_timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.tts_timeout_ms as u64)
    }

    /// Synthesis failed, or the turn's next sentence is overdue (nothing came or played
    /// for the timeout): the turn ends where it is, so the call listens rather than hangs.
    fn tts_failed(&mut self, reason: &'static str) {
        tracing::warn!(reason, turn = self.bot_turn, "speech synthesis failed; the bot's turn ends early");
        self.emit(Event::TtsFailed { reason });
        self.playout.flush();
        self.turn_done();
    }

    fn expire_tts(&mut self) {
        if self.tts_due().is_some_and(|t| self.now >= t) {
            self.tts_failed("timeout");
        }
    }

    fn turn_done(&mut self) {
        let heard = self.playout.heard_text();
        if self.speaking {
            self.emit(Event::PlayoutStop { reason: "done", heard_text: heard });
        }
        self.speaking = false;
        self.tts_id = None;
        self.tts_waiting_since = None;
        self.next_frame_at = None;
        self.pause = None;
        if self.ending.is_some() {
            self.finish();
        } else {
            self.no_input_at = Some(self.now + Duration::from_millis(self.cfg.no_input_ms as u64));
        }
    }

    fn finish(&mut self) {
        let Some(end) = self.ending.take() else { return };
        if let Some(reason) = end.handoff {
            let packet = HandoffPacket {
                flow: self.dialogue.flow().into(),
                state: self.dialogue.state().into(),
                path: self.path.clone(),
                slots: self.dialogue.slots(),
                transcript: self.transcript.clone(),
                trigger: self.last_intent.clone(),
                reason: reason.clone(),
            };
            self.emit(Event::Handoff { reason });
            self.out.push_back(Output::Handoff(packet));
        }
        self.emit(Event::Outcome { code: end.outcome.code() });
        self.out.push_back(Output::Outcome(end.outcome));
        self.out.push_back(Output::HangUp);
        self.ended = true;
    }

    /// Caller speech over the bot: stop sending now, decide once words are known.
    fn pause_for_barge_in(&mut self) {
        self.playout.pause();
        self.next_frame_at = None;
        self.pause = Some(Pause { since: self.now });
        // No clear yet: frames go out in real time, so the carrier holds little, and a
        // backchannel must resume without a gap.
        self.emit(Event::PlayoutPause);
    }

    fn resume(&mut self, reason: &'static str) {
        if reason == "false_interruption" {
            self.playout.restart_sentence();
        } else {
            self.playout.resume();
        }
        self.pause = None;
        self.user = None;
        self.next_frame_at = Some(self.now);
        if let Some(t) = self.tts_waiting_since.as_mut() {
            *t = self.now; // the pause was the caller's, not synthesis being late
        }
        self.emit(Event::PlayoutResume { reason });
    }

    /// The caller really interrupted: drop the rest of the bot's turn.
    fn yield_turn(&mut self) {
        self.out.push_back(Output::Carrier(CarrierCommand::Clear));
        let heard = self.playout.flush();
        // What the caller heard of the bot's line before cutting in, for the record.
        if let Some(line) = self.transcript.iter_mut().rev().find(|l| l.speaker == "bot") {
            line.heard = Some(heard.clone());
        }
        self.emit(Event::PlayoutStop { reason: "barge_in", heard_text: heard });
        self.speaking = false;
        self.tts_id = None;
        self.tts_waiting_since = None;
        self.next_frame_at = None;
        self.pause = None;
    }

    // ---- caller side ----

    fn on_audio(&mut self, frame: Frame) {
        if frame.rate() != self.cfg.rate {
            tracing::warn!(rate = frame.rate(), call_rate = self.cfg.rate, "dropping caller frame at the wrong rate");
            return;
        }
        if self.listen_for_machine(&frame) {
            return;
        }
        let keep = (self.cfg.preroll_ms as usize * self.cfg.rate as usize / 1000).max(frame.samples.len());
        self.preroll.extend(frame.samples.iter().copied());
        while self.preroll.len() > keep {
            self.preroll.pop_front();
        }
        if let Some(user) = self.user.as_mut() {
            user.audio.extend_from_slice(&frame.samples);
        }
        self.echo.observe(frame.start.samples, &frame.samples, self.detector.in_speech());
        let echo = &self.echo;
        let decisions = match self.detector.push(&frame, |s, e| echo.floor(s, e)) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "VAD failed on a caller frame");
                return;
            }
        };
        let frame_end = frame.end().samples;
        for d in decisions {
            if let Some(onset) = d.onset {
                if self.user.is_none() {
                    self.start_user_turn(onset.samples, frame_end);
                }
            }
            if let (true, Some(user)) = (d.voiced, self.user.as_mut()) {
                let chunk = d.end.samples.saturating_sub(user.last_voiced_end.max(user.onset));
                user.last_voiced_end = d.end.samples;
                user.voiced_since_partial += chunk;
            }
        }
        self.check_barge_in();
        self.maybe_request_partial();
    }

    fn start_user_turn(&mut self, onset: u64, frame_end: u64) {
        let audio: Vec<f32> = self.preroll.iter().copied().collect();
        let audio_start = frame_end - audio.len() as u64;
        self.user = Some(UserTurn {
            onset,
            audio_start,
            audio,
            last_voiced_end: onset,
            voiced_since_partial: 0,
            partial_in_flight: false,
            partial_text: None,
            latest_text: None,
            spec_requested_for: None,
            spec_text: None,
            final_id: None,
        });
        self.no_input_at = None;
        let at = self.samples_to_ms(onset);
        self.emit_at(at, Event::SpeechStart);
    }

    fn check_barge_in(&mut self) {
        let Some(user) = &self.user else { return };
        let min = self.cfg.barge_in_min_ms as u64 * self.cfg.rate as u64 / 1000;
        let talking_over = self.playout.is_playing() && self.speaking && self.pause.is_none() && self.ending.is_none();
        if talking_over && user.last_voiced_end.saturating_sub(user.onset) >= min {
            self.pause_for_barge_in();
        }
    }

    /// Audio of the current turn up to `until` (samples), plus a short tail.
    fn turn_audio(&self, until: u64) -> Vec<f32> {
        let Some(user) = &self.user else { return Vec::new() };
        let tail = TAIL_MS * self.cfg.rate as u64 / 1000;
        let end = (until + tail).saturating_sub(user.audio_start) as usize;
        user.audio[..end.min(user.audio.len())].to_vec()
    }

    fn request_asr(&mut self, kind: AsrKind, until: u64) -> u64 {
        let id = self.id();
        let audio = self.turn_audio(until);
        let prompt = self.dialogue.asr_prompt();
        self.asr.insert(id, (kind, self.now));
        self.out.push_back(Output::Asr(AsrRequest {
            id,
            audio,
            rate: self.cfg.rate,
            partial: kind == AsrKind::Partial,
            prompt,
        }));
        id
    }

    /// Partials only while the bot talks, where their words decide a barge-in. While it
    /// listens they would only occupy the decoder a final decode then queues behind.
    fn maybe_request_partial(&mut self) {
        let every = self.cfg.partial_every_ms as u64 * self.cfg.rate as u64 / 1000;
        let Some(user) = &self.user else { return };
        if !self.speaking || user.partial_in_flight || user.final_id.is_some() || user.voiced_since_partial < every {
            return;
        }
        let until = user.last_voiced_end;
        self.request_asr(AsrKind::Partial, until);
        if let Some(user) = self.user.as_mut() {
            user.partial_in_flight = true;
            user.voiced_since_partial = 0;
        }
    }

    /// Speculative decode at the first short silence; end of turn once the silence is
    /// long enough for what has been said.
    fn check_endpoint(&mut self) {
        let endpoint = self.dialogue.endpoint();
        let now = self.samples_now();
        let Some(user) = &self.user else { return };
        if user.final_id.is_some() {
            return;
        }
        let voiced_end = user.last_voiced_end;
        let silence_ms = self.samples_to_ms(now.saturating_sub(voiced_end));
        let too_long = self.samples_to_ms(now.saturating_sub(user.onset)) >= endpoint.max_turn_ms as u64;
        if silence_ms >= endpoint.speculative_ms as u64 && user.spec_requested_for != Some(voiced_end) {
            self.request_asr(AsrKind::Speculative { covers: voiced_end }, voiced_end);
            if let Some(user) = self.user.as_mut() {
                user.spec_requested_for = Some(voiced_end);
            }
        }
        let Some(user) = &self.user else { return };
        let spec = user.spec_text.as_ref().filter(|(covers, _)| *covers == voiced_end).map(|(_, t)| t.clone());
        let hypothesis = spec.clone().or_else(|| user.latest_text.clone());
        if silence_ms < endpoint.wait_ms(hypothesis.as_deref()) as u64 && !too_long {
            return;
        }
        let at = self.samples_to_ms(voiced_end);
        self.emit_at(at, Event::SpeechEnd);
        self.emit(Event::Latency { stage: StageLatency::EndpointWait, ms: silence_ms });
        self.respond_from = Some(voiced_end);
        if let Some(text) = spec {
            self.finalize(text);
            return;
        }
        let in_flight =
            self.asr.iter().find(|(_, (k, _))| *k == AsrKind::Speculative { covers: voiced_end }).map(|(id, _)| *id);
        let id = match in_flight {
            Some(id) => id,
            None => self.request_asr(AsrKind::Final, voiced_end),
        };
        if let Some(user) = self.user.as_mut() {
            user.final_id = Some(id);
        }
    }

    fn on_asr(&mut self, id: u64, text: String) {
        let Some((kind, sent)) = self.asr.remove(&id) else { return };
        let latency = ms(self.now.saturating_sub(sent));
        self.emit(Event::Latency { stage: StageLatency::Asr, ms: latency });
        if kind == AsrKind::Amd {
            return self.amd_heard(Some(&text));
        }
        let Some(user) = self.user.as_mut() else { return };
        if user.final_id == Some(id) {
            self.finalize(text);
            return;
        }
        user.latest_text = Some(text.clone());
        match kind {
            AsrKind::Partial => {
                user.partial_in_flight = false;
                user.partial_text = Some(text.clone());
            }
            AsrKind::Speculative { covers } => user.spec_text = Some((covers, text.clone())),
            AsrKind::Final | AsrKind::Amd => {}
        }
        if !text.is_empty() {
            self.emit(Event::AsrPartial { text: text.clone() });
        }
        if self.pause.is_some() && classify_interjection(&text, false) == Interjection::Interrupt {
            self.yield_turn();
        }
    }

    /// Time since the call was answered: the dialogue's clock.
    fn elapsed(&self) -> Duration {
        self.now.saturating_sub(self.started_at)
    }

    fn asr_timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.asr_timeout_ms as u64)
    }

    /// Requests whose results are overdue are given up, so no turn waits for ever.
    fn expire_asr(&mut self) {
        let timeout = self.asr_timeout();
        let overdue: Vec<u64> =
            self.asr.iter().filter(|(_, (_, sent))| self.now >= *sent + timeout).map(|(id, _)| *id).collect();
        for id in overdue {
            self.on_asr_failed(id, "timeout");
        }
    }

    /// A request that failed or timed out: a partial or speculative one is forgotten
    /// (the final decode still comes); the final one ends the turn as not understood.
    fn on_asr_failed(&mut self, id: u64, reason: &'static str) {
        let Some((kind, _)) = self.asr.remove(&id) else { return };
        let final_result = self.user.as_ref().is_some_and(|u| u.final_id == Some(id));
        self.emit(Event::AsrFailed { reason, final_result });
        tracing::warn!(id, reason, final_result, "speech recognition request failed");
        if kind == AsrKind::Amd {
            return self.amd_heard(None);
        }
        let Some(user) = self.user.as_mut() else { return };
        match kind {
            AsrKind::Partial => user.partial_in_flight = false,
            AsrKind::Speculative { covers } if !final_result => {
                // Let the endpoint request a plain final decode for this speech.
                user.spec_requested_for = user.spec_requested_for.filter(|c| *c != covers);
            }
            _ => {}
        }
        if final_result {
            self.finalize_unheard();
        }
    }

    /// The turn ended but its words are unknown: ask again rather than guess.
    fn finalize_unheard(&mut self) {
        if self.pause.is_some() || self.speaking {
            self.yield_turn();
        }
        self.user = None;
        self.transcript.push(TranscriptLine {
            heard: None,
            speaker: "caller",
            text: "[not recognised]".into(),
            at_ms: ms(self.now),
        });
        if !self.greeted {
            if self.answering.is_none() {
                self.greet();
            }
            return;
        }
        let turn = self.dialogue.on_text(self.elapsed(), "");
        self.respond(turn);
    }

    /// The caller's turn is over with `text`.
    fn finalize(&mut self, text: String) {
        self.emit(Event::AsrFinal { text: text.clone() });
        let class = classify_interjection(&text, self.playout.question_asked());
        if self.pause.is_some() {
            match class {
                Interjection::Backchannel => return self.resume("backchannel"),
                Interjection::Empty => return self.resume("false_interruption"),
                Interjection::Interrupt | Interjection::Answer => self.yield_turn(),
            }
        } else if self.speaking {
            // Short speech under the barge-in minimum while the bot talks.
            if !matches!(class, Interjection::Interrupt | Interjection::Answer) {
                self.user = None;
                return;
            }
            self.yield_turn();
        }
        self.user = None;
        if text.trim().is_empty() {
            self.respond_from = None;
            if !self.speaking {
                self.no_input_at = Some(self.now + Duration::from_millis(self.cfg.no_input_ms as u64));
            }
            return;
        }
        self.transcript.push(TranscriptLine {
            heard: None,
            speaker: "caller",
            text: text.clone(),
            at_ms: ms(self.now),
        });
        self.last_words = text.clone();
        if !self.greeted {
            if let Some(Answering::Deciding(amd)) = self.answering.as_mut() {
                // Heard while deciding: the words count, the greeting waits for the decision.
                if let Some(decision) = amd.on_text(&text) {
                    self.answered_by(decision);
                }
                return;
            }
            // The callee's "hello?" on answering: the cue to greet.
            return self.greet();
        }
        let turn = self.dialogue.on_text(self.elapsed(), &text);
        self.respond(turn);
    }

    fn on_dtmf(&mut self, digit: char) {
        match &self.answering {
            // A key pressed on answering: a person, who is greeted (the key itself means nothing yet).
            Some(Answering::Deciding(_)) => return self.answered_by(Decision::Human("pressed a key".into())),
            Some(Answering::Machine { .. }) => return,
            None => {}
        }
        self.emit(Event::Dtmf { digit: digit.to_string() });
        if self.speaking {
            self.yield_turn();
        }
        self.user = None;
        self.transcript.push(TranscriptLine {
            heard: None,
            speaker: "caller",
            text: format!("[dtmf {digit}]"),
            at_ms: ms(self.now),
        });
        let turn = self.dialogue.on_dtmf(self.elapsed(), digit);
        self.respond(turn);
    }

    /// Hold freezes the call: caller audio is ignored, nothing plays, and when it resumes
    /// every pending deadline moves on by the time held.
    fn on_hold(&mut self, on: bool) {
        match (on, self.held_since) {
            (true, None) => {
                self.held_since = Some(self.now);
                // A turn half heard before the hold is dropped, not answered later.
                self.user = None;
                self.emit(Event::Hold { on: true });
            }
            (false, Some(since)) => {
                self.held_since = None;
                let held = self.now.saturating_sub(since);
                for t in
                    [&mut self.greet_at, &mut self.no_input_at, &mut self.next_frame_at, &mut self.tts_waiting_since]
                {
                    if let Some(t) = t.as_mut() {
                        *t += held;
                    }
                }
                if let Some(p) = self.pause.as_mut() {
                    p.since += held;
                }
                self.emit(Event::Hold { on: false });
            }
            _ => {}
        }
    }

    fn tick(&mut self) {
        if self.ended {
            return;
        }
        if self.held_since.is_some() {
            self.expire_asr();
            return;
        }
        if self.answering_due().is_some_and(|t| self.now >= t) {
            self.answering_timed_out();
        }
        self.request_amd_asr();
        if self.greet_due().is_some_and(|t| self.now >= t) {
            self.greet();
        }
        self.send_due_frames();
        self.expire_asr();
        self.expire_tts();
        self.check_endpoint();
        if self.false_interruption_due().is_some_and(|t| self.now >= t) {
            self.resume("false_interruption");
        }
        if self.no_input_due().is_some_and(|t| self.now >= t) {
            self.no_input_at = None;
            let turn = self.dialogue.on_no_input(self.elapsed());
            self.respond(turn);
        }
        self.send_due_frames();
    }

    // ---- answering-machine detection ----

    /// Feeds detection; true when the frame is for it alone (a machine is on the line).
    fn listen_for_machine(&mut self, frame: &Frame) -> bool {
        match self.answering.as_mut() {
            None => false,
            Some(Answering::Deciding(amd)) => {
                if let Some(decision) = amd.on_audio(&frame.samples, self.cfg.rate) {
                    self.answered_by(decision);
                }
                matches!(self.answering, Some(Answering::Machine { .. }))
            }
            Some(Answering::Machine { amd, message, .. }) => {
                amd.on_audio(&frame.samples, self.cfg.rate);
                if amd.greeting_over() {
                    if let Some(turn) = message.take() {
                        tracing::info!("the answering machine's greeting is over: leaving the message");
                        self.respond(turn);
                    }
                }
                true
            }
        }
    }

    /// A transcript of the callee's first seconds, when detection wants one.
    fn request_amd_asr(&mut self) {
        let Some(Answering::Deciding(amd)) = self.answering.as_mut() else { return };
        let Some(audio) = amd.asr_due() else { return };
        let id = self.next_id + 1;
        amd.asr_sent(id);
        self.next_id = id;
        self.asr.insert(id, (AsrKind::Amd, self.now));
        let prompt = self.dialogue.asr_prompt();
        self.out.push_back(Output::Asr(AsrRequest { id, audio, rate: 8000, partial: true, prompt }));
    }

    /// A detection transcript came back (`None`: it failed).
    fn amd_heard(&mut self, text: Option<&str>) {
        let Some(Answering::Deciding(amd)) = self.answering.as_mut() else { return };
        amd.asr_in_flight = None;
        if let Some(decision) = text.and_then(|t| amd.on_text(t)) {
            self.answered_by(decision);
        }
    }

    fn answering_timed_out(&mut self) {
        match self.answering.as_mut() {
            Some(Answering::Deciding(amd)) => {
                let decision = amd.give_up();
                self.answered_by(decision);
            }
            Some(Answering::Machine { message, .. }) => {
                if message.take().is_none() {
                    return; // the message is playing
                }
                tracing::info!("the answering machine's greeting did not end: hanging up without a message");
                let end = CallEnd { outcome: Outcome::Voicemail, handoff: None };
                self.respond(BotTurn { say: String::new(), intent: None, end: Some(end) });
            }
            None => {}
        }
    }

    fn answered_by(&mut self, decision: Decision) {
        let Some(Answering::Deciding(amd)) = self.answering.take() else { return };
        let (by, reason) = match decision {
            Decision::Human(r) => ("human", r),
            Decision::Machine(r) => ("machine", r),
        };
        tracing::info!(by, reason, "answered by");
        self.emit(Event::AnsweredBy { by, reason });
        if by == "human" {
            // Greet now, or when the callee's hello (still going) ends.
            self.greet_at = Some(self.now);
            return;
        }
        // The machine's greeting is not a caller turn.
        self.user = None;
        self.ending = Some(CallEnd { outcome: Outcome::Voicemail, handoff: None });
        let turn = self.dialogue.on_voicemail();
        let give_up_at = self.now + Duration::from_millis(self.cfg.voicemail_wait_ms as u64);
        // Nothing to say (hang up), or the greeting is already over: now; else at its end.
        let (message, now) =
            if turn.say.trim().is_empty() || amd.greeting_over() { (None, Some(turn)) } else { (Some(turn), None) };
        self.answering = Some(Answering::Machine { amd, message, give_up_at });
        if let Some(turn) = now {
            self.respond(turn);
        }
    }
}
