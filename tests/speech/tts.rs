use voxline::engines::{AsrOptions, PiperVoice, TextToSpeech, TtsService};
use voxline::eval::wer;
use voxline::media::resample;

use crate::common::{asr, models};

const SENTENCE: &str = "Your order of running shoes will arrive on Friday.";

/// Synthesize, band-limit to 8 kHz, upsample to 16 kHz, recognise.
fn round_trip(voice: &mut dyn TextToSpeech, text: &str) -> String {
    let audio = voice.synthesize(text).unwrap();
    let peak = audio.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(peak > 0.05, "output is silent (peak {peak})");
    assert!(audio.len() > voice.sample_rate() as usize, "under a second of audio for a 9-word sentence");
    let phone = resample(&audio, voice.sample_rate(), 8000).unwrap();
    let wide = resample(&phone, 8000, 16_000).unwrap();
    asr().transcribe_blocking(wide, AsrOptions::default()).unwrap().text
}

#[test]
fn piper_speech_survives_the_phone_band_and_asr() {
    let mut voice = PiperVoice::load(&models()).unwrap();
    assert_eq!(voice.sample_rate(), 22_050);
    let heard = round_trip(&mut voice, SENTENCE);
    assert!(wer([(SENTENCE, heard.as_str())]) <= 0.2, "heard {heard:?}");
}

#[cfg(feature = "espeak")]
#[test]
fn espeak_fallback_voice_is_intelligible() {
    let mut voice = voxline::engines::espeak::EspeakVoice::new("en-us", 160);
    let heard = round_trip(&mut voice, SENTENCE);
    assert!(wer([(SENTENCE, heard.as_str())]) <= 0.3, "heard {heard:?}");
}

#[test]
fn streaming_renders_sentence_by_sentence_and_caches_static_prompts() {
    let mut tts = TtsService::load(&models()).unwrap();
    assert_eq!(tts.voice_id(), "piper-joe");
    tts.prerender("This call is from an automated assistant.").unwrap();
    let mut stream = tts.stream("This call is from an automated assistant. Your order number is one zero four two.");
    let first = stream.next().unwrap().unwrap();
    assert!(first.cached && first.samples.len() > 10_000);
    let second = stream.next().unwrap().unwrap();
    assert!(!second.cached && second.text.starts_with("Your order"));
    assert!(stream.next().is_none());
}
