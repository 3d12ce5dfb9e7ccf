//! The RTP fixed header (RFC 3550 section 5.1): parsed from a datagram without copying the
//! payload, and written for the packets voxline sends (no CSRCs, no extension).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("{0} bytes is shorter than an RTP header")]
    Short(usize),
    #[error("RTP version {0}, not 2")]
    Version(u8),
    #[error("the header's CSRC list, extension or padding runs past the datagram")]
    Truncated,
}

/// One received RTP packet: the header fields voxline reads and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

/// Whether a datagram on an RTP port is RTCP (RFC 5761 section 4: packet types 192-223
/// sit where an RTP marker bit and payload type 64-95 would).
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && (192..=223).contains(&datagram[1])
}

pub fn parse(datagram: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    if datagram.len() < 12 {
        return Err(RtpError::Short(datagram.len()));
    }
    let version = datagram[0] >> 6;
    if version != 2 {
        return Err(RtpError::Version(version));
    }
    let padding = datagram[0] & 0x20 != 0;
    let extension = datagram[0] & 0x10 != 0;
    let csrcs = (datagram[0] & 0x0f) as usize;
    let mut start = 12 + 4 * csrcs;
    if extension {
        let words = datagram.get(start + 2..start + 4).ok_or(RtpError::Truncated)?;
        start += 4 + 4 * u16::from_be_bytes([words[0], words[1]]) as usize;
    }
    let mut end = datagram.len();
    if padding {
        let pad = *datagram.last().ok_or(RtpError::Truncated)? as usize;
        end = end.checked_sub(pad).ok_or(RtpError::Truncated)?;
    }
    if start > end {
        return Err(RtpError::Truncated);
    }
    Ok(RtpPacket {
        marker: datagram[1] & 0x80 != 0,
        payload_type: datagram[1] & 0x7f,
        sequence: u16::from_be_bytes([datagram[2], datagram[3]]),
        timestamp: u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]),
        ssrc: u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]),
        payload: &datagram[start..end],
    })
}

/// The header and payload of a packet we send, appended to `out`.
pub fn write(
    out: &mut Vec<u8>,
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8],
) {
    out.push(0x80);
    out.push(((marker as u8) << 7) | (payload_type & 0x7f));
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_packet_parses_back() {
        let mut out = Vec::new();
        write(&mut out, true, 8, 65535, 0xdead_beef, 42, &[1, 2, 3]);
        let p = parse(&out).unwrap();
        assert_eq!((p.marker, p.payload_type, p.sequence, p.timestamp, p.ssrc), (true, 8, 65535, 0xdead_beef, 42));
        assert_eq!(p.payload, &[1, 2, 3]);
        assert!(!is_rtcp(&out));
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        // CC=1, X=1, P=1: a CSRC, a one-word extension, payload [9, 9], two bytes of padding.
        let mut d = vec![0xb1, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        d.extend_from_slice(&[0, 0, 0, 5]);
        d.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]);
        d.extend_from_slice(&[9, 9, 0, 2]);
        assert_eq!(parse(&d).unwrap().payload, &[9, 9]);
    }

    #[test]
    fn bad_packets_are_errors() {
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::Short(11)));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::Version(1)));
        // CC=15 but no CSRCs; extension length past the end; padding longer than the packet.
        assert_eq!(parse(&[0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(RtpError::Truncated));
        assert_eq!(parse(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]), Err(RtpError::Truncated));
        assert_eq!(parse(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]), Err(RtpError::Truncated));
        assert!(is_rtcp(&[0x80, 200]));
    }
}
