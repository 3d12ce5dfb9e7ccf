//! Intent and date-slot accuracy on the labelled set in tests/data, as one JSON line.
//! `cargo bench --bench intents`

use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use serde_json::json;
use voxline::dialogue::slots::{resolve_date, DateCue};
use voxline::dialogue::IntentClassifier;
use voxline::eval::{intent_report, read_tsv};
use voxline::models::ModelDir;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut c = IntentClassifier::load(&ModelDir::from_env(), &root.join("prompts/intents.toml")).unwrap();
    let rows = read_tsv(&root.join("tests/data/intents.tsv")).unwrap();
    let start = Instant::now();
    let r = intent_report(&mut c, &rows).unwrap();
    let per_utterance_ms = start.elapsed().as_secs_f64() * 1000.0 / rows.len() as f64;
    let heldout = read_tsv(&root.join("tests/data/intents_heldout.tsv")).unwrap();
    let h = intent_report(&mut c, &heldout).unwrap();
    let dev = intent_report(&mut c, &read_tsv(&root.join("tests/data/intents_dev.tsv")).unwrap()).unwrap();
    let dev2 = intent_report(&mut c, &read_tsv(&root.join("tests/data/intents_dev2.tsv")).unwrap()).unwrap();
    let dev3 = intent_report(&mut c, &read_tsv(&root.join("tests/data/intents_dev3.tsv")).unwrap()).unwrap();
    // Sealed: only its accuracy is read, never its errors.
    let test = intent_report(&mut c, &read_tsv(&root.join("tests/data/intents_test.tsv")).unwrap()).unwrap();
    let sealed = intent_report(&mut c, &read_tsv(&root.join("tests/data/intents_sealed.tsv")).unwrap()).unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let date_accuracy = |file: &str| {
        let rows = read_tsv(&root.join(file)).unwrap();
        let right = rows
            .iter()
            .filter(|(t, want)| {
                resolve_date(t, today, DateCue::Asked).map(|d| d.to_string()).unwrap_or("none".into()) == *want
            })
            .count();
        (rows.len(), (right as f64 / rows.len() as f64 * 1000.0).round() / 1000.0)
    };
    let (date_cases, date_acc) = date_accuracy("tests/data/dates.tsv");
    let (date_heldout_cases, date_heldout_acc) = date_accuracy("tests/data/dates_heldout.tsv");
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    println!(
        "{}",
        json!({
            "utterances": r.utterances,
            "intent_accuracy": (r.accuracy * 1000.0).round() / 1000.0,
            "affirm_deny_confusion": (r.affirm_deny_confusion * 1000.0).round() / 1000.0,
            "date_cases": date_cases,
            "date_accuracy": date_acc,
            "date_heldout_cases": date_heldout_cases,
            "date_heldout_accuracy": date_heldout_acc,
            "ms_per_utterance": (per_utterance_ms * 100.0).round() / 100.0,
            "errors": r.errors,
            "heldout_utterances": h.utterances,
            "heldout_accuracy": (h.accuracy * 1000.0).round() / 1000.0,
            "heldout_affirm_deny_confusion": (h.affirm_deny_confusion * 1000.0).round() / 1000.0,
            "heldout_errors": h.errors,
            "dev_utterances": dev.utterances,
            "dev_accuracy": round(dev.accuracy),
            "dev_affirm_deny_confusion": round(dev.affirm_deny_confusion),
            "dev_errors": dev.errors,
            "dev2_utterances": dev2.utterances,
            "dev2_accuracy": round(dev2.accuracy),
            "dev2_affirm_deny_confusion": round(dev2.affirm_deny_confusion),
            "dev2_errors": dev2.errors,
            "dev3_utterances": dev3.utterances,
            "dev3_accuracy": round(dev3.accuracy),
            "dev3_affirm_deny_confusion": round(dev3.affirm_deny_confusion),
            "dev3_errors": dev3.errors,
            "sealed_utterances": sealed.utterances,
            "sealed_accuracy": round(sealed.accuracy),
            "sealed_affirm_deny_confusion": round(sealed.affirm_deny_confusion),
            "test_utterances": test.utterances,
            "test_accuracy": round(test.accuracy),
            "test_affirm_deny_confusion": round(test.affirm_deny_confusion),
        })
    );
}
