//! `voxline serve` on 127.0.0.1 with the real models, and callers speaking Twilio's
//! Media Streams protocol over real WebSockets in real time.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{fixtures, models};

/// A running server, stopped on every exit path.
struct Server {
    child: Child,
    twilio_url: String,
    health_url: String,
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxline"));
        cmd.arg("--models").arg(&models().root).arg("serve").current_dir(env!("CARGO_MANIFEST_DIR"));
        cmd.env("VOXLINE_HTTP__LISTEN", "127.0.0.1:0").env("VOXLINE_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // The first lines name the bound address: read them (blocking until printed).
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut twilio_url, mut health_url) = (String::new(), String::new());
        // Until the static prompts are rendered, so calls meet the warm cache a live
        // server has after its first seconds.
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line.contains("ready: static prompts rendered") {
                break;
            }
            let url = line.split_whitespace().last().unwrap_or("").to_string();
            if line.contains("twilio media") {
                twilio_url = url;
            } else if line.contains("health") {
                health_url = line.split_whitespace().nth(1).unwrap_or("").to_string();
            }
        }
        assert!(twilio_url.starts_with("ws://127.0.0.1:"), "serve printed no media URL");
        assert!(health_url.starts_with("http://127.0.0.1:"), "serve printed no health URL");
        Server { child, twilio_url, health_url }
    }

    /// SIGTERM, then the exit status and everything the server logged.
    fn stop(mut self) -> (bool, String) {
        unsafe_sigterm(self.child.id());
        let status = self.child.wait().unwrap();
        let mut log = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
        (status.success(), log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_sigterm(pid: u32) {
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
}

fn caller(url: &str, script: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_voxline"))
        .args(["caller", "twilio", url])
        .arg(fixtures().join("calls").join(script))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn a_twilio_caller_confirms_a_cod_order_over_a_live_stream() {
    let server = Server::start(&[]);
    assert!(http_get(&server.health_url).ends_with("ok"));
    assert!(http_get(&server.health_url.replace("healthz", "readyz")).ends_with("ready"));
    let summary = caller(&server.twilio_url, "cod_confirm.toml");
    assert_eq!(summary["closed"], "call ended", "{summary}");
    assert_eq!(summary["turns_sent"], 4, "{summary}");
    assert!(summary["bot_audio_ms"].as_u64().unwrap() > 15_000, "{summary}");
    assert!(summary["marks_echoed"].as_u64().unwrap() >= 8, "a mark after each sentence: {summary}");
    assert_eq!(summary["clears"], 0, "{summary}");
    let (clean_exit, log) = server.stop();
    assert!(clean_exit, "{log}");
    assert!(log.contains("call ended outcome=\"confirmed\""), "{log}");
}

/// Garbage on one stream closes that stream with a reason; the server keeps serving.
#[test]
fn bad_frames_close_their_stream_only() {
    let server = Server::start(&[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reasons: Vec<String> = runtime.block_on(async {
        let mut reasons = Vec::new();
        let starts = [
            r#"{"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":{"flow":"nope","context":"{}"}}}"#,
            r#"{"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":{"flow":"cod","context":"not json"}}}"#,
            r#"{"event":"media","media":{"payload":"/////w=="}}"#,
            "garbage",
        ];
        for first in starts {
            let (mut ws, _) = tokio_tungstenite::connect_async(&server.twilio_url).await.unwrap();
            ws.send(Message::text(first)).await.unwrap();
            let reason = loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => break frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    Some(Ok(_)) => continue,
                    _ => break String::new(),
                }
            };
            reasons.push(reason);
        }
        reasons
    });
    assert!(reasons[0].contains("unknown flow"), "{reasons:?}");
    assert!(reasons[1].contains("context is not JSON"), "{reasons:?}");
    assert!(reasons[2].contains("before `start`"), "{reasons:?}");
    assert!(reasons[3].contains("not a valid message"), "{reasons:?}");
    assert!(http_get(&server.health_url).ends_with("ok"), "still serving");
    let (clean_exit, log) = server.stop();
    assert!(clean_exit && log.contains("closing a Twilio stream"), "{log}");
}

#[test]
fn a_bad_twilio_signature_is_refused() {
    let server = Server::start(&[("VOXLINE_TWILIO__AUTH_TOKEN", "secret")]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let refused = runtime.block_on(tokio_tungstenite::connect_async(&server.twilio_url)).unwrap_err().to_string();
    assert!(refused.contains("403"), "{refused}");
    let (_, log) = server.stop();
    assert!(log.contains("bad or missing X-Twilio-Signature"), "{log}");
}

/// SIGTERM during a call: no new calls, the live one talks to its end, the process exits 0.
#[test]
fn shutdown_lets_a_live_call_finish() {
    let mut server = Server::start(&[("VOXLINE_SHUTDOWN__DRAIN_TIMEOUT", "120s")]);
    let caller = Command::new(env!("CARGO_BIN_EXE_voxline"))
        .args(["caller", "twilio", &server.twilio_url])
        .arg(fixtures().join("calls/cod_confirm.toml"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (by reading the log, not by sleeping) until the call is live, then SIGTERM.
    let mut log = BufReader::new(server.child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Collects log lines up to and including the first that contains `marker`.
    let mut read_until = |marker: &str, seen: &mut Vec<String>| {
        for line in log.by_ref() {
            let line = line.unwrap();
            let found = line.contains(marker);
            seen.push(line);
            if found {
                break;
            }
        }
    };
    read_until("call started", &mut seen);
    unsafe_sigterm(server.child.id());
    read_until("shutting down", &mut seen);
    assert!(
        http_get(&server.health_url.replace("healthz", "readyz")).contains("503"),
        "refuses new work while draining"
    );
    let out = caller.wait_with_output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["closed"].as_str(), summary["turns_sent"].as_u64()),
        (Some("call ended"), Some(4)),
        "{summary}"
    );
    let status = server.child.wait().unwrap();
    seen.extend(log.map_while(Result::ok));
    let log = seen.join("\n");
    assert!(status.success(), "{log}");
    assert!(log.contains("call ended outcome=\"confirmed\""), "{log}");
}
