//! Answering-machine detection in the call core: the bot waits until it is decided; a
//! person is greeted, a machine gets the flow's message after its beep, or a hang-up.

use voxline::call::Event;
use voxline::dialogue::Outcome;

use crate::harness::{run, Act, Cue, Options, Run};

const MESSAGE: &str = "This is an automated call from ShopKart about your order. Goodbye.";

fn answered_by(r: &Run) -> (&'static str, u64) {
    let e = r.first(|e| matches!(e, Event::AnsweredBy { .. })).expect("detection decided");
    match &e.event {
        Event::AnsweredBy { by, .. } => (*by, e.at_ms),
        _ => unreachable!(),
    }
}

fn first_say(r: &Run) -> Option<(String, u64)> {
    r.events.iter().find_map(|e| match &e.event {
        Event::BotSay { text } => Some((text.clone(), e.at_ms)),
        _ => None,
    })
}

fn amd() -> Options {
    Options { amd: true, max_ms: 45_000, ..Default::default() }
}

#[test]
fn a_person_saying_hello_is_greeted_once_detection_decides() {
    let r = run(
        &[
            Act::Say { text: "hello", ms: 600, at: Cue::At(300) },
            Act::Say { text: "yes", ms: 400, at: Cue::AfterBot(1, 400) },
        ],
        amd(),
    );
    let (by, at) = answered_by(&r);
    assert_eq!(by, "human");
    assert!(at < 3500, "decided at {at} ms");
    let (text, said_at) = first_say(&r).expect("greeted");
    assert!(text.contains("automated"), "{text}");
    assert!(said_at >= at, "the greeting ({said_at} ms) waits for the decision ({at} ms)");
    assert!(r.first(|e| matches!(e, Event::Intent { .. })).is_some(), "the call goes on after the greeting");
}

#[test]
fn a_silent_line_is_a_person_at_the_deadline() {
    let r = run(&[], Options { max_ms: 6_000, ..amd() });
    assert_eq!(answered_by(&r), ("human", 3500));
    assert!(first_say(&r).is_some_and(|(_, at)| at == 3500), "greeted at the deadline");
}

#[test]
fn a_key_press_while_deciding_is_a_person() {
    let r = run(&[Act::Dtmf { digit: '1', at: Cue::At(800) }], Options { max_ms: 3_000, ..amd() });
    assert_eq!(answered_by(&r), ("human", 800));
    assert_eq!(r.count(|e| matches!(e, Event::Dtmf { .. })), 0, "the key is not an answer to a question not asked");
    assert!(first_say(&r).is_some());
}

#[test]
fn a_machine_is_hung_up_on_when_the_flow_leaves_no_message() {
    let greeting = "hi you have reached priya i cannot take your call right now please leave a message";
    let r = run(&[Act::Say { text: greeting, ms: 6000, at: Cue::At(300) }], amd());
    let (by, at) = answered_by(&r);
    assert_eq!(by, "machine");
    assert!(at <= 3500, "decided at {at} ms");
    assert_eq!(r.outcome, Some(Outcome::Voicemail));
    assert!(first_say(&r).is_none(), "nothing said to a machine");
    assert!(r.bot_frames.is_empty());
    assert_eq!(r.count(|e| matches!(e, Event::Intent { .. })), 0, "the greeting is not a caller turn");
}

#[test]
fn a_machine_gets_the_message_after_its_beep() {
    let r = run(
        &[
            Act::Say { text: "you have reached the voicemail of priya", ms: 4500, at: Cue::At(300) },
            Act::Beep { ms: 500, at: Cue::At(5000) },
        ],
        Options { voicemail: Some(MESSAGE), ..amd() },
    );
    assert_eq!(answered_by(&r).0, "machine");
    let (text, at) = first_say(&r).expect("a message left");
    assert_eq!(text, MESSAGE);
    assert!((5000..5400).contains(&at), "the message starts at the beep ({at} ms)");
    let first_frame = r.bot_frames.first().expect("the message played").0;
    assert!(first_frame >= 5000, "nothing plays over the greeting: {first_frame} ms");
    assert_eq!(r.outcome, Some(Outcome::Voicemail));
    assert_eq!(r.count(|e| matches!(e, Event::Intent { .. })), 0);
}

#[test]
fn without_a_beep_the_message_follows_the_greetings_end() {
    let r = run(
        &[Act::Say { text: "please leave a message after the tone", ms: 4000, at: Cue::At(200) }],
        Options { voicemail: Some(MESSAGE), ..amd() },
    );
    let (_, at) = first_say(&r).expect("a message left");
    assert!(at >= 4200 + 1500, "after 1.5 s of silence ends the greeting ({at} ms)");
    assert_eq!(r.outcome, Some(Outcome::Voicemail));
}

#[test]
fn a_greeting_that_never_ends_is_hung_up_on_without_a_message() {
    let r = run(
        &[Act::Say { text: "hold music and talking", ms: 44_000, at: Cue::At(100) }],
        Options { voicemail: Some(MESSAGE), ..amd() },
    );
    assert_eq!(answered_by(&r).0, "machine");
    assert!(first_say(&r).is_none_or(|(text, _)| text.is_empty()));
    assert!(r.bot_frames.is_empty());
    assert_eq!(r.outcome, Some(Outcome::Voicemail));
}
