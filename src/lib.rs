//! voxline: a voice-agent media server for e-commerce outbound calls.
//!
//! See `../shared/docs/ARCHITECTURE.md` for the data flow. This crate currently holds
//! the model store (`models`), the speech engines (`engines`) and the audio
//! helpers they need (`media`).

pub mod engines;
pub mod eval;
pub mod media;
pub mod models;
