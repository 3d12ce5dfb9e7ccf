//! The SIP listener of `voxline serve` (rsipstack, UDP and TCP): inbound INVITEs are
//! answered with voxline's SDP and run as calls over RTP; in-dialog requests (BYE,
//! re-INVITE and UPDATE for hold and codec changes, INFO digits, OPTIONS) reach the call;
//! OPTIONS outside a dialog answers trunk keepalives.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::dialog::{Dialog, DialogState, TransactionHandle};
use rsipstack::sip::{Header, HeadersExt, Method, Request, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transaction::TransactionReceiver;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::TransportLayer;
use rsipstack::EndpointBuilder;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::sdp::{self, Direction, Negotiated};
use crate::io::driver::TransportEvent;
use crate::io::rtp::ports::PortPool;
use crate::io::rtp::session::{self as media, MediaUpdate, RtpConfig, RtpSocket};
use crate::io::serve::{admit, refused, resolve, run_call, ServeError, Shared, TransportEnd};
use crate::server::config::parse_duration;

/// What every SIP call shares.
struct Sip {
    shared: Arc<Shared>,
    layer: Arc<rsipstack::dialog::dialog_layer::DialogLayer>,
    ports: Arc<PortPool>,
    /// The address in our SDP and Contact, and the SIP port.
    public_ip: IpAddr,
    port: u16,
    /// Where RTP sockets bind.
    media_ip: IpAddr,
    rtp: RtpConfig,
    answer_after: Duration,
}

/// Starts the SIP listener when `sip.listen` is set; returns the bound address.
pub async fn start(shared: Arc<Shared>) -> Result<Option<SocketAddr>, ServeError> {
    let cfg = &shared.cfg.sip;
    if cfg.listen.is_empty() {
        return Ok(None);
    }
    let listen: SocketAddr = cfg.listen.parse().expect("validated");
    let listen_err = |e: String| ServeError::Listen { addr: cfg.listen.clone(), source: std::io::Error::other(e) };
    let token = rsipstack::platform::CancellationToken::new();
    let transports = TransportLayer::new(token.clone());
    let udp = UdpConnection::create_connection(listen, None, Some(token.child_token()))
        .await
        .map_err(|e| listen_err(e.to_string()))?;
    let bound = udp.get_addr().get_socketaddr().map_err(|e| listen_err(e.to_string()))?;
    // TCP on the same port: bound here first so a taken port fails at start.
    std::net::TcpListener::bind(bound).map_err(|e| listen_err(format!("TCP: {e}")))?;
    let tcp = TcpListenerConnection::new(bound, None).await.map_err(|e| listen_err(e.to_string()))?;
    transports.add_transport(udp.into());
    transports.add_transport(tcp.into());
    let option = rsipstack::transaction::endpoint::EndpointOption {
        callid_suffix: Some("voxline".into()),
        ..Default::default()
    };
    let endpoint = EndpointBuilder::new()
        .with_user_agent(concat!("voxline/", env!("CARGO_PKG_VERSION")))
        .with_cancel_token(token)
        .with_transport_layer(transports)
        .with_option(option)
        .build();
    let incoming = endpoint.incoming_transactions().map_err(|e| listen_err(e.to_string()))?;
    let layer = Arc::new(rsipstack::dialog::dialog_layer::DialogLayer::new(endpoint.inner.clone()));
    let public_ip = match cfg.public_ip.as_str() {
        "" => bound.ip(),
        ip => ip.parse().expect("validated"),
    };
    let sip = Arc::new(Sip {
        ports: PortPool::parse(&cfg.rtp_ports).expect("validated"),
        rtp: RtpConfig {
            timeout: parse_duration(&cfg.rtp_timeout).expect("validated"),
            report_every: Duration::from_secs(5),
            cname: format!("voxline@{public_ip}"),
        },
        answer_after: parse_duration(&cfg.answer_after).expect("validated"),
        public_ip,
        port: bound.port(),
        media_ip: bound.ip(),
        layer,
        shared,
    });
    tokio::spawn(async move { endpoint.serve().await });
    tokio::spawn(serve_incoming(sip, incoming));
    Ok(Some(bound))
}

async fn serve_incoming(sip: Arc<Sip>, mut incoming: TransactionReceiver) {
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
        let sip = sip.clone();
        tokio::spawn(async move {
            let reply = match tx.original.method {
                Method::Invite => return inbound(sip, tx).await,
                // Trunk keepalive.
                Method::Options => StatusCode::OK,
                Method::Ack => return,
                Method::Bye | Method::Cancel | Method::Update | Method::Info | Method::Refer | Method::Notify => {
                    StatusCode::CallTransactionDoesNotExist
                }
                _ => StatusCode::MethodNotAllowed,
            };
            let allow = Header::Other("Allow".into(), "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO".into());
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

/// `Warning: 399 voxline "why"` (RFC 3261 section 20.43), for a refusal's reason.
fn warning(reason: &str) -> Header {
    let text: String = reason.chars().filter(|c| *c != '"' && !c.is_control()).take(200).collect();
    Header::Other("Warning".into(), format!("399 voxline \"{text}\""))
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
async fn inbound(sip: Arc<Sip>, mut tx: Transaction) {
    let shared = sip.shared.clone();
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
    let (prepared, answer_after) = match choose(&sip, &invite).await {
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
    let sdp_type = || Header::ContentType("application/sdp".into());
    if let Err(e) = dialog.accept(Some(vec![sdp_type()]), Some(answer.into_bytes())) {
        tracing::warn!(parent: &span, error = %e, "could not answer the call");
        sip.layer.remove_dialog(&dialog.id());
        return;
    }
    tracing::info!(parent: &span, sip_call_id, codec = ?negotiated.codec, ptime = negotiated.ptime, "answered");
    let rtp = sip.rtp.clone();
    let layer = sip.layer.clone();
    let metrics = shared.metrics.clone();
    let run = move |events: mpsc::Sender<TransportEvent>, commands, recorder| async move {
        let (updates, update_rx) = mpsc::channel(4);
        let mut state = Renegotiation { session_id, version: 1, local, current: negotiated.clone(), updates };
        let to_call = events.clone();
        let media = media::run(socket, negotiated, rtp, events, commands, update_rx, recorder);
        tokio::pin!(media);
        let mut hung_up_by_caller = false;
        let mut signalling = true;
        let end = loop {
            tokio::select! {
                end = &mut media => break end,
                s = states.recv(), if signalling => match s {
                    Some(DialogState::Terminated(_, reason)) => {
                        tracing::info!(?reason, "dialog ended");
                        hung_up_by_caller = true;
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
        let reason = if hung_up_by_caller {
            "the caller hung up (BYE)".to_string()
        } else {
            if let Err(e) = dialog.bye().await {
                tracing::warn!(error = %e, "BYE failed");
            }
            end.reason
        };
        layer.remove_dialog(&dialog.id());
        metrics.merge("voxline_rtp_send_lateness_ms", &[], &end.send_lateness);
        TransportEnd { reason, frames_sent: end.frames_sent, media: serde_json::to_value(&end.figures).ok() }
    };
    run_call(shared, "sip", sip_call_id, prepared, run).instrument(span).await;
    drop(live);
}

/// Which call an INVITE runs: `X-Voxline-Call-Id` (a call made by `POST /v1/calls`),
/// `X-Voxline-Flow` with `X-Voxline-Context` (JSON), or the dialplan entry for the To
/// user. Also how long to ring first.
async fn choose(
    sip: &Sip,
    invite: &InviteRequest,
) -> Result<(crate::io::serve::Prepared, Duration), (StatusCode, String)> {
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
        let entry = sip.shared.cfg.sip.dialplan.iter().find(|e| &e.user == user).ok_or_else(|| {
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
    let prepared = resolve(&sip.shared, &params, origin, true).await.map_err(|e| (StatusCode::BadRequest, e))?;
    Ok((prepared, answer_after))
}

/// `sip:voxline@PUBLIC_IP:PORT`, with `;transport=tcp` for a call that came over TCP.
fn contact_uri(sip: &Sip, tx: &Transaction) -> Option<rsipstack::sip::Uri> {
    let tcp = tx.connection.as_ref().is_some_and(|c| !matches!(c.transport(), rsipstack::sip::Transport::Udp));
    let host = match sip.public_ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let uri = format!("sip:voxline@{host}:{}{}", sip.port, if tcp { ";transport=tcp" } else { "" });
    rsipstack::sip::Uri::try_from(uri.as_str()).ok()
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
