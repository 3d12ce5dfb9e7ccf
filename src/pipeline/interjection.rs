//! What the caller said over the bot: a backchannel (keep talking), an interruption
//! (stop), or nothing recognisable (a false interruption if it stays that way).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interjection {
    /// "uh-huh", "okay", "haan", "achha": the bot carries on.
    Backchannel,
    /// "stop", "wait", "no", or any real content: the bot yields.
    Interrupt,
    /// No words.
    Empty,
}

const BACKCHANNEL: &[&str] = &[
    "uh", "huh", "uh-huh", "uhhuh", "mm", "mhm", "mm-hmm", "hmm", "hm", "okay", "ok", "yeah", "yes", "right", "sure",
    "haan", "han", "ha", "ji", "achha", "acha", "accha", "theek", "thik", "hai", "i", "see", "alright", "good", "oh",
];

/// Words that always interrupt, whatever else was said.
const STOP_WORDS: &[&str] = &["stop", "wait", "no", "hold", "sorry", "excuse", "ruko", "hello", "nahi"];

pub fn classify_interjection(text: &str) -> Interjection {
    let words: Vec<String> = text
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == ',' || c == '.')
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-').to_string())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Interjection::Empty;
    }
    if words.iter().any(|w| STOP_WORDS.contains(&w.as_str())) {
        return Interjection::Interrupt;
    }
    if words.len() <= 4 && words.iter().all(|w| BACKCHANNEL.contains(&w.as_str())) {
        return Interjection::Backchannel;
    }
    Interjection::Interrupt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backchannels_stop_words_and_content() {
        for t in ["Uh-huh.", "okay", "Hmm.", "haan", "Achha.", "theek hai", "Yeah, okay."] {
            assert_eq!(classify_interjection(t), Interjection::Backchannel, "{t}");
        }
        for t in ["Stop.", "Wait, wait.", "No.", "okay stop", "I want to cancel", "Hold on"] {
            assert_eq!(classify_interjection(t), Interjection::Interrupt, "{t}");
        }
        assert_eq!(classify_interjection(" . "), Interjection::Empty);
    }
}
