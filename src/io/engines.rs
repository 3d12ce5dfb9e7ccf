//! The engines shared by every live call: the Whisper worker pool and one voice with its
//! prompt cache. Requests run on blocking threads; each result goes back on the
//! requesting call's channel, so calls never wait on each other's replies.

use std::sync::{mpsc as std_mpsc, Arc, Mutex};

use tokio::sync::mpsc;

use super::driver::EngineHub;
use super::metrics::Metrics;
use crate::call::{AsrRequest, Input, TtsChunk, TtsRequest};
use crate::engines::{split_for_speech, AsrJob, AsrOptions, AsrPool, EngineError, TtsService};
use crate::media::resample;

/// The engines as the server uses them: the hub every call talks to, plus what the
/// server itself needs (warming the prompt cache, the backlog admission looks at).
pub trait ServerEngines: EngineHub {
    /// Renders text every call shares (the flows' static prompts) once, up front.
    fn prerender(&self, texts: &[String]) -> Result<(), EngineError>;
    /// Recognition requests waiting for a worker.
    fn asr_backlog(&self) -> usize;
}

pub struct LiveEngines {
    asr: AsrPool,
    tts: Arc<Mutex<TtsService>>,
    metrics: Arc<Metrics>,
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
    pub fn new(asr: AsrPool, tts: TtsService, metrics: Arc<Metrics>) -> Self {
        LiveEngines { asr, tts: Arc::new(Mutex::new(tts)), metrics }
    }
}

impl ServerEngines for LiveEngines {
    /// The voice is locked per prompt, so live calls' sentences go in between.
    fn prerender(&self, texts: &[String]) -> Result<(), EngineError> {
        for text in texts {
            self.tts.lock().map_err(|_| EngineError::Closed { engine: "tts" })?.prerender(text)?;
        }
        Ok(())
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
        let options = AsrOptions { prompt: request.prompt, audio_ctx: None, partial: request.partial };
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
        let tts = self.tts.clone();
        let mut queued = Queued::new(&self.metrics, "voxline_tts_queue_depth", "voxline_tts_wait_ms");
        tokio::task::spawn_blocking(move || {
            let sentences = split_for_speech(&request.text);
            let n = sentences.len();
            for (i, sentence) in sentences.iter().enumerate() {
                let speech = tts
                    .lock()
                    .map_err(|_| EngineError::Closed { engine: "tts" })
                    .and_then(|mut t| t.sentence(sentence));
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
