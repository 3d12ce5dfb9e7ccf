//! What the store keeps about a call, in the shapes the REST API returns.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Created (`POST /v1/calls`), no media yet.
    Pending,
    /// Being dialled.
    Ringing,
    Live,
    Ended,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Pending => "pending",
            CallState::Ringing => "ringing",
            CallState::Live => "live",
            CallState::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => CallState::Pending,
            "ringing" => CallState::Ringing,
            "live" => CallState::Live,
            "ended" => CallState::Ended,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewCall {
    pub id: String,
    pub flow: String,
    pub context: Value,
    /// The per-call token a stream for this call must present (when signatures are off).
    pub token: String,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct LiveCall {
    pub id: String,
    pub flow: String,
    pub context: Value,
    pub transport: String,
    pub carrier_call_id: String,
    pub started_at: String,
    pub recording_path: Option<String>,
    /// The caller was told the call is recorded and did not object.
    pub consent: bool,
}

#[derive(Debug, Clone)]
pub struct EndedCall {
    pub id: String,
    pub ended_at: String,
    pub outcome: Option<String>,
    pub handoff: Option<Value>,
    /// Why the media stream closed.
    pub closed: String,
    pub transcript: Vec<StoredLine>,
    /// The call's timeline events (JSON, `at_ms` and `type` in each).
    pub timeline: Vec<Value>,
    pub slots: std::collections::BTreeMap<String, String>,
    /// The same one-line summary `voxline simulate` prints.
    pub summary: Value,
}

/// A dialled call that ended before any media: why, and what the dial saw.
#[derive(Debug, Clone)]
pub struct EndedDial {
    pub ended_at: String,
    pub closed: String,
    pub summary: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredLine {
    pub at_ms: u64,
    /// `caller` or `bot`.
    pub speaker: String,
    pub text: String,
    /// The intent the caller's words were classified as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
}

/// A call as `GET /v1/calls/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    #[serde(flatten)]
    pub call: CallSummaryRow,
    pub context: Value,
    pub handoff: Option<Value>,
    /// What the dialogue had filled in when the call ended.
    pub slots: Value,
    /// Turns, latencies and barge-ins, as `voxline simulate` reports them.
    pub summary: Option<Value>,
    pub transcript: Vec<StoredLine>,
    pub timeline: Vec<Value>,
    #[serde(skip)]
    pub token: String,
    #[serde(skip)]
    pub recording_path: Option<String>,
}

/// A call as `GET /v1/calls` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummaryRow {
    pub id: String,
    pub flow: String,
    pub transport: Option<String>,
    pub carrier_call_id: Option<String>,
    pub state: CallState,
    /// How a dialled call went: answered, busy, no_answer, rejected, failed, voicemail.
    pub result: Option<String>,
    pub outcome: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub closed: Option<String>,
    pub recording: bool,
    pub consent: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub flow: Option<String>,
    pub outcome: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<String>,
    /// Created before (RFC 3339).
    pub until: Option<String>,
    pub limit: u32,
}
