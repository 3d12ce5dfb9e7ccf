//! Silero VAD v6 through ONNX Runtime, native at 8 kHz and 16 kHz.
//!
//! Each chunk is fed with the previous chunk's tail as left context (32 samples at
//! 8 kHz, 64 at 16 kHz) and the recurrent state carried per call.

use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::Tensor;

use super::onnx::load_session;
use super::{EngineError, VoiceActivity};
use crate::models::ModelDir;

const STATE_LEN: usize = 2 * 128;
/// Chunks quieter than this (RMS, about -66 dBFS: below any line's noise floor with a
/// voice on it) are not speech and skip the network, which most of a call's frames are.
const SILENCE_RMS: f32 = 0.0005;

/// The loaded network, shared by every call's detector.
#[derive(Clone)]
pub struct SileroModel {
    session: Arc<Mutex<Session>>,
}

impl SileroModel {
    pub fn load(dir: &ModelDir) -> Result<Self, EngineError> {
        Ok(SileroModel { session: Arc::new(Mutex::new(load_session(dir, "silero-vad")?)) })
    }

    /// A detector with its own state for one call at `rate` (8000 or 16000).
    pub fn detector(&self, rate: u32) -> Result<SileroVad, EngineError> {
        let (chunk, context) = match rate {
            8000 => (256, 32),
            16000 => (512, 64),
            other => return Err(EngineError::input("silero", format!("sample rate {other} (use 8000 or 16000)"))),
        };
        Ok(SileroVad {
            model: self.clone(),
            rate,
            chunk,
            input: vec![0.0; context + chunk],
            context,
            state: vec![0.0; STATE_LEN],
        })
    }
}

pub struct SileroVad {
    model: SileroModel,
    rate: u32,
    chunk: usize,
    context: usize,
    /// `context` samples carried from the last chunk, then the current chunk.
    input: Vec<f32>,
    state: Vec<f32>,
}

impl VoiceActivity for SileroVad {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn chunk_samples(&self) -> usize {
        self.chunk
    }

    fn speech_probability(&mut self, chunk: &[f32]) -> Result<f32, EngineError> {
        if chunk.len() != self.chunk {
            return Err(EngineError::input(
                "silero",
                format!("chunk of {} samples, expected {}", chunk.len(), self.chunk),
            ));
        }
        self.input[self.context..].copy_from_slice(chunk);
        let rms = (chunk.iter().map(|s| s * s).sum::<f32>() / chunk.len() as f32).sqrt();
        if rms < SILENCE_RMS {
            let tail = self.input.len() - self.context;
            self.input.copy_within(tail.., 0);
            return Ok(0.0);
        }
        let fail = |e: ort::Error| EngineError::runtime("silero", e);
        let input = Tensor::from_array(([1usize, self.input.len()], self.input.clone())).map_err(fail)?;
        let state = Tensor::from_array(([2usize, 1, 128], self.state.clone())).map_err(fail)?;
        let sr = Tensor::from_array(([1usize], vec![self.rate as i64])).map_err(fail)?;
        let probability = {
            let mut session =
                self.model.session.lock().map_err(|_| EngineError::runtime("silero", "session lock poisoned"))?;
            let outputs = session.run(ort::inputs!["input" => input, "state" => state, "sr" => sr]).map_err(fail)?;
            let (_, prob) = outputs[0].try_extract_tensor::<f32>().map_err(fail)?;
            let (_, new_state) = outputs[1].try_extract_tensor::<f32>().map_err(fail)?;
            if new_state.len() != STATE_LEN || prob.is_empty() {
                return Err(EngineError::runtime("silero", "unexpected output shapes"));
            }
            self.state.copy_from_slice(new_state);
            prob[0]
        };
        let tail = self.input.len() - self.context;
        self.input.copy_within(tail.., 0);
        Ok(probability)
    }

    fn reset(&mut self) {
        self.input.fill(0.0);
        self.state.fill(0.0);
    }
}
