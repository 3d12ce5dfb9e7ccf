use crate::pipeline::{EchoConfig, VadConfig};

/// Turn-taking and barge-in settings for one call. Endpointing comes from the dialogue
/// state (see `Dialogue::endpoint`).
#[derive(Debug, Clone, Copy)]
pub struct CallConfig {
    /// Call audio rate (8000 for G.711, 16000 for wideband carriers).
    pub rate: u32,
    pub vad: VadConfig,
    pub echo: EchoConfig,
    /// Caller speech over the bot for this long pauses playout.
    pub barge_in_min_ms: u32,
    /// After a pause with no words recognised for this long, and no decode still running,
    /// the bot resumes.
    pub false_interruption_ms: u32,
    /// Silence after the bot's turn before the dialogue's no-input path.
    pub no_input_ms: u32,
    /// A partial hypothesis is requested every this much caller speech while the bot
    /// talks (its words decide a barge-in); while the bot listens, the decode at the
    /// caller's first pause gives the endpoint its hypothesis.
    pub partial_every_ms: u32,
    /// Caller audio kept from before a detected onset.
    pub preroll_ms: u32,
    /// After answer, wait this long for the callee's "hello?" before greeting (0: greet at once).
    pub wait_for_callee_ms: u32,
    /// A recognition result not back after this long is given up (the turn never hangs on an engine).
    pub asr_timeout_ms: u32,
    /// A bot turn whose next sentence has not come this long after the last one, with
    /// nothing left to play, is given up as failed.
    pub tts_timeout_ms: u32,
    /// An answering machine's greeting still not over this long after it was detected:
    /// hang up without leaving the message.
    pub voicemail_wait_ms: u32,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            rate: 8000,
            vad: VadConfig::default(),
            echo: EchoConfig::default(),
            barge_in_min_ms: 200,
            false_interruption_ms: 1500,
            no_input_ms: 7000,
            partial_every_ms: 1000,
            preroll_ms: 200,
            wait_for_callee_ms: 1200,
            asr_timeout_ms: 5000,
            tts_timeout_ms: 10_000,
            voicemail_wait_ms: 30_000,
        }
    }
}
