//! A fixed pool of Whisper workers, one `WhisperState` each, fed by one scheduler
//! queue across every call: finals before partials, oldest first; when the pool is
//! behind, a partial that has waited too long is dropped (answered with
//! [`EngineError::Dropped`]) rather than decoded late, so a busy pool spends itself on
//! the results calls wait for. Jobs carry
//! their own reply channel so a call (or a test) receives exactly its results.

use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::gate::{ComputeGate, Priority};
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
    /// Time the job spent queued before a worker took it (or dropped it).
    pub queued: Duration,
}

/// A partial that waited longer than this is stale: the caller has said more since.
const PARTIAL_MAX_WAIT: Duration = Duration::from_millis(300);

#[derive(Default)]
struct Queue {
    finals: VecDeque<(Instant, AsrJob)>,
    partials: VecDeque<(Instant, AsrJob)>,
    closed: bool,
}

impl Queue {
    /// The next job to decode, answering stale partials on the way.
    fn next(&mut self, now: Instant) -> Option<(Instant, AsrJob)> {
        if let Some(job) = self.finals.pop_front() {
            return Some(job);
        }
        while let Some((at, job)) = self.partials.pop_front() {
            // Stale and behind: newer requests wait after it.
            if now.duration_since(at) <= PARTIAL_MAX_WAIT || self.partials.is_empty() {
                return Some((at, job));
            }
            let _ = job.reply.send(AsrReply {
                id: job.id,
                partial: true,
                result: Err(EngineError::Dropped { engine: "whisper" }),
                queued: now.duration_since(at),
            });
        }
        None
    }

    fn len(&self) -> usize {
        self.finals.len() + self.partials.len()
    }
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

pub struct AsrPool {
    queue: Shared,
    workers: Vec<JoinHandle<()>>,
}

impl AsrPool {
    /// `workers` threads, each decoding with the model's configured thread count.
    pub fn new(model: &WhisperAsr, workers: usize) -> Result<Self, EngineError> {
        Self::with_gate(model, workers, ComputeGate::default())
    }

    /// As [`AsrPool::new`], each decode taking its turn at `gate` (finals urgent,
    /// partials background).
    pub fn with_gate(model: &WhisperAsr, workers: usize, gate: ComputeGate) -> Result<Self, EngineError> {
        let queue: Shared = Arc::default();
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let mut state = model.new_state()?;
            let (model, queue, gate) = (model.clone(), queue.clone(), gate.clone());
            let handle = std::thread::Builder::new()
                .name(format!("asr-{i}"))
                .spawn(move || loop {
                    let (at, job) = {
                        let (lock, ready) = &*queue;
                        let Ok(mut q) = lock.lock() else { return };
                        loop {
                            if let Some(job) = q.next(Instant::now()) {
                                break job;
                            }
                            if q.closed {
                                return;
                            }
                            q = match ready.wait(q) {
                                Ok(q) => q,
                                Err(_) => return,
                            };
                        }
                    };
                    let queued = at.elapsed();
                    let priority = if job.options.partial { Priority::Background } else { Priority::Urgent };
                    let entered = Instant::now();
                    let result = {
                        let _turn = gate.enter(priority);
                        let began = Instant::now();
                        let result = model.decode(&mut state, &job.audio_16k, &job.options);
                        tracing::debug!(
                            id = job.id,
                            partial = job.options.partial,
                            seconds = job.audio_16k.len() as f32 / 16_000.0,
                            queued_ms = queued.as_millis() as u64,
                            gate_ms = began.duration_since(entered).as_millis() as u64,
                            decode_ms = began.elapsed().as_millis() as u64,
                            "decoded"
                        );
                        result
                    };
                    // A caller that hung up no longer wants the result.
                    let _ = job.reply.send(AsrReply { id: job.id, partial: job.options.partial, result, queued });
                })
                .map_err(|e| EngineError::runtime("whisper", e))?;
            handles.push(handle);
        }
        Ok(AsrPool { queue, workers: handles })
    }

    /// Queues a decode; the reply arrives on `job.reply`.
    pub fn submit(&self, job: AsrJob) -> Result<(), EngineError> {
        let (lock, ready) = &*self.queue;
        let mut q = lock.lock().map_err(|_| EngineError::Closed { engine: "whisper" })?;
        if q.closed {
            return Err(EngineError::Closed { engine: "whisper" });
        }
        let entry = (Instant::now(), job);
        if entry.1.options.partial {
            q.partials.push_back(entry);
        } else {
            q.finals.push_back(entry);
        }
        ready.notify_one();
        Ok(())
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queue.0.lock().map_or(0, |q| q.len())
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
        if let Ok(mut q) = self.queue.0.lock() {
            q.closed = true;
        }
        self.queue.1.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u64, partial: bool) -> (AsrJob, Receiver<AsrReply>) {
        let (reply, rx) = channel();
        let options = AsrOptions { partial, ..AsrOptions::default() };
        (AsrJob { id, audio_16k: Vec::new(), options, reply }, rx)
    }

    #[test]
    fn finals_go_first_and_stale_partials_are_dropped() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        let (p1, p1_rx) = job(1, true);
        let (p2, _p2_rx) = job(2, true);
        let (f3, _) = job(3, false);
        let (f4, _) = job(4, false);
        q.partials.push_back((t0, p1));
        q.partials.push_back((t0 + Duration::from_millis(500), p2));
        q.finals.push_back((t0 + Duration::from_millis(100), f3));
        q.finals.push_back((t0 + Duration::from_millis(200), f4));
        let now = t0 + Duration::from_millis(600);
        let order: Vec<u64> = std::iter::from_fn(|| q.next(now)).map(|(_, j)| j.id).collect();
        assert_eq!(order, vec![3, 4, 2], "finals oldest first, then the fresh partial");
        let dropped = p1_rx.try_recv().unwrap();
        assert!(dropped.partial && matches!(dropped.result, Err(EngineError::Dropped { .. })));
    }
}
