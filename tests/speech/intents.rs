//! The labelled utterance set (tests/data) against the real MiniLM classifier.

use std::path::PathBuf;

use chrono::NaiveDate;
use voxline::dialogue::slots::{resolve_date, DateCue};
use voxline::dialogue::IntentClassifier;
use voxline::eval::{intent_report, read_tsv};

use crate::common::models;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn intent_accuracy_meets_the_targets() {
    let mut c = IntentClassifier::load(&models(), &root().join("prompts/intents.toml")).unwrap();
    let rows = read_tsv(&root().join("tests/data/intents.tsv")).unwrap();
    assert!(rows.len() >= 400);
    let r = intent_report(&mut c, &rows).unwrap();
    assert!(
        r.accuracy >= 0.95,
        "accuracy {:.3}; errors:\n{}",
        r.accuracy,
        r.errors.iter().map(|(t, w, g)| format!("{w} -> {g}: {t}")).collect::<Vec<_>>().join("\n")
    );
    assert!(r.affirm_deny_confusion <= 0.01, "affirm/deny confusion {:.3}: {:#?}", r.affirm_deny_confusion, r.errors);
}

/// Sets written apart from the examples: the dev sets were used to find gaps in the
/// lexicon and rules, the sealed `test` and `sealed` sets never were. Their floors guard
/// against regressions only (89.0 % / 1.5 % and 87.5 % / 2.0 % confusion when measured
/// blind; BENCHMARKS.md), and the message gives no errors.
#[test]
fn independent_sets_stay_above_their_floors() {
    let mut c = IntentClassifier::load(&models(), &root().join("prompts/intents.toml")).unwrap();
    let sets = [
        ("intents_dev.tsv", 0.95, 0.01),
        ("intents_dev2.tsv", 0.95, 0.01),
        ("intents_dev3.tsv", 0.95, 0.01),
        ("intents_heldout.tsv", 0.95, 0.01),
        ("intents_test.tsv", 0.87, 0.02),
        ("intents_sealed.tsv", 0.85, 0.03),
    ];
    for (file, floor, confusion) in sets {
        let rows = read_tsv(&root().join("tests/data").join(file)).unwrap();
        let r = intent_report(&mut c, &rows).unwrap();
        assert!(r.accuracy >= floor, "{file}: accuracy {:.3} < {floor}", r.accuracy);
        assert!(r.affirm_deny_confusion <= confusion, "{file}: affirm/deny confusion {:.3}", r.affirm_deny_confusion);
    }
}

/// Answers to "which day?" resolve to the right date; the `none` rows are ordinals and
/// counts that are no date even then ("wait a second", "the third time you called").
#[test]
fn date_slots_meet_the_target() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    for file in ["dates.tsv", "dates_heldout.tsv"] {
        let rows = read_tsv(&root().join("tests/data").join(file)).unwrap();
        let got = |t: &str| resolve_date(t, today, DateCue::Asked).map(|d| d.to_string()).unwrap_or("none".into());
        let wrong: Vec<_> = rows.iter().filter(|(t, want)| got(t) != *want).collect();
        let accuracy = 1.0 - wrong.len() as f64 / rows.len() as f64;
        assert!(accuracy >= 0.95, "{file}: date accuracy {accuracy:.3}: {wrong:?}");
        let traps: Vec<_> = rows.iter().filter(|(_, want)| want == "none").collect();
        for (t, _) in &traps {
            assert_eq!(got(t), "none", "{file}: {t:?} is no date");
            assert_eq!(resolve_date(t, today, DateCue::Unasked), None, "{file}: {t:?} is no date");
        }
        assert!(file != "dates.tsv" || traps.len() >= 22, "{} traps", traps.len());
    }
}

/// Lower-case words without punctuation: "No, I'm fine." and "no im fine" are the same text.
fn plain(text: &str) -> String {
    text.to_lowercase()
        .replace('\'', "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn rust_sources(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A sealed set measures unseen text only if none of it is an intent example or sits in
/// the code (a unit test, a rule written for it).
#[test]
fn sealed_sentences_are_neither_examples_nor_in_the_source() {
    let examples: std::collections::HashSet<String> =
        voxline::dialogue::intent::load_examples(&root().join("prompts/intents.toml"))
            .unwrap()
            .into_iter()
            .map(|(_, e)| plain(&e))
            .collect();
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches"] {
        rust_sources(&root().join(dir), &mut files);
    }
    let lexicon = root().join("prompts/lexicon.toml");
    let source: String = files
        .iter()
        .chain([&lexicon])
        .map(|f| plain(&std::fs::read_to_string(f).unwrap()))
        .collect::<Vec<_>>()
        .join(" | ");
    for file in ["intents_test.tsv", "intents_sealed.tsv"] {
        for (text, _) in read_tsv(&root().join("tests/data").join(file)).unwrap() {
            let t = plain(&text);
            assert!(!examples.contains(&t), "{file}: {text:?} is an intent example");
            // Short answers ("no thanks") occur in any code about calls; whole sentences must not.
            assert!(
                t.split(' ').count() < 4 || !source.contains(&format!(" {t} ")),
                "{file}: {text:?} is in the source"
            );
        }
    }
}
