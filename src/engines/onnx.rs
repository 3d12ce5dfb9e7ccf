//! The process-wide ONNX Runtime, loaded from the manifest's shared library.

use std::path::Path;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;

use super::EngineError;
use crate::models::{ModelDir, ModelError};

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Loads `libonnxruntime` from the models directory once per process.
pub fn ort_environment(dir: &ModelDir) -> Result<&'static Environment, EngineError> {
    let lib = dir.require("onnxruntime")?;
    let env = ENVIRONMENT.get_or_init(|| {
        let builder = ort::init_from(&lib).map_err(|e| format!("{}: {e}", lib.display()))?;
        builder.with_name("voxline").build().map_err(|e| e.to_string())
    });
    env.as_ref().map_err(|reason| EngineError::Model(ModelError::Load { path: lib, reason: reason.clone() }))
}

/// A single-threaded session: calls are short and run on many call threads at once.
pub(crate) fn load_session(dir: &ModelDir, name: &str) -> Result<Session, EngineError> {
    let env = ort_environment(dir)?;
    let path = dir.require(name)?;
    open_session(env, &path, 1)
}

pub(crate) fn open_session(env: &Environment, path: &Path, threads: usize) -> Result<Session, EngineError> {
    let load = |reason: String| EngineError::Model(ModelError::Load { path: path.into(), reason });
    Session::builder(env)
        .and_then(|b| Ok(b.with_intra_threads(threads)?.with_inter_threads(1)?))
        .map_err(|e| load(e.to_string()))?
        .commit_from_file(path)
        .map_err(|e| load(e.to_string()))
}
