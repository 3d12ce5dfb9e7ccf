//! Audio at the edges: WAV files and sample-rate conversion.

mod resample;
mod wav;

pub use resample::{resample, ResampleError};
pub use wav::{read_wav_mono, write_wav_mono, Pcm, WavError};
