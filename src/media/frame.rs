//! The one audio frame type that flows through the pipeline.

use super::MediaTime;

/// Mono samples in [-1, 1] starting at `start` (media time of the first sample).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub start: MediaTime,
    pub samples: Vec<f32>,
}

impl Frame {
    pub fn new(start: MediaTime, samples: Vec<f32>) -> Self {
        Frame { start, samples }
    }

    pub fn silence(start: MediaTime, len: usize) -> Self {
        Frame { start, samples: vec![0.0; len] }
    }

    pub fn rate(&self) -> u32 {
        self.start.rate
    }

    pub fn end(&self) -> MediaTime {
        self.start.plus(self.samples.len() as u64)
    }

    /// Mean square energy.
    pub fn energy(&self) -> f32 {
        energy(&self.samples)
    }
}

pub fn energy(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32
}

/// Samples per 20 ms at `rate`.
pub const fn samples_per_20ms(rate: u32) -> usize {
    (rate / 50) as usize
}
