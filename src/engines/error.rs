use crate::models::ModelError;

/// Engine failures, grouped by fault: model files (operator), bad input (caller of the API),
/// runtime failure inside an engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{engine}: invalid input: {reason}")]
    Input { engine: &'static str, reason: String },
    #[error("{engine}: {reason}")]
    Runtime { engine: &'static str, reason: String },
    #[error("{0} is not available in this build")]
    Unavailable(&'static str),
    #[error("{engine}: worker pool has shut down")]
    Closed { engine: &'static str },
    #[error("{engine}: dropped a stale partial request")]
    Dropped { engine: &'static str },
}

impl EngineError {
    pub(crate) fn runtime(engine: &'static str, reason: impl ToString) -> Self {
        EngineError::Runtime { engine, reason: reason.to_string() }
    }
    pub(crate) fn input(engine: &'static str, reason: impl ToString) -> Self {
        EngineError::Input { engine, reason: reason.to_string() }
    }
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Model(m) => m.code(),
            EngineError::Input { .. } => "engine_input",
            EngineError::Runtime { .. } => "engine_failed",
            EngineError::Unavailable(_) => "engine_unavailable",
            EngineError::Closed { .. } => "engine_closed",
            EngineError::Dropped { .. } => "engine_dropped",
        }
    }
}
