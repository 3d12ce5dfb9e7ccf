//! RTP (RFC 3550) for G.711 calls: the packet, RTCP and RFC 4733 DTMF wire formats and
//! receive statistics as pure codecs, the port pool, and the one socket adapter that
//! connects a call's RTP to the call driver.

pub mod dtmf;
pub mod outbound;
pub mod pacer;
pub mod packet;
pub mod ports;
pub mod rtcp;
pub mod session;
pub mod stats;
