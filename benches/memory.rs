//! Resident memory of a process shaped like the server: every model loaded once
//! (Whisper tiny.en with one state per ASR worker, Silero, Piper, MiniLM) and each
//! engine run once so its working buffers exist. Prints one JSON line.
//! `cargo bench --bench memory`

mod support;

use serde_json::json;
use voxline::engines::{AsrOptions, AsrPool, Embedder, MiniLm, SileroModel, TtsService, VoiceActivity, WhisperAsr};
use voxline::models::ModelDir;

fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
    };
    (field("VmRSS:").round(), field("VmHWM:").round())
}

fn main() {
    let dir = ModelDir::from_env();
    let (base, _) = rss_mib();
    let whisper = WhisperAsr::load(&dir, "whisper-tiny.en", 2).unwrap();
    let workers = 1;
    let pool = AsrPool::new(&whisper, workers).unwrap();
    let silero = SileroModel::load(&dir).unwrap();
    let mut tts = TtsService::load(&dir).unwrap();
    let mut minilm = MiniLm::load(&dir).unwrap();
    let (loaded, _) = rss_mib();

    let audio = support::fixture_16k("16k", "six_seconds");
    pool.transcribe_blocking(audio.clone(), AsrOptions::default()).unwrap();
    let mut vad = silero.detector(16000).unwrap();
    for c in audio.chunks_exact(512) {
        vad.speech_probability(c).unwrap();
    }
    tts.stream(support::TEN_WORDS).for_each(|s| drop(s.unwrap()));
    minilm.embed("yes please").unwrap();
    let (used, peak) = rss_mib();
    println!("{}", json!({"asr_workers": workers, "rss_mib": {"before_models": base, "models_loaded": loaded, "after_one_run_each": used, "peak": peak}}));
}
