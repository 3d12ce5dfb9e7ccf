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
            Outcome::Failed => "failed",
        }
    }
}
