//! jambonz `listen` verb with streaming bidirectional audio: subprotocol
//! `audio.jambonz.org`; a JSON text frame first (call attributes, `sampleRate`, and the
//! verb's `metadata`), then binary 16-bit little-endian PCM at that rate both ways
//! (`bidirectionalAudio: {enabled: true, streaming: true, sampleRate}` set to the same
//! rate). `killAudio` drops queued audio; `mark` comes back with `event: "playout"`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::json::{self, digit, kind, number, string_map, text, MAX_MEDIA_BYTES};
use super::{CallerCodec, CarrierCodec, CarrierEvent, Heard, StreamStart, WireError, WsFrame};
use crate::media::Codec;

pub const SUBPROTOCOL: &str = "audio.jambonz.org";

#[derive(Default)]
pub struct JambonzServer {
    rate: Option<u32>,
}

impl CarrierCodec for JambonzServer {
    fn subprotocol(&self) -> Option<&'static str> {
        Some(SUBPROTOCOL)
    }

    fn decode(&mut self, frame: WsFrame) -> Result<CarrierEvent, WireError> {
        let t = match (frame, self.rate) {
            (WsFrame::Binary(_), None) => return Err(WireError::BeforeStart("audio")),
            (WsFrame::Binary(bytes), Some(rate)) => {
                if bytes.len() > MAX_MEDIA_BYTES {
                    return Err(WireError::TooLarge(bytes.len()));
                }
                let codec = Codec::L16Le { rate };
                return codec.decode(&bytes).map(CarrierEvent::Audio).map_err(|e| WireError::Invalid(e.to_string()));
            }
            (WsFrame::Text(t), _) => t,
        };
        let v = json::parse(&t)?;
        if self.rate.is_none() {
            let rate = number(&v, &["sampleRate"]).unwrap_or(8000) as u32;
            if !matches!(rate, 8000 | 16000 | 24000 | 48000) {
                return Err(WireError::Unsupported(format!("sampleRate {rate}")));
            }
            if text(&v, &["mixType"]).is_some_and(|m| m != "mono") {
                return Err(WireError::Unsupported("mixType other than mono".into()));
            }
            self.rate = Some(rate);
            // Metadata may arrive nested or merged into the top level.
            let mut params: BTreeMap<String, String> = v
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect();
            params.extend(string_map(v.get("metadata")));
            let call_sid = text(&v, &["callSid"]).unwrap_or_default();
            return Ok(CarrierEvent::Start(StreamStart {
                stream_id: call_sid.clone(),
                carrier_call_id: call_sid,
                params,
                sample_rate: rate,
            }));
        }
        if v.get("event").and_then(Value::as_str) == Some("dtmf") {
            return Ok(CarrierEvent::Dtmf(digit(&text(&v, &["dtmf"]).unwrap_or_default())?));
        }
        match v.get("type").and_then(Value::as_str) {
            Some("mark") => {
                let name = v.get("data").and_then(|d| text(d, &["name"])).ok_or(WireError::Missing("data.name"))?;
                Ok(CarrierEvent::Mark(name))
            }
            // playDone, errors and the like.
            _ => Ok(CarrierEvent::Nothing),
        }
    }

    fn audio(&mut self, samples: &[f32]) -> Vec<WsFrame> {
        vec![WsFrame::Binary(Codec::L16Le { rate: self.rate.unwrap_or(8000) }.encode(samples))]
    }

    fn mark(&mut self, name: &str) -> Vec<WsFrame> {
        vec![WsFrame::Text(json!({"type": "mark", "data": {"name": name}}).to_string())]
    }

    fn clear(&mut self) -> Vec<WsFrame> {
        vec![WsFrame::Text(json!({"type": "killAudio"}).to_string())]
    }

    fn hang_up(&mut self) -> Vec<WsFrame> {
        vec![WsFrame::Text(json!({"type": "disconnect"}).to_string())]
    }
}

/// jambonz's side of a `listen` stream, as `voxline caller jambonz` plays it.
pub struct JambonzCaller {
    rate: u32,
}

impl JambonzCaller {
    pub fn new(rate: u32) -> Self {
        JambonzCaller { rate }
    }
}

impl CallerCodec for JambonzCaller {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn subprotocol(&self) -> Option<&'static str> {
        Some(SUBPROTOCOL)
    }

    fn open(&mut self, call_sid: &str, params: &BTreeMap<String, String>) -> Vec<WsFrame> {
        let first = json!({"callSid": call_sid, "direction": "outbound", "from": "+10000000000", "to": "+10000000001",
            "callId": call_sid, "sampleRate": self.rate, "mixType": "mono", "metadata": params});
        vec![WsFrame::Text(first.to_string())]
    }

    fn audio(&mut self, samples: &[f32], _at_ms: u64) -> WsFrame {
        WsFrame::Binary(Codec::L16Le { rate: self.rate }.encode(samples))
    }

    fn dtmf(&mut self, digit: char) -> WsFrame {
        WsFrame::Text(json!({"event": "dtmf", "dtmf": digit.to_string(), "duration": "250"}).to_string())
    }

    fn decode(&mut self, frame: WsFrame) -> Result<Heard, WireError> {
        let t = match frame {
            WsFrame::Binary(bytes) => {
                let codec = Codec::L16Le { rate: self.rate };
                return codec.decode(&bytes).map(Heard::Audio).map_err(|e| WireError::Invalid(e.to_string()));
            }
            WsFrame::Text(t) => t,
        };
        let v = json::parse(&t)?;
        match kind(&v, "type")?.as_str() {
            "mark" => {
                Ok(Heard::Mark(v.get("data").and_then(|d| text(d, &["name"])).ok_or(WireError::Missing("data.name"))?))
            }
            "killAudio" => Ok(Heard::Clear),
            "disconnect" | "clearMarks" => Ok(Heard::Nothing),
            other => Err(WireError::UnknownEvent(other.chars().take(40).collect())),
        }
    }

    fn mark_played(&mut self, name: &str) -> Option<WsFrame> {
        Some(WsFrame::Text(json!({"type": "mark", "data": {"name": name, "event": "playout"}}).to_string()))
    }

    fn hang_up(&mut self) -> Option<WsFrame> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_nested_or_merged_names_the_flow() {
        let nested = r#"{"callSid":"j1","from":"+1","to":"+2","sampleRate":16000,"mixType":"mono","metadata":{"flow":"cod","call_id":"c-9"}}"#;
        let CarrierEvent::Start(s) = JambonzServer::default().decode(WsFrame::Text(nested.into())).unwrap() else {
            panic!("start")
        };
        assert_eq!((s.carrier_call_id.as_str(), s.sample_rate, s.params["call_id"].as_str()), ("j1", 16000, "c-9"));
        let merged = r#"{"callSid":"j2","sampleRate":8000,"flow":"returns"}"#;
        let CarrierEvent::Start(s) = JambonzServer::default().decode(WsFrame::Text(merged.into())).unwrap() else {
            panic!("start")
        };
        assert_eq!(s.params["flow"], "returns");
        assert_eq!(
            JambonzServer::default().decode(WsFrame::Binary(vec![0; 320])),
            Err(WireError::BeforeStart("audio"))
        );
        let stereo = r#"{"callSid":"j3","sampleRate":8000,"mixType":"stereo"}"#;
        assert!(JambonzServer::default().decode(WsFrame::Text(stereo.into())).is_err());
    }

    #[test]
    fn the_caller_and_the_server_understand_each_other() {
        let (mut caller, mut server) = (JambonzCaller::new(8000), JambonzServer::default());
        let params = BTreeMap::from([("flow".to_string(), "delivery_retry".to_string())]);
        let CarrierEvent::Start(s) = server.decode(caller.open("j-1", &params).remove(0)).unwrap() else { panic!() };
        assert_eq!(s.params["flow"], "delivery_retry");
        assert!(matches!(server.decode(caller.audio(&[0.1; 160], 0)), Ok(CarrierEvent::Audio(a)) if a.len() == 160));
        assert!(matches!(caller.decode(server.audio(&[0.1; 160]).remove(0)), Ok(Heard::Audio(a)) if a.len() == 160));
        assert_eq!(caller.decode(server.mark("1.0").remove(0)), Ok(Heard::Mark("1.0".into())));
        assert_eq!(caller.decode(server.clear().remove(0)), Ok(Heard::Clear));
        assert_eq!(server.decode(caller.mark_played("1.0").unwrap()), Ok(CarrierEvent::Mark("1.0".into())));
        assert_eq!(server.decode(caller.dtmf('0')), Ok(CarrierEvent::Dtmf('0')));
        assert_eq!(caller.decode(server.hang_up().remove(0)), Ok(Heard::Nothing));
    }
}
