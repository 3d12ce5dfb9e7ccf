//! Audio at the edges and in the pipeline: the frame type and media time, G.711 and
//! L16 codecs, resampling (whole clips and streaming), the RTP jitter buffer, WAV files,
//! and answering-machine detection.

pub mod amd;
mod codec;
mod frame;
mod g711;
mod jitter;
mod resample;
mod stream_resample;
mod time;
mod wav;

pub use codec::{Codec, CodecError};
pub use frame::{energy, samples_per_20ms, Frame};
pub use g711::{alaw_decode, alaw_encode, mulaw_decode, mulaw_encode};
pub use jitter::{FrameKind, JitterBuffer, JitterConfig, JitterStats};
pub use resample::{resample, ResampleError};
pub use stream_resample::StreamResampler;
pub use time::MediaTime;
pub use wav::{read_wav_mono, read_wav_stereo, write_wav_mono, Pcm, WavError};
