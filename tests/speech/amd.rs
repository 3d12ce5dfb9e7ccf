//! Answering-machine detection on the fixtures in audio-fixtures/amd: the detector
//! author's set (own/) and one written without the detector (independent/), with
//! Whisper supplying the callee's words as a call would. Goal: no human taken for a
//! machine, at most 5% of machines missed.

use voxline::engines::AsrOptions;
use voxline::eval::{amd_clips, amd_report};
use voxline::media::resample;

use crate::common::asr;

#[test]
fn answering_machines_are_told_from_humans() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("audio-fixtures/amd");
    let mut clips = Vec::new();
    for set in ["own", "independent"] {
        let set_clips = amd_clips(&root.join(set)).unwrap();
        assert!(set_clips.iter().filter(|c| c.machine).count() >= 10, "{set}: at least 10 machines");
        assert!(set_clips.iter().filter(|c| !c.machine).count() >= 10, "{set}: at least 10 humans");
        clips.extend(set_clips);
    }
    let report = amd_report(&clips, |audio| {
        let wide = resample(audio, 8000, 16_000).unwrap();
        asr().transcribe_blocking(wide, AsrOptions::default()).map(|t| t.text).unwrap_or_default()
    });
    for clip in &report.clips {
        let right = clip.machine == clip.decision.is_machine();
        eprintln!(
            "{} {:<22} {:>5} ms  {:?}",
            if right { "ok " } else { "BAD" },
            clip.name,
            clip.decided_ms,
            clip.decision
        );
    }
    eprintln!(
        "humans hung up on: {}/{}, machines missed: {}/{}, decided p50 {} ms, max {} ms",
        report.humans_hung_up,
        report.humans,
        report.machines_missed,
        report.machines,
        report.decided_ms_p50,
        report.decided_ms_max
    );
    assert_eq!(report.humans_hung_up, 0, "no human is hung up on");
    assert!(report.machines_missed * 20 <= report.machines, "at most 5% of voicemails missed");
    assert!(report.decided_ms_max <= 3600, "decided within ~3.5 s of answer");
}
