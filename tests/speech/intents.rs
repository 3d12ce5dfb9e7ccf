//! The labelled utterance set (tests/data) against the real MiniLM classifier.

use std::path::PathBuf;

use chrono::NaiveDate;
use voxline::dialogue::slots::resolve_date;
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
    assert!(r.accuracy >= 0.95, "accuracy {:.3}; errors:\n{}", r.accuracy, r.errors.iter().map(|(t, w, g)| format!("{w} -> {g}: {t}")).collect::<Vec<_>>().join("\n"));
    assert!(r.affirm_deny_confusion <= 0.01, "affirm/deny confusion {:.3}: {:#?}", r.affirm_deny_confusion, r.errors);
}

#[test]
fn date_slots_meet_the_target() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let rows = read_tsv(&root().join("tests/data/dates.tsv")).unwrap();
    let wrong: Vec<_> = rows.iter().filter(|(t, want)| resolve_date(t, today).map(|d| d.to_string()).as_deref() != Some(want.as_str())).collect();
    let accuracy = 1.0 - wrong.len() as f64 / rows.len() as f64;
    assert!(accuracy >= 0.95, "date accuracy {accuracy:.3}: {wrong:?}");
}
