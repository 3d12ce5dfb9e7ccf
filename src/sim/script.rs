//! Caller scripts for `voxline simulate` (TOML).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dialogue::Outcome;

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cue {
    BotDone,
    BotStart,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptTurn {
    pub audio: PathBuf,
    pub after: Option<Cue>,
    #[serde(default)]
    pub delay_ms: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub outcome: Option<Outcome>,
    pub handoff: Option<bool>,
    /// The handoff packet's reason, e.g. "change_address".
    pub handoff_reason: Option<String>,
    #[serde(default)]
    pub slots: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerScript {
    pub flow: String,
    pub context: PathBuf,
    #[serde(rename = "turn", default)]
    pub turns: Vec<ScriptTurn>,
    #[serde(default)]
    pub expect: Expect,
}

impl CallerScript {
    /// Parses a script; relative paths become relative to the script's folder.
    pub fn load(path: &Path) -> Result<Self, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Io { path: path.into(), source })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ScriptError> {
        let invalid = |reason: String| ScriptError::Invalid { path: path.into(), reason };
        let mut script: CallerScript = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        script.context = dir.join(&script.context);
        for (i, turn) in script.turns.iter_mut().enumerate() {
            turn.audio = dir.join(&turn.audio);
            if i > 0 && turn.after.is_none() {
                return Err(invalid(format!(
                    "turn {}: `after` is required after the first turn (bot_done or bot_start)",
                    i + 1
                )));
            }
        }
        Ok(script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_format_and_rejects_mistakes() {
        let text = r#"
flow = "cod"
context = "ctx.json"
[[turn]]
audio = "hello.wav"
[[turn]]
audio = "yes.wav"
after = "bot_done"
delay_ms = 600
[expect]
outcome = "confirmed"
handoff = false
"#;
        let s = CallerScript::parse(text, Path::new("calls/a.toml")).unwrap();
        assert_eq!(s.turns.len(), 2);
        assert_eq!(s.context, Path::new("calls/ctx.json"));
        assert_eq!(s.turns[1].after, Some(Cue::BotDone));
        assert_eq!(s.expect.outcome, Some(Outcome::Confirmed));
        let bad = text.replace("after = \"bot_done\"\n", "");
        assert!(CallerScript::parse(&bad, Path::new("a.toml")).unwrap_err().to_string().contains("turn 2"));
        let typo = text.replace("delay_ms", "delay");
        assert!(CallerScript::parse(&typo, Path::new("a.toml")).unwrap_err().to_string().contains("a.toml"));
        let outcome = text.replace("\"confirmed\"", "\"great\"");
        assert!(CallerScript::parse(&outcome, Path::new("a.toml")).is_err());
    }
}
