//! The handoff packet, version 1: what a human agent gets with a live call, so the
//! customer never repeats themselves. Built from the call core's packet and the call's
//! identity and context; stored with the call the moment the bot hands off (`GET
//! /v1/handoffs/{call id}`), and again, unchanged, when the call ends.

use serde::Serialize;
use serde_json::Value;

use crate::call::{HandoffPacket, TranscriptLine, TriggerIntent};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoffV1 {
    pub version: u32,
    /// The handoff's id: the call's (one handoff per call).
    pub id: String,
    pub call_id: String,
    /// When the bot handed off (RFC 3339).
    pub at: String,
    /// The call context's `customer` object.
    pub customer: Value,
    /// The campaign attempt the call was placed for (`call.attempt_id`), if any.
    pub campaign: Campaign,
    pub flow: String,
    /// The script step reached, and every step taken to get there.
    pub state: String,
    pub path: Vec<String>,
    pub slots: std::collections::BTreeMap<String, String>,
    /// Both sides so far, call time in ms; a bot line the caller cut into carries `heard`.
    pub transcript: Vec<TranscriptLine>,
    pub trigger_intent: Option<TriggerIntent>,
    /// The flow's reason code (`change_address`) and in words.
    pub reason: String,
    pub reason_text: String,
    /// The call's recording while it is being made (`/v1/calls/{id}/recording.wav`), if recorded.
    pub recording_url: Option<String>,
    /// One line for the agent.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    pub attempt_id: Option<String>,
    pub flow: String,
}

/// The reason code in words, as an agent reads it.
pub fn reason_text(code: &str) -> String {
    let words = match code {
        "modify_order" => "customer wants to change the order",
        "change_address" => "customer wants to change the delivery address",
        "dispute" => "customer disputes the order",
        "not_available" => "customer cannot be there for the delivery",
        "cancel_return" => "customer wants to cancel the return",
        "complaint" => "customer has a complaint",
        "other_question" => "customer has a question the bot cannot answer",
        "ask_human" => "customer asked for a person",
        "no_match" => "the bot did not understand the customer",
        "classifier_failed" => "the bot could not interpret the answer",
        other => return other.replace('_', " "),
    };
    words.to_string()
}

/// The packet for call `call_id` with `context`, handed off at `at`.
pub fn packet(
    call_id: &str,
    context: &Value,
    packet: &HandoffPacket,
    at: &str,
    recording_url: Option<String>,
) -> HandoffV1 {
    let customer = context.get("customer").cloned().unwrap_or(Value::Null);
    let attempt_id = context.pointer("/call/attempt_id").and_then(Value::as_str).map(String::from);
    let reason_text = reason_text(&packet.reason);
    let name = customer.get("name").and_then(Value::as_str).unwrap_or("The caller");
    let said = packet
        .trigger
        .as_ref()
        .filter(|t| !t.text.is_empty())
        .map(|t| format!(" (said \"{}\")", t.text))
        .unwrap_or_default();
    let summary = format!("{}: {name}: {reason_text}{said}, at {}", packet.flow, packet.state);
    HandoffV1 {
        version: VERSION,
        id: call_id.to_string(),
        call_id: call_id.to_string(),
        at: at.to_string(),
        customer,
        campaign: Campaign { attempt_id, flow: packet.flow.clone() },
        flow: packet.flow.clone(),
        state: packet.state.clone(),
        path: packet.path.clone(),
        slots: packet.slots.clone(),
        transcript: packet.transcript.clone(),
        trigger_intent: packet.trigger.clone(),
        reason: packet.reason.clone(),
        reason_text,
        recording_url,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_packet_names_the_call_customer_reason_and_what_was_said() {
        let core = HandoffPacket {
            flow: "cod".into(),
            state: "verify_address".into(),
            path: vec!["confirm_order".into(), "verify_address".into()],
            slots: [("confirmed".to_string(), "yes".to_string())].into(),
            transcript: vec![TranscriptLine {
                speaker: "bot",
                text: "Is the address 4 Park Street?".into(),
                at_ms: 5000,
                heard: Some("Is the address".into()),
            }],
            trigger: Some(TriggerIntent { name: "deny".into(), confidence: 0.9, text: "no it moved".into() }),
            reason: "change_address".into(),
        };
        let context = json!({"customer": {"name": "Priya"}, "call": {"attempt_id": "att-1"}});
        let p = packet(
            "call-1",
            &context,
            &core,
            "2026-12-04T10:00:00.000Z",
            Some("/v1/calls/call-1/recording.wav".into()),
        );
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["id"], "call-1");
        assert_eq!(v["customer"]["name"], "Priya");
        assert_eq!(v["campaign"]["attempt_id"], "att-1");
        assert_eq!(v["path"], json!(["confirm_order", "verify_address"]));
        assert_eq!(v["transcript"][0]["heard"], "Is the address");
        assert_eq!(v["trigger_intent"]["name"], "deny");
        assert_eq!(v["reason_text"], "customer wants to change the delivery address");
        assert_eq!(
            v["summary"],
            "cod: Priya: customer wants to change the delivery address (said \"no it moved\"), at verify_address"
        );
        assert_eq!(reason_text("lost_parcel"), "lost parcel");
    }
}
