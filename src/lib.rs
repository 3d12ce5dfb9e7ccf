//! voxline: a voice-agent media server for e-commerce outbound calls.
//!
//! Data flows carrier -> `media` (frames, codecs, jitter buffer) -> `call` (the sans-IO
//! call core running the `pipeline` stages) -> `dialogue`, with the speech `engines`
//! answering the core's requests. `models` fetches and checks the model files; `sim`
//! drives the core on a virtual clock for replay and simulated calls. `campaign` decides
//! who is called, when and for which flow, from the CRM data in `storage`.

pub mod call;
pub mod campaign;
pub mod dialogue;
pub mod engines;
pub mod eval;
pub mod io;
pub mod media;
pub mod models;
pub mod paths;
pub mod pipeline;
pub mod server;
pub mod sim;
pub mod storage;
pub mod words;
