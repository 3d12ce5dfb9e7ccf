//! `voxline serve` on 127.0.0.1 with the real models and a SQLite store in a temporary
//! directory; `voxline caller` speaking each carrier's protocol over real WebSockets in
//! real time; the call records read back through the REST API and `voxline calls`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{fixtures, models};

/// A running server, stopped on every exit path; its store is removed with it.
pub(crate) struct Server {
    child: Child,
    pub(crate) http: String,
    media: BTreeMap<String, String>,
    /// The SIP listener (UDP and TCP).
    pub(crate) sip: String,
    pub(crate) dir: PathBuf,
}

impl Server {
    pub(crate) fn start(env: &[(&str, &str)]) -> Server {
        Self::start_with(env, "")
    }

    /// With `config` (TOML) as its config file.
    pub(crate) fn start_with(env: &[(&str, &str)], config: &str) -> Server {
        let dir = std::env::temp_dir().join(format!("voxline-serve-{}-{}", std::process::id(), uuid_ish()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxline"));
        cmd.arg("--models").arg(&models().root).arg("serve").current_dir(env!("CARGO_MANIFEST_DIR"));
        if !config.is_empty() {
            std::fs::write(dir.join("voxline.toml"), config).unwrap();
            cmd.arg("--config").arg(dir.join("voxline.toml"));
        }
        cmd.env("VOXLINE_HTTP__LISTEN", "127.0.0.1:0")
            .env("VOXLINE_SIP__LISTEN", "127.0.0.1:0")
            // Engine timings too: a failing test prints the log.
            .env("VOXLINE_LOG", "info,voxline::io::engines=debug,voxline::engines=debug")
            .env("VOXLINE_STORAGE__URL", format!("sqlite://{}/voxline.db", dir.display()));
        for (k, v) in env {
            cmd.env(k, v);
        }
        // The log goes to a file: a pipe nobody reads would stall a chatty server.
        let log = std::fs::File::create(dir.join("serve.log")).unwrap();
        let mut child = cmd.stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        // The first lines name the bound address: read them (blocking until printed),
        // until the static prompts are rendered, so calls meet the warm cache a live
        // server has after its first seconds.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut http, mut media, mut sip) = (String::new(), BTreeMap::new(), String::new());
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line.contains("ready: static prompts rendered") {
                break;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["voxline", "serve:", url] => http = url.to_string(),
                ["sip", url, ..] => sip = url.trim_start_matches("sip:").to_string(),
                [carrier, "media", url] => {
                    media.insert(carrier.to_string(), url.to_string());
                }
                _ => {}
            }
        }
        assert!(http.starts_with("http://127.0.0.1:"), "serve printed no URL");
        assert_eq!(media.len(), 5, "one media endpoint per carrier: {media:?}");
        assert!(sip.starts_with("127.0.0.1:"), "serve printed no SIP address");
        Server { child, http, media, sip, dir }
    }

    fn url(&self, carrier: &str) -> &str {
        &self.media[carrier]
    }

    /// SIGTERM, then the exit status and everything the server logged.
    pub(crate) fn stop(mut self) -> (bool, String) {
        sigterm(self.child.id());
        let status = self.child.wait().unwrap();
        (status.success(), self.log())
    }

    /// Blocks until a log line contains `marker` (checked every 20 ms, for up to 2 minutes).
    pub(crate) fn wait_for_log(&self, marker: &str) {
        for _ in 0..6000 {
            if self.log().contains(marker) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("the server never logged {marker:?}");
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // What the server saw, for the failure at hand (CI keeps only the output).
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(400).collect();
            eprintln!("---- server log (last {} lines) ----", tail.len());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn uuid_ish() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn sigterm(pid: u32) {
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
}

/// Starts `voxline caller CARRIER URL SCRIPT [args]`.
fn spawn_caller(carrier: &str, url: &str, script: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_voxline"))
        .args(["caller", carrier, url])
        .arg(fixtures().join("calls").join(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs the callers two at a time (what this 2-core machine serves well within the
/// latency targets with one Whisper worker; BENCHMARKS.md), in order.
fn in_pairs(runs: Vec<(&str, &str, Vec<&str>)>, server: &Server) -> Vec<Value> {
    runs.chunks(2)
        .flat_map(|pair| {
            let callers: Vec<Child> = pair
                .iter()
                .map(|(carrier, script, args)| spawn_caller(carrier, server.url(carrier), script, args))
                .collect();
            callers.into_iter().map(summary_of).collect::<Vec<_>>()
        })
        .collect()
}

fn summary_of(caller: Child) -> Value {
    let out = caller.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Shown when the test fails: every call's summary, not just the first that failed.
    eprintln!("caller summary: {summary}");
    summary
}

/// (status, body) of a plain HTTP request.
pub(crate) fn http(method: &str, url: &str, body: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{body}",
        if body.starts_with('{') || body.starts_with('[') { "application/json" } else { "application/x-www-form-urlencoded" },
        body.len()
    );
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&response[..split]).split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, response[split + 4..].to_vec())
}

pub(crate) fn get_json(url: &str) -> Value {
    let (status, body) = http("GET", url, "");
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The call record, the transcript and the recording agree with what the caller heard.
fn check_record(server: &Server, summary: &Value, transport: &str) -> Value {
    let id = summary["call_id"].as_str().unwrap_or_else(|| panic!("no call_id: {summary}"));
    let record = get_json(&format!("{}/v1/calls/{id}", server.http));
    assert_eq!((record["state"].as_str(), record["transport"].as_str()), (Some("ended"), Some(transport)), "{record}");
    assert_eq!(record["outcome"], summary["outcome"], "{record}");
    assert!(record["carrier_call_id"].as_str().is_some_and(|c| !c.is_empty()), "{record}");
    assert!(record["started_at"].as_str() <= record["ended_at"].as_str(), "{record}");
    let transcript = record["transcript"].as_array().unwrap();
    let caller_lines = transcript.iter().filter(|l| l["speaker"] == "caller").count() as u64;
    assert_eq!(caller_lines, summary["turns"].as_u64().unwrap(), "{record}");
    assert!(transcript.iter().any(|l| l["speaker"] == "bot"), "{record}");
    let timeline = record["timeline"].as_array().unwrap();
    assert!(timeline.iter().any(|e| e["type"] == "latency" && e["stage"] == "response"), "per-stage latencies");
    record
}

/// Stereo 8 kHz: the caller on the left, the bot on the right, both heard.
fn check_recording(server: &Server, id: &str, bot_audio_ms: u64) {
    let (status, wav) = http("GET", &format!("{}/v1/calls/{id}/recording.wav", server.http), "");
    assert_eq!(status, 200);
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let samples: Vec<i16> = reader.into_samples::<i16>().map(Result::unwrap).collect();
    let loud = |ch: usize| samples.iter().skip(ch).step_by(2).filter(|s| s.unsigned_abs() > 1000).count();
    assert!(loud(0) > 8000 && loud(1) > 8000, "both channels carry speech: {} {}", loud(0), loud(1));
    let seconds = samples.len() as u64 / 2 / 8;
    assert!(seconds >= bot_audio_ms.saturating_sub(1000), "{seconds} ms recorded, {bot_audio_ms} ms of bot audio");
}

/// Whole calls over Twilio's protocol, at once: a happy COD order, a handoff, an opt-out,
/// a barge-in (the caller must get a `clear`) and a backchannel (it must not).
#[test]
fn twilio_callers_run_whole_calls_and_their_records_agree() {
    let server = Server::start(&[("VOXLINE_RECORDING__ENABLED", "true")]);
    let (status, ready) = http("GET", &format!("{}/readyz", server.http), "");
    assert_eq!((status, ready.as_slice()), (200, b"ready".as_slice()));
    let scripts =
        ["cod_confirm.toml", "cod_handoff.toml", "cod_opt_out.toml", "cod_barge_in_stop.toml", "cod_backchannel.toml"];
    let summaries: Vec<Value> = in_pairs(scripts.iter().map(|s| ("twilio", *s, vec![])).collect(), &server);
    for (script, summary) in scripts.iter().zip(&summaries) {
        assert_eq!(summary["expect_ok"], true, "{script}: {summary}");
        assert_eq!(summary["closed"], "call ended", "{script}: {summary}");
        assert!(summary["marks_echoed"].as_u64().unwrap() >= 2, "a mark after each sentence: {summary}");
        check_record(&server, summary, "twilio");
    }
    let [confirm, handoff, opt_out, barge_in, backchannel] = &summaries[..] else { unreachable!() };
    assert_eq!(confirm["outcome"], "confirmed");
    assert_eq!((confirm["clears"].as_u64(), backchannel["clears"].as_u64()), (Some(0), Some(0)), "{backchannel}");
    assert!(backchannel["backchannels"].as_u64().unwrap() >= 1, "{backchannel}");
    assert!(barge_in["clears"].as_u64().unwrap() >= 1, "barge-in clears the carrier's buffer: {barge_in}");
    assert_eq!(opt_out["outcome"], "opted_out");
    let packet =
        get_json(&format!("{}/v1/calls/{}", server.http, handoff["call_id"].as_str().unwrap()))["handoff"].clone();
    assert_eq!(packet["reason"], "ask_human", "{packet}");
    assert!(packet["transcript"].as_array().is_some_and(|t| !t.is_empty()), "{packet}");
    // Handoff packet v1, the same at /v1/handoffs/{call id}.
    let id = handoff["call_id"].as_str().unwrap();
    assert_eq!(get_json(&format!("{}/v1/handoffs/{id}", server.http)), packet);
    assert_eq!(
        (packet["version"].as_u64(), packet["id"].as_str(), packet["call_id"].as_str()),
        (Some(1), Some(id), Some(id))
    );
    assert_eq!(packet["flow"], "cod", "{packet}");
    assert_eq!(packet["reason_text"], "customer asked for a person", "{packet}");
    assert!(packet["path"].as_array().is_some_and(|p| !p.is_empty()), "{packet}");
    assert!(packet["customer"]["name"].is_string(), "{packet}");
    assert!(packet["recording_url"].as_str().is_some_and(|u| u.ends_with("/recording.wav")), "{packet}");
    assert!(packet["summary"].as_str().is_some_and(|s| s.contains("customer asked for a person")), "{packet}");
    let lines = packet["transcript"].as_array().unwrap();
    assert!(lines.iter().all(|l| l["speaker"].is_string() && l["at_ms"].is_u64()), "{packet}");
    let not_handed = http("GET", &format!("{}/v1/handoffs/{}", server.http, confirm["call_id"].as_str().unwrap()), "");
    assert_eq!(not_handed.0, 404);
    check_recording(&server, confirm["call_id"].as_str().unwrap(), confirm["bot_audio_ms"].as_u64().unwrap());

    let listed = get_json(&format!("{}/v1/calls?flow=cod", server.http));
    assert_eq!(listed["calls"].as_array().unwrap().len(), 5, "{listed}");
    let opted = get_json(&format!("{}/v1/calls?outcome=opted_out", server.http));
    assert_eq!(opted["calls"][0]["id"], opt_out["call_id"], "{opted}");
    let (status, _) = http("GET", &format!("{}/v1/calls/no-such-call", server.http), "");
    assert_eq!(status, 404);
    let metrics = String::from_utf8(http("GET", &format!("{}/metrics", server.http), "").1).unwrap();
    assert!(metrics.contains("voxline_calls_total{transport=\"twilio\",flow=\"cod\"} 5"), "{metrics}");
    assert!(metrics.contains("voxline_call_outcomes_total{flow=\"cod\",outcome=\"opted_out\"} 1"), "{metrics}");
    assert!(metrics.contains("voxline_stage_latency_ms_count{stage=\"response\"}"), "{metrics}");
    assert!(metrics.contains("voxline_outbound_frame_lateness_ms_bucket"), "{metrics}");

    // `voxline calls` reads the same store.
    let store = format!("sqlite://{}/voxline.db", server.dir.display());
    let out = Command::new(env!("CARGO_BIN_EXE_voxline"))
        .args(["calls", "show", confirm["call_id"].as_str().unwrap()])
        .env("VOXLINE_STORAGE__URL", &store)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((shown["outcome"].as_str(), shown["consent"].as_bool()), (Some("confirmed"), Some(true)), "{shown}");
    let out = Command::new(env!("CARGO_BIN_EXE_voxline"))
        .args(["calls", "list", "--outcome", "handoff"])
        .env("VOXLINE_STORAGE__URL", &store)
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["calls"][0]["id"], handoff["call_id"], "{listed}");

    // The call's picture, and a replay of its recorded caller channel through the engines.
    let confirm_id = confirm["call_id"].as_str().unwrap();
    let (status, svg) = http("GET", &format!("{}/v1/calls/{confirm_id}/timeline.svg", server.http), "");
    let svg = String::from_utf8(svg).unwrap();
    assert_eq!(status, 200, "{svg}");
    assert!(svg.starts_with("<svg") && svg.contains("outcome: confirmed"), "{svg}");
    assert!(svg.contains("stroke=\"#1d4ed8\"") && svg.contains(" ms</text>"), "waveforms and latencies: {svg}");
    let out = Command::new(env!("CARGO_BIN_EXE_voxline"))
        .arg("--models")
        .arg(&models().root)
        .args(["replay", "--from-call", confirm_id, "--fixed-costs", "350:150", "--svg", "--out"])
        .arg(server.dir.join("replay"))
        .env("VOXLINE_STORAGE__URL", &store)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(diff["changed"], false, "{diff}");
    assert_eq!(
        (diff["outcome"]["stored"].as_str(), diff["outcome"]["replay"].as_str()),
        (Some("confirmed"), Some("confirmed"))
    );
    let turns = diff["turns"].as_array().unwrap();
    assert_eq!(turns.len() as u64, confirm["turns"].as_u64().unwrap(), "{diff}");
    assert!(turns.iter().all(|t| t["replay"]["intent"] == t["stored"]["intent"]), "{diff}");
    assert!(diff["latency_ms"]["response"]["replay"]["p50"].as_u64().is_some(), "{diff}");
    assert!(server.dir.join(format!("replay/{confirm_id}.svg")).exists());
    let (clean_exit, log) = server.stop();
    assert!(clean_exit, "{log}");
    assert!(log.contains("call ended outcome=\"confirmed\""), "{log}");
}

/// Telnyx, Exotel, Vonage (16 kHz) and jambonz each run a happy call.
#[test]
fn every_carrier_protocol_runs_a_happy_call() {
    let server = Server::start(&[]);
    let runs = [
        ("telnyx", "cod_confirm.toml", vec![]),
        ("exotel", "return_confirm.toml", vec![]),
        ("vonage", "winback_interested.toml", vec!["--rate", "16000"]),
        ("jambonz", "delivery_retry_accept.toml", vec![]),
    ];
    let summaries = in_pairs(runs.to_vec(), &server);
    for ((carrier, script, _), summary) in runs.iter().zip(summaries) {
        assert_eq!(summary["expect_ok"], true, "{carrier} {script}: {summary}");
        assert_eq!(summary["closed"], "call ended", "{carrier}: {summary}");
        assert!(summary["marks_echoed"].as_u64().unwrap() >= 2, "{carrier}: {summary}");
        check_record(&server, &summary, carrier);
    }
    let (clean_exit, log) = server.stop();
    assert!(clean_exit, "{log}");
}

/// Reads until the server closes; returns the close reason.
async fn close_reason(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> String {
    loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| f.reason.to_string()).unwrap_or_default(),
            Some(Ok(_)) => continue,
            _ => break String::new(),
        }
    }
}

/// Garbage on one stream closes that stream with a reason; a healthy call running at the
/// same time completes normally and the process does not panic.
#[test]
fn bad_input_closes_only_its_own_stream() {
    let server = Server::start(&[]);
    let healthy = spawn_caller("twilio", server.url("twilio"), "cod_confirm.toml", &[]);
    let twilio = server.url("twilio").to_string();
    let vonage = server.url("vonage").to_string();
    let start = r#"{"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":{"flow":"cod","context":"{\"order_id\":\"A1\"}"}}}"#;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reasons: Vec<(String, String)> = runtime.block_on(async {
        let mut reasons = Vec::new();
        let cases: Vec<(&str, &str, Vec<Message>)> = vec![
            ("unknown flow", &twilio, vec![Message::text(r#"{"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":{"flow":"nope","context":"{}"}}}"#)]),
            ("context not json", &twilio, vec![Message::text(r#"{"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":{"flow":"cod","context":"not json"}}}"#)]),
            ("context the flow rejects", &twilio, vec![Message::text(start)]),
            ("no flow", &twilio, vec![Message::text(r#"{"event":"start","start":{"streamSid":"MZ1","callSid":"CA1"}}"#)]),
            ("unknown call_id", &twilio, vec![Message::text(r#"{"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":{"call_id":"nope"}}}"#)]),
            ("media before start", &twilio, vec![Message::text(r#"{"event":"media","media":{"payload":"/////w=="}}"#)]),
            ("garbage text", &twilio, vec![Message::text("garbage")]),
            ("binary on json", &twilio, vec![Message::binary(vec![1u8, 2, 3])]),
            ("oversized frame", &twilio, vec![Message::text("x".repeat(100_000))]),
            ("audio before connected", &vonage, vec![Message::binary(vec![0u8; 640])]),
        ];
        for (name, url, messages) in cases {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            for m in messages {
                let _ = ws.send(m).await;
            }
            reasons.push((name.to_string(), close_reason(&mut ws).await));
        }
        // A stream that starts well, then sends invalid base64, a flood, or disconnects.
        let good_start = live_start();
        let after_start: Vec<(&str, Vec<Message>)> = vec![
            ("invalid base64", vec![Message::text(r#"{"event":"media","streamSid":"MZ2","media":{"payload":"@@@"}}"#)]),
            ("invalid json", vec![Message::text(r#"{"event":"media","#)]),
            ("flood", (0..400).map(|_| media_frame()).collect()),
        ];
        for (name, messages) in after_start {
            let (mut ws, _) = tokio_tungstenite::connect_async(&twilio).await.unwrap();
            ws.send(Message::text(good_start.clone())).await.unwrap();
            for m in messages {
                let _ = ws.send(m).await;
            }
            reasons.push((name.to_string(), close_reason(&mut ws).await));
        }
        // An abrupt disconnect: the TCP connection just goes.
        let (mut ws, _) = tokio_tungstenite::connect_async(&twilio).await.unwrap();
        ws.send(Message::text(good_start)).await.unwrap();
        ws.send(media_frame()).await.unwrap();
        drop(ws);
        reasons
    });
    let says = |case: &str| reasons.iter().find(|(n, _)| n == case).map(|(_, r)| r.clone()).unwrap();
    assert!(says("unknown flow").contains("unknown flow"), "{reasons:?}");
    assert!(says("context not json").contains("context is not JSON"), "{reasons:?}");
    assert!(says("context the flow rejects").contains("customParameters.context"), "{reasons:?}");
    assert!(says("no flow").contains("lacks `flow`"), "{reasons:?}");
    assert!(says("unknown call_id").contains("call_id"), "{reasons:?}");
    assert!(says("media before start").contains("before the stream started"), "{reasons:?}");
    assert!(says("garbage text").contains("not a valid message"), "{reasons:?}");
    assert!(says("binary on json").contains("binary frame"), "{reasons:?}");
    assert!(says("audio before connected").contains("before the stream started"), "{reasons:?}");
    assert!(says("invalid base64").contains("base64"), "{reasons:?}");
    assert!(says("invalid json").contains("not a valid message"), "{reasons:?}");
    assert!(says("flood").contains("faster than real time"), "{reasons:?}");
    let summary = summary_of(healthy);
    assert_eq!(
        (summary["expect_ok"].as_bool(), summary["outcome"].as_str()),
        (Some(true), Some("confirmed")),
        "{summary}"
    );
    let (clean_exit, log) = server.stop();
    assert!(clean_exit, "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("closing a stream"), "{log}");
}

fn live_start() -> String {
    let context = std::fs::read_to_string(fixtures().join("calls/ctx_cod.json")).unwrap();
    serde_json::json!({"event": "start", "streamSid": "MZ2", "start": {"streamSid": "MZ2", "callSid": "CA2",
        "customParameters": {"flow": "cod", "context": context}}})
    .to_string()
}

/// 20 ms of mu-law silence.
fn media_frame() -> Message {
    let payload = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0xffu8; 160]);
    Message::text(format!(r#"{{"event":"media","streamSid":"MZ2","media":{{"payload":"{payload}"}}}}"#))
}

/// A call created with POST /v1/calls and connected through Twilio's voice webhook: the
/// TwiML names the stream and the call's id; a signed server refuses a bad signature.
#[test]
fn calls_created_by_the_api_and_the_twilio_webhook() {
    let server = Server::start(&[]);
    let context = std::fs::read_to_string(fixtures().join("calls/ctx_cod.json")).unwrap();
    let body = format!(r#"{{"flow":"cod","context":{context}}}"#);
    let (status, created) = http("POST", &format!("{}/v1/calls", server.http), &body);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&created));
    let created: Value = serde_json::from_slice(&created).unwrap();
    let id = created["call_id"].as_str().unwrap();
    assert!(created["stream_url"].as_str().unwrap().starts_with(server.url("twilio")), "{created}");
    assert_eq!(get_json(&format!("{}/v1/calls/{id}", server.http))["state"], "pending");
    let (status, rejected) = http("POST", &format!("{}/v1/calls", server.http), r#"{"flow":"cod","context":{}}"#);
    assert_eq!(status, 422, "a context the flow rejects: {}", String::from_utf8_lossy(&rejected));

    let (status, twiml) = http("POST", &format!("{}/twilio/voice?call_id={id}", server.http), "CallSid=CA9&From=%2B1");
    let twiml = String::from_utf8(twiml).unwrap();
    assert_eq!(status, 200, "{twiml}");
    assert!(twiml.contains(&format!("<Connect><Stream url=\"{}\">", server.url("twilio"))), "{twiml}");
    assert!(twiml.contains(&format!("<Parameter name=\"call_id\" value=\"{id}\"/>")), "{twiml}");
    let token = created["token"].as_str().unwrap();
    assert!(twiml.contains(&format!("<Parameter name=\"token\" value=\"{token}\"/>")), "{twiml}");

    // The stream must bring the call's token.
    let wrong = spawn_caller(
        "twilio",
        server.url("twilio"),
        "cod_confirm.toml",
        &["--param", &format!("call_id={id}"), "--token", "wrong"],
    );
    let out = wrong.wait_with_output().unwrap();
    assert!(
        !out.status.success() || String::from_utf8_lossy(&out.stdout).contains("token"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let caller = spawn_caller(
        "twilio",
        server.url("twilio"),
        "cod_confirm.toml",
        &["--param", &format!("call_id={id}"), "--token", token],
    );
    let summary = summary_of(caller);
    assert_eq!((summary["expect_ok"].as_bool(), summary["call_id"].as_str()), (Some(true), Some(id)), "{summary}");
    let record = check_record(&server, &summary, "twilio");
    assert_eq!(record["context"]["order_id"], serde_json::from_str::<Value>(&context).unwrap()["order_id"]);
    server.stop();

    let signed = Server::start(&[("VOXLINE_TWILIO__AUTH_TOKEN", "secret")]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let refused = runtime.block_on(tokio_tungstenite::connect_async(signed.url("twilio"))).unwrap_err().to_string();
    assert!(refused.contains("403"), "{refused}");
    let (status, _) = http("POST", &format!("{}/twilio/voice?flow=cod", signed.http), "CallSid=CA1");
    assert_eq!(status, 403);
    let (_, log) = signed.stop();
    assert!(log.contains("bad or missing X-Twilio-Signature"), "{log}");
}

/// SIGTERM during a call: no new calls, the live one talks to its end and is stored
/// whole, the process exits 0.
#[test]
fn shutdown_lets_a_live_call_finish() {
    let mut server = Server::start(&[("VOXLINE_SHUTDOWN__DRAIN_TIMEOUT", "120s")]);
    let caller = spawn_caller("twilio", &server.media["twilio"].clone(), "cod_confirm.toml", &[]);
    // Wait until the log says the call is live, then SIGTERM.
    server.wait_for_log("call started");
    sigterm(server.child.id());
    server.wait_for_log("shutting down");
    let (status, _) = http("GET", &format!("{}/readyz", server.http), "");
    assert_eq!(status, 503, "refuses new work while draining");
    let summary = summary_of(caller);
    assert_eq!(
        (summary["closed"].as_str(), summary["turns_sent"].as_u64()),
        (Some("call ended"), Some(4)),
        "{summary}"
    );
    let status = server.child.wait().unwrap();
    let log = server.log();
    assert!(status.success(), "{log}");
    assert!(log.contains("call ended outcome=\"confirmed\""), "{log}");
    // The store has the whole call, read after the server is gone.
    let out = Command::new(env!("CARGO_BIN_EXE_voxline"))
        .args(["calls", "show", summary["call_id"].as_str().unwrap()])
        .env("VOXLINE_STORAGE__URL", format!("sqlite://{}/voxline.db", server.dir.display()))
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((shown["state"].as_str(), shown["outcome"].as_str()), (Some("ended"), Some("confirmed")), "{shown}");
    assert!(shown["transcript"].as_array().unwrap().len() >= 8, "{shown}");
}
