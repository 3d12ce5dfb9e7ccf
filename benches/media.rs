//! Per-call media cost: what one call spends per 20 ms frame on the media path.
//! `cargo bench --bench media` (Silero must be fetched for `call_frame`).

mod support;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use voxline::call::{Call, CallConfig, Input};
use voxline::dialogue::BuiltinCod;
use voxline::engines::SileroModel;
use voxline::media::{Codec, Frame, JitterBuffer, JitterConfig, MediaTime, StreamResampler};
use voxline::models::ModelDir;

fn frames_8k() -> Vec<Vec<f32>> {
    support::fixture_native("8k", "six_seconds").chunks_exact(160).map(|c| c.to_vec()).collect()
}

fn codecs(c: &mut Criterion) {
    let frames = frames_8k();
    let wire: Vec<Vec<u8>> = frames.iter().map(|f| Codec::Pcmu.encode(f)).collect();
    let mut i = 0;
    c.bench_function("pcmu_decode_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % wire.len();
            Codec::Pcmu.decode(&wire[i]).unwrap()
        })
    });
    c.bench_function("pcmu_encode_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            Codec::Pcmu.encode(&frames[i])
        })
    });
}

fn jitter(c: &mut Criterion) {
    let frames = frames_8k();
    let mut jb = JitterBuffer::new(JitterConfig::for_rate(8000));
    let mut n = 0u32;
    c.bench_function("jitter_push_pop_20ms", |b| {
        b.iter(|| {
            jb.push(n as u64 * 160, n * 160, frames[n as usize % frames.len()].clone());
            n += 1;
            jb.pop()
        })
    });
}

fn resampling(c: &mut Criterion) {
    let frames = frames_8k();
    let mut r = StreamResampler::new(8000, 16000, 160).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    c.bench_function("resample_8k_to_16k_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            out.clear();
            r.process(&frames[i], &mut out).unwrap();
        })
    });
}

/// One caller frame through the call core: VAD (Silero, amortised over its 32 ms chunks),
/// speech state, endpoint checks, preroll; the bot is idle.
fn call_frame(c: &mut Criterion) {
    let model = SileroModel::load(&ModelDir::from_env()).unwrap();
    let frames = frames_8k();
    let ctx = serde_json::json!({"customer": {"name": "Priya"}});
    let mut call =
        Call::new(CallConfig::default(), Box::new(model.detector(8000).unwrap()), Box::new(BuiltinCod::new(&ctx)))
            .unwrap();
    let mut n = 0u64;
    c.bench_function("call_frame_20ms", |b| {
        b.iter(|| {
            let f = Frame::new(MediaTime::new(n * 160, 8000), frames[n as usize % frames.len()].clone());
            n += 1;
            let now = Duration::from_millis(n * 20);
            call.handle_input(now, Input::Audio(f));
            while call.poll_output().is_some() {}
        })
    });
}

criterion_group!(benches, codecs, jitter, resampling, call_frame);
criterion_main!(benches);
