//! Carrier WebSocket media protocols. Each carrier is one file holding a pure codec for
//! each side: [`CarrierCodec`] (we are the server the carrier streams to) and
//! [`CallerCodec`] (we play the carrier, for `voxline caller` and the tests). Only
//! [`stream`] and the caller touch sockets.

pub mod exotel;
pub mod jambonz;
mod json;
pub mod stream;
pub mod telnyx;
pub mod twilio;
pub mod vonage;

use std::collections::BTreeMap;

/// One WebSocket data frame.
#[derive(Debug, Clone, PartialEq)]
pub enum WsFrame {
    Text(String),
    Binary(Vec<u8>),
}

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
    #[error("binary frame on a JSON protocol")]
    UnexpectedBinary,
    #[error("{0} before the stream started")]
    BeforeStart(&'static str),
}

/// What the stream's first message says about the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStart {
    /// The carrier's id for this stream (Twilio's streamSid); echoed on outbound messages.
    pub stream_id: String,
    /// The carrier's id for the call (Twilio's callSid), stored with the call record.
    pub carrier_call_id: String,
    /// `flow`, `context`, `call_id`, `token`: the carrier's custom parameters or metadata.
    pub params: BTreeMap<String, String>,
    /// Audio rate of the stream, both ways.
    pub sample_rate: u32,
}

/// One message from a carrier, in the call's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum CarrierEvent {
    Start(StreamStart),
    /// Caller audio at the stream rate.
    Audio(Vec<f32>),
    Dtmf(char),
    /// A mark we sent has played (or was cleared).
    Mark(String),
    /// The carrier ends the stream.
    Stop,
    /// Nothing the call needs (`connected`, acknowledgements).
    Nothing,
}

/// The server side of a carrier protocol. Stateful only in what the protocol carries
/// from message to message (ids, rate, buffered outbound audio); no I/O.
pub trait CarrierCodec: Send {
    /// WebSocket subprotocol the carrier asks for, if any.
    fn subprotocol(&self) -> Option<&'static str> {
        None
    }
    fn decode(&mut self, frame: WsFrame) -> Result<CarrierEvent, WireError>;
    /// 20 ms of bot audio at the stream rate; a carrier that wants larger chunks buffers.
    fn audio(&mut self, samples: &[f32]) -> Vec<WsFrame>;
    /// Ask for an echo when playback reaches this point (flushes buffered audio first).
    fn mark(&mut self, name: &str) -> Vec<WsFrame>;
    /// Drop what the carrier has buffered (barge-in), and anything buffered here.
    fn clear(&mut self) -> Vec<WsFrame>;
    /// Frames to send before closing the socket when the call ends.
    fn hang_up(&mut self) -> Vec<WsFrame> {
        Vec::new()
    }
}

/// What the carrier's side of a stream hears from us.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// Bot audio at the stream rate.
    Audio(Vec<f32>),
    /// Echo this mark when the audio before it has played.
    Mark(String),
    /// Drop queued bot audio (pending marks are echoed).
    Clear,
    Nothing,
}

/// The carrier side of a protocol: what `voxline caller` sends and how it reads replies.
pub trait CallerCodec: Send {
    fn sample_rate(&self) -> u32;
    fn subprotocol(&self) -> Option<&'static str> {
        None
    }
    /// The stream's opening messages, carrying the call's parameters.
    fn open(&mut self, call_sid: &str, params: &BTreeMap<String, String>) -> Vec<WsFrame>;
    /// 20 ms of caller audio; `at_ms` is the stream time.
    fn audio(&mut self, samples: &[f32], at_ms: u64) -> WsFrame;
    fn dtmf(&mut self, digit: char) -> WsFrame;
    fn decode(&mut self, frame: WsFrame) -> Result<Heard, WireError>;
    /// The echo for a mark whose audio has played, if the protocol has one.
    fn mark_played(&mut self, name: &str) -> Option<WsFrame>;
    /// What the carrier sends when the caller hangs up (before closing).
    fn hang_up(&mut self) -> Option<WsFrame>;
}

/// The carriers voxline serves, by the name in their endpoint (`/media/NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Twilio,
    Telnyx,
    Exotel,
    Vonage,
    Jambonz,
}

impl Carrier {
    pub const ALL: [Carrier; 5] =
        [Carrier::Twilio, Carrier::Telnyx, Carrier::Exotel, Carrier::Vonage, Carrier::Jambonz];

    pub fn name(self) -> &'static str {
        match self {
            Carrier::Twilio => "twilio",
            Carrier::Telnyx => "telnyx",
            Carrier::Exotel => "exotel",
            Carrier::Vonage => "vonage",
            Carrier::Jambonz => "jambonz",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Carrier::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn server_codec(self) -> Box<dyn CarrierCodec> {
        match self {
            Carrier::Twilio => Box::<twilio::TwilioServer>::default(),
            Carrier::Telnyx => Box::<telnyx::TelnyxServer>::default(),
            Carrier::Exotel => Box::<exotel::ExotelServer>::default(),
            Carrier::Vonage => Box::<vonage::VonageServer>::default(),
            Carrier::Jambonz => Box::<jambonz::JambonzServer>::default(),
        }
    }

    /// The carrier side, at `rate` where the protocol lets the stream choose.
    pub fn caller_codec(self, rate: u32) -> Box<dyn CallerCodec> {
        match self {
            Carrier::Twilio => Box::<twilio::TwilioCaller>::default(),
            Carrier::Telnyx => Box::<telnyx::TelnyxCaller>::default(),
            Carrier::Exotel => Box::new(exotel::ExotelCaller::new(rate)),
            Carrier::Vonage => Box::new(vonage::VonageCaller::new(rate)),
            Carrier::Jambonz => Box::new(jambonz::JambonzCaller::new(rate)),
        }
    }
}
