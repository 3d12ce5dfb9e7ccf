//! What the caller said over the bot: a backchannel (keep talking), an answer to the
//! question being asked, an interruption (stop), or nothing recognisable (a false
//! interruption if it stays that way).

use crate::words::{is_one_of, tokens, AFFIRM, BACKCHANNEL, FILLERS, INTERRUPT, YES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interjection {
    /// "uh-huh", "okay", "haan", "achha" while the bot is still explaining: it carries on.
    Backchannel,
    /// "yes", "okay, sure" once the bot has put its question: the caller's turn.
    Answer,
    /// "stop", "wait", "no", or any real content: the bot yields.
    Interrupt,
    /// No words.
    Empty,
}

/// Classifies words heard over the bot. `question_asked`: the bot is saying (or has
/// said) the last question of its turn, so a yes is an answer, not a backchannel.
pub fn classify_interjection(text: &str, question_asked: bool) -> Interjection {
    let words = tokens(text);
    if words.is_empty() {
        return Interjection::Empty;
    }
    if words.iter().any(|w| is_one_of(INTERRUPT, w)) {
        return Interjection::Interrupt;
    }
    let content: Vec<&str> = words.iter().map(String::as_str).filter(|w| !is_one_of(FILLERS, w)).collect();
    let says_yes = content.iter().any(|w| is_one_of(YES, w)) && content.iter().all(|w| is_one_of(AFFIRM, w));
    if question_asked && says_yes {
        return Interjection::Answer;
    }
    if words.len() <= 4 && words.iter().all(|w| is_one_of(BACKCHANNEL, w)) {
        return Interjection::Backchannel;
    }
    Interjection::Interrupt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backchannels_stop_words_and_content() {
        for t in ["Uh-huh.", "okay", "Hmm.", "haan", "Achha.", "theek hai", "Yeah, okay.", "mm-hmm"] {
            assert_eq!(classify_interjection(t, false), Interjection::Backchannel, "{t}");
        }
        for t in ["Stop.", "Wait, wait.", "No.", "okay stop", "I want to cancel", "Hold on"] {
            assert_eq!(classify_interjection(t, false), Interjection::Interrupt, "{t}");
            assert_eq!(classify_interjection(t, true), Interjection::Interrupt, "{t}");
        }
        assert_eq!(classify_interjection(" . ", false), Interjection::Empty);
    }

    #[test]
    fn a_yes_over_the_question_is_the_answer() {
        for t in ["Yes.", "okay", "haan ji", "yes please", "Sure, go ahead.", "right, correct"] {
            assert_eq!(classify_interjection(t, true), Interjection::Answer, "{t}");
        }
        for t in ["uh-huh", "hmm", "achha", "I see"] {
            assert_eq!(classify_interjection(t, true), Interjection::Backchannel, "{t}: no yes word");
        }
        assert_eq!(classify_interjection("yes", false), Interjection::Backchannel, "before the question");
    }
}
