//! The words every stage that reads a transcript agrees on: one tokeniser and the
//! shared word classes (yes, no, hold, fillers, negations). Endpointing, barge-in,
//! slot extraction, the intent rules and the built-in flow all read them from here.

/// Lower-cased words of `text`, with apostrophes kept inside words ("don't") and the
/// common Hinglish spellings folded to one form ("han" -> "haan", "nahin" -> "nahi").
pub fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['’', '‘'], "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(|w| {
            match w {
                "han" | "haa" | "haanji" => "haan",
                "nahin" | "nai" | "nahii" => "nahi",
                "thik" => "theek",
                "acha" | "achha" | "accha" => "achha",
                "ok" => "okay",
                _ => w,
            }
            .to_string()
        })
        .collect()
}

pub fn is_one_of(list: &[&str], w: &str) -> bool {
    list.contains(&w)
}

/// Fillers ASR leaves in; they carry no intent.
pub const FILLERS: &[&str] = &[
    "um",
    "umm",
    "uh",
    "uhh",
    "er",
    "hmm",
    "hm",
    "ah",
    "oh",
    "like",
    "so",
    "well",
    "actually",
    "basically",
    "ji",
    "sir",
    "madam",
    "maam",
    "bhai",
];

/// Words that say yes on their own ("yes", "okay", "haan"): a leading one starts an
/// answer, and said over the bot's question they are the answer.
pub const YES: &[&str] =
    &["yes", "yeah", "yep", "yup", "haan", "sure", "okay", "correct", "right", "alright", "theek", "bilkul"];

/// Words an agreeing answer is made of ("haan ji theek hai", "yes please go ahead").
pub const AFFIRM: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "ya",
    "haan",
    "ha",
    "sure",
    "okay",
    "correct",
    "right",
    "alright",
    "confirm",
    "confirmed",
    "theek",
    "hai",
    "bilkul",
    "absolutely",
    "definitely",
    "please",
    "fine",
    "perfect",
    "great",
    "go",
    "ahead",
    "done",
    "achha",
    "kar",
    "do",
    "karo",
    "it",
    "that's",
    "thats",
    "is",
    "true",
    "of",
    "course",
];

pub const DENY: &[&str] = &["no", "nope", "nah", "nahi", "na", "not", "never", "negative"];

/// "Stop", "wait", "hold on": the caller wants a moment, not an opt-out.
pub const HOLD: &[&str] = &["stop", "wait", "hold", "on", "a", "minute", "second", "one", "ruko", "just"];

pub const NEGATIONS: &[&str] = &[
    "no", "not", "don't", "dont", "didn't", "didnt", "won't", "wont", "can't", "cant", "never", "nahi", "mat", "isn't",
    "isnt", "wasn't", "nope", "nobody", "none", "noone",
];

/// Listening noises over the bot's speech ("uh-huh", "achha"): the bot carries on.
pub const BACKCHANNEL: &[&str] = &[
    "uh", "huh", "uhhuh", "mm", "mhm", "hmm", "hm", "okay", "yeah", "yes", "right", "sure", "haan", "ha", "ji",
    "achha", "theek", "hai", "i", "see", "alright", "good", "oh",
];

/// Words that always interrupt the bot, whatever else was said.
pub const INTERRUPT: &[&str] = &["stop", "wait", "no", "hold", "sorry", "excuse", "ruko", "hello", "nahi"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tokeniser_for_every_stage() {
        assert_eq!(tokens("Haan ji, theek hai."), ["haan", "ji", "theek", "hai"]);
        assert_eq!(tokens("Nahin! I don't want it"), ["nahi", "i", "don't", "want", "it"]);
        assert_eq!(tokens("Uh-huh. OK"), ["uh", "huh", "okay"]);
        assert_eq!(tokens("It’s 5 6 0,"), ["it's", "5", "6", "0"]);
        assert!(tokens(" . ").is_empty());
    }
}
