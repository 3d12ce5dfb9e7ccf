use voxline::engines::{SileroModel, VoiceActivity};
use voxline::media::resample;

use crate::common::{fixture, models};

fn probabilities(vad: &mut dyn VoiceActivity, samples: &[f32]) -> Vec<f32> {
    samples.chunks_exact(vad.chunk_samples()).map(|c| vad.speech_probability(c).unwrap()).collect()
}

#[test]
fn speech_is_detected_and_silence_is_not_at_8k_and_16k() {
    let model = SileroModel::load(&models()).unwrap();
    let silence = fixture("", "silence");
    for rate in [8000, 16000] {
        let speech = fixture(if rate == 8000 { "8k" } else { "16k" }, "three_seconds");
        assert_eq!(speech.rate, rate);
        let mut vad = model.detector(rate).unwrap();
        let p = probabilities(&mut vad, &speech.samples);
        let voiced = p.iter().filter(|&&x| x > 0.5).count() as f32 / p.len() as f32;
        assert!(voiced > 0.5, "{rate} Hz: only {voiced:.2} of chunks voiced");
        // Leading 250 ms pad is silence.
        assert!(p[0] < 0.3, "{rate} Hz onset {:?}", &p[..3]);

        vad.reset();
        let quiet = resample(&silence.samples, silence.rate, rate).unwrap();
        let p = probabilities(&mut vad, &quiet);
        assert!(p.iter().all(|&x| x < 0.3), "{rate} Hz silence peaks at {:?}", p.iter().cloned().fold(0.0, f32::max));
    }
}

#[test]
fn wrong_chunk_size_and_rate_are_input_errors() {
    let model = SileroModel::load(&models()).unwrap();
    assert!(model.detector(44100).is_err());
    let mut vad = model.detector(8000).unwrap();
    assert!(vad.speech_probability(&[0.0; 100]).is_err());
}
