//! Any text frame a carrier could send to /media/twilio parses or fails cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = voxline::io::ws::twilio::parse(text);
    }
});
