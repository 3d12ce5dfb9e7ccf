//! Any datagram on an RTP port: RTP parses or fails cleanly (a parsed payload lies inside
//! the datagram), RTCP likewise, RFC 4733 events never panic, and the receive
//! statistics take any header sequence.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxline::io::rtp::{dtmf, packet, rtcp, stats::ReceiverStats};

fuzz_target!(|data: &[u8]| {
    if packet::is_rtcp(data) {
        let _ = rtcp::parse(data);
        return;
    }
    let _ = rtcp::parse(data);
    let Ok(p) = packet::parse(data) else { return };
    assert!(p.payload.len() <= data.len().saturating_sub(12));
    let mut rx = dtmf::DtmfReceiver::default();
    let _ = rx.packet(p.timestamp, p.payload);
    let mut stats = ReceiverStats::default();
    // The same header replayed with shifted numbers: wraps and reorders.
    for i in 0..4u16 {
        stats.packet(p.ssrc, p.sequence.wrapping_add(i.wrapping_mul(0x7fff)), p.timestamp, i as u64 * 160);
    }
    let _ = stats.report(0);
    let _ = stats.figures(8000);
});
