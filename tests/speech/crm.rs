//! CRM data in: `voxline crm import DIR`, `POST /v1/crm/import` and `POST /v1/events`
//! against a SQLite store, with good rows, rows refused for a reason each, a re-import and
//! re-sent events.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::serve::{http, Server};

fn write(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// `voxline crm import DIR` on the store at `db`: the report and stderr.
fn import(dir: &Path, db: &Path) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_voxline"))
        .args(["crm", "import"])
        .arg(dir)
        .env("VOXLINE_STORAGE__URL", format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "crm import failed: {stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// (file, line, field) of each refused row.
fn refused(report: &Value) -> Vec<(String, u64, Option<String>)> {
    report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let field = r["field"].as_str().map(String::from);
            (r["file"].as_str().unwrap().to_string(), r["line"].as_u64().unwrap(), field)
        })
        .collect()
}

const CUSTOMERS: &str = "\
id,name,phone,timezone,language,opted_out,segment_hint
C1,Asha Rao,+91 98123 45678,Asia/Calcutta,en,false,vip
C2,Ram Thapa,+977 981 2345678,Asia/Kathmandu,en,,
C3,Bad Phone,98123 45678,Asia/Kolkata,en,,
C4,Bad Zone,+14155550100,America/Springfield,en,,
C1,Duplicate,+919812345679,Asia/Kolkata,en,,
C5,Opted Out,+447700900123,Europe/London,en,true,
";

const ORDERS: &str = r#"{"id":"O1","customer_id":"C1","placed_at":"2026-12-01T10:00:00+05:30","payment":"cod","amount":"1499.00","currency":"INR","items":["Blue kurta x 2","Dupatta"],"category":"apparel","address":"12 MG Road, Bengaluru","status":"placed"}
{"id":"O2","customer_id":"C9","placed_at":"2026-12-01T10:00:00Z","payment":"prepaid"}
{"id":"O3","customer_id":"C2","placed_at":"yesterday","payment":"cod"}
{"id":"O4", "customer_id": 
{"id":"O5","customer_id":"C2","placed_at":"2026-09-15T08:00:00Z","payment":"prepaid","category":"footwear","status":"returned"}
"#;

const RETURNS: &str = "\
order_id,id,customer_id,status,pickup_date,pickup_window,refund_amount
O5,R1,C2,pickup_scheduled,2026-12-04,10:00-14:00,899
O1,R2,C2,pickup_scheduled,2026-12-04,,
";

const DELIVERIES: &str = "order_id,status,failed_at,failure_reason,next_slots\n\
O1,failed,2026-12-02T15:00:00+05:30,customer not available,Fri 10-13; Sat 14-18\n\
O7,failed,2026-12-02T15:00:00Z,,\n";

const TICKETS: &str = r#"{"id":"T1","customer_id":"C2","status":"open","opened_at":"2026-12-01T09:00:00Z"}
{"id":"T2","customer_id":"C1","status":"frozen","opened_at":"2026-12-01T09:00:00Z"}
"#;

#[test]
fn crm_import_refuses_bad_rows_one_by_one_and_reimports_by_id() {
    let root = std::env::temp_dir().join(format!("voxline-crm-{}", std::process::id()));
    let (dir, db) = (root.join("crm"), root.join("voxline.db"));
    write(
        &dir,
        &[
            ("customers.csv", CUSTOMERS),
            ("orders.jsonl", ORDERS),
            ("returns.csv", RETURNS),
            ("deliveries.csv", DELIVERIES),
            ("tickets.jsonl", TICKETS),
            ("README.txt", "not an import file: left alone"),
        ],
    );
    let (report, stderr) = import(&dir, &db);
    eprintln!("{report:#}");
    assert_eq!(
        report["imported"],
        json!({
            "customers": {"inserted": 3, "updated": 0}, "orders": {"inserted": 2, "updated": 0},
            "returns": {"inserted": 1, "updated": 0}, "deliveries": {"inserted": 1, "updated": 0},
            "tickets": {"inserted": 1, "updated": 0},
        })
    );
    let s = |v: &str| Some(v.to_string());
    let mut want = vec![
        ("customers.csv".to_string(), 4, s("phone")),
        ("customers.csv".to_string(), 5, s("timezone")),
        ("customers.csv".to_string(), 6, s("id")),
        ("orders.jsonl".to_string(), 3, s("placed_at")),
        ("orders.jsonl".to_string(), 4, None),
        ("tickets.jsonl".to_string(), 2, s("status")),
        // Refused by the store: references to nothing, or to someone else's order.
        ("orders.jsonl".to_string(), 2, s("customer_id")),
        ("returns.csv".to_string(), 3, s("customer_id")),
        ("deliveries.csv".to_string(), 3, s("order_id")),
    ];
    let mut got = refused(&report);
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(stderr.contains("9 rows refused"), "{stderr}");
    let reasons: Vec<&str> =
        report["rejected"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.contains("unknown customer \"C9\"")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("not E.164")), "{reasons:?}");

    // A re-import updates by id, never undoes an opt-out, and a bad row changes nothing.
    write(
        &dir,
        &[
            (
                "customers.csv",
                "id,name,phone,timezone,opted_out\n\
                 C1,Asha R.,+919812345678,Asia/Kolkata,\n\
                 C5,Opted Out,+447700900123,Europe/London,false\n\
                 C2,Ram Thapa,not-a-number,Asia/Kathmandu,\n",
            ),
            ("orders.jsonl", ""),
            ("returns.csv", "id,order_id,customer_id,status\n"),
            ("deliveries.csv", "order_id,status\n"),
            ("tickets.jsonl", "{\"id\":\"T1\",\"customer_id\":\"C2\",\"status\":\"closed\",\"opened_at\":\"2026-12-01T09:00:00Z\",\"closed_at\":\"2026-12-02T09:00:00Z\"}\n"),
        ],
    );
    let (again, _) = import(&dir, &db);
    assert_eq!(again["imported"]["customers"], json!({"inserted": 0, "updated": 2}));
    assert_eq!(again["imported"]["tickets"], json!({"inserted": 0, "updated": 1}));
    assert_eq!(refused(&again), [("customers.csv".to_string(), 4, s("phone"))]);

    // What is stored, through the server's API.
    let server = Server::start(&[("VOXLINE_STORAGE__URL", &format!("sqlite://{}", db.display()))]);
    let customer = |id: &str| crate::serve::get_json(&format!("{}/v1/crm/customers/{id}", server.http));
    let c1 = customer("C1");
    assert_eq!((c1["name"].as_str(), c1["timezone"].as_str()), (Some("Asha R."), Some("Asia/Kolkata")));
    assert_eq!(customer("C5")["opted_out"], 1, "an opt-out is never undone by an import");
    let c2 = customer("C2");
    assert_eq!((c2["phone"].as_str(), c2["timezone"].as_str()), (Some("+9779812345678"), Some("Asia/Kathmandu")));
    let order = crate::serve::get_json(&format!("{}/v1/crm/orders/O1", server.http));
    assert_eq!(order["amount"], 149900);
    let items: Value = serde_json::from_str(order["items"].as_str().unwrap()).unwrap();
    assert_eq!(items, json!([{"name": "Blue kurta", "qty": 2}, {"name": "Dupatta", "qty": 1}]));
    let (status, _) = http("GET", &format!("{}/v1/crm/customers/C3", server.http), "");
    assert_eq!(status, 404, "a refused row was never stored");
    drop(server);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn crm_import_and_events_over_the_api() {
    let server = Server::start(&[]);
    let url = format!("{}/v1/crm/import", server.http);
    let files = json!({"files": {
        "customers.csv": "id,name,phone,timezone\nA1,Meera,+919800000001,Asia/Kolkata\nA2,Bad,+91,Asia/Kolkata\n",
        "orders.jsonl": "{\"id\":\"X1\",\"customer_id\":\"A1\",\"placed_at\":\"2026-12-01T10:00:00Z\",\"payment\":\"cod\"}\n",
    }});
    let (status, body) = http("POST", &url, &files.to_string());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let report: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["imported"]["customers"]["inserted"], 1);
    assert_eq!(report["imported"]["orders"]["inserted"], 1, "the order's customer came in the same import");
    assert_eq!(refused(&report), [("customers.csv".to_string(), 3, Some("phone".to_string()))]);

    // One file as the body.
    let (status, body) = http(
        "POST",
        &format!("{url}?file=tickets.csv"),
        "id,customer_id,status,opened_at\nK1,A1,open,2026-12-01T09:00:00Z\n",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let report: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["imported"]["tickets"]["inserted"], 1);
    let (status, body) = http("POST", &format!("{url}?file=payments.csv"), "id\n1\n");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("not an import file"));
    let (status, _) = http("POST", &url, "{\"files\": 3}");
    assert_eq!(status, 400);

    // Events: applied once by id, refused with the field when their subject is unknown.
    let events = format!("{}/v1/events", server.http);
    let post = |body: Value| {
        let (status, answer) = http("POST", &events, &body.to_string());
        (status, serde_json::from_slice::<Value>(&answer).unwrap())
    };
    let row = |kind: &str, id: &str| crate::serve::get_json(&format!("{}/v1/crm/{kind}/{id}", server.http));
    let placed = json!({"id": "ev-1", "type": "order.placed", "at": "2026-12-01T11:00:00+05:30", "customer_id": "A1",
        "order_id": "X2", "payment": "COD", "amount": 799, "items": ["Lamp x 1"], "category": "home"});
    assert_eq!(post(placed.clone()), (200, json!({"id": "ev-1", "result": "applied"})));
    assert_eq!(
        (row("orders", "X2")["payment"].as_str(), row("orders", "X2")["placed_at"].as_str()),
        (Some("cod"), Some("2026-12-01T05:30:00.000Z"))
    );
    let mut resent = placed.clone();
    resent["amount"] = json!(1);
    assert_eq!(post(resent), (200, json!({"id": "ev-1", "result": "duplicate"})));
    assert_eq!(row("orders", "X2")["amount"], 79900, "a re-sent event id changes nothing");

    let stranger = json!({"id": "ev-2", "type": "order.placed", "at": "2026-12-01T11:00:00Z", "customer_id": "Z9",
        "order_id": "X3", "payment": "cod"});
    let (status, answer) = post(stranger);
    assert_eq!((status, answer["field"].as_str()), (422, Some("customer_id")), "{answer}");
    let (status, answer) = post(json!({"id": "ev-3", "at": "2026-12-01T11:00:00Z", "customer_id": "A1"}));
    assert_eq!((status, answer["field"].as_str()), (400, Some("type")), "{answer}");
    let (status, _) = http("POST", &events, "{not json");
    assert_eq!(status, 400);

    let batch = json!([
        {"id": "ev-4", "type": "delivery.failed", "at": "2026-12-02T15:00:00+05:30", "customer_id": "A1",
         "order_id": "X2", "failure_reason": "door locked", "next_slots": ["Fri 10-13", "Sat 14-18"]},
        {"id": "ev-5", "type": "ticket.closed", "at": "2026-12-02T10:00:00Z", "customer_id": "A1", "ticket_id": "K1"},
        {"id": "ev-6", "type": "pickup.scheduled", "at": "2026-12-02T10:00:00Z", "customer_id": "A1",
         "return_id": "R5", "order_id": "X1", "item": "Lamp", "pickup_date": "2026-12-05"},
        {"id": "ev-7", "type": "refund.initiated", "at": "2026-12-06T10:00:00Z", "customer_id": "A1",
         "return_id": "R5", "refund_amount": "799", "refund_method": "UPI"},
        {"id": "ev-8", "type": "ticket.closed", "at": "2026-12-02T10:00:00Z", "customer_id": "A1", "ticket_id": "K404"},
        {"id": "ev-9", "type": "customer.opted_out", "at": "2026-12-02T12:00:00Z", "customer_id": "A1"},
    ]);
    let (status, answer) = post(batch);
    assert_eq!(status, 200);
    let results: Vec<&str> =
        answer["results"].as_array().unwrap().iter().map(|r| r["result"].as_str().unwrap_or("refused")).collect();
    assert_eq!(results, ["applied", "applied", "applied", "applied", "refused", "applied"], "{answer}");
    let delivery = row("deliveries", "X2");
    assert_eq!(
        (delivery["status"].as_str(), delivery["failed_at"].as_str()),
        (Some("failed"), Some("2026-12-02T09:30:00.000Z"))
    );
    assert_eq!(delivery["next_slots"].as_str(), Some("[\"Fri 10-13\",\"Sat 14-18\"]"));
    let ticket = row("tickets", "K1");
    assert_eq!(
        (ticket["status"].as_str(), ticket["closed_at"].as_str()),
        (Some("closed"), Some("2026-12-02T10:00:00.000Z"))
    );
    let refund = row("returns", "R5");
    assert_eq!(
        (refund["status"].as_str(), refund["refund_amount"].as_i64(), refund["refund_method"].as_str()),
        (Some("refund_initiated"), Some(79900), Some("upi"))
    );
    assert_eq!(row("customers", "A1")["opted_out"], 1);

    // Triggers: each COD order gets an attempt, decided by the policy; `why` shows the rules.
    let customers = "id,name,phone,timezone,opted_out\nB1,Ira,+919800000011,Asia/Kolkata,\n\
                     B2,Hari,+9779800000012,Asia/Kathmandu,\nB3,Sam,+919800000013,Asia/Kolkata,true\n";
    let (status, _) = http("POST", &format!("{url}?file=customers.csv"), customers);
    assert_eq!(status, 200);
    let mut events = vec![json!({"id": "tk-b2", "type": "ticket.opened", "at": "2026-12-02T08:00:00Z",
        "customer_id": "B2", "ticket_id": "TB2"})];
    for c in ["B1", "B2", "B3"] {
        events.push(json!({"id": format!("ev-{c}"), "type": "order.placed", "at": "2026-12-02T08:00:00Z",
            "customer_id": c, "order_id": format!("O-{c}"), "payment": "cod"}));
    }
    let (status, answer) = post(Value::Array(events));
    assert_eq!(status, 200, "{answer}");
    let why = |c: &str| {
        let w = crate::serve::get_json(&format!("{}/v1/customers/{c}/why", server.http));
        eprintln!("why {c}: {w:#}");
        w["attempts"].as_array().unwrap().clone()
    };
    let b1 = why("B1");
    assert_eq!((b1.len(), b1[0]["flow"].as_str(), b1[0]["state"].as_str()), (1, Some("cod"), Some("queued")));
    // Dialled inside 09:00-21:00 IST whenever this test runs: at once, or after a window wait.
    let decisions = b1[0]["decisions"].as_array().unwrap();
    assert_eq!(decisions.last().unwrap()["decision"], "dial");
    assert!(decisions[..decisions.len() - 1].iter().all(|d| d["rule"] == "window"), "{decisions:?}");
    let at = chrono::DateTime::parse_from_rfc3339(b1[0]["scheduled_at"].as_str().unwrap()).unwrap();
    let local = at.with_timezone(&chrono::FixedOffset::east_opt(19_800).unwrap()).format("%H:%M").to_string();
    assert!(("09:00".."21:00").contains(&local.as_str()), "scheduled at {local} IST");
    let b2 = why("B2");
    assert_eq!(
        (b2[0]["state"].as_str(), b2[0]["decisions"][0]["rule"].as_str()),
        (Some("waiting"), Some("open_ticket"))
    );
    let b3 = why("B3");
    assert_eq!((b3[0]["state"].as_str(), b3[0]["decisions"][0]["rule"].as_str()), (Some("blocked"), Some("opted_out")));
    // A failed delivery of B1's order replaces its COD confirmation.
    let failed = json!({"id": "df-b1", "type": "delivery.failed", "at": "2026-12-02T09:00:00Z", "customer_id": "B1",
        "order_id": "O-B1"});
    assert_eq!(post(failed).0, 200);
    let b1 = why("B1");
    let states: Vec<(&str, &str)> =
        b1.iter().map(|a| (a["flow"].as_str().unwrap(), a["state"].as_str().unwrap())).collect();
    assert_eq!(states, [("cod", "superseded"), ("delivery_retry", "queued")]);
    assert_eq!(http("GET", &format!("{}/v1/customers/NOPE/why", server.http), "").0, 404);
    let (ok, log) = server.stop();
    assert!(ok, "{log}");
}

#[test]
fn winback_selects_lapsed_customers_once() {
    let root = std::env::temp_dir().join(format!("voxline-winback-{}", std::process::id()));
    let (dir, db) = (root.join("crm"), root.join("voxline.db"));
    write(
        &dir,
        &[
            (
                "customers.csv",
                "id,name,phone,timezone,opted_out\nW1,A,+919800000021,Asia/Kolkata,\nW2,B,+919800000022,Asia/Kolkata,\n\
                 W3,C,+919800000023,Asia/Kolkata,\nW4,D,+919800000024,Asia/Kolkata,true\n",
            ),
            (
                "orders.csv",
                "id,customer_id,placed_at,payment,category,status\n\
                 P1,W1,2026-09-15T06:00:00Z,prepaid,apparel,delivered\n\
                 P2,W2,2026-09-27T06:00:00Z,cod,footwear,delivered\n\
                 P2a,W2,2026-07-01T06:00:00Z,cod,books,delivered\n\
                 P3,W3,2026-11-01T06:00:00Z,cod,home,delivered\n\
                 P4,W4,2026-09-22T06:00:00Z,cod,home,delivered\n",
            ),
            (
                "returns.csv",
                "id,order_id,customer_id,status,closed_at\nRW1,P1,W1,refunded,2026-09-25T06:00:00Z\n",
            ),
        ],
    );
    let (report, _) = import(&dir, &db);
    assert!(report["rejected"].as_array().unwrap().is_empty(), "{report}");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_voxline"))
            .args(args)
            .env("VOXLINE_STORAGE__URL", format!("sqlite://{}", db.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    // 10:30 IST: 77 and 65 days since W1's and W2's last orders; W3's is 30, W4 opted out.
    let now = "2026-12-01T05:00:00Z";
    assert_eq!(run(&["campaign", "winback", "--now", now]), json!({"attempts": 2}));
    assert_eq!(run(&["campaign", "winback", "--now", now]), json!({"attempts": 0}), "once per customer");
    let why = |c: &str| run(&["why", c])["attempts"].as_array().unwrap().clone();
    let w1 = why("W1");
    assert_eq!((w1[0]["flow"].as_str(), w1[0]["state"].as_str()), (Some("winback"), Some("queued")));
    assert_eq!(w1[0]["context"], json!({"segment": "lapsed_returned", "last_category": "apparel"}));
    assert_eq!(w1[0]["scheduled_at"], "2026-12-01T05:00:00.000Z");
    assert_eq!(why("W2")[0]["context"], json!({"segment": "lapsed", "last_category": "footwear"}));
    assert!(why("W3").is_empty() && why("W4").is_empty());
    let _ = std::fs::remove_dir_all(root);
}
