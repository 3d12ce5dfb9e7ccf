//! The RTP adapter for one call: owns the call's RTP and RTCP sockets, and between them
//! and the call driver runs the jitter buffer, 20 ms outbound pacing (continuous: line
//! silence while the bot is quiet), symmetric RTP, RFC 4733 digits, RTCP reports and the
//! no-media timeout. The wire formats are the pure codecs next to it.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{interval, Instant, MissedTickBehavior};

use super::dtmf::{DigitSender, DtmfReceiver};
use super::ports::{PortLease, PortPool};
use super::stats::{ReceiverStats, StreamFigures};
use super::{packet, rtcp};
use crate::io::driver::{TransportCommand, TransportEvent};
use crate::io::metrics::Histogram;
use crate::io::recording::Recorder;
use crate::io::sip::sdp::{Direction, Negotiated, G711};
use crate::media::{Codec, Frame, JitterBuffer, JitterConfig, MediaTime};

const RATE: u32 = 8000;
const FRAME: usize = 160;
const TICK: Duration = Duration::from_millis(20);
/// RFC 3551 comfort noise: accepted and ignored.
const COMFORT_NOISE: u8 = 13;

#[derive(Debug, Clone)]
pub struct RtpConfig {
    /// Hang up after this long with no RTP or RTCP from the far end (not while it holds
    /// the call `inactive`).
    pub timeout: Duration,
    /// RTCP report interval.
    pub report_every: Duration,
    /// The RTCP CNAME.
    pub cname: String,
}

/// A call's RTP socket and the RTCP socket on the port above it, from the pool.
pub struct RtpSocket {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    _lease: PortLease,
    pub local: SocketAddr,
}

impl RtpSocket {
    /// Binds the first free pair of the pool on `ip`; ports another process holds are
    /// skipped (their leases are held until one binds).
    pub async fn bind(pool: &Arc<PortPool>, ip: IpAddr) -> std::io::Result<RtpSocket> {
        let mut busy = Vec::new();
        while let Some(lease) = pool.lease() {
            if let (Ok(rtp), Ok(rtcp)) =
                (UdpSocket::bind((ip, lease.rtp)).await, UdpSocket::bind((ip, lease.rtcp())).await)
            {
                let local = rtp.local_addr()?;
                return Ok(RtpSocket { rtp, rtcp, _lease: lease, local });
            }
            busy.push(lease);
        }
        Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free RTP port pair in sip.rtp_ports"))
    }

    /// One RTP datagram and where it came from.
    pub async fn recv_rtp(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        self.rtp.recv_from(buf).await
    }

    pub async fn send_rtp(&self, datagram: &[u8], to: SocketAddr) -> std::io::Result<usize> {
        self.rtp.send_to(datagram, to).await
    }

    /// One RTCP datagram (a bridge reads and drops them).
    pub async fn recv_rtcp(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.rtcp.recv(buf).await
    }

    /// Reads and drops one RTP datagram: early media before an answer, which voxline
    /// listens to (so no stale audio waits at the answer) and never plays into.
    pub async fn discard_early(&self) -> std::io::Result<usize> {
        let mut buf = [0u8; 1500];
        self.rtp.recv(&mut buf).await
    }
}

/// What signalling tells a running media session.
#[derive(Debug, Clone)]
pub enum MediaUpdate {
    /// A re-INVITE or UPDATE settled new parameters: codec, address, direction.
    Renegotiated(Negotiated),
    /// Send these digits (RFC 4733; `w` pauses), e.g. an extension after the answer.
    SendDigits(String),
}

/// Datagrams dropped, by why.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Dropped {
    pub malformed_rtp: u64,
    pub unknown_payload_type: u64,
    pub malformed_rtcp: u64,
    pub comfort_noise: u64,
}

/// What the far end's RTCP says about our stream.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct RemoteReport {
    pub fraction_lost: f64,
    pub cumulative_lost: i32,
    pub jitter_ms: f64,
}

/// The media figures kept on the call record.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MediaFigures {
    pub codec: &'static str,
    /// The far end's stream, as we received it.
    pub received: StreamFigures,
    pub sent_packets: u64,
    /// Our stream, as the far end last reported it.
    pub remote_report: Option<RemoteReport>,
    pub reports_sent: u64,
    pub reports_received: u64,
    pub dtmf_digits: u64,
    /// Jitter buffer: frames concealed for lost packets, and packets too late to play.
    pub concealed_frames: u64,
    pub late_packets: u64,
    pub dropped: Dropped,
    /// Where our RTP went at the end (symmetric RTP may have moved it from the SDP's).
    pub remote: Option<String>,
}

pub struct MediaEnd {
    pub reason: String,
    pub frames_sent: u64,
    pub figures: MediaFigures,
    /// How late (ms) each 20 ms send came against the RTP clock's schedule.
    pub send_lateness: Histogram,
    /// The bot handed the call off before it ended (the handoff's reason).
    pub handed_off: Option<String>,
    /// The call's media socket and where its RTP last went, for a bridge after a handoff.
    pub socket: RtpSocket,
    pub remote: Option<SocketAddr>,
}

enum Queued {
    Audio(Vec<f32>),
    Mark(String),
}

/// The sending side: sequence, timestamp, talkspurts.
struct Sender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    /// Samples waiting for a whole packet (ptime over 20 ms).
    pending: Vec<f32>,
    was_silent: bool,
    packets: u64,
    octets: u64,
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
}

pub(crate) fn codec_of(g711: G711) -> Codec {
    match g711 {
        G711::Pcmu => Codec::Pcmu,
        G711::Pcma => Codec::Pcma,
    }
}

fn codec_name(g711: G711) -> &'static str {
    match g711 {
        G711::Pcmu => "PCMU",
        G711::Pcma => "PCMA",
    }
}

/// NTP time now (RFC 3550 SR).
fn ntp_now() -> u64 {
    let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() + 2_208_988_800;
    (secs << 32) | (((since.subsec_nanos() as u64) << 32) / 1_000_000_000)
}

/// Runs the call's media until the driver hangs up, the far end goes silent for
/// `rtp_timeout`, or the driver goes away.
pub async fn run(
    socket: RtpSocket,
    negotiated: Negotiated,
    cfg: RtpConfig,
    events: mpsc::Sender<TransportEvent>,
    mut commands: mpsc::Receiver<TransportCommand>,
    mut updates: mpsc::Receiver<MediaUpdate>,
    mut recorder: Option<Recorder>,
) -> MediaEnd {
    let start = Instant::now();
    let mut neg = negotiated;
    let mut remote: Option<SocketAddr> = neg.remote.map(SocketAddr::from);
    let mut remote_rtcp: Option<SocketAddr> = remote.map(|a| SocketAddr::new(a.ip(), a.port() + 1));
    let mut latched = false;
    let mut figures = MediaFigures { codec: codec_name(neg.codec), ..Default::default() };
    let mut jitter = JitterBuffer::new(JitterConfig::for_rate(RATE));
    let mut stats = ReceiverStats::default();
    let mut source: Option<u32> = None;
    let mut dtmf = DtmfReceiver::default();
    let mut sender = Sender::new();
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut tick = interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut report = interval(cfg.report_every);
    report.set_missed_tick_behavior(MissedTickBehavior::Delay);
    report.tick().await;
    let mut last_heard = start;
    let mut ticks_done: u64 = 0;
    let mut frames_out: u64 = 0;
    let mut caller_samples: u64 = 0;
    let mut held = false;
    let (mut rtp_buf, mut rtcp_buf) = (vec![0u8; 2048], vec![0u8; 2048]);
    let mut warned = false;
    let mut send_lateness = Histogram::default();
    let mut handed_off = None;
    let mut digits = DigitSender::default();

    let reason = loop {
        tokio::select! {
            got = socket.rtp.recv_from(&mut rtp_buf) => {
                let Ok((len, from)) = got else { continue };
                let datagram = &rtp_buf[..len];
                last_heard = Instant::now();
                if packet::is_rtcp(datagram) {
                    on_rtcp(datagram, &mut figures, &mut stats, start);
                    continue;
                }
                let p = match packet::parse(datagram) {
                    Ok(p) => p,
                    Err(e) => {
                        figures.dropped.malformed_rtp += 1;
                        if !std::mem::replace(&mut warned, true) {
                            tracing::warn!(from = %from, error = %e, "dropping malformed RTP (further drops are counted)");
                        }
                        continue;
                    }
                };
                let arrival = start.elapsed().as_micros() as u64 * RATE as u64 / 1_000_000;
                if p.payload_type == neg.payload_type {
                    if !latched && remote != Some(from) {
                        tracing::info!(sdp = ?remote, actual = %from, "symmetric RTP: sending where the far end sends from");
                        remote = Some(from);
                        remote_rtcp = Some(SocketAddr::new(from.ip(), from.port() + 1));
                    }
                    latched = true;
                    if source != Some(p.ssrc) {
                        // A new source restarts the buffer (its timestamps are unrelated).
                        source = Some(p.ssrc);
                        jitter = JitterBuffer::new(JitterConfig::for_rate(RATE));
                    }
                    stats.packet(p.ssrc, p.sequence, p.timestamp, arrival);
                    if let Ok(samples) = codec_of(neg.codec).decode(p.payload) {
                        jitter.push(arrival, p.timestamp, samples);
                    }
                } else if Some(p.payload_type) == neg.dtmf_payload_type {
                    if let Some(digit) = dtmf.packet(p.timestamp, p.payload) {
                        figures.dtmf_digits += 1;
                        tracing::info!(digit = %digit, "DTMF (RFC 4733)");
                        let _ = events.send(TransportEvent::Dtmf(digit)).await;
                    }
                } else if p.payload_type == COMFORT_NOISE {
                    figures.dropped.comfort_noise += 1;
                } else {
                    figures.dropped.unknown_payload_type += 1;
                }
            }
            got = socket.rtcp.recv_from(&mut rtcp_buf) => {
                let Ok((len, from)) = got else { continue };
                last_heard = Instant::now();
                if on_rtcp(&rtcp_buf[..len], &mut figures, &mut stats, start) {
                    remote_rtcp = Some(from);
                }
            }
            command = commands.recv() => match command {
                Some(TransportCommand::Audio(frame)) => queue.push_back(Queued::Audio(frame.samples)),
                Some(TransportCommand::Mark(name)) => queue.push_back(Queued::Mark(name)),
                Some(TransportCommand::Clear) => {
                    // Nothing is buffered beyond this queue: drop its audio, report its marks.
                    for q in std::mem::take(&mut queue) {
                        if let Queued::Mark(name) = q {
                            let _ = events.send(TransportEvent::MarkPlayed(name)).await;
                        }
                    }
                }
                Some(TransportCommand::HandOff(reason)) => handed_off = Some(reason),
                Some(TransportCommand::HangUp) | None => break "call ended".to_string(),
            },
            update = updates.recv() => {
                let new = match update {
                    Some(MediaUpdate::Renegotiated(new)) => new,
                    Some(MediaUpdate::SendDigits(keys)) => {
                        match (neg.dtmf_payload_type, digits.queue(&keys)) {
                            (Some(_), Ok(())) => tracing::info!(digits = %keys, "sending digits (RFC 4733)"),
                            (None, _) => tracing::warn!(digits = %keys, "no telephone-event negotiated: digits not sent"),
                            (_, Err(c)) => tracing::warn!(digits = %keys, "not a key: {c:?}"),
                        }
                        continue;
                    }
                    None => continue,
                };
                if new.remote != neg.remote {
                    remote = new.remote.map(SocketAddr::from);
                    remote_rtcp = remote.map(|a| SocketAddr::new(a.ip(), a.port() + 1));
                    latched = false;
                }
                let hold = matches!(new.direction, Direction::RecvOnly | Direction::Inactive);
                if hold != held {
                    held = hold;
                    tracing::info!(held, direction = ?new.direction, "hold changed");
                    let _ = events.send(TransportEvent::Hold(held)).await;
                }
                figures.codec = codec_name(new.codec);
                neg = new;
            }
            _ = tick.tick() => {
                // Skipped ticks (an overloaded host) advance the RTP clock like lost packets.
                let elapsed = start.elapsed();
                let due = (elapsed.as_micros() / TICK.as_micros()) as u64 + 1;
                let skipped = due.saturating_sub(ticks_done + 1);
                send_lateness.observe(elapsed.saturating_sub(TICK * ticks_done as u32).as_secs_f64() * 1000.0);
                ticks_done = due.max(ticks_done + 1);
                sender.timestamp = sender.timestamp.wrapping_add((skipped * FRAME as u64) as u32);

                // Caller side: one frame from the jitter buffer.
                let (samples, _) = jitter.pop();
                if let Some(r) = recorder.as_mut() {
                    r.caller(&samples);
                }
                let frame = Frame::new(MediaTime::new(caller_samples, RATE), samples);
                caller_samples += FRAME as u64;
                // A driver that has ended left its last audio and its hang-up in
                // `commands`: the session ends when it reads them.
                let _ = events.send(TransportEvent::Audio(frame)).await;

                // A key press being sent takes the tick; the bot's audio waits behind it.
                let sending = !matches!(neg.direction, Direction::RecvOnly | Direction::Inactive);
                if let (Some(to), true, Some(pt)) = (remote, sending, neg.dtmf_payload_type) {
                    if let Some((start, payload)) = digits.tick() {
                        send_event(&socket.rtp, to, pt, &mut sender, start, payload).await;
                        continue;
                    }
                }
                // Bot side: marks reached, then one frame of audio or line silence.
                while let Some(Queued::Mark(_)) = queue.front() {
                    if let Some(Queued::Mark(name)) = queue.pop_front() {
                        let _ = events.send(TransportEvent::MarkPlayed(name)).await;
                    }
                }
                let (bot, silent) = match queue.pop_front() {
                    Some(Queued::Audio(samples)) => {
                        frames_out += 1;
                        if let Some(r) = recorder.as_mut() {
                            r.bot(&samples);
                        }
                        (samples, false)
                    }
                    _ => (vec![0.0; FRAME], true),
                };
                if let (Some(to), true) = (remote, sending) {
                    send_audio(&socket.rtp, to, &neg, &mut sender, &bot, silent).await;
                } else {
                    sender.timestamp = sender.timestamp.wrapping_add(FRAME as u32);
                }

                let inactive = held && neg.direction == Direction::Inactive;
                if !inactive && last_heard.elapsed() >= cfg.timeout {
                    let _ = events.send(TransportEvent::HangUp).await;
                    break format!("no RTP for {} s", cfg.timeout.as_secs());
                }
            }
            _ = report.tick() => {
                if let Some(to) = remote_rtcp {
                    let now = start.elapsed().as_micros() as u64 * 65536 / 1_000_000;
                    let block = stats.report(now);
                    let info = (sender.packets > 0).then(|| rtcp::SenderInfo {
                        ntp: ntp_now(),
                        rtp_timestamp: sender.timestamp,
                        packets: sender.packets as u32,
                        octets: sender.octets as u32,
                    });
                    let bytes = rtcp::write(sender.ssrc, info.as_ref(), block.as_ref(), &cfg.cname);
                    if socket.rtcp.send_to(&bytes, to).await.is_ok() {
                        figures.reports_sent += 1;
                    }
                }
            }
        }
    };
    if let Some(r) = recorder {
        r.finish();
    }
    figures.received = stats.figures(RATE);
    figures.sent_packets = sender.packets;
    let js = jitter.stats();
    (figures.concealed_frames, figures.late_packets) = (js.lost_frames, js.late);
    figures.remote = remote.map(|r| r.to_string());
    MediaEnd { reason, frames_sent: frames_out, figures, send_lateness, handed_off, socket, remote }
}

/// Sends one 20 ms frame (or gathers it into a longer packet at the negotiated ptime).
async fn send_audio(
    socket: &UdpSocket,
    to: SocketAddr,
    neg: &Negotiated,
    sender: &mut Sender,
    frame: &[f32],
    silent: bool,
) {
    let packet_samples = (neg.ptime as usize * RATE as usize / 1000).max(FRAME);
    sender.pending.extend_from_slice(frame);
    // A talkspurt starts with the marker bit.
    let marker = sender.was_silent && !silent;
    sender.was_silent = silent;
    while sender.pending.len() >= packet_samples {
        let samples: Vec<f32> = sender.pending.drain(..packet_samples).collect();
        let payload = codec_of(neg.codec).encode(&samples);
        sender.buf.clear();
        packet::write(
            &mut sender.buf,
            marker || sender.packets == 0,
            neg.payload_type,
            sender.sequence,
            sender.timestamp,
            sender.ssrc,
            &payload,
        );
        if socket.send_to(&sender.buf, to).await.is_ok() {
            sender.packets += 1;
            sender.octets += payload.len() as u64;
        }
        sender.sequence = sender.sequence.wrapping_add(1);
        sender.timestamp = sender.timestamp.wrapping_add(packet_samples as u32);
    }
}

/// Sends one telephone-event packet: its event's timestamp, the marker on its first,
/// sequence continuous with the audio; the RTP clock moves on by a frame.
async fn send_event(socket: &UdpSocket, to: SocketAddr, pt: u8, sender: &mut Sender, start: bool, payload: [u8; 4]) {
    if start {
        sender.event_timestamp = sender.timestamp;
    }
    sender.buf.clear();
    packet::write(&mut sender.buf, start, pt, sender.sequence, sender.event_timestamp, sender.ssrc, &payload);
    if socket.send_to(&sender.buf, to).await.is_ok() {
        sender.packets += 1;
        sender.octets += payload.len() as u64;
    }
    sender.sequence = sender.sequence.wrapping_add(1);
    sender.timestamp = sender.timestamp.wrapping_add(FRAME as u32);
    // The audio after a key press starts a talkspurt.
    sender.was_silent = true;
}

/// Reads a compound RTCP packet: the far end's view of our stream, and its SR time for
/// our next report. Returns whether it was valid.
fn on_rtcp(datagram: &[u8], figures: &mut MediaFigures, stats: &mut ReceiverStats, start: Instant) -> bool {
    let Ok(compound) = rtcp::parse(datagram) else {
        figures.dropped.malformed_rtcp += 1;
        return false;
    };
    figures.reports_received += 1;
    let now = start.elapsed().as_micros() as u64 * 65536 / 1_000_000;
    for (_, sender) in &compound.reports {
        if let Some(info) = sender {
            stats.sender_report(info.ntp, now);
        }
    }
    if let Some(b) = compound.blocks.first() {
        figures.remote_report = Some(RemoteReport {
            fraction_lost: b.fraction_lost as f64 / 256.0,
            cumulative_lost: b.cumulative_lost,
            jitter_ms: b.jitter as f64 * 1000.0 / RATE as f64,
        });
    }
    true
}
