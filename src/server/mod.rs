//! The server's process-level parts: configuration now; the call registry, admission
//! and shutdown as `voxline serve` grows.

pub mod agents;
pub mod config;
pub mod handoff;

pub use config::{Config, ConfigError, StorageUrl};
