use std::path::PathBuf;
use std::sync::OnceLock;

use voxline::engines::{AsrPool, WhisperAsr};
use voxline::media::{read_wav_mono, resample, Pcm};
use voxline::models::ModelDir;

pub fn models() -> ModelDir {
    ModelDir::from_env()
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("audio-fixtures")
}

/// (name, expected transcript) from labels.tsv.
pub fn labels() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(fixtures().join("labels.tsv")).expect("labels.tsv");
    text.lines().filter_map(|l| l.split_once('\t')).map(|(n, t)| (n.to_string(), t.to_string())).collect()
}

pub fn fixture(band: &str, name: &str) -> Pcm {
    read_wav_mono(&fixtures().join(band).join(format!("{name}.wav"))).expect("fixture")
}

pub fn to_16k(pcm: &Pcm) -> Vec<f32> {
    resample(&pcm.samples, pcm.rate, 16_000).unwrap()
}

/// One shared ASR pool for the whole test binary.
pub fn asr() -> &'static AsrPool {
    static POOL: OnceLock<AsrPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let model =
            WhisperAsr::load(&models(), "whisper-tiny.en", 2).expect("whisper model (run `voxline models fetch`)");
        AsrPool::new(&model, 1).unwrap()
    })
}
