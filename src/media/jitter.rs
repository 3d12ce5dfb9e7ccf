//! Adaptive jitter buffer driven by RTP timestamps.
//!
//! Packets go in with their RTP timestamp and the receiver's arrival time (media
//! time on the local clock, passed in); 20 ms frames come out on the local clock.
//! Reordered packets are put back in place, packets behind the playout point are
//! dropped as late, gaps with later audio already buffered are concealed as losses,
//! and an empty buffer is an underrun that holds the playout point (the delay grows).
//! The target delay follows the RFC 3550 interarrival jitter estimate.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy)]
pub struct JitterConfig {
    /// Clock rate of the RTP timestamps and samples.
    pub rate: u32,
    /// Samples per output frame (20 ms).
    pub frame: usize,
    pub min_delay: u32,
    pub max_delay: u32,
    /// Frames of packet-loss concealment before output falls to silence.
    pub max_concealed: u32,
}

impl JitterConfig {
    pub fn for_rate(rate: u32) -> Self {
        let ms = |m: u32| rate / 1000 * m;
        JitterConfig { rate, frame: (rate / 50) as usize, min_delay: ms(40), max_delay: ms(200), max_concealed: 3 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub received: u64,
    pub late: u64,
    pub duplicate: u64,
    /// Frames concealed because a packet never arrived while later ones did.
    pub lost_frames: u64,
    /// Frames produced while the buffer was empty.
    pub underruns: u64,
    /// Frames dropped to shrink an over-full buffer.
    pub shrinks: u64,
    pub depth: u32,
    pub max_depth: u32,
    pub target_delay: u32,
    /// Interarrival jitter estimate, in samples.
    pub jitter: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Audio,
    /// Audio partly or wholly synthesised to cover a gap.
    Concealed,
    /// Nothing to play (priming, or a long gap).
    Silence,
}

pub struct JitterBuffer {
    cfg: JitterConfig,
    packets: BTreeMap<u64, Vec<f32>>,
    highest: Option<u64>,
    playout: Option<u64>,
    primed: bool,
    jitter: f64,
    last_transit: Option<i64>,
    last_frame: Vec<f32>,
    concealed_run: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(cfg: JitterConfig) -> Self {
        JitterBuffer {
            cfg,
            packets: BTreeMap::new(),
            highest: None,
            playout: None,
            primed: false,
            jitter: 0.0,
            last_transit: None,
            last_frame: vec![0.0; cfg.frame],
            concealed_run: 0,
            stats: JitterStats { target_delay: cfg.min_delay, ..Default::default() },
        }
    }

    pub fn stats(&self) -> JitterStats {
        JitterStats { depth: self.depth(), ..self.stats }
    }

    /// Extends a 32-bit timestamp relative to the highest seen.
    fn unwrap(&self, ts: u32) -> u64 {
        let Some(high) = self.highest else { return (1u64 << 32) + ts as u64 };
        let base = high & !0xFFFF_FFFF;
        let candidates = [base.wrapping_sub(1 << 32), base, base + (1 << 32)];
        candidates.into_iter().map(|b| b + ts as u64).min_by_key(|&c| c.abs_diff(high)).unwrap()
    }

    /// Samples buffered ahead of the playout point.
    fn depth(&self) -> u32 {
        let start = self.playout.or_else(|| self.packets.keys().next().copied()).unwrap_or(0);
        self.packets.iter().last().map(|(&ts, p)| (ts + p.len() as u64).saturating_sub(start) as u32).unwrap_or(0)
    }

    /// A packet's samples with its RTP timestamp; `arrival` is in samples on the local clock.
    pub fn push(&mut self, arrival: u64, rtp_ts: u32, samples: Vec<f32>) {
        if samples.is_empty() {
            return;
        }
        let ts = self.unwrap(rtp_ts);
        self.stats.received += 1;
        let transit = arrival as i64 - ts as i64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
        self.stats.jitter = self.jitter as u32;
        self.stats.target_delay =
            ((self.cfg.frame as f64 + 3.0 * self.jitter) as u32).clamp(self.cfg.min_delay, self.cfg.max_delay);

        if self.playout.is_some_and(|p| ts + samples.len() as u64 <= p) {
            self.stats.late += 1;
            return;
        }
        if self.packets.contains_key(&ts) {
            self.stats.duplicate += 1;
            return;
        }
        self.highest = Some(self.highest.map_or(ts, |h| h.max(ts)));
        self.packets.insert(ts, samples);
        let depth = self.depth();
        self.stats.max_depth = self.stats.max_depth.max(depth);
    }

    /// The next frame of `cfg.frame` samples; call once per frame period.
    pub fn pop(&mut self) -> (Vec<f32>, FrameKind) {
        let n = self.cfg.frame;
        if !self.primed {
            if self.packets.is_empty() || self.depth() < self.stats.target_delay {
                return (vec![0.0; n], FrameKind::Silence);
            }
            self.primed = true;
            self.playout = self.packets.keys().next().copied();
        }
        let Some(mut start) = self.playout else { return (vec![0.0; n], FrameKind::Silence) };
        // Too much buffered (jitter fell): drop a silent frame to bring the delay down.
        if self.depth() > self.stats.target_delay + 2 * n as u32 && self.is_quiet(start, n) {
            start += n as u64;
            self.stats.shrinks += 1;
        }
        // Drop what is entirely behind the playout point.
        while let Some((&ts, p)) = self.packets.iter().next() {
            if ts + p.len() as u64 > start {
                break;
            }
            self.packets.remove(&ts);
        }
        if self.packets.is_empty() {
            // Underrun: conceal without advancing, so the delay grows by a frame.
            self.stats.underruns += 1;
            self.playout = Some(start);
            return self.conceal(vec![0.0; n], 0);
        }
        let mut out = vec![0.0; n];
        let mut filled = 0;
        let mut missing = 0;
        for (i, slot) in out.iter_mut().enumerate() {
            let t = start + i as u64;
            match self.packets.range(..=t).next_back() {
                Some((&ts, p)) if t < ts + p.len() as u64 => {
                    *slot = p[(t - ts) as usize];
                    filled += 1;
                }
                _ => missing += 1,
            }
        }
        self.playout = Some(start + n as u64);
        if missing == 0 {
            self.concealed_run = 0;
            self.last_frame.copy_from_slice(&out);
            return (out, FrameKind::Audio);
        }
        if filled == 0 {
            self.stats.lost_frames += 1;
        }
        self.conceal(out, filled)
    }

    /// Whether the buffered audio at `start..start + n` is silent (safe to drop).
    fn is_quiet(&self, start: u64, n: usize) -> bool {
        let mut sum = 0f32;
        for i in 0..n as u64 {
            let t = start + i;
            if let Some((&ts, p)) = self.packets.range(..=t).next_back() {
                if t < ts + p.len() as u64 {
                    sum += p[(t - ts) as usize].powi(2);
                }
            }
        }
        sum / (n as f32) < 1e-6
    }

    /// Fills the gaps in `out` (zeros where no packet covered) from the last good
    /// frame, fading by half each concealed frame; silence after `max_concealed`.
    fn conceal(&mut self, mut out: Vec<f32>, filled: usize) -> (Vec<f32>, FrameKind) {
        self.concealed_run += 1;
        if self.concealed_run > self.cfg.max_concealed {
            return (out, if filled > 0 { FrameKind::Concealed } else { FrameKind::Silence });
        }
        let gain = 0.5f32.powi(self.concealed_run as i32);
        for (o, l) in out.iter_mut().zip(&self.last_frame) {
            if *o == 0.0 {
                *o = l * gain;
            }
        }
        (out, FrameKind::Concealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(i: u32, len: usize) -> Vec<f32> {
        vec![(i % 100) as f32 / 100.0 + 0.05; len]
    }

    fn cfg() -> JitterConfig {
        JitterConfig::for_rate(8000)
    }

    #[test]
    fn in_order_packets_come_out_after_the_target_delay() {
        let mut jb = JitterBuffer::new(cfg());
        let mut out = Vec::new();
        for i in 0..10u32 {
            jb.push(i as u64 * 160, 1000 + i * 160, packet(i, 160));
            out.push(jb.pop());
        }
        let first_audio = out.iter().position(|(_, k)| *k == FrameKind::Audio).unwrap();
        assert_eq!(first_audio, 1, "40 ms target = 2 packets buffered");
        assert_eq!(out[first_audio].0[0], packet(0, 1)[0]);
        assert_eq!(jb.stats().received, 10);
    }

    #[test]
    fn reordered_packets_play_in_timestamp_order_and_late_ones_drop() {
        let mut jb = JitterBuffer::new(cfg());
        let order = [0u32, 2, 1, 3, 5, 4, 6, 7];
        for (k, &i) in order.iter().enumerate() {
            jb.push(k as u64 * 160, i * 160, packet(i, 160));
        }
        let played: Vec<f32> =
            (0..8).map(|_| jb.pop()).filter(|(_, k)| *k == FrameKind::Audio).map(|(f, _)| f[0]).collect();
        let expected: Vec<f32> = (0..8).map(|i| packet(i, 1)[0]).collect();
        assert_eq!(played, expected);
        jb.push(9 * 160, 3 * 160, packet(3, 160));
        assert_eq!(jb.stats().late, 1);
        jb.push(9 * 160, 7 * 160, packet(7, 160));
        assert_eq!(jb.stats().late, 2, "already played");
    }

    #[test]
    fn a_lost_packet_is_concealed_then_audio_resumes() {
        let mut jb = JitterBuffer::new(cfg());
        for i in [0u32, 1, 2, 4, 5, 6] {
            jb.push(i as u64 * 160, i * 160, packet(i, 160));
        }
        let kinds: Vec<FrameKind> = (0..6).map(|_| jb.pop().1).collect();
        assert_eq!(
            kinds,
            [
                FrameKind::Audio,
                FrameKind::Audio,
                FrameKind::Audio,
                FrameKind::Concealed,
                FrameKind::Audio,
                FrameKind::Audio
            ]
        );
        assert_eq!(jb.stats().lost_frames, 1);
    }

    #[test]
    fn thirty_ms_packets_make_twenty_ms_frames() {
        let mut jb = JitterBuffer::new(cfg());
        for i in 0..4u32 {
            jb.push(i as u64 * 240, i * 240, packet(i, 240));
        }
        let frames: Vec<_> = (0..6).map(|_| jb.pop()).collect();
        assert!(frames.iter().all(|(f, _)| f.len() == 160));
        let audio = frames.iter().filter(|(_, k)| *k == FrameKind::Audio).count();
        assert_eq!(audio, 6, "960 samples = six 20 ms frames");
        assert_eq!(frames[1].0[100], packet(1, 1)[0], "samples 260.. come from the second packet");
    }

    #[test]
    fn an_over_full_buffer_drops_silent_frames_only() {
        let mut jb = JitterBuffer::new(cfg());
        for i in 0..10u32 {
            let samples = if i < 5 { packet(i, 160) } else { vec![0.0; 160] };
            jb.push(0, i * 160, samples);
        }
        let kinds: Vec<FrameKind> = (0..10).map(|_| jb.pop().1).collect();
        assert_eq!(kinds.iter().take(5).filter(|k| **k == FrameKind::Audio).count(), 5, "speech is never dropped");
        assert!(jb.stats().shrinks >= 1);
    }

    #[test]
    fn timestamps_wrap_around() {
        let mut jb = JitterBuffer::new(cfg());
        let start = u32::MAX - 200;
        for i in 0..6u32 {
            jb.push(i as u64 * 160, start.wrapping_add(i * 160), packet(i, 160));
        }
        let audio = (0..6).filter(|_| jb.pop().1 == FrameKind::Audio).count();
        assert_eq!(audio, 6);
        assert_eq!(jb.stats().late, 0);
    }

    #[test]
    fn jitter_raises_the_target_delay_and_underruns_hold_the_playout_point() {
        let mut jb = JitterBuffer::new(cfg());
        let mut arrival = 0u64;
        for i in 0..50u32 {
            arrival += if i % 2 == 0 { 40 } else { 280 }; // bursty: mean 160
            jb.push(arrival, i * 160, packet(i, 160));
        }
        let s = jb.stats();
        assert!(s.jitter > 80, "{s:?}");
        assert!(s.target_delay > cfg().min_delay, "{s:?}");
        let mut jb = JitterBuffer::new(cfg());
        for i in 0..3u32 {
            jb.push(i as u64 * 160, i * 160, packet(i, 160));
        }
        for _ in 0..5 {
            jb.pop();
        }
        assert!(jb.stats().underruns >= 2);
        jb.push(10 * 160, 3 * 160, packet(3, 160));
        assert_eq!(jb.stats().late, 0, "the playout point waited for packet 3");
        assert_eq!(jb.pop(), (packet(3, 160), FrameKind::Audio));
    }
}
