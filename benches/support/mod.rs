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

/// `voxline serve` as a child process with the real models, on ports it picks, its store
/// in a temporary folder; the URLs it printed. Killed on drop.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub http: String,
    /// The Twilio media WebSocket URL.
    pub media: String,
    /// The SIP listener, `HOST:PORT`.
    pub sip: String,
    dir: PathBuf,
}

impl ServeProcess {
    /// Starts the server with `env` overrides and waits until it is ready.
    pub fn start(name: &str, env: &[(&str, String)]) -> ServeProcess {
        use std::io::BufRead;
        let dir = std::env::temp_dir().join(format!("voxline-bench-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_voxline"));
        command
            .arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("VOXLINE_HTTP__LISTEN", "127.0.0.1:0")
            .env("VOXLINE_SIP__LISTEN", "127.0.0.1:0")
            .env("VOXLINE_STORAGE__URL", format!("sqlite://{}/bench.db", dir.display()))
            .env("VOXLINE_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("voxline serve");
        let (mut http, mut media, mut sip) = (String::new(), String::new(), String::new());
        for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap_or_default();
            if line.contains("ready: static prompts rendered") {
                break;
            }
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["voxline", "serve:", url] => http = url.to_string(),
                ["twilio", "media", url] => media = url.to_string(),
                ["sip", uri, ..] => sip = uri.trim_start_matches("sip:").to_string(),
                _ => {}
            }
        }
        assert!(!http.is_empty() && !media.is_empty(), "voxline serve did not start");
        ServeProcess { child, http, media, sip, dir }
    }

    /// CPU seconds the server has used.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum::<f64>() / 100.0)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An HTTP request on 127.0.0.1 (JSON body); the response body.
pub fn http(method: &str, url: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.to_string())
}

pub fn get_json(url: &str) -> serde_json::Value {
    serde_json::from_str(&http("GET", url, "")).unwrap_or(serde_json::Value::Null)
}

/// The value at quantile `q` of sorted figures.
pub fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    (!sorted.is_empty()).then(|| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize])
}

/// The response latencies (ms) in a stored call's timeline.
pub fn response_latencies(record: &serde_json::Value) -> Vec<u64> {
    record["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "latency" && e["stage"] == "response")
        .filter_map(|e| e["ms"].as_u64())
        .collect()
}

/// The step sizes a bench sweeps: `var` as "1,2,4", else `default`.
pub fn steps(var: &str, default: &str) -> Vec<usize> {
    std::env::var(var).unwrap_or_else(|_| default.into()).split(',').filter_map(|s| s.trim().parse().ok()).collect()
}

/// A step's reply figures from its response latencies (ms): count, p50, p95, max.
pub fn reply_figures(latencies: &mut [u64]) -> serde_json::Value {
    latencies.sort_unstable();
    serde_json::json!({
        "replies": latencies.len(), "response_p50_ms": percentile(latencies, 0.5),
        "response_p95_ms": percentile(latencies, 0.95), "response_max_ms": latencies.last(),
    })
}
