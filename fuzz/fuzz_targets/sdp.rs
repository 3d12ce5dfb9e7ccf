//! Any SDP body parses or fails with a line number; whatever parses negotiates or fails
//! cleanly, and an answer we write reads back as what was negotiated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxline::io::sip::sdp;

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = sdp::parse(&String::from_utf8_lossy(data)) else { return };
    let Ok(negotiated) = sdp::negotiate(&offer) else { return };
    let answer = sdp::write(&negotiated, ("127.0.0.1".parse().unwrap(), 20000), 1, 1);
    let again = sdp::negotiate(&sdp::parse(&answer).expect("our answer parses")).expect("our answer negotiates");
    assert_eq!((again.codec, again.payload_type), (negotiated.codec, negotiated.payload_type));
});
