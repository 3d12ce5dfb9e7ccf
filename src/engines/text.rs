//! Text helpers shared by the voices.

/// Splits prompt text into sentences for streaming synthesis. A sentence ends at
/// `.`, `!` or `?` followed by whitespace (or the end); decimals and abbreviations
/// such as "Rs. 1,499" stay whole when the next word starts lower-case or with a digit.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        current.push(c);
        if !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let next = chars.get(i + 1);
        let after = chars[i + 1..].iter().find(|c| !c.is_whitespace());
        let boundary = match (next, after) {
            (None, _) => true,
            (Some(n), Some(a)) if n.is_whitespace() => !(a.is_lowercase() || a.is_ascii_digit()),
            (Some(n), None) => n.is_whitespace(),
            _ => false,
        };
        if boundary {
            push_trimmed(&mut out, &current);
            current.clear();
        }
    }
    push_trimmed(&mut out, &current);
    out
}

/// Units of speech for streaming synthesis: sentences, with a long first sentence cut
/// at its first comma so the opening clause plays while the rest renders.
pub fn split_for_speech(text: &str) -> Vec<String> {
    let mut units = split_sentences(text);
    if let Some(first) = units.first().cloned() {
        if let Some(i) = first.find(", ") {
            let (head, tail) = (&first[..=i], first[i + 2..].trim());
            if first.split_whitespace().count() >= 7
                && head.split_whitespace().count() >= 2
                && tail.split_whitespace().count() >= 3
            {
                units.splice(0..1, [head.to_string(), tail.to_string()]);
            }
        }
    }
    units
}

fn push_trimmed(out: &mut Vec<String>, s: &str) {
    let t = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().any(|c| c.is_alphanumeric()) {
        out.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_sentence_ends_only() {
        assert_eq!(
            split_sentences("Hello Priya! This is an automated call. Your total is Rs. 1,499.  Is that right?"),
            vec!["Hello Priya!", "This is an automated call.", "Your total is Rs. 1,499.", "Is that right?"]
        );
        assert_eq!(split_sentences("No punctuation here"), vec!["No punctuation here"]);
        assert_eq!(split_sentences("  ...  "), Vec::<String>::new());
        assert_eq!(split_sentences("Version 2.5 is out. Yes"), vec!["Version 2.5 is out.", "Yes"]);
    }

    #[test]
    fn a_long_first_sentence_streams_its_first_clause_alone() {
        assert_eq!(
            split_for_speech("Hello Priya Sharma, this is an automated assistant calling. Can you confirm, please?"),
            vec!["Hello Priya Sharma,", "this is an automated assistant calling.", "Can you confirm, please?"]
        );
        assert_eq!(split_for_speech("Yes, thank you."), vec!["Yes, thank you."]);
    }
}
