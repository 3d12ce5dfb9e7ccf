//! Twilio Media Streams, bidirectional (`<Connect><Stream>`), as Twilio documents it:
//! JSON text frames; in `connected`, `start`, `media`, `dtmf`, `mark`, `stop`; out
//! `media`, `mark`, `clear`. Audio is base64 mu-law at 8 kHz mono. Pure codec: no I/O.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::WireError;

/// Twilio's audio format: the only one a bidirectional stream carries.
pub const ENCODING: &str = "audio/x-mulaw";
pub const SAMPLE_RATE: u32 = 8000;

/// What `start` tells about the stream and the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStart {
    pub stream_sid: String,
    pub call_sid: String,
    pub account_sid: String,
    /// `<Parameter name value>` from the TwiML: the flow, context or call id travel here.
    pub custom_parameters: BTreeMap<String, String>,
}

/// One message from Twilio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioIn {
    Connected,
    Start(StreamStart),
    /// Caller audio: mu-law bytes, and Twilio's media timestamp (ms from stream start).
    Media {
        mulaw: Vec<u8>,
        timestamp_ms: Option<u64>,
    },
    Dtmf(char),
    /// A mark we sent has played (or was cleared).
    Mark(String),
    Stop,
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    start: Option<StartBody>,
    #[serde(default)]
    media: Option<MediaBody>,
    #[serde(default)]
    dtmf: Option<DtmfBody>,
    #[serde(default)]
    mark: Option<MarkBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    stream_sid: String,
    #[serde(default)]
    call_sid: String,
    #[serde(default)]
    account_sid: String,
    #[serde(default)]
    custom_parameters: BTreeMap<String, Value>,
    #[serde(default)]
    media_format: Option<MediaFormat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaFormat {
    encoding: String,
    sample_rate: u32,
    #[serde(default = "one")]
    channels: u32,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
struct MediaBody {
    payload: String,
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(default)]
    track: Option<String>,
}

#[derive(Deserialize)]
struct DtmfBody {
    digit: String,
}

#[derive(Deserialize)]
struct MarkBody {
    name: String,
}

/// Largest media payload accepted in one message (Twilio sends 20 ms = 160 bytes).
const MAX_MEDIA_BYTES: usize = 16_000;

/// Parses one text frame from Twilio.
pub fn parse(text: &str) -> Result<TwilioIn, WireError> {
    let env: Envelope = serde_json::from_str(text).map_err(|e| WireError::Json(e.to_string()))?;
    match env.event.as_str() {
        "connected" => Ok(TwilioIn::Connected),
        "start" => {
            let s = env.start.ok_or(WireError::Missing("start"))?;
            if let Some(f) = &s.media_format {
                if f.encoding != ENCODING || f.sample_rate != SAMPLE_RATE || f.channels != 1 {
                    return Err(WireError::Unsupported(format!(
                        "{} at {} Hz, {} channels (expected {ENCODING} at {SAMPLE_RATE} Hz mono)",
                        f.encoding, f.sample_rate, f.channels
                    )));
                }
            }
            let custom_parameters = s
                .custom_parameters
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect();
            Ok(TwilioIn::Start(StreamStart {
                stream_sid: s.stream_sid,
                call_sid: s.call_sid,
                account_sid: s.account_sid,
                custom_parameters,
            }))
        }
        "media" => {
            let m = env.media.ok_or(WireError::Missing("media"))?;
            if m.track.as_deref().is_some_and(|t| t != "inbound") {
                return Err(WireError::Unsupported(format!("media track {:?}", m.track)));
            }
            if m.payload.len() > MAX_MEDIA_BYTES * 4 / 3 + 4 {
                return Err(WireError::TooLarge(m.payload.len()));
            }
            let mulaw = base64::engine::general_purpose::STANDARD
                .decode(m.payload.as_bytes())
                .map_err(|e| WireError::Base64(e.to_string()))?;
            let timestamp_ms = m.timestamp.and_then(|t| match t {
                Value::String(s) => s.parse().ok(),
                Value::Number(n) => n.as_u64(),
                _ => None,
            });
            Ok(TwilioIn::Media { mulaw, timestamp_ms })
        }
        "dtmf" => {
            let d = env.dtmf.ok_or(WireError::Missing("dtmf"))?;
            let mut chars = d.digit.chars();
            match (chars.next(), chars.next()) {
                (Some(c @ ('0'..='9' | '*' | '#' | 'A'..='D')), None) => Ok(TwilioIn::Dtmf(c)),
                _ => Err(WireError::Invalid(format!("dtmf digit {:?}", d.digit))),
            }
        }
        "mark" => Ok(TwilioIn::Mark(env.mark.ok_or(WireError::Missing("mark"))?.name)),
        "stop" => Ok(TwilioIn::Stop),
        other => Err(WireError::UnknownEvent(other.chars().take(40).collect())),
    }
}

/// Bot audio for the caller: one `media` message of mu-law bytes.
pub fn media(stream_sid: &str, mulaw: &[u8]) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(mulaw);
    json!({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}}).to_string()
}

/// Asks Twilio to report back when the audio sent before it has played.
pub fn mark(stream_sid: &str, name: &str) -> String {
    json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}).to_string()
}

/// Drops the audio Twilio has buffered (barge-in); pending marks come back at once.
pub fn clear(stream_sid: &str) -> String {
    json!({"event": "clear", "streamSid": stream_sid}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"flow":"cod","call_id":"c-42"}},"streamSid":"MZ1"}"#;

    #[test]
    fn twilio_messages_parse_as_documented() {
        assert_eq!(parse(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#).unwrap(), TwilioIn::Connected);
        let TwilioIn::Start(s) = parse(START).unwrap() else { panic!("start") };
        assert_eq!((s.stream_sid.as_str(), s.call_sid.as_str(), s.account_sid.as_str()), ("MZ1", "CA1", "AC1"));
        assert_eq!(s.custom_parameters.get("flow").map(String::as_str), Some("cod"));
        let media = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/////w=="},"streamSid":"MZ1"}"#;
        assert_eq!(parse(media).unwrap(), TwilioIn::Media { mulaw: vec![0xff; 4], timestamp_ms: Some(5) });
        let dtmf =
            r#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#;
        assert_eq!(parse(dtmf).unwrap(), TwilioIn::Dtmf('1'));
        assert_eq!(
            parse(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"1.0"}}"#).unwrap(),
            TwilioIn::Mark("1.0".into())
        );
        assert_eq!(
            parse(r#"{"event":"stop","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}}"#).unwrap(),
            TwilioIn::Stop
        );
    }

    #[test]
    fn outbound_messages_carry_the_stream_sid() {
        let m: Value = serde_json::from_str(&media("MZ1", &[0xff, 0x7f])).unwrap();
        assert_eq!(m, json!({"event": "media", "streamSid": "MZ1", "media": {"payload": "/38="}}));
        let m: Value = serde_json::from_str(&mark("MZ1", "3.1")).unwrap();
        assert_eq!(m, json!({"event": "mark", "streamSid": "MZ1", "mark": {"name": "3.1"}}));
        assert_eq!(
            serde_json::from_str::<Value>(&clear("MZ1")).unwrap(),
            json!({"event": "clear", "streamSid": "MZ1"})
        );
    }

    #[test]
    fn bad_frames_are_errors_never_panics() {
        let cases = [
            ("not json", "not a valid message"),
            (r#"{"event":"media"}"#, "media"),
            (r#"{"event":"media","media":{"payload":"@@@"}}"#, "base64"),
            (r#"{"event":"dtmf","dtmf":{"digit":"12"}}"#, "dtmf"),
            (
                r#"{"event":"start","start":{"streamSid":"MZ","mediaFormat":{"encoding":"audio/l16","sampleRate":16000}}}"#,
                "audio/l16",
            ),
            (r#"{"event":"hangup"}"#, "hangup"),
            (r#"{"event":7}"#, "not a valid message"),
        ];
        for (text, says) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        let big = format!(r#"{{"event":"media","media":{{"payload":"{}"}}}}"#, "A".repeat(40_000));
        assert!(matches!(parse(&big), Err(WireError::TooLarge(_))));
        // Every prefix of every valid message, and byte-flipped copies, parse or fail cleanly.
        for msg in [START, r#"{"event":"media","media":{"payload":"/////w=="}}"#] {
            for end in 0..msg.len() {
                let _ = parse(&msg[..end]);
            }
            let mut bytes = msg.as_bytes().to_vec();
            for i in 0..bytes.len() {
                bytes[i] ^= 0x20;
                let _ = parse(&String::from_utf8_lossy(&bytes));
                bytes[i] ^= 0x20;
            }
        }
    }
}
