//! Campaign simulations: a seeded synthetic CRM (`generate`), the simulated carrier
//! (`carrier`), the run on a virtual clock through the real store and policy (`run`),
//! and a checker that reads the run's output against the CRM input (`check`).

pub mod carrier;
pub mod check;
pub mod generate;
pub mod run;

pub use check::{check, Violation};
pub use run::{simulate, AttemptLine, CampaignSimError, Options, OutboxLine};

/// Reads a JSON-lines output file back.
pub fn read_lines<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> std::io::Result<Vec<T>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
        .collect()
}
