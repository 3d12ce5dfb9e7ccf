//! Shared fixture loading for the benches.
#![allow(dead_code)]

use std::path::PathBuf;

use voxline::media::{read_wav_mono, resample};

pub fn fixture_16k(band: &str, name: &str) -> Vec<f32> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("audio-fixtures").join(band).join(format!("{name}.wav"));
    let pcm = read_wav_mono(&path).expect("fixture");
    resample(&pcm.samples, pcm.rate, 16_000).unwrap()
}

pub fn fixture_native(band: &str, name: &str) -> Vec<f32> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("audio-fixtures").join(band).join(format!("{name}.wav"));
    read_wav_mono(&path).expect("fixture").samples
}

/// Utterances of exactly 1, 3 and 6 seconds at 16 kHz: fixture speech with its
/// silence padding trimmed or extended evenly (speech itself is never cut).
pub fn utterances() -> Vec<(&'static str, Vec<f32>)> {
    [("1s", "short_yes", 1.0), ("3s", "wrong_number", 3.0), ("6s", "six_seconds", 6.0)]
        .into_iter()
        .map(|(label, name, secs)| (label, fit(&fixture_16k("16k", name), (secs * 16_000.0) as usize)))
        .collect()
}

fn fit(samples: &[f32], len: usize) -> Vec<f32> {
    if samples.len() >= len {
        let start = (samples.len() - len) / 2;
        samples[start..start + len].to_vec()
    } else {
        let pad = (len - samples.len()) / 2;
        let mut out = vec![0.0; pad];
        out.extend_from_slice(samples);
        out.resize(len, 0.0);
        out
    }
}

pub const TEN_WORDS: &str = "Your order of running shoes will arrive on Friday morning.";
pub const DOMAIN_PROMPT: &str =
    "Order, COD, cash on delivery, pickup, refund, address, delivery, cancel, reschedule, return.";

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`), 0 where unavailable.
pub fn status_kib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
