//! The rule cascade that needs no model: fixed phrases, bare yes/no answers, idioms
//! that say yes with a negative word, and the corrections applied to what the
//! embedder ranks (a question is not a request; presence is not absence).

use super::intent::{Intent, Scored};
use super::lexicon::replace_runs;
use crate::words::{AFFIRM, DENY, FILLERS, HOLD};

/// Negative words that say yes: rewritten before negation is looked for.
const IDIOMS: &[(&[&str], &str)] = &[
    (&["not", "a", "problem"], "fine"),
    (&["no", "problem"], "fine"),
    (&["no", "problems"], "fine"),
    (&["no", "issue"], "fine"),
    (&["no", "issues"], "fine"),
    (&["no", "worries"], "fine"),
    (&["koi", "baat", "nahi"], "fine"),
    (&["koi", "dikkat", "nahi"], "fine"),
];

/// Rewrites the idioms the caller said as one phrase ("No. Problem is..." is not one).
pub(super) fn rewrite_idioms(text: &str, words: Vec<String>) -> Vec<String> {
    let said = text.to_lowercase();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    replace_runs(&words, |rest| {
        IDIOMS
            .iter()
            .find(|(from, _)| rest.starts_with(from) && said.contains(&from.join(" ")))
            .map(|(from, to)| (from.len(), vec![to.to_string()]))
    })
}

/// Fixed phrases that decide an intent on their own, checked in order.
const PHRASES: &[(Intent, &[&str])] = &[
    (
        Intent::StopCalling,
        &[
            "stop calling",
            "don't call",
            "dont call",
            "do not call",
            "never call",
            "remove my number",
            "unsubscribe",
            "call mat",
            "take me off",
            "stop these calls",
            "not want these calls",
            "don't want these calls",
            "no more calls",
            "phone mat",
            "call band karo",
            "calls band karo",
            "phone band karo",
            "number hata",
        ],
    ),
    (
        Intent::WrongNumber,
        &[
            "wrong number",
            "galat number",
            "wrong person",
            "no one by that name",
            "nobody by that name",
            "no such person",
            "not her number",
            "not his number",
            "doesn't live here",
            "does not live here",
        ],
    ),
    (
        Intent::AskHuman,
        &[
            "real person",
            "human",
            "agent",
            "representative",
            "customer care",
            "insaan",
            "operator",
            "talk to someone",
            "speak to someone",
            "your manager",
            "a machine",
        ],
    ),
    (
        Intent::Repeat,
        &[
            "repeat",
            "say that again",
            "pardon",
            "didn't hear",
            "didnt hear",
            "couldn't hear",
            "come again",
            "phir se",
            "once more",
            "what did you say",
            "dobara boliye",
            "dobara bolo",
            "dobara bolna",
            "ek baar aur",
            "say it again",
            "tell me again",
        ],
    ),
    (
        Intent::Dispute,
        &[
            "never ordered",
            "didn't order",
            "didnt order",
            "did not order",
            "didn't place",
            "charged twice",
            "already paid",
            "order nahi kiya",
            "dispute",
        ],
    ),
    (
        Intent::Complaint,
        &[
            "complain",
            "complaint",
            "kharab",
            "damaged",
            "broken",
            "torn",
            "rude",
            "unhappy",
            "poor quality",
            "used item",
            "nobody responded",
            "no one responded",
        ],
    ),
    (Intent::CancelOrder, &["cancel"]),
    (Intent::CallbackLater, &["baad mein", "call later", "call me later", "call back", "try again", "busy"]),
    (Intent::AskHuman, &["baat karao", "baat karni"]),
    (
        Intent::NotAvailable,
        &[
            "ghar par nahi",
            "ghar pe nahi",
            "nahi hoon",
            "won't be home",
            "won't be at home",
            "not be at home",
            "out of town",
        ],
    ),
    (Intent::WrongNumber, &["not her phone", "not his phone", "not the customer"]),
    (Intent::Repeat, &["didn't catch", "didnt catch", "what was that"]),
    (Intent::AskDetails, &["kitna", "kitne", "kaunsa", "how much"]),
    (Intent::Reschedule, &["aa jao", "reschedule", "another day", "different day"]),
];

/// Rules that need no model: fixed phrases and bare yes/no answers.
pub fn lexical(words: &[String]) -> Option<Scored> {
    let content: Vec<&str> = words.iter().map(String::as_str).filter(|w| !FILLERS.contains(w)).collect();
    if content.is_empty() {
        return None;
    }
    let joined = format!(" {} ", content.join(" "));
    for (intent, phrases) in PHRASES {
        if phrases.iter().any(|p| joined.contains(&format!(" {p} "))) {
            return Some(Scored { intent: *intent, confidence: 0.95 });
        }
    }
    // "Huh, what?", "sorry?", "kya?": the caller did not hear.
    if content.len() <= 3
        && content.iter().all(|w| ["what", "huh", "sorry", "eh", "kya", "pardon", "hello"].contains(w))
        && content.iter().any(|w| *w != "hello")
    {
        return Some(Scored { intent: Intent::Repeat, confidence: 0.9 });
    }
    if content.len() <= 4 && content.iter().all(|w| HOLD.contains(w)) {
        return Some(Scored { intent: Intent::Unknown, confidence: 0.9 });
    }
    if content.len() <= 6 && content.iter().all(|w| AFFIRM.contains(w)) {
        return Some(Scored { intent: Intent::Affirm, confidence: 0.95 });
    }
    if content.len() <= 4
        && content.iter().any(|w| DENY.contains(w))
        && content
            .iter()
            .all(|w| DENY.contains(w) || AFFIRM.contains(w) || *w == "thanks" || *w == "thank" || *w == "you")
    {
        return Some(Scored { intent: Intent::Deny, confidence: 0.9 });
    }
    None
}

/// "When is the pickup?" / "pickup kis time hoga?" asks about the schedule; "can you
/// come on Friday?" changes it. English puts the question word first, Hindi anywhere.
pub(super) fn question_not_request(s: Scored, text: &str, content: &[&str]) -> Scored {
    const QUESTION: [&str; 5] = ["what", "when", "which", "how", "where"];
    const HINDI_QUESTION: [&str; 6] = ["kab", "kis", "kitne", "kitna", "kaunsa", "kaise"];
    let any_day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
    let names_a_time = super::slots::resolve_date(text, any_day, super::slots::DateCue::Unasked).is_some()
        || super::slots::resolve_time_window(text).is_some();
    let asks = QUESTION.contains(&content[0]) || content.iter().any(|w| HINDI_QUESTION.contains(w));
    if s.intent == Intent::Reschedule && asks && !names_a_time {
        return Scored { intent: Intent::AskDetails, confidence: s.confidence };
    }
    s
}

/// Polarity: "I will be available tomorrow" sits close to "I won't be available";
/// without a negation or a word of absence it is a yes.
pub(super) fn present_not_absent(s: Scored, negated: bool, content: &[&str]) -> Scored {
    const ABSENT: [&str; 19] = [
        "away",
        "out",
        "travelling",
        "traveling",
        "busy",
        "office",
        "work",
        "village",
        "function",
        "wedding",
        "gaon",
        "bahar",
        "trip",
        "city",
        "station",
        "holiday",
        "vacation",
        "hospital",
        "outside",
    ];
    if s.intent == Intent::NotAvailable && !negated && !content.iter().any(|w| ABSENT.contains(w)) {
        return Scored { intent: Intent::Affirm, confidence: 0.7 };
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::tokens;

    fn lex(t: &str) -> Option<Intent> {
        lexical(&tokens(t)).map(|s| s.intent)
    }

    #[test]
    fn rules_for_short_answers_phrases_and_hinglish() {
        assert_eq!(lex("Yes."), Some(Intent::Affirm));
        assert_eq!(lex("Haan ji, theek hai."), Some(Intent::Affirm));
        assert_eq!(lex("haan ji confirm kar do"), Some(Intent::Affirm));
        assert_eq!(lex("Nahi."), Some(Intent::Deny));
        assert_eq!(lex("no thank you"), Some(Intent::Deny));
        assert_eq!(lex("Please stop calling me."), Some(Intent::StopCalling));
        assert_eq!(lex("I want to cancel it"), Some(Intent::CancelOrder));
        assert_eq!(lex("um you have the wrong number"), Some(Intent::WrongNumber));
        assert_eq!(lex("no, I don't want it"), None, "left to the negation-aware classifier");
        assert_eq!(Intent::from_name("ask_human"), Some(Intent::AskHuman));
    }

    #[test]
    fn idioms_are_rewritten_only_as_said() {
        let idioms = |t: &str| rewrite_idioms(t, tokens(t)).join(" ");
        assert_eq!(idioms("No worries, send it over"), "fine send it over");
        assert_eq!(idioms("No. Problem is I won't be home"), "no problem is i won't be home");
    }
}
