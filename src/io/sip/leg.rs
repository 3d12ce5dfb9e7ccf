//! A SIP call once answered, either way: its RTP media with the call driver, and the
//! in-dialog requests (BYE, re-INVITE and UPDATE for hold and codec changes, INFO
//! digits, OPTIONS) until either side ends it.

use std::net::IpAddr;
use std::sync::Arc;

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TransactionHandle};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, Request, StatusCode};
use tokio::sync::mpsc;

use super::sdp::{self, Direction, Negotiated};
use super::stack::{warning, Sip};
use crate::io::driver::TransportEvent;
use crate::io::rtp::session::{self as media, MediaUpdate, RtpSocket};
use crate::io::serve::{run_call, Prepared, Shared, TransportEnd};

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
}

/// Runs an answered call until either side ends it; the outcome is stored.
pub(super) async fn run(shared: Arc<Shared>, sip: Arc<Sip>, leg: Leg, sip_call_id: String, prepared: Prepared) {
    let Leg { dialog, mut states, socket, negotiated, session_id, local, far_end, dial } = leg;
    let rtp = sip.rtp.clone();
    let metrics = shared.metrics.clone();
    let run = move |events: mpsc::Sender<TransportEvent>, commands, recorder| async move {
        let (updates, update_rx) = mpsc::channel(4);
        let mut state = Renegotiation { session_id, version: 1, local, current: negotiated.clone(), updates };
        let to_call = events.clone();
        let media = media::run(socket, negotiated, rtp, events, commands, update_rx, recorder);
        tokio::pin!(media);
        let mut hung_up_by_far_end = false;
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
            }
        };
        let reason = if hung_up_by_far_end {
            format!("the {far_end} hung up (BYE)")
        } else {
            if let Err(e) = dialog.bye().await {
                tracing::warn!(error = %e, "BYE failed");
            }
            end.reason
        };
        sip.layer.remove_dialog(&dialog.id());
        metrics.merge("voxline_rtp_send_lateness_ms", &[], &end.send_lateness);
        TransportEnd { reason, frames_sent: end.frames_sent, media: serde_json::to_value(&end.figures).ok(), dial }
    };
    run_call(shared, "sip", sip_call_id, prepared, run).await;
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
}

impl Renegotiation {
    /// Answers a re-INVITE or UPDATE: a new offer is negotiated and handed to the media
    /// (hold, unhold, codec change); one without SDP gets our current description.
    async fn offer(&mut self, request: &Request, handle: TransactionHandle) {
        let sdp_type = || vec![Header::ContentType("application/sdp".into())];
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
