//! Intent recognition: lexical rules for fixed phrases, short answers and negation,
//! then MiniLM nearest examples (several per intent) with a confidence threshold.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::DialogueError;
use crate::engines::{cosine, Embedder, EngineError};

/// The closed intent set used by flows, tests and tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Affirm,
    Deny,
    CancelOrder,
    ModifyOrder,
    ChangeAddress,
    Reschedule,
    NotAvailable,
    CallbackLater,
    AskHuman,
    Complaint,
    Dispute,
    WrongNumber,
    StopCalling,
    Repeat,
    AskDetails,
    Unknown,
}

impl Intent {
    pub const ALL: [Intent; 16] = [
        Intent::Affirm,
        Intent::Deny,
        Intent::CancelOrder,
        Intent::ModifyOrder,
        Intent::ChangeAddress,
        Intent::Reschedule,
        Intent::NotAvailable,
        Intent::CallbackLater,
        Intent::AskHuman,
        Intent::Complaint,
        Intent::Dispute,
        Intent::WrongNumber,
        Intent::StopCalling,
        Intent::Repeat,
        Intent::AskDetails,
        Intent::Unknown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Intent::Affirm => "affirm",
            Intent::Deny => "deny",
            Intent::CancelOrder => "cancel_order",
            Intent::ModifyOrder => "modify_order",
            Intent::ChangeAddress => "change_address",
            Intent::Reschedule => "reschedule",
            Intent::NotAvailable => "not_available",
            Intent::CallbackLater => "callback_later",
            Intent::AskHuman => "ask_human",
            Intent::Complaint => "complaint",
            Intent::Dispute => "dispute",
            Intent::WrongNumber => "wrong_number",
            Intent::StopCalling => "stop_calling",
            Intent::Repeat => "repeat",
            Intent::AskDetails => "ask_details",
            Intent::Unknown => "unknown",
        }
    }

    pub fn from_name(name: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub intent: Intent,
    pub confidence: f32,
}

/// Fillers ASR leaves in and that carry no intent.
const FILLERS: &[&str] = &["um", "umm", "uh", "uhh", "er", "hmm", "hm", "ah", "oh", "like", "so", "well", "actually", "basically", "ji", "sir", "madam", "maam", "bhai"];
const AFFIRM: &[&str] = &[
    "yes", "yeah", "yep", "yup", "ya", "haan", "ha", "han", "sure", "ok", "okay", "correct", "right", "confirm", "confirmed", "theek", "thik", "hai",
    "bilkul", "absolutely", "definitely", "please", "fine", "perfect", "great", "go", "ahead", "done", "accha", "achha", "kar", "do", "karo", "it", "that's", "thats", "is", "true", "of", "course",
];
const DENY: &[&str] = &["no", "nope", "nah", "nahi", "nai", "na", "not", "never", "negative", "nahin"];
/// "Stop", "wait", "hold on": the caller wants a moment, not an opt-out.
const HOLD: &[&str] = &["stop", "wait", "hold", "on", "a", "minute", "second", "one", "ruko", "just"];
const YES_WORDS: &[&str] = &["yes", "yeah", "yep", "haan", "sure", "okay", "ok", "correct", "right"];
const NEGATIONS: &[&str] = &["no", "not", "don't", "dont", "didn't", "didnt", "won't", "wont", "can't", "cant", "never", "nahi", "nai", "nahin", "mat", "isn't", "isnt", "wasn't", "nope", "nobody", "none", "noone"];

/// Fixed phrases that decide an intent on their own, checked in order.
const PHRASES: &[(Intent, &[&str])] = &[
    (Intent::StopCalling, &["stop calling", "don't call", "dont call", "do not call", "never call", "remove my number", "unsubscribe", "call mat", "take me off", "stop these calls", "not want these calls", "don't want these calls", "no more calls"]),
    (Intent::WrongNumber, &["wrong number", "galat number", "wrong person", "no one by that name", "nobody by that name", "no such person", "not her number", "not his number"]),
    (Intent::AskHuman, &["real person", "human", "agent", "representative", "customer care", "insaan", "operator", "talk to someone", "speak to someone", "your manager", "a machine"]),
    (Intent::Repeat, &["repeat", "say that again", "pardon", "didn't hear", "didnt hear", "couldn't hear", "come again", "phir se", "once more", "what did you say", "dobara"]),
    (Intent::Dispute, &["never ordered", "didn't order", "didnt order", "did not order", "didn't place", "charged twice", "already paid", "order nahi kiya", "dispute"]),
    (Intent::Complaint, &["complain", "complaint", "kharab", "damaged", "broken", "torn", "rude", "unhappy", "poor quality", "used item", "nobody responded", "no one responded"]),
    (Intent::CancelOrder, &["cancel"]),
    (Intent::CallbackLater, &["baad mein", "call later", "call me later", "call back", "try again", "busy"]),
    (Intent::AskHuman, &["baat karao", "baat karni"]),
    (Intent::NotAvailable, &["ghar par nahi", "ghar pe nahi", "nahi hoon", "won't be home", "won't be at home", "not be at home", "out of town"]),
    (Intent::WrongNumber, &["not her phone", "not his phone", "not the customer"]),
    (Intent::Repeat, &["didn't catch", "didnt catch", "what was that"]),
    (Intent::AskDetails, &["kitna", "kitne", "kaunsa", "how much"]),
    (Intent::Reschedule, &["aa jao", "reschedule", "another day", "different day"]),
];

pub fn normalize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['’', '‘'], "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_string())
        .filter(|w| !w.is_empty())
        .map(|w| match w.as_str() {
            "han" | "haa" | "haanji" => "haan".to_string(),
            "nahin" | "nai" | "nahii" => "nahi".to_string(),
            "thik" => "theek".to_string(),
            "acha" | "achha" | "accha" => "achha".to_string(),
            _ => w,
        })
        .collect()
}

/// Rules that need no model: fixed phrases and bare yes/no answers.
pub fn lexical(words: &[String]) -> Option<Scored> {
    let content: Vec<&str> = words.iter().map(String::as_str).filter(|w| !FILLERS.contains(w)).collect();
    if content.is_empty() {
        return None;
    }
    let joined = format!(" {} ", content.join(" "));
    for (intent, phrases) in PHRASES {
        if phrases.iter().any(|p| joined.contains(&format!(" {p} ")) || (p.contains(' ') && joined.contains(p))) {
            return Some(Scored { intent: *intent, confidence: 0.95 });
        }
    }
    if content.len() <= 4 && content.iter().all(|w| HOLD.contains(w)) {
        return Some(Scored { intent: Intent::Unknown, confidence: 0.9 });
    }
    if content.len() <= 6 && content.iter().all(|w| AFFIRM.contains(w)) {
        return Some(Scored { intent: Intent::Affirm, confidence: 0.95 });
    }
    if content.len() <= 4 && content.iter().any(|w| DENY.contains(w)) && content.iter().all(|w| DENY.contains(w) || AFFIRM.contains(w) || *w == "thanks" || *w == "thank" || *w == "you") {
        return Some(Scored { intent: Intent::Deny, confidence: 0.9 });
    }
    None
}

#[derive(Debug, Deserialize)]
struct ExampleFile {
    #[serde(flatten)]
    intents: BTreeMap<String, ExampleSet>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleSet {
    examples: Vec<String>,
}

/// Reads `prompts/intents.toml`-style example lists.
pub fn load_examples(path: &Path) -> Result<Vec<(Intent, String)>, DialogueError> {
    let text = std::fs::read_to_string(path).map_err(|e| DialogueError::Io { path: path.into(), source: e })?;
    let file: ExampleFile = toml::from_str(&text).map_err(|e| DialogueError::Invalid { path: path.into(), reason: e.to_string() })?;
    let mut out = Vec::new();
    for (name, set) in file.intents {
        let intent = Intent::from_name(&name).ok_or_else(|| DialogueError::Invalid { path: path.into(), reason: format!("unknown intent [{name}]") })?;
        if set.examples.len() < 3 {
            return Err(DialogueError::Invalid { path: path.into(), reason: format!("[{name}] needs at least 3 examples") });
        }
        out.extend(set.examples.into_iter().map(|e| (intent, e)));
    }
    Ok(out)
}

pub struct IntentClassifier {
    embedder: Box<dyn Embedder>,
    examples: Vec<(Intent, Vec<f32>)>,
    /// Below this nearest-example score the answer is `unknown`.
    pub threshold: f32,
}

impl IntentClassifier {
    pub fn new(mut embedder: Box<dyn Embedder>, examples: &[(Intent, String)]) -> Result<Self, EngineError> {
        let examples = examples.iter().map(|(i, t)| Ok((*i, embedder.embed(t)?))).collect::<Result<Vec<_>, EngineError>>()?;
        Ok(IntentClassifier { embedder, examples, threshold: 0.45 })
    }

    /// MiniLM from the models directory with the examples in `intents_toml`.
    pub fn load(dir: &crate::models::ModelDir, intents_toml: &Path) -> Result<Self, DialogueError> {
        let examples = load_examples(intents_toml)?;
        let embedder = crate::engines::MiniLm::load(dir)?;
        Ok(Self::new(Box::new(embedder), &examples)?)
    }

    /// Mean of the best three example scores per intent, best first.
    fn ranked(&mut self, text: &str) -> Result<Vec<Scored>, EngineError> {
        let v = self.embedder.embed(text)?;
        let mut per: BTreeMap<Intent, Vec<f32>> = BTreeMap::new();
        for (intent, e) in &self.examples {
            per.entry(*intent).or_default().push(cosine(&v, e));
        }
        let mut ranked: Vec<Scored> = per
            .into_iter()
            .map(|(intent, mut s)| {
                s.sort_by(|a, b| b.total_cmp(a));
                let top = &s[..s.len().min(3)];
                Scored { intent, confidence: top.iter().sum::<f32>() / top.len() as f32 }
            })
            .collect();
        ranked.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Ok(ranked)
    }

    pub fn classify(&mut self, text: &str) -> Result<Scored, EngineError> {
        let words = normalize(text);
        if let Some(s) = lexical(&words) {
            return Ok(s);
        }
        let content: Vec<&str> = words.iter().map(String::as_str).filter(|w| !FILLERS.contains(w)).collect();
        if content.is_empty() {
            return Ok(Scored { intent: Intent::Unknown, confidence: 0.0 });
        }
        let negated = content.iter().any(|w| NEGATIONS.contains(w));
        // "No, I want to cancel": the words after a leading no decide; a bare or
        // affirmative remainder means deny.
        if DENY.contains(&content[0]) && content.len() > 1 {
            let rest = content[1..].join(" ");
            if let Some(s) = lexical(&normalize(&rest)).filter(|s| s.intent != Intent::Affirm) {
                return Ok(s);
            }
            // "No, I don't want it" / "no, that is not my address": a short negated
            // remainder restates the no.
            if content.len() <= 6 && content[1..].iter().any(|w| NEGATIONS.contains(w)) {
                return Ok(Scored { intent: Intent::Deny, confidence: 0.85 });
            }
            let best = self.ranked(&rest)?.into_iter().find(|s| s.intent != Intent::Affirm);
            return Ok(match best {
                Some(s) if s.confidence >= self.threshold && s.intent != Intent::Deny => s,
                _ => Scored { intent: Intent::Deny, confidence: 0.8 },
            });
        }
        // "Yes, please confirm my order": a leading yes stands unless the rest clearly says more.
        if YES_WORDS.contains(&content[0]) && content.len() > 1 && !negated {
            let rest = content[1..].join(" ");
            if let Some(s) = lexical(&normalize(&rest)) {
                return Ok(s);
            }
            let confirms = ["correct", "right", "fine", "confirm", "confirmed", "available", "ready", "packed", "good", "sahi", "theek"];
            if content[1..].iter().any(|w| confirms.contains(w)) {
                return Ok(Scored { intent: Intent::Affirm, confidence: 0.9 });
            }
            let best = self.ranked(&rest)?.into_iter().next();
            return Ok(match best {
                Some(s) if s.confidence >= 0.6 => s,
                _ => Scored { intent: Intent::Affirm, confidence: 0.85 },
            });
        }
        let ranked = self.ranked(&content.join(" "))?;
        let best = if negated { ranked.iter().find(|s| s.intent != Intent::Affirm) } else { ranked.first() }.copied();
        // Polarity: "I will be available tomorrow" sits close to "I won't be available";
        // without a negation or a word of absence it is a yes.
        const ABSENT: [&str; 10] = ["away", "out", "travelling", "traveling", "busy", "office", "work", "village", "function", "wedding"];
        if best.is_some_and(|s| s.intent == Intent::NotAvailable && s.confidence >= self.threshold) && !negated && !content.iter().any(|w| ABSENT.contains(w)) {
            return Ok(Scored { intent: Intent::Affirm, confidence: 0.7 });
        }
        Ok(match best {
            Some(s) if s.confidence >= self.threshold => s,
            _ if negated => Scored { intent: Intent::Deny, confidence: 0.6 },
            Some(s) => Scored { intent: Intent::Unknown, confidence: s.confidence },
            None => Scored { intent: Intent::Unknown, confidence: 0.0 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(t: &str) -> Option<Intent> {
        lexical(&normalize(t)).map(|s| s.intent)
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
}
