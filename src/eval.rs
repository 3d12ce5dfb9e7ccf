//! Word error rate with a Whisper-style text normaliser, for tests and benches.

/// Lower-cases, strips punctuation, expands common contractions and folds
/// British spellings, so "I'm travelling." and "I am traveling" compare equal.
pub fn normalize(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase().replace(['’', '‘'], "'");
    let mut words = Vec::new();
    for raw in lowered.split(|c: char| c.is_whitespace() || c == '-' || c == ',') {
        let w: String = raw.chars().filter(|c| c.is_alphanumeric() || *c == '\'').collect();
        let w = w.trim_matches('\'');
        if w.is_empty() {
            continue;
        }
        match expand(w) {
            Some(parts) => words.extend(parts.iter().map(|s| s.to_string())),
            None => words.push(spelling(w).to_string()),
        }
    }
    words
}

fn expand(w: &str) -> Option<&'static [&'static str]> {
    Some(match w {
        "i'm" => &["i", "am"],
        "it's" => &["it", "is"],
        "that's" => &["that", "is"],
        "don't" => &["do", "not"],
        "won't" => &["will", "not"],
        "can't" => &["can", "not"],
        "cannot" => &["can", "not"],
        "i'll" => &["i", "will"],
        "you're" => &["you", "are"],
        "we're" => &["we", "are"],
        "i've" => &["i", "have"],
        "didn't" => &["did", "not"],
        "isn't" => &["is", "not"],
        "what's" => &["what", "is"],
        "okay" | "ok" => &["okay"],
        _ => return None,
    })
}

fn spelling(w: &str) -> &str {
    match w {
        "travelling" => "traveling",
        "cancelled" => "canceled",
        "cancelling" => "canceling",
        "colour" => "color",
        _ => w,
    }
}

/// Word-level edit distance between reference and hypothesis.
pub fn word_errors(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut cur = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            cur[j + 1] = (prev[j] + (r != h) as usize).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[hypothesis.len()]
}

/// Corpus WER: total edits over total reference words.
pub fn wer<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> f64 {
    let (mut errors, mut words) = (0usize, 0usize);
    for (reference, hypothesis) in pairs {
        let r = normalize(reference);
        errors += word_errors(&r, &normalize(hypothesis));
        words += r.len();
    }
    errors as f64 / words.max(1) as f64
}

/// Intent accuracy over labelled rows `(text, intent name)`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IntentReport {
    pub utterances: usize,
    pub accuracy: f64,
    /// Share of affirm/deny utterances classified as the other one.
    pub affirm_deny_confusion: f64,
    pub errors: Vec<(String, String, String)>,
}

pub fn intent_report(
    classifier: &mut crate::dialogue::IntentClassifier,
    rows: &[(String, String)],
) -> Result<IntentReport, crate::engines::EngineError> {
    let (mut right, mut yes_no, mut confused) = (0usize, 0usize, 0usize);
    let mut errors = Vec::new();
    for (text, want) in rows {
        let got = classifier.classify(text)?.intent.name();
        if got == want {
            right += 1;
        } else {
            errors.push((text.clone(), want.clone(), got.to_string()));
        }
        if want == "affirm" || want == "deny" {
            yes_no += 1;
            confused += ((want == "affirm" && got == "deny") || (want == "deny" && got == "affirm")) as usize;
        }
    }
    Ok(IntentReport {
        utterances: rows.len(),
        accuracy: right as f64 / rows.len().max(1) as f64,
        affirm_deny_confusion: confused as f64 / yes_no.max(1) as f64,
        errors,
    })
}

/// Rows of a `text<TAB>label` file, skipping `#` comments.
pub fn read_tsv(path: &std::path::Path) -> std::io::Result<Vec<(String, String)>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_string(), b.trim().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normaliser_and_distance() {
        assert_eq!(normalize("I'm travelling, OK?"), ["i", "am", "traveling", "okay"]);
        assert_eq!(wer([("I am busy right now.", "I'm busy right now")]), 0.0);
        assert_eq!(wer([("yes please confirm", "yes confirm it")]), 2.0 / 3.0);
        assert_eq!(wer([("a b c d", "")]), 1.0);
    }
}
