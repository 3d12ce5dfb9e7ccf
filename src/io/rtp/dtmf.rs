//! RFC 4733 telephone events: the 4-byte payload, the receiver that turns a stream of
//! event packets into one digit per key press, and the packets for sending one.

/// Event codes 0-15: digits, `*`, `#`, A-D (RFC 4733 section 3.2).
const DIGITS: &[u8; 16] = b"0123456789*#ABCD";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    /// Samples since the event's RTP timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        let [event, flags, d0, d1] = *payload.get(..4)?.first_chunk::<4>()?;
        Some(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    pub fn write(self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [self.event, ((self.end as u8) << 7) | (self.volume & 0x3f), d0, d1]
    }

    /// The key, for the 16 DTMF events.
    pub fn digit(self) -> Option<char> {
        DIGITS.get(self.event as usize).map(|&b| b as char)
    }
}

/// Reports each key press once: an event is one RTP timestamp, repeated in every
/// packet while the key is held and in the three end packets.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last: Option<u32>,
}

impl DtmfReceiver {
    pub fn packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::parse(payload)?;
        let digit = event.digit()?;
        if self.last == Some(timestamp) {
            return None;
        }
        self.last = Some(timestamp);
        Some(digit)
    }
}

/// The payloads that send `digit` for `ms` milliseconds at 8 kHz: one per 20 ms while
/// held, then the end packet three times; all share the event's RTP timestamp and the
/// first carries the marker bit.
pub fn key_press(digit: char, ms: u16) -> Option<Vec<[u8; 4]>> {
    let event = DIGITS.iter().position(|&b| b as char == digit.to_ascii_uppercase())? as u8;
    let total = ms.max(40) as u32 * 8;
    let mut packets = Vec::new();
    let mut duration = 160;
    while duration < total {
        packets.push(TelephoneEvent { event, end: false, volume: 10, duration: duration as u16 }.write());
        duration += 160;
    }
    let end = TelephoneEvent { event, end: true, volume: 10, duration: total.min(u16::MAX as u32) as u16 };
    packets.extend([end.write(); 3]);
    Some(packets)
}

/// What a pause character (`w` or `,`) waits, in 20 ms ticks.
const PAUSE_TICKS: usize = 25;
/// The gap between two key presses, in 20 ms ticks.
const GAP_TICKS: usize = 3;

/// Digits voxline sends (RFC 4733), one 20 ms tick at a time: each tick either carries a
/// telephone-event payload (and whether it starts an event) or leaves the line to audio.
#[derive(Debug, Default)]
pub struct DigitSender {
    ticks: std::collections::VecDeque<Option<(bool, [u8; 4])>>,
}

impl DigitSender {
    /// Queues `digits` (`0-9 * # A-D`, `w` or `,` for half a second's pause), 100 ms per
    /// key with 60 ms between keys. A character that is neither is refused, nothing queued.
    pub fn queue(&mut self, digits: &str) -> Result<(), char> {
        let mut ticks = Vec::new();
        for c in digits.chars() {
            if matches!(c, 'w' | 'W' | ',') {
                ticks.extend(std::iter::repeat_n(None, PAUSE_TICKS));
                continue;
            }
            let packets = key_press(c, 100).ok_or(c)?;
            ticks.extend(packets.into_iter().enumerate().map(|(i, p)| Some((i == 0, p))));
            ticks.extend(std::iter::repeat_n(None, GAP_TICKS));
        }
        self.ticks.extend(ticks);
        Ok(())
    }

    /// This tick's event payload and whether it starts an event; `None`: send audio.
    pub fn tick(&mut self) -> Option<(bool, [u8; 4])> {
        self.ticks.pop_front().flatten()
    }
}

/// Whether `digits` is something [`DigitSender::queue`] takes.
pub fn valid_digits(digits: &str) -> bool {
    digits.chars().all(|c| matches!(c, 'w' | 'W' | ',') || key_press(c, 100).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_press_is_reported_once() {
        let packets = key_press('5', 100).unwrap();
        assert_eq!(packets.len(), 4 + 3);
        let mut rx = DtmfReceiver::default();
        let digits: Vec<char> = packets.iter().filter_map(|p| rx.packet(8000, p)).collect();
        assert_eq!(digits, ['5']);
        // The same key again is a new timestamp.
        assert_eq!(rx.packet(9600, &packets[0]), Some('5'));
        assert_eq!(
            TelephoneEvent::parse(&packets[6]).unwrap(),
            TelephoneEvent { event: 5, end: true, volume: 10, duration: 800 }
        );
    }

    #[test]
    fn the_sipp_pcap_event_and_bad_payloads() {
        // SIPp's dtmf_2833_1.pcap: event 1, volume 10, end bit on the last three.
        assert_eq!(TelephoneEvent::parse(&[1, 0x8a, 0x03, 0x20]).unwrap().digit(), Some('1'));
        assert_eq!(TelephoneEvent::parse(&[11, 0, 0, 160]).unwrap().digit(), Some('#'));
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), None);
        let mut rx = DtmfReceiver::default();
        assert_eq!(rx.packet(1, &[16, 0, 0, 160]), None, "flash hook is not a key");
        assert_eq!(key_press('x', 100), None);
    }

    #[test]
    fn queued_digits_come_out_one_tick_at_a_time_and_read_back() {
        let mut sender = DigitSender::default();
        assert_eq!(sender.queue("1x"), Err('x'));
        assert!(sender.tick().is_none(), "nothing queued from a refused string");
        sender.queue("1w#").unwrap();
        let ticks: Vec<Option<(bool, [u8; 4])>> = std::iter::from_fn(|| Some(sender.tick())).take(60).collect();
        // Key 1: 7 packets, the first starting the event; the gap; the pause; key #.
        assert!(ticks[0].is_some_and(|(start, _)| start));
        assert!(ticks[1..7].iter().all(|t| t.is_some_and(|(start, _)| !start)));
        assert!(ticks[7..35].iter().all(Option::is_none), "gap and pause leave the line to audio");
        assert!(ticks[35].is_some_and(|(start, _)| start));
        let mut rx = DtmfReceiver::default();
        let mut timestamp = 0u32;
        let mut heard = String::new();
        for (start, payload) in ticks.iter().flatten() {
            timestamp += u32::from(*start) * 8000;
            heard.extend(rx.packet(timestamp, payload));
        }
        assert_eq!(heard, "1#");
        assert!(valid_digits("123w#,*A") && !valid_digits("12 3"));
    }
}
