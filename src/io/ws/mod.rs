//! Carrier WebSocket media protocols: one pure codec per carrier (text or binary frames
//! in, typed messages out, and back). The adapters that own the sockets use these.

pub mod twilio;
pub mod twilio_stream;

/// A frame the carrier sent that the protocol does not allow. The stream that sent it is
/// closed with this reason; other calls are untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("not a valid message: {0}")]
    Json(String),
    #[error("the message lacks its `{0}` object")]
    Missing(&'static str),
    #[error("payload is not base64: {0}")]
    Base64(String),
    #[error("payload of {0} bytes is larger than any media frame")]
    TooLarge(usize),
    #[error("invalid {0}")]
    Invalid(String),
    #[error("unsupported media: {0}")]
    Unsupported(String),
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
}
