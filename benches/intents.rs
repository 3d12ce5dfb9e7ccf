//! Intent and date-slot accuracy on the labelled set in tests/data, as one JSON line.
//! `cargo bench --bench intents`

use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use serde_json::json;
use voxline::dialogue::slots::resolve_date;
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
    let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let dates = read_tsv(&root.join("tests/data/dates.tsv")).unwrap();
    let right = dates.iter().filter(|(t, want)| resolve_date(t, today).map(|d| d.to_string()).as_deref() == Some(want.as_str())).count();
    println!(
        "{}",
        json!({
            "utterances": r.utterances,
            "intent_accuracy": (r.accuracy * 1000.0).round() / 1000.0,
            "affirm_deny_confusion": (r.affirm_deny_confusion * 1000.0).round() / 1000.0,
            "date_cases": dates.len(),
            "date_accuracy": (right as f64 / dates.len() as f64 * 1000.0).round() / 1000.0,
            "ms_per_utterance": (per_utterance_ms * 100.0).round() / 100.0,
            "errors": r.errors,
            "heldout_utterances": h.utterances,
            "heldout_accuracy": (h.accuracy * 1000.0).round() / 1000.0,
            "heldout_affirm_deny_confusion": (h.affirm_deny_confusion * 1000.0).round() / 1000.0,
            "heldout_errors": h.errors,
        })
    );
}
