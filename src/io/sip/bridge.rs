//! Attended bridge: once the bot hands a call off, voxline calls the agent itself
//! (INVITE with `X-Voxline-Context`, the caller's codec offered), then relays RTP
//! between the caller's leg and the agent's leg packet for packet, transcribing both
//! sides as it goes (the bot neither speaks nor listens for intents any more). Either
//! side hanging up ends the other; so do silence on both for `rtp_timeout` and a
//! shutdown. Session refreshes on either leg are answered as they come.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::dialog::DialogStateReceiver;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::Header;
use rsipstack::transport::SipAddr;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::aside::answer_aside;
use super::sdp::{self, Direction, Negotiated};
use super::stack::Sip;
use crate::call::{AsrRequest, Input};
use crate::io::driver::EngineHub;
use crate::io::rtp::packet;
use crate::io::rtp::session::{codec_of, RtpSocket};
use crate::media::{Frame, MediaTime};
use crate::pipeline::{SpeechDetector, UtteranceCutter};
use crate::storage::StoredLine;

const RATE: u32 = 8000;
/// How long the transcripts of the last words may take once the bridge is over.
const LAST_WORDS: Duration = Duration::from_secs(10);

/// How a bridge went, kept in the call's `summary.transfer`.
#[derive(Debug, Clone, Serialize)]
pub struct Bridge {
    /// `bridge`.
    pub mode: &'static str,
    pub target: String,
    /// `bridged` (the agent answered and the two talked), `no_answer` (none within
    /// `transfer_timeout`: voxline cancelled), `refused` (a 4xx-6xx), `failed` (no
    /// response, no RTP port, an unusable answer), `far_end_left` (the caller hung up
    /// while the agent's phone rang).
    pub result: &'static str,
    /// The agent's final response.
    pub agent_status: Option<u16>,
    pub agent_call_id: Option<String>,
    /// From the agent's answer to the end of the bridge.
    pub bridged_ms: u64,
    /// `caller`, `agent`, `rtp_timeout` or `shutdown`.
    pub ended_by: Option<&'static str>,
    pub packets_to_agent: u64,
    pub packets_to_caller: u64,
    /// The caller's UA left the dialog itself (voxline sends no BYE).
    #[serde(skip)]
    pub caller_left: bool,
}

/// The caller's side, as the bot's media left it.
pub(super) struct CallerLeg<'a> {
    pub dialog: &'a InviteDialog,
    pub states: &'a mut DialogStateReceiver,
    pub socket: RtpSocket,
    /// Where the caller's RTP goes (latched by symmetric RTP).
    pub remote: Option<SocketAddr>,
    pub negotiated: Negotiated,
    /// voxline's current SDP on this leg, for session refreshes during the bridge.
    pub description: String,
}

/// What transcribes a bridge: the engines, a speech detector per side, and when the call
/// began (transcript lines are stamped in call time).
pub(super) struct Listeners {
    pub hub: Arc<dyn EngineHub>,
    pub caller: SpeechDetector,
    pub agent: SpeechDetector,
    pub call_began: Instant,
}

/// Where and how to call the agent.
pub(super) struct Target<'a> {
    pub uri: &'a str,
    pub context: &'a str,
    pub answer_within: Duration,
    pub rtp_timeout: Duration,
}

/// Calls the agent and bridges the caller to it until either hangs up. The bridge's
/// record and the transcript lines of both sides.
pub(super) async fn attended(
    sip: &Sip,
    caller: CallerLeg<'_>,
    target: Target<'_>,
    listeners: Listeners,
    mut stop: watch::Receiver<bool>,
) -> (Bridge, Vec<StoredLine>) {
    let mut bridge = Bridge {
        mode: "bridge",
        target: target.uri.to_string(),
        result: "failed",
        agent_status: None,
        agent_call_id: None,
        bridged_ms: 0,
        ended_by: None,
        packets_to_agent: 0,
        packets_to_caller: 0,
        caller_left: false,
    };
    let socket = match RtpSocket::bind(&sip.ports, sip.media_ip).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "bridge: no RTP port for the agent leg");
            return (bridge, Vec::new());
        }
    };
    // The agent gets the caller's codec only: the media passes through untouched.
    let offered = Negotiated { remote: None, direction: Direction::SendRecv, ..caller.negotiated.clone() };
    let session_id = uuid::Uuid::new_v4().as_u128() as u64 >> 2;
    let offer = sdp::write(&offered, (sip.public_ip, socket.local.port()), session_id, 1);
    let option = match invite_option(sip, target.uri, target.context, offer.clone()) {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "bridge: cannot call the agent");
            return (bridge, Vec::new());
        }
    };
    let (state_tx, mut agent_states) = sip.layer.new_dialog_state_channel();
    let (agent, mut invite) = match sip.layer.do_invite_async(option, state_tx) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(error = %e, "bridge: INVITE not sent");
            return (bridge, Vec::new());
        }
    };
    bridge.agent_call_id = Some(agent.id().call_id.clone());
    tracing::info!(target = target.uri, "calling the agent");

    // Until the agent answers: the caller may hang up, the ring may time out.
    let ring = tokio::time::sleep(target.answer_within);
    tokio::pin!(ring);
    let (mut cancelled, mut agent_signalling) = (false, true);
    let (caller_states, caller_sdp) = (caller.states, caller.description);
    let finished = loop {
        tokio::select! {
            done = &mut invite => break done,
            _ = &mut ring, if !cancelled => {
                cancelled = true;
                let _ = agent.cancel().await;
            }
            state = caller_states.recv(), if !bridge.caller_left => {
                if answer_aside(state, &caller_sdp).await {
                    bridge.caller_left = true;
                    let _ = agent.cancel().await;
                }
            }
            // Provisional responses; the final one comes with the INVITE's result.
            state = agent_states.recv(), if agent_signalling => agent_signalling = state.is_some(),
        }
    };
    let response = match finished {
        Ok(Ok((_, response))) => response,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "bridge: the agent call failed");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "bridge: the dial task failed");
            None
        }
    };
    bridge.agent_status = response.as_ref().map(|r| u16::from(r.status_code.clone()));
    let answered = bridge.agent_status.is_some_and(|s| (200..300).contains(&s));
    let answer = response
        .filter(|_| answered)
        .map(|r| String::from_utf8_lossy(r.body()).to_string())
        .map(|text| sdp::parse(&text).and_then(|a| sdp::negotiate(&a)));
    let agent_media = match answer {
        Some(Ok(n)) if n.codec == offered.codec => n,
        Some(_) => {
            tracing::warn!("bridge: the agent's answer does not match the caller's codec");
            let _ = agent.bye().await;
            sip.layer.remove_dialog(&agent.id());
            return (bridge, Vec::new());
        }
        None => {
            bridge.result = match bridge.agent_status {
                _ if bridge.caller_left => "far_end_left",
                _ if cancelled => "no_answer",
                Some(s) if s >= 400 => "refused",
                _ => "failed",
            };
            tracing::info!(result = bridge.result, status = ?bridge.agent_status, "the agent did not take the call");
            sip.layer.remove_dialog(&agent.id());
            return (bridge, Vec::new());
        }
    };
    if bridge.caller_left {
        let _ = agent.bye().await;
        sip.layer.remove_dialog(&agent.id());
        bridge.result = "far_end_left";
        return (bridge, Vec::new());
    }
    bridge.result = "bridged";
    tracing::info!(codec = ?agent_media.codec, "the agent answered: bridging");

    let began = Instant::now();
    let mut relay = Relay {
        caller: Side::new("caller", caller.socket, caller.remote, listeners.caller),
        agent: Side::new("agent", socket, agent_media.remote.map(SocketAddr::from), listeners.agent),
        negotiated: caller.negotiated,
        asr: Asr::new(listeners.hub, began.duration_since(listeners.call_began).as_millis() as u64),
    };
    let (mut caller_buf, mut agent_buf) = (vec![0u8; 2048], vec![0u8; 2048]);
    let (mut rtcp_a, mut rtcp_b) = (vec![0u8; 2048], vec![0u8; 2048]);
    let mut last_packet = Instant::now();
    let ended_by = loop {
        let quiet_until = last_packet + target.rtp_timeout;
        tokio::select! {
            got = relay.caller.socket.recv_rtp(&mut caller_buf) => if let Ok((len, from)) = got {
                last_packet = Instant::now();
                relay.caller.heard_from(from);
                bridge.packets_to_agent += relay.forward(true, &caller_buf[..len]).await;
            },
            got = relay.agent.socket.recv_rtp(&mut agent_buf) => if let Ok((len, from)) = got {
                last_packet = Instant::now();
                relay.agent.heard_from(from);
                bridge.packets_to_caller += relay.forward(false, &agent_buf[..len]).await;
            },
            _ = relay.caller.socket.recv_rtcp(&mut rtcp_a) => {}
            _ = relay.agent.socket.recv_rtcp(&mut rtcp_b) => {}
            Some(result) = relay.asr.results.recv() => relay.asr.take(result),
            state = caller_states.recv() => {
                if answer_aside(state, &caller_sdp).await {
                    bridge.caller_left = true;
                    break "caller";
                }
            }
            state = agent_states.recv() => {
                if answer_aside(state, &offer).await {
                    break "agent";
                }
            }
            _ = tokio::time::sleep_until(quiet_until) => break "rtp_timeout",
            _ = async { drop(stop.wait_for(|s| *s).await) } => break "shutdown",
        }
    };
    bridge.ended_by = Some(ended_by);
    bridge.bridged_ms = began.elapsed().as_millis() as u64;
    tracing::info!(ended_by, bridged_ms = bridge.bridged_ms, "bridge ended");
    if ended_by != "agent" {
        if let Err(e) = agent.bye().await {
            tracing::warn!(error = %e, "BYE to the agent failed");
        }
    }
    sip.layer.remove_dialog(&agent.id());
    let lines = relay.finish().await;
    (bridge, lines)
}

/// The agent's INVITE: from voxline, to the target, with the handoff context.
fn invite_option(sip: &Sip, target: &str, context: &str, offer: String) -> Result<InviteOption, String> {
    let uri = |text: &str| rsipstack::sip::Uri::try_from(text).map_err(|e| format!("{text}: {e}"));
    let callee = uri(target.trim_start_matches('<').trim_end_matches('>'))?;
    let destination = SipAddr::try_from(&callee).map_err(|e| e.to_string())?;
    let tcp = target.contains("transport=tcp");
    Ok(InviteOption {
        caller: uri(&format!("sip:voxline@{}", sip.host()))?,
        callee,
        destination: Some(destination),
        content_type: Some("application/sdp".into()),
        offer: Some(offer.into_bytes()),
        contact: sip.contact(tcp).ok_or("no Contact URI for our address")?,
        headers: Some(vec![Header::Other("X-Voxline-Context".into(), context.to_string())]),
        ..Default::default()
    })
}

/// One leg of the bridge: its socket, where its RTP goes, and what it says.
struct Side {
    speaker: &'static str,
    socket: RtpSocket,
    remote: Option<SocketAddr>,
    latched: bool,
    words: UtteranceCutter,
    samples: u64,
}

impl Side {
    fn new(speaker: &'static str, socket: RtpSocket, remote: Option<SocketAddr>, detector: SpeechDetector) -> Self {
        Side { speaker, socket, remote, latched: false, words: UtteranceCutter::new(detector), samples: 0 }
    }

    /// Symmetric RTP: this leg's packets go back where its packets come from.
    fn heard_from(&mut self, from: SocketAddr) {
        if !self.latched {
            self.latched = true;
            self.remote = Some(from);
        }
    }
}

struct Relay {
    caller: Side,
    agent: Side,
    negotiated: Negotiated,
    asr: Asr,
}

impl Relay {
    /// Passes a datagram from one leg to the other as it is, and listens to its audio.
    /// Returns 1 when it went out.
    async fn forward(&mut self, from_caller: bool, datagram: &[u8]) -> u64 {
        let (from, to) = if from_caller { (&mut self.caller, &self.agent) } else { (&mut self.agent, &self.caller) };
        let Ok(p) = packet::parse(datagram) else { return 0 };
        if p.payload_type == self.negotiated.payload_type {
            if let Ok(samples) = codec_of(self.negotiated.codec).decode(p.payload) {
                let frame = Frame::new(MediaTime::new(from.samples, RATE), samples);
                from.samples += frame.samples.len() as u64;
                match from.words.push(&frame) {
                    Ok(done) => done.into_iter().for_each(|u| self.asr.send(from.speaker, u.start, u.audio)),
                    Err(e) => tracing::debug!(error = %e, "bridge: speech detection"),
                }
            }
        }
        let Some(remote) = to.remote else { return 0 };
        u64::from(to.socket.send_rtp(datagram, remote).await.is_ok())
    }

    /// The last words of both sides, transcribed; all lines in time order.
    async fn finish(mut self) -> Vec<StoredLine> {
        for side in [&mut self.caller, &mut self.agent] {
            if let Some(u) = side.words.finish() {
                self.asr.send(side.speaker, u.start, u.audio);
            }
        }
        let deadline = Instant::now() + LAST_WORDS;
        while !self.asr.pending.is_empty() {
            match tokio::time::timeout_at(deadline, self.asr.results.recv()).await {
                Ok(Some(result)) => self.asr.take(result),
                _ => break,
            }
        }
        self.asr.lines.sort_by_key(|l| l.at_ms);
        self.asr.lines
    }
}

/// Transcription of the bridged talk through the server's ASR.
struct Asr {
    hub: Arc<dyn EngineHub>,
    reply: mpsc::UnboundedSender<Input>,
    results: mpsc::UnboundedReceiver<Input>,
    /// Request id -> (speaker, call ms).
    pending: std::collections::BTreeMap<u64, (&'static str, u64)>,
    next_id: u64,
    /// Call time of the bridge's first sample.
    offset_ms: u64,
    lines: Vec<StoredLine>,
}

impl Asr {
    fn new(hub: Arc<dyn EngineHub>, offset_ms: u64) -> Self {
        let (reply, results) = mpsc::unbounded_channel();
        Asr { hub, reply, results, pending: Default::default(), next_id: 1, offset_ms, lines: Vec::new() }
    }

    fn send(&mut self, speaker: &'static str, start: MediaTime, audio: Vec<f32>) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, (speaker, self.offset_ms + start.as_ms()));
        let request = AsrRequest { id, audio, rate: RATE, partial: false, prompt: None };
        self.hub.transcribe(request, self.reply.clone());
    }

    fn take(&mut self, result: Input) {
        match result {
            Input::Asr { id, text } => {
                let Some((speaker, at_ms)) = self.pending.remove(&id) else { return };
                let text = text.trim();
                if !text.is_empty() {
                    tracing::info!(speaker, text, "bridged speech");
                    self.lines.push(StoredLine { at_ms, speaker: speaker.into(), text: text.into(), intent: None });
                }
            }
            Input::AsrFailed { id, .. } => {
                self.pending.remove(&id);
            }
            _ => {}
        }
    }
}
