//! SIP as it reaches voxline: any datagram goes through rsipstack's parser, and what
//! parses as a request is read the way the listener reads it (headers, To user, body as
//! SDP, session-timer headers) without panicking; a response's session timer likewise, and
//! a body read as a NOTIFY's sipfrag.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxline::io::sip::{timer, transfer, uas::read_invite};

fuzz_target!(|data: &[u8]| {
    let _ = transfer::sipfrag_status(data);
    match rsipstack::sip::SipMessage::try_from(data) {
        Ok(rsipstack::sip::SipMessage::Request(request)) => {
            let _ = read_invite(&request);
            if let Ok(Some(t)) = timer::of_request(&request) {
                assert!((timer::MIN_SE..=timer::MAX_SE).contains(&t.interval));
                assert!(t.expire_after() < std::time::Duration::from_secs(t.interval));
                let _ = (t.answer_headers(), t.refresh_headers(), t.next());
            }
        }
        Ok(rsipstack::sip::SipMessage::Response(response)) => {
            if let Ok(Some(t)) = timer::of_response(&response) {
                assert!((timer::MIN_SE..=timer::MAX_SE).contains(&t.interval));
                let _ = (t.answer_headers(), t.next());
            }
        }
        Err(_) => {}
    }
});
