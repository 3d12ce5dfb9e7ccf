//! Intent recognition: the closed intent set, and the classifier that runs the rule
//! cascade (`rules`), then MiniLM nearest examples (several per intent) with a
//! confidence threshold. Words are first corrected and glossed (`lexicon`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::lexicon::Lexicon;
use super::rules::{lexical, present_not_absent, question_not_request, rewrite_idioms};
use super::DialogueError;
use crate::engines::{cosine, Embedder, EngineError};
use crate::words::{tokens as normalize, DENY, FILLERS, NEGATIONS, YES};

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
    let file: ExampleFile =
        toml::from_str(&text).map_err(|e| DialogueError::Invalid { path: path.into(), reason: e.to_string() })?;
    let mut out = Vec::new();
    for (name, set) in file.intents {
        let intent = Intent::from_name(&name)
            .ok_or_else(|| DialogueError::Invalid { path: path.into(), reason: format!("unknown intent [{name}]") })?;
        if set.examples.len() < 3 {
            return Err(DialogueError::Invalid {
                path: path.into(),
                reason: format!("[{name}] needs at least 3 examples"),
            });
        }
        out.extend(set.examples.into_iter().map(|e| (intent, e)));
    }
    Ok(out)
}

pub struct IntentClassifier {
    embedder: Box<dyn Embedder>,
    lexicon: Lexicon,
    /// Every word of the examples and the lexicon: a word outside it after "I am not" is
    /// taken for a person's name.
    vocabulary: std::collections::HashSet<String>,
    examples: Vec<(Intent, Vec<f32>)>,
    /// Below this nearest-example score the answer is `unknown`.
    pub threshold: f32,
    /// An intent scores the mean of its best `top_k` example similarities.
    pub top_k: usize,
}

impl IntentClassifier {
    pub fn new(
        mut embedder: Box<dyn Embedder>,
        examples: &[(Intent, String)],
        lexicon: Lexicon,
    ) -> Result<Self, EngineError> {
        let mut vocabulary: std::collections::HashSet<String> =
            examples.iter().flat_map(|(_, t)| normalize(t)).collect();
        vocabulary.extend(lexicon.gloss.iter().flat_map(|(from, to)| from.iter().chain(to).cloned()));
        vocabulary.extend(lexicon.keywords.iter().cloned());
        vocabulary.extend(
            ["mine", "sure", "free", "ready", "interested", "available", "home", "there", "here"].map(String::from),
        );
        let examples =
            examples.iter().map(|(i, t)| Ok((*i, embedder.embed(t)?))).collect::<Result<Vec<_>, EngineError>>()?;
        Ok(IntentClassifier { embedder, lexicon, vocabulary, examples, threshold: 0.45, top_k: 3 })
    }

    /// MiniLM from the models directory with the examples in `intents_toml` and the
    /// lexicon in the `lexicon.toml` beside it.
    pub fn load(dir: &crate::models::ModelDir, intents_toml: &Path) -> Result<Self, DialogueError> {
        let examples = load_examples(intents_toml)?;
        let lexicon = Lexicon::load(&intents_toml.with_file_name("lexicon.toml"))?;
        let embedder = crate::engines::MiniLm::load(dir)?;
        Ok(Self::new(Box::new(embedder), &examples, lexicon)?)
    }

    /// "I am not Rahul", "this is not Priya", "no Ramesh here": a name, not an answer.
    /// A name is a word neither the examples nor the dictionary know, or one written
    /// with a capital ("I am not Sharma").
    fn names_someone_else(&self, text: &str, content: &[&str]) -> bool {
        let capitalised = |w: &str| {
            text.split(|c: char| !c.is_alphanumeric())
                .any(|t| t.len() == w.len() && t.to_lowercase() == w && t.starts_with(char::is_uppercase))
        };
        let name = |w: &str| {
            w.len() >= 3
                && w.chars().all(|c| c.is_alphabetic())
                && !self.vocabulary.contains(w)
                && (!self.embedder.knows_word(w) || capitalised(w))
        };
        let after = |prefix: &[&str]| {
            content.windows(prefix.len() + 1).any(|w| w[..prefix.len()] == *prefix && name(w[prefix.len()]))
        };
        after(&["i", "am", "not"])
            || after(&["i'm", "not"])
            || after(&["this", "is", "not"])
            || content.windows(3).any(|w| w[0] == "no" && name(w[1]) && w[2] == "here")
    }

    fn english(&self, words: &[&str]) -> String {
        self.lexicon.gloss(words).join(" ")
    }

    /// Mean of the best `top_k` example scores per intent, best first.
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
                let top = &s[..s.len().min(self.top_k.max(1))];
                Scored { intent, confidence: top.iter().sum::<f32>() / top.len() as f32 }
            })
            .collect();
        ranked.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Ok(ranked)
    }

    pub fn classify(&mut self, text: &str) -> Result<Scored, EngineError> {
        let embedder = &self.embedder;
        let words = rewrite_idioms(text, self.lexicon.correct(&normalize(text), &|w| embedder.knows_word(w)));
        if let Some(s) = lexical(&words) {
            return Ok(s);
        }
        let content: Vec<&str> = words.iter().map(String::as_str).filter(|w| !FILLERS.contains(w)).collect();
        if content.is_empty() {
            return Ok(Scored { intent: Intent::Unknown, confidence: 0.0 });
        }
        let negated = content.iter().any(|w| NEGATIONS.contains(w));
        if self.names_someone_else(text, &content) {
            return Ok(Scored { intent: Intent::WrongNumber, confidence: 0.8 });
        }
        // "No Mr Sharma lives here" / "yahan koi Anjali nahi rehti": someone else is not here.
        let joined = format!(" {} ", content.join(" "));
        let here_not_living =
            joined.contains(" yahan ") && (joined.contains(" nahi rehti ") || joined.contains(" nahi rehta "));
        if here_not_living || (negated && (joined.contains(" lives here ") || joined.contains(" stays here "))) {
            return Ok(Scored { intent: Intent::WrongNumber, confidence: 0.85 });
        }
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
            let english = self.english(&content[1..]);
            if english.trim().is_empty() {
                return Ok(Scored { intent: Intent::Deny, confidence: 0.8 });
            }
            let best = self.ranked(&english)?.into_iter().find(|s| s.intent != Intent::Affirm);
            return Ok(match best {
                Some(s) if s.confidence >= self.threshold && s.intent != Intent::Deny => s,
                _ => Scored { intent: Intent::Deny, confidence: 0.8 },
            });
        }
        // "Yes, but send it to my office": what follows "but" decides.
        if YES.contains(&content[0]) {
            if let Some(but) =
                content.iter().position(|w| *w == "but" || *w == "lekin").filter(|&b| b + 1 < content.len())
            {
                let after = content[but + 1..].join(" ");
                let s = self.classify(&after)?;
                if s.intent != Intent::Unknown {
                    return Ok(s);
                }
            }
        }
        // "Yes, please confirm my order": a leading yes stands unless the rest clearly says more.
        if YES.contains(&content[0]) && content.len() > 1 && !negated {
            let rest = content[1..].join(" ");
            if let Some(s) = lexical(&normalize(&rest)) {
                return Ok(s);
            }
            // "Yes, send it to my office instead" asks for a change, whatever else it says.
            const CHANGE: [&str; 9] =
                ["change", "new", "moved", "shifted", "different", "wrong", "update", "old", "instead"];
            let english = self.english(&content[1..]);
            let changes = english.split_whitespace().any(|w| CHANGE.contains(&w));
            let confirms = [
                "correct",
                "right",
                "fine",
                "confirm",
                "confirmed",
                "available",
                "ready",
                "packed",
                "good",
                "sahi",
                "theek",
                "mine",
                "sure",
                "perfect",
            ];
            if !changes && content[1..].iter().any(|w| confirms.contains(w)) {
                return Ok(Scored { intent: Intent::Affirm, confidence: 0.9 });
            }
            let not_negated = false;
            let best = self.ranked(&english)?.into_iter().next().map(|s| present_not_absent(s, not_negated, &content));
            // "Yes, that's my address" is a confirmation, not a change.
            let restates_address = best.is_some_and(|s| s.intent == Intent::ChangeAddress) && !changes;
            return Ok(match best {
                Some(_) if restates_address => Scored { intent: Intent::Affirm, confidence: 0.8 },
                Some(s) if s.confidence >= 0.6 => s,
                _ => Scored { intent: Intent::Affirm, confidence: 0.85 },
            });
        }
        let english = self.english(&content);
        if english.trim().is_empty() {
            return Ok(Scored { intent: Intent::Unknown, confidence: 0.0 });
        }
        let negated = negated || english.split_whitespace().any(|w| NEGATIONS.contains(&w));
        let ranked = self.ranked(&english)?;
        let best = if negated { ranked.iter().find(|s| s.intent != Intent::Affirm) } else { ranked.first() }.copied();
        let best = best
            .filter(|s| s.confidence >= self.threshold)
            .map(|s| present_not_absent(s, negated, &content))
            .map(|s| question_not_request(s, text, &content));
        Ok(match best {
            Some(s) => s,
            None if negated => Scored { intent: Intent::Deny, confidence: 0.6 },
            None => Scored { intent: Intent::Unknown, confidence: ranked.first().map_or(0.0, |s| s.confidence) },
        })
    }
}
