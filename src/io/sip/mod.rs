//! SIP: the SDP voxline writes (a pure codec), and the stack of `voxline serve`
//! (signalling by rsipstack, media by [`crate::io::rtp`]): inbound calls, outbound calls
//! through trunks, and the answered call both share.

mod aside;
pub mod bridge;
pub mod leg;
pub mod sdp;
pub mod stack;
pub mod timer;
pub mod transfer;
pub mod uac;
pub mod uas;
