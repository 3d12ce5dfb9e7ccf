//! Frame-by-frame resampling for live audio (FFT resampler, fixed chunks, ~10 ms delay
//! at 8 <-> 16 kHz). Whole clips use [`super::resample`].

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::ResampleError;

pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    from: u32,
    to: u32,
    pending: Vec<f32>,
}

impl StreamResampler {
    /// `chunk` is the input block in samples (20 ms is a good choice).
    pub fn new(from: u32, to: u32, chunk: usize) -> Result<Self, ResampleError> {
        let inner =
            if from == to {
                None
            } else {
                Some(
                    Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
                        .map_err(|e| ResampleError { from, to, reason: e.to_string() })?,
                )
            };
        Ok(StreamResampler { inner, from, to, pending: Vec::new() })
    }

    /// Output delay the resampler adds, in output samples.
    pub fn delay(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Feeds samples; appends whatever output is ready to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), ResampleError> {
        let Some(r) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let err = |e: String| ResampleError { from: self.from, to: self.to, reason: e };
        loop {
            let need = r.input_frames_next();
            if self.pending.len() < need {
                return Ok(());
            }
            let chunk = InterleavedSlice::new(&self.pending[..need], 1, need).map_err(|e| err(e.to_string()))?;
            let produced = r.process(&chunk, None).map_err(|e| err(e.to_string()))?;
            out.extend_from_slice(&produced.take_data());
            self.pending.drain(..need);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_ms_frames_keep_their_length_and_the_tone() {
        for (from, to) in [(8000u32, 16000u32), (16000, 8000), (48000, 8000), (24000, 16000)] {
            let mut r = StreamResampler::new(from, to, (from / 50) as usize).unwrap();
            let mut out = Vec::new();
            let n = from as usize; // one second in 20 ms frames
            let tone: Vec<f32> =
                (0..n).map(|i| (2.0 * std::f32::consts::PI * 300.0 * i as f32 / from as f32).sin() * 0.5).collect();
            for frame in tone.chunks(from as usize / 50) {
                r.process(frame, &mut out).unwrap();
            }
            // Output trails input by at most one internal chunk.
            assert!(
                out.len() <= to as usize && out.len() + to as usize / 50 >= to as usize,
                "{from}->{to}: {}",
                out.len()
            );
            assert!(r.delay() * 1000 / (to as usize) <= 20, "{from}->{to} delay {}", r.delay());
            let tail = &out[out.len() / 2..];
            let rms = (tail.iter().map(|x| x * x).sum::<f32>() / tail.len() as f32).sqrt();
            assert!((rms - 0.354).abs() < 0.02, "{from}->{to} rms {rms}");
        }
    }
}
