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
/// lexicon and rules, `test` never was. Its floors guard against regressions only (it
/// measures 89.7 % and 1.3 % confusion; BENCHMARKS.md), and the message gives no errors.
#[test]
fn independent_sets_stay_above_their_floors() {
    let mut c = IntentClassifier::load(&models(), &root().join("prompts/intents.toml")).unwrap();
    let sets = [
        ("intents_dev.tsv", 0.95, 0.01),
        ("intents_dev2.tsv", 0.95, 0.01),
        ("intents_dev3.tsv", 0.95, 0.01),
        ("intents_heldout.tsv", 0.95, 0.01),
        ("intents_test.tsv", 0.87, 0.02),
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
