//! Word error rate with a Whisper-style text normaliser, and the answering-machine
//! detector's accuracy, for tests and benches.

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

/// One answering-machine fixture: 8 kHz audio from the moment of answer.
pub struct AmdClip {
    pub name: String,
    pub machine: bool,
    pub audio: Vec<f32>,
}

/// Reads `labels.tsv` (NAME or FILE, then `human` or `machine`; a header line is
/// skipped) and the WAVs next to it.
pub fn amd_clips(dir: &std::path::Path) -> Result<Vec<AmdClip>, String> {
    let text = std::fs::read_to_string(dir.join("labels.tsv")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut clips = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split('\t');
        let (Some(name), Some(label)) = (fields.next(), fields.next()) else { continue };
        let machine = match label.trim() {
            "machine" => true,
            "human" => false,
            _ => continue, // the header
        };
        let file = if name.ends_with(".wav") { name.to_string() } else { format!("{name}.wav") };
        let pcm = crate::media::read_wav_mono(&dir.join(&file)).map_err(|e| format!("{file}: {e}"))?;
        let audio = crate::media::resample(&pcm.samples, pcm.rate, 8000).map_err(|e| format!("{file}: {e}"))?;
        clips.push(AmdClip { name: file, machine, audio });
    }
    Ok(clips)
}

/// What the detector made of one clip.
#[derive(Debug, serde::Serialize)]
pub struct AmdResult {
    pub name: String,
    pub machine: bool,
    pub decision: crate::media::amd::Decision,
    pub decided_ms: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct AmdReport {
    pub humans: usize,
    /// Humans taken for machines: they would be hung up on.
    pub humans_hung_up: usize,
    pub machines: usize,
    /// Machines taken for humans: the bot talks to a greeting.
    pub machines_missed: usize,
    pub decided_ms_p50: u64,
    pub decided_ms_max: u64,
    pub clips: Vec<AmdResult>,
}

/// Runs the detector over `clips` as a call would: 20 ms frames from the answer, and
/// the callee's words recognised so far (`transcribe` of the audio up to that point)
/// every second from 1.5 s while it is undecided.
pub fn amd_report(clips: &[AmdClip], mut transcribe: impl FnMut(&[f32]) -> String) -> AmdReport {
    use crate::media::amd::{AmdConfig, Detector, FRAME};
    let mut results = Vec::new();
    for clip in clips {
        let mut detector = Detector::new(AmdConfig::default());
        for (i, frame) in clip.audio.chunks(FRAME).enumerate() {
            let at = (i as u64 + 1) * 20;
            if at >= 1500 && (at - 1500) % 1000 == 0 && detector.decision().is_none() {
                let heard = transcribe(&clip.audio[..(i + 1) * FRAME]);
                detector.on_text(&heard);
            }
            if detector.decision().is_some() || detector.on_frame(frame).is_some() {
                break;
            }
        }
        let decision = detector
            .decision()
            .cloned()
            .unwrap_or_else(|| crate::media::amd::Decision::Human("the clip ended undecided".into()));
        results.push(AmdResult {
            name: clip.name.clone(),
            machine: clip.machine,
            decision,
            decided_ms: detector.elapsed_ms(),
        });
    }
    let mut times: Vec<u64> = results.iter().map(|r| r.decided_ms).collect();
    times.sort_unstable();
    AmdReport {
        humans: results.iter().filter(|r| !r.machine).count(),
        humans_hung_up: results.iter().filter(|r| !r.machine && r.decision.is_machine()).count(),
        machines: results.iter().filter(|r| r.machine).count(),
        machines_missed: results.iter().filter(|r| r.machine && !r.decision.is_machine()).count(),
        decided_ms_p50: times.get(times.len() / 2).copied().unwrap_or(0),
        decided_ms_max: times.last().copied().unwrap_or(0),
        clips: results,
    }
}
