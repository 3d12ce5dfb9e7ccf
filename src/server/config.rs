//! `voxline.toml`: the server's settings, with `VOXLINE_SECTION__KEY` environment
//! overrides. Unknown keys and bad values are errors naming the file, the line and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The annotated default configuration (`voxline config default`).
pub const DEFAULT_TOML: &str = include_str!("default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: line {line}: {reason}")]
    Parse { origin: String, line: usize, reason: String },
    #[error("{origin}: {key}: {reason}")]
    Invalid { origin: String, key: String, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub http: Http,
    pub storage: Storage,
    pub models: Dir,
    pub prompts: Dir,
    pub twilio: Twilio,
    pub recording: Recording,
    pub limits: Limits,
    pub engines: Engines,
    pub shutdown: Shutdown,
    pub log: Log,
    pub sip: Sip,
    /// Outbound SIP trunks (`[[trunk]]`).
    pub trunk: Vec<Trunk>,
    /// Human agents for handoffs (`[[agent]]`).
    pub agent: Vec<Agent>,
    pub handoff: Handoff,
    pub campaign: Campaign,
}

/// A human agent who takes handed-off calls at the desk.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub name: String,
    pub token: String,
    #[serde(default)]
    pub skills: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    pub max_wait: String,
    pub offer_timeout: String,
}

/// The calling policy's settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub window: String,
    pub flow_windows: std::collections::BTreeMap<String, String>,
    pub holidays: Vec<String>,
    pub per_day: u32,
    pub per_week: u32,
    pub max_attempts: u32,
    pub retry_gap: String,
    pub max_failures: u32,
    /// Trunks the campaign dialer places calls through; empty: no dialling.
    pub trunks: Vec<String>,
    /// How often the dialer looks for due attempts and the outbox for due deliveries.
    pub tick: String,
    pub lease: String,
    pub webhook_url: String,
    pub webhook_secret: String,
    /// Win-back offers by last order category (`default` for the rest).
    pub offers: std::collections::BTreeMap<String, String>,
}

impl Campaign {
    /// When `flow` may call: its hours inside the outer window, less the holidays.
    pub fn calendar(&self, flow: crate::campaign::policy::Flow) -> Result<crate::campaign::window::Calendar, String> {
        use crate::campaign::window::{Calendar, Hours};
        let outer = Hours::parse(&self.window)?;
        let hours = match self.flow_windows.get(flow.name()) {
            Some(w) => Hours::parse(w)?
                .within(outer)
                .ok_or_else(|| format!("{}: {w:?} is outside window {:?}", flow.name(), self.window))?,
            None => outer,
        };
        let holidays = self.holidays.iter().map(|d| crate::campaign::crm::fields::date(d)).collect::<Result<_, _>>()?;
        Ok(Calendar { hours, holidays })
    }

    pub fn limits(&self) -> Result<crate::campaign::policy::Limits, String> {
        let gap = parse_duration(&self.retry_gap)?;
        Ok(crate::campaign::policy::Limits {
            per_day: self.per_day as usize,
            per_week: self.per_week as usize,
            max_attempts: self.max_attempts,
            retry_gap: chrono::Duration::from_std(gap).map_err(|e| e.to_string())?,
            max_failures: self.max_failures,
            ..Default::default()
        })
    }

    /// The policy's settings for the scheduler (validated at load).
    pub fn rules(&self) -> crate::campaign::schedule::Rules {
        use crate::campaign::policy::Flow;
        let calendars = Flow::ALL.into_iter().map(|f| (f, self.calendar(f).unwrap_or_default())).collect();
        crate::campaign::schedule::Rules { calendars, limits: self.limits().unwrap_or_default() }
    }

    /// [`Campaign::tick`] (validated at load).
    pub fn tick(&self) -> std::time::Duration {
        parse_duration(&self.tick).unwrap_or(std::time::Duration::from_secs(1))
    }

    /// [`Campaign::lease`] (validated at load).
    pub fn lease(&self) -> chrono::Duration {
        let lease = parse_duration(&self.lease).unwrap_or(std::time::Duration::from_secs(30));
        chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30))
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        crate::campaign::window::Hours::parse(&self.window).map_err(|e| ("campaign.window", e))?;
        for name in self.flow_windows.keys() {
            let Some(flow) = crate::campaign::policy::Flow::parse(name) else {
                return Err(("campaign.flow_windows", format!("{name:?} is not a flow")));
            };
            self.calendar(flow).map_err(|e| ("campaign.flow_windows", e))?;
        }
        self.calendar(crate::campaign::policy::Flow::Cod).map_err(|e| ("campaign.holidays", e))?;
        self.limits().map_err(|e| ("campaign.retry_gap", e))?;
        for (key, n) in [("campaign.per_day", self.per_day), ("campaign.per_week", self.per_week)] {
            if n == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        if self.per_week < self.per_day {
            return Err(("campaign.per_week", "must be at least per_day".into()));
        }
        let tick = parse_duration(&self.tick).map_err(|e| ("campaign.tick", e))?;
        if tick.is_zero() || tick > std::time::Duration::from_secs(60) {
            return Err(("campaign.tick", format!("{:?}: between 1 ms and 60 s", self.tick)));
        }
        let lease = parse_duration(&self.lease).map_err(|e| ("campaign.lease", e))?;
        if lease < tick * 3 {
            return Err(("campaign.lease", format!("{:?}: at least three ticks ({:?})", self.lease, tick * 3)));
        }
        if !self.webhook_url.is_empty() && !self.webhook_url.starts_with("http://") {
            return Err(("campaign.webhook_url", format!("{:?}: an http:// URL", self.webhook_url)));
        }
        if !self.webhook_url.is_empty() && self.webhook_secret.is_empty() {
            return Err(("campaign.webhook_secret", "webhooks are signed: set a secret".into()));
        }
        Ok(())
    }
}

/// A SIP trunk voxline dials through.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    pub name: String,
    pub host: String,
    #[serde(default = "Trunk::default_port")]
    pub port: u16,
    /// `udp` or `tcp`.
    #[serde(default = "Trunk::default_transport")]
    pub transport: String,
    /// Digest credentials for 401/407 challenges; empty: none.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// Caller id (From and P-Asserted-Identity).
    pub from: String,
    /// Caller id per flow, over `from`.
    #[serde(default)]
    pub from_by_flow: std::collections::BTreeMap<String, String>,
    /// Concurrent calls (0: no limit).
    #[serde(default)]
    pub max_calls: u32,
    /// New calls per second (0: no limit).
    #[serde(default)]
    pub cps: f64,
    /// CANCEL an unanswered call after ringing this long.
    #[serde(default = "Trunk::default_ring_timeout")]
    pub ring_timeout: String,
    /// Answering-machine detection on answered calls (the flow's `on_voicemail` applies).
    #[serde(default = "Trunk::default_amd")]
    pub amd: bool,
}

impl Trunk {
    fn default_amd() -> bool {
        true
    }

    fn default_port() -> u16 {
        5060
    }

    fn default_transport() -> String {
        "udp".into()
    }

    fn default_ring_timeout() -> String {
        "45s".into()
    }

    /// The caller id for a call running `flow`.
    pub fn caller_id(&self, flow: &str) -> &str {
        self.from_by_flow.get(flow).map_or(self.from.as_str(), String::as_str)
    }

    pub fn ring_timeout(&self) -> Duration {
        parse_duration(&self.ring_timeout).expect("validated")
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sip {
    /// UDP and TCP listener; empty: no SIP.
    pub listen: String,
    /// Address written into SDP and Contact; empty: the listen address.
    pub public_ip: String,
    /// `"LOW-HIGH"`: RTP on even ports, RTCP on the odd one above.
    pub rtp_ports: String,
    /// Hang up after this long without media from the far end.
    pub rtp_timeout: String,
    /// Ring (180) this long before answering an inbound call.
    pub answer_after: String,
    /// Inbound calls by the To user, for calls that name no call or flow themselves.
    pub dialplan: Vec<DialplanEntry>,
    /// Where a handed-off call goes (a SIP URI); empty: voxline hangs up.
    pub transfer_to: String,
    /// `refer` (blind transfer) or `bridge` (voxline calls the agent and relays media).
    pub transfer_mode: String,
    /// How long to wait for the transfer's final NOTIFY.
    pub transfer_timeout: String,
}

/// One dialplan line: calls to `user` run `flow` with `context`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DialplanEntry {
    pub user: String,
    pub flow: String,
    #[serde(default)]
    pub context: serde_json::Value,
    /// Overrides `sip.answer_after` for this number.
    #[serde(default)]
    pub answer_after: Option<String>,
}

/// The Whisper models the manifest provides.
pub const ASR_MODELS: [&str; 2] = ["whisper-tiny.en", "whisper-tiny.en-q8_0"];

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Engines {
    /// The Whisper model: `whisper-tiny.en` (f16) or `whisper-tiny.en-q8_0`.
    pub asr_model: String,
    /// Threads per Whisper decode.
    pub asr_threads: u32,
    /// Intra-op threads of the Piper voice.
    pub tts_threads: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `text` or `json` (one object per line).
    pub format: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    pub listen: String,
    pub public_url: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    pub url: String,
    pub node: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dir {
    pub dir: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Twilio {
    pub auth_token: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_calls: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    pub drain_timeout: String,
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Default for Config {
    fn default() -> Self {
        Self::parse(DEFAULT_TOML, "default.toml").expect("the embedded default is valid (tested)")
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].lines().count().max(1)
}

impl Config {
    /// Parses and validates one file's text; every key must be present (the default
    /// file has them all; [`Config::load`] lays a file over the default).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.into(),
            line: e.span().map_or(1, |s| line_at(text, s.start)),
            reason: e.message().to_string(),
        })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// The default, then the file at `path` (if given), then `VOXLINE_SECTION__KEY`
    /// variables from `env`.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut table: toml::Table = toml::from_str(DEFAULT_TOML).expect("the embedded default is valid TOML");
        let (text, origin) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Io { path: p.into(), source })?;
                (text, p.display().to_string())
            }
            None => (String::new(), "defaults".to_string()),
        };
        let file: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            origin: origin.clone(),
            line: e.span().map_or(1, |s| line_at(&text, s.start)),
            reason: e.message().to_string(),
        })?;
        let line_of = |key: &str| text.lines().position(|l| l.trim_start().starts_with(key)).map_or(1, |i| i + 1);
        for (section, values) in file {
            let bad = |key: &str, reason: &str| ConfigError::Parse {
                origin: origin.clone(),
                line: line_of(key),
                reason: format!("{key}: {reason}"),
            };
            // A top-level array of tables (`[[trunk]]`) replaces the default's.
            if let (Some(toml::Value::Array(into)), toml::Value::Array(entries)) = (table.get_mut(&section), &values) {
                *into = entries.clone();
                continue;
            }
            let Some(toml::Value::Table(into)) = table.get_mut(&section) else {
                return Err(bad(&section, "unknown section"));
            };
            let toml::Value::Table(values) = values else { return Err(bad(&section, "must be a [section]")) };
            for (key, value) in values {
                match into.get(&key) {
                    None => return Err(bad(&key, &format!("unknown key in [{section}]"))),
                    Some(default) if default.type_str() != value.type_str() => {
                        return Err(bad(&key, &format!("expected {}, found {}", default.type_str(), value.type_str())))
                    }
                    Some(_) => drop(into.insert(key, value)),
                }
            }
        }
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix("VOXLINE_") else { continue };
            let Some((section, key)) = rest.split_once("__") else { continue };
            let (section, key) = (section.to_lowercase(), key.to_lowercase());
            let unknown = || ConfigError::Invalid {
                origin: "environment".into(),
                key: name.clone(),
                reason: format!("no key {key} in [{section}]"),
            };
            let Some(toml::Value::Table(into)) = table.get_mut(&section) else { return Err(unknown()) };
            let Some(expected) = into.get(&key).map(toml::Value::type_str) else { return Err(unknown()) };
            // `20` is a number, `true` a bool; anything that is no TOML value is a string.
            let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .filter(|v| !v.is_table() && !v.is_array())
                .unwrap_or_else(|| toml::Value::String(raw.clone()));
            // A string key takes the raw text ("123" stays a string), others must parse as their type.
            let value = if expected == "string" { toml::Value::String(raw.clone()) } else { value };
            if value.type_str() != expected {
                return Err(ConfigError::Invalid {
                    origin: "environment".into(),
                    key: name.clone(),
                    reason: format!("expected {expected}, found {raw:?}"),
                });
            }
            into.insert(key, value);
        }
        let cfg: Config = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError::Invalid {
            origin: origin.clone(),
            key: "config".into(),
            reason: e.message().to_string(),
        })?;
        cfg.validate(&origin)?;
        Ok(cfg)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: String| ConfigError::Invalid { origin: origin.into(), key: key.into(), reason };
        self.http
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| bad("http.listen", format!("{:?}: {e}", self.http.listen)))?;
        if !self.http.public_url.is_empty()
            && !["http://", "https://"].iter().any(|p| self.http.public_url.starts_with(p))
        {
            return Err(bad(
                "http.public_url",
                format!("{:?} must start with http:// or https://", self.http.public_url),
            ));
        }
        self.storage_url(Path::new(".")).map_err(|reason| bad("storage.url", reason))?;
        self.campaign.validate().map_err(|(key, reason)| bad(key, reason))?;
        if !self.campaign.trunks.is_empty() && self.sip.listen.is_empty() {
            return Err(bad("campaign.trunks", "the dialer calls through SIP: set sip.listen".into()));
        }
        for name in &self.campaign.trunks {
            if !self.trunk.iter().any(|t| &t.name == name) {
                return Err(bad("campaign.trunks", format!("no [[trunk]] named {name:?}")));
            }
        }
        parse_duration(&self.shutdown.drain_timeout).map_err(|reason| bad("shutdown.drain_timeout", reason))?;
        parse_duration(&self.handoff.max_wait).map_err(|reason| bad("handoff.max_wait", reason))?;
        parse_duration(&self.handoff.offer_timeout).map_err(|reason| bad("handoff.offer_timeout", reason))?;
        for (i, agent) in self.agent.iter().enumerate() {
            if agent.name.is_empty() || self.agent[..i].iter().any(|a| a.name == agent.name) {
                return Err(bad("agent.name", format!("{:?}: each agent needs a name of its own", agent.name)));
            }
            if agent.token.len() < 16 || self.agent[..i].iter().any(|a| a.token == agent.token) {
                return Err(bad(
                    "agent.token",
                    format!("agent {:?}: a token of its own, 16 characters or more", agent.name),
                ));
            }
        }
        for (key, n) in
            [("engines.asr_threads", self.engines.asr_threads), ("engines.tts_threads", self.engines.tts_threads)]
        {
            if !(1..=64).contains(&n) {
                return Err(bad(key, format!("{n}: between 1 and 64 threads")));
            }
        }
        if !ASR_MODELS.contains(&self.engines.asr_model.as_str()) {
            return Err(bad(
                "engines.asr_model",
                format!("{:?}: one of {}", self.engines.asr_model, ASR_MODELS.join(", ")),
            ));
        }
        if !self.sip.listen.is_empty() {
            self.sip
                .listen
                .parse::<SocketAddr>()
                .map_err(|e| bad("sip.listen", format!("{:?}: {e}", self.sip.listen)))?;
        }
        if !self.sip.public_ip.is_empty() {
            self.sip
                .public_ip
                .parse::<std::net::IpAddr>()
                .map_err(|e| bad("sip.public_ip", format!("{:?}: {e}", self.sip.public_ip)))?;
        }
        crate::io::rtp::ports::PortPool::parse(&self.sip.rtp_ports).map_err(|e| bad("sip.rtp_ports", e.to_string()))?;
        parse_duration(&self.sip.rtp_timeout).map_err(|reason| bad("sip.rtp_timeout", reason))?;
        parse_duration(&self.sip.answer_after).map_err(|reason| bad("sip.answer_after", reason))?;
        parse_duration(&self.sip.transfer_timeout).map_err(|reason| bad("sip.transfer_timeout", reason))?;
        if !matches!(self.sip.transfer_mode.as_str(), "refer" | "bridge") {
            return Err(bad("sip.transfer_mode", format!("{:?}: refer or bridge", self.sip.transfer_mode)));
        }
        let target = self.sip.transfer_to.trim_start_matches('<').trim_end_matches('>');
        if !target.is_empty()
            && (!(target.starts_with("sip:") || target.starts_with("sips:"))
                || !target.contains('@')
                || target.contains(|c: char| c.is_whitespace() || "<>\"".contains(c)))
        {
            return Err(bad("sip.transfer_to", format!("{:?}: a SIP URI such as sip:agents@pbx.example", target)));
        }
        for (i, entry) in self.sip.dialplan.iter().enumerate() {
            if let Some(after) = &entry.answer_after {
                parse_duration(after).map_err(|reason| bad(&format!("sip.dialplan[{i}].answer_after"), reason))?;
            }
            if !entry.context.is_object() && !entry.context.is_null() {
                return Err(bad(&format!("sip.dialplan[{i}].context"), "must be a table".into()));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, trunk) in self.trunk.iter().enumerate() {
            let key = |k: &str| format!("trunk[{i}].{k}");
            if trunk.name.is_empty() || !names.insert(trunk.name.as_str()) {
                return Err(bad(&key("name"), format!("{:?}: empty or used twice", trunk.name)));
            }
            if trunk.host.is_empty() || trunk.host.contains(|c: char| c.is_whitespace() || "<>;@".contains(c)) {
                return Err(bad(&key("host"), format!("{:?} is no host name or address", trunk.host)));
            }
            if !matches!(trunk.transport.as_str(), "udp" | "tcp") {
                return Err(bad(&key("transport"), format!("{:?}: udp or tcp", trunk.transport)));
            }
            for (k, from) in std::iter::once(("from".to_string(), &trunk.from))
                .chain(trunk.from_by_flow.iter().map(|(flow, f)| (format!("from_by_flow.{flow}"), f)))
            {
                if from.is_empty() || !from.chars().all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c)) {
                    return Err(bad(&key(&k), format!("{from:?}: a caller id such as +918000000000")));
                }
            }
            if !(trunk.cps.is_finite() && trunk.cps >= 0.0) {
                return Err(bad(&key("cps"), format!("{}: calls per second, 0 for no limit", trunk.cps)));
            }
            parse_duration(&trunk.ring_timeout).map_err(|reason| bad(&key("ring_timeout"), reason))?;
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(bad("log.format", format!("{:?} is neither \"text\" nor \"json\"", self.log.format)));
        }
        Ok(())
    }

    pub fn listen(&self) -> SocketAddr {
        self.http.listen.parse().expect("validated")
    }

    pub fn drain_timeout(&self) -> Duration {
        parse_duration(&self.shutdown.drain_timeout).expect("validated")
    }

    /// The store; a relative SQLite path is taken relative to `config_dir`.
    pub fn storage_url(&self, config_dir: &Path) -> Result<StorageUrl, String> {
        let url = &self.storage.url;
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(format!("{url:?} names no file"));
            }
            return Ok(StorageUrl::Sqlite(config_dir.join(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StorageUrl::Postgres(url.clone()));
        }
        Err(format!("{url:?} is neither sqlite://PATH nor postgres://..."))
    }

    /// This server's name in the store: `storage.node`, else HOSTNAME:HTTP_PORT.
    pub fn node(&self) -> crate::storage::Node {
        let name = if self.storage.node.is_empty() {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
            let port = self.http.listen.rsplit(':').next().unwrap_or("");
            format!("{}:{port}", host.trim())
        } else {
            self.storage.node.clone()
        };
        crate::storage::Node { name, lease: self.campaign.lease() }
    }

    /// The effective settings as TOML (`voxline config check` prints them).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serialises")
    }
}

/// "60s", "2m", "500ms", "1h", or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{s:?} is not a duration such as \"60s\", \"2m\" or \"500ms\""))?;
    Ok(match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" | "min" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => return Err(format!("{s:?}: unknown unit {other:?} (ms, s, m, h)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_default_is_complete_and_valid() {
        let cfg = Config::default();
        assert_eq!(cfg.listen(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(cfg.drain_timeout(), Duration::from_secs(60));
        assert_eq!(
            cfg.storage_url(Path::new("/etc/voxline")).unwrap(),
            StorageUrl::Sqlite("/etc/voxline/voxline.db".into())
        );
        assert_eq!(Config::load(None, Vec::new()).unwrap(), cfg);
        assert_eq!(Config::parse(&cfg.to_toml(), "printed").unwrap(), cfg, "the printed form reads back");
    }

    #[test]
    fn a_file_and_the_environment_override_the_default() {
        let dir = std::env::temp_dir().join(format!("voxline-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("voxline.toml");
        std::fs::write(&path, "[limits]\nmax_calls = 12\n[twilio]\nauth_token = \"abc\"\n").unwrap();
        let overrides = env(&[
            ("VOXLINE_HTTP__LISTEN", "127.0.0.1:9000"),
            ("VOXLINE_RECORDING__ENABLED", "true"),
            ("VOXLINE_MODELS", "/m"),
        ]);
        let cfg = Config::load(Some(&path), overrides).unwrap();
        assert_eq!((cfg.limits.max_calls, cfg.twilio.auth_token.as_str()), (12, "abc"));
        assert_eq!((cfg.http.listen.as_str(), cfg.recording.enabled), ("127.0.0.1:9000", true));
        assert_eq!(cfg.shutdown.drain_timeout, "60s", "untouched keys keep their default");

        std::fs::write(&path, "[limits]\nmax_calls = 12\nmax_cals = 3\n").unwrap();
        let e = Config::load(Some(&path), Vec::new()).unwrap_err().to_string();
        assert!(e.contains("voxline.toml") && e.contains("line 3") && e.contains("max_cals"), "{e}");
        std::fs::write(&path, "[limits]\nmax_calls = \"many\"\n").unwrap();
        let e = Config::load(Some(&path), Vec::new()).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("max_calls: expected integer, found string"), "{e}");
        let e = Config::load(None, env(&[("VOXLINE_LIMITS__MAX_CALLS", "lots")])).unwrap_err().to_string();
        assert!(e.contains("VOXLINE_LIMITS__MAX_CALLS") && e.contains("expected integer"), "{e}");
        std::fs::write(&path, "[http]\nlisten = \"localhost\"\n").unwrap();
        let e = Config::load(Some(&path), Vec::new()).unwrap_err().to_string();
        assert!(e.contains("http.listen"), "{e}");
        std::fs::write(&path, "[limits\n").unwrap();
        assert!(Config::load(Some(&path), Vec::new()).unwrap_err().to_string().contains("line 1"));
        let e = Config::load(None, env(&[("VOXLINE_HTTP__PORT", "1")])).unwrap_err().to_string();
        assert!(e.contains("VOXLINE_HTTP__PORT"), "{e}");
        let e = Config::load(None, env(&[("VOXLINE_SHUTDOWN__DRAIN_TIMEOUT", "soon")])).unwrap_err().to_string();
        assert!(e.contains("shutdown.drain_timeout"), "{e}");
        let e = Config::load(None, env(&[("VOXLINE_STORAGE__URL", "mysql://x")])).unwrap_err().to_string();
        assert!(e.contains("storage.url"), "{e}");
        let e = Config::load(None, env(&[("VOXLINE_ENGINES__ASR_MODEL", "whisper-large")])).unwrap_err().to_string();
        assert!(e.contains("engines.asr_model") && e.contains("whisper-tiny.en-q8_0"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_sip_section_and_its_dialplan() {
        let dir = std::env::temp_dir().join(format!("voxline-config-sip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("voxline.toml");
        let text = "[sip]\nlisten = \"127.0.0.1:5070\"\n[[sip.dialplan]]\nuser = \"1000\"\nflow = \"cod\"\n\
                    answer_after = \"2s\"\ncontext = { order = { id = \"A1\" } }\n";
        std::fs::write(&path, text).unwrap();
        let cfg = Config::load(Some(&path), Vec::new()).unwrap();
        assert_eq!((cfg.sip.listen.as_str(), cfg.sip.rtp_ports.as_str()), ("127.0.0.1:5070", "20000-20999"));
        let entry = &cfg.sip.dialplan[0];
        assert_eq!((entry.user.as_str(), entry.flow.as_str()), ("1000", "cod"));
        assert_eq!(entry.context["order"]["id"], "A1");
        for (key, value) in [
            ("RTP_PORTS", "20001"),
            ("LISTEN", "sip.example.com"),
            ("RTP_TIMEOUT", "forever"),
            ("TRANSFER_TO", "agents@pbx"),
            ("TRANSFER_TIMEOUT", "soon"),
            ("TRANSFER_MODE", "conference"),
        ] {
            let e = Config::load(None, env(&[(&format!("VOXLINE_SIP__{key}"), value)])).unwrap_err().to_string();
            assert!(e.contains(&format!("sip.{}", key.to_lowercase())), "{e}");
        }
        std::fs::write(&path, "[[sip.dialplan]]\nuser = \"1\"\nflow = \"cod\"\nanswer_after = \"soon\"\n").unwrap();
        let e = Config::load(Some(&path), Vec::new()).unwrap_err().to_string();
        assert!(e.contains("sip.dialplan[0].answer_after"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn trunks() {
        let dir = std::env::temp_dir().join(format!("voxline-config-trunk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("voxline.toml");
        let text = "[[trunk]]\nname = \"main\"\nhost = \"127.0.0.1\"\nport = 5080\ntransport = \"tcp\"\n\
                    username = \"vx\"\npassword = \"pw\"\nfrom = \"+918000000000\"\nmax_calls = 4\ncps = 2.5\n\
                    from_by_flow = { winback = \"+918000000001\" }\n\
                    [[trunk]]\nname = \"backup\"\nhost = \"sip.example.com\"\nfrom = \"+918000000002\"\n";
        std::fs::write(&path, text).unwrap();
        let cfg = Config::load(Some(&path), Vec::new()).unwrap();
        assert_eq!(cfg.trunk.len(), 2);
        let (main, backup) = (&cfg.trunk[0], &cfg.trunk[1]);
        assert_eq!((main.port, main.transport.as_str(), main.max_calls, main.cps), (5080, "tcp", 4, 2.5));
        assert_eq!((main.caller_id("winback"), main.caller_id("cod")), ("+918000000001", "+918000000000"));
        assert_eq!(
            (backup.port, backup.transport.as_str(), backup.ring_timeout()),
            (5060, "udp", Duration::from_secs(45))
        );
        assert_eq!(Config::parse(&cfg.to_toml(), "printed").unwrap(), cfg, "the printed form reads back");
        assert!(Config::default().trunk.is_empty());
        let bad = |entry: &str| {
            std::fs::write(&path, format!("[[trunk]]\nname = \"t\"\nhost = \"h\"\nfrom = \"1\"\n{entry}")).unwrap();
            Config::load(Some(&path), Vec::new()).unwrap_err().to_string()
        };
        assert!(bad("transport = \"sctp\"\n").contains("trunk[0].transport"));
        assert!(bad("ring_timeout = \"soon\"\n").contains("trunk[0].ring_timeout"));
        assert!(bad("cps = -1.0\n").contains("trunk[0].cps"));
        assert!(bad("from_by_flow = { cod = \"<sip:x>\" }\n").contains("trunk[0].from_by_flow.cod"));
        assert!(bad("realm = \"x\"\n").contains("realm"), "unknown keys are errors");
        std::fs::write(&path, "[[trunk]]\nname = \"t\"\nhost = \"h\"\nfrom = \"1\"\n[[trunk]]\nname = \"t\"\nhost = \"h\"\nfrom = \"1\"\n").unwrap();
        assert!(Config::load(Some(&path), Vec::new()).unwrap_err().to_string().contains("trunk[1].name"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_campaign_section() {
        use crate::campaign::policy::Flow;
        let cfg = Config::default();
        assert_eq!(cfg.campaign.calendar(Flow::Winback).unwrap(), crate::campaign::window::Calendar::default());
        assert_eq!(cfg.campaign.limits().unwrap(), crate::campaign::policy::Limits::default());
        let dir = std::env::temp_dir().join(format!("voxline-config-campaign-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("voxline.toml");
        let load = |text: &str| {
            std::fs::write(&path, format!("[campaign]\n{text}\n")).unwrap();
            Config::load(Some(&path), Vec::new()).map_err(|e| e.to_string())
        };
        let cfg = load("holidays = [\"2026-12-25\"]\nflow_windows = { cod = \"11:00-19:00\" }").unwrap();
        let cod = cfg.campaign.calendar(Flow::Cod).unwrap();
        assert_eq!((cod.hours.start.to_string(), cod.holidays.len()), ("11:00:00".into(), 1));
        assert_eq!(
            cfg.campaign.calendar(Flow::Winback).unwrap().hours,
            crate::campaign::window::Hours::outer(),
            "a flow left out keeps the outer window"
        );
        assert!(load("window = \"21:00-09:00\"").unwrap_err().contains("campaign.window"));
        assert!(load("flow_windows = { cod = \"06:00-08:00\" }").unwrap_err().contains("outside window"));
        assert!(load("flow_windows = { sales = \"10:00-12:00\" }").unwrap_err().contains("\"sales\" is not a flow"));
        assert!(load("holidays = [\"25/12/2026\"]").unwrap_err().contains("campaign.holidays"));
        assert!(load("per_day = 3\nper_week = 2").unwrap_err().contains("campaign.per_week"));
        assert!(load("retry_gap = \"later\"").unwrap_err().contains("campaign.retry_gap"));
        let all_day = load("window = \"00:00-24:00\"").unwrap().campaign.calendar(Flow::Cod).unwrap();
        assert!(all_day.hours.end > chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap(), "24:00 ends the day");
        assert!(load("trunks = [\"main\"]").unwrap_err().contains("no [[trunk]] named \"main\""));
        std::fs::write(&path, "[sip]\nlisten = \"\"\n[campaign]\ntrunks = [\"main\"]\n").unwrap();
        let e = Config::load(Some(&path), Vec::new()).unwrap_err().to_string();
        assert!(e.contains("sip.listen"), "{e}");
        assert!(load("webhook_url = \"http://crm:80/x\"").unwrap_err().contains("campaign.webhook_secret"));
        assert!(load("webhook_url = \"ftp://crm/x\"\nwebhook_secret = \"s\"")
            .unwrap_err()
            .contains("campaign.webhook_url"));
        assert!(load("tick = \"0s\"").unwrap_err().contains("campaign.tick"));
        assert!(load("tick = \"1s\"\nlease = \"2s\"").unwrap_err().contains("campaign.lease"));
        let agents = |body: &str| {
            std::fs::write(&path, body).unwrap();
            Config::load(Some(&path), Vec::new()).map_err(|e| e.to_string())
        };
        let asha = "[[agent]]\nname = \"asha\"\ntoken = \"0123456789abcdef\"\nskills = [\"cod\"]\n";
        assert_eq!(agents(asha).unwrap().agent[0].skills, ["cod"]);
        assert!(agents("[[agent]]\nname = \"asha\"\ntoken = \"short\"\n").unwrap_err().contains("agent.token"));
        assert!(agents(&format!("{asha}{asha}")).unwrap_err().contains("agent.name"));
        assert!(agents("[handoff]\nmax_wait = \"soon\"\n").unwrap_err().contains("handoff.max_wait"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(
            parse_duration("-1s").is_err() && parse_duration("1 fortnight").is_err() && parse_duration("").is_err()
        );
    }
}
