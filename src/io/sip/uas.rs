//! The SIP listener of `voxline serve` (rsipstack, UDP and TCP): inbound INVITEs are
//! answered with voxline's SDP and run as calls over RTP; in-dialog requests (BYE,
//! re-INVITE and UPDATE for hold and codec changes, INFO digits, OPTIONS) reach the call;
//! OPTIONS outside a dialog answers trunk keepalives.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::dialog::{Dialog, DialogState};
use rsipstack::sip::{Header, HeadersExt, Method, Request, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transaction::TransactionReceiver;
use tracing::Instrument;

use super::leg::{self, Leg};
use super::sdp::{self, Negotiated};
use super::stack::{warning, Sip};
use super::timer;
use crate::io::rtp::session::RtpSocket;
use crate::io::serve::{admit, refused, resolve, Prepared, Shared};
use crate::server::config::parse_duration;

/// Takes the endpoint's transactions: in-dialog requests go to their dialog (inbound or
/// outbound), new INVITEs become calls, OPTIONS answers trunk keepalives.
pub(super) async fn serve_incoming(sip: Arc<Sip>, shared: Arc<Shared>, mut incoming: TransactionReceiver) {
    while let Some(mut tx) = incoming.recv().await {
        // In-dialog requests go to their dialog, which reports them to the call.
        if let Some(Dialog::Invite(mut dialog)) = sip.layer.match_dialog(&tx) {
            tokio::spawn(async move {
                if let Err(e) = dialog.handle(&mut tx).await {
                    tracing::debug!(error = %e, "in-dialog request");
                }
            });
            continue;
        }
        let (sip, shared) = (sip.clone(), shared.clone());
        tokio::spawn(async move {
            let reply = match tx.original.method {
                Method::Invite => return inbound(sip, shared, tx).await,
                // Trunk keepalive.
                Method::Options => StatusCode::OK,
                Method::Ack => return,
                Method::Bye | Method::Cancel | Method::Update | Method::Info | Method::Refer | Method::Notify => {
                    StatusCode::CallTransactionDoesNotExist
                }
                _ => StatusCode::MethodNotAllowed,
            };
            let allow = Header::Other("Allow".into(), "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, NOTIFY".into());
            let _ = tx.reply_with(reply, vec![allow], None).await;
        });
    }
}

/// What voxline reads from an INVITE: which call it asks for, and its offer.
#[derive(Debug)]
pub struct InviteRequest {
    pub sip_call_id: String,
    pub to_user: String,
    pub from_user: String,
    /// `X-Voxline-Call-Id`: a call made with `POST /v1/calls`.
    pub call_id: Option<String>,
    /// `X-Voxline-Flow` and `X-Voxline-Context` (JSON).
    pub flow: Option<String>,
    pub context: Option<String>,
    pub offer: Result<Negotiated, sdp::SdpError>,
}

/// Reads an INVITE (pure: the fuzz target runs any parsed request through it).
pub fn read_invite(request: &Request) -> InviteRequest {
    let user = |uri: Option<rsipstack::sip::Uri>| uri.and_then(|u| u.auth).map(|a| a.user).unwrap_or_default();
    let offer = String::from_utf8_lossy(request.body());
    InviteRequest {
        sip_call_id: request.call_id_header().map(|c| c.value().to_string()).unwrap_or_default(),
        to_user: user(request.to_header().ok().and_then(|t| t.uri().ok())),
        from_user: user(request.from_header().ok().and_then(|f| f.uri().ok())),
        call_id: request.header_value("X-Voxline-Call-Id"),
        flow: request.header_value("X-Voxline-Flow"),
        context: request.header_value("X-Voxline-Context"),
        offer: sdp::parse(&offer).and_then(|o| sdp::negotiate(&o)),
    }
}

/// Answers an INVITE with a failure; `kind` is the refusal metric's reason (None when
/// admission already counted it).
async fn refuse(tx: &mut Transaction, status: StatusCode, reason: &str, kind: Option<&str>, shared: &Shared) {
    tracing::warn!(status = u16::from(status.clone()), reason, "refused an INVITE");
    if let Some(kind) = kind {
        refused(shared, "sip", kind);
    }
    let mut headers = vec![warning(reason)];
    if status == StatusCode::ServiceUnavailable {
        headers.push(Header::Other("Retry-After".into(), "5".into()));
    }
    let _ = tx.reply_with(status, headers, None).await;
}

/// An inbound call: checks, answer, then the call over RTP until either side ends it.
async fn inbound(sip: Arc<Sip>, shared: Arc<Shared>, mut tx: Transaction) {
    let invite = read_invite(&tx.original);
    let sip_call_id = invite.sip_call_id.clone();
    if shared.draining.load(Ordering::SeqCst) {
        return refuse(&mut tx, StatusCode::ServiceUnavailable, "shutting down", Some("draining"), &shared).await;
    }
    let Ok(live) = admit(&shared, "sip") else {
        return refuse(&mut tx, StatusCode::ServiceUnavailable, "at capacity", None, &shared).await;
    };
    let negotiated = match invite.offer.clone() {
        Ok(n) => n,
        Err(e) => {
            return refuse(&mut tx, StatusCode::NotAcceptableHere, &e.to_string(), Some("bad_sdp"), &shared).await;
        }
    };
    let timer = match timer::of_request(&tx.original) {
        Ok(timer) => timer,
        Err(e) => {
            let (status, headers) = e.refusal();
            let code = u16::from(status.clone());
            refused(&shared, "sip", if code == 422 { "session_interval" } else { "bad_timer" });
            tracing::warn!(reason = %e, "refused an INVITE status={code}");
            let _ = tx.reply_with(status, headers, None).await;
            return;
        }
    };
    let (prepared, answer_after) = match choose(&sip, &shared, &invite).await {
        Ok(chosen) => chosen,
        Err((status, reason)) => return refuse(&mut tx, status, &reason, Some("bad_parameters"), &shared).await,
    };
    let socket = match RtpSocket::bind(&sip.ports, sip.media_ip).await {
        Ok(s) => s,
        Err(e) => {
            return refuse(&mut tx, StatusCode::ServiceUnavailable, &e.to_string(), Some("no_rtp_port"), &shared).await;
        }
    };
    let (state_tx, mut states) = sip.layer.new_dialog_state_channel();
    let contact = contact_uri(&sip, &tx);
    let dialog = match sip.layer.get_or_create_server_invite(&tx, state_tx, None, contact) {
        Ok(d) => d,
        Err(e) => {
            return refuse(&mut tx, StatusCode::ServerInternalError, &e.to_string(), Some("dialog"), &shared).await
        }
    };
    let span = tracing::info_span!("call", call = %prepared.id, transport = "sip");
    // The INVITE transaction: 100 Trying now, then the ACK or a CANCEL (answered 487).
    let mut invite = dialog.clone();
    tokio::spawn(async move { invite.handle(&mut tx).await }.in_current_span());

    if !answer_after.is_zero() {
        let _ = dialog.ringing(None, None);
        let ring = tokio::time::sleep(answer_after);
        tokio::pin!(ring);
        loop {
            tokio::select! {
                _ = &mut ring => break,
                state = states.recv() => match state {
                    Some(DialogState::Terminated(..)) | None => {
                        tracing::info!(parent: &span, sip_call_id, "the caller cancelled before the answer");
                        sip.layer.remove_dialog(&dialog.id());
                        return;
                    }
                    Some(_) => {}
                },
            }
        }
    }
    let session_id = uuid::Uuid::new_v4().as_u128() as u64 >> 2;
    let local = (sip.public_ip, socket.local.port());
    let answer = sdp::write(&negotiated, local, session_id, 1);
    let mut headers = vec![Header::ContentType("application/sdp".into())];
    headers.extend(timer::answer_headers(timer.as_ref()));
    if let Err(e) = dialog.accept(Some(headers), Some(answer.into_bytes())) {
        tracing::warn!(parent: &span, error = %e, "could not answer the call");
        sip.layer.remove_dialog(&dialog.id());
        return;
    }
    tracing::info!(parent: &span, sip_call_id, codec = ?negotiated.codec, ptime = negotiated.ptime, "answered");
    let leg = Leg {
        dialog,
        states,
        socket,
        negotiated,
        session_id,
        local,
        far_end: "caller",
        dial: None,
        timer,
        digits: None,
    };
    leg::run(shared, sip, leg, sip_call_id, prepared).instrument(span).await;
    drop(live);
}

/// Which call an INVITE runs: `X-Voxline-Call-Id` (a call made by `POST /v1/calls`),
/// `X-Voxline-Flow` with `X-Voxline-Context` (JSON), or the dialplan entry for the To
/// user. Also how long to ring first.
async fn choose(
    sip: &Sip,
    shared: &Shared,
    invite: &InviteRequest,
) -> Result<(Prepared, Duration), (StatusCode, String)> {
    let mut params = BTreeMap::new();
    let mut answer_after = sip.answer_after;
    let origin = if let Some(id) = &invite.call_id {
        params.insert("call_id".to_string(), id.clone());
        "X-Voxline-Call-Id"
    } else if let Some(flow) = &invite.flow {
        params.insert("flow".to_string(), flow.clone());
        params.insert("context".to_string(), invite.context.clone().unwrap_or_else(|| "{}".into()));
        "X-Voxline-Flow"
    } else {
        let user = &invite.to_user;
        let entry = shared.cfg.sip.dialplan.iter().find(|e| &e.user == user).ok_or_else(|| {
            (StatusCode::NotFound, format!("no dialplan entry for {user:?} and no X-Voxline-Call-Id or X-Voxline-Flow"))
        })?;
        params.insert("flow".to_string(), entry.flow.clone());
        let context = if entry.context.is_null() { serde_json::json!({}) } else { entry.context.clone() };
        params.insert("context".to_string(), context.to_string());
        if let Some(after) = &entry.answer_after {
            answer_after = parse_duration(after).expect("validated");
        }
        "sip.dialplan"
    };
    // SIP peers are trusted by network (the listener's address and the trunk's ACL): no token.
    let prepared = resolve(shared, &params, origin, true).await.map_err(|e| (StatusCode::BadRequest, e))?;
    Ok((prepared, answer_after))
}

/// Our Contact for an inbound call: over TCP when the INVITE came over TCP.
fn contact_uri(sip: &Sip, tx: &Transaction) -> Option<rsipstack::sip::Uri> {
    let tcp = tx.connection.as_ref().is_some_and(|c| !matches!(c.transport(), rsipstack::sip::Transport::Udp));
    sip.contact(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_from_sipp_is_read() {
        let text = "INVITE sip:cod@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
            From: \"Priya\" <sip:+919812345678@127.0.0.1:5070>;tag=1\r\nTo: <sip:cod@127.0.0.1:5060>\r\n\
            Call-ID: 1-2@127.0.0.1\r\nCSeq: 1 INVITE\r\nX-Voxline-Flow: cod\r\n\
            X-Voxline-Context: {\"order\": {\"id\": \"A1\"}}\r\nContent-Type: application/sdp\r\n\
            Content-Length: 86\r\n\r\nv=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
            t=0 0\r\nm=audio 6000 RTP/AVP 8\r\n";
        let rsipstack::sip::SipMessage::Request(request) = rsipstack::sip::SipMessage::try_from(text).unwrap() else {
            panic!("a request")
        };
        let invite = read_invite(&request);
        assert_eq!((invite.to_user.as_str(), invite.from_user.as_str()), ("cod", "+919812345678"));
        assert_eq!((invite.sip_call_id.as_str(), invite.flow.as_deref()), ("1-2@127.0.0.1", Some("cod")));
        assert_eq!(invite.context.as_deref(), Some("{\"order\": {\"id\": \"A1\"}}"));
        assert_eq!(invite.offer.unwrap().codec, sdp::G711::Pcma);
    }
}
