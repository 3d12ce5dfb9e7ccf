//! Full-pipeline load: `voxline serve` (a child process, the real models: Silero, one
//! Whisper worker, MiniLM, Piper) and N `voxline caller twilio` processes at once, each
//! playing a caller-script fixture over real WebSockets on 127.0.0.1 in real time.
//!
//! Each step starts N callers 250 ms apart and waits for all of them: a burst, every
//! callee answering at once. With `VOXLINE_PIPELINE_MODE=steady` a step is N lines each
//! placing three calls back to back, the lines' first answers spread over one call's
//! length: N calls always live, at unrelated points in their scripts; each line's middle
//! call counts. A step passes when every call ends as its script expects and the
//! response latency of the counted replies (last caller audio -> first bot frame, from
//! the stored timelines) has p95 <= 1.2 s. After the sweep, a second server with `[limits] max_calls` at the
//! best passing step takes two calls more than that: what admission control does just
//! above capacity. Prints one JSON line; progress goes to stderr.
//!
//! `cargo bench --bench pipeline` (steps: VOXLINE_PIPELINE_STEPS=1,2,3,4,6,8).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const SCRIPTS: [&str; 8] = [
    "cod_confirm.toml",
    "cod_handoff.toml",
    "cod_opt_out.toml",
    "cod_backchannel.toml",
    "cod_cancel.toml",
    "cod_callback.toml",
    "cod_barge_in_stop.toml",
    "cod_early_yes.toml",
];
const P95_LIMIT_MS: u64 = 1200;
/// About one fixture call's length: the spread of the steady lines' first answers.
const STEADY_CALL: Duration = Duration::from_secs(43);

mod support;

use support::{get_json, http, reply_figures, response_latencies, ServeProcess as Server};

fn start(name: &str, max_calls: usize) -> Server {
    Server::start(name, &[("VOXLINE_LIMITS__MAX_CALLS", max_calls.to_string())])
}

/// Plays `script` as one `voxline caller twilio` process; waits for it.
fn play(media: &str, script: &'static str) -> (&'static str, std::process::Output) {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("audio-fixtures/calls");
    let child = Command::new(env!("CARGO_BIN_EXE_voxline"))
        .args(["caller", "twilio", media])
        .arg(fixtures.join(script))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("voxline caller");
    (script, child.wait_with_output().unwrap())
}

/// A burst: `calls` callers answering 250 ms apart, all at once. The step's JSON.
fn step(server: &Server, calls: usize) -> Value {
    let cpu_before = server.cpu_seconds();
    let wall = Instant::now();
    let lines: Vec<_> = (0..calls)
        .map(|i| {
            let media = server.media.clone();
            let start = Duration::from_millis(250 * i as u64);
            std::thread::spawn(move || {
                std::thread::sleep(start);
                play(&media, SCRIPTS[i % SCRIPTS.len()])
            })
        })
        .collect();
    let runs: Vec<_> = lines.into_iter().map(|l| (l.join().unwrap(), true)).collect();
    summarise(server, calls, runs, cpu_before, wall)
}

/// Steady load: `lines` lines each placing three calls back to back, the lines' first
/// answers spread evenly over one call's length, as a dialer's lines drift apart. Only
/// each line's middle call, made while every line is busy, counts for latency.
fn steady_step(server: &Server, lines: usize) -> Value {
    let cpu_before = server.cpu_seconds();
    let wall = Instant::now();
    let handles: Vec<_> = (0..lines)
        .map(|i| {
            let media = server.media.clone();
            let start = STEADY_CALL * i as u32 / lines as u32;
            std::thread::spawn(move || {
                std::thread::sleep(start);
                (0..3).map(|k| (play(&media, SCRIPTS[(i + k) % SCRIPTS.len()]), k == 1)).collect::<Vec<_>>()
            })
        })
        .collect();
    let runs: Vec<_> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    summarise(server, lines, runs, cpu_before, wall)
}

/// The step's figures from its callers' outputs; `counts` marks runs whose replies count.
fn summarise(
    server: &Server,
    calls: usize,
    runs: Vec<((&str, std::process::Output), bool)>,
    cpu_before: f64,
    wall: Instant,
) -> Value {
    let (mut latencies, mut failed, mut refused) = (Vec::new(), Vec::new(), 0usize);
    let played = runs.len();
    for ((script, out), counts) in runs {
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let closed = summary["closed"].as_str().unwrap_or("");
        if closed.contains("capacity") {
            refused += 1;
            continue;
        }
        let ok = out.status.success() && summary["expect_ok"] == true && closed == "call ended";
        if !ok {
            failed.push(json!({"script": script, "closed": closed, "failures": summary["expect_failures"],
                "stderr": String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")}));
        }
        if let Some(id) = summary["call_id"].as_str().filter(|_| counts) {
            latencies.extend(response_latencies(&get_json(&format!("{}/v1/calls/{id}", server.http))));
        }
    }
    let wall = wall.elapsed().as_secs_f64();
    let mut step = reply_figures(&mut latencies);
    let p95 = step["response_p95_ms"].as_u64();
    let accepted = played - refused;
    let ok = failed.is_empty() && refused == 0 && p95.is_some_and(|p| p <= P95_LIMIT_MS);
    let figures = json!({
        "calls": calls, "played": played, "accepted": accepted, "refused": refused, "failed": failed.len(), "ok": ok,
        "server_cpu_share": (server.cpu_seconds() - cpu_before) / (wall * 2.0),
        "wall_s": wall, "failures": failed,
    });
    step.as_object_mut().unwrap().extend(figures.as_object().unwrap().clone());
    step
}

fn main() {
    // `cargo bench` passes --bench; nothing else is read from the command line.
    let steps = support::steps("VOXLINE_PIPELINE_STEPS", "1,2,3,4,6,8");
    let steady = std::env::var("VOXLINE_PIPELINE_MODE").is_ok_and(|m| m == "steady");
    let server = start("sweep", 1000);
    let (mut results, mut best) = (Vec::new(), 0);
    for &calls in &steps {
        let result = if steady { steady_step(&server, calls) } else { step(&server, calls) };
        eprintln!("pipeline: {result}");
        let ok = result["ok"] == true;
        results.push(result);
        if ok {
            best = calls;
        } else if calls > best + 2 {
            break;
        }
    }
    let metrics = asr_queue_wait(&server.http);
    drop(server);
    // Just above capacity: max_calls at the best step, two calls more offered at once.
    let limit = best.max(1);
    let admission = {
        let server = start("admission", limit);
        let result = step(&server, limit + 2);
        eprintln!("pipeline admission (max_calls {limit}): {result}");
        result
    };
    let mode = if steady { "steady" } else { "burst" };
    println!(
        "{}",
        json!({"bench": "load_full_pipeline", "mode": mode, "cores": 2, "p95_limit_ms": P95_LIMIT_MS,
            "max_calls_ok": best, "steps": results,
            "admission": {"max_calls": limit, "offered": limit + 2, "step": admission}, "asr_queue_wait": metrics})
    );
}

/// The sweep server's ASR queue-wait totals, for the report.
fn asr_queue_wait(server_http: &str) -> Value {
    let metrics = http("GET", &format!("{server_http}/metrics"), "");
    json!(metrics.lines().filter(|l| l.starts_with("voxline_asr_wait_ms_")).collect::<Vec<_>>())
}
