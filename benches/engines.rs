//! Criterion benches for the speech engines on this machine's cores.
//! `cargo bench --bench engines` (models must be fetched).

mod support;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use voxline::engines::{
    AsrOptions, Embedder, MiniLm, PiperVoice, SileroModel, TextToSpeech, VoiceActivity, WhisperAsr,
};
use voxline::models::ModelDir;

fn vad(c: &mut Criterion) {
    let model = SileroModel::load(&ModelDir::from_env()).unwrap();
    let mut group = c.benchmark_group("vad_32ms_chunk");
    for (rate, band) in [(8000, "8k"), (16000, "16k")] {
        let audio = support::fixture_native(band, "three_seconds");
        let mut det = model.detector(rate).unwrap();
        let n = det.chunk_samples();
        let chunks: Vec<&[f32]> = audio.chunks_exact(n).collect();
        let mut i = 0;
        group.bench_function(BenchmarkId::from_parameter(rate), |b| {
            b.iter(|| {
                i = (i + 1) % chunks.len();
                det.speech_probability(chunks[i]).unwrap()
            })
        });
    }
    group.finish();
}

fn asr(c: &mut Criterion) {
    let model = WhisperAsr::load(&ModelDir::from_env(), "whisper-tiny.en", 2).unwrap();
    let mut state = model.new_state().unwrap();
    let mut group = c.benchmark_group("asr_tiny_en_2_threads");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    for (label, audio) in support::utterances() {
        for (ctx_label, ctx) in [("ctx1500", Some(1500)), ("ctx_auto", None)] {
            let options = AsrOptions { audio_ctx: ctx, ..Default::default() };
            group.bench_function(BenchmarkId::new(ctx_label, label), |b| {
                b.iter(|| model.decode(&mut state, &audio, &options).unwrap())
            });
        }
    }
    group.finish();
}

fn tts(c: &mut Criterion) {
    let mut voice = PiperVoice::load(&ModelDir::from_env()).unwrap();
    let mut group = c.benchmark_group("tts_piper");
    group.sample_size(10);
    group.bench_function("ten_word_sentence", |b| b.iter(|| voice.synthesize(support::TEN_WORDS).unwrap()));
    group.finish();
}

fn embeddings(c: &mut Criterion) {
    let mut m = MiniLm::load(&ModelDir::from_env()).unwrap();
    c.bench_function("minilm_sentence", |b| {
        b.iter(|| m.embed("haan ji, please confirm my order for tomorrow").unwrap())
    });
}

criterion_group!(benches, vad, embeddings, tts, asr);
criterion_main!(benches);
