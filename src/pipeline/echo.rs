//! Reference-gated VAD: the bot's own outbound audio, delayed and attenuated by the
//! line, must not count as caller speech. The gate keeps the energy of what was sent
//! and requires caller audio to exceed the loudest echo the line could return.

use std::collections::VecDeque;

use crate::media::energy;

#[derive(Debug, Clone, Copy)]
pub struct EchoConfig {
    /// Echo return loss the line is assumed to give at least (telephone hybrids: 6-20 dB).
    pub erl_db: f32,
    /// Longest echo path considered.
    pub max_delay_ms: u32,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig { erl_db: 12.0, max_delay_ms: 300 }
    }
}

pub struct EchoGate {
    cfg: EchoConfig,
    rate: u32,
    /// (start sample, end sample, energy) of sent bot frames, oldest first.
    sent: VecDeque<(u64, u64, f32)>,
    gain: f32,
}

impl EchoGate {
    pub fn new(cfg: EchoConfig, rate: u32) -> Self {
        EchoGate { cfg, rate, sent: VecDeque::new(), gain: 10f32.powf(-cfg.erl_db / 10.0) }
    }

    /// Records a bot frame as sent at `start` (samples on the call clock).
    pub fn sent(&mut self, start: u64, samples: &[f32]) {
        self.sent.push_back((start, start + samples.len() as u64, energy(samples)));
        let keep = self.cfg.max_delay_ms as u64 * self.rate as u64 / 1000 * 2;
        while self.sent.front().is_some_and(|&(_, end, _)| end + keep < start) {
            self.sent.pop_front();
        }
    }

    /// Energy caller audio in `start..end` must exceed to be speech rather than echo.
    pub fn floor(&self, start: u64, end: u64) -> f32 {
        let window = self.cfg.max_delay_ms as u64 * self.rate as u64 / 1000;
        let from = start.saturating_sub(window);
        self.sent.iter().filter(|&&(s, e, _)| e > from && s < end).map(|&(_, _, en)| en).fold(0.0, f32::max) * self.gain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_follows_recent_bot_audio_and_decays_after() {
        let mut g = EchoGate::new(EchoConfig::default(), 8000);
        assert_eq!(g.floor(0, 256), 0.0);
        g.sent(0, &[0.5; 160]);
        let f = g.floor(160, 416);
        assert!((f - 0.25 * 10f32.powf(-1.2)).abs() < 1e-4, "{f}");
        // 20 dB-down echo of that frame stays under the floor; the bot's own level does not.
        assert!(0.25 * 0.01 < f && 0.25 > f);
        assert_eq!(g.floor(8000, 8256), 0.0, "an old frame no longer gates");
    }
}
