//! SIP and RTP against SIPp (Debian's sip-tester) on 127.0.0.1: a COD call that runs to
//! its outcome from RTP audio (a Rust RTP peer plays the caller, SIPp signals), RFC 2833
//! digits from SIPp's own pcap, CANCEL, BYE from either side, hold and unhold, 488,
//! OPTIONS, session timers (422, voxline refreshing, a caller that stops), a blind
//! transfer by REFER, a bridge to an agent (SIPp UAS) transcribing both sides, and bad
//! input that must not disturb a live call. Outbound: voxline dials
//! SIPp trunks that answer (the flow runs), are busy, ring out, or challenge (401, 407,
//! a wrong password), and an answering machine that gets the flow's message after its beep.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use voxline::engines::AsrOptions;
use voxline::io::caller::rtp::RtpHeard;
use voxline::media::{resample, Codec};
use voxline::sim::{load_audio, CallerScript, Cue};

use crate::common::{asr, fixtures};
use crate::serve::{get_json, http, Server};

pub(crate) fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip/scenarios").join(name)
}

pub(crate) fn cod_context() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("calls/ctx_cod.json")).unwrap()).unwrap()
}

/// Dialplan: `cod` answers at once, `ring` rings for ten minutes (for CANCEL).
fn dialplan_config() -> String {
    let entry =
        |user: &str, after: &str| json!({"user": user, "flow": "cod", "answer_after": after, "context": cod_context()});
    let config = json!({"sip": {"dialplan": [entry("cod", "0s"), entry("ring", "10m")]}});
    toml::to_string(&toml::Value::try_from(config).unwrap()).unwrap()
}

/// A UDP port free right now on 127.0.0.1 (SIPp binds it a moment later).
pub(crate) fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// SIPp as a trunk: waits on `port` for one call of `scenario_name` (UAS).
pub(crate) fn sipp_trunk(dir: &Path, scenario_name: &str, port: u16, keys: &[(&str, &str)]) -> std::process::Child {
    let errors = dir.join(format!("sipp-{scenario_name}.log"));
    let mut cmd = Command::new("sipp");
    cmd.arg("-sf").arg(scenario(scenario_name));
    cmd.args(["-m", "1", "-i", "127.0.0.1", "-nostdin", "-timeout", "240s", "-timeout_error"]);
    cmd.args(["-p", &port.to_string(), "-mp", &free_port().to_string(), "-trace_err", "-error_file"]);
    cmd.arg(&errors);
    for (k, v) in keys {
        cmd.args(["-key", k, v]);
    }
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    cmd.spawn().expect("sipp (Debian package sip-tester)")
}

/// Waits for a SIPp trunk to finish; whether its scenario passed, and its error log.
pub(crate) fn finished(dir: &Path, scenario_name: &str, child: std::process::Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    let log = std::fs::read_to_string(dir.join(format!("sipp-{scenario_name}.log"))).unwrap_or_default();
    (out.status.success(), format!("{log}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// Runs one SIPp call of `scenario` to `service` at the server; returns whether it
/// passed, and its error log.
fn sipp(server: &Server, scenario_name: &str, service: &str, keys: &[(&str, &str)]) -> (bool, String) {
    let errors = server.dir.join(format!("sipp-{scenario_name}.log"));
    let mut cmd = Command::new("sipp");
    cmd.arg("-sf").arg(scenario(scenario_name));
    cmd.args(["-m", "1", "-s", service, "-i", "127.0.0.1", "-nostdin", "-timeout", "240s", "-timeout_error"]);
    cmd.args(["-p", &free_port().to_string(), "-mp", &free_port().to_string(), "-trace_err", "-error_file"]);
    cmd.arg(&errors);
    for (k, v) in keys {
        cmd.args(["-key", k, v]);
    }
    let out = cmd.arg(&server.sip).output().expect("sipp (Debian package sip-tester)");
    let log = std::fs::read_to_string(&errors).unwrap_or_default();
    (out.status.success(), format!("{log}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// The call's record once it has ended (SIPp may finish a moment before the record
/// is written; checked every 20 ms for up to 30 s).
fn record(server: &Server, id: &str) -> Value {
    for _ in 0..1500 {
        let call = get_json(&format!("{}/v1/calls/{id}", server.http));
        if call["state"] == "ended" {
            return call;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("call {id} never ended");
}

/// The newest call's record (calls made by SIPp alone have ids voxline chose).
fn latest(server: &Server) -> Value {
    let listed = get_json(&format!("{}/v1/calls", server.http));
    let id = listed["calls"][0]["id"].as_str().unwrap().to_string();
    record(server, &id)
}

/// SIPp calls voxline for a call made with POST /v1/calls; a Rust RTP peer plays
/// cod_confirm.toml. The call ends confirmed (voxline hangs up), its record carries the
/// RTP figures, voxline's RTP is paced at 20 ms with no bursts, and its words come back
/// intelligible through ASR.
#[test]
fn a_sip_call_runs_to_its_outcome_from_rtp_audio() {
    // One RTP port pair, so the test knows where the call's media is.
    let rtp = free_port() & !1;
    let server = Server::start(&[("VOXLINE_SIP__RTP_PORTS", &format!("{rtp}-{}", rtp + 1))]);
    let body = json!({"flow": "cod", "context": cod_context()}).to_string();
    let (status, created) = http("POST", &format!("{}/v1/calls", server.http), &body);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&created));
    let id = serde_json::from_slice::<Value>(&created).unwrap()["call_id"].as_str().unwrap().to_string();

    let script = CallerScript::load(&fixtures().join("calls/cod_confirm.toml")).unwrap();
    let turns: Vec<_> =
        script.turns.iter().map(|t| (load_audio(&t.audio, 8000).unwrap(), t.after, t.delay_ms)).collect();
    let (peer, peer_port) = rtp_peer();
    let caller = std::thread::spawn(move || play_rtp(peer, turns));
    let (ok, log) = std::thread::scope(|scope| {
        let call =
            scope.spawn(|| sipp(&server, "uac_call.xml", "cod", &[("voxline_call", &id), ("rtp_port", &peer_port)]));
        // Garbage at the live call's RTP and RTCP ports and at the SIP listener: dropped
        // and counted, answered or ignored; the call goes on.
        server.wait_for_log("call started");
        send_garbage(&server.sip, rtp);
        call.join().unwrap()
    });
    let heard = caller.join().unwrap();
    assert!(ok, "SIPp: {log}");
    eprintln!(
        "rtp peer: {} packets, {} turns, {} sequence breaks, {} timestamp breaks, ended: {}",
        heard.packets, heard.turns_sent, heard.sequence_breaks, heard.timestamp_breaks, heard.ended
    );

    let call = record(&server, &id);
    assert_eq!((call["transport"].as_str(), call["state"].as_str()), (Some("sip"), Some("ended")), "{call}");
    assert_eq!(call["outcome"], "confirmed", "{call}");
    assert_eq!(call["slots"]["address_confirmed"], "yes", "{call}");
    assert_eq!(call["closed"], "call ended", "voxline hung up: {call}");
    assert_eq!(heard.turns_sent, 4);
    let media = &call["summary"]["media"];
    assert_eq!(media["codec"], "PCMU", "{media}");
    assert!(media["received"]["packets"].as_u64().unwrap() > 500, "{media}");
    assert_eq!(media["received"]["lost"], 0, "{media}");
    assert!(media["reports_sent"].as_u64().unwrap() >= 2, "RTCP every 5 s: {media}");
    assert_eq!(media["remote"], format!("127.0.0.1:{peer_port}"), "{media}");
    let dropped = &media["dropped"];
    assert_eq!((dropped["malformed_rtp"].as_u64(), dropped["unknown_payload_type"].as_u64()), (Some(3), Some(1)));
    assert_eq!(dropped["malformed_rtcp"], 2, "{media}");

    // Pacing: one packet per 20 ms of RTP time, numbered without gaps, never in bursts.
    assert_eq!(heard.sequence_breaks, 0);
    assert!(heard.timestamp_breaks * 100 <= heard.packets, "{} timestamp jumps", heard.timestamp_breaks);
    let bursts = heard.arrival_gaps_ms.windows(2).filter(|w| w[0] + w[1] < 2.0).count();
    assert_eq!(bursts, 0, "three packets within 2 ms");
    let mean = heard.arrival_gaps_ms.iter().sum::<f64>() / heard.arrival_gaps_ms.len() as f64;
    assert!((18.0..=25.0).contains(&mean), "mean packet interval {mean:.2} ms");

    // The greeting, as the caller heard it, is intelligible.
    let greeting = resample(&heard.bot_audio[..heard.bot_audio.len().min(8000 * 12)], 8000, 16_000).unwrap();
    let text = asr().transcribe_blocking(greeting, AsrOptions::default()).unwrap().text.to_lowercase();
    assert!(text.contains("priya") || text.contains("order"), "heard: {text}");
    let (clean_exit, log) = server.stop();
    assert!(clean_exit, "{log}");
}

/// Bad RTP (version 1, a short header, CSRCs past the end), an unknown payload type,
/// RTCP garbage, and SIP that is not SIP.
fn send_garbage(sip: &str, rtp: u16) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut unknown = vec![0x80, 96, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
    unknown.extend_from_slice(&[0xff; 160]);
    let bad_rtp: [&[u8]; 4] = [&[0x40; 172], &[0x80, 0, 0], &[0x8f; 20], &unknown];
    for datagram in bad_rtp {
        socket.send_to(datagram, ("127.0.0.1", rtp)).unwrap();
    }
    for datagram in [&[0xff; 8][..], &[0x80, 200, 0, 50, 1, 2, 3, 4]] {
        socket.send_to(datagram, ("127.0.0.1", rtp + 1)).unwrap();
    }
    let bad_sip: [&[u8]; 4] = [
        b"\x00\x01\x02 not sip",
        b"INVITE sip:x SIP/2.0\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n\r\n",
        b"OPTIONS sip:voxline@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\n",
    ];
    for datagram in bad_sip {
        socket.send_to(datagram, sip).unwrap();
    }
}

/// Signalling cases, each against the same server: OPTIONS keepalive, no common codec
/// (488), CANCEL while ringing (487), BYE from the caller, RFC 2833 digit 1 confirming
/// the order, hold and unhold by re-INVITE.
#[test]
fn sipp_signalling_cases() {
    let server = Server::start_with(&[], &dialplan_config());
    let (ok, log) = sipp(&server, "uac_options.xml", "cod", &[]);
    assert!(ok, "OPTIONS: {log}");
    let (ok, log) = sipp(&server, "uac_488.xml", "cod", &[]);
    assert!(ok, "488: {log}");
    assert!(server.log().contains("refused an INVITE status=488"), "{}", server.log());

    let (ok, log) = sipp(&server, "uac_cancel.xml", "ring", &[]);
    assert!(ok, "CANCEL: {log}");
    assert!(server.log().contains("the caller cancelled before the answer"));

    let (ok, log) = sipp(&server, "uac_bye.xml", "cod", &[]);
    assert!(ok, "BYE: {log}");
    let call = latest(&server);
    assert_eq!((call["transport"].as_str(), call["closed"].as_str()), (Some("sip"), Some("the caller hung up (BYE)")));
    assert!(call["summary"]["media"]["sent_packets"].as_u64().unwrap() > 100, "{call}");

    let (ok, log) = sipp(&server, "uac_dtmf.xml", "cod", &[]);
    assert!(ok, "DTMF: {log}");
    let call = latest(&server);
    assert_eq!(call["summary"]["media"]["dtmf_digits"], 1, "one key press from the three end packets: {call}");
    assert_eq!(call["slots"]["order_confirmed"], "yes", "1 confirms the order: {call}");

    let (ok, log) = sipp(&server, "uac_hold.xml", "cod", &[]);
    assert!(ok, "hold: {log}");
    let call = latest(&server);
    let holds: Vec<&Value> =
        call["timeline"].as_array().unwrap().iter().filter(|e| e["type"] == "hold").map(|e| &e["on"]).collect();
    assert_eq!(holds, [&json!(true), &json!(false)], "{call}");
    let (clean_exit, log) = server.stop();
    assert!(clean_exit, "{log}");
}

/// A COD call whose caller confirms the order (1) and denies the address (2) is handed
/// off; with `sip.transfer_to` set voxline REFERs the caller to it, the Refer-To carrying
/// X-Voxline-Context (checked by SIPp), follows the NOTIFYs to the 200 and leaves by BYE.
#[test]
fn a_handed_off_sip_call_is_transferred_by_refer() {
    let server = Server::start(&[("VOXLINE_SIP__TRANSFER_TO", "sip:agents@127.0.0.1:5999")]);
    let body = json!({"flow": "cod", "context": cod_context()}).to_string();
    let (status, created) = http("POST", &format!("{}/v1/calls", server.http), &body);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&created));
    let id = serde_json::from_slice::<Value>(&created).unwrap()["call_id"].as_str().unwrap().to_string();
    let (ok, log) = sipp(&server, "uac_transfer.xml", "cod", &[("voxline_call", &id)]);
    assert!(ok, "SIPp: {log}\n{}", server.log());
    let call = record(&server, &id);
    assert_eq!(call["handoff"]["reason"], "change_address", "{call}");
    let transfer = &call["summary"]["transfer"];
    assert_eq!(
        transfer,
        &json!({"mode": "refer", "target": "sip:agents@127.0.0.1:5999", "result": "transferred",
                "refer_status": 202, "progress": [100, 200]}),
        "{call}"
    );
    assert_eq!(call["closed"], "transfer to sip:agents@127.0.0.1:5999: transferred", "{call}");
    let (_, metrics) = http("GET", &format!("{}/metrics", server.http), "");
    let metrics = String::from_utf8_lossy(&metrics).to_string();
    assert!(metrics.contains("voxline_transfers_total{mode=\"refer\",result=\"transferred\"} 1"), "{metrics}");
    let (clean_exit, log) = server.stop();
    assert!(clean_exit, "{log}");
}

/// A pcap of RTP (PCMU, 20 ms packets, 127.0.0.1) carrying a fixture and a second of
/// silence after it, for SIPp's play_pcap_audio.
fn rtp_pcap(dir: &Path, fixture: &str) -> PathBuf {
    let mut audio = load_audio(&fixtures().join("8k").join(format!("{fixture}.wav")), 8000).unwrap();
    audio.extend(std::iter::repeat_n(0.0, 8000));
    let mut out: Vec<u8> = Vec::new();
    // Global header: little-endian, version 2.4, Ethernet.
    for word in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend(word.to_le_bytes());
    }
    for (i, chunk) in audio.chunks(160).enumerate() {
        let mut rtp = vec![0x80, 0x00];
        rtp.extend((i as u16).to_be_bytes());
        rtp.extend((i as u32 * 160).to_be_bytes());
        rtp.extend(0x5eed_0001u32.to_be_bytes());
        rtp.extend(chunk.iter().map(|&x| voxline::media::mulaw_encode((x.clamp(-1.0, 1.0) * 32767.0) as i16)));
        let udp_len = 8 + rtp.len() as u16;
        let mut frame = vec![0u8; 12];
        frame.extend([0x08, 0x00, 0x45, 0x00]);
        frame.extend((20 + udp_len).to_be_bytes());
        frame.extend([0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend(10000u16.to_be_bytes());
        frame.extend(10000u16.to_be_bytes());
        frame.extend(udp_len.to_be_bytes());
        frame.extend([0, 0]);
        frame.extend(rtp);
        let micros = i as u64 * 20_000;
        for word in [(micros / 1_000_000) as u32, (micros % 1_000_000) as u32, frame.len() as u32, frame.len() as u32] {
            out.extend(word.to_le_bytes());
        }
        out.extend(frame);
    }
    let path = dir.join(format!("{fixture}.pcap"));
    std::fs::write(&path, out).unwrap();
    path
}

/// The same handoff with `transfer_mode = "bridge"`: voxline calls the agent (a SIPp UAS)
/// with X-Voxline-Context, relays RTP both ways, and transcribes both sides: the agent's
/// words and the caller's after the handoff are in the call's transcript. The agent hangs
/// up; voxline ends the caller's leg.
#[test]
fn a_handed_off_sip_call_is_bridged_to_an_agent() {
    let agent_port = free_port();
    let target = format!("sip:agents@127.0.0.1:{agent_port}");
    let server =
        Server::start(&[("VOXLINE_SIP__TRANSFER_TO", target.as_str()), ("VOXLINE_SIP__TRANSFER_MODE", "bridge")]);
    let (agent_pcap, caller_pcap) = (rtp_pcap(&server.dir, "repeat"), rtp_pcap(&server.dir, "change_address"));
    let agent = sipp_trunk(&server.dir, "uas_agent.xml", agent_port, &[("agent_pcap", agent_pcap.to_str().unwrap())]);
    let body = json!({"flow": "cod", "context": cod_context()}).to_string();
    let (status, created) = http("POST", &format!("{}/v1/calls", server.http), &body);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&created));
    let id = serde_json::from_slice::<Value>(&created).unwrap()["call_id"].as_str().unwrap().to_string();
    let keys = [("voxline_call", id.as_str()), ("caller_pcap", caller_pcap.to_str().unwrap())];
    let (ok, log) = sipp(&server, "uac_bridge.xml", "cod", &keys);
    let (agent_ok, agent_log) = finished(&server.dir, "uas_agent.xml", agent);
    assert!(ok, "caller: {log}\n{}", server.log());
    assert!(agent_ok, "agent: {agent_log}\n{}", server.log());
    let call = record(&server, &id);
    assert_eq!(call["handoff"]["reason"], "change_address", "{call}");
    let bridge = &call["summary"]["transfer"];
    assert_eq!((bridge["mode"].as_str(), bridge["result"].as_str()), (Some("bridge"), Some("bridged")), "{call}");
    assert_eq!((bridge["agent_status"].as_u64(), bridge["ended_by"].as_str()), (Some(200), Some("agent")), "{call}");
    assert!(bridge["packets_to_agent"].as_u64().unwrap() > 100, "the caller's speech reached the agent: {bridge}");
    assert!(bridge["packets_to_caller"].as_u64().unwrap() > 100, "the agent's speech reached the caller: {bridge}");
    assert_eq!(call["closed"], format!("bridge to {target}: bridged, ended by the agent"));
    let lines = call["transcript"].as_array().unwrap();
    let said = |speaker: &str| -> String {
        lines.iter().filter(|l| l["speaker"] == speaker).map(|l| l["text"].as_str().unwrap().to_lowercase()).collect()
    };
    assert!(said("agent").contains("repeat"), "the agent's words: {lines:?}");
    let handoff_at = lines.iter().filter(|l| l["speaker"] == "bot").map(|l| l["at_ms"].as_u64().unwrap()).max();
    let caller_after: String = lines
        .iter()
        .filter(|l| l["speaker"] == "caller" && l["at_ms"].as_u64() > handoff_at)
        .map(|l| l["text"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(caller_after.contains("address") || caller_after.contains("moved"), "the caller to the agent: {lines:?}");
    let (clean_exit, log) = server.stop();
    assert!(clean_exit, "{log}");
}

/// RFC 4028 when the caller asks: an interval below Min-SE gets 422; voxline as the
/// refresher re-INVITEs within the interval; a caller that stops refreshing is hung up
/// on before the interval runs out. Both calls are held (the bot waits) and run at once.
#[test]
fn session_timers_when_the_caller_asks() {
    // The held calls send no RTP: the RTP timeout is set past the session timer.
    let server = Server::start_with(&[("VOXLINE_SIP__RTP_TIMEOUT", "5m")], &dialplan_config());
    let (ok, log) = sipp(&server, "uac_422.xml", "cod", &[]);
    assert!(ok, "422: {log}");
    let (refreshed, expired) = std::thread::scope(|scope| {
        let refresh = scope.spawn(|| sipp(&server, "uac_timer_refresh.xml", "cod", &[]));
        let expire = scope.spawn(|| sipp(&server, "uac_timer_expire.xml", "cod", &[]));
        (refresh.join().unwrap(), expire.join().unwrap())
    });
    assert!(refreshed.0, "voxline refreshes: {}\n{}", refreshed.1, server.log());
    assert!(expired.0, "the caller stops refreshing: {}\n{}", expired.1, server.log());
    let listed = get_json(&format!("{}/v1/calls", server.http));
    let mut closed: Vec<String> = listed["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| record(&server, c["id"].as_str().unwrap())["closed"].as_str().unwrap_or("").to_string())
        .collect();
    closed.sort();
    assert_eq!(closed, ["session timer expired (no refresh in 60 s)", "the caller hung up (BYE)"]);
    assert!(server.log().contains("session refreshed interval=90"), "{}", server.log());
    let (_, metrics) = http("GET", &format!("{}/metrics", server.http), "");
    let metrics = String::from_utf8_lossy(&metrics).to_string();
    assert!(metrics.contains("reason=\"session_interval\""), "the 422 is counted: {metrics}");
    let (clean_exit, log) = server.stop();
    assert!(clean_exit, "{log}");
}

/// `POST /v1/calls` with `"dial"` through `trunk`; the call's id.
/// A UDP socket for a Rust RTP peer, and its port.
pub(crate) fn rtp_peer() -> (std::net::UdpSocket, String) {
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = peer.local_addr().unwrap().port().to_string();
    peer.set_nonblocking(true).unwrap();
    (peer, port)
}

/// Plays `turns` as the far end of a call's RTP until voxline's media stops.
pub(crate) fn play_rtp(peer: std::net::UdpSocket, turns: Vec<(Vec<f32>, Option<Cue>, u64)>) -> RtpHeard {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let socket = tokio::net::UdpSocket::from_std(peer).unwrap();
        voxline::io::caller::rtp::run(socket, turns, Codec::Pcmu, Duration::from_secs(200)).await
    })
}

fn dial(server: &Server, trunk: &str) -> String {
    dial_keys(server, trunk, "")
}

/// [`dial`] with digits to press once answered.
fn dial_keys(server: &Server, trunk: &str, digits: &str) -> String {
    let dial = json!({"trunk": trunk, "to": "+919812345678", "digits": digits});
    let body = json!({"flow": "cod", "context": cod_context(), "dial": dial});
    let (status, created) = http("POST", &format!("{}/v1/calls", server.http), &body.to_string());
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&created));
    let created: Value = serde_json::from_slice(&created).unwrap();
    assert_eq!(created["dial"]["trunk"], trunk, "{created}");
    created["call_id"].as_str().unwrap().to_string()
}

/// Trunks at SIPp ports, by name; `wrong` has the wrong password, `ring` a 3 s ring timeout.
fn trunks_config(ports: &[(&str, u16)]) -> String {
    let trunks: Vec<Value> = ports
        .iter()
        .map(|(name, port)| {
            let password = if *name == "wrong" { "guess" } else { "s3cret" };
            let ring = if *name == "ring" { "3s" } else { "60s" };
            json!({"name": name, "host": "127.0.0.1", "port": port, "from": "+918000000000", "username": "voxline",
                   "password": password, "ring_timeout": ring, "max_calls": 2, "cps": 5.0})
        })
        .collect();
    toml::to_string(&toml::Value::try_from(json!({"trunk": trunks})).unwrap()).unwrap()
}

/// voxline dials SIPp trunks: answered (a Rust RTP peer plays the callee and the COD
/// flow reaches its outcome over RTP), busy, no answer (early media listened to, CANCEL
/// at the ring timeout), 401 and 407 digest auth (answered, then the callee hangs up),
/// and a wrong password (failed). Each record carries its result and what the dial saw.
#[test]
fn voxline_dials_sipp_trunks() {
    let names = ["answer", "machine", "busy", "ring", "auth401", "auth407", "wrong"];
    let ports: Vec<(&str, u16)> = names.iter().map(|n| (*n, free_port())).collect();
    let port = |name: &str| ports.iter().find(|(n, _)| *n == name).unwrap().1;
    let server = Server::start_with(&[], &trunks_config(&ports));
    let dir = server.dir.clone();

    // Unknown trunk, bad number: refused before anything is dialled.
    let body = json!({"flow": "cod", "context": cod_context(), "dial": {"trunk": "nope", "to": "+91"}});
    let (status, answer) = http("POST", &format!("{}/v1/calls", server.http), &body.to_string());
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&answer));
    assert!(String::from_utf8_lossy(&answer).contains("answer, auth401"), "names the trunks");
    let body = json!({"flow": "cod", "context": cod_context(), "dial": {"trunk": "busy", "to": "<sip:x>"}});
    assert_eq!(http("POST", &format!("{}/v1/calls", server.http), &body.to_string()).0, 422);

    // Answered: the callee is a Rust RTP peer playing cod_confirm.toml.
    let script = CallerScript::load(&fixtures().join("calls/cod_confirm.toml")).unwrap();
    let turns: Vec<_> =
        script.turns.iter().map(|t| (load_audio(&t.audio, 8000).unwrap(), t.after, t.delay_ms)).collect();
    let (peer, peer_port) = rtp_peer();
    let callee = std::thread::spawn(move || play_rtp(peer, turns));
    let trunk = sipp_trunk(&dir, "uas_answer.xml", port("answer"), &[("rtp_port", &peer_port)]);
    let body = json!({"flow": "cod", "context": cod_context(), "dial": {"trunk": "answer", "to": "1", "digits": "1x"}});
    let (status, refused) = http("POST", &format!("{}/v1/calls", server.http), &body.to_string());
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&refused));
    assert!(String::from_utf8_lossy(&refused).contains("dial.digits"));
    // Keys pressed once answered (an extension): RFC 4733 events the callee reads back.
    let id = dial_keys(&server, "answer", "1w#");
    let (ok, log) = finished(&dir, "uas_answer.xml", trunk);
    assert!(ok, "SIPp trunk: {log}");
    let heard = callee.join().unwrap();
    assert_eq!(heard.digits, "1#", "the callee heard the dialled keys");
    eprintln!("rtp callee: {} packets, {} turns, ended: {}", heard.packets, heard.turns_sent, heard.ended);
    let call = record(&server, &id);
    assert_eq!((call["transport"].as_str(), call["result"].as_str()), (Some("sip"), Some("answered")), "{call}");
    assert_eq!(call["outcome"], "confirmed", "{call}");
    assert_eq!(call["closed"], "call ended", "voxline hung up: {call}");
    assert_eq!(heard.turns_sent, 4);
    let dial_seen = &call["summary"]["dial"];
    assert_eq!((dial_seen["trunk"].as_str(), dial_seen["status"].as_u64()), (Some("answer"), Some(200)), "{call}");
    assert_eq!(dial_seen["digits"], "1w#", "{call}");
    assert!(call["summary"]["media"]["received"]["packets"].as_u64().unwrap() > 500, "{call}");
    assert_eq!(call["summary"]["answered_by"], "human", "{call}");

    // An answering machine (a greeting written independently of the detector, then its
    // beep): the COD flow leaves its message after the beep and hangs up.
    let greeting = load_audio(&fixtures().join("amd/independent/machine_01.wav"), 8000).unwrap();
    let (peer, peer_port) = rtp_peer();
    let callee = std::thread::spawn(move || play_rtp(peer, vec![(greeting, None, 0)]));
    let trunk = sipp_trunk(&dir, "uas_answer.xml", port("machine"), &[("rtp_port", &peer_port)]);
    let id = dial(&server, "machine");
    let (ok, log) = finished(&dir, "uas_answer.xml", trunk);
    assert!(ok, "SIPp trunk: {log}");
    let heard = callee.join().unwrap();
    let call = record(&server, &id);
    assert_eq!((call["result"].as_str(), call["outcome"].as_str()), (Some("answered"), Some("voicemail")), "{call}");
    assert_eq!(call["summary"]["answered_by"], "machine", "{call}");
    assert_eq!(call["closed"], "call ended", "voxline hung up after the message: {call}");
    let said: Vec<&str> = call["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["speaker"] == "bot")
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert_eq!(said.len(), 1, "only the message: {said:?}");
    assert!(said[0].contains("automated call from ShopKart"), "{said:?}");
    // What the machine recorded: silence over its greeting (its beep is at 7.3 s), then the message.
    let over_greeting = &heard.bot_audio[..8000 * 7];
    assert!(over_greeting.iter().all(|s| s.abs() < 0.01), "nothing played over the greeting");
    let message = resample(&heard.bot_audio[8000 * 7..], 8000, 16_000).unwrap();
    let text = asr().transcribe_blocking(message, AsrOptions::default()).unwrap().text.to_lowercase();
    assert!(text.contains("automated"), "the machine recorded: {text}");

    // Busy, dialled with `voxline dial`, which follows the call to its end.
    let trunk = sipp_trunk(&dir, "uas_busy.xml", port("busy"), &[]);
    let context = dir.join("ctx.json");
    std::fs::write(&context, cod_context().to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_voxline"))
        .args(["dial", "--trunk", "busy", "--to", "+919812345678", "--flow", "cod", "--server", &server.http])
        .arg("--context")
        .arg(&context)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((printed["state"].as_str(), printed["result"].as_str()), (Some("ended"), Some("busy")), "{printed}");
    let (ok, log) = finished(&dir, "uas_busy.xml", trunk);
    assert!(ok, "SIPp trunk: {log}");
    let call = record(&server, printed["call_id"].as_str().unwrap());
    assert_eq!((call["result"].as_str(), call["outcome"].as_str()), (Some("busy"), None), "{call}");
    assert_eq!(call["summary"]["dial"]["status"], 486, "{call}");
    assert!(call["transcript"].as_array().unwrap().is_empty(), "nothing was said: {call}");

    // No answer: early media, then CANCEL at the ring timeout.
    let trunk = sipp_trunk(&dir, "uas_no_answer.xml", port("ring"), &[]);
    let id = dial(&server, "ring");
    let (ok, log) = finished(&dir, "uas_no_answer.xml", trunk);
    assert!(ok, "SIPp trunk: {log}");
    let call = record(&server, &id);
    assert_eq!(call["result"], "no_answer", "{call}");
    assert!(call["closed"].as_str().unwrap().contains("ring timeout"), "{call}");
    let seen = &call["summary"]["dial"];
    assert_eq!(seen["status"], 487, "{call}");
    assert!(seen["early_media_packets"].as_u64().unwrap() > 10, "early media was listened to: {call}");

    // Digest auth: 401 and 407 answered after the challenge; the callee hangs up.
    for (name, scenario_name) in [("auth401", "uas_auth_401.xml"), ("auth407", "uas_auth_407.xml")] {
        let trunk = sipp_trunk(&dir, scenario_name, port(name), &[]);
        let id = dial(&server, name);
        let (ok, log) = finished(&dir, scenario_name, trunk);
        assert!(ok, "SIPp trunk {name}: {log}");
        let call = record(&server, &id);
        assert_eq!(call["result"], "answered", "{name}: {call}");
        assert_eq!(call["closed"], "the callee hung up (BYE)", "{name}: {call}");
    }
    // The wrong password: challenged again, failed.
    let trunk = sipp_trunk(&dir, "uas_auth_401.xml", port("wrong"), &[]);
    let id = dial(&server, "wrong");
    let (ok, log) = finished(&dir, "uas_auth_401.xml", trunk);
    assert!(ok, "SIPp trunk: {log}");
    let call = record(&server, &id);
    assert_eq!((call["result"].as_str(), call["summary"]["dial"]["status"].as_u64()), (Some("failed"), Some(401)));

    let metrics = String::from_utf8(http("GET", &format!("{}/metrics", server.http), "").1).unwrap();
    assert!(metrics.contains("voxline_dials_total{trunk=\"busy\",result=\"busy\"} 1"), "{metrics}");
    let (clean_exit, log) = server.stop();
    assert!(clean_exit, "{log}");
}
