//! Flows driven with typed caller words and the real MiniLM classifier: slot capture
//! (address confirmation, a new address, callback times) and the outcomes they lead to.

use std::path::PathBuf;
use std::time::Duration;

use voxline::dialogue::{BotTurn, Dialogue, Outcome};
use voxline::sim::load_dialogue;

use crate::common::{fixtures, models};

fn dialogue(flow: &str, ctx: &str) -> Box<dyn Dialogue> {
    let prompts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prompts");
    load_dialogue(&models(), &prompts, flow, &fixtures().join("calls").join(ctx)).unwrap()
}

/// The greeting, then one bot turn per caller line; the last turn is returned.
fn talk(d: &mut dyn Dialogue, lines: &[&str]) -> BotTurn {
    let greeting = d.greet();
    assert!(greeting.say.contains("automated assistant"), "{}", greeting.say);
    let mut last = greeting;
    for line in lines {
        assert!(last.end.is_none(), "the call ended before {line:?}: {last:?}");
        last = d.on_text(Duration::ZERO, line);
    }
    last
}

#[test]
fn a_confirmed_address_is_a_yes_slot() {
    let mut d = dialogue("cod", "ctx_cod.json");
    let end = talk(d.as_mut(), &["yes please confirm", "haan ji address sahi hai", "yes I will be at home"]);
    assert_eq!(end.end.map(|e| e.outcome), Some(Outcome::Confirmed));
    assert_eq!(d.slots().get("address_confirmed").map(String::as_str), Some("yes"));
}

#[test]
fn a_new_address_hands_off_with_the_address() {
    let mut d = dialogue("cod", "ctx_cod.json");
    let end = talk(d.as_mut(), &["yes", "it's 45 Brigade Road, Indiranagar now"]);
    let call_end = end.end.expect("handoff");
    assert_eq!((call_end.outcome, call_end.handoff.as_deref()), (Outcome::Handoff, Some("change_address")));
    let slots = d.slots();
    assert_eq!(slots.get("new_address").map(String::as_str), Some("45 Brigade Road, Indiranagar"));
    assert_eq!(slots.get("address_confirmed").map(String::as_str), Some("no"));
    // Repeating the address on file is a confirmation, not a change.
    let mut d = dialogue("cod", "ctx_cod.json");
    let turn = talk(d.as_mut(), &["yes", "yes 12 MG Road is right"]);
    assert!(turn.end.is_none() && d.state() == "confirm_availability", "{turn:?}");
}

#[test]
fn callbacks_are_scheduled_at_the_time_asked_or_two_hours_on() {
    let mut d = dialogue("cod", "ctx_cod.json");
    let end = talk(d.as_mut(), &["I'm driving, call me tomorrow morning"]);
    assert_eq!(end.end.map(|e| e.outcome), Some(Outcome::CallbackRequested));
    assert_eq!(d.slots().get("callback_time").map(String::as_str), Some("2026-11-27T09:00:00+05:30"));
    assert!(end.say.contains("tomorrow at 9 AM"), "{}", end.say);

    let mut d = dialogue("delivery_retry", "ctx_full.json");
    let end = talk(d.as_mut(), &["abhi busy hoon baad mein call karo"]);
    assert_eq!(end.end.map(|e| e.outcome), Some(Outcome::CallbackRequested));
    assert_eq!(
        d.slots().get("callback_time").map(String::as_str),
        Some("2026-11-26T13:15:00+05:30"),
        "call.now 11:05 + 2 h"
    );
    assert!(end.say.contains("today at 1:15 PM"), "{}", end.say);
}

#[test]
fn a_date_out_of_range_is_asked_again() {
    let mut d = dialogue("delivery_retry", "ctx_full.json");
    let turn = talk(d.as_mut(), &["can you deliver it on 2026-11-20"]);
    assert!(turn.end.is_none() && turn.say.contains("already passed") && turn.say.contains("Which day"), "{turn:?}");
    let turn = d.on_text(Duration::ZERO, "deliver it on February 10th");
    assert!(turn.end.is_none() && turn.say.contains("thirty days"), "{turn:?}");
    let turn = d.on_text(Duration::ZERO, "Saturday then");
    assert_eq!(turn.end.map(|e| e.outcome), Some(Outcome::Rescheduled));
    assert_eq!(d.slots().get("date").map(String::as_str), Some("2026-11-28"));
}

#[test]
fn the_dialogue_follows_the_calls_clock() {
    // A call placed at 20:00 whose caller asks, half an hour in, for a call in 15 minutes.
    let mut ctx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("calls/ctx_cod.json")).unwrap()).unwrap();
    ctx["call"]["now"] = "2026-11-26T20:00:00+05:30".into();
    let dir = std::env::temp_dir().join(format!("voxline-clock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ctx.json"), ctx.to_string()).unwrap();
    let prompts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let mut d = load_dialogue(&models(), &prompts, "cod", &dir.join("ctx.json")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    d.greet();
    let end = d.on_text(Duration::from_secs(30 * 60), "I'm busy right now, call me back in 15 minutes");
    assert_eq!(end.end.map(|e| e.outcome), Some(Outcome::CallbackRequested));
    assert_eq!(d.slots().get("callback_time").map(String::as_str), Some("2026-11-26T20:45:00+05:30"));
    assert!(end.say.contains("today at 8:45 PM"), "{}", end.say);
}

#[test]
fn a_moment_asked_for_is_not_a_delivery_date() {
    let mut d = dialogue("cod", "ctx_cod.json");
    let turn = talk(d.as_mut(), &["yes", "yes", "no", "hold on a second", "okay"]);
    assert!(turn.end.is_none(), "{turn:?}");
    assert_eq!(d.slots().get("date"), None);
    assert!(turn.say.contains("Which day"), "{}", turn.say);
}

#[test]
fn static_prompts_hold_no_call_data() {
    // Two customers' calls pin the same text, and none of it names either of them.
    let a = dialogue("cod", "ctx_full.json");
    let b = dialogue("cod", "ctx_cod.json");
    let static_a = a.static_prompts();
    assert!(static_a.len() > 5);
    assert_eq!(static_a, b.static_prompts());
    let ctx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("calls/ctx_full.json")).unwrap()).unwrap();
    let name = ctx["customer"]["name"].as_str().unwrap();
    assert!(static_a.iter().all(|t| !t.contains(name) && !t.contains('{')), "{static_a:?}");
    assert!(static_a.iter().any(|t| t == "Shall I confirm the order?"), "a static sentence of a templated prompt");
    // The greeting is this call's own: prepared per call, not pinned.
    assert!(a.call_prompts().iter().any(|t| t.contains(name)), "{:?}", a.call_prompts());
}
