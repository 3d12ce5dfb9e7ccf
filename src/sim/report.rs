//! The one-line JSON summary of a simulated call.

use serde::Serialize;

use crate::call::{Event, StageLatency, TimedEvent};
use crate::storage::StoredLine;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencySummary {
    pub p50: Option<u64>,
    pub p95: Option<u64>,
    pub max: Option<u64>,
}

impl LatencySummary {
    pub fn of(mut values: Vec<u64>) -> Self {
        values.sort_unstable();
        let pick = |q: f64| (!values.is_empty()).then(|| values[((values.len() as f64 - 1.0) * q).round() as usize]);
        LatencySummary { p50: pick(0.5), p95: pick(0.95), max: values.last().copied() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub outcome: Option<&'static str>,
    pub handoff: bool,
    /// Caller turns recognised with words.
    pub turns: usize,
    pub bot_turns: usize,
    pub response_latency_ms: LatencySummary,
    pub barge_in_reaction_ms: Vec<u64>,
    pub false_barge_ins: usize,
    pub backchannels: usize,
    /// Outbound calls: `human` or `machine`, as answering-machine detection decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<&'static str>,
    pub expect_ok: bool,
    /// Which expectations failed, if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expect_failures: Vec<String>,
}

/// Builds the summary from the timeline and the send times (ms) of the bot's frames.
pub fn summarize(events: &[TimedEvent], bot_frames_ms: &[u64]) -> Summary {
    let mut response = Vec::new();
    let mut reactions = Vec::new();
    let mut outcome = None;
    let (mut handoff, mut turns, mut bot_turns, mut false_barge_ins, mut backchannels) = (false, 0, 0, 0, 0);
    let (mut last_onset, mut answered_by) = (None, None);
    for e in events {
        match &e.event {
            Event::Latency { stage: StageLatency::Response, ms } => response.push(*ms),
            Event::SpeechStart => last_onset = Some(e.at_ms),
            Event::PlayoutPause => {
                let last_frame = bot_frames_ms.iter().copied().filter(|&t| t <= e.at_ms).max();
                if let (Some(onset), Some(frame)) = (last_onset, last_frame) {
                    reactions.push((frame + 20).saturating_sub(onset));
                }
            }
            Event::PlayoutResume { reason: "false_interruption" } => false_barge_ins += 1,
            Event::PlayoutResume { .. } => backchannels += 1,
            Event::AsrFinal { text } if !text.trim().is_empty() => turns += 1,
            Event::BotSay { .. } => bot_turns += 1,
            Event::Handoff { .. } => handoff = true,
            Event::Outcome { code } => outcome = Some(*code),
            Event::AnsweredBy { by, .. } => answered_by = Some(*by),
            _ => {}
        }
    }
    Summary {
        outcome,
        handoff,
        turns,
        bot_turns,
        response_latency_ms: LatencySummary::of(response),
        barge_in_reaction_ms: reactions,
        false_barge_ins,
        backchannels,
        answered_by,
        expect_ok: true,
        expect_failures: Vec::new(),
    }
}

/// Who said what: the caller's recognised turns with the intent each was read as, and the
/// bot's prompts.
pub fn transcript(events: &[TimedEvent]) -> Vec<StoredLine> {
    let mut lines: Vec<StoredLine> = Vec::new();
    for e in events {
        match &e.event {
            Event::AsrFinal { text } if !text.trim().is_empty() => lines.push(StoredLine {
                at_ms: e.at_ms,
                speaker: "caller".into(),
                text: text.trim().to_string(),
                intent: None,
            }),
            Event::Intent { name, .. } => {
                if let Some(line) = lines.iter_mut().rev().find(|l| l.speaker == "caller") {
                    line.intent.get_or_insert_with(|| name.clone());
                }
            }
            Event::BotSay { text } => {
                lines.push(StoredLine { at_ms: e.at_ms, speaker: "bot".into(), text: text.clone(), intent: None })
            }
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let s = LatencySummary::of((1..=100).collect());
        assert_eq!((s.p50, s.p95, s.max), (Some(51), Some(95), Some(100)));
        assert_eq!(LatencySummary::of(vec![]).p50, None);
    }
}
