//! Everything that touches a network: carrier WebSocket protocols now; the server, the
//! call driver, SIP/RTP and WebRTC as they land. Wire formats here are pure codecs;
//! only the adapters own sockets.

pub mod caller;
pub mod driver;
pub mod engines;
pub mod serve;
pub mod signature;
pub mod ws;
