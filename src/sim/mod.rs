//! Drives the call core with the real engines on a virtual clock: `voxline replay`
//! (a fixed caller recording) and `voxline simulate` (a reactive scripted caller).
//! Engine time is measured and charged to the virtual clock, so latencies are what a
//! live call on this machine would see; `--realtime` also paces by the wall clock.

pub mod campaign;
mod channel;
mod compare;
mod engines;
mod output;
mod report;
mod rng;
mod runner;
mod script;
mod svg;

pub use channel::{ChannelOptions, CodecChoice};
pub use compare::{compare, CallFacts, ReplayDiff};
pub use engines::{CostModel, SimEngines};
pub use output::{write_outputs, write_svg};
pub use report::{summarize, transcript, LatencySummary, Summary};
pub use runner::{expectation_failures, run_call, Caller, SimOutput};
pub use script::{CallerScript, Cue, Expect, ScriptError, ScriptTurn};
pub use svg::{timeline_svg, Tracks};

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
    #[error("unknown flow {flow:?} (flows: {known})")]
    UnknownFlow { flow: String, known: String },
    #[error(transparent)]
    Dialogue(#[from] crate::dialogue::DialogueError),
    #[error("{path}: {reason}")]
    Context { path: std::path::PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}

/// The prompts directory: `$VOXLINE_PROMPTS`, else `./prompts`, else the system location.
pub fn prompts_dir() -> std::path::PathBuf {
    crate::paths::prompts(None).path
}

/// The process's intent classifier (MiniLM + `prompts/intents.toml`), loaded once.
pub fn shared_classifier(
    models: &crate::models::ModelDir,
    prompts: &std::path::Path,
) -> Result<std::sync::Arc<std::sync::Mutex<crate::dialogue::IntentClassifier>>, SimError> {
    use std::sync::{Arc, Mutex, OnceLock};
    static SHARED: OnceLock<Arc<Mutex<crate::dialogue::IntentClassifier>>> = OnceLock::new();
    if let Some(c) = SHARED.get() {
        return Ok(c.clone());
    }
    let c = Arc::new(Mutex::new(crate::dialogue::IntentClassifier::load(models, &prompts.join("intents.toml"))?));
    Ok(SHARED.get_or_init(|| c).clone())
}

/// The call context JSON and the flow `flow` from `prompts/flows`, ready for a call.
pub fn load_dialogue(
    models: &crate::models::ModelDir,
    prompts: &std::path::Path,
    flow: &str,
    context: &std::path::Path,
) -> Result<Box<dyn crate::dialogue::Dialogue>, SimError> {
    let text = std::fs::read_to_string(context).map_err(|source| SimError::Io { path: context.into(), source })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| SimError::Context { path: context.into(), reason: e.to_string() })?;
    dialogue_for(models, prompts, flow, value, context)
}

/// The flow `flow` with a context already parsed; `origin` names where it came from in errors.
pub fn dialogue_for(
    models: &crate::models::ModelDir,
    prompts: &std::path::Path,
    flow: &str,
    value: serde_json::Value,
    context: &std::path::Path,
) -> Result<Box<dyn crate::dialogue::Dialogue>, SimError> {
    if !value.is_object() {
        return Err(SimError::Context { path: context.into(), reason: "the context must be a JSON object".into() });
    }
    let flows = crate::dialogue::load_flows(&prompts.join("flows"))?;
    let (_, spec) = flows.get(flow).ok_or_else(|| SimError::UnknownFlow {
        flow: flow.into(),
        known: flows.keys().cloned().collect::<Vec<_>>().join(", "),
    })?;
    let classifier = shared_classifier(models, prompts)?;
    let dialogue = crate::dialogue::FlowDialogue::new(spec.clone(), value, classifier)
        .map_err(|reason| SimError::Context { path: context.into(), reason })?;
    Ok(Box::new(dialogue))
}

/// A replay's caller audio at `rate`: a stereo file is a call recording and its left
/// channel is the caller; any other file is downmixed.
pub fn load_caller_audio(path: &std::path::Path, rate: u32) -> Result<Vec<f32>, SimError> {
    let (left, right) = crate::media::read_wav_stereo(path)?;
    if right.samples.is_empty() {
        return load_audio(path, rate);
    }
    Ok(crate::media::resample(&left.samples, left.rate, rate)?)
}

/// Re-runs a stored call's caller channel through `engines` and its flow, and compares
/// the result with the record.
pub fn replay_record(
    engines: &mut SimEngines,
    models: &crate::models::ModelDir,
    prompts: &std::path::Path,
    record: &crate::storage::CallRecord,
    channel: ChannelOptions,
) -> Result<(SimOutput, ReplayDiff), SimError> {
    let id = &record.call.id;
    let recording = record.recording_path.as_ref().ok_or_else(|| SimError::Context {
        path: id.into(),
        reason: "the call has no recording (recording.enabled was off, or consent was withheld)".into(),
    })?;
    let dialogue = dialogue_for(models, prompts, &record.call.flow, record.context.clone(), std::path::Path::new(id))?;
    let audio = load_caller_audio(std::path::Path::new(recording), engines.rate())?;
    let out = run_call(engines, dialogue, Caller::Recording(audio), channel, false, &Expect::default())?;
    let events: Vec<serde_json::Value> = out.events.iter().filter_map(|e| serde_json::to_value(e).ok()).collect();
    let lines = transcript(&out.events);
    let stored = CallFacts {
        outcome: record.call.outcome.clone(),
        handoff: record.handoff.is_some(),
        transcript: &record.transcript,
        timeline: &record.timeline,
    };
    let replay = CallFacts {
        outcome: out.summary.outcome.map(str::to_string),
        handoff: out.summary.handoff,
        transcript: &lines,
        timeline: &events,
    };
    let diff = compare(id, &record.call.flow, &stored, &replay);
    Ok((out, diff))
}

/// Reads a WAV as mono at `rate`.
pub fn load_audio(path: &std::path::Path, rate: u32) -> Result<Vec<f32>, SimError> {
    let pcm = crate::media::read_wav_mono(path)?;
    Ok(crate::media::resample(&pcm.samples, pcm.rate, rate)?)
}

/// A script's turns loaded at `rate`.
pub fn load_turns(script: &CallerScript, rate: u32) -> Result<Caller, SimError> {
    let turns = script
        .turns
        .iter()
        .map(|t| Ok((load_audio(&t.audio, rate)?, t.after, t.delay_ms)))
        .collect::<Result<Vec<_>, SimError>>()?;
    Ok(Caller::Script(turns))
}
