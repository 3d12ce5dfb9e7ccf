//! RTCP (RFC 3550 section 6.4): sender and receiver reports parsed out of a compound
//! packet, and the compound report voxline sends (SR or RR, then SDES with a CNAME).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    #[error("{0} bytes is shorter than an RTCP header")]
    Short(usize),
    #[error("RTCP version {0}, not 2")]
    Version(u8),
    #[error("an RTCP packet's length runs past the datagram")]
    Truncated,
}

/// What a receiver says about one source (RFC 3550 section 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Lost since the previous report, in 1/256ths.
    pub fraction_lost: u8,
    pub cumulative_lost: i32,
    pub highest_sequence: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from that source.
    pub last_sr: u32,
    /// Since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderInfo {
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packets: u32,
    pub octets: u32,
}

/// The reports in one compound packet; other packet types (SDES, BYE, APP) are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compound {
    /// The reporter's SSRC and, for an SR, its sender info.
    pub reports: Vec<(u32, Option<SenderInfo>)>,
    pub blocks: Vec<ReportBlock>,
    /// An RTCP BYE was in it.
    pub bye: bool,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub fn parse(datagram: &[u8]) -> Result<Compound, RtcpError> {
    if datagram.len() < 4 {
        return Err(RtcpError::Short(datagram.len()));
    }
    let mut out = Compound::default();
    let mut rest = datagram;
    while rest.len() >= 4 {
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(RtcpError::Version(version));
        }
        let count = (rest[0] & 0x1f) as usize;
        let kind = rest[1];
        let len = 4 * (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1);
        let packet = rest.get(..len).ok_or(RtcpError::Truncated)?;
        rest = &rest[len..];
        let (sender, blocks_at) = match kind {
            200 if len >= 28 => {
                let info = SenderInfo {
                    ntp: (u32_at(packet, 8) as u64) << 32 | u32_at(packet, 12) as u64,
                    rtp_timestamp: u32_at(packet, 16),
                    packets: u32_at(packet, 20),
                    octets: u32_at(packet, 24),
                };
                (Some(info), 28)
            }
            201 if len >= 8 => (None, 8),
            200 | 201 => return Err(RtcpError::Truncated),
            203 => {
                out.bye = true;
                continue;
            }
            _ => continue,
        };
        out.reports.push((u32_at(packet, 4), sender));
        if blocks_at + 24 * count > len {
            return Err(RtcpError::Truncated);
        }
        for i in 0..count {
            let b = &packet[blocks_at + 24 * i..blocks_at + 24 * (i + 1)];
            let lost = u32_at(b, 4) & 0x00ff_ffff;
            // 24-bit two's complement.
            let cumulative_lost = ((lost << 8) as i32) >> 8;
            out.blocks.push(ReportBlock {
                ssrc: u32_at(b, 0),
                fraction_lost: b[4],
                cumulative_lost,
                highest_sequence: u32_at(b, 8),
                jitter: u32_at(b, 12),
                last_sr: u32_at(b, 16),
                delay_since_last_sr: u32_at(b, 20),
            });
        }
    }
    Ok(out)
}

/// A compound report from `ssrc`: an SR when `sender` is given, else an RR, with at
/// most one report block, then SDES with `cname`.
pub fn write(ssrc: u32, sender: Option<&SenderInfo>, block: Option<&ReportBlock>, cname: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    let words = 1 + if sender.is_some() { 5 } else { 0 } + if block.is_some() { 6 } else { 0 };
    out.push(0x80 | block.is_some() as u8);
    out.push(if sender.is_some() { 200 } else { 201 });
    out.extend_from_slice(&(words as u16).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(s) = sender {
        out.extend_from_slice(&s.ntp.to_be_bytes());
        for v in [s.rtp_timestamp, s.packets, s.octets] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    if let Some(b) = block {
        out.extend_from_slice(&b.ssrc.to_be_bytes());
        let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
        out.extend_from_slice(&((b.fraction_lost as u32) << 24 | lost).to_be_bytes());
        for v in [b.highest_sequence, b.jitter, b.last_sr, b.delay_since_last_sr] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    // SDES: one chunk, CNAME item, null-terminated and padded to a word.
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    let mut chunk = ssrc.to_be_bytes().to_vec();
    chunk.extend_from_slice(&[1, cname.len() as u8]);
    chunk.extend_from_slice(cname);
    chunk.push(0);
    while chunk.len() % 4 != 0 {
        chunk.push(0);
    }
    out.extend_from_slice(&[0x81, 202]);
    out.extend_from_slice(&((chunk.len() / 4) as u16).to_be_bytes());
    out.extend_from_slice(&chunk);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_report_round_trips() {
        let info = SenderInfo { ntp: 0x0102_0304_0506_0708, rtp_timestamp: 160, packets: 50, octets: 8000 };
        let block = ReportBlock {
            ssrc: 9,
            fraction_lost: 12,
            cumulative_lost: -3,
            highest_sequence: 70_000,
            jitter: 40,
            last_sr: 0x0304_0506,
            delay_since_last_sr: 65536,
        };
        let bytes = write(7, Some(&info), Some(&block), "voxline@127.0.0.1");
        assert_eq!(bytes.len() % 4, 0);
        let c = parse(&bytes).unwrap();
        assert_eq!(c.reports, vec![(7, Some(info))]);
        assert_eq!(c.blocks, vec![block]);
        assert!(!c.bye);
        let rr = parse(&write(7, None, None, "x")).unwrap();
        assert_eq!((rr.reports, rr.blocks.len()), (vec![(7, None)], 0));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(parse(&[0x80, 200]), Err(RtcpError::Short(2)));
        assert_eq!(parse(&[0x40, 200, 0, 0]), Err(RtcpError::Version(1)));
        assert_eq!(parse(&[0x80, 200, 0, 6, 0, 0, 0, 1]), Err(RtcpError::Truncated));
        // An RR claiming two blocks but carrying none.
        assert_eq!(parse(&[0x82, 201, 0, 1, 0, 0, 0, 1]), Err(RtcpError::Truncated));
        assert!(parse(&[0x81, 203, 0, 1, 0, 0, 0, 1]).unwrap().bye);
    }
}
