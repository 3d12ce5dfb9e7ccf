//! Integration tests with the real models (run `voxline models fetch` first; the
//! README's test command does).

mod amd;
mod asr;
mod campaign;
mod cli;
mod common;
mod converter;
mod crm;
mod embeddings;
mod flows;
mod intents;
mod serve;
mod simulate;
mod sip;
mod tts;
mod vad;
