//! In-dialog requests while the bot is off the call (a transfer being followed, a
//! bridge): a session refresh must succeed or the peer hangs up, so it gets voxline's
//! unchanged SDP and the timer it asks for; no transfers of the peer's own; the rest is
//! accepted. Also the session-timer check every re-INVITE and UPDATE goes through.

use rsipstack::dialog::dialog::{DialogState, TransactionHandle};
use rsipstack::sip::{Header, Method, Request, StatusCode};

use super::timer::{self, SessionTimer};

/// Answers one request; `ours` is voxline's SDP on this leg. True when the dialog ended.
pub(super) async fn answer_aside(state: Option<DialogState>, ours: &str) -> bool {
    let (handle, status) = match state {
        Some(DialogState::Terminated(..)) | None => return true,
        Some(DialogState::Updated(_, request, handle)) => {
            keep_session(&request, handle, ours).await;
            return false;
        }
        Some(DialogState::Refer(_, _, handle)) => (handle, StatusCode::NotImplemented),
        Some(DialogState::Notify(_, _, handle))
        | Some(DialogState::Info(_, _, handle))
        | Some(DialogState::Options(_, _, handle))
        | Some(DialogState::Message(_, _, handle)) => (handle, StatusCode::OK),
        Some(_) => return false,
    };
    let _ = handle.reply(status).await;
    false
}

/// The session timer a re-INVITE or UPDATE asks for; a request whose timer voxline
/// refuses is answered here (422 or 400) and gives `None`.
pub(super) async fn requested_timer(request: &Request, handle: &TransactionHandle) -> Option<Option<SessionTimer>> {
    match timer::of_request(request) {
        Ok(session) => Some(session),
        Err(e) => {
            let (status, headers) = e.refusal();
            let _ = handle.respond(status, Some(headers), None).await;
            None
        }
    }
}

/// A re-INVITE or UPDATE answered with `ours` unchanged (an UPDATE without an offer gets
/// no SDP back); a change it carries (hold, codec) is not taken up.
async fn keep_session(request: &Request, handle: TransactionHandle, ours: &str) {
    let Some(session) = requested_timer(request, &handle).await else { return };
    let mut headers = timer::answer_headers(session.as_ref());
    let body = if request.method == Method::Update && request.body().is_empty() {
        None
    } else {
        headers.push(Header::ContentType("application/sdp".into()));
        Some(ours.as_bytes().to_vec())
    };
    let _ = handle.respond(StatusCode::OK, Some(headers), body).await;
}
