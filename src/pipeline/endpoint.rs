//! End-of-turn decision: how long a silence must be before the caller's turn is over,
//! given what they have said so far.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Silence after which a speculative final decode starts.
    pub speculative_ms: u32,
    /// Wait after a complete short answer ("yes", "no", "theek hai").
    pub complete_ms: u32,
    /// Wait after a hypothesis that reads as a finished sentence (ends in . ? or !).
    pub sentence_ms: u32,
    /// Wait when nothing is known about the words.
    pub default_ms: u32,
    /// Wait when the words end mid-phrase, inside a number or an address.
    pub incomplete_ms: u32,
    /// A turn longer than this is cut and decoded.
    pub max_turn_ms: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            speculative_ms: 160,
            complete_ms: 240,
            sentence_ms: 450,
            default_ms: 600,
            incomplete_ms: 1200,
            max_turn_ms: 15_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    /// A punctuated sentence that does not end mid-phrase.
    Sentence,
    Neutral,
    Incomplete,
}

impl EndpointConfig {
    /// Silence to wait for, given the best hypothesis so far.
    pub fn wait_ms(&self, hypothesis: Option<&str>) -> u32 {
        match hypothesis.map(completeness) {
            Some(Completeness::Complete) => self.complete_ms,
            Some(Completeness::Sentence) => self.sentence_ms,
            Some(Completeness::Incomplete) => self.incomplete_ms,
            _ => self.default_ms,
        }
    }
}

const SHORT_ANSWERS: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "no",
    "nope",
    "okay",
    "ok",
    "sure",
    "correct",
    "right",
    "haan",
    "han",
    "ha",
    "ji",
    "nahi",
    "nahin",
    "theek",
    "thik",
    "hai",
    "please",
    "thanks",
    "thank",
    "you",
    "that's",
    "thats",
    "is",
    "it",
    "confirm",
    "cancel",
    "stop",
    "wait",
    "done",
    "fine",
    "absolutely",
    "definitely",
    "of",
    "course",
    "not",
    "interested",
    "bye",
    "goodbye",
    "hello",
    "hi",
    "hey",
    "speaking",
];

const OPEN_ENDINGS: &[&str] = &[
    "and", "or", "but", "the", "a", "an", "my", "to", "at", "on", "in", "of", "for", "is", "number", "street", "road",
    "flat", "floor", "near", "um", "uh", "so", "because", "with", "from", "after", "before", "between", "by", "like",
    "maybe", "hundred", "thousand", "lakh", "zero", "oh", "one", "two", "three", "four", "five", "six", "seven",
    "eight", "nine", "ten", "sector", "block", "house", "plot", "main", "cross", "pin", "code",
];

/// Whether a hypothesis reads as a finished answer, an unfinished phrase, or neither.
pub fn completeness(text: &str) -> Completeness {
    let w = crate::words::tokens(text);
    let Some(last) = w.last() else { return Completeness::Neutral };
    let trailing_comma = text.trim_end().ends_with(',') || text.trim_end().ends_with("...");
    if trailing_comma || OPEN_ENDINGS.contains(&last.as_str()) || last.chars().all(|c| c.is_ascii_digit()) {
        return Completeness::Incomplete;
    }
    if w.len() <= 5 && w.iter().all(|x| SHORT_ANSWERS.contains(&x.as_str())) {
        return Completeness::Complete;
    }
    if text.trim_end().ends_with(['.', '?', '!']) && w.len() >= 3 {
        return Completeness::Sentence;
    }
    Completeness::Neutral
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_answers_end_quickly_and_open_phrases_wait() {
        for t in ["Yes.", "no", "Haan ji", "theek hai", "Yes, please.", "That's right.", "Okay, thank you."] {
            assert_eq!(completeness(t), Completeness::Complete, "{t}");
        }
        for t in ["My address is 12", "flat number", "deliver it on", "I want to cancel and", "It's 5 6 0,", "um"] {
            assert_eq!(completeness(t), Completeness::Incomplete, "{t}");
        }
        assert_eq!(completeness("Can you deliver it on Friday instead?"), Completeness::Sentence);
        assert_eq!(completeness("can you deliver it"), Completeness::Neutral);
        let cfg = EndpointConfig::default();
        assert!(
            cfg.wait_ms(Some("yes")) < cfg.wait_ms(None) && cfg.wait_ms(None) < cfg.wait_ms(Some("my pin code is 5 6"))
        );
    }
}
