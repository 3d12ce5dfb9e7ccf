//! Prints Silero speech probability and RMS per 32 ms chunk of a WAV file:
//! `cargo run --release --example vad_probe -- FILE.wav`. For tuning VAD and barge-in thresholds.
use voxline::engines::{SileroModel, VoiceActivity};
use voxline::models::ModelDir;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let pcm = voxline::media::read_wav_mono(std::path::Path::new(&path)).unwrap();
    let m = SileroModel::load(&ModelDir::from_env()).unwrap();
    let mut d = m.detector(pcm.rate).unwrap();
    let n = d.chunk_samples();
    for (i, c) in pcm.samples.chunks_exact(n).enumerate() {
        let p = d.speech_probability(c).unwrap();
        let e = (c.iter().map(|x| x * x).sum::<f32>() / n as f32).sqrt();
        println!("{:5} ms p={:.2} rms={:.3}", i * n * 1000 / pcm.rate as usize, p, e);
    }
}
