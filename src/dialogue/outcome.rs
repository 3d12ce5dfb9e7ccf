use serde::Serialize;

/// The closed set of call outcomes written back to the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Confirmed,
    Cancelled,
    Rescheduled,
    CallbackRequested,
    Handoff,
    WrongNumber,
    OptedOut,
    Declined,
    Interested,
    Acknowledged,
    NoResponse,
    /// An answering machine took the call (a message was left if the flow says so).
    Voicemail,
    Failed,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::Cancelled => "cancelled",
            Outcome::Rescheduled => "rescheduled",
            Outcome::CallbackRequested => "callback_requested",
            Outcome::Handoff => "handoff",
            Outcome::WrongNumber => "wrong_number",
            Outcome::OptedOut => "opted_out",
            Outcome::Declined => "declined",
            Outcome::Interested => "interested",
            Outcome::Acknowledged => "acknowledged",
            Outcome::NoResponse => "no_response",
            Outcome::Voicemail => "voicemail",
            Outcome::Failed => "failed",
        }
    }
}
