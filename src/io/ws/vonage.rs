//! Vonage Voice API WebSockets (NCCO `connect` to a `websocket` endpoint): a JSON
//! `websocket:connected` first, carrying the endpoint's `headers` as top-level keys and the
//! rate in `content-type`; then binary 16-bit little-endian PCM, 20 ms per frame (320 bytes
//! at 8 kHz, 640 at 16 kHz) both ways. `{"action":"clear"}` drops queued audio;
//! `{"action":"notify"}` comes back as `websocket:notify` once earlier audio has played.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::json::{self, digit, kind, text, MAX_MEDIA_BYTES};
use super::{CallerCodec, CarrierCodec, CarrierEvent, Heard, StreamStart, WireError, WsFrame};
use crate::media::Codec;

/// `audio/l16;rate=16000` -> 16000.
fn rate_of(content_type: &str) -> Result<u32, WireError> {
    let mut parts = content_type.split(';').map(str::trim);
    let (mime, params) = (parts.next().unwrap_or(""), parts.collect::<Vec<_>>());
    let rate = params.iter().find_map(|p| p.strip_prefix("rate=")).and_then(|r| r.parse().ok());
    match (mime, rate) {
        ("audio/l16", Some(rate @ (8000 | 16000 | 24000))) => Ok(rate),
        _ => Err(WireError::Unsupported(format!("content-type {content_type:?} (expected audio/l16;rate=8000|16000)"))),
    }
}

#[derive(Default)]
pub struct VonageServer {
    rate: Option<u32>,
}

impl CarrierCodec for VonageServer {
    fn decode(&mut self, frame: WsFrame) -> Result<CarrierEvent, WireError> {
        let t = match frame {
            WsFrame::Binary(bytes) => {
                let rate = self.rate.ok_or(WireError::BeforeStart("audio"))?;
                if bytes.len() > MAX_MEDIA_BYTES {
                    return Err(WireError::TooLarge(bytes.len()));
                }
                let codec = Codec::L16Le { rate };
                return codec.decode(&bytes).map(CarrierEvent::Audio).map_err(|e| WireError::Invalid(e.to_string()));
            }
            WsFrame::Text(t) => t,
        };
        let v = json::parse(&t)?;
        match kind(&v, "event")?.as_str() {
            "websocket:connected" => {
                let rate = rate_of(&text(&v, &["content-type"]).unwrap_or_default())?;
                self.rate = Some(rate);
                let params: BTreeMap<String, String> = v
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| !matches!(k.as_str(), "event" | "content-type"))
                    .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                    .collect();
                let id = ["uuid", "call_uuid", "conversation_uuid"].iter().find_map(|k| params.get(*k).cloned());
                Ok(CarrierEvent::Start(StreamStart {
                    stream_id: id.clone().unwrap_or_default(),
                    carrier_call_id: id.unwrap_or_default(),
                    params,
                    sample_rate: rate,
                }))
            }
            _ if self.rate.is_none() => Err(WireError::BeforeStart("a message")),
            "websocket:dtmf" => Ok(CarrierEvent::Dtmf(digit(&text(&v, &["digit"]).unwrap_or_default())?)),
            "websocket:notify" => {
                let name =
                    v.get("payload").and_then(|p| text(p, &["name"])).ok_or(WireError::Missing("payload.name"))?;
                Ok(CarrierEvent::Mark(name))
            }
            // Vonage documents that unknown events may come and are to be ignored.
            _ => Ok(CarrierEvent::Nothing),
        }
    }

    fn audio(&mut self, samples: &[f32]) -> Vec<WsFrame> {
        vec![WsFrame::Binary(Codec::L16Le { rate: self.rate.unwrap_or(16000) }.encode(samples))]
    }

    fn mark(&mut self, name: &str) -> Vec<WsFrame> {
        vec![WsFrame::Text(json!({"action": "notify", "payload": {"name": name}}).to_string())]
    }

    fn clear(&mut self) -> Vec<WsFrame> {
        vec![WsFrame::Text(json!({"action": "clear"}).to_string())]
    }
}

/// Vonage's side of a stream, as `voxline caller vonage` plays it.
pub struct VonageCaller {
    rate: u32,
}

impl VonageCaller {
    pub fn new(rate: u32) -> Self {
        VonageCaller { rate }
    }
}

impl CallerCodec for VonageCaller {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn open(&mut self, call_sid: &str, params: &BTreeMap<String, String>) -> Vec<WsFrame> {
        let mut connected = json!({"event": "websocket:connected", "content-type": format!("audio/l16;rate={}", self.rate),
            "uuid": call_sid});
        for (k, v) in params {
            connected[k] = Value::String(v.clone());
        }
        vec![WsFrame::Text(connected.to_string())]
    }

    fn audio(&mut self, samples: &[f32], _at_ms: u64) -> WsFrame {
        WsFrame::Binary(Codec::L16Le { rate: self.rate }.encode(samples))
    }

    fn dtmf(&mut self, digit: char) -> WsFrame {
        WsFrame::Text(json!({"event": "websocket:dtmf", "digit": digit.to_string(), "duration": 260}).to_string())
    }

    fn decode(&mut self, frame: WsFrame) -> Result<Heard, WireError> {
        let t = match frame {
            WsFrame::Binary(bytes) => {
                let frame_bytes = self.rate as usize / 50 * 2;
                if bytes.len() != frame_bytes {
                    return Err(WireError::Invalid(format!("{} byte frame (Vonage plays {frame_bytes})", bytes.len())));
                }
                let codec = Codec::L16Le { rate: self.rate };
                return Ok(Heard::Audio(codec.decode(&bytes).map_err(|e| WireError::Invalid(e.to_string()))?));
            }
            WsFrame::Text(t) => t,
        };
        let v = json::parse(&t)?;
        match kind(&v, "action")?.as_str() {
            "clear" => Ok(Heard::Clear),
            "notify" => Ok(Heard::Mark(
                v.get("payload").and_then(|p| text(p, &["name"])).ok_or(WireError::Missing("payload.name"))?,
            )),
            other => Err(WireError::UnknownEvent(other.chars().take(40).collect())),
        }
    }

    fn mark_played(&mut self, name: &str) -> Option<WsFrame> {
        Some(WsFrame::Text(json!({"event": "websocket:notify", "payload": {"name": name}}).to_string()))
    }

    fn hang_up(&mut self) -> Option<WsFrame> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_carries_the_rate_and_the_endpoint_headers() {
        let mut server = VonageServer::default();
        let first =
            r#"{"event":"websocket:connected","content-type":"audio/l16;rate=16000","flow":"cod","call_id":"c-1"}"#;
        let CarrierEvent::Start(s) = server.decode(WsFrame::Text(first.into())).unwrap() else { panic!("start") };
        assert_eq!(s.sample_rate, 16000);
        assert_eq!(s.params, BTreeMap::from([("flow".into(), "cod".into()), ("call_id".into(), "c-1".into())]));
        let CarrierEvent::Audio(a) = server.decode(WsFrame::Binary(vec![0; 640])).unwrap() else { panic!("audio") };
        assert_eq!(a.len(), 320);
        assert_eq!(server.decode(WsFrame::Text(r#"{"event":"websocket:cleared"}"#.into())), Ok(CarrierEvent::Nothing));
        let bad = r#"{"event":"websocket:connected","content-type":"audio/opus"}"#;
        assert!(VonageServer::default().decode(WsFrame::Text(bad.into())).is_err());
        assert_eq!(VonageServer::default().decode(WsFrame::Binary(vec![0; 640])), Err(WireError::BeforeStart("audio")));
        assert!(matches!(server.decode(WsFrame::Binary(vec![0; 641])), Err(WireError::Invalid(_))));
    }

    #[test]
    fn the_caller_and_the_server_understand_each_other() {
        let (mut caller, mut server) = (VonageCaller::new(16000), VonageServer::default());
        let params = BTreeMap::from([("flow".to_string(), "winback".to_string())]);
        let CarrierEvent::Start(s) = server.decode(caller.open("u-1", &params).remove(0)).unwrap() else { panic!() };
        assert_eq!((s.carrier_call_id.as_str(), s.params["flow"].as_str()), ("u-1", "winback"));
        assert!(matches!(server.decode(caller.audio(&[0.1; 320], 0)), Ok(CarrierEvent::Audio(a)) if a.len() == 320));
        assert!(matches!(caller.decode(server.audio(&[0.1; 320]).remove(0)), Ok(Heard::Audio(a)) if a.len() == 320));
        assert_eq!(caller.decode(server.mark("1.0").remove(0)), Ok(Heard::Mark("1.0".into())));
        assert_eq!(caller.decode(server.clear().remove(0)), Ok(Heard::Clear));
        assert_eq!(server.decode(caller.mark_played("1.0").unwrap()), Ok(CarrierEvent::Mark("1.0".into())));
        assert_eq!(server.decode(caller.dtmf('3')), Ok(CarrierEvent::Dtmf('3')));
    }
}
