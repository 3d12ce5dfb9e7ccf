//! SDP (RFC 4566) for audio calls: the offer's parts voxline uses, parsed into types, the
//! G.711 negotiation (RFC 3264 offer/answer), and the answer written back. Pure: text in,
//! text out.

use std::fmt::Write as _;
use std::net::IpAddr;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("SDP line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("SDP has no {0}")]
    Missing(&'static str),
    #[error("no common codec: the offer has {offered:?}, voxline takes PCMU (0) or PCMA (8)")]
    NoCommonCodec { offered: Vec<u8> },
}

/// Which way media flows, from the describing side's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Our direction in an answer to this one.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    pub protocol: String,
    /// Payload types in the offerer's order of preference.
    pub formats: Vec<u8>,
    /// `c=` of this media, else the session's.
    pub connection: Option<IpAddr>,
    pub rtpmaps: Vec<RtpMap>,
    pub ptime: Option<u32>,
    pub direction: Direction,
}

impl Media {
    /// The encoding a payload type carries: its `a=rtpmap`, else the static assignment.
    pub fn encoding(&self, pt: u8) -> Option<(String, u32)> {
        if let Some(m) = self.rtpmaps.iter().find(|m| m.payload_type == pt) {
            return Some((m.encoding.to_ascii_uppercase(), m.clock_rate));
        }
        match pt {
            0 => Some(("PCMU".into(), 8000)),
            8 => Some(("PCMA".into(), 8000)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin_session: String,
    pub origin_version: u64,
    pub media: Vec<Media>,
}

/// Parses an SDP body. Unknown lines and attributes are ignored (RFC 4566 §5); a known
/// line that is malformed is an error naming it.
pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    let mut version_seen = false;
    let (mut origin_session, mut origin_version) = (None, 0u64);
    let mut session_connection = None;
    let mut media: Vec<Media> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim_end_matches('\r');
        if raw.is_empty() {
            continue;
        }
        let bad = |reason: String| SdpError::Line { line, reason };
        let (kind, value) = raw
            .split_once('=')
            .filter(|(k, _)| k.len() == 1)
            .ok_or_else(|| bad(format!("{raw:?} is not TYPE=VALUE")))?;
        match kind {
            "v" if value == "0" => version_seen = true,
            "v" => return Err(bad(format!("version {value:?}, expected 0"))),
            "o" => {
                let fields: Vec<&str> = value.split_whitespace().collect();
                if fields.len() != 6 {
                    return Err(bad(format!("origin has {} fields, expected 6", fields.len())));
                }
                origin_session = Some(fields[1].to_string());
                origin_version = fields[2].parse().map_err(|_| bad(format!("origin version {:?}", fields[2])))?;
            }
            "c" => {
                let address = connection(value).map_err(bad)?;
                match media.last_mut() {
                    Some(m) => m.connection = Some(address),
                    None => session_connection = Some(address),
                }
            }
            "m" => media.push(media_line(value, session_connection).map_err(bad)?),
            "a" => {
                if let Some(m) = media.last_mut() {
                    attribute(m, value).map_err(bad)?;
                }
            }
            _ => {}
        }
    }
    if !version_seen {
        return Err(SdpError::Missing("v=0 line"));
    }
    let origin_session = origin_session.ok_or(SdpError::Missing("o= line"))?;
    if media.is_empty() {
        return Err(SdpError::Missing("m= line"));
    }
    Ok(SessionDescription { origin_session, origin_version, media })
}

fn connection(value: &str) -> Result<IpAddr, String> {
    let fields: Vec<&str> = value.split_whitespace().collect();
    match fields.as_slice() {
        ["IN", "IP4" | "IP6", address] => {
            // A multicast address may carry "/ttl": unicast calls never do.
            address.parse().map_err(|_| format!("connection address {address:?}"))
        }
        _ => Err(format!("connection {value:?}, expected \"IN IP4 ADDRESS\"")),
    }
}

fn media_line(value: &str, session_connection: Option<IpAddr>) -> Result<Media, String> {
    let fields: Vec<&str> = value.split_whitespace().collect();
    if fields.len() < 4 {
        return Err(format!("media {value:?} has {} fields, expected at least 4", fields.len()));
    }
    let port = fields[1].split('/').next().unwrap_or("");
    let port: u16 = port.parse().map_err(|_| format!("media port {:?}", fields[1]))?;
    let formats = fields[3..]
        .iter()
        .map(|f| f.parse::<u8>().ok().filter(|pt| *pt < 128).ok_or_else(|| format!("payload type {f:?}")))
        .collect::<Result<Vec<u8>, String>>();
    let formats = if fields[2].starts_with("RTP/") { formats? } else { Vec::new() };
    Ok(Media {
        kind: fields[0].to_string(),
        port,
        protocol: fields[2].to_string(),
        formats,
        connection: session_connection,
        rtpmaps: Vec::new(),
        ptime: None,
        direction: Direction::SendRecv,
    })
}

fn attribute(m: &mut Media, value: &str) -> Result<(), String> {
    let (name, rest) = value.split_once(':').unwrap_or((value, ""));
    match name {
        "sendrecv" => m.direction = Direction::SendRecv,
        "sendonly" => m.direction = Direction::SendOnly,
        "recvonly" => m.direction = Direction::RecvOnly,
        "inactive" => m.direction = Direction::Inactive,
        "ptime" => m.ptime = Some(rest.trim().parse().map_err(|_| format!("ptime {rest:?}"))?),
        "rtpmap" => {
            let (pt, encoding) = rest.split_once(' ').ok_or_else(|| format!("rtpmap {rest:?}"))?;
            let payload_type = pt.parse().map_err(|_| format!("rtpmap payload type {pt:?}"))?;
            let mut parts = encoding.trim().split('/');
            let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(|| format!("rtpmap {rest:?}"))?;
            let clock_rate =
                parts.next().and_then(|r| r.parse().ok()).ok_or_else(|| format!("rtpmap clock rate in {rest:?}"))?;
            m.rtpmaps.push(RtpMap { payload_type, encoding: name.to_string(), clock_rate });
        }
        _ => {}
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G711 {
    Pcmu,
    Pcma,
}

/// What an answer settles for the call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: G711,
    pub payload_type: u8,
    /// RFC 4733 `telephone-event/8000`, when offered.
    pub dtmf_payload_type: Option<u8>,
    pub ptime: u32,
    /// Where the offerer wants our RTP (symmetric RTP may learn a better one).
    pub remote: Option<(IpAddr, u16)>,
    /// Our direction.
    pub direction: Direction,
}

/// The first audio stream's first PCMU or PCMA format, in the offerer's order.
pub fn negotiate(offer: &SessionDescription) -> Result<Negotiated, SdpError> {
    let audio = offer
        .media
        .iter()
        .find(|m| m.kind == "audio" && m.port != 0 && m.protocol.starts_with("RTP/AVP"))
        .ok_or(SdpError::Missing("audio stream over RTP/AVP"))?;
    let codec = audio.formats.iter().find_map(|&pt| match audio.encoding(pt) {
        Some((name, 8000)) if name == "PCMU" => Some((G711::Pcmu, pt)),
        Some((name, 8000)) if name == "PCMA" => Some((G711::Pcma, pt)),
        _ => None,
    });
    let (codec, payload_type) = codec.ok_or_else(|| SdpError::NoCommonCodec { offered: audio.formats.clone() })?;
    let dtmf_payload_type = audio
        .formats
        .iter()
        .copied()
        .find(|&pt| audio.encoding(pt).is_some_and(|(name, rate)| name == "TELEPHONE-EVENT" && rate == 8000));
    Ok(Negotiated {
        codec,
        payload_type,
        dtmf_payload_type,
        ptime: audio.ptime.filter(|p| (10..=60).contains(p)).unwrap_or(20),
        remote: audio.connection.map(|ip| (ip, audio.port)),
        direction: audio.direction.answer(),
    })
}

/// Our SDP for `negotiated`: one audio stream on `local` (address, RTP port).
pub fn write(negotiated: &Negotiated, local: (IpAddr, u16), session_id: u64, version: u64) -> String {
    let (ip, port) = local;
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let (name, pt) = match negotiated.codec {
        G711::Pcmu => ("PCMU", negotiated.payload_type),
        G711::Pcma => ("PCMA", negotiated.payload_type),
    };
    let mut formats = pt.to_string();
    if let Some(dtmf) = negotiated.dtmf_payload_type {
        let _ = write!(formats, " {dtmf}");
    }
    let mut sdp = String::new();
    let _ = write!(
        sdp,
        "v=0\r\no=voxline {session_id} {version} IN {family} {ip}\r\ns=voxline\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {formats}\r\na=rtpmap:{pt} {name}/8000\r\n"
    );
    if let Some(dtmf) = negotiated.dtmf_payload_type {
        let _ = write!(sdp, "a=rtpmap:{dtmf} telephone-event/8000\r\na=fmtp:{dtmf} 0-16\r\n");
    }
    let _ = write!(sdp, "a=ptime:{}\r\na={}\r\n", negotiated.ptime, negotiated.direction.attribute());
    sdp
}

/// Our offer for an outbound call: PCMU, PCMA and telephone-event 101 at 20 ms, on
/// `local`. The answer is read with [`negotiate`], like an offer.
pub fn offer(local: (IpAddr, u16), session_id: u64) -> String {
    let (ip, port) = local;
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=voxline {session_id} 1 IN {family} {ip}\r\ns=voxline\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn a_sipp_offer_negotiates_pcmu() {
        let offer = parse(SIPP_OFFER).unwrap();
        assert_eq!((offer.origin_session.as_str(), offer.origin_version), ("53655765", 2353687637));
        let n = negotiate(&offer).unwrap();
        assert_eq!((n.codec, n.payload_type, n.dtmf_payload_type, n.ptime), (G711::Pcmu, 0, None, 20));
        assert_eq!(n.remote, Some(("127.0.0.1".parse().unwrap(), 6000)));
        assert_eq!(n.direction, Direction::SendRecv);
    }

    #[test]
    fn the_offerers_preference_decides_and_dtmf_and_ptime_are_kept() {
        let offer = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 18 8 0 101\n\
            c=IN IP4 10.0.0.2\na=rtpmap:18 G729/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n\
            a=ptime:30\na=sendonly\n";
        let n = negotiate(&parse(offer).unwrap()).unwrap();
        assert_eq!((n.codec, n.payload_type, n.dtmf_payload_type, n.ptime), (G711::Pcma, 8, Some(101), 30));
        assert_eq!(n.remote, Some(("10.0.0.2".parse().unwrap(), 4000)), "media-level c= wins");
        assert_eq!(n.direction, Direction::RecvOnly, "a sendonly offer (hold) is answered recvonly");
        let answer = write(&n, ("127.0.0.1".parse().unwrap(), 20002), 7, 1);
        assert!(answer.contains("m=audio 20002 RTP/AVP 8 101\r\n"), "{answer}");
        assert!(answer.contains("a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"));
        assert!(answer.ends_with("a=ptime:30\r\na=recvonly\r\n"), "{answer}");
        // Our answer reads back as what was negotiated.
        let again = negotiate(&parse(&answer).unwrap()).unwrap();
        assert_eq!((again.codec, again.payload_type, again.dtmf_payload_type), (G711::Pcma, 8, Some(101)));
    }

    #[test]
    fn our_offer_reads_back_and_a_pcma_answer_settles_pcma() {
        let ours = offer(("10.1.1.1".parse().unwrap(), 20000), 9);
        let n = negotiate(&parse(&ours).unwrap()).unwrap();
        assert_eq!((n.codec, n.payload_type, n.dtmf_payload_type, n.ptime), (G711::Pcmu, 0, Some(101), 20));
        assert_eq!(n.remote, Some(("10.1.1.1".parse().unwrap(), 20000)));
        let answer = "v=0\r\no=- 2 2 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
            m=audio 7000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        let n = negotiate(&parse(answer).unwrap()).unwrap();
        assert_eq!(
            (n.codec, n.dtmf_payload_type, n.remote),
            (G711::Pcma, Some(101), Some(("10.0.0.9".parse().unwrap(), 7000)))
        );
        assert_eq!(n.direction, Direction::SendRecv);
    }

    #[test]
    fn a_dynamic_payload_type_is_read_from_its_rtpmap() {
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
            m=audio 4000 RTP/AVP 96 97\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:97 PCMU/8000\r\n";
        let n = negotiate(&parse(offer).unwrap()).unwrap();
        assert_eq!((n.codec, n.payload_type), (G711::Pcmu, 97));
    }

    #[test]
    fn no_g711_is_no_common_codec() {
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
            m=audio 4000 RTP/AVP 18 96\r\na=rtpmap:96 opus/48000/2\r\n";
        assert_eq!(negotiate(&parse(offer).unwrap()), Err(SdpError::NoCommonCodec { offered: vec![18, 96] }));
        let video_only = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n";
        assert!(matches!(negotiate(&parse(video_only).unwrap()), Err(SdpError::Missing(_))));
    }

    #[test]
    fn malformed_sdp_names_the_line() {
        let cases = [
            ("v=1\r\n", 1, "version"),
            ("v=0\r\no=- 1\r\n", 2, "origin"),
            ("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 not-an-ip\r\n", 4, "connection address"),
            ("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio port RTP/AVP 0\r\n", 4, "media port"),
            ("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 4000 RTP/AVP 0 300\r\n", 4, "payload type"),
            ("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\na=ptime:soon\r\n", 5, "ptime"),
            ("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", 5, "clock rate"),
            ("v=0\r\ngarbage\r\n", 2, "TYPE=VALUE"),
        ];
        for (text, line, says) in cases {
            match parse(text) {
                Err(SdpError::Line { line: l, reason }) => {
                    assert_eq!(l, line, "{text:?}: {reason}");
                    assert!(reason.contains(says), "{text:?}: {reason}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert_eq!(parse(""), Err(SdpError::Missing("v=0 line")));
        assert_eq!(parse("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\n"), Err(SdpError::Missing("m= line")));
    }
}
