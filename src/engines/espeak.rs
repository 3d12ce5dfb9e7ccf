//! libespeak-ng: IPA phonemes for Piper, and espeak's own synthesis as the fallback voice.
//!
//! espeak-ng is GPL-3.0-or-later; this module exists only with the `espeak` feature.
//! The library is process-global and not thread-safe, so every call holds `LOCK`.

use std::ffi::{c_char, c_int, c_short, c_uint, c_void, CStr, CString};
use std::sync::Mutex;

use super::{EngineError, TextToSpeech};

#[link(name = "espeak-ng")]
extern "C" {
    fn espeak_Initialize(output: c_int, buflength: c_int, path: *const c_char, options: c_int) -> c_int;
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_TextToPhonemes(textptr: *mut *const c_void, textmode: c_int, phonememode: c_int) -> *const c_char;
    fn espeak_SetSynthCallback(cb: unsafe extern "C" fn(*mut c_short, c_int, *mut c_void) -> c_int);
    fn espeak_Synth(
        text: *const c_void,
        size: usize,
        position: c_uint,
        position_type: c_int,
        end_position: c_uint,
        flags: c_uint,
        unique_identifier: *mut c_uint,
        user_data: *mut c_void,
    ) -> c_int;
    fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
}

const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const INITIALIZE_DONT_EXIT: c_int = 0x8000;
const CHARS_UTF8: c_int = 1;
const PHONEMES_IPA: c_int = 0x02;
const POS_CHARACTER: c_int = 1;
const ENDPAUSE: c_uint = 0x1000;
const PARAM_RATE: c_int = 1;

/// Guards the library; holds its sample rate once initialised.
static LOCK: Mutex<Option<u32>> = Mutex::new(None);
/// Samples delivered by the synthesis callback during one `espeak_Synth` call.
static SYNTH_OUT: Mutex<Vec<i16>> = Mutex::new(Vec::new());

unsafe extern "C" fn collect(wav: *mut c_short, n: c_int, _events: *mut c_void) -> c_int {
    if !wav.is_null() && n > 0 {
        // SAFETY: espeak passes `n` valid samples at `wav` for the duration of the callback.
        let samples = unsafe { std::slice::from_raw_parts(wav, n as usize) };
        if let Ok(mut out) = SYNTH_OUT.lock() {
            out.extend_from_slice(samples);
        }
    }
    0
}

fn with_espeak<T>(voice: &str, f: impl FnOnce(u32) -> Result<T, EngineError>) -> Result<T, EngineError> {
    let mut guard = LOCK.lock().map_err(|_| EngineError::runtime("espeak", "lock poisoned"))?;
    let rate = match *guard {
        Some(rate) => rate,
        None => {
            // SAFETY: called once under LOCK with a null data path (the system default).
            let rate =
                unsafe { espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, std::ptr::null(), INITIALIZE_DONT_EXIT) };
            if rate <= 0 {
                return Err(EngineError::runtime("espeak", "espeak_Initialize failed (is espeak-ng-data installed?)"));
            }
            // SAFETY: `collect` matches espeak's callback signature and lives for the program.
            unsafe { espeak_SetSynthCallback(collect) };
            *guard = Some(rate as u32);
            rate as u32
        }
    };
    let name = CString::new(voice).map_err(|_| EngineError::input("espeak", "voice name contains NUL"))?;
    // SAFETY: under LOCK; `name` is a valid C string for the call.
    if unsafe { espeak_SetVoiceByName(name.as_ptr()) } != 0 {
        return Err(EngineError::input("espeak", format!("unknown voice {voice:?}")));
    }
    f(rate)
}

/// IPA phonemes for `text`, with clause punctuation kept (espeak drops it; Piper needs it).
pub fn phonemize_ipa(text: &str, voice: &str) -> Result<String, EngineError> {
    with_espeak(voice, |_| {
        let mut out = String::new();
        for (clause, punct) in clauses(text) {
            let c = CString::new(clause).map_err(|_| EngineError::input("espeak", "text contains NUL"))?;
            let mut ptr: *const c_void = c.as_ptr().cast();
            let mut pieces = Vec::new();
            while !ptr.is_null() {
                // SAFETY: `ptr` points into `c` (NUL-terminated, alive); espeak advances it or nulls it.
                let ph = unsafe { espeak_TextToPhonemes(&mut ptr, CHARS_UTF8, PHONEMES_IPA) };
                if ph.is_null() {
                    break;
                }
                // SAFETY: espeak returns a NUL-terminated string valid until its next call.
                let s = unsafe { CStr::from_ptr(ph) }.to_string_lossy().trim().to_string();
                if !s.is_empty() {
                    pieces.push(s);
                }
            }
            if !out.is_empty() && !pieces.is_empty() {
                out.push(' ');
            }
            out.push_str(&pieces.join(" "));
            if let Some(p) = punct {
                out.push(p);
            }
        }
        Ok(out)
    })
}

/// Splits at clause punctuation, returning each clause with the mark that ended it.
fn clauses(text: &str) -> Vec<(&str, Option<char>)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | ',' | '!' | '?' | ';' | ':') {
            let clause = text[start..i].trim();
            if !clause.is_empty() {
                out.push((clause, Some(c)));
            }
            start = i + c.len_utf8();
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push((rest, None));
    }
    out
}

/// espeak-ng's own formant voice: robotic but instant; the fallback when Piper is missing.
pub struct EspeakVoice {
    voice: String,
    words_per_minute: i32,
}

impl EspeakVoice {
    pub fn new(voice: &str, words_per_minute: i32) -> Self {
        EspeakVoice { voice: voice.into(), words_per_minute }
    }

    pub fn native_rate() -> Result<u32, EngineError> {
        with_espeak("en-us", Ok)
    }
}

impl TextToSpeech for EspeakVoice {
    fn sample_rate(&self) -> u32 {
        EspeakVoice::native_rate().unwrap_or(22_050)
    }

    fn voice_id(&self) -> &str {
        &self.voice
    }

    fn synthesize(&mut self, sentence: &str) -> Result<Vec<f32>, EngineError> {
        let wpm = self.words_per_minute;
        with_espeak(&self.voice, |_| {
            let text = CString::new(sentence).map_err(|_| EngineError::input("espeak", "text contains NUL"))?;
            SYNTH_OUT.lock().map_err(|_| EngineError::runtime("espeak", "lock poisoned"))?.clear();
            // SAFETY: under LOCK; `text` outlives the synchronous call; the callback only copies samples.
            let rc = unsafe {
                espeak_SetParameter(PARAM_RATE, wpm, 0);
                espeak_Synth(
                    text.as_ptr().cast(),
                    sentence.len() + 1,
                    0,
                    POS_CHARACTER,
                    0,
                    CHARS_UTF8 as c_uint | ENDPAUSE,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
            if rc != 0 {
                return Err(EngineError::runtime("espeak", format!("espeak_Synth returned {rc}")));
            }
            let out =
                std::mem::take(&mut *SYNTH_OUT.lock().map_err(|_| EngineError::runtime("espeak", "lock poisoned"))?);
            Ok(out.into_iter().map(|s| s as f32 / 32768.0).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_keep_their_punctuation() {
        assert_eq!(clauses("Hello, world. Ok"), vec![("Hello", Some(',')), ("world", Some('.')), ("Ok", None)]);
    }

    #[test]
    fn phonemes_and_fallback_voice_work() {
        let ipa = phonemize_ipa("Hello world, this is a test.", "en-us").unwrap();
        assert!(ipa.contains("wˈɜːld,"), "{ipa}");
        assert!(ipa.ends_with('.'), "{ipa}");
        let mut v = EspeakVoice::new("en-us", 175);
        let audio = v.synthesize("Your order is confirmed.").unwrap();
        assert!(audio.len() > v.sample_rate() as usize / 2);
        assert!(audio.iter().map(|x| x.abs()).fold(0.0, f32::max) > 0.05);
        assert!(matches!(EspeakVoice::new("no-such-voice", 175).synthesize("x"), Err(EngineError::Input { .. })));
    }
}
