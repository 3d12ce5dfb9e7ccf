//! Payload codecs at the carrier edge: G.711 (PCMU/PCMA) and linear 16-bit PCM.

use super::g711::{alaw_decode, alaw_encode, mulaw_decode, mulaw_encode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 mu-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// 16-bit linear PCM, little-endian (Vonage, Exotel, our WAV files).
    L16Le { rate: u32 },
    /// 16-bit linear PCM, big-endian (RTP L16, Telnyx).
    L16Be { rate: u32 },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{codec:?} payload of {len} bytes is not a whole number of samples")]
pub struct CodecError {
    pub codec: Codec,
    pub len: usize,
}

impl Codec {
    pub fn rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::L16Le { rate } | Codec::L16Be { rate } => rate,
        }
    }

    pub fn decode(self, payload: &[u8]) -> Result<Vec<f32>, CodecError> {
        const SCALE: f32 = 1.0 / 32768.0;
        Ok(match self {
            Codec::Pcmu => payload.iter().map(|&b| mulaw_decode(b) as f32 * SCALE).collect(),
            Codec::Pcma => payload.iter().map(|&b| alaw_decode(b) as f32 * SCALE).collect(),
            Codec::L16Le { .. } | Codec::L16Be { .. } => {
                if payload.len() % 2 != 0 {
                    return Err(CodecError { codec: self, len: payload.len() });
                }
                let be = matches!(self, Codec::L16Be { .. });
                payload
                    .chunks_exact(2)
                    .map(|c| if be { i16::from_be_bytes([c[0], c[1]]) } else { i16::from_le_bytes([c[0], c[1]]) } as f32 * SCALE)
                    .collect()
            }
        })
    }

    pub fn encode(self, samples: &[f32]) -> Vec<u8> {
        let pcm = samples.iter().map(|&s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16);
        match self {
            Codec::Pcmu => pcm.map(mulaw_encode).collect(),
            Codec::Pcma => pcm.map(alaw_encode).collect(),
            Codec::L16Le { .. } => pcm.flat_map(i16::to_le_bytes).collect(),
            Codec::L16Be { .. } => pcm.flat_map(i16::to_be_bytes).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l16_endianness_and_odd_payloads() {
        let le = Codec::L16Le { rate: 16000 };
        let be = Codec::L16Be { rate: 8000 };
        assert_eq!(le.encode(&[0.5]), vec![0x00, 0x40]);
        assert_eq!(be.encode(&[0.5]), vec![0x40, 0x00]);
        assert_eq!(be.decode(&[0x40, 0x00]).unwrap(), vec![0.5]);
        assert_eq!(le.decode(&[1, 2, 3]), Err(CodecError { codec: le, len: 3 }));
        assert_eq!(be.rate(), 8000);
    }

    #[test]
    fn g711_round_trip_keeps_the_signal() {
        let tone: Vec<f32> = (0..160).map(|i| (i as f32 * 0.3).sin() * 0.4).collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let back = codec.decode(&codec.encode(&tone)).unwrap();
            let err = tone.iter().zip(&back).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err < 0.02, "{codec:?} {err}");
        }
    }
}
