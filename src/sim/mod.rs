//! Drives the call core with the real engines on a virtual clock: `voxline replay`
//! (a fixed caller recording) and `voxline simulate` (a reactive scripted caller).
//! Engine time is measured and charged to the virtual clock, so latencies are what a
//! live call on this machine would see; `--realtime` also paces by the wall clock.

mod channel;
mod engines;
mod output;
mod report;
mod rng;
mod runner;
mod script;

pub use channel::{ChannelOptions, CodecChoice};
pub use engines::{CostModel, SimEngines};
pub use output::write_outputs;
pub use report::{LatencySummary, Summary};
pub use runner::{run_call, Caller, SimOutput};
pub use script::{CallerScript, Cue, Expect, ScriptError, ScriptTurn};

/// Errors that stop a simulated call before it runs.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error(transparent)]
    Engine(#[from] crate::engines::EngineError),
    #[error(transparent)]
    Wav(#[from] crate::media::WavError),
    #[error(transparent)]
    Resample(#[from] crate::media::ResampleError),
    #[error("unknown flow {0:?} (available: cod)")]
    UnknownFlow(String),
    #[error("{path}: {reason}")]
    Context { path: std::path::PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}

/// The call context JSON and the dialogue for `flow`.
pub fn load_dialogue(flow: &str, context: &std::path::Path) -> Result<Box<dyn crate::dialogue::Dialogue>, SimError> {
    let text = std::fs::read_to_string(context).map_err(|source| SimError::Io { path: context.into(), source })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| SimError::Context { path: context.into(), reason: e.to_string() })?;
    if !value.is_object() {
        return Err(SimError::Context { path: context.into(), reason: "the context must be a JSON object".into() });
    }
    match flow {
        "cod" => Ok(Box::new(crate::dialogue::BuiltinCod::new(&value))),
        other => Err(SimError::UnknownFlow(other.into())),
    }
}

/// Reads a WAV as mono at `rate`.
pub fn load_audio(path: &std::path::Path, rate: u32) -> Result<Vec<f32>, SimError> {
    let pcm = crate::media::read_wav_mono(path)?;
    Ok(crate::media::resample(&pcm.samples, pcm.rate, rate)?)
}

/// A script's turns loaded at `rate`.
pub fn load_turns(script: &CallerScript, rate: u32) -> Result<Caller, SimError> {
    let turns = script.turns.iter().map(|t| Ok((load_audio(&t.audio, rate)?, t.after, t.delay_ms))).collect::<Result<Vec<_>, SimError>>()?;
    Ok(Caller::Script(turns))
}
