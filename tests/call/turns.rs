use voxline::call::{Event, StageLatency, TimedEvent};
use voxline::dialogue::Outcome;

use crate::harness::{run, Act, AsrDouble, Cue, Options};

fn latency(r: &crate::harness::Run, stage: StageLatency) -> Vec<u64> {
    r.events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Latency { stage: s, ms } if *s == stage => Some(*ms),
            _ => None,
        })
        .collect()
}

#[test]
fn two_yes_answers_confirm_the_order_with_quick_endpoints() {
    let r = run(
        &[
            Act::Say { text: "yes", ms: 400, at: Cue::AfterBot(1, 500) },
            Act::Say { text: "yes I will", ms: 700, at: Cue::AfterBot(2, 500) },
        ],
        Options::default(),
    );
    assert_eq!(r.outcome, Some(Outcome::Confirmed));
    assert_eq!(r.count(|e| matches!(e, Event::AsrFinal { .. })), 2);
    assert_eq!(r.count(|e| matches!(e, Event::PlayoutPause)), 0);
    let response = latency(&r, StageLatency::Response);
    assert_eq!(response.len(), 2);
    // "yes" is a complete answer: speculative decode at 160 ms + 120 ms ASR + 60 ms TTS.
    assert!(response[0] <= 160 + 20 + 120 + 60 + 60, "{response:?}");
    let greeting = r.first(|e| matches!(e, Event::BotSay { .. })).unwrap();
    assert!(matches!(&greeting.event, Event::BotSay { text } if text.contains("automated assistant")));
}

#[test]
fn an_open_phrase_waits_longer_than_a_short_answer() {
    let short = run(
        &[Act::Say { text: "yes", ms: 400, at: Cue::AfterBot(1, 300) }],
        Options { max_ms: 15_000, ..Default::default() },
    );
    let open = run(
        &[Act::Say { text: "my address is flat number", ms: 900, at: Cue::AfterBot(1, 300) }],
        Options { max_ms: 15_000, ..Default::default() },
    );
    let wait = |r: &crate::harness::Run| latency(r, StageLatency::EndpointWait)[0];
    assert!(wait(&short) < 300, "{}", wait(&short));
    assert!(wait(&open) >= 1200, "{}", wait(&open));
}

#[test]
fn barge_in_stops_playout_fast_and_records_what_was_heard() {
    let r = run(
        &[Act::Say { text: "stop", ms: 500, at: Cue::DuringBot(1, 1500) }],
        Options { max_ms: 12_000, ..Default::default() },
    );
    let pause = r.first(|e| matches!(e, Event::PlayoutPause)).expect("paused");
    let onset = r.first(|e| matches!(e, Event::SpeechStart)).unwrap().at_ms;
    let last_frame = r.last_frame_before(pause.at_ms).unwrap();
    assert!(last_frame + 20 - onset <= 300, "reaction {} ms", last_frame + 20 - onset);
    let stop = r.first(|e| matches!(e, Event::PlayoutStop { reason: "barge_in", .. })).expect("stopped");
    let Event::PlayoutStop { heard_text, .. } = &stop.event else { unreachable!() };
    assert!(heard_text.starts_with("Hello Priya"), "{heard_text}");
    assert!(!heard_text.contains("rupees"), "{heard_text}");
    assert!(r.clears >= 1, "carrier told to clear its buffer");
    // No frames between the pause and the stop decision.
    assert!(r.bot_frames.iter().all(|(at, _)| *at < pause.at_ms || *at > stop.at_ms));
}

#[test]
fn a_backchannel_pauses_then_resumes_where_it_left_off() {
    let r = run(
        &[Act::Say { text: "uh-huh", ms: 350, at: Cue::DuringBot(1, 1200) }],
        Options { max_ms: 9000, ..Default::default() },
    );
    assert_eq!(r.clears, 0, "the carrier keeps what it holds");
    assert_eq!(r.count(|e| matches!(e, Event::PlayoutResume { reason: "backchannel" })), 1);
    assert_eq!(r.count(|e| matches!(e, Event::PlayoutStop { reason: "barge_in", .. })), 0);
    let done = r.first(|e| matches!(e, Event::PlayoutStop { reason: "done", .. })).unwrap();
    let Event::PlayoutStop { heard_text, .. } = &done.event else { unreachable!() };
    assert!(heard_text.contains("rupees"), "the whole greeting was played: {heard_text}");
}

#[test]
fn noise_without_words_is_a_false_interruption_and_the_sentence_restarts() {
    let r =
        run(&[Act::Noise { ms: 400, at: Cue::DuringBot(1, 1000) }], Options { max_ms: 15_000, ..Default::default() });
    let pause = r.first(|e| matches!(e, Event::PlayoutPause)).expect("paused");
    let resume = r.first(|e| matches!(e, Event::PlayoutResume { reason: "false_interruption" })).expect("resumed");
    assert!(resume.at_ms - pause.at_ms <= 1600, "{} ms", resume.at_ms - pause.at_ms);
    assert!(r.first(|e| matches!(e, Event::PlayoutStop { reason: "done", .. })).is_some());
}

#[test]
fn the_bot_does_not_interrupt_itself_through_line_echo() {
    let r = run(
        &[Act::Say { text: "yes", ms: 400, at: Cue::AfterBot(1, 600) }],
        Options { echo: Some((-20.0, 60)), max_ms: 9000, ..Default::default() },
    );
    assert_eq!(r.count(|e| matches!(e, Event::PlayoutPause)), 0);
    assert_eq!(r.count(|e| matches!(e, Event::SpeechStart)), 1, "only the caller's own turn");
}

#[test]
fn dtmf_answers_and_interrupts() {
    let r = run(
        &[Act::Dtmf { digit: '1', at: Cue::DuringBot(1, 800) }, Act::Dtmf { digit: '1', at: Cue::AfterBot(3, 300) }],
        Options::default(),
    );
    assert!(r.first(|e| matches!(e, Event::PlayoutStop { reason: "barge_in", .. })).is_some());
    assert_eq!(r.count(|e| matches!(e, Event::Dtmf { .. })), 2);
    assert_eq!(r.outcome, Some(Outcome::Confirmed));
}

#[test]
fn silence_reprompts_then_ends_with_no_response() {
    let r = run(&[], Options { max_ms: 60_000, ..Default::default() });
    assert_eq!(r.count(|e| matches!(e, Event::BotSay { .. })), 4, "greeting, two re-prompts, goodbye");
    assert_eq!(r.outcome, Some(Outcome::NoResponse));
}

#[test]
fn asking_for_a_human_hands_off_with_context() {
    let r = run(
        &[
            Act::Say { text: "yes", ms: 400, at: Cue::AfterBot(1, 400) },
            Act::Say { text: "can I talk to a human", ms: 1200, at: Cue::AfterBot(2, 400) },
        ],
        Options::default(),
    );
    assert_eq!(r.outcome, Some(Outcome::Handoff));
    let p = r.handoff.expect("packet");
    assert_eq!((p.flow.as_str(), p.reason.as_str()), ("cod", "ask_human"));
    assert_eq!(p.slots.get("order_confirmed").map(String::as_str), Some("yes"));
    assert!(p.transcript.iter().any(|l| l.speaker == "caller" && l.text.contains("human")));
    assert!(p.path.len() >= 2 && p.path.last() == Some(&p.state), "{:?} ends at {}", p.path, p.state);
    let trigger = p.trigger.expect("the intent that handed off");
    assert_eq!(trigger.text, "can I talk to a human");
    assert!(p.transcript.iter().all(|l| l.heard.is_none()), "nothing was interrupted");
}

#[test]
fn a_handoff_after_a_barge_in_records_what_the_caller_heard() {
    let r = run(
        &[Act::Say { text: "can I talk to a human", ms: 1200, at: Cue::DuringBot(1, 1500) }],
        Options { max_ms: 15_000, ..Default::default() },
    );
    assert_eq!(r.outcome, Some(Outcome::Handoff));
    let p = r.handoff.expect("packet");
    let greeting = &p.transcript[0];
    assert_eq!(greeting.speaker, "bot");
    let heard = greeting.heard.as_deref().expect("the greeting was cut into");
    assert!(heard.starts_with("Hello Priya") && heard.len() < greeting.text.len(), "{heard:?} of {:?}", greeting.text);
}

fn intents(r: &crate::harness::Run) -> Vec<String> {
    r.events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Intent { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn bot_says(r: &crate::harness::Run) -> Vec<String> {
    r.events
        .iter()
        .filter_map(|e| match &e.event {
            Event::BotSay { text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

// The greeting's second sentence ("Can you confirm ... rupees?") starts 2640 ms into playout.
#[test]
fn a_yes_over_the_question_is_taken_as_the_answer() {
    let r = run(
        &[Act::Say { text: "yes", ms: 400, at: Cue::DuringBot(1, 3500) }],
        Options { max_ms: 12_000, ..Default::default() },
    );
    assert_eq!(intents(&r), ["affirm"], "the early yes answered the question");
    assert_eq!(r.count(|e| matches!(e, Event::PlayoutResume { .. })), 0);
    assert!(r.first(|e| matches!(e, Event::PlayoutStop { reason: "barge_in", .. })).is_some());
    assert!(bot_says(&r)[1].contains("available"), "{:?}", bot_says(&r));
}

#[test]
fn a_yes_while_the_bot_is_still_explaining_is_a_backchannel() {
    let r = run(
        &[Act::Say { text: "yes", ms: 400, at: Cue::DuringBot(1, 800) }],
        Options { max_ms: 9_000, ..Default::default() },
    );
    assert!(intents(&r).is_empty(), "{:?}", intents(&r));
    assert_eq!(r.count(|e| matches!(e, Event::PlayoutResume { reason: "backchannel" })), 1);
    let done = r.first(|e| matches!(e, Event::PlayoutStop { reason: "done", .. })).expect("greeting finished");
    let Event::PlayoutStop { heard_text, .. } = &done.event else { unreachable!() };
    assert!(heard_text.ends_with("rupees?"), "{heard_text}");
}

#[test]
fn sentences_arriving_out_of_order_play_in_order() {
    let r = run(&[], Options { max_ms: 9_000, tts_reverse: true, ..Default::default() });
    let done = r.first(|e| matches!(e, Event::PlayoutStop { reason: "done", .. })).expect("greeting finished");
    let Event::PlayoutStop { heard_text, .. } = &done.event else { unreachable!() };
    assert!(heard_text.starts_with("Hello Priya") && heard_text.ends_with("rupees?"), "{heard_text}");
    // 11 + 14 words at 240 ms: every frame of both sentences was sent before the turn ended.
    let frames_until_done = r.bot_frames.iter().filter(|(at, _)| *at <= done.at_ms).count();
    assert_eq!(frames_until_done, (25 * 240) / 20);
}

#[test]
fn a_lost_asr_result_times_out_and_the_bot_asks_again() {
    let r = run(
        &[Act::Say { text: "yes", ms: 400, at: Cue::AfterBot(1, 400) }],
        Options { max_ms: 20_000, asr: AsrDouble::Loses, ..Default::default() },
    );
    let failed = r.first(|e| matches!(e, Event::AsrFailed { reason: "timeout", final_result: true })).expect("gave up");
    let says = bot_says(&r);
    assert!(says.len() >= 2 && says[1].starts_with("Sorry"), "{says:?}");
    let reprompt = r.events.iter().filter(|e| matches!(e.event, Event::BotSay { .. })).nth(1).unwrap();
    assert!(reprompt.at_ms >= failed.at_ms);
}

#[test]
fn a_failed_asr_request_ends_the_turn_at_once() {
    let r = run(
        &[Act::Say { text: "yes", ms: 400, at: Cue::AfterBot(1, 400) }],
        Options { max_ms: 12_000, asr: AsrDouble::Fails, ..Default::default() },
    );
    assert!(r.first(|e| matches!(e, Event::AsrFailed { reason: "error", final_result: true })).is_some());
    assert!(bot_says(&r)[1].starts_with("Sorry"), "{:?}", bot_says(&r));
}

#[test]
fn a_lost_sentence_ends_the_bots_turn_and_the_call_goes_on() {
    // The greeting's second sentence never comes: after its first plays and the timeout
    // passes, the turn ends, and the caller's answer is heard as usual.
    let r = run(
        &[Act::Say { text: "yes that's right", ms: 900, at: Cue::AfterBot(1, 400) }],
        Options { max_ms: 30_000, tts_lost: Some((1, 1)), ..Default::default() },
    );
    let failed = r.first(|e| matches!(e, Event::TtsFailed { reason: "timeout" })).expect("the turn was given up");
    let first_sentence_done = r.bot_frames.iter().map(|(at, _)| *at).max().unwrap_or(0);
    assert!(failed.at_ms >= 10_000, "given up only after the timeout: {}", failed.at_ms);
    let stop = r.first(|e| matches!(e, Event::PlayoutStop { reason: "done", .. })).unwrap();
    assert_eq!(stop.at_ms, failed.at_ms);
    assert!(first_sentence_done > failed.at_ms, "the bot spoke again after the lost sentence");
    assert!(intents(&r).iter().any(|i| i == "affirm"), "the answer was heard: {:?}", intents(&r));
}

#[test]
fn a_slow_recogniser_still_hears_a_barge_in() {
    // Decodes take 2.5 s, past the 1.5 s false-interruption wait: the bot stays paused
    // until the words come, then yields, rather than resuming over the caller.
    let r = run(
        &[Act::Say { text: "stop", ms: 500, at: Cue::DuringBot(1, 1500) }],
        Options { max_ms: 15_000, asr_ms: 2500, ..Default::default() },
    );
    assert!(r.first(|e| matches!(e, Event::PlayoutPause)).is_some(), "paused");
    assert_eq!(r.count(|e| matches!(e, Event::PlayoutResume { .. })), 0, "no resume while a decode runs");
    assert!(r.first(|e| matches!(e, Event::PlayoutStop { reason: "barge_in", .. })).is_some(), "yielded");
    assert!(r.clears >= 1);
}

#[test]
fn the_greeting_waits_for_a_slow_hello_to_be_recognised() {
    // "hello?" at answer, decoded in 2.5 s: the greeting deadline (1.2 s) passes while the
    // decode runs; the bot greets when the words come, not before.
    let r = run(
        &[Act::Say { text: "hello", ms: 500, at: Cue::At(100) }],
        Options { max_ms: 8_000, asr_ms: 2500, ..Default::default() },
    );
    let heard = r.first(|e| matches!(e, Event::AsrFinal { .. })).expect("hello recognised");
    let greeting = r.first(|e| matches!(e, Event::BotSay { .. })).expect("greeted");
    assert!(heard.at_ms > 1200 && greeting.at_ms == heard.at_ms, "{} {}", heard.at_ms, greeting.at_ms);
}

#[test]
fn hold_freezes_the_call_and_unhold_resumes_it() {
    let r = run(
        &[
            Act::Hold { on: true, at: Cue::DuringBot(1, 1000) },
            // Heard on hold (music, the caller talking to someone else): ignored.
            Act::Say { text: "no cancel it", ms: 900, at: Cue::At(6000) },
            Act::Hold { on: false, at: Cue::At(20_000) },
            Act::Say { text: "yes", ms: 400, at: Cue::AfterBot(1, 500) },
        ],
        Options { max_ms: 40_000, ..Default::default() },
    );
    let held = r.first(|e| matches!(e, Event::Hold { on: true })).expect("held").at_ms;
    let resumed = r.first(|e| matches!(e, Event::Hold { on: false })).expect("resumed").at_ms;
    assert_eq!(resumed, 20_000);
    let during: Vec<u64> = r.bot_frames.iter().map(|f| f.0).filter(|at| *at > held && *at < resumed).collect();
    assert!(during.is_empty(), "silent while held ({held}..{resumed}): {during:?}");
    assert!(r.bot_frames.iter().any(|(at, _)| *at >= resumed), "the greeting goes on after the hold");
    assert_eq!(r.count(|e| matches!(e, Event::SpeechStart)), 1, "only the answer after the hold is heard");
    // 18 s on hold is no silence from the caller: no "are you still there?" meanwhile.
    let said: Vec<&TimedEvent> = r
        .events
        .iter()
        .filter(|e| matches!(e.event, Event::BotSay { .. }) && e.at_ms > held && e.at_ms < resumed)
        .collect();
    assert!(said.is_empty(), "{said:?}");
    let stop = r.first(|e| matches!(e, Event::PlayoutStop { .. })).unwrap();
    assert!(matches!(&stop.event, Event::PlayoutStop { reason: "done", .. }), "{:?}", stop.event);
}
