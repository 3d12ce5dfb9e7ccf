//! Telnyx media streaming (`streaming_start` or TeXML `<Stream>` with
//! `bidirectionalMode="rtp"`): Twilio's shape in snake_case, a top-level `stream_id`,
//! and a codec named in `start.media_format` (PCMU by default, PCMA, or big-endian L16).
//! Outbound messages carry no stream id.

use std::collections::BTreeMap;

use serde_json::json;

use super::json::{self, kind, number, payload, string_map, text};
use super::twilio::heard_twilio_like;
use super::{CallerCodec, CarrierCodec, CarrierEvent, Heard, StreamStart, WireError, WsFrame};
use crate::media::Codec;

#[derive(Default)]
pub struct TelnyxServer {
    codec: Option<Codec>,
}

fn codec(encoding: &str, rate: u32) -> Result<Codec, WireError> {
    match (encoding, rate) {
        ("PCMU", 8000) => Ok(Codec::Pcmu),
        ("PCMA", 8000) => Ok(Codec::Pcma),
        ("L16", 8000 | 16000) => Ok(Codec::L16Be { rate }),
        _ => {
            Err(WireError::Unsupported(format!("{encoding} at {rate} Hz (expected PCMU, PCMA or L16 at 8 or 16 kHz)")))
        }
    }
}

impl CarrierCodec for TelnyxServer {
    fn decode(&mut self, frame: WsFrame) -> Result<CarrierEvent, WireError> {
        let WsFrame::Text(t) = frame else { return Err(WireError::UnexpectedBinary) };
        let v = json::parse(&t)?;
        match kind(&v, "event")?.as_str() {
            "connected" => Ok(CarrierEvent::Nothing),
            "start" => {
                let s = v.get("start").ok_or(WireError::Missing("start"))?;
                let format = s.get("media_format");
                let encoding = format.and_then(|f| text(f, &["encoding"])).unwrap_or_else(|| "PCMU".into());
                let rate = format.and_then(|f| number(f, &["sample_rate"])).unwrap_or(8000) as u32;
                let codec = codec(&encoding, rate)?;
                self.codec = Some(codec);
                Ok(CarrierEvent::Start(StreamStart {
                    stream_id: text(&v, &["stream_id"]).ok_or(WireError::Missing("stream_id"))?,
                    carrier_call_id: text(s, &["call_control_id"]).unwrap_or_default(),
                    params: string_map(s.get("custom_parameters")),
                    sample_rate: codec.rate(),
                }))
            }
            // Telnyx reports what it could not play; the stream goes on.
            "error" => Ok(CarrierEvent::Nothing),
            _ if self.codec.is_none() => Err(WireError::BeforeStart("a message")),
            "media" => {
                let m = v.get("media").ok_or(WireError::Missing("media"))?;
                if let Some(track) = text(m, &["track"]).filter(|t| t != "inbound") {
                    return Err(WireError::Unsupported(format!("media track {track:?}")));
                }
                let codec = self.codec.expect("started");
                codec.decode(&payload(m)?).map(CarrierEvent::Audio).map_err(|e| WireError::Invalid(e.to_string()))
            }
            other => json::dtmf_mark_stop(&v, other),
        }
    }

    fn audio(&mut self, samples: &[f32]) -> Vec<WsFrame> {
        let bytes = self.codec.unwrap_or(Codec::Pcmu).encode(samples);
        vec![WsFrame::Text(json!({"event": "media", "media": {"payload": json::encode_b64(&bytes)}}).to_string())]
    }

    fn mark(&mut self, name: &str) -> Vec<WsFrame> {
        vec![WsFrame::Text(json!({"event": "mark", "mark": {"name": name}}).to_string())]
    }

    fn clear(&mut self) -> Vec<WsFrame> {
        vec![WsFrame::Text(json!({"event": "clear"}).to_string())]
    }
}

/// Telnyx's side of a stream (PCMU at 8 kHz), as `voxline caller telnyx` plays it.
#[derive(Default)]
pub struct TelnyxCaller {
    stream_id: String,
    seq: u64,
}

impl TelnyxCaller {
    fn message(&mut self, event: &str, body: serde_json::Value) -> WsFrame {
        self.seq += 1;
        let mut m = json!({"event": event, "sequence_number": self.seq.to_string(), "stream_id": self.stream_id});
        if !body.is_null() {
            m[event] = body;
        }
        WsFrame::Text(m.to_string())
    }
}

impl CallerCodec for TelnyxCaller {
    fn sample_rate(&self) -> u32 {
        8000
    }

    fn open(&mut self, call_sid: &str, params: &BTreeMap<String, String>) -> Vec<WsFrame> {
        self.stream_id = format!("32de0dea-53cb-4b21-89a4-{:0>12}", call_sid.len());
        let start = json!({"user_id": "voxline", "call_control_id": call_sid, "call_session_id": call_sid,
            "from": "+10000000000", "to": "+10000000001", "tags": [], "client_state": null, "custom_parameters": params,
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}});
        vec![WsFrame::Text(json!({"event": "connected", "version": "1.0.0"}).to_string()), self.message("start", start)]
    }

    fn audio(&mut self, samples: &[f32], at_ms: u64) -> WsFrame {
        let body = json!({"track": "inbound", "chunk": (self.seq + 1).to_string(), "timestamp": at_ms.to_string(),
            "payload": json::encode_b64(&Codec::Pcmu.encode(samples))});
        self.message("media", body)
    }

    fn dtmf(&mut self, digit: char) -> WsFrame {
        self.message("dtmf", json!({"digit": digit.to_string()}))
    }

    fn decode(&mut self, frame: WsFrame) -> Result<Heard, WireError> {
        let WsFrame::Text(t) = frame else { return Err(WireError::UnexpectedBinary) };
        heard_twilio_like(&json::parse(&t)?, Codec::Pcmu)
    }

    fn mark_played(&mut self, name: &str) -> Option<WsFrame> {
        Some(self.message("mark", json!({"name": name})))
    }

    fn hang_up(&mut self) -> Option<WsFrame> {
        Some(self.message("stop", json!({"user_id": "voxline", "call_control_id": "voxline"})))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telnyx_messages_parse_as_documented() {
        let mut c = TelnyxServer::default();
        let start = r#"{"event":"start","sequence_number":"1","start":{"user_id":"u","call_control_id":"v3:abc","call_session_id":"s","from":"+1","to":"+2","tags":["x"],"client_state":"aGk=","media_format":{"encoding":"PCMA","sample_rate":8000,"channels":1}},"stream_id":"32de0dea"}"#;
        let CarrierEvent::Start(s) = c.decode(WsFrame::Text(start.into())).unwrap() else { panic!("start") };
        assert_eq!((s.stream_id.as_str(), s.carrier_call_id.as_str(), s.sample_rate), ("32de0dea", "v3:abc", 8000));
        let media = r#"{"event":"media","sequence_number":"4","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"1dU="},"stream_id":"32de0dea"}"#;
        // A-law 0xd5 is the smallest positive step.
        let CarrierEvent::Audio(a) = c.decode(WsFrame::Text(media.into())).unwrap() else { panic!("media") };
        assert!(a.len() == 2 && a[0] > 0.0 && a[0] < 0.001);
        let dtmf = r#"{"event":"dtmf","stream_id":"32de0dea","occurred_at":"2024-01-01T00:00:00Z","sequence_number":"5","dtmf":{"digit":"7"}}"#;
        assert_eq!(c.decode(WsFrame::Text(dtmf.into())), Ok(CarrierEvent::Dtmf('7')));
        let error = r#"{"event":"error","payload":{"code":100003,"title":"malformed_frame","detail":"x"}}"#;
        assert_eq!(c.decode(WsFrame::Text(error.into())), Ok(CarrierEvent::Nothing));
        let l16 =
            r#"{"event":"start","start":{"media_format":{"encoding":"OPUS","sample_rate":16000}},"stream_id":"s"}"#;
        assert!(TelnyxServer::default().decode(WsFrame::Text(l16.into())).unwrap_err().to_string().contains("OPUS"));
    }

    #[test]
    fn the_caller_and_the_server_understand_each_other() {
        let (mut caller, mut server) = (TelnyxCaller::default(), TelnyxServer::default());
        let params = BTreeMap::from([("flow".to_string(), "returns".to_string())]);
        let opening: Vec<_> = caller.open("v3:call", &params).into_iter().map(|f| server.decode(f).unwrap()).collect();
        assert!(matches!(&opening[1], CarrierEvent::Start(s) if s.params == params && s.carrier_call_id == "v3:call"));
        assert!(matches!(server.decode(caller.audio(&[0.1; 160], 0)), Ok(CarrierEvent::Audio(a)) if a.len() == 160));
        assert!(matches!(caller.decode(server.audio(&[0.1; 160]).remove(0)), Ok(Heard::Audio(a)) if a.len() == 160));
        assert_eq!(caller.decode(server.mark("2.0").remove(0)), Ok(Heard::Mark("2.0".into())));
        assert_eq!(caller.decode(server.clear().remove(0)), Ok(Heard::Clear));
        assert_eq!(server.decode(caller.mark_played("2.0").unwrap()), Ok(CarrierEvent::Mark("2.0".into())));
        assert_eq!(server.decode(caller.dtmf('5')), Ok(CarrierEvent::Dtmf('5')));
        assert_eq!(server.decode(caller.hang_up().unwrap()), Ok(CarrierEvent::Stop));
    }
}
