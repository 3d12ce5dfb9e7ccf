//! Exotel Voicebot applet (bidirectional AgentStream): Twilio-like JSON in snake_case
//! (camelCase accepted), audio as base64 16-bit little-endian PCM at the stream's
//! `sample_rate` (8 kHz by default). Outbound media must come in chunks of a multiple of
//! 320 bytes and at least 3.2 kB, so bot audio goes out in chunks of 100 ms or 3.2 kB,
//! whichever is longer (200 ms at 8 kHz).

use std::collections::BTreeMap;

use serde_json::json;

use super::json::{self, field, kind, number, payload, string_map, text};
use super::twilio::heard_twilio_like;
use super::{CallerCodec, CarrierCodec, CarrierEvent, Heard, StreamStart, WireError, WsFrame};
use crate::media::Codec;

/// Outbound chunk length.
const CHUNK_MS: usize = 100;
/// Smallest chunk Exotel plays without a gap.
const MIN_CHUNK_BYTES: usize = 3200;

#[derive(Default)]
pub struct ExotelServer {
    stream_sid: String,
    rate: u32,
    /// Bot audio not yet sent (less than one chunk).
    pending: Vec<f32>,
}

impl ExotelServer {
    fn codec(&self) -> Codec {
        Codec::L16Le { rate: self.rate }
    }

    fn media(&self, samples: &[f32]) -> WsFrame {
        let body = json!({"payload": json::encode_b64(&self.codec().encode(samples))});
        WsFrame::Text(json!({"event": "media", "stream_sid": self.stream_sid, "media": body}).to_string())
    }

    /// Sends what is buffered, padded with silence to the smallest chunk Exotel plays.
    fn flush(&mut self) -> Vec<WsFrame> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let min = MIN_CHUNK_BYTES / 2;
        let unit = 160;
        let len = self.pending.len().max(min).div_ceil(unit) * unit;
        self.pending.resize(len, 0.0);
        let frame = self.media(&self.pending);
        self.pending.clear();
        vec![frame]
    }
}

impl CarrierCodec for ExotelServer {
    fn decode(&mut self, frame: WsFrame) -> Result<CarrierEvent, WireError> {
        let WsFrame::Text(t) = frame else { return Err(WireError::UnexpectedBinary) };
        let v = json::parse(&t)?;
        match kind(&v, "event")?.as_str() {
            "connected" => Ok(CarrierEvent::Nothing),
            "start" => {
                let s = v.get("start").ok_or(WireError::Missing("start"))?;
                let format = field(s, &["media_format", "mediaFormat"]);
                let rate = format.and_then(|f| number(f, &["sample_rate", "sampleRate"])).unwrap_or(8000) as u32;
                let encoding = format.and_then(|f| text(f, &["encoding"])).unwrap_or_else(|| "audio/x-raw".into());
                if !matches!(rate, 8000 | 16000 | 24000) || encoding != "audio/x-raw" {
                    return Err(WireError::Unsupported(format!(
                        "{encoding} at {rate} Hz (expected audio/x-raw at 8, 16 or 24 kHz)"
                    )));
                }
                self.rate = rate;
                self.stream_sid = text(s, &["stream_sid", "streamSid"])
                    .or_else(|| text(&v, &["stream_sid", "streamSid"]))
                    .ok_or(WireError::Missing("start.stream_sid"))?;
                Ok(CarrierEvent::Start(StreamStart {
                    stream_id: self.stream_sid.clone(),
                    carrier_call_id: text(s, &["call_sid", "callSid"]).unwrap_or_default(),
                    params: string_map(field(s, &["custom_parameters", "customParameters"])),
                    sample_rate: rate,
                }))
            }
            _ if self.stream_sid.is_empty() => Err(WireError::BeforeStart("a message")),
            "media" => {
                let m = v.get("media").ok_or(WireError::Missing("media"))?;
                self.codec()
                    .decode(&payload(m)?)
                    .map(CarrierEvent::Audio)
                    .map_err(|e| WireError::Invalid(e.to_string()))
            }
            other => json::dtmf_mark_stop(&v, other),
        }
    }

    fn audio(&mut self, samples: &[f32]) -> Vec<WsFrame> {
        self.pending.extend_from_slice(samples);
        let chunk = (CHUNK_MS * self.rate as usize / 1000).max(MIN_CHUNK_BYTES / 2);
        if self.pending.len() >= chunk {
            return self.flush();
        }
        Vec::new()
    }

    fn mark(&mut self, name: &str) -> Vec<WsFrame> {
        let mut frames = self.flush();
        frames.push(WsFrame::Text(
            json!({"event": "mark", "stream_sid": self.stream_sid, "mark": {"name": name}}).to_string(),
        ));
        frames
    }

    fn clear(&mut self) -> Vec<WsFrame> {
        self.pending.clear();
        vec![WsFrame::Text(json!({"event": "clear", "stream_sid": self.stream_sid}).to_string())]
    }

    fn hang_up(&mut self) -> Vec<WsFrame> {
        self.flush()
    }
}

/// Exotel's side of a stream, as `voxline caller exotel` plays it.
pub struct ExotelCaller {
    rate: u32,
    stream_sid: String,
    seq: u64,
}

impl ExotelCaller {
    pub fn new(rate: u32) -> Self {
        ExotelCaller { rate, stream_sid: String::new(), seq: 0 }
    }

    fn message(&mut self, event: &str, body: serde_json::Value) -> WsFrame {
        self.seq += 1;
        WsFrame::Text(
            json!({"event": event, "sequence_number": self.seq.to_string(), "stream_sid": self.stream_sid, event: body})
                .to_string(),
        )
    }
}

impl CallerCodec for ExotelCaller {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn open(&mut self, call_sid: &str, params: &BTreeMap<String, String>) -> Vec<WsFrame> {
        self.stream_sid = format!("st{call_sid}");
        let start = json!({"stream_sid": self.stream_sid, "call_sid": call_sid, "account_sid": "voxline",
            "from": "09000000000", "to": "08000000000", "custom_parameters": params,
            "media_format": {"encoding": "audio/x-raw", "sample_rate": self.rate.to_string(), "bit_rate": "16"}});
        vec![WsFrame::Text(json!({"event": "connected"}).to_string()), self.message("start", start)]
    }

    fn audio(&mut self, samples: &[f32], at_ms: u64) -> WsFrame {
        let payload = json::encode_b64(&Codec::L16Le { rate: self.rate }.encode(samples));
        let chunk = self.seq.to_string();
        self.message("media", json!({"chunk": chunk, "timestamp": at_ms.to_string(), "payload": payload}))
    }

    fn dtmf(&mut self, digit: char) -> WsFrame {
        self.message("dtmf", json!({"digit": digit.to_string(), "duration": "200"}))
    }

    fn decode(&mut self, frame: WsFrame) -> Result<Heard, WireError> {
        let WsFrame::Text(t) = frame else { return Err(WireError::UnexpectedBinary) };
        let heard = heard_twilio_like(&json::parse(&t)?, Codec::L16Le { rate: self.rate })?;
        if let Heard::Audio(a) = &heard {
            let bytes = a.len() * 2;
            if bytes % 320 != 0 || bytes < MIN_CHUNK_BYTES {
                return Err(WireError::Invalid(format!(
                    "media chunk of {bytes} bytes (Exotel wants n x 320, >= 3200)"
                )));
            }
        }
        Ok(heard)
    }

    fn mark_played(&mut self, name: &str) -> Option<WsFrame> {
        Some(self.message("mark", json!({"name": name})))
    }

    fn hang_up(&mut self) -> Option<WsFrame> {
        let sid = self.stream_sid.trim_start_matches("st").to_string();
        Some(self.message("stop", json!({"call_sid": sid, "account_sid": "voxline", "reason": "callended"})))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exotel_start_accepts_either_case_and_string_numbers() {
        let start = r#"{"event":"start","sequence_number":"1","stream_sid":"s1","start":{"stream_sid":"s1","call_sid":"c1","account_sid":"a","from":"0","to":"1","custom_parameters":{"flow":"cod"},"media_format":{"encoding":"audio/x-raw","sample_rate":"8000","bit_rate":"16"}}}"#;
        let CarrierEvent::Start(s) = ExotelServer::default().decode(WsFrame::Text(start.into())).unwrap() else {
            panic!("start")
        };
        assert_eq!((s.stream_id.as_str(), s.carrier_call_id.as_str(), s.sample_rate), ("s1", "c1", 8000));
        let camel = r#"{"event":"start","streamSid":"s2","start":{"streamSid":"s2","callSid":"c2","customParameters":{"flow":"cod"},"mediaFormat":{"encoding":"audio/x-raw","sampleRate":16000}}}"#;
        let CarrierEvent::Start(s) = ExotelServer::default().decode(WsFrame::Text(camel.into())).unwrap() else {
            panic!("camelCase start")
        };
        assert_eq!((s.carrier_call_id.as_str(), s.sample_rate, s.params["flow"].as_str()), ("c2", 16000, "cod"));
    }

    #[test]
    fn bot_audio_goes_out_in_chunks_of_at_least_3200_bytes() {
        let mut caller = ExotelCaller::new(8000);
        let mut server = ExotelServer::default();
        for f in caller.open("c1", &BTreeMap::new()) {
            server.decode(f).unwrap();
        }
        let sent: Vec<WsFrame> = (0..12).flat_map(|_| server.audio(&[0.2; 160])).collect();
        assert_eq!(sent.len(), 1, "10 frames (3.2 kB at 8 kHz) make one chunk, 2 wait");
        let Ok(Heard::Audio(a)) = caller.decode(sent[0].clone()) else { panic!("chunk") };
        assert_eq!(a.len(), 1600);
        // A mark flushes the 40 ms left, padded to the 3.2 kB minimum, then the mark.
        let flushed = server.mark("1.0");
        assert_eq!(flushed.len(), 2);
        assert!(matches!(caller.decode(flushed[0].clone()), Ok(Heard::Audio(a)) if a.len() == 1600));
        assert_eq!(caller.decode(flushed[1].clone()), Ok(Heard::Mark("1.0".into())));
        server.audio(&[0.2; 160]);
        assert_eq!(server.clear().len(), 1, "a clear drops what is buffered");
        assert!(server.mark("2.0").len() == 1);
        assert_eq!(server.decode(caller.mark_played("1.0").unwrap()), Ok(CarrierEvent::Mark("1.0".into())));
        assert!(matches!(server.decode(caller.audio(&[0.1; 160], 20)), Ok(CarrierEvent::Audio(a)) if a.len() == 160));
        assert_eq!(server.decode(caller.dtmf('9')), Ok(CarrierEvent::Dtmf('9')));
        assert_eq!(server.decode(caller.hang_up().unwrap()), Ok(CarrierEvent::Stop));
    }

    #[test]
    fn odd_sized_pcm_is_an_error() {
        let mut server = ExotelServer::default();
        for f in ExotelCaller::new(8000).open("c", &BTreeMap::new()) {
            server.decode(f).unwrap();
        }
        let odd = r#"{"event":"media","stream_sid":"stc","media":{"payload":"AAAA"}}"#;
        assert!(matches!(server.decode(WsFrame::Text(odd.into())), Err(WireError::Invalid(_))));
    }
}
