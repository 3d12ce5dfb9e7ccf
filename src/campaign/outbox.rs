//! Outcomes back to the CRM: each ended attempt's record, the webhook signature
//! (HMAC-SHA256 of the body, hex, in `X-Voxline-Signature: sha256=...`) and the retry
//! backoff. Pure; the store keeps the outbox and `io/` delivers it.

use chrono::Duration;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// How long to wait before delivery try `tries + 1`: 10 s, doubling, at most an hour.
pub fn backoff(tries: u32) -> Duration {
    Duration::seconds((10i64 << tries.min(12)).min(3600))
}

/// Whether an outcome needs a person to follow up: a complaint, a dispute, or a
/// handoff nobody resolved.
pub fn dissatisfied(outcome: Option<&str>) -> bool {
    matches!(outcome, Some("complaint" | "dispute" | "handoff"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_backoff() {
        // RFC 4231 test case 2.
        let sig = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let waits: Vec<i64> = (0..10).map(|t| backoff(t).num_seconds()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]);
        assert_eq!(backoff(1000).num_seconds(), 3600);
        assert!(dissatisfied(Some("handoff")) && !dissatisfied(Some("confirmed")) && !dissatisfied(None));
    }
}
