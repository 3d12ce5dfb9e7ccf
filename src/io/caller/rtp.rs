//! A scripted caller over plain RTP (G.711 at 20 ms): the media half of a SIP call whose
//! signalling runs elsewhere (SIPp, in the tests). voxline sends RTP continuously, so
//! the caller answers to wherever the first packet came from. It takes turns like the
//! WebSocket caller, without marks (the bot is done after 1.2 s of quiet), and keeps
//! what it heard: the bot's audio and how the packets were paced.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{interval, Instant, MissedTickBehavior};

use super::turns::{DoneRule, TurnTaker};
use crate::io::rtp::dtmf::DtmfReceiver;
use crate::io::rtp::packet;
use crate::media::Codec;
use crate::sim::Cue;

/// Without marks the bot's turn is over after this much quiet (a sentence rendering
/// behind the one playing leaves shorter gaps).
const RTP_DONE: DoneRule = DoneRule { quiet: Duration::from_millis(1200), quiet_open: Duration::from_millis(1200) };
/// The telephone-event payload type the peer's SDP offers or answers.
const DTMF_PAYLOAD_TYPE: u8 = 101;
/// The far end stopped sending this long ago: the call is over.
const MEDIA_GONE: Duration = Duration::from_secs(3);

/// What the caller heard.
#[derive(Debug, Default)]
pub struct RtpHeard {
    pub packets: u64,
    /// Every packet's payload decoded, in arrival order (8 kHz).
    pub bot_audio: Vec<f32>,
    /// Milliseconds between consecutive packets' arrivals.
    pub arrival_gaps_ms: Vec<f64>,
    /// Packets whose sequence number did not follow the previous one.
    pub sequence_breaks: u64,
    /// Packets whose timestamp did not advance by their sample count.
    pub timestamp_breaks: u64,
    pub markers: u64,
    pub turns_sent: usize,
    pub ended: String,
    /// RFC 4733 key presses the far end sent (payload type 101).
    pub digits: String,
}

/// Plays `turns` (audio at 8 kHz, cue, delay ms) on `socket` in `codec` until the far
/// end's media stops or `max` passes.
pub async fn run(socket: UdpSocket, turns: Vec<(Vec<f32>, Option<Cue>, u64)>, codec: Codec, max: Duration) -> RtpHeard {
    let payload_type = if codec == Codec::Pcma { 8 } else { 0 };
    let began = Instant::now();
    let mut caller = TurnTaker::new(turns, 160, RTP_DONE, began);
    let mut heard = RtpHeard::default();
    let mut tick = interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut remote: Option<SocketAddr> = None;
    let mut last: Option<(Instant, u16, u32, usize)> = None;
    let mut pending: Vec<f32> = Vec::new();
    let (mut sequence, mut timestamp, ssrc) = (1u16, 0u32, 0x5eed_u32);
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::with_capacity(200);
    let mut keys = DtmfReceiver::default();
    heard.ended = loop {
        tokio::select! {
            got = socket.recv_from(&mut buf) => {
                let Ok((len, from)) = got else { continue };
                let Ok(p) = packet::parse(&buf[..len]) else { continue };
                if p.payload_type == DTMF_PAYLOAD_TYPE {
                    heard.digits.extend(keys.packet(p.timestamp, p.payload));
                    continue;
                }
                if p.payload_type != payload_type {
                    continue;
                }
                remote.get_or_insert(from);
                let now = Instant::now();
                heard.packets += 1;
                heard.markers += p.marker as u64;
                if let Some((at, seq, ts, samples)) = last {
                    heard.arrival_gaps_ms.push((now - at).as_secs_f64() * 1000.0);
                    heard.sequence_breaks += (p.sequence != seq.wrapping_add(1)) as u64;
                    heard.timestamp_breaks += (p.timestamp != ts.wrapping_add(samples as u32)) as u64;
                }
                let samples = codec.decode(p.payload).unwrap_or_default();
                last = Some((now, p.sequence, p.timestamp, samples.len()));
                pending.extend_from_slice(&samples);
                heard.bot_audio.extend_from_slice(&samples);
            }
            _ = tick.tick() => {
                let now = Instant::now();
                if now - began > max {
                    break "timeout".into();
                }
                if last.is_some_and(|(at, ..)| now - at > MEDIA_GONE) {
                    break "media stopped".into();
                }
                // The bot's audio of the last 20 ms, as the caller hears it.
                let bot: Vec<f32> = pending.drain(..pending.len().min(160)).collect();
                // Line silence behind this frame is not the bot still talking (voxline sends
                // RTP continuously; a packet of backlog can persist for the whole call).
                let queued = pending.iter().any(|s| s.abs() > 0.01);
                let frame = caller.tick(now, (!bot.is_empty()).then_some(&bot[..]), false, queued);
                let Some(to) = remote else { continue };
                out.clear();
                packet::write(&mut out, sequence == 1, payload_type, sequence, timestamp, ssrc, &codec.encode(&frame));
                let _ = socket.send_to(&out, to).await;
                sequence = sequence.wrapping_add(1);
                timestamp = timestamp.wrapping_add(160);
            }
        }
    };
    heard.turns_sent = caller.turns_sent;
    heard
}
