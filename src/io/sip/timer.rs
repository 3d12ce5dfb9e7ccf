//! RFC 4028 session timers, as a pure negotiation: what an INVITE (or its refresh)
//! asks for, what the 2xx says back, who refreshes, and when a silent session is ended.
//! The leg ([`super::leg`]) keeps the clock.

use std::time::Duration;

use rsipstack::sip::{Header, Request, Response, StatusCode};

use super::stack::warning;

/// The smallest interval voxline accepts (the RFC's floor); smaller asks get 422.
pub const MIN_SE: u64 = 90;

/// The longest interval voxline keeps: a longer ask is lowered to it (a UAS may lower
/// the interval), so a timer's deadline is always a sane instant.
pub const MAX_SE: u64 = 86_400;

/// A session timer both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    /// Seconds the session lives without a refresh.
    pub interval: u64,
    /// Whether voxline sends the refreshes (else the peer must).
    pub we_refresh: bool,
    /// Whether the peer supports the extension (the 2xx then carries `Require: timer`).
    pub peer_supports: bool,
    /// The refresher as written in `Session-Expires` (`uac` or `uas`).
    refresher: &'static str,
}

/// Why a session-timer request cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    /// Answer 422 with `Min-SE: MIN_SE`.
    #[error("Session-Expires {0} s is below our Min-SE {MIN_SE} s")]
    TooSmall(u64),
    /// Answer 400.
    #[error("Session-Expires {0:?} is not a number of seconds")]
    Malformed(String),
}

impl TimerError {
    /// The response refusing the request: 422 with `Min-SE`, or 400; with a Warning.
    pub fn refusal(&self) -> (StatusCode, Vec<Header>) {
        match self {
            TimerError::TooSmall(_) => (
                StatusCode::SessionIntervalTooSmall,
                vec![Header::Other("Min-SE".into(), MIN_SE.to_string()), warning(&self.to_string())],
            ),
            TimerError::Malformed(_) => (StatusCode::BadRequest, vec![warning(&self.to_string())]),
        }
    }
}

/// The headers of a 2xx accepting `session` (none without a timer).
pub fn answer_headers(session: Option<&SessionTimer>) -> Vec<Header> {
    session.iter().flat_map(|s| s.answer_headers()).map(|(k, v)| Header::Other(k.into(), v)).collect()
}

/// What an INVITE, re-INVITE or UPDATE that voxline answers (as its UAS) asks for:
/// `Session-Expires`, `Supported`/`Require`. `None` when it asks for no timer. The
/// peer's choice of refresher is kept; without one the peer refreshes when it supports
/// the extension, else voxline does.
pub fn for_request(
    session_expires: Option<&str>,
    supported: &[String],
    require: &[String],
) -> Result<Option<SessionTimer>, TimerError> {
    let Some(value) = session_expires else { return Ok(None) };
    let (interval, refresher) = parse(value)?;
    if interval < MIN_SE {
        return Err(TimerError::TooSmall(interval));
    }
    let interval = interval.min(MAX_SE);
    let peer_supports = has_timer(supported) || has_timer(require);
    // The request's UAC is the peer; voxline is its UAS.
    let refresher = match refresher {
        Some(r) => r,
        None if peer_supports => "uac",
        None => "uas",
    };
    Ok(Some(SessionTimer { interval, we_refresh: refresher == "uas", peer_supports, refresher }))
}

/// What the 2xx to voxline's own INVITE says (voxline is the UAC): the timer is on
/// only when the 2xx carries `Session-Expires`.
pub fn for_response(session_expires: Option<&str>) -> Result<Option<SessionTimer>, TimerError> {
    let Some(value) = session_expires else { return Ok(None) };
    let (interval, refresher) = parse(value)?;
    // Kept within what voxline would have accepted itself (no refresh storm, no overflow).
    let interval = interval.clamp(MIN_SE, MAX_SE);
    // A 2xx without a refresher leaves it to the UAC (RFC 4028 section 7.2).
    let refresher = refresher.unwrap_or("uac");
    Ok(Some(SessionTimer { interval, we_refresh: refresher == "uac", peer_supports: true, refresher }))
}

/// [`for_request`] of a parsed request (`Session-Expires` or its compact form `x`).
pub fn of_request(request: &Request) -> Result<Option<SessionTimer>, TimerError> {
    let headers = request.headers.iter().map(|h| (h.name().to_string(), h.value().to_string()));
    let (expires, supported, require) = read_headers(headers);
    for_request(expires.as_deref(), &supported, &require)
}

/// [`for_response`] of a parsed 2xx.
pub fn of_response(response: &Response) -> Result<Option<SessionTimer>, TimerError> {
    let headers = response.headers.iter().map(|h| (h.name().to_string(), h.value().to_string()));
    for_response(read_headers(headers).0.as_deref())
}

/// `Session-Expires`, and every `Supported` and `Require` value.
fn read_headers(headers: impl Iterator<Item = (String, String)>) -> (Option<String>, Vec<String>, Vec<String>) {
    let (mut expires, mut supported, mut require) = (None, Vec::new(), Vec::new());
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "session-expires" | "x" => expires = expires.or(Some(value)),
            "supported" | "k" => supported.push(value),
            "require" => require.push(value),
            _ => {}
        }
    }
    (expires, supported, require)
}

/// `N` or `N;refresher=uac|uas` (other parameters ignored).
fn parse(value: &str) -> Result<(u64, Option<&'static str>), TimerError> {
    let mut parts = value.split(';');
    let seconds = parts.next().unwrap_or("").trim();
    let interval = seconds.parse::<u64>().map_err(|_| TimerError::Malformed(value.chars().take(40).collect()))?;
    let refresher = parts.find_map(|p| {
        let (name, v) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("refresher") {
            return None;
        }
        match v.trim().to_ascii_lowercase().as_str() {
            "uac" => Some("uac"),
            "uas" => Some("uas"),
            _ => None,
        }
    });
    Ok((interval, refresher))
}

fn has_timer(options: &[String]) -> bool {
    options.iter().flat_map(|o| o.split(',')).any(|o| o.trim().eq_ignore_ascii_case("timer"))
}

impl SessionTimer {
    /// Headers of the 2xx that accepts it: `Session-Expires` with the refresher, and
    /// `Require: timer` when the peer supports the extension.
    pub fn answer_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("Session-Expires", format!("{};refresher={}", self.interval, self.refresher))];
        if self.peer_supports {
            headers.push(("Require", "timer".into()));
        }
        headers
    }

    /// Headers of a refresh voxline sends (re-INVITE): the same interval, voxline
    /// staying the refresher (the sender of a refresh is its transaction's UAC).
    pub fn refresh_headers(&self) -> Vec<(&'static str, String)> {
        vec![("Session-Expires", format!("{};refresher=uac", self.interval)), ("Supported", "timer".into())]
    }

    /// When voxline refreshes, after the last refresh: half the interval.
    pub fn refresh_after(&self) -> Duration {
        Duration::from_secs(self.interval / 2)
    }

    /// When voxline, not refreshing, ends the session after the last refresh: the
    /// interval less a third of it, at most 32 s early (RFC 4028 section 10).
    pub fn expire_after(&self) -> Duration {
        Duration::from_secs(self.interval - (self.interval / 3).min(32))
    }

    /// The wait from the last refresh to voxline's next action, and whether that
    /// action is a refresh (else the session has expired).
    pub fn next(&self) -> (Duration, bool) {
        if self.we_refresh {
            (self.refresh_after(), true)
        } else {
            (self.expire_after(), false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> Vec<String> {
        vec![s.to_string()]
    }

    #[test]
    fn the_peer_refreshes_when_it_asks_to_or_supports_timers() {
        let t = for_request(Some("1800;refresher=uac"), &list("timer"), &[]).unwrap().unwrap();
        assert_eq!((t.interval, t.we_refresh, t.peer_supports), (1800, false, true));
        assert_eq!(
            t.answer_headers(),
            vec![("Session-Expires", "1800;refresher=uac".to_string()), ("Require", "timer".to_string())]
        );
        let t = for_request(Some("600"), &list("100rel, timer"), &[]).unwrap().unwrap();
        assert!(!t.we_refresh);
        assert_eq!(t.answer_headers()[0].1, "600;refresher=uac");
    }

    #[test]
    fn voxline_refreshes_when_asked_or_when_the_peer_cannot() {
        let t = for_request(Some("120; refresher=UAS"), &list("timer"), &[]).unwrap().unwrap();
        assert!(t.we_refresh);
        assert_eq!(t.next(), (Duration::from_secs(60), true));
        // Session-Expires added by a proxy for a UA without timer support.
        let t = for_request(Some("300"), &[], &[]).unwrap().unwrap();
        assert!(t.we_refresh && !t.peer_supports);
        assert_eq!(t.answer_headers(), vec![("Session-Expires", "300;refresher=uas".to_string())]);
        assert_eq!(
            t.refresh_headers(),
            vec![("Session-Expires", "300;refresher=uac".to_string()), ("Supported", "timer".to_string())]
        );
    }

    #[test]
    fn too_small_or_malformed_intervals_are_refused() {
        assert_eq!(for_request(Some("30"), &list("timer"), &[]), Err(TimerError::TooSmall(30)));
        assert!(matches!(for_request(Some("soon"), &[], &[]), Err(TimerError::Malformed(_))));
        assert!(matches!(for_request(Some(""), &[], &[]), Err(TimerError::Malformed(_))));
        assert_eq!(for_request(None, &list("timer"), &[]), Ok(None));
        assert!(for_request(Some("90"), &[], &list("timer")).unwrap().is_some());
    }

    #[test]
    fn a_silent_session_expires_a_third_early_at_most_32_s() {
        let t = for_request(Some("90;refresher=uac"), &list("timer"), &[]).unwrap().unwrap();
        assert_eq!(t.next(), (Duration::from_secs(60), false));
        let t = for_request(Some("1800;refresher=uac"), &list("timer"), &[]).unwrap().unwrap();
        assert_eq!(t.expire_after(), Duration::from_secs(1768));
    }

    #[test]
    fn a_2xx_to_our_invite_sets_the_timer() {
        assert_eq!(for_response(None), Ok(None));
        assert!(for_response(Some("1800;refresher=uac")).unwrap().unwrap().we_refresh);
        assert!(for_response(Some("1800")).unwrap().unwrap().we_refresh);
        assert!(!for_response(Some("1800;refresher=uas")).unwrap().unwrap().we_refresh);
        assert_eq!(for_response(Some("0;refresher=uac")).unwrap().unwrap().interval, MIN_SE);
    }

    #[test]
    fn huge_intervals_are_lowered() {
        let t = for_request(Some("18446744073709551615"), &list("timer"), &[]).unwrap().unwrap();
        assert_eq!(t.interval, MAX_SE);
        assert_eq!(t.answer_headers()[0].1, "86400;refresher=uac");
        assert_eq!(for_response(Some("99999999999")).unwrap().unwrap().interval, MAX_SE);
    }
}
