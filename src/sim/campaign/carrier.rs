//! The simulated carrier: how each dial goes (answered, no answer, busy, failed,
//! voicemail; ring and talk times) and, when answered, the flow's outcome, a callback
//! time for a callback request. Seeded, so a run is reproducible.

use chrono::{DateTime, Duration, Utc};

use crate::campaign::policy::Flow;
use crate::campaign::retry::DialResult;
use crate::sim::rng::Rng;

/// One simulated call: how it went and when it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Dialled {
    pub result: DialResult,
    pub outcome: Option<&'static str>,
    pub callback_time: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
}

/// Answer mix: answered 55 %, no answer 22 %, busy 8 %, voicemail 10 %, failed 5 %.
const RESULTS: [(DialResult, f32); 5] = [
    (DialResult::Answered, 0.55),
    (DialResult::NoAnswer, 0.22),
    (DialResult::Busy, 0.08),
    (DialResult::Voicemail, 0.10),
    (DialResult::Failed, 0.05),
];

/// Each flow's outcomes once answered, with their shares.
fn outcomes(flow: Flow) -> &'static [(&'static str, f32)] {
    match flow {
        Flow::Cod => &[
            ("confirmed", 0.55),
            ("cancelled", 0.10),
            ("callback_requested", 0.10),
            ("handoff", 0.07),
            ("no_response", 0.08),
            ("wrong_number", 0.04),
            ("opted_out", 0.06),
        ],
        Flow::DeliveryRetry => &[
            ("rescheduled", 0.60),
            ("cancelled", 0.08),
            ("callback_requested", 0.10),
            ("handoff", 0.10),
            ("no_response", 0.07),
            ("opted_out", 0.05),
        ],
        Flow::ReturnPickup => &[
            ("confirmed", 0.60),
            ("rescheduled", 0.15),
            ("callback_requested", 0.10),
            ("handoff", 0.08),
            ("no_response", 0.04),
            ("opted_out", 0.03),
        ],
        Flow::RefundStatus => &[
            ("acknowledged", 0.72),
            ("handoff", 0.12),
            ("callback_requested", 0.06),
            ("no_response", 0.06),
            ("opted_out", 0.04),
        ],
        Flow::Winback => &[
            ("interested", 0.30),
            ("declined", 0.43),
            ("handoff", 0.08),
            ("callback_requested", 0.06),
            ("no_response", 0.05),
            ("opted_out", 0.08),
        ],
    }
}

fn choose<T: Copy>(rng: &mut Rng, table: &[(T, f32)]) -> T {
    let mut x = rng.unit();
    for (value, share) in table {
        if x < *share {
            return *value;
        }
        x -= share;
    }
    table[table.len() - 1].0
}

pub struct Carrier {
    seed: u64,
    rng: Rng,
}

impl Carrier {
    pub fn new(seed: u64) -> Self {
        Carrier { seed: seed ^ 0x00ca_771e_5eed, rng: Rng::new(1) }
    }

    /// A dial of `flow` placed at `at` for the attempt `key` (customer, subject, attempt
    /// number): the answer depends on the seed and the attempt, not on the order the
    /// store hands attempts out, so two stores' runs can be compared call by call.
    pub fn dial(&mut self, flow: Flow, key: &str, at: DateTime<Utc>) -> Dialled {
        // FNV-1a of the key.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        self.rng = Rng::new(self.seed ^ hash);
        let result = choose(&mut self.rng, &RESULTS);
        let secs = |rng: &mut Rng, lo: i64, hi: i64| lo + (rng.unit() * (hi - lo) as f32) as i64;
        let ring = secs(&mut self.rng, 3, 30);
        let (outcome, talk) = match result {
            DialResult::Answered => (Some(choose(&mut self.rng, outcomes(flow))), secs(&mut self.rng, 40, 240)),
            DialResult::NoAnswer => (None, 42),
            DialResult::Voicemail => (None, secs(&mut self.rng, 20, 45)),
            _ => (None, 0),
        };
        // A callback asked for 1 to 30 hours on, at any hour (the policy keeps it in the window).
        let callback_time =
            (outcome == Some("callback_requested")).then(|| at + Duration::minutes(secs(&mut self.rng, 60, 1800)));
        Dialled { result, outcome, callback_time, ended_at: at + Duration::seconds(ring + talk) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_seeded_and_near_its_shares() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T05:00:00Z").unwrap().to_utc();
        let mut c = Carrier::new(7);
        let calls: Vec<Dialled> = (0..10_000).map(|i| c.dial(Flow::Cod, &format!("C{i}/1"), at)).collect();
        let answered = calls.iter().filter(|d| d.result == DialResult::Answered).count();
        assert!((5200..5800).contains(&answered), "{answered}");
        assert!(calls.iter().all(|d| d.ended_at >= at && (d.result == DialResult::Answered) == d.outcome.is_some()));
        let mut again = Carrier::new(7);
        assert_eq!(again.dial(Flow::Cod, "C0/1", at), calls[0]);
    }
}
