//! Twilio Media Streams, bidirectional (`<Connect><Stream>`), as Twilio documents it:
//! JSON text frames; in `connected`, `start`, `media`, `dtmf`, `mark`, `stop`; out
//! `media`, `mark`, `clear`, each with the `streamSid`. Audio is base64 mu-law at 8 kHz.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::json::{self, field, kind, payload, string_map, text};
use super::{CallerCodec, CarrierCodec, CarrierEvent, Heard, StreamStart, WireError, WsFrame};
use crate::media::Codec;

/// The only format a bidirectional stream carries.
pub const ENCODING: &str = "audio/x-mulaw";
pub const SAMPLE_RATE: u32 = 8000;

#[derive(Default)]
pub struct TwilioServer {
    stream_sid: String,
}

impl CarrierCodec for TwilioServer {
    fn decode(&mut self, frame: WsFrame) -> Result<CarrierEvent, WireError> {
        let WsFrame::Text(t) = frame else { return Err(WireError::UnexpectedBinary) };
        let v = json::parse(&t)?;
        match kind(&v, "event")?.as_str() {
            "connected" => Ok(CarrierEvent::Nothing),
            "start" => {
                let s = v.get("start").ok_or(WireError::Missing("start"))?;
                if let Some(f) = s.get("mediaFormat") {
                    let (enc, rate) = (text(f, &["encoding"]), json::number(f, &["sampleRate"]));
                    let channels = json::number(f, &["channels"]).unwrap_or(1);
                    if enc.as_deref() != Some(ENCODING) || rate != Some(SAMPLE_RATE as u64) || channels != 1 {
                        return Err(WireError::Unsupported(format!(
                            "{} at {} Hz, {channels} channels (expected {ENCODING} at {SAMPLE_RATE} Hz mono)",
                            enc.unwrap_or_default(),
                            rate.unwrap_or(0)
                        )));
                    }
                }
                self.stream_sid = text(s, &["streamSid"]).ok_or(WireError::Missing("start.streamSid"))?;
                Ok(CarrierEvent::Start(StreamStart {
                    stream_id: self.stream_sid.clone(),
                    carrier_call_id: text(s, &["callSid"]).unwrap_or_default(),
                    params: string_map(s.get("customParameters")),
                    sample_rate: SAMPLE_RATE,
                }))
            }
            _ if self.stream_sid.is_empty() => Err(WireError::BeforeStart("a message")),
            "media" => {
                let m = v.get("media").ok_or(WireError::Missing("media"))?;
                if let Some(track) = text(m, &["track"]).filter(|t| t != "inbound") {
                    return Err(WireError::Unsupported(format!("media track {track:?}")));
                }
                Ok(CarrierEvent::Audio(Codec::Pcmu.decode(&payload(m)?).expect("mu-law is bytewise")))
            }
            other => json::dtmf_mark_stop(&v, other),
        }
    }

    fn audio(&mut self, samples: &[f32]) -> Vec<WsFrame> {
        vec![media(&self.stream_sid, &Codec::Pcmu.encode(samples))]
    }

    fn mark(&mut self, name: &str) -> Vec<WsFrame> {
        vec![mark(&self.stream_sid, name)]
    }

    fn clear(&mut self) -> Vec<WsFrame> {
        vec![WsFrame::Text(json!({"event": "clear", "streamSid": self.stream_sid}).to_string())]
    }
}

fn media(stream_sid: &str, mulaw: &[u8]) -> WsFrame {
    WsFrame::Text(
        json!({"event": "media", "streamSid": stream_sid, "media": {"payload": json::encode_b64(mulaw)}}).to_string(),
    )
}

/// A `mark`: the same message both ways.
fn mark(stream_sid: &str, name: &str) -> WsFrame {
    WsFrame::Text(json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}).to_string())
}

/// Twilio's side of a stream, as `voxline caller twilio` plays it.
#[derive(Default)]
pub struct TwilioCaller {
    stream_sid: String,
    seq: u64,
}

impl TwilioCaller {
    fn next_seq(&mut self) -> String {
        self.seq += 1;
        self.seq.to_string()
    }
}

impl CallerCodec for TwilioCaller {
    fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    fn open(&mut self, call_sid: &str, params: &BTreeMap<String, String>) -> Vec<WsFrame> {
        self.stream_sid = format!("MZ{call_sid}");
        let start = json!({"event": "start", "sequenceNumber": self.next_seq(), "streamSid": self.stream_sid, "start": {
            "streamSid": self.stream_sid, "callSid": call_sid, "accountSid": "ACvoxline", "tracks": ["inbound"],
            "customParameters": params, "mediaFormat": {"encoding": ENCODING, "sampleRate": SAMPLE_RATE, "channels": 1}}});
        vec![
            WsFrame::Text(json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string()),
            WsFrame::Text(start.to_string()),
        ]
    }

    fn audio(&mut self, samples: &[f32], at_ms: u64) -> WsFrame {
        let seq = self.next_seq();
        WsFrame::Text(
            json!({"event": "media", "sequenceNumber": seq, "streamSid": self.stream_sid, "media": {"track": "inbound",
                "chunk": (self.seq - 2).to_string(), "timestamp": at_ms.to_string(),
                "payload": json::encode_b64(&Codec::Pcmu.encode(samples))}})
            .to_string(),
        )
    }

    fn dtmf(&mut self, digit: char) -> WsFrame {
        let seq = self.next_seq();
        WsFrame::Text(
            json!({"event": "dtmf", "sequenceNumber": seq, "streamSid": self.stream_sid,
            "dtmf": {"track": "inbound_track", "digit": digit.to_string()}})
            .to_string(),
        )
    }

    fn decode(&mut self, frame: WsFrame) -> Result<Heard, WireError> {
        let WsFrame::Text(t) = frame else { return Err(WireError::UnexpectedBinary) };
        let v = json::parse(&t)?;
        if text(&v, &["streamSid"]).as_deref() != Some(self.stream_sid.as_str()) {
            return Err(WireError::Invalid(format!("streamSid in {}", t.chars().take(80).collect::<String>())));
        }
        heard_twilio_like(&v, Codec::Pcmu)
    }

    fn mark_played(&mut self, name: &str) -> Option<WsFrame> {
        Some(mark(&self.stream_sid, name))
    }

    fn hang_up(&mut self) -> Option<WsFrame> {
        let seq = self.next_seq();
        Some(WsFrame::Text(
            json!({"event": "stop", "sequenceNumber": seq, "streamSid": self.stream_sid,
            "stop": {"accountSid": "ACvoxline", "callSid": self.stream_sid.trim_start_matches("MZ")}})
            .to_string(),
        ))
    }
}

/// What a Twilio-shaped server message (`media`, `mark`, `clear`) asks of the carrier.
pub(super) fn heard_twilio_like(v: &Value, codec: Codec) -> Result<Heard, WireError> {
    match kind(v, "event")?.as_str() {
        "media" => {
            let m = v.get("media").ok_or(WireError::Missing("media"))?;
            codec.decode(&payload(m)?).map(Heard::Audio).map_err(|e| WireError::Invalid(e.to_string()))
        }
        "mark" => Ok(Heard::Mark(
            field(v, &["mark"]).and_then(|m| text(m, &["name"])).ok_or(WireError::Missing("mark.name"))?,
        )),
        "clear" => Ok(Heard::Clear),
        other => Err(WireError::UnknownEvent(other.chars().take(40).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"flow":"cod","call_id":"c-42"}},"streamSid":"MZ1"}"#;

    fn decode(codec: &mut TwilioServer, text: &str) -> Result<CarrierEvent, WireError> {
        codec.decode(WsFrame::Text(text.into()))
    }

    fn started() -> TwilioServer {
        let mut codec = TwilioServer::default();
        decode(&mut codec, START).unwrap();
        codec
    }

    #[test]
    fn twilio_messages_parse_as_documented() {
        let mut c = TwilioServer::default();
        assert_eq!(
            decode(&mut c, r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#),
            Ok(CarrierEvent::Nothing)
        );
        let CarrierEvent::Start(s) = decode(&mut c, START).unwrap() else { panic!("start") };
        assert_eq!((s.stream_id.as_str(), s.carrier_call_id.as_str(), s.sample_rate), ("MZ1", "CA1", 8000));
        assert_eq!(s.params.get("flow").map(String::as_str), Some("cod"));
        let media = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/////w=="},"streamSid":"MZ1"}"#;
        let CarrierEvent::Audio(samples) = decode(&mut c, media).unwrap() else { panic!("media") };
        assert_eq!(samples, vec![0.0; 4]);
        let dtmf =
            r#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#;
        assert_eq!(decode(&mut c, dtmf), Ok(CarrierEvent::Dtmf('1')));
        assert_eq!(
            decode(&mut c, r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"1.0"}}"#),
            Ok(CarrierEvent::Mark("1.0".into()))
        );
        let stop = r#"{"event":"stop","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}}"#;
        assert_eq!(decode(&mut c, stop), Ok(CarrierEvent::Stop));
    }

    #[test]
    fn outbound_messages_carry_the_stream_sid() {
        let mut c = started();
        let text = |f: &WsFrame| match f {
            WsFrame::Text(t) => serde_json::from_str::<Value>(t).unwrap(),
            WsFrame::Binary(_) => panic!("binary"),
        };
        let m = c.audio(&[0.0, 0.0]);
        assert_eq!(text(&m[0]), json!({"event": "media", "streamSid": "MZ1", "media": {"payload": "//8="}}));
        assert_eq!(text(&c.mark("3.1")[0]), json!({"event": "mark", "streamSid": "MZ1", "mark": {"name": "3.1"}}));
        assert_eq!(text(&c.clear()[0]), json!({"event": "clear", "streamSid": "MZ1"}));
    }

    #[test]
    fn the_caller_and_the_server_understand_each_other() {
        let mut caller = TwilioCaller::default();
        let mut server = TwilioServer::default();
        let params = BTreeMap::from([("flow".to_string(), "cod".to_string())]);
        let opening: Vec<_> = caller.open("CA7", &params).into_iter().map(|f| server.decode(f).unwrap()).collect();
        assert!(matches!(&opening[1], CarrierEvent::Start(s) if s.params == params && s.carrier_call_id == "CA7"));
        assert!(matches!(server.decode(caller.audio(&[0.5; 160], 20)), Ok(CarrierEvent::Audio(a)) if a.len() == 160));
        assert_eq!(server.decode(caller.dtmf('#')), Ok(CarrierEvent::Dtmf('#')));
        assert!(matches!(caller.decode(server.audio(&[0.25; 160]).remove(0)), Ok(Heard::Audio(a)) if a.len() == 160));
        assert_eq!(caller.decode(server.mark("1.0").remove(0)), Ok(Heard::Mark("1.0".into())));
        assert_eq!(caller.decode(server.clear().remove(0)), Ok(Heard::Clear));
        assert_eq!(server.decode(caller.mark_played("1.0").unwrap()), Ok(CarrierEvent::Mark("1.0".into())));
        assert_eq!(server.decode(caller.hang_up().unwrap()), Ok(CarrierEvent::Stop));
    }

    #[test]
    fn bad_frames_are_errors_never_panics() {
        let cases = [
            ("not json", "not a valid message"),
            (r#"{"event":"media","media":{"payload":"AA=="}}"#, "before the stream started"),
            (
                r#"{"event":"start","start":{"streamSid":"MZ","mediaFormat":{"encoding":"audio/l16","sampleRate":16000}}}"#,
                "audio/l16",
            ),
            (r#"{"event":7}"#, "event"),
            ("[1,2]", "not a JSON object"),
        ];
        for (text, says) in cases {
            let e = decode(&mut TwilioServer::default(), text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        let after_start = [
            (r#"{"event":"media"}"#, "media"),
            (r#"{"event":"media","media":{"payload":"@@@"}}"#, "base64"),
            (r#"{"event":"dtmf","dtmf":{"digit":"12"}}"#, "dtmf"),
            (r#"{"event":"hangup"}"#, "hangup"),
        ];
        for (text, says) in after_start {
            let e = decode(&mut started(), text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert_eq!(started().decode(WsFrame::Binary(vec![1, 2])), Err(WireError::UnexpectedBinary));
        let big = format!(r#"{{"event":"media","media":{{"payload":"{}"}}}}"#, "A".repeat(60_000));
        assert!(matches!(decode(&mut started(), &big), Err(WireError::TooLarge(_))));
        // Every prefix of every valid message, and byte-flipped copies, parse or fail cleanly.
        for msg in [START, r#"{"event":"media","media":{"payload":"/////w=="}}"#] {
            for end in 0..msg.len() {
                let _ = decode(&mut started(), &msg[..end]);
            }
            let mut bytes = msg.as_bytes().to_vec();
            for i in 0..bytes.len() {
                bytes[i] ^= 0x20;
                let _ = decode(&mut started(), &String::from_utf8_lossy(&bytes));
                bytes[i] ^= 0x20;
            }
        }
    }
}
