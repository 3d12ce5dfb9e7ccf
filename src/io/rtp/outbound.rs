//! The sending side of a call's RTP: the bot's queued audio and marks, key presses,
//! sequence, timestamp and SSRC, the marker bit on talkspurts, packets at the negotiated
//! ptime. The pacer thread ticks it every 20 ms; the session task fills it and reads its
//! figures.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use tokio::sync::mpsc;

use super::dtmf::DigitSender;
use super::packet;
use super::session::codec_of;
use crate::io::metrics::Histogram;
use crate::io::sip::sdp::{Direction, Negotiated};

pub(super) const RATE: u32 = 8000;
pub(super) const FRAME: usize = 160;
pub(super) const TICK: Duration = Duration::from_millis(20);

enum Queued {
    Audio(Vec<f32>),
    Mark(String),
}

/// What a tick tells the session task, which passes it on to the driver and the recorder.
#[derive(Debug)]
pub enum Sent {
    /// Every frame queued before this mark has gone out.
    MarkPlayed(String),
    /// A frame of the bot's audio went out (sent only when the call is recorded).
    BotAudio(Vec<f32>),
}

/// RTP sequence, timestamp and SSRC, and the counts for RTCP.
pub struct Sender {
    pub ssrc: u32,
    sequence: u16,
    pub timestamp: u32,
    /// Samples waiting for a whole packet (ptime over 20 ms).
    pending: Vec<f32>,
    was_silent: bool,
    pub packets: u64,
    pub octets: u64,
    buf: Vec<u8>,
    /// The RTP timestamp of the telephone event being sent (all its packets carry it).
    event_timestamp: u32,
}

impl Sender {
    fn new() -> Self {
        let seed = uuid::Uuid::new_v4().as_u128();
        Sender {
            ssrc: seed as u32,
            sequence: (seed >> 32) as u16,
            timestamp: (seed >> 48) as u32,
            pending: Vec::new(),
            was_silent: true,
            packets: 0,
            octets: 0,
            buf: Vec::with_capacity(12 + 480),
            event_timestamp: 0,
        }
    }

    fn write(&mut self, socket: &UdpSocket, to: SocketAddr, marker: bool, pt: u8, timestamp: u32, payload: &[u8]) {
        self.buf.clear();
        packet::write(&mut self.buf, marker, pt, self.sequence, timestamp, self.ssrc, payload);
        // A full send buffer (EAGAIN) loses the packet, as the network would.
        if socket.send_to(&self.buf, to).is_ok() {
            self.packets += 1;
            self.octets += payload.len() as u64;
        }
        self.sequence = self.sequence.wrapping_add(1);
    }
}

/// One call's outbound stream.
pub struct Outbound {
    socket: UdpSocket,
    pub neg: Negotiated,
    pub remote: Option<SocketAddr>,
    pub sender: Sender,
    queue: VecDeque<Queued>,
    digits: DigitSender,
    to_session: mpsc::UnboundedSender<Sent>,
    record: bool,
    /// Bot frames sent.
    pub frames_out: u64,
    /// How late (ms) each tick came against the 20 ms schedule.
    pub lateness: Histogram,
    /// Set when the session ends: the pacer drops the stream and sends nothing more.
    pub closed: bool,
}

impl Outbound {
    /// `socket` is a handle on the call's RTP socket (non-blocking).
    pub fn new(socket: UdpSocket, neg: Negotiated, to_session: mpsc::UnboundedSender<Sent>, record: bool) -> Self {
        Outbound {
            socket,
            remote: neg.remote.map(SocketAddr::from),
            neg,
            sender: Sender::new(),
            queue: VecDeque::new(),
            digits: DigitSender::default(),
            to_session,
            record,
            frames_out: 0,
            lateness: Histogram::default(),
            closed: false,
        }
    }

    pub fn audio(&mut self, samples: Vec<f32>) {
        self.queue.push_back(Queued::Audio(samples));
    }

    pub fn mark(&mut self, name: String) {
        self.queue.push_back(Queued::Mark(name));
    }

    /// Drops the queued audio; returns the marks in it (they count as played).
    pub fn clear(&mut self) -> Vec<String> {
        let queued = std::mem::take(&mut self.queue);
        queued
            .into_iter()
            .filter_map(|q| match q {
                Queued::Mark(name) => Some(name),
                Queued::Audio(_) => None,
            })
            .collect()
    }

    /// Queues key presses (RFC 4733; `w` pauses). Errors name the first non-key.
    pub fn digits(&mut self, keys: &str) -> Result<(), char> {
        self.digits.queue(keys)
    }

    /// One 20 ms tick, `late` after its deadline, `skipped` whole ticks missed before it
    /// (an overloaded host: they advance the RTP clock like lost packets).
    pub fn tick(&mut self, late: Duration, skipped: u64) {
        self.lateness.observe(late.as_secs_f64() * 1000.0);
        self.sender.timestamp = self.sender.timestamp.wrapping_add((skipped * FRAME as u64) as u32);
        let sending = !matches!(self.neg.direction, Direction::RecvOnly | Direction::Inactive);
        // A key press being sent takes the tick; the bot's audio waits behind it.
        if let (Some(to), true, Some(pt)) = (self.remote, sending, self.neg.dtmf_payload_type) {
            if let Some((start, payload)) = self.digits.tick() {
                self.send_event(to, pt, start, payload);
                return;
            }
        }
        // Marks reached, then one frame of audio or line silence.
        while let Some(Queued::Mark(_)) = self.queue.front() {
            if let Some(Queued::Mark(name)) = self.queue.pop_front() {
                let _ = self.to_session.send(Sent::MarkPlayed(name));
            }
        }
        let (frame, silent) = match self.queue.pop_front() {
            Some(Queued::Audio(samples)) => {
                self.frames_out += 1;
                (samples, false)
            }
            _ => (vec![0.0; FRAME], true),
        };
        match (self.remote, sending) {
            (Some(to), true) => self.send_audio(to, &frame, silent),
            _ => self.sender.timestamp = self.sender.timestamp.wrapping_add(FRAME as u32),
        }
        if self.record && !silent {
            let _ = self.to_session.send(Sent::BotAudio(frame));
        }
    }

    /// Sends one 20 ms frame (or gathers it into a longer packet at the negotiated ptime).
    fn send_audio(&mut self, to: SocketAddr, frame: &[f32], silent: bool) {
        let packet_samples = (self.neg.ptime as usize * RATE as usize / 1000).max(FRAME);
        let sender = &mut self.sender;
        sender.pending.extend_from_slice(frame);
        // A talkspurt starts with the marker bit.
        let marker = sender.was_silent && !silent;
        sender.was_silent = silent;
        while sender.pending.len() >= packet_samples {
            let samples: Vec<f32> = sender.pending.drain(..packet_samples).collect();
            let payload = codec_of(self.neg.codec).encode(&samples);
            let first = sender.packets == 0;
            sender.write(&self.socket, to, marker || first, self.neg.payload_type, sender.timestamp, &payload);
            sender.timestamp = sender.timestamp.wrapping_add(packet_samples as u32);
        }
    }

    /// Sends one telephone-event packet: its event's timestamp, the marker on its first,
    /// sequence continuous with the audio; the RTP clock moves on by a frame.
    fn send_event(&mut self, to: SocketAddr, pt: u8, start: bool, payload: [u8; 4]) {
        let sender = &mut self.sender;
        if start {
            sender.event_timestamp = sender.timestamp;
        }
        sender.write(&self.socket, to, start, pt, sender.event_timestamp, &payload);
        sender.timestamp = sender.timestamp.wrapping_add(FRAME as u32);
        // The audio after a key press starts a talkspurt.
        sender.was_silent = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::sip::sdp::G711;

    /// An outbound stream sending to a socket the test reads.
    fn stream(ptime: u32) -> (Outbound, UdpSocket, mpsc::UnboundedReceiver<Sent>) {
        let far = UdpSocket::bind("127.0.0.1:0").unwrap();
        far.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let to = far.local_addr().unwrap();
        let neg = Negotiated {
            codec: G711::Pcmu,
            payload_type: 0,
            dtmf_payload_type: Some(101),
            ptime,
            remote: Some((to.ip(), to.port())),
            direction: Direction::SendRecv,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        (Outbound::new(UdpSocket::bind("127.0.0.1:0").unwrap(), neg, tx, true), far, rx)
    }

    /// (marker, payload type, sequence, timestamp) of the next packet.
    fn next(far: &UdpSocket) -> (bool, u8, u16, u32) {
        let mut buf = [0u8; 1500];
        let n = far.recv(&mut buf).unwrap();
        let p = packet::parse(&buf[..n]).unwrap();
        (p.marker, p.payload_type, p.sequence, p.timestamp)
    }

    #[test]
    fn a_tick_sends_one_frame_with_the_marker_on_a_talkspurt() {
        let (mut out, far, mut sent) = stream(20);
        out.tick(Duration::ZERO, 0);
        let (m0, pt, s0, t0) = next(&far);
        assert!(m0 && pt == 0, "the first packet carries the marker");
        out.mark("greeting".into());
        out.audio(vec![0.1; FRAME]);
        out.tick(Duration::from_millis(3), 0);
        assert_eq!(next(&far), (true, 0, s0.wrapping_add(1), t0.wrapping_add(160)), "speech after silence");
        out.tick(Duration::ZERO, 0);
        assert_eq!(next(&far), (false, 0, s0.wrapping_add(2), t0.wrapping_add(320)));
        assert!(matches!(sent.try_recv(), Ok(Sent::MarkPlayed(name)) if name == "greeting"));
        assert!(matches!(sent.try_recv(), Ok(Sent::BotAudio(s)) if s.len() == FRAME));
        assert!(sent.try_recv().is_err(), "line silence is not recorded as bot audio");
        assert_eq!((out.frames_out, out.sender.packets, out.lateness.count()), (1, 3, 3));
    }

    #[test]
    fn skipped_ticks_advance_the_clock_and_ptime_gathers_frames() {
        let (mut out, far, _sent) = stream(40);
        out.tick(Duration::ZERO, 0);
        out.tick(Duration::ZERO, 0);
        let (_, _, s0, t0) = next(&far);
        out.tick(Duration::from_millis(45), 2);
        out.tick(Duration::ZERO, 0);
        // 40 ms packets: two frames each; two skipped ticks move the timestamp 320 on.
        assert_eq!(next(&far), (false, 0, s0.wrapping_add(1), t0.wrapping_add(320 + 320)));
    }

    #[test]
    fn a_key_press_takes_the_ticks_and_clear_reports_the_marks() {
        let (mut out, far, _sent) = stream(20);
        out.audio(vec![0.1; FRAME]);
        out.digits("5").unwrap();
        out.tick(Duration::ZERO, 0);
        let (marker, pt, _, ts) = next(&far);
        assert!(marker && pt == 101, "the event's first packet");
        out.tick(Duration::ZERO, 0);
        let (marker, pt, _, second) = next(&far);
        assert!(!marker && pt == 101);
        assert_eq!(second, ts, "every packet of an event carries its timestamp");
        out.mark("a".into());
        assert_eq!(out.clear(), vec!["a".to_string()]);
        assert_eq!(out.frames_out, 0, "the audio waited behind the key and was cleared");
        assert_eq!(out.digits("5x"), Err('x'));
    }

    #[test]
    fn on_hold_nothing_is_sent_and_the_clock_runs_on() {
        let (mut out, far, _sent) = stream(20);
        out.tick(Duration::ZERO, 0);
        let (_, _, s0, t0) = next(&far);
        out.neg.direction = Direction::Inactive;
        out.tick(Duration::ZERO, 0);
        out.neg.direction = Direction::SendRecv;
        out.tick(Duration::ZERO, 0);
        assert_eq!(next(&far), (false, 0, s0.wrapping_add(1), t0.wrapping_add(320)));
    }
}
