//! Any frame a carrier could send to any /media endpoint (and any frame a server could
//! send to `voxline caller`) decodes or fails cleanly: first as the stream's opening
//! message, then as a message on a started stream.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use voxline::io::ws::{Carrier, WsFrame};

fuzz_target!(|data: &[u8]| {
    let frames = [WsFrame::Binary(data.to_vec()), WsFrame::Text(String::from_utf8_lossy(data).into_owned())];
    for carrier in Carrier::ALL {
        for frame in &frames {
            let _ = carrier.server_codec().decode(frame.clone());
            let mut started = carrier.server_codec();
            for opening in carrier.caller_codec(8000).open("CA1", &BTreeMap::new()) {
                let _ = started.decode(opening);
            }
            let _ = started.decode(frame.clone());
            let _ = carrier.caller_codec(8000).decode(frame.clone());
        }
    }
});
