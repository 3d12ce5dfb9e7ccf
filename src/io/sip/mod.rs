//! SIP: the pure wire formats voxline itself writes (SDP); signalling and RTP sockets
//! come with the SIP listener.

pub mod sdp;
