//! SIP media-path load: SIPp places calls into an in-process `voxline serve` with silent
//! engines (as in the `load` bench: VAD, playout and RTP pacing are what is measured).
//! Each call offers PCMA, plays SIPp's g711a.pcap (7 s) and hangs up after
//! VOXLINE_SIP_LOAD_CALL_MS; SIPp keeps VOXLINE_SIP_LOAD_CALLS up at VOXLINE_SIP_LOAD_CPS
//! calls per second for VOXLINE_SIP_LOAD_SECONDS.
//!
//! Reports SIPp's successful and failed calls, RTP send lateness against the 20 ms
//! schedule (p50/p99 as histogram bucket bounds, and the shares over 1, 2, 5 and 10 ms),
//! the driver's frame lateness, resident memory sampled through the run (flat memory: the
//! last sample against the first), and CPU shares. Prints one JSON line; progress goes to stderr.
//! `cargo bench --bench sip_load` (defaults: 100 calls, 10 cps, 300 s, 10 s calls).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use voxline::io::engines::SilentEngines;
use voxline::io::metrics::Metrics;
use voxline::io::serve::{serve, Shared};
use voxline::server::config::DialplanEntry;
use voxline::server::Config;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum::<f64>()) / 100.0
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// SIPp's count for a line such as "Successful call | ... | 123" (the cumulative column).
fn sipp_count(stdout: &str, label: &str) -> u64 {
    stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split('|').nth(2))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let (calls, cps) = (env_u64("VOXLINE_SIP_LOAD_CALLS", 100), env_u64("VOXLINE_SIP_LOAD_CPS", 10));
    let (seconds, call_ms) = (env_u64("VOXLINE_SIP_LOAD_SECONDS", 300), env_u64("VOXLINE_SIP_LOAD_CALL_MS", 10_000));
    let dir = std::env::temp_dir().join(format!("voxline-sip-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let context: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/audio-fixtures/calls/ctx_cod.json")).unwrap(),
    )
    .unwrap();
    let mut cfg = Config::default();
    cfg.http.listen = "127.0.0.1:0".into();
    cfg.sip.listen = "127.0.0.1:0".into();
    cfg.sip.rtp_ports = "30000-39999".into();
    cfg.sip.dialplan = vec![DialplanEntry { user: "cod".into(), flow: "cod".into(), context, answer_after: None }];
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
        let _ = serve(shared, move |_, sip| tx.send(sip.expect("sip listener")).unwrap(), || {}).await;
    });
    let sip = rx.recv().unwrap();
    let total = seconds * cps;
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sip/scenarios/uac_load.xml");
    let mut sipp = Command::new("sipp")
        .args(["-sf", scenario, "-s", "cod", "-i", "127.0.0.1", "-p", "25070", "-mp", "26000", "-nostdin"])
        .args(["-r", &cps.to_string(), "-l", &calls.to_string(), "-m", &total.to_string()])
        .args(["-d", &call_ms.to_string(), "-timeout", &format!("{}s", seconds + 120)])
        .arg(sip.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp (Debian package sip-tester)");
    let (began, cpu) = (Instant::now(), cpu_seconds());
    let idle_rss = rss_kib();
    let mut rss_samples = Vec::new();
    let stdout = std::thread::spawn({
        let out = sipp.stdout.take().unwrap();
        move || std::io::read_to_string(out).unwrap_or_default()
    });
    loop {
        std::thread::sleep(Duration::from_secs(10));
        let active = metrics.gauge("voxline_calls_active", &[("transport", "sip")]);
        let rss = rss_kib();
        rss_samples.push(rss);
        let done = metrics.counter("voxline_calls_total", &[("transport", "sip"), ("flow", "cod")]);
        eprintln!(
            "sip load: {:>4} s, {active} calls up, {done} started, rss {} MiB",
            began.elapsed().as_secs(),
            rss / 1024
        );
        if sipp.try_wait().unwrap().is_some() {
            break;
        }
    }
    let wall = began.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let stdout = stdout.join().unwrap();
    let (ok_calls, failed) = (sipp_count(&stdout, "Successful call"), sipp_count(&stdout, "Failed call"));
    let rtp = metrics.histogram("voxline_rtp_send_lateness_ms", &[]);
    let driver = metrics.histogram("voxline_outbound_frame_lateness_ms", &[]);
    // Memory with the load steady: the first sample after a minute against the last one.
    let steady: Vec<u64> = rss_samples.iter().copied().skip(6).collect();
    let out = json!({
        "bench": "sip_load_media_path", "cores": 2, "concurrent": calls, "cps": cps, "seconds": seconds,
        "call_ms": call_ms, "sipp_successful": ok_calls, "sipp_failed": failed,
        "rtp_send_lateness_p50_ms_le": rtp.quantile_bound(0.5), "rtp_send_lateness_p99_ms_le": rtp.quantile_bound(0.99),
        "rtp_sends": rtp.count(), "rtp_sends_over_1ms": rtp.share_above(1.0), "rtp_sends_over_2ms": rtp.share_above(2.0),
        "rtp_sends_over_5ms": rtp.share_above(5.0), "rtp_sends_over_10ms": rtp.share_above(10.0),
        "driver_lateness_p99_ms_le": driver.quantile_bound(0.99),
        "rss_idle_mib": idle_rss / 1024, "rss_first_steady_mib": steady.first().copied().unwrap_or(0) / 1024,
        "rss_last_mib": rss_samples.last().copied().unwrap_or(0) / 1024, "server_cpu_share": cpu / (wall * 2.0),
        "ok": failed == 0 && ok_calls == total && rtp.quantile_bound(0.99) <= 5.0,
    });
    println!("{out}");
    let _ = std::fs::remove_dir_all(&dir);
    std::process::exit(0);
}
