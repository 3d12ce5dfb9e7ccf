//! SIP: the SDP voxline writes (a pure codec) and the listener of `voxline serve`
//! (signalling by rsipstack, media by [`crate::io::rtp`]).

pub mod sdp;
pub mod uas;
