//! Reference-gated VAD: the bot's own outbound audio, delayed and attenuated by the
//! line, must not count as caller speech. The gate keeps the energy of what was sent,
//! learns how much of it the line returns (the echo return loss, from frames where the
//! bot talks), and requires caller audio to exceed the loudest echo that could be
//! arriving, with a margin.

use std::collections::VecDeque;

use crate::media::energy;

#[derive(Debug, Clone, Copy)]
pub struct EchoConfig {
    /// Echo return loss assumed until enough of the line has been observed.
    pub initial_erl_db: f32,
    /// Margin caller speech must clear above the estimated echo.
    pub margin_db: f32,
    /// Longest echo path considered.
    pub max_delay_ms: u32,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig { initial_erl_db: 12.0, margin_db: 3.0, max_delay_ms: 300 }
    }
}

/// Bot-talking frames needed before the learned return loss replaces the initial one.
const LEARN_FRAMES: usize = 25;
/// How many observations are kept (about 4 s of bot speech).
const HISTORY: usize = 200;
/// Reference energy below which the bot counts as silent (about -50 dBFS).
const BOT_SILENT: f32 = 1e-5;

pub struct EchoGate {
    cfg: EchoConfig,
    rate: u32,
    /// (start sample, end sample, energy) of sent bot frames, oldest first.
    sent: VecDeque<(u64, u64, f32)>,
    /// Caller/reference energy ratios seen while the bot talked.
    ratios: VecDeque<f32>,
}

impl EchoGate {
    pub fn new(cfg: EchoConfig, rate: u32) -> Self {
        EchoGate { cfg, rate, sent: VecDeque::new(), ratios: VecDeque::new() }
    }

    /// Records a bot frame as sent at `start` (samples on the call clock).
    pub fn sent(&mut self, start: u64, samples: &[f32]) {
        self.sent.push_back((start, start + samples.len() as u64, energy(samples)));
        let keep = self.cfg.max_delay_ms as u64 * self.rate as u64 / 1000 * 2;
        while self.sent.front().is_some_and(|&(_, end, _)| end + keep < start) {
            self.sent.pop_front();
        }
    }

    fn reference(&self, start: u64, end: u64) -> f32 {
        let window = self.cfg.max_delay_ms as u64 * self.rate as u64 / 1000;
        let from = start.saturating_sub(window);
        self.sent.iter().filter(|&&(s, e, _)| e > from && s < end).map(|&(_, _, en)| en).fold(0.0, f32::max)
    }

    /// Learns the line's echo from a caller frame received while the bot may be talking.
    /// Frames the caller is speaking in (double talk) say nothing about the echo.
    pub fn observe(&mut self, start: u64, samples: &[f32], caller_speaking: bool) {
        let reference = self.reference(start, start + samples.len() as u64);
        if reference < BOT_SILENT || caller_speaking {
            return;
        }
        self.ratios.push_back(energy(samples) / reference);
        if self.ratios.len() > HISTORY {
            self.ratios.pop_front();
        }
    }

    /// Energy ratio of echo to (windowed peak) reference: a high percentile of what was
    /// observed, so echo peaks stay under the floor; a stray caller sound the VAD missed
    /// only moves it if it lasts longer than a tenth of the history.
    fn echo_ratio(&self) -> f32 {
        if self.ratios.len() < LEARN_FRAMES {
            return 10f32.powf(-self.cfg.initial_erl_db / 10.0);
        }
        let mut sorted: Vec<f32> = self.ratios.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        sorted[sorted.len() * 9 / 10].clamp(1e-4, 0.25)
    }

    /// Energy caller audio in `start..end` must exceed to be speech rather than echo.
    pub fn floor(&self, start: u64, end: u64) -> f32 {
        self.reference(start, end) * self.echo_ratio() * 10f32.powf(self.cfg.margin_db / 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talk(gate: &mut EchoGate, frames: u64, echo_gain: f32) {
        for i in 0..frames {
            let bot = vec![0.3f32; 160];
            gate.sent(i * 160, &bot);
            let echo: Vec<f32> = bot.iter().map(|s| s * echo_gain).collect();
            gate.observe(i * 160, &echo, false);
        }
    }

    #[test]
    fn the_floor_learns_the_line_and_sits_between_echo_and_speech() {
        let mut g = EchoGate::new(EchoConfig::default(), 8000);
        assert_eq!(g.floor(0, 256), 0.0, "no bot audio, no gate");
        talk(&mut g, 60, 0.1); // -20 dB echo
        let f = g.floor(60 * 160, 61 * 160);
        let echo = 0.09 * 0.01;
        // Double talk is not learned as echo.
        for i in 60..200u64 {
            g.sent(i * 160, &[0.3; 160]);
            g.observe(i * 160, &[0.5; 160], true);
        }
        assert!((g.floor(200 * 160, 201 * 160) - f).abs() < 1e-9);
        assert!(f > echo && f < echo * 8.0, "floor {f} vs echo {echo}");
        assert!(0.2f32.powi(2) > f, "caller speech at a normal level passes");

        let mut clean = EchoGate::new(EchoConfig::default(), 8000);
        talk(&mut clean, 60, 0.0);
        assert!(clean.floor(60 * 160, 61 * 160) < 0.09 * 1e-3, "a line without echo barely gates");
        assert_eq!(clean.floor(80_000, 80_256), 0.0, "an old frame no longer gates");
    }
}
