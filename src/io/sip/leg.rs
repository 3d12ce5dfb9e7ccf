//! A SIP call once answered, either way: its RTP media with the call driver, and the
//! in-dialog requests (BYE, re-INVITE and UPDATE for hold and codec changes and session
//! refreshes, INFO digits, OPTIONS) until either side ends it; the session timer
//! (refreshing, or ending a session the peer stopped refreshing); a blind transfer
//! after the bot hands the call off, when `sip.transfer_to` is set.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TransactionHandle};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, Method, Request, StatusCode};
use tokio::sync::mpsc;

use super::sdp::{self, Direction, Negotiated};
use super::stack::{warning, Sip};
use super::timer::{self, SessionTimer};
use super::{aside, bridge, transfer};
use crate::io::driver::TransportEvent;
use crate::io::rtp::session::{self as media, MediaUpdate, RtpSocket};
use crate::io::serve::{run_call, Prepared, Shared, TransportEnd};
use crate::pipeline::{SpeechDetector, VadConfig};
use crate::server::config::parse_duration;
use crate::storage::StoredLine;

/// An answered call's signalling and media.
pub(super) struct Leg {
    pub dialog: InviteDialog,
    pub states: DialogStateReceiver,
    pub socket: RtpSocket,
    pub negotiated: Negotiated,
    /// Our SDP's session id and address (RTP port).
    pub session_id: u64,
    pub local: (IpAddr, u16),
    /// `caller` (inbound) or `callee` (outbound), for why the call closed.
    pub far_end: &'static str,
    /// How the call was dialled, kept with its summary (`dial`).
    pub dial: Option<serde_json::Value>,
    /// The RFC 4028 session timer the call was answered with.
    pub timer: Option<SessionTimer>,
    /// Digits to send once answered (a dial's `digits`).
    pub digits: Option<String>,
}

/// Runs an answered call until either side ends it; the outcome is stored.
pub(super) async fn run(shared: Arc<Shared>, sip: Arc<Sip>, leg: Leg, sip_call_id: String, prepared: Prepared) {
    let Leg { dialog, mut states, socket, negotiated, session_id, local, far_end, dial, timer, digits } = leg;
    let rtp = sip.rtp.clone();
    let metrics = shared.metrics.clone();
    let handover = Handover::new(&shared, &prepared.id);
    let run = move |events: mpsc::Sender<TransportEvent>, commands, recorder| async move {
        let call_began = tokio::time::Instant::now();
        let (updates, update_rx) = mpsc::channel(4);
        let mut state = Renegotiation {
            session_id,
            version: 1,
            local,
            current: negotiated.clone(),
            updates,
            timer: Timer::new(timer),
        };
        if let Some(keys) = digits {
            let _ = state.updates.try_send(MediaUpdate::SendDigits(keys));
        }
        let to_call = events.clone();
        let media = media::run(socket, negotiated, rtp, events, commands, update_rx, recorder);
        tokio::pin!(media);
        let (refreshed_tx, mut refreshed) = mpsc::channel(1);
        let mut hung_up_by_far_end = false;
        let mut expired: Option<String> = None;
        let mut signalling = true;
        let end = loop {
            tokio::select! {
                end = &mut media => break end,
                s = states.recv(), if signalling => match s {
                    Some(DialogState::Terminated(_, reason)) => {
                        tracing::info!(?reason, "dialog ended");
                        hung_up_by_far_end = true;
                        signalling = false;
                        let _ = to_call.send(TransportEvent::HangUp).await;
                    }
                    Some(DialogState::Updated(_, request, handle)) => state.offer(&request, handle).await,
                    Some(DialogState::Info(_, request, handle)) => {
                        if let Some(digit) = info_digit(&request) {
                            let _ = to_call.send(TransportEvent::Dtmf(digit)).await;
                        }
                        let _ = handle.reply(StatusCode::OK).await;
                    }
                    Some(DialogState::Options(_, _, handle)) | Some(DialogState::Message(_, _, handle))
                    | Some(DialogState::Notify(_, _, handle)) => {
                        let _ = handle.reply(StatusCode::OK).await;
                    }
                    Some(DialogState::Refer(_, _, handle)) => {
                        let _ = handle.reply(StatusCode::NotImplemented).await;
                    }
                    Some(_) => {}
                    None => signalling = false,
                },
                _ = state.timer.due(), if expired.is_none() => {
                    let session = state.timer.take().expect("due only with a timer");
                    if session.we_refresh {
                        // The refresh runs beside the media; its answer comes back on `refreshed`.
                        let (dialog, done) = (dialog.clone(), refreshed_tx.clone());
                        let body = sdp::write(&state.current, state.local, state.session_id, state.version);
                        tokio::spawn(async move { let _ = done.send(refresh(&dialog, session, body).await).await; });
                    } else {
                        let why = format!("session timer expired (no refresh in {} s)", session.expire_after().as_secs());
                        tracing::warn!("{why}");
                        expired = Some(why);
                        let _ = to_call.send(TransportEvent::HangUp).await;
                    }
                }
                Some(done) = refreshed.recv() => match done {
                    Ok(next) => state.timer.restart(next),
                    Err(why) => {
                        tracing::warn!("{why}");
                        expired = Some(why);
                        let _ = to_call.send(TransportEvent::HangUp).await;
                    }
                },
            }
        };
        metrics.merge("voxline_rtp_send_lateness_ms", &[], &end.send_lateness);
        let mut handed = None;
        let reason = if hung_up_by_far_end {
            format!("the {far_end} hung up (BYE)")
        } else {
            if let (Some(why), false) = (&end.handed_off, handover.target.is_empty()) {
                tracing::info!(target = %handover.target, mode = %handover.mode, handoff = %why, "handing the call over");
                let caller = bridge::CallerLeg {
                    dialog: &dialog,
                    states: &mut states,
                    socket: end.socket,
                    remote: end.remote,
                    negotiated: state.current.clone(),
                    description: sdp::write(&state.current, state.local, state.session_id, state.version),
                };
                let h = handover.run(&sip, caller, call_began).await;
                metrics.inc("voxline_transfers_total", &[("mode", &handover.mode), ("result", &h.result)]);
                handed = Some(h);
            }
            if !handed.as_ref().is_some_and(|h| h.caller_left) {
                if let Err(e) = dialog.bye().await {
                    tracing::warn!(error = %e, "BYE failed");
                }
            }
            match (&handed, expired) {
                (Some(h), _) => h.closed.clone(),
                (None, Some(why)) => why,
                (None, None) => end.reason,
            }
        };
        sip.layer.remove_dialog(&dialog.id());
        let (transfer, transcript) = handed.map(|h| (Some(h.summary), h.transcript)).unwrap_or_default();
        TransportEnd {
            reason,
            frames_sent: end.frames_sent,
            media: serde_json::to_value(&end.figures).ok(),
            dial,
            transfer,
            transcript,
        }
    };
    run_call(shared, "sip", sip_call_id, prepared, run).await;
}

/// Where a handed-off call goes (`sip.transfer_to`, `transfer_mode`) and what the
/// handover needs from the server.
struct Handover {
    target: String,
    mode: String,
    context: String,
    wait: Duration,
    shared: Arc<Shared>,
}

/// How a handover went: for the call's summary (`transfer`), its `closed`, and the
/// bridged talk's transcript.
struct Handed {
    summary: serde_json::Value,
    result: String,
    closed: String,
    caller_left: bool,
    transcript: Vec<StoredLine>,
}

impl Handover {
    fn new(shared: &Arc<Shared>, call_id: &str) -> Self {
        let cfg = &shared.cfg.sip;
        Handover {
            target: cfg.transfer_to.clone(),
            mode: cfg.transfer_mode.clone(),
            context: transfer::context(call_id, &shared.base_url),
            wait: parse_duration(&cfg.transfer_timeout).expect("validated"),
            shared: shared.clone(),
        }
    }

    /// A blind transfer (REFER), or a bridge through voxline to the agent.
    async fn run(&self, sip: &Sip, caller: bridge::CallerLeg<'_>, call_began: tokio::time::Instant) -> Handed {
        if self.mode != "bridge" {
            let referred_by = sip.contact(false).map(|c| format!("<{c}>"));
            let (dialog, states, ours) = (caller.dialog, caller.states, &caller.description);
            let t = transfer::blind(dialog, states, ours, &self.target, &self.context, referred_by, self.wait).await;
            return Handed {
                summary: serde_json::to_value(&t).unwrap_or_default(),
                result: t.result.into(),
                closed: format!("transfer to {}: {}", t.target, t.result),
                caller_left: t.caller_left,
                transcript: Vec::new(),
            };
        }
        let detector =
            || self.shared.vad.detector(8000).map(|vad| SpeechDetector::new(Box::new(vad), VadConfig::default()));
        let (Ok(caller_ears), Ok(agent_ears)) = (detector(), detector()) else {
            tracing::error!("bridge: no speech detector");
            return Handed {
                summary: serde_json::json!({"mode": "bridge", "target": self.target, "result": "failed"}),
                result: "failed".into(),
                closed: format!("bridge to {}: failed", self.target),
                caller_left: false,
                transcript: Vec::new(),
            };
        };
        let listeners =
            bridge::Listeners { hub: self.shared.hub.clone(), caller: caller_ears, agent: agent_ears, call_began };
        let target = bridge::Target {
            uri: &self.target,
            context: &self.context,
            answer_within: self.wait,
            rtp_timeout: sip.rtp.timeout,
        };
        let (b, transcript) = bridge::attended(sip, caller, target, listeners, self.shared.stop.clone()).await;
        let closed = match b.ended_by {
            Some(by) => format!("bridge to {}: {}, ended by the {by}", b.target, b.result),
            None => format!("bridge to {}: {}", b.target, b.result),
        };
        Handed {
            summary: serde_json::to_value(&b).unwrap_or_default(),
            result: b.result.into(),
            closed,
            caller_left: b.caller_left,
            transcript,
        }
    }
}

/// A session refresh voxline sends (re-INVITE with its current SDP). The timer the 2xx
/// sets, or why the session is over (RFC 4028: a refresh without a 2xx ends it).
async fn refresh(dialog: &InviteDialog, session: SessionTimer, body: String) -> Result<Option<SessionTimer>, String> {
    let mut headers: Vec<Header> =
        session.refresh_headers().into_iter().map(|(k, v)| Header::Other(k.into(), v)).collect();
    headers.push(Header::ContentType("application/sdp".into()));
    match dialog.reinvite(Some(headers), Some(body.into_bytes())).await {
        Ok(Some(response)) if (200..300).contains(&u16::from(response.status_code.clone())) => {
            tracing::info!(interval = session.interval, "session refreshed");
            // A 2xx without Session-Expires turns the timer off.
            timer::of_response(&response).map_err(|e| format!("session refresh answered badly: {e}"))
        }
        Ok(Some(response)) => Err(format!("session refresh refused ({})", response.status_code)),
        Ok(None) => Err("session refresh: the dialog is gone".into()),
        Err(e) => Err(format!("session refresh failed: {e}")),
    }
}

/// The session timer's clock: when voxline next refreshes or gives up.
struct Timer {
    session: Option<SessionTimer>,
    due: Option<tokio::time::Instant>,
}

impl Timer {
    fn new(session: Option<SessionTimer>) -> Self {
        let mut timer = Timer { session: None, due: None };
        timer.restart(session);
        timer
    }

    /// A refresh happened (either way) with this outcome.
    fn restart(&mut self, session: Option<SessionTimer>) {
        self.session = session;
        self.due = session.map(|s| tokio::time::Instant::now() + s.next().0);
    }

    /// Waits until the timer is due (forever without one).
    async fn due(&self) {
        match self.due {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    /// The timer, now stopped (a refresh in flight restarts it).
    fn take(&mut self) -> Option<SessionTimer> {
        self.due = None;
        self.session.take()
    }
}

/// A digit from SIP INFO (`application/dtmf-relay`: `Signal=5`, or `application/dtmf`).
fn info_digit(request: &Request) -> Option<char> {
    let body = String::from_utf8_lossy(request.body());
    let value = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("Signal=").or_else(|| l.trim().strip_prefix("Signal =")))
        .unwrap_or(body.trim());
    value.trim().chars().next().filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
}

/// The SDP state of a call across re-INVITEs and UPDATEs.
struct Renegotiation {
    session_id: u64,
    version: u64,
    local: (IpAddr, u16),
    current: Negotiated,
    updates: mpsc::Sender<MediaUpdate>,
    timer: Timer,
}

impl Renegotiation {
    /// Answers a re-INVITE or UPDATE: a new offer is negotiated and handed to the media
    /// (hold, unhold, codec change); one without SDP gets our current description. Either
    /// is a session refresh: its Session-Expires restarts the timer (none stops it).
    async fn offer(&mut self, request: &Request, handle: TransactionHandle) {
        let Some(session) = aside::requested_timer(request, &handle).await else { return };
        let sdp_type = || {
            let mut headers = vec![Header::ContentType("application/sdp".into())];
            headers.extend(timer::answer_headers(session.as_ref()));
            headers
        };
        self.timer.restart(session);
        if request.body().is_empty() && request.method == Method::Update {
            // An UPDATE without an offer (a refresh) gets no answer back.
            let headers: Vec<Header> = sdp_type().into_iter().skip(1).collect();
            let _ = handle.respond(StatusCode::OK, Some(headers), None).await;
            return;
        }
        if request.body().is_empty() {
            let ours = sdp::write(&self.current, self.local, self.session_id, self.version);
            let _ = handle.respond(StatusCode::OK, Some(sdp_type()), Some(ours.into_bytes())).await;
            return;
        }
        let offer = String::from_utf8_lossy(request.body()).to_string();
        match sdp::parse(&offer).and_then(|o| sdp::negotiate(&o)) {
            Ok(mut negotiated) => {
                // RFC 2543 hold: a connection address of 0.0.0.0.
                if negotiated.remote.is_some_and(|(ip, _)| ip.is_unspecified())
                    && negotiated.direction == Direction::SendRecv
                {
                    negotiated.direction = Direction::RecvOnly;
                }
                self.version += 1;
                let ours = sdp::write(&negotiated, self.local, self.session_id, self.version);
                let _ = handle.respond(StatusCode::OK, Some(sdp_type()), Some(ours.into_bytes())).await;
                tracing::info!(direction = ?negotiated.direction, codec = ?negotiated.codec, "session updated");
                self.current = negotiated.clone();
                let _ = self.updates.send(MediaUpdate::Renegotiated(negotiated)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "refused a session update");
                let _ = handle.respond(StatusCode::NotAcceptableHere, Some(vec![warning(&e.to_string())]), None).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_digits() {
        let text = |body: &str| {
            format!(
                "INFO sip:v@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-2\r\n\
                 From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:v@127.0.0.1>;tag=2\r\nCall-ID: x\r\nCSeq: 2 INFO\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let digit = |body: &str| match rsipstack::sip::SipMessage::try_from(text(body).as_str()).unwrap() {
            rsipstack::sip::SipMessage::Request(r) => info_digit(&r),
            _ => None,
        };
        assert_eq!(digit("Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(digit("#"), Some('#'));
        assert_eq!(digit("hello"), None);
    }
}
