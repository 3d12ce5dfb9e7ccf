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

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
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

struct Server {
    child: Child,
    http: String,
    media: String,
    dir: std::path::PathBuf,
}

impl Server {
    fn start(name: &str, max_calls: usize) -> Server {
        let dir = std::env::temp_dir().join(format!("voxline-pipeline-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_voxline"))
            .arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("VOXLINE_HTTP__LISTEN", "127.0.0.1:0")
            .env("VOXLINE_SIP__LISTEN", "127.0.0.1:0")
            .env("VOXLINE_STORAGE__URL", format!("sqlite://{}/bench.db", dir.display()))
            .env("VOXLINE_LIMITS__MAX_CALLS", max_calls.to_string())
            .env("VOXLINE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("voxline serve");
        let (mut http, mut media) = (String::new(), String::new());
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap_or_default();
            if line.contains("ready: static prompts rendered") {
                break;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["voxline", "serve:", url] => http = url.to_string(),
                ["twilio", "media", url] => media = url.to_string(),
                _ => {}
            }
        }
        assert!(!http.is_empty() && !media.is_empty(), "voxline serve did not start");
        Server { child, http, media, dir }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// CPU seconds a process has used: utime + stime from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum::<f64>() / 100.0)
}

/// A GET on 127.0.0.1: the body.
fn get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.to_string())
}

fn get_json(url: &str) -> Value {
    serde_json::from_str(&get(url)).unwrap_or(Value::Null)
}

fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    (!sorted.is_empty()).then(|| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize])
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
    let cpu_before = cpu_seconds(server.child.id());
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
    let cpu_before = cpu_seconds(server.child.id());
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
            let record = get_json(&format!("{}/v1/calls/{id}", server.http));
            for e in record["timeline"].as_array().into_iter().flatten() {
                if e["type"] == "latency" && e["stage"] == "response" {
                    latencies.extend(e["ms"].as_u64());
                }
            }
        }
    }
    let wall = wall.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let p95 = percentile(&latencies, 0.95);
    let accepted = played - refused;
    let ok = failed.is_empty() && refused == 0 && p95.is_some_and(|p| p <= P95_LIMIT_MS);
    json!({
        "calls": calls, "played": played, "accepted": accepted, "refused": refused, "failed": failed.len(), "ok": ok,
        "replies": latencies.len(), "response_p50_ms": percentile(&latencies, 0.5), "response_p95_ms": p95,
        "response_max_ms": latencies.last(),
        "server_cpu_share": (cpu_seconds(server.child.id()) - cpu_before) / (wall * 2.0),
        "wall_s": wall, "failures": failed,
    })
}

fn main() {
    // `cargo bench` passes --bench; nothing else is read from the command line.
    let steps: Vec<usize> = std::env::var("VOXLINE_PIPELINE_STEPS")
        .unwrap_or_else(|_| "1,2,3,4,6,8".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let steady = std::env::var("VOXLINE_PIPELINE_MODE").is_ok_and(|m| m == "steady");
    let server = Server::start("sweep", 1000);
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
        let server = Server::start("admission", limit);
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
fn asr_queue_wait(http: &str) -> Value {
    let metrics = get(&format!("{http}/metrics"));
    json!(metrics.lines().filter(|l| l.starts_with("voxline_asr_wait_ms_")).collect::<Vec<_>>())
}
