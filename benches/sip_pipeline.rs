//! Full-pipeline SIP load: `voxline serve` (a child process, the real models) and N SIP
//! calls at once, each signalled by SIPp (`uac_call.xml`: INVITE naming a call made with
//! `POST /v1/calls`, voxline's BYE answered) with its media played by a Rust RTP peer
//! (`voxline::io::caller::rtp`) running a COD caller-script fixture in real time.
//!
//! Steady load, as in the WebSocket `pipeline` bench's steady mode: N lines each place
//! three calls back to back, the lines' first answers spread over one call's length, so
//! N calls are always live at unrelated points of their scripts; each line's middle call
//! counts for latency. A step passes when every call ends with its script's outcome
//! (voxline hanging up) and the counted replies' response latency (last caller audio ->
//! first bot frame, from the stored timelines) has p95 <= 1.2 s. Prints one JSON line;
//! progress goes to stderr.
//!
//! `cargo bench --bench sip_pipeline` (steps: VOXLINE_SIP_PIPELINE_STEPS=8).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use voxline::media::Codec;
use voxline::sim::{load_audio, CallerScript};

const SCRIPTS: [&str; 6] = [
    "cod_confirm.toml",
    "cod_handoff.toml",
    "cod_opt_out.toml",
    "cod_backchannel.toml",
    "cod_cancel.toml",
    "cod_callback.toml",
];
const P95_LIMIT_MS: u64 = 1200;
const STEADY_CALL: Duration = Duration::from_secs(43);

mod support;

use support::{get_json, http, reply_figures, response_latencies, ServeProcess as Server};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("audio-fixtures/calls")
}

/// One call: created by the API, signalled by SIPp, its media played by the RTP peer.
/// The call's id, the script's expected outcome, and whether SIPp passed.
fn play(server_http: &str, server_sip: &str, script_name: &'static str, line: usize) -> (String, String, bool) {
    let script = CallerScript::load(&fixtures().join(script_name)).unwrap();
    let context: Value = serde_json::from_str(&std::fs::read_to_string(&script.context).unwrap()).unwrap();
    let created =
        http("POST", &format!("{server_http}/v1/calls"), &json!({"flow": "cod", "context": context}).to_string());
    let id = serde_json::from_str::<Value>(&created).unwrap()["call_id"].as_str().unwrap().to_string();
    let turns: Vec<_> =
        script.turns.iter().map(|t| (load_audio(&t.audio, 8000).unwrap(), t.after, t.delay_ms)).collect();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = socket.local_addr().unwrap().port();
    socket.set_nonblocking(true).unwrap();
    let peer = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let socket = tokio::net::UdpSocket::from_std(socket).unwrap();
            voxline::io::caller::rtp::run(socket, turns, Codec::Pcmu, Duration::from_secs(120)).await
        })
    });
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip/scenarios/uac_call.xml");
    let sip_port = 40000 + line as u16 * 10;
    let sipp = Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .args(["-m", "1", "-s", "cod", "-i", "127.0.0.1", "-nostdin", "-timeout", "180s", "-timeout_error"])
        .args(["-p", &sip_port.to_string(), "-mp", &(sip_port + 4).to_string()])
        .args(["-key", "voxline_call", &id, "-key", "rtp_port", &rtp_port.to_string()])
        .arg(server_sip)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("sipp (Debian package sip-tester)");
    if !sipp.status.success() {
        eprintln!("sip pipeline: SIPp failed for {script_name}: {}", String::from_utf8_lossy(&sipp.stderr).trim());
    }
    let _ = peer.join();
    let expected = script.expect.outcome.map(|o| o.code().to_string()).unwrap_or_default();
    (id, expected, sipp.status.success())
}

/// `lines` lines of three calls each, first answers spread over one call's length.
fn steady_step(server: &Server, lines: usize) -> Value {
    let cpu_before = server.cpu_seconds();
    let wall = Instant::now();
    let handles: Vec<_> = (0..lines)
        .map(|i| {
            let (http, sip) = (server.http.clone(), server.sip.clone());
            let start = STEADY_CALL * i as u32 / lines as u32;
            std::thread::spawn(move || {
                std::thread::sleep(start);
                (0..3).map(|k| (play(&http, &sip, SCRIPTS[(i + k) % SCRIPTS.len()], i), k == 1)).collect::<Vec<_>>()
            })
        })
        .collect();
    let runs: Vec<_> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let (mut latencies, mut failures) = (Vec::new(), Vec::new());
    for ((id, expected, sipp_ok), counts) in &runs {
        let record = get_json(&format!("{}/v1/calls/{id}", server.http));
        let outcome = record["outcome"].as_str().unwrap_or("");
        if !sipp_ok || outcome != expected || record["closed"] != "call ended" {
            let heard =
                record["transcript"].as_array().map_or(0, |l| l.iter().filter(|l| l["speaker"] == "caller").count());
            failures.push(json!({"id": id, "expected": expected, "outcome": outcome, "closed": record["closed"],
                "sipp_ok": sipp_ok, "caller_lines": heard, "media": record["summary"]["media"]["received"],
                "started_at": record["started_at"], "transcript": record["transcript"]}));
        }
        if *counts {
            latencies.extend(response_latencies(&record));
        }
    }
    let wall = wall.elapsed().as_secs_f64();
    let mut step = reply_figures(&mut latencies);
    let p95 = step["response_p95_ms"].as_u64();
    let figures = json!({
        "lines": lines, "played": runs.len(), "failed": failures.len(),
        "ok": failures.is_empty() && p95.is_some_and(|p| p <= P95_LIMIT_MS),
        "server_cpu_share": (server.cpu_seconds() - cpu_before) / (wall * 2.0),
        "wall_s": wall, "failures": failures,
    });
    step.as_object_mut().unwrap().extend(figures.as_object().unwrap().clone());
    step
}

fn main() {
    let steps = support::steps("VOXLINE_SIP_PIPELINE_STEPS", "8");
    let env = [("VOXLINE_SIP__RTP_PORTS", "31000-31999".to_string()), ("VOXLINE_LIMITS__MAX_CALLS", "1000".into())];
    let server = Server::start("sip", &env);
    let mut results = Vec::new();
    for &lines in &steps {
        eprintln!("sip pipeline: {lines} lines, three calls each (about {} s)", 3 * 45 + 43);
        let result = steady_step(&server, lines);
        eprintln!("sip pipeline: {result}");
        results.push(result);
    }
    println!(
        "{}",
        json!({"bench": "sip_full_pipeline", "mode": "steady", "cores": 2, "p95_limit_ms": P95_LIMIT_MS,
            "steps": results})
    );
}
