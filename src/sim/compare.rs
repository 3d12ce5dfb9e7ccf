//! `voxline replay --from-call`: what a re-run of a stored call changed. Outcome,
//! handoff and each caller turn's words and intent are compared; a differing intent,
//! outcome, handoff or turn count is a change. Stage latencies are reported side by side
//! (they always move a little, so they never count as a change).

use serde::Serialize;
use serde_json::Value;

use super::report::LatencySummary;
use crate::storage::StoredLine;

#[derive(Debug, Serialize, PartialEq)]
pub struct Side<T> {
    pub stored: T,
    pub replay: T,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct TurnDiff {
    pub turn: usize,
    pub stored: Option<StoredLine>,
    pub replay: Option<StoredLine>,
    /// The intent differs, or the turn exists on one side only.
    pub changed: bool,
    /// The words differ (ignoring case and punctuation).
    pub words_changed: bool,
}

#[derive(Debug, Serialize)]
pub struct ReplayDiff {
    pub call_id: String,
    pub flow: String,
    pub changed: bool,
    pub outcome: Side<Option<String>>,
    pub handoff: Side<bool>,
    pub turns: Vec<TurnDiff>,
    /// Per stage (endpoint_wait, asr, tts_first_audio, response): p50/p95/max in ms.
    pub latency_ms: std::collections::BTreeMap<String, Side<LatencySummary>>,
}

/// What a call did, from its stored record or from a replay's events (both as JSON).
pub struct CallFacts<'a> {
    pub outcome: Option<String>,
    pub handoff: bool,
    pub transcript: &'a [StoredLine],
    pub timeline: &'a [Value],
}

fn words(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn stage_latencies(timeline: &[Value]) -> std::collections::BTreeMap<String, Vec<u64>> {
    let mut by_stage = std::collections::BTreeMap::<String, Vec<u64>>::new();
    for e in timeline.iter().filter(|e| e.get("type").and_then(Value::as_str) == Some("latency")) {
        if let (Some(stage), Some(ms)) = (e.get("stage").and_then(Value::as_str), e.get("ms").and_then(Value::as_u64)) {
            by_stage.entry(stage.to_string()).or_default().push(ms);
        }
    }
    by_stage
}

pub fn compare(call_id: &str, flow: &str, stored: &CallFacts<'_>, replay: &CallFacts<'_>) -> ReplayDiff {
    let caller = |t: &[StoredLine]| t.iter().filter(|l| l.speaker == "caller").cloned().collect::<Vec<_>>();
    let (a, b) = (caller(stored.transcript), caller(replay.transcript));
    let turns: Vec<TurnDiff> = (0..a.len().max(b.len()))
        .map(|i| {
            let (s, r) = (a.get(i).cloned(), b.get(i).cloned());
            let changed = match (&s, &r) {
                (Some(s), Some(r)) => s.intent != r.intent,
                _ => true,
            };
            let words_changed = s.as_ref().map(|l| words(&l.text)) != r.as_ref().map(|l| words(&l.text));
            TurnDiff { turn: i + 1, stored: s, replay: r, changed, words_changed }
        })
        .collect();
    let (mut sa, mut sb) = (stage_latencies(stored.timeline), stage_latencies(replay.timeline));
    let stages: std::collections::BTreeSet<String> = sa.keys().chain(sb.keys()).cloned().collect();
    let latency_ms = stages
        .into_iter()
        .map(|k| {
            let side = Side {
                stored: LatencySummary::of(sa.remove(&k).unwrap_or_default()),
                replay: LatencySummary::of(sb.remove(&k).unwrap_or_default()),
            };
            (k, side)
        })
        .collect();
    let changed =
        stored.outcome != replay.outcome || stored.handoff != replay.handoff || turns.iter().any(|t| t.changed);
    ReplayDiff {
        call_id: call_id.into(),
        flow: flow.into(),
        changed,
        outcome: Side { stored: stored.outcome.clone(), replay: replay.outcome.clone() },
        handoff: Side { stored: stored.handoff, replay: replay.handoff },
        turns,
        latency_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(text: &str, intent: &str) -> StoredLine {
        StoredLine { at_ms: 0, speaker: "caller".into(), text: text.into(), intent: Some(intent.into()) }
    }

    #[test]
    fn intents_and_outcome_are_changes_words_and_latency_are_not() {
        let bot = StoredLine { at_ms: 0, speaker: "bot".into(), text: "Hello".into(), intent: None };
        let stored_lines = vec![bot.clone(), line("Yes, that's right.", "confirm"), line("no", "deny")];
        let timeline = vec![json!({"at_ms": 5, "type": "latency", "stage": "response", "ms": 700})];
        let stored = CallFacts {
            outcome: Some("confirmed".into()),
            handoff: false,
            transcript: &stored_lines,
            timeline: &timeline,
        };
        let same_lines = vec![bot, line("yes that's right", "confirm"), line("no", "deny")];
        let faster = vec![json!({"at_ms": 5, "type": "latency", "stage": "response", "ms": 650})];
        let replay =
            CallFacts { outcome: Some("confirmed".into()), handoff: false, transcript: &same_lines, timeline: &faster };
        let diff = compare("c", "cod_confirmation", &stored, &replay);
        assert!(!diff.changed);
        assert!(diff.turns.iter().all(|t| !t.changed && !t.words_changed));
        assert_eq!(diff.latency_ms["response"].replay.p50, Some(650));

        let other = vec![line("yes that's right", "confirm"), line("no", "callback")];
        let replay = CallFacts { outcome: Some("callback".into()), handoff: false, transcript: &other, timeline: &[] };
        let diff = compare("c", "cod_confirmation", &stored, &replay);
        assert!(diff.changed);
        assert_eq!(diff.turns.iter().filter(|t| t.changed).map(|t| t.turn).collect::<Vec<_>>(), vec![2]);
        assert_eq!(diff.outcome.replay.as_deref(), Some("callback"));
    }

    #[test]
    fn a_missing_turn_is_a_change() {
        let lines = vec![line("yes", "confirm")];
        let stored = CallFacts { outcome: None, handoff: false, transcript: &lines, timeline: &[] };
        let replay = CallFacts { outcome: None, handoff: false, transcript: &[], timeline: &[] };
        let diff = compare("c", "f", &stored, &replay);
        assert!(diff.changed && diff.turns[0].replay.is_none());
    }
}
