//! Where the models and prompts directories are found: the command-line flag, else the
//! environment variable, else `./models` / `./prompts` in the current directory, else
//! the system location. Nothing is read from the tree the binary was built in, so a
//! copied binary never silently uses another checkout's files.

use std::fmt;
use std::path::{Path, PathBuf};

/// Installed data: `/usr/local/share/voxline/models` and `.../prompts`.
pub const SYSTEM_DIR: &str = "/usr/local/share/voxline";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    CurrentDir,
    System,
}

/// A directory and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub path: PathBuf,
    pub source: Source,
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.source {
            Source::Flag => "from the command line".to_string(),
            Source::Env(var) => format!("from ${var}"),
            Source::CurrentDir => "in the current directory".to_string(),
            Source::System => "the system location".to_string(),
        };
        write!(f, "{} ({how})", self.path.display())
    }
}

/// Resolves the `name` directory (`models`, `prompts`). `marker` is a file that shows a
/// directory is the right one; without it any existing directory counts.
pub fn resolve(flag: Option<PathBuf>, env: &'static str, name: &str, marker: Option<&str>) -> Resolved {
    resolve_with(flag, std::env::var_os(env).map(PathBuf::from), env, name, marker, Path::new(SYSTEM_DIR))
}

fn resolve_with(
    flag: Option<PathBuf>,
    env_value: Option<PathBuf>,
    env: &'static str,
    name: &str,
    marker: Option<&str>,
    system: &Path,
) -> Resolved {
    if let Some(path) = flag {
        return Resolved { path, source: Source::Flag };
    }
    if let Some(path) = env_value.filter(|p| !p.as_os_str().is_empty()) {
        return Resolved { path, source: Source::Env(env) };
    }
    let usable = |dir: &Path| dir.is_dir() && marker.is_none_or(|m| dir.join(m).exists());
    let local = PathBuf::from(name);
    if usable(&local) {
        return Resolved { path: local, source: Source::CurrentDir };
    }
    let installed = system.join(name);
    if usable(&installed) {
        return Resolved { path: installed, source: Source::System };
    }
    // Nothing found: name the current directory, so errors point where files are expected.
    Resolved { path: local, source: Source::CurrentDir }
}

/// The models directory (`--models`, `$VOXLINE_MODELS`, `./models`, the system location).
pub fn models(flag: Option<PathBuf>) -> Resolved {
    resolve(flag, "VOXLINE_MODELS", "models", None)
}

/// The prompts directory (`--prompts`, `$VOXLINE_PROMPTS`, `./prompts`, the system location).
pub fn prompts(flag: Option<PathBuf>) -> Resolved {
    resolve(flag, "VOXLINE_PROMPTS", "prompts", Some("intents.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_env_then_current_dir_then_system() {
        let tmp = std::env::temp_dir().join(format!("voxline-paths-{}", std::process::id()));
        let system = tmp.join("share");
        std::fs::create_dir_all(system.join("prompts")).unwrap();
        std::fs::write(system.join("prompts/intents.toml"), "").unwrap();
        let r = |flag: Option<&str>, env: Option<&str>, name: &str| {
            resolve_with(
                flag.map(PathBuf::from),
                env.map(PathBuf::from),
                "VOXLINE_X",
                name,
                Some("intents.toml"),
                &system,
            )
        };
        assert_eq!(r(Some("/a"), Some("/b"), "prompts"), Resolved { path: "/a".into(), source: Source::Flag });
        assert_eq!(r(None, Some("/b"), "prompts"), Resolved { path: "/b".into(), source: Source::Env("VOXLINE_X") });
        // The test runs in the crate root, whose ./prompts has intents.toml.
        assert_eq!(r(None, None, "prompts").source, Source::CurrentDir);
        let sys = r(None, Some(""), "no-such-dir-here");
        assert_eq!(sys, Resolved { path: "no-such-dir-here".into(), source: Source::CurrentDir }, "nothing found");
        std::fs::create_dir_all(system.join("elsewhere")).unwrap();
        std::fs::write(system.join("elsewhere/intents.toml"), "").unwrap();
        let sys = r(None, None, "elsewhere");
        assert_eq!((sys.source, sys.path.clone()), (Source::System, system.join("elsewhere")));
        assert!(sys.to_string().contains("system location"));
        std::fs::remove_dir_all(&tmp).ok();
    }
}
