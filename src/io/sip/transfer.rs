//! Blind transfer by REFER (RFC 3515): once the bot hands a call off, the caller's UA
//! is asked to call the agent target itself, with `X-Voxline-Context` (the handoff
//! packet's id and where to fetch it) carried in the Refer-To URI; its NOTIFYs
//! (`message/sipfrag`) report how that call went. voxline leaves the call (BYE) after
//! the final NOTIFY, or when the transfer is refused or times out.

use std::time::Duration;

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, StatusCode};
use serde::Serialize;

use super::aside::answer_aside;

/// How a transfer went, kept in the call's `summary.transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transfer {
    /// `refer` (blind).
    pub mode: &'static str,
    pub target: String,
    /// `transferred` (the target answered), `refused` (REFER not accepted), `failed`
    /// (the target did not answer or no final NOTIFY came), `timeout`, or
    /// `far_end_left` (the caller's UA hung up before a final NOTIFY).
    pub result: &'static str,
    /// The REFER's response status (202 when accepted).
    pub refer_status: Option<u16>,
    /// The statuses the NOTIFYs reported, in order (100, 180, 200, ...).
    pub progress: Vec<u16>,
    /// The caller's UA left the dialog itself (voxline sends no BYE).
    #[serde(skip)]
    pub caller_left: bool,
}

/// After a final NOTIFY, how long voxline waits for the transferee's own BYE (many UAs
/// send one) before sending its own; it also lets the NOTIFY's 200 go out first.
const LINGER: Duration = Duration::from_secs(1);

/// `X-Voxline-Context` for a handoff: the call, where to fetch its record, and its
/// handoff packet (stored as the bot hands off).
pub fn context(call_id: &str, base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    format!("id={call_id};url={base}/v1/calls/{call_id};handoff={base}/v1/handoffs/{call_id}")
}

/// The Refer-To value: the target URI with the context as an embedded header
/// (RFC 3261 section 19.1.1; escaped as a header value).
pub fn refer_to(target: &str, context: &str) -> String {
    let target = target.trim().trim_start_matches('<').trim_end_matches('>');
    let escaped: String = context
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                (b as char).to_string()
            }
            b'/' | b':' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let separator = if target.contains('?') { '&' } else { '?' };
    format!("<{target}{separator}X-Voxline-Context={escaped}>")
}

/// The status line of a NOTIFY's `message/sipfrag` body (`SIP/2.0 200 OK`).
pub fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim();
    let rest = line.strip_prefix("SIP/2.0")?.trim_start();
    let code: u16 = rest.split_whitespace().next()?.parse().ok()?;
    (100..700).contains(&code).then_some(code)
}

/// Sends the REFER and follows its NOTIFYs for up to `wait`. The in-dialog requests
/// that arrive meanwhile are answered (`ours`: voxline's SDP for a session refresh); the
/// caller leaving ends the wait.
pub(super) async fn blind(
    dialog: &InviteDialog,
    states: &mut DialogStateReceiver,
    ours: &str,
    target: &str,
    context: &str,
    referred_by: Option<String>,
    wait: Duration,
) -> Transfer {
    let mut transfer = Transfer {
        mode: "refer",
        target: target.to_string(),
        result: "failed",
        refer_status: None,
        progress: Vec::new(),
        caller_left: false,
    };
    let refer_to = refer_to(target, context);
    let headers = referred_by.map(|by| vec![Header::Other("Referred-By".into(), by)]);
    match dialog.refer(refer_to, headers, None).await {
        Ok(Some(response)) => {
            let status = u16::from(response.status_code.clone());
            transfer.refer_status = Some(status);
            if !(200..300).contains(&status) {
                tracing::warn!(status, target, "the transfer was refused");
                transfer.result = "refused";
                return transfer;
            }
        }
        Ok(None) => return transfer,
        Err(e) => {
            tracing::warn!(error = %e, target, "REFER failed");
            return transfer;
        }
    }
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        let state = tokio::select! {
            _ = &mut deadline => {
                transfer.result = "timeout";
                return transfer;
            }
            state = states.recv() => state,
        };
        match state {
            Some(DialogState::Notify(_, request, handle)) => {
                let _ = handle.reply(StatusCode::OK).await;
                let Some(code) = sipfrag_status(request.body()) else { continue };
                transfer.progress.push(code);
                if code >= 200 {
                    transfer.result = if code < 300 { "transferred" } else { "failed" };
                    tracing::info!(code, target, result = transfer.result, "transfer finished");
                    transfer.caller_left = linger(states, ours).await;
                    return transfer;
                }
            }
            other => {
                if answer_aside(other, ours).await {
                    transfer.result = "far_end_left";
                    transfer.caller_left = true;
                    return transfer;
                }
            }
        }
    }
}

/// Waits up to [`LINGER`] for the caller's UA to end the dialog; whether it did.
async fn linger(states: &mut DialogStateReceiver, ours: &str) -> bool {
    let wait = tokio::time::sleep(LINGER);
    tokio::pin!(wait);
    loop {
        tokio::select! {
            _ = &mut wait => return false,
            state = states.recv() => if answer_aside(state, ours).await { return true },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_travels_escaped_in_the_refer_to_uri() {
        let ctx = context("c-42", "http://127.0.0.1:8080/");
        assert_eq!(
            ctx,
            "id=c-42;url=http://127.0.0.1:8080/v1/calls/c-42;handoff=http://127.0.0.1:8080/v1/handoffs/c-42"
        );
        assert_eq!(
            refer_to("sip:agents@10.0.0.5:5060", &ctx),
            "<sip:agents@10.0.0.5:5060?X-Voxline-Context=id%3Dc-42%3Burl%3Dhttp://127.0.0.1:8080/v1/calls/c-42\
             %3Bhandoff%3Dhttp://127.0.0.1:8080/v1/handoffs/c-42>"
        );
        assert!(refer_to("<sip:a@h?X-Team=cod>", "id=1").starts_with("<sip:a@h?X-Team=cod&X-Voxline-Context=id%3D1"));
    }

    #[test]
    fn sipfrag_status_lines() {
        assert_eq!(sipfrag_status(b"SIP/2.0 100 Trying\r\n"), Some(100));
        assert_eq!(sipfrag_status(b"SIP/2.0 200 OK"), Some(200));
        assert_eq!(sipfrag_status(b"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n"), Some(486));
        assert_eq!(sipfrag_status(b"HTTP/1.1 200 OK"), None);
        assert_eq!(sipfrag_status(b"SIP/2.0 99999 x"), None);
        assert_eq!(sipfrag_status(&[0xff, 0xfe]), None);
        assert_eq!(sipfrag_status(b""), None);
    }
}
