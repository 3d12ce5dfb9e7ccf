//! The engines shared by every live call: the Whisper worker pool and one voice with its
//! prompt cache. Requests run on blocking threads; each result goes back on the
//! requesting call's channel, so calls never wait on each other's replies.

use std::sync::{mpsc as std_mpsc, Arc, Mutex};

use tokio::sync::mpsc;

use super::driver::EngineHub;
use crate::call::{AsrRequest, Input, TtsChunk, TtsRequest};
use crate::engines::{split_for_speech, AsrJob, AsrOptions, AsrPool, EngineError, TtsService};
use crate::media::resample;

pub struct LiveEngines {
    asr: AsrPool,
    tts: Arc<Mutex<TtsService>>,
}

impl LiveEngines {
    /// `tts` must deliver audio at the calls' rate (`TtsService::with_output_rate`).
    pub fn new(asr: AsrPool, tts: TtsService) -> Self {
        LiveEngines { asr, tts: Arc::new(Mutex::new(tts)) }
    }

    /// Renders text every call shares (the flows' static prompts) once, up front.
    /// The voice is locked per prompt, so live calls' sentences go in between.
    pub fn prerender(&self, texts: &[String]) -> Result<(), EngineError> {
        for text in texts {
            self.tts.lock().map_err(|_| EngineError::Closed { engine: "tts" })?.prerender(text)?;
        }
        Ok(())
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
        if let Err(e) = self.asr.submit(AsrJob { id, audio_16k: audio, options, reply: tx }) {
            tracing::warn!(error = %e, "ASR pool closed");
            let _ = reply.send(Input::AsrFailed { id });
            return;
        }
        tokio::task::spawn_blocking(move || {
            let input = match rx.recv().map(|r| r.result) {
                Ok(Ok(t)) => Input::Asr { id, text: t.text },
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
        tokio::task::spawn_blocking(move || {
            let sentences = split_for_speech(&request.text);
            let n = sentences.len();
            for (i, sentence) in sentences.iter().enumerate() {
                let speech = tts
                    .lock()
                    .map_err(|_| EngineError::Closed { engine: "tts" })
                    .and_then(|mut t| t.sentence(sentence));
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
