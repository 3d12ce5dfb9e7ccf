//! The RTP adapter for one call: owns the call's RTP and RTCP sockets, and between them
//! and the call driver runs the jitter buffer, symmetric RTP, RFC 4733 digits, RTCP
//! reports and the no-media timeout. Its outbound stream (continuous: line silence while
//! the bot is quiet) is sent every 20 ms by the pacer thread. The wire formats are the
//! pure codecs next to it.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{interval, Instant, MissedTickBehavior};

use super::dtmf::DtmfReceiver;
use super::outbound::{Outbound, Sent, FRAME, RATE, TICK};
use super::pacer::Pacer;
use super::ports::{PortLease, PortPool};
use super::stats::{ReceiverStats, StreamFigures};
use super::{packet, rtcp};
use crate::io::driver::{TransportCommand, TransportEvent};
use crate::io::metrics::Histogram;
use crate::io::recording::Recorder;
use crate::io::sip::sdp::{Direction, Negotiated, G711};
use crate::media::{Codec, Frame, JitterBuffer, JitterConfig, MediaTime};

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

    /// A second handle on the RTP socket for the pacer thread (non-blocking, as the
    /// original).
    fn send_handle(&self) -> std::io::Result<std::net::UdpSocket> {
        Ok(std::net::UdpSocket::from(self.rtp.as_fd().try_clone_to_owned()?))
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

fn lock(out: &Mutex<Outbound>) -> MutexGuard<'_, Outbound> {
    out.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the call's media until the driver hangs up, the far end goes silent for
/// `rtp_timeout`, or the driver goes away. The pacer thread sends the bot's side; this
/// task receives, feeds the driver a frame every 20 ms and keeps the figures.
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
    let mut figures = MediaFigures { codec: codec_name(negotiated.codec), ..Default::default() };
    let (sent_tx, mut sent) = mpsc::unbounded_channel();
    let handle = match socket.send_handle() {
        Ok(handle) => handle,
        Err(e) => {
            let _ = events.send(TransportEvent::HangUp).await;
            let reason = format!("cannot share the RTP socket with the pacer: {e}");
            return MediaEnd {
                reason,
                frames_sent: 0,
                figures,
                send_lateness: Histogram::default(),
                handed_off: None,
                socket,
                remote: None,
            };
        }
    };
    let out = Arc::new(Mutex::new(Outbound::new(handle, negotiated.clone(), sent_tx, recorder.is_some())));
    Pacer::global().add(&out, start.into_std());
    let mut neg = negotiated;
    let mut remote_rtcp: Option<SocketAddr> = neg.remote.map(|(ip, port)| SocketAddr::new(ip, port + 1));
    let mut latched = false;
    let mut jitter = JitterBuffer::new(JitterConfig::for_rate(RATE));
    let mut stats = ReceiverStats::default();
    let mut source: Option<u32> = None;
    let mut dtmf = DtmfReceiver::default();
    let mut tick = interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut report = interval(cfg.report_every);
    report.set_missed_tick_behavior(MissedTickBehavior::Delay);
    report.tick().await;
    let mut last_heard = start;
    let mut caller_samples: u64 = 0;
    let mut held = false;
    let (mut rtp_buf, mut rtcp_buf) = (vec![0u8; 2048], vec![0u8; 2048]);
    let mut warned = false;
    let mut handed_off = None;

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
                    if !latched {
                        let mut out = lock(&out);
                        if out.remote != Some(from) {
                            tracing::info!(sdp = ?out.remote, actual = %from, "symmetric RTP: sending where the far end sends from");
                            out.remote = Some(from);
                            remote_rtcp = Some(SocketAddr::new(from.ip(), from.port() + 1));
                        }
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
            Some(s) = sent.recv() => match s {
                Sent::MarkPlayed(name) => {
                    let _ = events.send(TransportEvent::MarkPlayed(name)).await;
                }
                Sent::BotAudio(samples) => {
                    if let Some(r) = recorder.as_mut() {
                        r.bot(&samples);
                    }
                }
            },
            command = commands.recv() => match command {
                Some(TransportCommand::Audio(frame)) => lock(&out).audio(frame.samples),
                Some(TransportCommand::Mark(name)) => lock(&out).mark(name),
                Some(TransportCommand::Clear) => {
                    // Nothing is buffered beyond the outbound queue: drop its audio, report its marks.
                    let marks = lock(&out).clear();
                    for name in marks {
                        let _ = events.send(TransportEvent::MarkPlayed(name)).await;
                    }
                }
                Some(TransportCommand::HandOff(reason)) => handed_off = Some(reason),
                Some(TransportCommand::HangUp) | None => break "call ended".to_string(),
            },
            update = updates.recv() => {
                let new = match update {
                    Some(MediaUpdate::Renegotiated(new)) => new,
                    Some(MediaUpdate::SendDigits(keys)) => {
                        match (neg.dtmf_payload_type, lock(&out).digits(&keys)) {
                            (Some(_), Ok(())) => tracing::info!(digits = %keys, "sending digits (RFC 4733)"),
                            (None, _) => tracing::warn!(digits = %keys, "no telephone-event negotiated: digits not sent"),
                            (_, Err(c)) => tracing::warn!(digits = %keys, "not a key: {c:?}"),
                        }
                        continue;
                    }
                    None => continue,
                };
                {
                    let mut out = lock(&out);
                    if new.remote != neg.remote {
                        out.remote = new.remote.map(SocketAddr::from);
                        remote_rtcp = out.remote.map(|a| SocketAddr::new(a.ip(), a.port() + 1));
                        latched = false;
                    }
                    out.neg = new.clone();
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
                    let bytes = {
                        let out = lock(&out);
                        let sender = &out.sender;
                        let info = (sender.packets > 0).then(|| rtcp::SenderInfo {
                            ntp: ntp_now(),
                            rtp_timestamp: sender.timestamp,
                            packets: sender.packets as u32,
                            octets: sender.octets as u32,
                        });
                        rtcp::write(sender.ssrc, info.as_ref(), block.as_ref(), &cfg.cname)
                    };
                    if socket.rtcp.send_to(&bytes, to).await.is_ok() {
                        figures.reports_sent += 1;
                    }
                }
            }
        }
    };
    let (remote, frames_sent, send_lateness) = {
        let mut out = lock(&out);
        out.closed = true;
        figures.sent_packets = out.sender.packets;
        (out.remote, out.frames_out, std::mem::take(&mut out.lateness))
    };
    // The bot's last frames, already sent, go into the recording.
    while let Ok(s) = sent.try_recv() {
        if let (Some(r), Sent::BotAudio(samples)) = (recorder.as_mut(), s) {
            r.bot(&samples);
        }
    }
    if let Some(r) = recorder {
        r.finish();
    }
    figures.received = stats.figures(RATE);
    let js = jitter.stats();
    (figures.concealed_frames, figures.late_packets) = (js.lost_frames, js.late);
    figures.remote = remote.map(|r| r.to_string());
    MediaEnd { reason, frames_sent, figures, send_lateness, handed_off, socket, remote }
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
