//! Resident memory of a process shaped like the server: every model loaded once
//! (Whisper tiny.en with one state per ASR worker, Silero, Piper, MiniLM) and each
//! engine run once so its working buffers exist; then the heap bytes each live call
//! holds, counted by the allocator (RSS hides them: freed model buffers are reused).
//! Prints one JSON line. `cargo bench --bench memory`

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use voxline::call::{Call, CallConfig, Input};
use voxline::dialogue::BuiltinCod;
use voxline::engines::{AsrOptions, AsrPool, Embedder, MiniLm, SileroModel, TtsService, VoiceActivity, WhisperAsr};
use voxline::media::{Frame, MediaTime};
use voxline::models::ModelDir;

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn rss_mib() -> (f64, f64) {
    ((support::status_kib("VmRSS") / 1024.0).round(), (support::status_kib("VmHWM") / 1024.0).round())
}

fn rss_kib() -> f64 {
    support::status_kib("VmRSS")
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

    // Per-call memory beyond the shared models: many live calls, each having heard 3 s
    // of caller speech (detector state, preroll, turn audio, playout, timeline queue drained).
    let calls_n = 200;
    let ctx = serde_json::json!({"customer": {"name": "Priya"}});
    let caller = support::fixture_native("8k", "three_seconds");
    let before = rss_kib();
    let heap_before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut calls = Vec::new();
    for _ in 0..calls_n {
        let mut call =
            Call::new(CallConfig::default(), Box::new(silero.detector(8000).unwrap()), Box::new(BuiltinCod::new(&ctx)))
                .unwrap();
        call.handle_input(Duration::ZERO, Input::Start);
        for (i, f) in caller.chunks_exact(160).enumerate() {
            let frame = Frame::new(MediaTime::new(i as u64 * 160, 8000), f.to_vec());
            call.handle_input(Duration::from_millis(i as u64 * 20 + 20), Input::Audio(frame));
            while call.poll_output().is_some() {}
        }
        calls.push(call);
    }
    let per_call_kib = (rss_kib() - before) / calls_n as f64;
    let per_call_heap_kib = (LIVE_BYTES.load(Ordering::Relaxed) - heap_before) as f64 / calls_n as f64 / 1024.0;
    println!(
        "{}",
        json!({"asr_workers": workers, "rss_mib": {"before_models": base, "models_loaded": loaded, "after_one_run_each": used, "peak": peak}, "per_call_kib": per_call_kib.round(), "per_call_heap_kib": per_call_heap_kib.round(), "calls_measured": calls.len()})
    );
}
