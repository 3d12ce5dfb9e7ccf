//! The live call driver over a channel transport, on tokio's paused clock: real tasks and
//! timers, virtual time, engine doubles. No sleeps pace the test; time advances only when
//! every task waits.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use voxline::call::{AsrRequest, Call, CallConfig, Input, TtsChunk, TtsRequest};
use voxline::dialogue::{BuiltinCod, Outcome};
use voxline::engines::split_sentences;
use voxline::io::driver::{drive, CallReport, EngineHub, TransportCommand, TransportEvent};
use voxline::media::{Frame, MediaTime};

use crate::harness::{EnergyVad, RATE};

/// ASR hears `words` after 120 ms; TTS renders 240 ms of tone per word, 60 ms per sentence.
struct Doubles {
    words: &'static str,
}

impl EngineHub for Doubles {
    fn transcribe(&self, request: AsrRequest, reply: mpsc::UnboundedSender<Input>) {
        let text = self.words.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(120)).await;
            let _ = reply.send(Input::Asr { id: request.id, text });
        });
    }
    fn synthesize(&self, request: TtsRequest, reply: mpsc::UnboundedSender<Input>) {
        tokio::spawn(async move {
            let sentences = split_sentences(&request.text);
            let n = sentences.len();
            for (i, text) in sentences.into_iter().enumerate() {
                tokio::time::sleep(Duration::from_millis(60)).await;
                let len = text.split_whitespace().count() * 240 * RATE as usize / 1000;
                let samples: Vec<f32> = (0..len).map(|k| if k % 2 == 0 { 0.3 } else { -0.3 }).collect();
                let chunk = TtsChunk {
                    id: request.id,
                    index: i as u32,
                    text,
                    samples: samples.into(),
                    last: i + 1 == n,
                    cached: false,
                };
                let _ = reply.send(Input::Tts(chunk));
            }
        });
    }
}

/// A carrier: 20 ms caller frames in real (virtual) time, speech in the given spans (ms
/// from the start), every command it receives with the time it arrived.
async fn carrier(
    events: mpsc::Sender<TransportEvent>,
    mut commands: mpsc::Receiver<TransportCommand>,
    speech: Vec<(u64, u64)>,
    hang_up_at: Option<u64>,
) -> Vec<(Duration, TransportCommand)> {
    let start = Instant::now();
    let frame = (RATE / 50) as usize;
    let mut received = Vec::new();
    let mut next = start;
    let mut t = 0u64;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(c) => {
                    let hang_up = c == TransportCommand::HangUp;
                    received.push((start.elapsed(), c));
                    if hang_up {
                        return received;
                    }
                }
                None => return received,
            },
            _ = tokio::time::sleep_until(next) => {
                if hang_up_at.is_some_and(|h| t >= h) {
                    drop(events);
                    while let Some(c) = commands.recv().await {
                        received.push((start.elapsed(), c));
                    }
                    return received;
                }
                let talking = speech.iter().any(|(a, b)| (*a..*b).contains(&t));
                let samples = (0..frame).map(|i| if talking { if i % 2 == 0 { 0.2 } else { -0.2 } } else { 0.0 }).collect();
                let media = Frame::new(MediaTime::from_ms(t, RATE), samples);
                if events.send(TransportEvent::Audio(media)).await.is_err() {
                    // The driver is done: take what it sent last (its hang-up).
                    while let Some(c) = commands.recv().await {
                        received.push((start.elapsed(), c));
                    }
                    return received;
                }
                t += 20;
                next += Duration::from_millis(20);
            }
        }
    }
}

async fn call(
    words: &'static str,
    speech: Vec<(u64, u64)>,
    hang_up_at: Option<u64>,
) -> (CallReport, Vec<(Duration, TransportCommand)>) {
    let context = serde_json::json!({"customer": {"name": "Priya"}, "order": {"items": [{"name": "running shoes"}], "amount": "1499"}});
    let call = Call::new(CallConfig::default(), Box::new(EnergyVad), Box::new(BuiltinCod::new(&context))).unwrap();
    let (event_tx, event_rx) = mpsc::channel(64);
    let (command_tx, command_rx) = mpsc::channel(64);
    let carrier = tokio::spawn(carrier(event_tx, command_rx, speech, hang_up_at));
    let report = drive(call, Arc::new(Doubles { words }), event_rx, command_tx, None).await;
    (report, carrier.await.unwrap())
}

fn audio_times(received: &[(Duration, TransportCommand)]) -> Vec<Duration> {
    received.iter().filter(|(_, c)| matches!(c, TransportCommand::Audio(_))).map(|(t, _)| *t).collect()
}

// The greeting (25 words, 6 s) starts about 1.3 s in; the reply (9 words) about 8.9 s in.
#[tokio::test(start_paused = true)]
async fn a_whole_call_runs_in_real_time_over_the_transport() {
    let (report, received) = call("yes", vec![(8000, 8400), (12_500, 12_900)], None).await;
    assert_eq!(report.outcome, Some(Outcome::Confirmed));
    assert!(!report.transport_lost);
    assert_eq!(received.last().map(|(_, c)| c), Some(&TransportCommand::HangUp));
    // Bot audio is paced: one 20 ms frame every 20 ms while a sentence plays, never a burst.
    let times = audio_times(&received);
    assert!(times.len() > 300, "{} frames", times.len());
    let gaps: Vec<u128> = times.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    assert!(gaps.iter().all(|&g| g >= 20), "no two frames at once: {:?}", gaps.iter().min());
    assert_eq!(gaps.iter().filter(|&&g| g == 20).count(), gaps.len() - gaps.iter().filter(|&&g| g > 20).count());
    let marks: Vec<&String> =
        received.iter().filter_map(|(_, c)| if let TransportCommand::Mark(m) = c { Some(m) } else { None }).collect();
    assert!(marks.len() >= 4 && marks[0] == "1.0", "a mark after each sentence: {marks:?}");
    assert!(marks.iter().filter(|m| m.ends_with(".end")).count() >= 2, "each turn's last mark says so: {marks:?}");
}

#[tokio::test(start_paused = true)]
async fn barge_in_clears_the_carriers_buffer() {
    let (report, received) = call("stop", vec![(3000, 3500)], Some(9000)).await;
    let clear = received.iter().position(|(_, c)| *c == TransportCommand::Clear).expect("clear sent");
    let (cleared_at, _) = received[clear];
    // Speech from 3.0 s; the bot stops sending after 200 ms of it, counted from the VAD's
    // onset, and clears the carrier once the words show a real interruption.
    let paused_at = audio_times(&received[..clear]).last().copied().expect("bot audio before the clear");
    assert!(paused_at >= Duration::from_millis(3100) && paused_at <= Duration::from_millis(3400), "{paused_at:?}");
    assert!(cleared_at > paused_at, "{cleared_at:?}");
    assert!(audio_times(&received[clear..]).first().is_none_or(|&t| t > cleared_at), "then the next prompt");
    assert!(report
        .events
        .iter()
        .any(|e| matches!(e.event, voxline::call::Event::PlayoutStop { reason: "barge_in", .. })));
}

#[tokio::test(start_paused = true)]
async fn a_vanished_transport_ends_the_call_as_a_hang_up() {
    let (report, _) = call("yes", vec![], Some(2000)).await;
    assert!(report.transport_lost);
    assert_eq!(report.outcome, Some(Outcome::NoResponse));
}
