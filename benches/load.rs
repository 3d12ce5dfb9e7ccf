//! Media-path load: concurrent Twilio-protocol calls over real WebSockets on 127.0.0.1
//! against an in-process `voxline serve` whose engines are silent (`SilentEngines`:
//! recognition hears nothing, each sentence is a tone, both free), so what is measured is
//! VAD (Silero, every caller frame), playout pacing and framing. The carrier side runs in
//! a child process (this binary with `--client`), which plays 20 ms frames of line
//! silence in real time per call and counts the bot frames it receives.
//!
//! For each step (calls at once, for 12 s): outbound frame lateness against the 20 ms
//! schedule (the driver's wake-up lateness, p50/p99 as histogram bucket bounds), frames
//! written vs received, CPU shares of server and client, resident memory per call.
//! A step passes with lateness p99 <= 5 ms and every frame delivered. Prints one JSON
//! line. `cargo bench --bench load` (steps: VOXLINE_LOAD_STEPS=50,100,200).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use voxline::io::engines::SilentEngines;
use voxline::io::metrics::Metrics;
use voxline::io::serve::{serve, Shared};
use voxline::server::Config;

const STEP_SECONDS: u64 = 12;

/// CPU seconds this process (or `pid`) has used: utime + stime from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--client") {
        let (url, calls) = (args[i + 1].clone(), args[i + 2].parse().unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let out = runtime.block_on(client(url, calls));
        println!("{out}");
        return;
    }
    let steps: Vec<usize> = std::env::var("VOXLINE_LOAD_STEPS")
        .unwrap_or_else(|_| "50,100,200,300,400,500,600".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dir = std::env::temp_dir().join(format!("voxline-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = Config::default();
    cfg.http.listen = "127.0.0.1:0".into();
    cfg.sip.listen = String::new();
    cfg.storage.url = format!("sqlite://{}/load.db", dir.display());
    cfg.limits.max_calls = 100_000;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let metrics = Arc::new(Metrics::default());
    let models = voxline::models::ModelDir::from_env();
    let prompts = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let shared = runtime
        .block_on(Shared::with_engines(cfg, &dir, &models, &prompts, Arc::new(SilentEngines), metrics.clone()))
        .expect("server state");
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = serve(shared, move |addr, _| tx.send(addr).unwrap(), || {}).await;
    });
    let addr = rx.recv().unwrap();
    let url = format!("ws://{addr}/media/twilio");
    let me = std::env::current_exe().unwrap();
    let idle_rss = rss_kib();
    let mut results = Vec::new();
    let mut best = 0;
    for &calls in &steps {
        let before = metrics.histogram("voxline_outbound_frame_lateness_ms", &[]);
        let sent_before = metrics.counter("voxline_bot_frames_total", &[("transport", "twilio")]);
        let (wall, cpu) = (Instant::now(), cpu_seconds("self"));
        let child =
            Command::new(&me).args(["--client", &url, &calls.to_string()]).stdout(Stdio::piped()).spawn().unwrap();
        // Resident memory with every call up: half way through the step.
        std::thread::sleep(Duration::from_secs(STEP_SECONDS / 2 + 1));
        let rss = rss_kib();
        let out = child.wait_with_output().unwrap();
        let client: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        // Every call's record and counters are in once the last call has ended.
        while metrics.gauge("voxline_calls_active", &[("transport", "twilio")]) > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds("self") - cpu);
        let late = metrics.histogram("voxline_outbound_frame_lateness_ms", &[]).since(&before);
        let sent = metrics.counter("voxline_bot_frames_total", &[("transport", "twilio")]) - sent_before;
        let received = client["frames_received"].as_u64().unwrap_or(0);
        let completed = client["completed"].as_u64().unwrap_or(0) as usize;
        let p99 = late.quantile_bound(0.99);
        let ok = p99 <= 5.0 && sent == received && completed == calls;
        if ok {
            best = calls;
        }
        let step = json!({
            "calls": calls, "completed": completed, "ok": ok,
            "lateness_p50_ms_le": late.quantile_bound(0.5), "lateness_p99_ms_le": p99, "late_frames_counted": late.count(),
            "frames_sent": sent, "frames_received": received, "dropped": sent.saturating_sub(received),
            "server_cpu_share": cpu / (wall * 2.0), "client_cpu_share": client["cpu_seconds"].as_f64().unwrap_or(0.0) / (wall * 2.0),
            "rss_per_call_kib": rss.saturating_sub(idle_rss) / calls as u64,
        });
        eprintln!("load: {step}");
        results.push(step);
        if !ok && calls > best * 2 {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{}",
        json!({"bench": "load_media_path", "cores": 2, "step_seconds": STEP_SECONDS, "max_calls_ok": best, "steps": results})
    );
    std::process::exit(0);
}

/// The carrier side: `calls` streams, started 5 ms apart, each sending 20 ms of line
/// silence every 20 ms for the step, then `stop`.
async fn client(url: String, calls: usize) -> Value {
    let context =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/audio-fixtures/calls/ctx_cod.json")).unwrap();
    let mut tasks = Vec::new();
    for i in 0..calls {
        let (url, context) = (url.clone(), context.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5 * i as u64)).await;
            one_call(&url, &context, i).await
        }));
    }
    let (mut received, mut completed) = (0u64, 0u64);
    for t in tasks {
        if let Ok(Some(frames)) = t.await {
            received += frames;
            completed += 1;
        }
    }
    json!({"frames_received": received, "completed": completed, "cpu_seconds": cpu_seconds("self")})
}

async fn one_call(url: &str, context: &str, i: usize) -> Option<u64> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(voxline::io::serve::READ_BUFFER);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), false).await.ok()?;
    let sid = format!("MZload{i}");
    let start = json!({"event": "start", "streamSid": sid, "start": {"streamSid": sid, "callSid": format!("CAload{i}"),
        "customParameters": {"flow": "cod", "context": context}}});
    ws.send(Message::text(start.to_string())).await.ok()?;
    let silence = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0xffu8; 160]);
    let media = Message::text(json!({"event": "media", "streamSid": sid, "media": {"payload": silence}}).to_string());
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let end = tokio::time::Instant::now() + Duration::from_secs(STEP_SECONDS);
    let mut frames = 0u64;
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if t.contains("\"media\"") {
                        frames += 1;
                    } else if t.contains("\"mark\"") {
                        let _ = ws.send(Message::text(t.to_string())).await;
                    }
                }
                Some(Ok(_)) => {}
                _ => return None,
            },
            _ = tick.tick() => {
                if tokio::time::Instant::now() >= end {
                    break;
                }
                ws.send(media.clone()).await.ok()?;
            }
        }
    }
    ws.send(Message::text(json!({"event": "stop", "streamSid": sid}).to_string())).await.ok()?;
    while let Some(Ok(m)) = ws.next().await {
        match m {
            Message::Text(t) if t.contains("\"media\"") => frames += 1,
            Message::Close(_) => break,
            _ => {}
        }
    }
    Some(frames)
}
