//! One JSON report of the figures BENCHMARKS.md quotes: model load times, ASR
//! latency per utterance length and context, TTS time-to-first-audio and RTF,
//! embedding and VAD cost, WER on the fixture set, and resident memory.
//! `cargo bench --bench speech_report`

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use voxline::engines::{
    ort_environment, AsrOptions, Embedder, MiniLm, PiperVoice, SileroModel, TextToSpeech, TtsService, VoiceActivity,
    WhisperAsr,
};
use voxline::eval::wer;
use voxline::models::ModelDir;

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// (VmRSS, VmHWM) in MiB.
fn memory_mib() -> (f64, f64) {
    (support::status_kib("VmRSS") / 1024.0, support::status_kib("VmHWM") / 1024.0)
}

fn labels() -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("audio-fixtures/labels.tsv");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.into(), b.into()))
        .collect()
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let dir = ModelDir::from_env();
    let threads = 2;
    let (_, t_ort) = timed(|| ort_environment(&dir).unwrap());
    let (silero, t_silero) = timed(|| SileroModel::load(&dir).unwrap());
    let (whisper, t_whisper) = timed(|| WhisperAsr::load(&dir, "whisper-tiny.en", threads).unwrap());
    let (whisper_q8, t_whisper_q8) = timed(|| WhisperAsr::load(&dir, "whisper-tiny.en-q8_0", threads).unwrap());
    let (mut piper, t_piper) = timed(|| PiperVoice::load(&dir).unwrap());
    let (mut minilm, t_minilm) = timed(|| MiniLm::load(&dir).unwrap());
    let (rss_loaded, _) = memory_mib();

    // VAD: microseconds per 32 ms chunk over a 3 s clip, both rates.
    let mut vad = serde_json::Map::new();
    for (rate, band) in [(8000u32, "8k"), (16000, "16k")] {
        let audio = support::fixture_native(band, "three_seconds");
        let mut det = silero.detector(rate).unwrap();
        let chunks: Vec<&[f32]> = audio.chunks_exact(det.chunk_samples()).collect();
        let (_, t) = timed(|| {
            for _ in 0..20 {
                for c in &chunks {
                    det.speech_probability(c).unwrap();
                }
            }
        });
        vad.insert(
            format!("{rate}"),
            json!((t.as_secs_f64() * 1e6 / (20 * chunks.len()) as f64 * 10.0).round() / 10.0),
        );
    }

    // ASR latency: median of 5 decodes per utterance and context.
    let mut asr = Vec::new();
    for (name, model) in [("tiny.en f16", &whisper), ("tiny.en q8_0", &whisper_q8)] {
        let mut state = model.new_state().unwrap();
        for (label, audio) in support::utterances() {
            for ctx in [Some(1500), None] {
                let options = AsrOptions { audio_ctx: ctx, ..Default::default() };
                model.decode(&mut state, &audio, &options).unwrap();
                let mut runs = Vec::new();
                let mut text = String::new();
                let mut used_ctx = 0;
                for _ in 0..5 {
                    let (t, d) = timed(|| model.decode(&mut state, &audio, &options).unwrap());
                    runs.push(ms(d));
                    text = t.text;
                    used_ctx = t.audio_ctx;
                }
                let secs = audio.len() as f64 / 16_000.0;
                let p50 = median(runs);
                asr.push(json!({"model": name, "utterance": label, "audio_ctx": used_ctx, "latency_ms_p50": p50, "rtf": (p50 / 1000.0 / secs * 1000.0).round() / 1000.0, "text": text}));
            }
        }
    }

    // WER on the fixture set, 16 kHz and 8 kHz mu-law, with and without the domain prompt.
    let mut state = whisper.new_state().unwrap();
    let mut wers = serde_json::Map::new();
    for band in ["16k", "8k"] {
        for (key, prompt) in [("no_prompt", None), ("domain_prompt", Some(support::DOMAIN_PROMPT.to_string()))] {
            let options = AsrOptions { prompt, ..Default::default() };
            let pairs: Vec<(bool, String, String)> = labels()
                .into_iter()
                .map(|(name, expected)| {
                    (
                        name.starts_with("in_"),
                        expected,
                        whisper.decode(&mut state, &support::fixture_16k(band, &name), &options).unwrap().text,
                    )
                })
                .collect();
            // `in_*`: espeak's Hindi voice reading English (Indian-accented); reported apart.
            for (suffix, accented) in [("", false), ("_indian_accent", true)] {
                let w = wer(pairs.iter().filter(|p| p.0 == accented).map(|(_, a, b)| (a.as_str(), b.as_str())));
                wers.insert(format!("{band}_{key}{suffix}"), json!((w * 1000.0).round() / 1000.0));
            }
        }
    }

    // TTS: first audio of a 10-word sentence (uncached), and RTF over a 3-sentence prompt.
    piper.synthesize("Warm up.").unwrap();
    let ttfa: Vec<f64> = (0..5).map(|_| ms(timed(|| piper.synthesize(support::TEN_WORDS).unwrap()).1)).collect();
    let prompt = "Hello Priya, this is an automated assistant calling from ShopKart. Your order of running shoes for one thousand four hundred ninety nine rupees is ready to ship. Will you be at home on Friday to receive it?";
    let mut tts = TtsService::new(Box::new(PiperVoice::load(&dir).unwrap()));
    let start = Instant::now();
    let mut first = None;
    let mut samples = 0usize;
    for speech in tts.stream(prompt) {
        let speech = speech.unwrap();
        first.get_or_insert(start.elapsed());
        samples += speech.samples.len();
    }
    let total = start.elapsed();
    let audio_secs = samples as f64 / tts.sample_rate() as f64;

    let embed: Vec<f64> = (0..50)
        .map(|i| ms(timed(|| minilm.embed(&format!("haan ji, please confirm my order number {i}")).unwrap()).1))
        .collect();
    let (rss_after, hwm) = memory_mib();

    let report = json!({
        "threads": threads,
        "load_ms": {"onnxruntime": ms(t_ort), "silero": ms(t_silero), "whisper_tiny_en": ms(t_whisper), "whisper_tiny_en_q8_0": ms(t_whisper_q8), "piper": ms(t_piper), "minilm": ms(t_minilm)},
        "vad_us_per_32ms_chunk": vad,
        "asr": asr,
        "wer": wers,
        "tts": {"first_audio_ms_10_words_p50": median(ttfa), "stream_first_sentence_ms": ms(first.unwrap()), "stream_total_ms": ms(total), "stream_audio_s": (audio_secs * 100.0).round() / 100.0, "rtf": (total.as_secs_f64() / audio_secs * 1000.0).round() / 1000.0},
        "embedding_ms_p50": median(embed),
        "memory_mib": {"rss_all_models_loaded": rss_loaded.round(), "rss_after_run": rss_after.round(), "peak": hwm.round()},
    });
    println!("{report}");
}
