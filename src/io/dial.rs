//! `voxline dial`: asks a running server to place a call through one of its trunks
//! (`POST /v1/calls` with `"dial"`) and follows the call's record to its end.

use std::time::Duration;

use serde_json::{json, Value};

use super::http_client::{self, HttpError};

pub struct DialOptions {
    /// The server's base URL, e.g. http://127.0.0.1:8080.
    pub server: String,
    pub trunk: String,
    pub to: String,
    /// Key presses after the answer (`dial.digits`), empty for none.
    pub digits: String,
    pub flow: String,
    pub context: Value,
    /// Follow the call until it ends (else return once it is placed).
    pub wait: bool,
}

/// Places the call; returns `{"call_id", "state", "result", "outcome", "closed"}` once
/// it has ended (or at once, without `wait`). State changes go to stderr.
pub async fn dial(options: DialOptions) -> Result<Value, HttpError> {
    let base = options.server.trim_end_matches('/');
    let body = json!({
        "flow": options.flow,
        "context": options.context,
        "dial": {"trunk": options.trunk, "to": options.to, "digits": options.digits},
    });
    let created = http_client::json("POST", &format!("{base}/v1/calls"), Some(&body)).await?;
    let id = created["call_id"].as_str().unwrap_or_default().to_string();
    let url = format!("{base}/v1/calls/{id}");
    let mut last = String::new();
    loop {
        let call = http_client::json("GET", &url, None).await?;
        let state = call["state"].as_str().unwrap_or("?").to_string();
        if state != last {
            eprintln!("{id}: {state}{}", call["result"].as_str().map(|r| format!(" ({r})")).unwrap_or_default());
            last = state.clone();
        }
        if state == "ended" || !options.wait {
            let fields = ["state", "result", "outcome", "closed", "transport", "carrier_call_id"];
            let mut out = json!({"call_id": id});
            for key in fields {
                out[key] = call[key].clone();
            }
            return Ok(out);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
