//! SIP and RTP against SIPp (Debian's sip-tester) on 127.0.0.1: a COD call that runs to
//! its outcome from RTP audio (a Rust RTP peer plays the caller, SIPp signals), RFC 2833
//! digits from SIPp's own pcap, CANCEL, BYE from either side, hold and unhold, 488,
//! OPTIONS, and bad input that must not disturb a live call.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use voxline::engines::AsrOptions;
use voxline::media::{resample, Codec};
use voxline::sim::{load_audio, CallerScript};

use crate::common::{asr, fixtures};
use crate::serve::{get_json, http, Server};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip/scenarios").join(name)
}

fn cod_context() -> Value {
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
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_port = peer.local_addr().unwrap().port().to_string();
    peer.set_nonblocking(true).unwrap();
    let caller = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let socket = tokio::net::UdpSocket::from_std(peer).unwrap();
            voxline::io::caller::rtp::run(socket, turns, Codec::Pcmu, Duration::from_secs(200)).await
        })
    });
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
