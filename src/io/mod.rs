//! Everything that touches a network: the HTTP server, carrier WebSocket protocols and
//! the call driver, SIP/RTP in and out; WebRTC as it lands. Wire formats here are pure codecs;
//! only the adapters own sockets.

pub mod api;
pub mod caller;
pub mod campaign;
pub mod campaign_api;
pub mod dial;
pub mod driver;
pub mod engines;
pub mod http_client;
pub mod metrics;
pub mod pg_cluster;
pub mod recording;
pub mod rtp;
pub mod serve;
pub mod signature;
pub mod sip;
pub mod ws;
