//! SIP as it reaches voxline: any datagram goes through rsipstack's parser, and what
//! parses as a request is read the way the listener reads it (headers, To user, body as
//! SDP) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxline::io::sip::uas::read_invite;

fuzz_target!(|data: &[u8]| {
    let Ok(rsipstack::sip::SipMessage::Request(request)) = rsipstack::sip::SipMessage::try_from(data) else { return };
    let _ = read_invite(&request);
});
