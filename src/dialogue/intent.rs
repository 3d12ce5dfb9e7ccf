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
const FILLERS: &[&str] = &[
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
const AFFIRM: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "ya",
    "haan",
    "ha",
    "han",
    "sure",
    "ok",
    "okay",
    "correct",
    "right",
    "confirm",
    "confirmed",
    "theek",
    "thik",
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
    "accha",
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
const DENY: &[&str] = &["no", "nope", "nah", "nahi", "nai", "na", "not", "never", "negative", "nahin"];
/// "Stop", "wait", "hold on": the caller wants a moment, not an opt-out.
const HOLD: &[&str] = &["stop", "wait", "hold", "on", "a", "minute", "second", "one", "ruko", "just"];
const YES_WORDS: &[&str] = &["yes", "yeah", "yep", "haan", "sure", "okay", "ok", "correct", "right"];
const NEGATIONS: &[&str] = &[
    "no", "not", "don't", "dont", "didn't", "didnt", "won't", "wont", "can't", "cant", "never", "nahi", "nai", "nahin",
    "mat", "isn't", "isnt", "wasn't", "nope", "nobody", "none", "noone",
];

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
fn rewrite_idioms(text: &str, words: Vec<String>) -> Vec<String> {
    let said = text.to_lowercase();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    replace_runs(&words, |rest| {
        IDIOMS
            .iter()
            .find(|(from, _)| rest.starts_with(from) && said.contains(&from.join(" ")))
            .map(|(from, to)| (from.len(), vec![to.to_string()]))
    })
}

/// Left to right, replaces the run of words `find` recognises at each position
/// (returning its length and replacement); other words pass through.
fn replace_runs(words: &[&str], find: impl Fn(&[&str]) -> Option<(usize, Vec<String>)>) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        match find(&words[i..]) {
            Some((n, to)) => {
                out.extend(to);
                i += n.max(1);
            }
            None => {
                out.push(words[i].to_string());
                i += 1;
            }
        }
    }
    out
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconFile {
    #[serde(default)]
    gloss: BTreeMap<String, String>,
    #[serde(default)]
    asr: BTreeMap<String, String>,
    keywords: Keywords,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keywords {
    words: Vec<String>,
}

/// Rewrites applied before classification (`prompts/lexicon.toml`): ASR misspellings of
/// domain words, and Hinglish glossed to English for the English-only embedder.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    /// (words, replacement words), longest phrases first.
    gloss: Vec<(Vec<String>, Vec<String>)>,
    asr: BTreeMap<String, String>,
    keywords: Vec<String>,
}

/// Optimal string alignment distance (edits, adjacent swaps count one).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=b.len() {
        d[0][j] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

impl Lexicon {
    pub fn load(path: &Path) -> Result<Self, DialogueError> {
        let text = std::fs::read_to_string(path).map_err(|e| DialogueError::Io { path: path.into(), source: e })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, DialogueError> {
        let invalid = |reason: String| DialogueError::Invalid { path: path.into(), reason };
        let file: LexiconFile = toml::from_str(text).map_err(|e| {
            let line = super::toml_error_line(text, &e);
            invalid(format!("line {line}: {}", e.message()))
        })?;
        let check = |section: &str, key: &str| -> Result<Vec<String>, DialogueError> {
            let words = normalize(key);
            if words.is_empty() || words.join(" ") != key {
                return Err(invalid(format!(
                    "[{section}] key {key:?} must be lower-case words (as normalised: {:?})",
                    words.join(" ")
                )));
            }
            Ok(words)
        };
        let mut gloss = Vec::new();
        for (from, to) in &file.gloss {
            gloss.push((check("gloss", from)?, to.split_whitespace().map(str::to_string).collect()));
        }
        gloss.sort_by(|a: &(Vec<String>, Vec<String>), b| b.0.len().cmp(&a.0.len()));
        for key in file.asr.keys() {
            check("asr", key)?;
        }
        if file.keywords.words.is_empty() {
            return Err(invalid("[keywords] words is empty".into()));
        }
        Ok(Lexicon { gloss, asr: file.asr, keywords: file.keywords.words })
    }

    /// A word the lexicon or the rules use as it is.
    fn listed(&self, w: &str) -> bool {
        self.keywords.iter().any(|k| k == w)
            || self.gloss.iter().any(|(from, _)| from.len() == 1 && from[0] == w)
            || [FILLERS, AFFIRM, DENY, HOLD, NEGATIONS].iter().any(|list| list.contains(&w))
    }

    /// Whether `w` may be a misrecognition: not a dictionary word, not one the lexicon
    /// uses, and long enough and alphabetic enough to judge.
    fn suspect(&self, w: &str, is_word: &dyn Fn(&str) -> bool) -> bool {
        w.len() >= 4 && !w.chars().any(|c| c.is_ascii_digit()) && !self.listed(w) && !is_word(w)
    }

    /// The keyword `w` misspells: one edit away, two for words of eight letters or more.
    fn nearest(&self, w: &str) -> Option<&str> {
        let allowed = if w.len() >= 8 { 2 } else { 1 };
        self.keywords
            .iter()
            .map(|k| (edit_distance(w, k), k))
            .filter(|(d, _)| (1..=allowed).contains(d))
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k.as_str())
    }

    /// ASR spellings back to the domain words meant: "cancil" -> "cancel", and "can sel"
    /// -> "cancel" when the second word is no word at all. `is_word` is the dictionary
    /// (the embedder's vocabulary): real words are never rewritten.
    pub fn correct(&self, words: &[String], is_word: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::with_capacity(words.len());
        let mut i = 0;
        while i < words.len() {
            let w = words[i].as_str();
            let joined = words
                .get(i + 1)
                .filter(|next| !self.listed(next) && !is_word(next) && !next.chars().any(|c| c.is_ascii_digit()))
                .and_then(|next| {
                    let joined = format!("{w}{next}");
                    let exact = self.keywords.iter().find(|k| **k == joined).map(String::as_str);
                    exact.or_else(|| self.nearest(&joined)).filter(|_| !self.keywords.iter().any(|k| k == w))
                });
            if let Some(r) = self.asr.get(w) {
                out.extend(r.split_whitespace().map(str::to_string));
            } else if let Some(k) = joined {
                out.push(k.to_string());
                i += 1;
            } else if self.suspect(w, is_word) {
                out.push(self.nearest(w).unwrap_or(w).to_string());
            } else {
                out.push(w.to_string());
            }
            i += 1;
        }
        out
    }

    /// Hinglish words and phrases in English: "ghar pe koi nahi hoga" -> "nobody is at home will be".
    pub fn gloss(&self, words: &[&str]) -> Vec<String> {
        replace_runs(words, |rest| {
            self.gloss
                .iter()
                .find(|(from, _)| from.len() <= rest.len() && from.iter().zip(rest).all(|(a, b)| a == b))
                .map(|(from, to)| (from.len(), to.clone()))
        })
    }
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
        if YES_WORDS.contains(&content[0]) {
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
        if YES_WORDS.contains(&content[0]) && content.len() > 1 && !negated {
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

/// "When is the pickup?" / "pickup kis time hoga?" asks about the schedule; "can you
/// come on Friday?" changes it. English puts the question word first, Hindi anywhere.
fn question_not_request(s: Scored, text: &str, content: &[&str]) -> Scored {
    const QUESTION: [&str; 5] = ["what", "when", "which", "how", "where"];
    const HINDI_QUESTION: [&str; 6] = ["kab", "kis", "kitne", "kitna", "kaunsa", "kaise"];
    let any_day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
    let names_a_time =
        super::slots::resolve_date(text, any_day).is_some() || super::slots::resolve_time_window(text).is_some();
    let asks = QUESTION.contains(&content[0]) || content.iter().any(|w| HINDI_QUESTION.contains(w));
    if s.intent == Intent::Reschedule && asks && !names_a_time {
        return Scored { intent: Intent::AskDetails, confidence: s.confidence };
    }
    s
}

/// Polarity: "I will be available tomorrow" sits close to "I won't be available";
/// without a negation or a word of absence it is a yes.
fn present_not_absent(s: Scored, negated: bool, content: &[&str]) -> Scored {
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

    fn shipped_lexicon() -> Lexicon {
        Lexicon::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/lexicon.toml")).unwrap()
    }

    #[test]
    fn asr_misspellings_of_domain_words_are_corrected() {
        let l = shipped_lexicon();
        // A stand-in for the embedder's dictionary.
        const WORDS: &[&str] = &[
            "i",
            "want",
            "to",
            "can",
            "my",
            "order",
            "the",
            "talk",
            "a",
            "not",
            "strong",
            "older",
            "border",
            "unavailable",
            "dress",
            "picked",
            "quantity",
            "personal",
            "able",
            "avail",
        ];
        let fix = |t: &str| l.correct(&normalize(t), &|w| WORDS.contains(&w)).join(" ");
        assert_eq!(fix("i want to can sel my order"), "i want to cancel my order");
        assert_eq!(fix("cancil the order"), "cancel the order");
        assert_eq!(fix("talk to a humen"), "talk to a human");
        assert_eq!(fix("rong numbr"), "wrong number");
        for real in
            ["a strong older border", "unavailable", "a dress", "picked", "quantity", "personal", "not avail able"]
        {
            assert_eq!(fix(real), real, "real words stay");
        }
        assert_eq!(lex(&fix("please cancle it")), Some(Intent::CancelOrder));
        let idioms = |t: &str| rewrite_idioms(t, normalize(t)).join(" ");
        assert_eq!(idioms("No problem, deliver it"), "fine deliver it");
        assert_eq!(idioms("No. Problem is I won't be home"), "no problem is i won't be home");
    }

    #[test]
    fn hinglish_is_glossed_to_english() {
        let l = shipped_lexicon();
        let gloss = |t: &str| {
            let w = normalize(t);
            l.gloss(&w.iter().map(String::as_str).collect::<Vec<_>>()).join(" ")
        };
        assert_eq!(gloss("ghar pe koi nahi hoga"), "nobody is at home will be");
        assert_eq!(gloss("mera paisa wapas"), "my refund", "a phrase wins over its words");
        assert!(Lexicon::parse("[gloss]\n\"Nahi\" = \"not\"\n[keywords]\nwords = [\"x\"]", Path::new("l.toml"))
            .unwrap_err()
            .to_string()
            .contains("lower-case"));
        assert!(Lexicon::parse("[gloss]\nx = 1", Path::new("l.toml")).unwrap_err().to_string().contains("line 2"));
    }
}
