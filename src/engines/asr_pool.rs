//! A fixed pool of Whisper workers, one `WhisperState` each. Jobs carry their own
//! reply channel so a call (or a test) receives exactly its results.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::whisper::{AsrOptions, Transcript, WhisperAsr};
use super::{EngineError, SpeechToText};

pub struct AsrJob {
    /// Caller's tag, echoed in the reply (e.g. a call id + utterance number).
    pub id: u64,
    pub audio_16k: Vec<f32>,
    pub options: AsrOptions,
    pub reply: Sender<AsrReply>,
}

#[derive(Debug)]
pub struct AsrReply {
    pub id: u64,
    pub partial: bool,
    pub result: Result<Transcript, EngineError>,
}

pub struct AsrPool {
    jobs: Option<Sender<AsrJob>>,
    workers: Vec<JoinHandle<()>>,
}

impl AsrPool {
    /// `workers` threads, each decoding with the model's configured thread count.
    pub fn new(model: &WhisperAsr, workers: usize) -> Result<Self, EngineError> {
        let (tx, rx) = channel::<AsrJob>();
        let rx = Arc::new(Mutex::new(rx));
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let mut state = model.new_state()?;
            let (model, rx) = (model.clone(), rx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("asr-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let result = model.decode(&mut state, &job.audio_16k, &job.options);
                    // A caller that hung up no longer wants the result.
                    let _ = job.reply.send(AsrReply { id: job.id, partial: job.options.partial, result });
                })
                .map_err(|e| EngineError::runtime("whisper", e))?;
            handles.push(handle);
        }
        Ok(AsrPool { jobs: Some(tx), workers: handles })
    }

    /// Queues a decode; the reply arrives on `job.reply`.
    pub fn submit(&self, job: AsrJob) -> Result<(), EngineError> {
        let jobs = self.jobs.as_ref().ok_or(EngineError::Closed { engine: "whisper" })?;
        jobs.send(job).map_err(|_| EngineError::Closed { engine: "whisper" })
    }

    /// Convenience: submit and wait.
    pub fn transcribe_blocking(&self, audio_16k: Vec<f32>, options: AsrOptions) -> Result<Transcript, EngineError> {
        let (reply, rx): (Sender<AsrReply>, Receiver<AsrReply>) = channel();
        self.submit(AsrJob { id: 0, audio_16k, options, reply })?;
        rx.recv().map_err(|_| EngineError::Closed { engine: "whisper" })?.result
    }
}

impl SpeechToText for AsrPool {
    fn transcribe(&self, audio_16k: &[f32], options: &AsrOptions) -> Result<Transcript, EngineError> {
        self.transcribe_blocking(audio_16k.to_vec(), options.clone())
    }
}

impl Drop for AsrPool {
    fn drop(&mut self) {
        self.jobs.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
