//! Audio time as a sample count at a known rate; never wall-clock.

use std::time::Duration;

/// A point or span in media time: `samples` at `rate` Hz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MediaTime {
    pub samples: u64,
    pub rate: u32,
}

impl MediaTime {
    pub const fn new(samples: u64, rate: u32) -> Self {
        MediaTime { samples, rate }
    }

    pub fn from_ms(ms: u64, rate: u32) -> Self {
        MediaTime { samples: ms * rate as u64 / 1000, rate }
    }

    pub fn as_ms(self) -> u64 {
        self.samples * 1000 / self.rate.max(1) as u64
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_micros(self.samples * 1_000_000 / self.rate.max(1) as u64)
    }

    /// The same instant at another rate (rounded down).
    pub fn at_rate(self, rate: u32) -> Self {
        MediaTime { samples: self.samples * rate as u64 / self.rate.max(1) as u64, rate }
    }

    pub fn plus(self, samples: u64) -> Self {
        MediaTime { samples: self.samples + samples, rate: self.rate }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let t = MediaTime::from_ms(1500, 8000);
        assert_eq!(t.samples, 12_000);
        assert_eq!(t.at_rate(16_000).samples, 24_000);
        assert_eq!(t.as_ms(), 1500);
        assert_eq!(t.plus(160).as_ms(), 1520);
        assert_eq!(t.as_duration(), Duration::from_millis(1500));
    }
}
