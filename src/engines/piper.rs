//! Piper VITS voices through ONNX Runtime, with espeak-ng IPA phonemes.

use std::collections::HashMap;
use std::path::Path;

use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;

use super::onnx::{open_session, ort_environment};
use super::{EngineError, TextToSpeech};
use crate::models::{ModelDir, ModelError};

#[derive(Debug, Deserialize)]
struct VoiceConfig {
    audio: AudioConfig,
    espeak: EspeakConfig,
    inference: InferenceConfig,
    phoneme_id_map: HashMap<String, Vec<i64>>,
}

#[derive(Debug, Deserialize)]
struct AudioConfig {
    sample_rate: u32,
}

#[derive(Debug, Deserialize)]
struct EspeakConfig {
    voice: String,
}

#[derive(Debug, Deserialize)]
struct InferenceConfig {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

pub struct PiperVoice {
    session: Session,
    config: VoiceConfig,
    ids: HashMap<char, Vec<i64>>,
    id: String,
}

impl PiperVoice {
    /// Loads the manifest's Piper voice (`piper-joe` + `piper-joe-config`) with up to two
    /// intra-op threads: 2 threads cut a 10-word sentence from ~205 ms to ~125 ms here.
    pub fn load(dir: &ModelDir) -> Result<Self, EngineError> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self::load_with_threads(dir, cores.min(2))
    }

    pub fn load_with_threads(dir: &ModelDir, threads: usize) -> Result<Self, EngineError> {
        let model = dir.require("piper-joe")?;
        let config = dir.require("piper-joe-config")?;
        let session = open_session(ort_environment(dir)?, &model, threads)?;
        Self::with_session(session, &config, "piper-joe")
    }

    fn with_session(session: Session, config_path: &Path, id: &str) -> Result<Self, EngineError> {
        let text = std::fs::read_to_string(config_path).map_err(|e| ModelError::io(config_path, e))?;
        let config: VoiceConfig = serde_json::from_str(&text)
            .map_err(|e| ModelError::Load { path: config_path.into(), reason: e.to_string() })?;
        let ids = config
            .phoneme_id_map
            .iter()
            .filter_map(|(k, v)| {
                let mut chars = k.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Some((c, v.clone())),
                    _ => None,
                }
            })
            .collect::<HashMap<_, _>>();
        for required in ['^', '_', '$'] {
            if !ids.contains_key(&required) {
                return Err(ModelError::Load {
                    path: config_path.into(),
                    reason: format!("phoneme_id_map lacks {required:?}"),
                }
                .into());
            }
        }
        Ok(PiperVoice { session, config, ids, id: id.into() })
    }

    /// `^ _ p1 _ p2 _ ... $`; phonemes missing from the map are skipped.
    fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        let mut out = self.ids[&'^'].clone();
        out.extend(&self.ids[&'_']);
        for c in phonemes.chars() {
            if let Some(ids) = self.ids.get(&c) {
                out.extend(ids);
                out.extend(&self.ids[&'_']);
            }
        }
        out.extend(&self.ids[&'$']);
        out
    }
}

impl TextToSpeech for PiperVoice {
    fn sample_rate(&self) -> u32 {
        self.config.audio.sample_rate
    }

    fn voice_id(&self) -> &str {
        &self.id
    }

    fn synthesize(&mut self, sentence: &str) -> Result<Vec<f32>, EngineError> {
        let phonemes = phonemize(sentence, &self.config.espeak.voice)?;
        let ids = self.phoneme_ids(&phonemes);
        if ids.len() <= 3 {
            return Ok(Vec::new());
        }
        let n = ids.len();
        let inf = &self.config.inference;
        let fail = |e: ort::Error| EngineError::runtime("piper", e);
        let input = Tensor::from_array(([1usize, n], ids)).map_err(fail)?;
        let lengths = Tensor::from_array(([1usize], vec![n as i64])).map_err(fail)?;
        let scales =
            Tensor::from_array(([3usize], vec![inf.noise_scale, inf.length_scale, inf.noise_w])).map_err(fail)?;
        let outputs = self
            .session
            .run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales])
            .map_err(fail)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(fail)?;
        // Piper's output is roughly unit scale; only tame rare overshoots.
        let peak = audio.iter().fold(0f32, |m, x| m.max(x.abs()));
        let gain = if peak > 0.99 { 0.99 / peak } else { 1.0 };
        Ok(audio.iter().map(|x| x * gain).collect())
    }
}

#[cfg(feature = "espeak")]
fn phonemize(text: &str, voice: &str) -> Result<String, EngineError> {
    super::espeak::phonemize_ipa(text, voice)
}

#[cfg(not(feature = "espeak"))]
fn phonemize(_text: &str, _voice: &str) -> Result<String, EngineError> {
    Err(EngineError::Unavailable("Piper phonemization (build with the `espeak` feature)"))
}
