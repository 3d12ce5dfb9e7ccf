//! Field helpers the JSON carrier codecs share: carriers disagree on case and on
//! whether numbers are strings.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use super::{CarrierEvent, WireError};

/// Largest decoded media payload accepted in one message (100 ms of 16 kHz L16 is 3.2 kB).
pub const MAX_MEDIA_BYTES: usize = 32_000;

pub fn parse(text: &str) -> Result<Value, WireError> {
    let value: Value = serde_json::from_str(text).map_err(|e| WireError::Json(e.to_string()))?;
    if !value.is_object() {
        return Err(WireError::Json("not a JSON object".into()));
    }
    Ok(value)
}

/// The first of `names` present on `v`.
pub fn field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| v.get(*n)).filter(|v| !v.is_null())
}

/// A string field, also when the carrier sent a number.
pub fn text(v: &Value, names: &[&str]) -> Option<String> {
    field(v, names).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// A number field, also when the carrier sent it as a string.
pub fn number(v: &Value, names: &[&str]) -> Option<u64> {
    field(v, names).and_then(|v| match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    })
}

/// The message's kind: its `event` (or `type`) string.
pub fn kind(v: &Value, key: &'static str) -> Result<String, WireError> {
    v.get(key).and_then(Value::as_str).map(str::to_string).ok_or(WireError::Missing(key))
}

/// A base64 media payload, size-checked before decoding.
pub fn payload(media: &Value) -> Result<Vec<u8>, WireError> {
    let b64 = media.get("payload").and_then(Value::as_str).ok_or(WireError::Missing("media.payload"))?;
    if b64.len() > MAX_MEDIA_BYTES * 4 / 3 + 4 {
        return Err(WireError::TooLarge(b64.len() * 3 / 4));
    }
    base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()).map_err(|e| WireError::Base64(e.to_string()))
}

pub fn encode_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One DTMF digit.
pub fn digit(s: &str) -> Result<char, WireError> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c @ ('0'..='9' | '*' | '#' | 'A'..='D')), None) => Ok(c),
        _ => Err(WireError::Invalid(format!("dtmf digit {:?}", s.chars().take(8).collect::<String>()))),
    }
}

/// String values of an object (custom parameters, metadata); numbers and objects as JSON.
pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The events Twilio, Telnyx and Exotel spell alike (`dtmf`, `mark`, `stop`); any other
/// event is unknown.
pub fn dtmf_mark_stop(v: &Value, event: &str) -> Result<CarrierEvent, WireError> {
    match event {
        "dtmf" => {
            let d = v.get("dtmf").ok_or(WireError::Missing("dtmf"))?;
            Ok(CarrierEvent::Dtmf(digit(&text(d, &["digit"]).unwrap_or_default())?))
        }
        "mark" => {
            let name = v.get("mark").and_then(|m| text(m, &["name"])).ok_or(WireError::Missing("mark.name"))?;
            Ok(CarrierEvent::Mark(name))
        }
        "stop" => Ok(CarrierEvent::Stop),
        other => Err(WireError::UnknownEvent(other.chars().take(40).collect())),
    }
}
