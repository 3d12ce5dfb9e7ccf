//! Runs every caller script in audio-fixtures/calls on a clean line and with line echo
//! (-20 dB, 60 ms), and reports response latency, barge-in reaction and false barge-ins
//! as one JSON object (also written to target/replay-report.json).
//! `cargo bench --bench replay`; `VOXLINE_REALTIME=1` paces by the wall clock.

use std::path::PathBuf;

use serde_json::json;
use voxline::models::ModelDir;
use voxline::sim::{self, CallerScript, ChannelOptions, LatencySummary, SimEngines};

fn main() {
    let realtime = std::env::var("VOXLINE_REALTIME").is_ok_and(|v| v == "1");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(root.join("audio-fixtures/calls"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    scripts.sort();
    let mut engines = SimEngines::load(&ModelDir::from_env(), 8000).unwrap();
    let mut runs = Vec::new();
    let (mut latencies, mut reactions, mut false_barge_ins, mut self_interruptions, mut failed) =
        (Vec::new(), Vec::new(), 0, 0, 0);
    for (line, channel) in [
        ("clean", ChannelOptions::default()),
        ("echo-20:60", ChannelOptions { echo: Some((-20.0, 60)), ..Default::default() }),
    ] {
        for path in &scripts {
            let script = CallerScript::load(path).unwrap();
            let dialogue =
                sim::load_dialogue(&models_dir(), &sim::prompts_dir(), &script.flow, &script.context).unwrap();
            let turns = sim::load_turns(&script, 8000).unwrap();
            let out = sim::run_call(&mut engines, dialogue, turns, channel, realtime, &script.expect).unwrap();
            let s = out.summary;
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            // Scripts that talk over the bot on purpose (barge-in, backchannel, early answers).
            let barge_script = script.turns.iter().any(|t| t.after == Some(sim::Cue::BotStart));
            if !barge_script {
                self_interruptions += s.barge_in_reaction_ms.len();
            }
            latencies.extend(out.events.iter().filter_map(|e| match &e.event {
                voxline::call::Event::Latency { stage: voxline::call::StageLatency::Response, ms } => Some(*ms),
                _ => None,
            }));
            reactions.extend(s.barge_in_reaction_ms.iter().copied().filter(|_| barge_script));
            false_barge_ins += s.false_barge_ins;
            failed += (!s.expect_ok) as usize;
            runs.push(json!({"script": name, "line": line, "outcome": s.outcome, "expect_ok": s.expect_ok, "response_latency_ms": s.response_latency_ms, "barge_in_reaction_ms": s.barge_in_reaction_ms}));
        }
    }
    let report = json!({
        "realtime": realtime,
        "calls": runs.len(),
        "expectations_failed": failed,
        "response_latency_ms": LatencySummary::of(latencies),
        "barge_in_reaction_ms": LatencySummary::of(reactions),
        "false_barge_ins": false_barge_ins,
        "self_interruptions": self_interruptions,
        "tts_cache_bytes": {"pinned": engines.cache_bytes().0, "recent": engines.cache_bytes().1},
        "runs": runs,
    });
    let path = root.join("target/replay-report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).ok();
    let mut brief = report.clone();
    brief.as_object_mut().unwrap().remove("runs");
    println!("{brief}");
}

fn models_dir() -> voxline::models::ModelDir {
    voxline::models::ModelDir::from_env()
}
