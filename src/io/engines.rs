//! The engines shared by every live call: the Whisper worker pool and one voice with its
//! prompt cache. Requests run on blocking threads; each result goes back on the
//! requesting call's channel, so calls never wait on each other's replies.

use std::sync::{mpsc as std_mpsc, Arc, Mutex};

use tokio::sync::mpsc;

use super::driver::EngineHub;
use super::metrics::Metrics;
use crate::call::{AsrRequest, Input, TtsChunk, TtsRequest};
use crate::engines::{
    split_for_speech, AsrJob, AsrOptions, AsrPool, ComputeGate, EngineError, Priority, Speech, TtsService, Turn,
};
use crate::media::resample;

/// The engines as the server uses them: the hub every call talks to, plus what the
/// server itself needs (warming the prompt cache, the backlog admission looks at).
pub trait ServerEngines: EngineHub {
    /// Renders text every call shares (the flows' static prompts) once, up front.
    fn prerender(&self, texts: &[String]) -> Result<(), EngineError>;
    /// Renders one call's own text (its greeting) in the background, ahead of need: while
    /// the phone rings, or while the callee says hello.
    fn prepare(&self, texts: Vec<String>);
    /// Recognition requests waiting for a worker.
    fn asr_backlog(&self) -> usize;
}

pub struct LiveEngines {
    asr: AsrPool,
    voice: Voice,
    metrics: Arc<Metrics>,
}

/// The one voice and its cache; a render (a sentence not in the cache) first takes its
/// turn at the cores, which the ASR pool shares. Lock order: the gate, then the voice;
/// nothing waits for the gate while it holds the voice.
#[derive(Clone)]
struct Voice {
    tts: Arc<Mutex<TtsService>>,
    gate: ComputeGate,
}

impl Voice {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, TtsService>, EngineError> {
        self.tts.lock().map_err(|_| EngineError::Closed { engine: "tts" })
    }

    fn sentence(&self, sentence: &str, priority: Priority) -> Result<Speech, EngineError> {
        let t0 = std::time::Instant::now();
        let _turn = self.turn_for(sentence, priority)?;
        let t1 = std::time::Instant::now();
        let speech = self.lock()?.sentence(sentence);
        tracing::debug!(
            chars = sentence.len(),
            gate_ms = (t1 - t0).as_millis() as u64,
            render_ms = t1.elapsed().as_millis() as u64,
            "sentence"
        );
        speech
    }

    /// A turn at the cores, unless the sentence is cached. The voice is unlocked before
    /// waiting: a render holding the gate must be able to take it.
    fn turn_for(&self, sentence: &str, priority: Priority) -> Result<Option<Turn<'_>>, EngineError> {
        let cached = self.lock()?.has(sentence);
        Ok((!cached).then(|| self.gate.enter(priority)))
    }

    /// Renders ahead of need: pinned for the process, or into the bounded cache.
    fn ahead(&self, sentence: &str, pin: bool) -> Result<(), EngineError> {
        let t0 = std::time::Instant::now();
        let _turn = self.turn_for(sentence, Priority::Background)?;
        tracing::debug!(chars = sentence.len(), pin, gate_ms = t0.elapsed().as_millis() as u64, "render ahead");
        let mut t = self.lock()?;
        if pin {
            t.prerender(sentence)
        } else {
            t.prepare(sentence)
        }
    }
}

/// Counts a request in its queue-depth gauge until dropped, and its wait on `done`.
struct Queued {
    metrics: Arc<Metrics>,
    depth: &'static str,
    wait: &'static str,
    since: std::time::Instant,
    counted: bool,
}

impl Queued {
    fn new(metrics: &Arc<Metrics>, depth: &'static str, wait: &'static str) -> Self {
        metrics.gauge_add(depth, &[], 1);
        Queued { metrics: metrics.clone(), depth, wait, since: std::time::Instant::now(), counted: false }
    }

    /// The first answer came after waiting `wait` (default: since queued); observed once.
    fn answered(&mut self, wait: Option<std::time::Duration>) {
        if !self.counted {
            self.counted = true;
            let wait = wait.unwrap_or_else(|| self.since.elapsed());
            self.metrics.observe(self.wait, &[], wait.as_secs_f64() * 1000.0);
        }
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.metrics.gauge_add(self.depth, &[], -1);
    }
}

impl LiveEngines {
    /// `tts` must deliver audio at the calls' rate (`TtsService::with_output_rate`).
    /// `gate` is the one `asr`'s workers take turns at.
    pub fn new(asr: AsrPool, tts: TtsService, gate: ComputeGate, metrics: Arc<Metrics>) -> Self {
        LiveEngines { asr, voice: Voice { tts: Arc::new(Mutex::new(tts)), gate }, metrics }
    }
}

impl ServerEngines for LiveEngines {
    /// Whisper first decodes once (a cold first decode takes seconds: buffers, caches),
    /// then the prompts render a sentence at a time in the background, so live calls'
    /// work goes first.
    fn prerender(&self, texts: &[String]) -> Result<(), EngineError> {
        let (tx, rx) = std_mpsc::channel();
        // 2 s of quiet noise: decoded like speech, recognised as nothing.
        let noise = (0..32_000u32).map(|i| ((i.wrapping_mul(2_654_435_761) >> 16) as f32 / 65_536.0 - 0.5) * 0.01);
        let job = AsrJob { id: 0, audio_16k: noise.collect(), options: AsrOptions::default(), reply: tx };
        self.asr.submit(job)?;
        rx.recv().map_err(|_| EngineError::Closed { engine: "whisper" })?.result?;
        for sentence in texts.iter().flat_map(|t| split_for_speech(t)) {
            self.voice.ahead(&sentence, true)?;
        }
        Ok(())
    }

    /// Only the first sentence (often the greeting's first clause): the rest renders while
    /// it plays.
    fn prepare(&self, texts: Vec<String>) {
        let voice = self.voice.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(first) = texts.iter().flat_map(|t| split_for_speech(t)).next() {
                if let Err(e) = voice.ahead(&first, false) {
                    tracing::warn!(error = %e, "a call's greeting was not rendered ahead");
                }
            }
        });
    }

    fn asr_backlog(&self) -> usize {
        self.asr.queued()
    }
}

/// The media-path bench mode: recognition hears nothing and every sentence "speaks" as
/// a quiet tone (60 ms per character, 0.3-6 s), both at once and at no cost, so a load
/// bench measures VAD, playout and framing alone.
pub struct SilentEngines;

impl EngineHub for SilentEngines {
    fn transcribe(&self, request: AsrRequest, reply: mpsc::UnboundedSender<Input>) {
        let _ = reply.send(Input::Asr { id: request.id, text: String::new() });
    }

    fn synthesize(&self, request: TtsRequest, reply: mpsc::UnboundedSender<Input>) {
        let sentences = split_for_speech(&request.text);
        let n = sentences.len();
        for (i, sentence) in sentences.into_iter().enumerate() {
            let len = (sentence.len() * 480).clamp(2400, 48_000);
            let samples = (0..len).map(|k| 0.05 * (k as f32 * std::f32::consts::TAU * 440.0 / 8000.0).sin()).collect();
            let chunk =
                TtsChunk { id: request.id, index: i as u32, text: sentence, samples, last: i + 1 == n, cached: true };
            let _ = reply.send(Input::Tts(chunk));
        }
    }
}

impl ServerEngines for SilentEngines {
    fn prerender(&self, _: &[String]) -> Result<(), EngineError> {
        Ok(())
    }

    fn prepare(&self, _: Vec<String>) {}

    fn asr_backlog(&self) -> usize {
        0
    }
}

impl EngineHub for LiveEngines {
    fn transcribe(&self, request: AsrRequest, reply: mpsc::UnboundedSender<Input>) {
        let id = request.id;
        let audio = match resample(&request.audio, request.rate, 16_000) {
            Ok(audio) => audio,
            Err(e) => {
                tracing::warn!(error = %e, "cannot resample caller audio for ASR");
                let _ = reply.send(Input::AsrFailed { id });
                return;
            }
        };
        let options =
            AsrOptions { prompt: request.prompt, audio_ctx: None, partial: request.partial, greedy_only: true };
        let (tx, rx) = std_mpsc::channel();
        let mut queued = Queued::new(&self.metrics, "voxline_asr_queue_depth", "voxline_asr_wait_ms");
        if let Err(e) = self.asr.submit(AsrJob { id, audio_16k: audio, options, reply: tx }) {
            tracing::warn!(error = %e, "ASR pool closed");
            let _ = reply.send(Input::AsrFailed { id });
            return;
        }
        tokio::task::spawn_blocking(move || {
            let answer = rx.recv();
            queued.answered(answer.as_ref().ok().map(|r| r.queued));
            let input = match answer.map(|r| r.result) {
                Ok(Ok(t)) => Input::Asr { id, text: t.text },
                Ok(Err(EngineError::Dropped { .. })) => Input::AsrFailed { id },
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "transcription failed");
                    Input::AsrFailed { id }
                }
                Err(_) => Input::AsrFailed { id },
            };
            let _ = reply.send(input);
        });
    }

    fn synthesize(&self, request: TtsRequest, reply: mpsc::UnboundedSender<Input>) {
        let voice = self.voice.clone();
        let mut queued = Queued::new(&self.metrics, "voxline_tts_queue_depth", "voxline_tts_wait_ms");
        tokio::task::spawn_blocking(move || {
            let sentences = split_for_speech(&request.text);
            let n = sentences.len();
            for (i, sentence) in sentences.iter().enumerate() {
                let speech = voice.sentence(sentence, Priority::Urgent);
                queued.answered(None);
                let input = match speech {
                    Ok(s) => Input::Tts(TtsChunk {
                        id: request.id,
                        index: i as u32,
                        text: s.text,
                        samples: s.samples,
                        last: i + 1 == n,
                        cached: s.cached,
                    }),
                    Err(e) => {
                        tracing::warn!(error = %e, "synthesis failed");
                        let _ = reply.send(Input::TtsFailed { id: request.id });
                        return;
                    }
                };
                // A call that hung up no longer wants the rest.
                if reply.send(input).is_err() {
                    return;
                }
            }
        });
    }
}
