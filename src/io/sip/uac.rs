//! Outbound calls through a `[[trunk]]`: INVITE with our offer (digest auth on 401/407),
//! early media listened to and not answered into, CANCEL at the trunk's ring timeout,
//! and the final response mapped to the result the campaign engine schedules by
//! (`answered`, `busy`, `no_answer`, `rejected`, `failed`). An answered call runs its
//! flow over RTP like an inbound one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::DialogState;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::sip::Header;
use rsipstack::transport::SipAddr;
use serde_json::json;
use tokio::time::Instant;
use tracing::Instrument;

use super::leg::{self, Leg};
use super::sdp;
use super::stack::Sip;
use super::timer;
use crate::io::rtp::session::RtpSocket;
use crate::io::serve::{admit, Live, Prepared, Shared};
use crate::media::amd::AmdConfig;
use crate::server::config::Trunk;
use crate::storage::{timestamp, EndedDial};

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("dial: SIP is off (sip.listen is empty)")]
    NoSip,
    #[error("dial.trunk: no trunk {name:?} (trunks: {known})")]
    UnknownTrunk { name: String, known: String },
    #[error("dial.to: {0:?} is not a number or SIP user (e.g. +919812345678)")]
    BadNumber(String),
    #[error("dial.digits: {0:?}: only 0-9 * # A-D, and w or , to pause")]
    BadDigits(String),
    #[error("dial.trunk: {trunk} is at its max_calls ({max})")]
    TrunkFull { trunk: String, max: u32 },
    #[error("at capacity ({0}), try again later")]
    AtCapacity(&'static str),
    #[error("shutting down")]
    Draining,
}

impl DialError {
    /// Whether a retry later may succeed (the API answers 503 rather than 400).
    pub fn is_busy(&self) -> bool {
        matches!(self, DialError::TrunkFull { .. } | DialError::AtCapacity(_) | DialError::Draining)
    }
}

/// A trunk's limits: concurrent calls, and calls per second paced by start slots.
pub struct TrunkGate {
    pub(super) cfg: Trunk,
    active: AtomicUsize,
    next_slot: Mutex<Option<Instant>>,
}

/// A call counted against its trunk's `max_calls`.
struct TrunkSlot(Arc<TrunkGate>);

impl Drop for TrunkSlot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl TrunkGate {
    pub fn new(cfg: Trunk) -> Self {
        TrunkGate { cfg, active: AtomicUsize::new(0), next_slot: Mutex::new(None) }
    }

    /// Calls this trunk can take now (`unlimited` when it sets no max_calls).
    pub fn room(&self, unlimited: usize) -> usize {
        match self.cfg.max_calls as usize {
            0 => unlimited,
            max => max.saturating_sub(self.active.load(Ordering::SeqCst)),
        }
    }

    fn acquire(self: &Arc<Self>) -> Option<TrunkSlot> {
        let max = self.cfg.max_calls as usize;
        if self.active.fetch_add(1, Ordering::SeqCst) >= max && max > 0 {
            self.active.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(TrunkSlot(self.clone()))
    }

    /// When this call may be sent: at most `cps` INVITEs per second, in order.
    fn start_at(&self, now: Instant) -> Instant {
        if self.cfg.cps <= 0.0 {
            return now;
        }
        let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
        let at = next.map_or(now, |n| n.max(now));
        *next = Some(at + Duration::from_secs_f64(1.0 / self.cfg.cps));
        at
    }
}

/// A dial request: the trunk and the number, for a call already created (pending).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DialTarget {
    pub trunk: String,
    pub to: String,
    /// Sent as RFC 4733 key presses once the call is answered (an extension, an IVR
    /// choice): `0-9 * # A-D`, `w` or `,` pausing half a second.
    #[serde(default)]
    pub digits: String,
}

/// A dial that passed its checks and holds its places (trunk and server capacity);
/// [`Dial::start`] sends it.
pub struct Dial {
    sip: Arc<Sip>,
    gate: Arc<TrunkGate>,
    to: String,
    digits: String,
    slot: TrunkSlot,
    live: Live,
}

/// Checks a dial before its call is created: SIP on, the trunk known, the number
/// plausible, room on the trunk and the server.
pub fn check(shared: &Arc<Shared>, target: &DialTarget) -> Result<Dial, DialError> {
    let sip = shared.sip.get().cloned().ok_or(DialError::NoSip)?;
    let gate = sip.trunks.get(&target.trunk).cloned().ok_or_else(|| DialError::UnknownTrunk {
        name: target.trunk.clone(),
        known: sip.trunks.keys().cloned().collect::<Vec<_>>().join(", "),
    })?;
    let to = target.to.trim();
    let plausible = |c: char| c.is_ascii_alphanumeric() || "+-._*#".contains(c);
    if to.is_empty() || to.len() > 64 || !to.chars().all(plausible) {
        return Err(DialError::BadNumber(target.to.clone()));
    }
    if target.digits.len() > 64 || !crate::io::rtp::dtmf::valid_digits(&target.digits) {
        return Err(DialError::BadDigits(target.digits.clone()));
    }
    if shared.draining.load(Ordering::SeqCst) {
        return Err(DialError::Draining);
    }
    let slot = gate.acquire().ok_or(DialError::TrunkFull { trunk: gate.cfg.name.clone(), max: gate.cfg.max_calls })?;
    let live = admit(shared, "sip").map_err(DialError::AtCapacity)?;
    Ok(Dial { sip, gate, to: to.to_string(), digits: target.digits.clone(), slot, live })
}

impl Dial {
    /// Dials in the background; the call's record follows it (ringing, then its result,
    /// then the call itself when answered).
    pub(in crate::io) fn start(self, shared: Arc<Shared>, prepared: Prepared) {
        let span = tracing::info_span!("call", call = %prepared.id, transport = "sip", trunk = %self.gate.cfg.name);
        tokio::spawn(self.run(shared, prepared).instrument(span));
    }

    async fn run(self, shared: Arc<Shared>, mut prepared: Prepared) {
        let Dial { sip, gate, to, digits, slot, live } = self;
        let id = prepared.id.clone();
        let began = Instant::now();
        let trunk = &gate.cfg;
        let mut dial = json!({"trunk": trunk.name, "to": to});
        if !digits.is_empty() {
            dial["digits"] = json!(digits);
        }
        let end = |result: &str, closed: String, dial: serde_json::Value| {
            let store = shared.store.clone();
            let (id, result) = (id.clone(), result.to_string());
            tracing::info!(result, closed, "dial ended");
            shared.metrics.inc("voxline_dials_total", &[("trunk", &gate.cfg.name), ("result", &result)]);
            let ended = EndedDial { ended_at: timestamp(chrono::Utc::now()), closed, summary: json!({ "dial": dial }) };
            async move {
                if let Err(e) = store.dial_result(id, result, Some(ended)).await {
                    tracing::error!(error = %e, "dial result not written");
                }
            }
        };
        tokio::time::sleep_until(gate.start_at(began)).await;
        let socket = match RtpSocket::bind(&sip.ports, sip.media_ip).await {
            Ok(s) => s,
            Err(e) => return end("failed", format!("no RTP port: {e}"), dial).await,
        };
        let session_id = uuid::Uuid::new_v4().as_u128() as u64 >> 2;
        let local = (sip.public_ip, socket.local.port());
        let option = match invite_option(&sip, trunk, &to, &prepared, sdp::offer(local, session_id)) {
            Ok(o) => o,
            Err(e) => return end("failed", e, dial).await,
        };
        let (state_tx, mut states) = sip.layer.new_dialog_state_channel();
        let (dialog, mut invite) = match sip.layer.do_invite_async(option, state_tx) {
            Ok(pair) => pair,
            Err(e) => return end("failed", format!("INVITE not sent: {e}"), dial).await,
        };
        let sip_call_id = dialog.id().call_id.clone();
        dial["sip_call_id"] = json!(sip_call_id);
        if let Err(e) = shared.store.call_ringing(id.clone(), "sip".into(), sip_call_id.clone()).await {
            tracing::error!(error = %e, "call record not marked ringing");
        }
        tracing::info!(sip_call_id, to, "dialling");

        // Until the final response: provisional responses, early media (read and
        // dropped: nothing is sent into it), the ring timeout, and a shutdown.
        let ring = tokio::time::sleep(trunk.ring_timeout());
        tokio::pin!(ring);
        let mut stop = shared.stop.clone();
        let (mut cancelled, mut early_packets, mut ringing_at) = (None::<&str>, 0u64, None::<Instant>);
        let mut last_provisional = None::<u16>;
        let finished = loop {
            tokio::select! {
                done = &mut invite => break done,
                _ = &mut ring, if cancelled.is_none() => {
                    cancelled = Some("ring timeout");
                    if let Err(e) = dialog.cancel().await {
                        tracing::warn!(error = %e, "CANCEL failed");
                    }
                }
                _ = async { drop(stop.wait_for(|s| *s).await) }, if cancelled.is_none() => {
                    cancelled = Some("shutdown");
                    let _ = dialog.cancel().await;
                }
                state = states.recv() => {
                    if let Some(DialogState::Early(_, response)) = state {
                        let status = u16::from(response.status_code.clone());
                        ringing_at.get_or_insert_with(Instant::now);
                        if last_provisional != Some(status) {
                            tracing::info!(status, early_media = !response.body().is_empty(), "provisional response");
                        }
                        last_provisional = Some(status);
                    }
                }
                got = socket.discard_early() => {
                    if got.is_ok() {
                        early_packets += 1;
                    }
                }
            }
        };
        let ms = |at: Instant| at.duration_since(began).as_millis() as u64;
        dial["early_media_packets"] = json!(early_packets);
        dial["ring_ms"] = json!(ringing_at.map(ms));
        let (dialog_id, response) = match finished {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return end("failed", format!("dial failed: {e}"), dial).await,
            Err(e) => return end("failed", format!("dial task failed: {e}"), dial).await,
        };
        let status = response.as_ref().map(|r| u16::from(r.status_code.clone()));
        dial["status"] = json!(status);
        dial["answer_ms"] = json!(ms(Instant::now()));
        let result = result_for(status, cancelled == Some("ring timeout"));
        let reason = response.as_ref().map(|r| r.status_code.to_string()).unwrap_or_else(|| "no response".into());
        if result != "answered" {
            let why = cancelled.map_or(reason.clone(), |c| format!("{c}, cancelled ({reason})"));
            return end(result, format!("{result}: {why}"), dial).await;
        }
        let response = response.expect("answered");
        let answer = String::from_utf8_lossy(response.body()).to_string();
        let negotiated = match sdp::parse(&answer).and_then(|a| sdp::negotiate(&a)) {
            Ok(n) => n,
            Err(e) => {
                let _ = dialog.bye().await;
                sip.layer.remove_dialog(&dialog_id);
                return end("failed", format!("failed: the answer's SDP is unusable: {e}"), dial).await;
            }
        };
        tracing::info!(codec = ?negotiated.codec, ptime = negotiated.ptime, "answered");
        shared.metrics.inc("voxline_dials_total", &[("trunk", &trunk.name), ("result", "answered")]);
        if let Err(e) = shared.store.dial_result(id.clone(), "answered".into(), None).await {
            tracing::error!(error = %e, "dial result not written");
        }
        if trunk.amd {
            prepared.call.detect_answering_machine(AmdConfig::default());
        }
        // The callee may set a session timer in its 2xx (RFC 4028).
        let timer = timer::of_response(&response).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring the answer's Session-Expires");
            None
        });
        let digits = (!digits.is_empty()).then_some(digits);
        let (far_end, dial) = ("callee", Some(dial));
        let leg = Leg { dialog, states, socket, negotiated, session_id, local, far_end, dial, timer, digits };
        leg::run(shared, sip.clone(), leg, sip_call_id, prepared).await;
        sip.layer.remove_dialog(&dialog_id);
        drop((slot, live));
    }
}

/// The INVITE for a call to `to` through `trunk`.
fn invite_option(
    sip: &Sip,
    trunk: &Trunk,
    to: &str,
    prepared: &Prepared,
    offer: String,
) -> Result<InviteOption, String> {
    let tcp = trunk.transport == "tcp";
    let uri = |text: String| rsipstack::sip::Uri::try_from(text.as_str()).map_err(|e| format!("{text}: {e}"));
    let caller_id = trunk.caller_id(&prepared.flow);
    let callee = uri(format!("sip:{to}@{}:{}{}", trunk.host, trunk.port, if tcp { ";transport=tcp" } else { "" }))?;
    let destination = SipAddr::try_from(&callee).map_err(|e| e.to_string())?;
    let credential = (!trunk.username.is_empty()).then(|| Credential {
        username: trunk.username.clone(),
        password: trunk.password.clone(),
        ..Default::default()
    });
    let identity = format!("<sip:{caller_id}@{}>", trunk.host);
    Ok(InviteOption {
        caller: uri(format!("sip:{caller_id}@{}", sip.host()))?,
        callee,
        destination: Some(destination),
        content_type: Some("application/sdp".into()),
        offer: Some(offer.into_bytes()),
        contact: sip.contact(tcp).ok_or("no Contact URI for our address")?,
        credential,
        headers: Some(vec![
            Header::Other("P-Asserted-Identity".into(), identity),
            Header::Other("X-Voxline-Call-Id".into(), prepared.id.clone()),
        ]),
        ..Default::default()
    })
}

/// The result of a dial from its final response (`None`: no response at all) and
/// whether voxline cancelled it at the ring timeout.
pub fn result_for(status: Option<u16>, ring_timed_out: bool) -> &'static str {
    match status {
        _ if ring_timed_out && !status.is_some_and(|s| (200..300).contains(&s)) => "no_answer",
        None => "failed",
        Some(200..=299) => "answered",
        Some(486 | 600) => "busy",
        Some(480 | 408) => "no_answer",
        // Challenges left standing: no credentials, or the wrong ones.
        Some(401 | 407) => "failed",
        Some(500..=599) => "failed",
        Some(_) => "rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_responses_map_to_results() {
        let cases = [
            (Some(200), false, "answered"),
            (Some(486), false, "busy"),
            (Some(600), false, "busy"),
            (Some(480), false, "no_answer"),
            (Some(408), false, "no_answer"),
            (Some(487), true, "no_answer"),
            (None, true, "no_answer"),
            (Some(200), true, "answered"),
            (Some(603), false, "rejected"),
            (Some(404), false, "rejected"),
            (Some(487), false, "rejected"),
            (Some(401), false, "failed"),
            (Some(407), false, "failed"),
            (Some(503), false, "failed"),
            (None, false, "failed"),
        ];
        for (status, timed_out, want) in cases {
            assert_eq!(result_for(status, timed_out), want, "{status:?} timed out {timed_out}");
        }
    }

    fn trunk(max_calls: u32, cps: f64) -> Trunk {
        let text = format!("name = \"t\"\nhost = \"h\"\nfrom = \"1\"\nmax_calls = {max_calls}\ncps = {cps:?}\n");
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn a_trunk_holds_max_calls_and_paces_its_starts() {
        let gate = Arc::new(TrunkGate::new(trunk(2, 4.0)));
        let (a, b) = (gate.acquire().unwrap(), gate.acquire().unwrap());
        assert!(gate.acquire().is_none(), "max_calls 2");
        drop(a);
        assert!(gate.acquire().is_some(), "a slot comes back when its call ends");
        drop(b);
        let now = Instant::now();
        let starts: Vec<Duration> = (0..4).map(|_| gate.start_at(now) - now).collect();
        assert_eq!(starts, [0, 250, 500, 750].map(Duration::from_millis));
        // Idle for a while: the next call starts at once.
        let later = now + Duration::from_secs(10);
        assert_eq!(gate.start_at(later), later);
        let open = Arc::new(TrunkGate::new(trunk(0, 0.0)));
        let held: Vec<_> = (0..50).map(|_| open.acquire().unwrap()).collect();
        assert_eq!((held.len(), open.start_at(now)), (50, now), "0: no limit");
    }
}
