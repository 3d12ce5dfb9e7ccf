//! The caller's line as the bot hears it: codec round trip, packet loss through the
//! jitter buffer, line echo of the bot, and background noise.

use super::rng::Rng;
use crate::media::{Codec, FrameKind, JitterBuffer, JitterConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecChoice {
    Pcmu,
    Pcma,
    L16,
}

#[derive(Debug, Clone, Copy)]
pub struct ChannelOptions {
    pub codec: CodecChoice,
    /// (attenuation dB, delay ms) of the bot's voice returned in the caller channel.
    pub echo: Option<(f32, u32)>,
    /// Noise at this SNR relative to the caller's speech level.
    pub noise_snr_db: Option<f32>,
    /// Packet loss percentage.
    pub loss_pct: f32,
    pub seed: u64,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        ChannelOptions { codec: CodecChoice::Pcmu, echo: None, noise_snr_db: None, loss_pct: 0.0, seed: 7 }
    }
}

pub struct Channel {
    opts: ChannelOptions,
    codec: Codec,
    rng: Rng,
    noise_rms: f32,
    jitter: Option<JitterBuffer>,
    seq_ts: u32,
}

impl Channel {
    /// `speech_rms`: level of the caller's speech, for the noise SNR.
    pub fn new(opts: ChannelOptions, rate: u32, speech_rms: f32) -> Self {
        let codec = match opts.codec {
            CodecChoice::Pcmu => Codec::Pcmu,
            CodecChoice::Pcma => Codec::Pcma,
            CodecChoice::L16 => Codec::L16Be { rate },
        };
        let noise_rms = opts.noise_snr_db.map_or(0.0, |snr| speech_rms * 10f32.powf(-snr / 20.0));
        let jitter = (opts.loss_pct > 0.0).then(|| JitterBuffer::new(JitterConfig::for_rate(rate)));
        Channel { opts, codec, rng: Rng::new(opts.seed), noise_rms, jitter, seq_ts: 0 }
    }

    pub fn echo(&self) -> Option<(f32, u32)> {
        self.opts.echo
    }

    /// One 20 ms frame from the caller's side (speech + echo already mixed) to what the
    /// bot receives. `arrival` is the frame's send time in samples.
    pub fn carry(&mut self, mut samples: Vec<f32>, arrival: u64) -> Vec<f32> {
        if self.noise_rms > 0.0 {
            for s in samples.iter_mut() {
                *s += self.rng.gaussian() * self.noise_rms;
            }
        }
        let wire = self.codec.encode(&samples);
        let decoded = self.codec.decode(&wire).unwrap_or_else(|_| vec![0.0; samples.len()]);
        let Some(jb) = self.jitter.as_mut() else { return decoded };
        let ts = self.seq_ts;
        self.seq_ts = self.seq_ts.wrapping_add(samples.len() as u32);
        if self.rng.unit() * 100.0 >= self.opts.loss_pct {
            jb.push(arrival, ts, decoded);
        }
        let (frame, kind) = jb.pop();
        debug_assert!(kind != FrameKind::Audio || frame.len() == samples.len());
        frame
    }
}
