//! Receive statistics for one RTP source (RFC 3550 appendix A.1, A.3, A.8): extended
//! highest sequence, loss and interarrival jitter, and the report block they make.

use super::rtcp::ReportBlock;

#[derive(Debug, Clone, Default)]
pub struct ReceiverStats {
    ssrc: u32,
    started: bool,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Relative transit time of the previous packet, in timestamp units.
    transit: Option<i64>,
    /// Jitter estimate scaled by 16 (appendix A.8).
    jitter16: u64,
    /// Middle bits of the last SR from the source, and when (our clock, 1/65536 s) it came.
    last_sr: Option<(u32, u64)>,
}

/// What the call record keeps about one direction of media.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StreamFigures {
    pub packets: u64,
    pub lost: i64,
    pub jitter_ms: f64,
}

impl ReceiverStats {
    /// One packet from `ssrc`, arriving at `arrival` (our clock, in timestamp units).
    pub fn packet(&mut self, ssrc: u32, sequence: u16, timestamp: u32, arrival: u64) {
        if !self.started || ssrc != self.ssrc {
            // A new source starts its figures afresh.
            *self = ReceiverStats {
                ssrc,
                started: true,
                base_seq: sequence as u32,
                max_seq: sequence,
                ..Default::default()
            };
        } else {
            let delta = sequence.wrapping_sub(self.max_seq);
            if delta != 0 && delta < 0x8000 {
                if sequence < self.max_seq {
                    self.cycles += 1 << 16;
                }
                self.max_seq = sequence;
            }
        }
        self.received += 1;
        let transit = arrival as i64 - timestamp as i64;
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16.
            self.jitter16 = self.jitter16 + d - (self.jitter16 + 8) / 16;
        }
        self.transit = Some(transit);
    }

    /// An SR from the source: its NTP time, received at `now_65536` (1/65536 s).
    pub fn sender_report(&mut self, ntp: u64, now_65536: u64) {
        self.last_sr = Some(((ntp >> 16) as u32, now_65536));
    }

    fn extended_max(&self) -> u64 {
        self.cycles as u64 + self.max_seq as u64
    }

    fn expected(&self) -> u64 {
        self.extended_max() + 1 - self.base_seq as u64
    }

    /// Jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        (self.jitter16 / 16) as u32
    }

    pub fn figures(&self, rate: u32) -> StreamFigures {
        if !self.started {
            return StreamFigures::default();
        }
        StreamFigures {
            packets: self.received,
            lost: self.expected() as i64 - self.received as i64,
            jitter_ms: self.jitter() as f64 * 1000.0 / rate as f64,
        }
    }

    /// The report block for the next RTCP report, at `now_65536`; moves the interval on.
    pub fn report(&mut self, now_65536: u64) -> Option<ReportBlock> {
        if !self.started {
            return None;
        }
        let expected = self.expected();
        let (interval_expected, interval_received) =
            (expected - self.expected_prior, self.received - self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let interval_lost = interval_expected as i64 - interval_received as i64;
        let fraction_lost = if interval_expected == 0 || interval_lost <= 0 {
            0
        } else {
            ((interval_lost << 8) / interval_expected as i64).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => (lsr, now_65536.saturating_sub(at).min(u32::MAX as u64) as u32),
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: (expected as i64 - self.received as i64).clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_sequence: self.extended_max() as u32,
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_wraparound_and_jitter() {
        let mut s = ReceiverStats::default();
        // 65530..65535, 0..9 with 3 lost, evenly spaced: no jitter.
        let mut seq: u16 = 65530;
        for i in 0..16u32 {
            if ![2, 7, 8].contains(&i) {
                s.packet(5, seq, i * 160, 1000 + i as u64 * 160);
            }
            seq = seq.wrapping_add(1);
        }
        let f = s.figures(8000);
        assert_eq!((f.packets, f.lost, f.jitter_ms), (13, 3, 0.0));
        let block = s.report(0).unwrap();
        assert_eq!((block.highest_sequence, block.cumulative_lost), ((1 << 16) + 9, 3));
        assert_eq!(block.fraction_lost, (3 * 256 / 16) as u8);
        // The next interval has no loss.
        s.packet(5, 10, 16 * 160, 1000 + 16 * 160);
        assert_eq!(s.report(0).unwrap().fraction_lost, 0);
    }

    #[test]
    fn arrival_jitter_is_estimated() {
        let mut s = ReceiverStats::default();
        for i in 0..200u64 {
            // Every other packet 80 samples (10 ms) late.
            s.packet(1, i as u16, (i * 160) as u32, i * 160 + (i % 2) * 80);
        }
        let j = s.figures(8000).jitter_ms;
        assert!((9.0..=10.5).contains(&j), "{j}");
    }
}
