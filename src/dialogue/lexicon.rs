//! `prompts/lexicon.toml`: ASR misspellings of domain words corrected back, and
//! Hinglish glossed to English for the English-only embedder.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::DialogueError;
use crate::words::{tokens as normalize, AFFIRM, DENY, FILLERS, HOLD, NEGATIONS};

/// Left to right, replaces the run of words `find` recognises at each position
/// (returning its length and replacement); other words pass through.
pub(super) fn replace_runs(words: &[&str], find: impl Fn(&[&str]) -> Option<(usize, Vec<String>)>) -> Vec<String> {
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
    pub(super) gloss: Vec<(Vec<String>, Vec<String>)>,
    asr: BTreeMap<String, String>,
    pub(super) keywords: Vec<String>,
}

/// Optimal string alignment distance (edits, adjacent swaps count one).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
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
        gloss.sort_by_key(|g: &(Vec<String>, Vec<String>)| std::cmp::Reverse(g.0.len()));
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(fix("please cancle it"), "please cancel it");
        for real in
            ["a strong older border", "unavailable", "a dress", "picked", "quantity", "personal", "not avail able"]
        {
            assert_eq!(fix(real), real, "real words stay");
        }
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
