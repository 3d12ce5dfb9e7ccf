//! The campaign engine end to end on `voxline serve`: a small CRM imported, an
//! `order.placed` event for a cash-on-delivery order, and voxline dials the customer
//! through a SIPp trunk (a Rust RTP peer plays the callee), the COD flow runs on the
//! audio to `confirmed`, and the outcome reaches a local webhook receiver signed, once
//! refused and then delivered again with the same idempotency key.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use voxline::io::pg_cluster::PgCluster;
use voxline::sim::{load_audio, CallerScript};

use crate::common::fixtures;
use crate::serve::{get_json, http, Server};

use crate::sip::{finished, free_port, play_rtp, rtp_peer, sipp_trunk};

const SECRET: &str = "whsec-test";

/// One webhook request as received: its headers (lower-case names) and body.
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on 127.0.0.1: answers 503 to its first `refuse` requests and 200
/// after; every request goes to the channel. The thread ends with the test process.
fn receiver(refuse: usize) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/outcomes", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
            let length: usize = headers.iter().find(|(k, _)| k == "content-length").unwrap().1.parse().unwrap();
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let status = if n < refuse { "503 Service Unavailable" } else { "200 OK" };
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if tx.send(Received { headers, body: String::from_utf8(body).unwrap() }).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

fn config(trunk_port: u16, webhook: &str) -> String {
    let config = json!({
        "trunk": [{"name": "outbound", "host": "127.0.0.1", "port": trunk_port, "from": "+918000000000",
                   "username": "voxline", "password": "s3cret", "max_calls": 2, "cps": 5.0}],
        // Every hour of the day is open: the test runs at whatever time CI does.
        "campaign": {"window": "00:00-24:00", "trunks": ["outbound"], "tick": "100ms",
                     "webhook_url": webhook, "webhook_secret": SECRET},
    });
    toml::to_string(&toml::Value::try_from(config).unwrap()).unwrap()
}

/// An order.placed event for a COD order (`audio-fixtures/calls/ctx_cod.json`'s order)
/// sent now makes voxline dial; the call runs cod_confirm.toml's callee to `confirmed`;
/// the attempt's transitions are stored; the outcome webhook is signed, refused once,
/// then delivered with the same idempotency key (the attempt id).
#[test]
fn an_order_event_dials_the_customer_and_the_outcome_reaches_the_crm() {
    let (webhook, requests) = receiver(1);
    let trunk_port = free_port();
    let server = Server::start_with(&[], &config(trunk_port, &webhook));
    let dir = server.dir.clone();

    let customers = "id,name,phone,timezone,language,opted_out\nC1,Priya Sharma,+91 98123 45678,Asia/Calcutta,en-IN,\n";
    let body = json!({"files": {"customers.csv": customers}});
    let (status, report) = http("POST", &format!("{}/v1/crm/import", server.http), &body.to_string());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&report));

    // The callee: SIPp answers on the trunk, the RTP peer speaks.
    let script = CallerScript::load(&fixtures().join("calls/cod_confirm.toml")).unwrap();
    let turns: Vec<_> =
        script.turns.iter().map(|t| (load_audio(&t.audio, 8000).unwrap(), t.after, t.delay_ms)).collect();
    let (peer, peer_port) = rtp_peer();
    let callee = std::thread::spawn(move || play_rtp(peer, turns));
    let trunk = sipp_trunk(&dir, "uas_answer.xml", trunk_port, &[("rtp_port", &peer_port)]);

    let now = chrono::Utc::now().to_rfc3339();
    let event = json!({"id": "ev-cod-1", "type": "order.placed", "at": now, "customer_id": "C1",
        "order_id": "ORD-1042", "placed_at": now, "payment": "cod", "amount": "1499", "currency": "INR",
        "items": ["running shoes x 1"], "address": "12 MG Road, Bengaluru 560001", "expected_delivery": "2026-11-28",
        "status": "placed"});
    let (status, answer) = http("POST", &format!("{}/v1/events", server.http), &event.to_string());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));

    let (ok, log) = finished(&dir, "uas_answer.xml", trunk);
    assert!(ok, "SIPp trunk: {log}");
    let heard = callee.join().unwrap();
    assert_eq!(heard.turns_sent, 4, "the callee spoke all its turns");

    // The outcome: refused once, then delivered; both tries the same signed record.
    let wait = Duration::from_secs(60);
    let first = requests.recv_timeout(wait).expect("the webhook's first try");
    let second = requests.recv_timeout(wait).expect("the webhook's retry after a 503");
    for got in [&first, &second] {
        assert_eq!(
            got.header("x-voxline-signature"),
            Some(voxline::campaign::outbox::signature(SECRET.as_bytes(), got.body.as_bytes()).as_str())
        );
    }
    assert_eq!(first.body, second.body, "the retry sends the same record");
    let outcome: Value = serde_json::from_str(&second.body).unwrap();
    let attempt_id = outcome["attempt_id"].as_str().unwrap();
    assert_eq!(second.header("idempotency-key"), Some(attempt_id));
    assert_eq!(
        (outcome["flow"].as_str(), outcome["customer_id"].as_str(), outcome["subject_id"].as_str()),
        (Some("cod"), Some("C1"), Some("ORD-1042")),
        "{outcome}"
    );
    assert_eq!((outcome["result"].as_str(), outcome["outcome"].as_str()), (Some("answered"), Some("confirmed")));
    assert_eq!(outcome["dissatisfied"], false);

    // The attempt's history, and its call.
    let attempt = get_json(&format!("{}/v1/attempts/{attempt_id}", server.http));
    let states: Vec<&str> =
        attempt["transitions"].as_array().unwrap().iter().filter_map(|t| t["state"].as_str()).collect();
    assert_eq!(states.first(), Some(&"queued"), "{attempt}");
    assert!(states.contains(&"dialing") && states.contains(&"answered"), "{attempt}");
    assert_eq!(states.last(), Some(&"completed"), "{attempt}");
    assert_eq!((attempt["state"].as_str(), attempt["outcome"].as_str()), (Some("completed"), Some("confirmed")));
    let call = get_json(&format!("{}/v1/calls/{}", server.http, attempt["call_id"].as_str().unwrap()));
    assert_eq!((call["transport"].as_str(), call["outcome"].as_str()), (Some("sip"), Some("confirmed")), "{call}");
    assert_eq!(call["context"]["order"]["amount"], "1499", "the call read the stored order: {call}");
    assert_eq!(call["context"]["call"]["attempt_id"], attempt_id);
    let stats = get_json(&format!("{}/v1/campaigns/stats", server.http));
    assert_eq!(stats["flows"]["cod"]["outcomes"]["confirmed"], 1, "{stats}");
    assert_eq!(stats["outbox"]["delivered"], 1, "{stats}");
    assert!(requests.recv_timeout(Duration::from_secs(2)).is_err(), "delivered exactly once");
}

/// `voxline campaign generate` then `voxline campaign simulate` over 14 days: the real
/// store and policy on a virtual clock, every dial written with its local time, every
/// deferral with its rule, every outcome delivered once; its checker finds nothing.
#[test]
fn a_simulated_fortnight_keeps_every_rule() {
    let dir = std::env::temp_dir().join(format!("voxline-campaign-sim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (crm, out) = (dir.join("crm"), dir.join("out"));
    let voxline = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_voxline")).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let start = "2026-12-01T00:00:00Z";
    let (code, written, err) = voxline(&[
        "campaign",
        "generate",
        "--customers",
        "600",
        "--seed",
        "5",
        "--start",
        start,
        "--out",
        crm.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let written: Value = serde_json::from_str(&written).unwrap();
    assert!(written["events"].as_u64().unwrap() > 200, "{written}");
    let (code, summary, err) = voxline(&[
        "campaign",
        "simulate",
        "--crm",
        crm.to_str().unwrap(),
        "--start",
        start,
        "--days",
        "14",
        "--seed",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    let summary: Value = serde_json::from_str(&summary).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!((code, summary["violations"].as_u64()), (Some(0), Some(0)), "{summary}");
    assert_eq!(summary["customers"], 600);
    let attempts = summary["attempts"].as_u64().unwrap();
    assert!(attempts > 300, "{summary}");
    for result in ["answered", "no_answer", "busy", "failed", "voicemail"] {
        assert!(summary["results"][result].as_u64().unwrap_or(0) > 0, "no {result}: {summary}");
    }
    for outcome in ["confirmed", "callback_requested", "opted_out", "handoff", "interested"] {
        assert!(summary["outcomes"][outcome].as_u64().unwrap_or(0) > 0, "no {outcome}: {summary}");
    }
    for rule in ["window", "daily_cap", "opted_out", "open_ticket"] {
        assert!(summary["decisions"][rule].as_u64().unwrap_or(0) > 0, "no {rule} decision: {summary}");
    }
    assert_eq!(summary["delivered"].as_u64(), Some(attempts), "{summary}");
    let lines = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(out.join(name)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let dialled = lines("attempts.jsonl");
    assert_eq!(dialled.len() as u64, attempts);
    let keys = [
        "attempt_id",
        "customer_id",
        "flow",
        "subject_id",
        "attempt_no",
        "trigger",
        "dialed_at",
        "local_time",
        "result",
        "outcome",
        "callback_time",
    ];
    for key in keys {
        assert!(dialled[0].get(key).is_some(), "attempts.jsonl lacks {key}: {}", dialled[0]);
    }
    let in_order = dialled.windows(2).all(|w| w[0]["dialed_at"].as_str() <= w[1]["dialed_at"].as_str());
    assert!(in_order, "attempts.jsonl is in dial order");
    let decisions = lines("decisions.jsonl");
    assert!(decisions
        .iter()
        .all(|d| ["at", "customer_id", "flow", "subject_id", "rule"].iter().all(|k| d.get(k).is_some())));
    let outbox = lines("outbox.jsonl");
    assert!(outbox
        .iter()
        .all(|o| ["attempt_id", "customer_id", "flow", "outcome", "delivered_at"].iter().all(|k| o.get(k).is_some())));
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIPp as a busy trunk taking any number of calls, logging every message it sees.
fn busy_trunk(dir: &std::path::Path, port: u16) -> std::process::Child {
    logging_trunk(dir, port, "uas_busy.xml")
}

/// SIPp playing `scenario` for any number of calls, logging every message it sees.
fn logging_trunk(dir: &std::path::Path, port: u16, scenario: &str) -> std::process::Child {
    std::process::Command::new("sipp")
        .arg("-sf")
        .arg(crate::sip::scenario(scenario))
        .args(["-i", "127.0.0.1", "-nostdin", "-p", &port.to_string(), "-mp", &free_port().to_string()])
        .args(["-trace_msg", "-message_file"])
        .arg(dir.join("sipp-messages.log"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sipp (Debian package sip-tester)")
}

/// The campaign stats once the outbox has nothing waiting (60 s at most).
fn outbox_settled(http: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stats = get_json(&format!("{http}/v1/campaigns/stats"));
        if stats["outbox"]["waiting"] == 0 || std::time::Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The INVITEs SIPp received: voxline call id -> the SIP Call-IDs dialled for it.
fn invites(log: &str) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut out: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for message in log.split("message received").skip(1) {
        let body = message.split_once('\n').map_or("", |(_, rest)| rest).trim_start();
        if !body.starts_with("INVITE ") {
            continue;
        }
        let header = |name: &str| {
            body.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string())).unwrap_or_default()
        };
        out.entry(header("X-Voxline-Call-Id:")).or_default().insert(header("Call-ID:"));
    }
    out
}

/// kill -9 of a serving node in the middle of a campaign (30 COD orders, a trunk of 3
/// lines at 4 calls a second, every callee busy), then a restart on the same store:
/// every attempt ends once with its outcome delivered (those cut off mid-dial as
/// `failed`), no attempt is dialled twice (SIPp's own log of INVITEs), and a delivery
/// the kill cut short is sent again with the same idempotency key and body.
#[test]
fn a_killed_node_loses_nothing_and_dials_nothing_twice() {
    let dir = std::env::temp_dir().join(format!("voxline-campaign-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    killed_node(&dir, &format!("sqlite://{}/campaign.db", dir.display()));
}

/// The same on PostgreSQL.
#[test]
fn a_killed_node_on_postgres_loses_nothing_and_dials_nothing_twice() {
    let dir = std::env::temp_dir().join(format!("voxline-campaign-crash-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cluster = PgCluster::start().expect("PostgreSQL (Debian package postgresql)");
    killed_node(&dir, &cluster.database("campaign").unwrap());
}

fn killed_node(dir: &std::path::Path, db: &str) {
    let (webhook, requests) = receiver(0);
    let port = free_port();
    let mut trunk = busy_trunk(dir, port);
    let config = json!({
        "trunk": [{"name": "outbound", "host": "127.0.0.1", "port": port, "from": "+918000000000",
                   "max_calls": 3, "cps": 4.0}],
        "campaign": {"window": "00:00-24:00", "trunks": ["outbound"], "tick": "100ms",
                     "webhook_url": webhook, "webhook_secret": SECRET},
    });
    let config = toml::to_string(&toml::Value::try_from(config).unwrap()).unwrap();
    let env = [("VOXLINE_STORAGE__URL", db), ("VOXLINE_STORAGE__NODE", "n1")];
    let server = Server::start_with(&env, &config);
    let customers: String =
        (0..30).map(|i| format!("K{i:02},Customer {i},+9198100000{i:02},Asia/Kolkata,en,\n")).collect();
    let body = json!({"files": {"customers.csv": format!("id,name,phone,timezone,language,opted_out\n{customers}")}});
    assert_eq!(http("POST", &format!("{}/v1/crm/import", server.http), &body.to_string()).0, 200);
    let now = chrono::Utc::now().to_rfc3339();
    let events: Vec<Value> = (0..30)
        .map(|i| {
            json!({"id": format!("ev-k{i}"), "type": "order.placed", "at": now, "customer_id": format!("K{i:02}"),
            "order_id": format!("OK{i:02}"), "payment": "cod", "amount": 499, "items": ["mug x 1"], "status": "placed",
                "address": "4 Park Street, Kolkata", "expected_delivery": "2026-12-24"})
        })
        .collect();
    assert_eq!(http("POST", &format!("{}/v1/events", server.http), &Value::Array(events).to_string()).0, 200);

    // Mid-campaign: some outcomes delivered, the rest not yet dialled or on the line.
    let mut got = Vec::new();
    while got.len() < 8 {
        got.push(requests.recv_timeout(Duration::from_secs(60)).expect("deliveries before the kill"));
    }
    drop(server); // SIGKILL
    let server = Server::start_with(&env, &config);
    let mut keys = std::collections::BTreeMap::<String, Vec<String>>::new();
    for r in &got {
        keys.entry(r.header("idempotency-key").unwrap().to_string()).or_default().push(r.body.clone());
    }
    while keys.len() < 30 {
        let r = requests.recv_timeout(Duration::from_secs(120)).expect("every attempt's outcome after the restart");
        keys.entry(r.header("idempotency-key").unwrap().to_string()).or_default().push(r.body.clone());
    }
    let attempts = get_json(&format!("{}/v1/attempts?flow=cod&limit=1000", server.http));
    let attempts = attempts["attempts"].as_array().unwrap();
    let first: Vec<&Value> = attempts.iter().filter(|a| a["attempt_no"] == 1).collect();
    assert_eq!(first.len(), 30, "one first attempt per order: {attempts:?}");
    for a in &first {
        let id = a["attempt_id"].as_str().unwrap();
        assert_eq!(a["state"], "completed", "{a}");
        assert!(matches!(a["result"].as_str(), Some("busy" | "failed")), "{a}");
        let bodies = &keys[id];
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "a redelivery is the same record: {bodies:?}");
        let outcome: Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(outcome["outcome"], a["result"], "{outcome}");
    }
    // Retries wait the retry gap (2 h): nothing else was dialled.
    assert!(attempts.iter().all(|a| a["attempt_no"] == 1 || a["dialed_at"].is_null()), "{attempts:?}");
    let _ = trunk.kill();
    let _ = trunk.wait();
    let dialled = invites(&std::fs::read_to_string(dir.join("sipp-messages.log")).unwrap());
    let calls: std::collections::BTreeSet<&str> = first.iter().filter_map(|a| a["call_id"].as_str()).collect();
    assert!(dialled.len() >= 8 && dialled.len() <= 30, "{} calls dialled", dialled.len());
    for (call, sip_ids) in &dialled {
        assert!(calls.contains(call.as_str()), "an INVITE for a call no attempt owns: {call}");
        assert_eq!(sip_ids.len(), 1, "call {call} dialled once: {sip_ids:?}");
    }
    let cut_off = first.iter().filter(|a| a["result"] == "failed").count();
    let resent = keys.values().filter(|b| b.len() > 1).count();
    eprintln!("crash: {} dialled, {cut_off} cut off by the kill, {resent} deliveries sent again", dialled.len());
    // The cut-short delivery is resent at the restart (its key was seen before the kill).
    let stats = outbox_settled(&server.http);
    assert_eq!(stats["outbox"]["delivered"], 30, "{stats}");
    assert_eq!(stats["outbox"]["waiting"], 0, "{stats}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// Two nodes on one PostgreSQL store share a campaign (20 COD orders; a trunk whose
/// callees ring until voxline's 2 s ring timeout, 3 lines per node). Node a is killed
/// while it has calls ringing; node b takes its attempts over once a's 1 s leases run
/// out (their calls end cut off: `failed`) and finishes the campaign: every attempt
/// ends once, every outcome is delivered, and no attempt is dialled twice (SIPp's log).
#[test]
fn a_second_node_takes_over_a_dead_nodes_attempts() {
    let dir = std::env::temp_dir().join(format!("voxline-campaign-nodes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cluster = PgCluster::start().expect("PostgreSQL (Debian package postgresql)");
    let db = cluster.database("campaign").unwrap();
    let (webhook, requests) = receiver(0);
    let port = free_port();
    let mut trunk = logging_trunk(&dir, port, "uas_no_answer.xml");
    let config = json!({
        "trunk": [{"name": "outbound", "host": "127.0.0.1", "port": port, "from": "+918000000000",
                   "max_calls": 3, "cps": 10.0, "ring_timeout": "2s"}],
        "campaign": {"window": "00:00-24:00", "trunks": ["outbound"], "tick": "100ms", "lease": "1s",
                     "webhook_url": webhook, "webhook_secret": SECRET},
    });
    let config = toml::to_string(&toml::Value::try_from(config).unwrap()).unwrap();
    let a = Server::start_with(&[("VOXLINE_STORAGE__URL", db.as_str()), ("VOXLINE_STORAGE__NODE", "a")], &config);
    let b = Server::start_with(&[("VOXLINE_STORAGE__URL", db.as_str()), ("VOXLINE_STORAGE__NODE", "b")], &config);
    let customers: String =
        (0..20).map(|i| format!("M{i:02},Customer {i},+9198200000{i:02},Asia/Kolkata,en,\n")).collect();
    let body = json!({"files": {"customers.csv": format!("id,name,phone,timezone,language,opted_out\n{customers}")}});
    assert_eq!(http("POST", &format!("{}/v1/crm/import", a.http), &body.to_string()).0, 200);
    let now = chrono::Utc::now().to_rfc3339();
    let events: Vec<Value> = (0..20)
        .map(|i| {
            json!({"id": format!("ev-m{i}"), "type": "order.placed", "at": now, "customer_id": format!("M{i:02}"),
            "order_id": format!("OM{i:02}"), "payment": "cod", "amount": 499, "items": ["mug x 1"], "status": "placed",
                "address": "4 Park Street, Kolkata", "expected_delivery": "2026-12-24"})
        })
        .collect();
    assert_eq!(http("POST", &format!("{}/v1/events", b.http), &Value::Array(events).to_string()).0, 200);

    // Both nodes dial; a is killed once it has calls ringing and b has dialled too.
    let on_the_line = |node: &str| -> Vec<String> {
        let attempts = get_json(&format!("{}/v1/attempts?state=ringing&limit=1000", b.http));
        attempts["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["node"] == node)
            .map(|x| x["attempt_id"].as_str().unwrap().to_string())
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let cut = loop {
        let ringing = on_the_line("a");
        if !ringing.is_empty() && !on_the_line("b").is_empty() {
            break ringing;
        }
        assert!(std::time::Instant::now() < deadline, "both nodes dialling");
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(a); // SIGKILL: its leases are renewed no more

    let mut keys = std::collections::BTreeMap::<String, Vec<String>>::new();
    while keys.len() < 20 {
        let r = requests.recv_timeout(Duration::from_secs(120)).expect("every attempt's outcome");
        keys.entry(r.header("idempotency-key").unwrap().to_string()).or_default().push(r.body.clone());
    }
    let stats = outbox_settled(&b.http);
    assert_eq!(stats["outbox"]["delivered"], 20, "{stats}");
    let attempts = get_json(&format!("{}/v1/attempts?flow=cod&limit=1000", b.http));
    let attempts = attempts["attempts"].as_array().unwrap();
    let first: Vec<&Value> = attempts.iter().filter(|x| x["attempt_no"] == 1).collect();
    assert_eq!(first.len(), 20, "{attempts:?}");
    for x in &first {
        assert_eq!(x["state"], "completed", "{x}");
        let id = x["attempt_id"].as_str().unwrap();
        let outcome: Value = serde_json::from_str(&keys[id][0]).unwrap();
        assert_eq!(outcome["outcome"], x["result"], "{outcome}");
        if cut.iter().any(|c| c == id) {
            // Ringing on a when it died: taken over by b, its call cut off.
            assert_eq!(x["result"], "failed", "{x}");
            assert_eq!(x["node"], "b", "{x}");
            let call = get_json(&format!("{}/v1/calls/{}", b.http, x["call_id"].as_str().unwrap()));
            assert_eq!(call["closed"], "node a lost", "{call}");
        } else {
            assert!(matches!(x["result"].as_str(), Some("no_answer" | "failed")), "{x}");
        }
    }
    assert!(attempts.iter().all(|x| x["attempt_no"] == 1 || x["dialed_at"].is_null()), "{attempts:?}");
    let _ = trunk.kill();
    let _ = trunk.wait();
    let dialled = invites(&std::fs::read_to_string(dir.join("sipp-messages.log")).unwrap());
    let calls: std::collections::BTreeSet<&str> = first.iter().filter_map(|x| x["call_id"].as_str()).collect();
    assert!(dialled.len() <= 20, "{} calls dialled", dialled.len());
    for x in &first {
        let (id, call) = (x["attempt_id"].as_str().unwrap(), x["call_id"].as_str().unwrap_or_default());
        if x["result"] == "no_answer" || cut.iter().any(|c| c == id) {
            assert!(dialled.contains_key(call), "attempt {id} rang: its INVITE is in SIPp's log");
        }
    }
    for (call, sip_ids) in &dialled {
        assert!(calls.contains(call.as_str()), "an INVITE for a call no attempt owns: {call}");
        assert_eq!(sip_ids.len(), 1, "call {call} dialled once: {sip_ids:?}");
    }
    eprintln!("nodes: a had {} ringing when killed; b finished them", cut.len());
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}
