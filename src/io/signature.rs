//! Twilio's request signature (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed with the
//! account's auth token, over the full URL followed by every POST parameter sorted by
//! name as `name` + `value` (no separators). The WebSocket upgrade is signed over its
//! `wss://` URL alone.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

fn mac(token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut m = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    m.update(url.as_bytes());
    for (name, value) in sorted {
        m.update(name.as_bytes());
        m.update(value.as_bytes());
    }
    m
}

/// The signature Twilio sends for this request.
pub fn twilio_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(token, url, params).finalize().into_bytes())
}

/// The URL with and without the scheme's default port: Twilio may sign either form.
fn url_forms(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else { return forms };
    let port = match scheme {
        "https" | "wss" => "443",
        "http" | "ws" => "80",
        _ => return forms,
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match host.strip_suffix(&format!(":{port}")) {
        Some(bare) => forms.push(format!("{scheme}://{bare}{path}")),
        None if !host.contains(':') => forms.push(format!("{scheme}://{host}:{port}{path}")),
        None => {}
    }
    forms
}

/// Whether `signature` is Twilio's for this request (constant-time comparison).
pub fn twilio_signature_valid(token: &str, signature: &str, url: &str, params: &[(String, String)]) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else { return false };
    !token.is_empty() && url_forms(url).iter().any(|u| mac(token, u, params).verify_slice(&given).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn signatures_match_an_independent_hmac_sha1() {
        // Computed with Python's hmac/hashlib over "https://example.com/twilio/voice" +
        // "CallSidCA123" + "From+15551230000" + "To+15557650000".
        let params = p(&[("To", "+15557650000"), ("CallSid", "CA123"), ("From", "+15551230000")]);
        let sig = twilio_signature("secret-token", "https://example.com/twilio/voice", &params);
        assert_eq!(sig, EXPECTED);
        assert!(twilio_signature_valid("secret-token", EXPECTED, "https://example.com/twilio/voice", &params));
        assert!(twilio_signature_valid("secret-token", EXPECTED, "https://example.com:443/twilio/voice", &params));
        assert!(!twilio_signature_valid("other-token", EXPECTED, "https://example.com/twilio/voice", &params));
        assert!(!twilio_signature_valid("secret-token", EXPECTED, "https://example.com/twilio/voice?x=1", &params));
        let tampered = p(&[("To", "+15557650001"), ("CallSid", "CA123"), ("From", "+15551230000")]);
        assert!(!twilio_signature_valid("secret-token", EXPECTED, "https://example.com/twilio/voice", &tampered));
        assert!(!twilio_signature_valid("secret-token", "not base64!", "https://example.com/twilio/voice", &params));
        assert!(!twilio_signature_valid("", &twilio_signature("", "u", &[]), "u", &[]), "no token, no trust");
    }

    const EXPECTED: &str = include_str!("signature_vector.txt");
}
