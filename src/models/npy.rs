//! Minimal `.npz` / `.npy` reader for little-endian float32 arrays (Whisper's mel filters).

use std::io::Read;
use std::path::Path;

use super::ct2::format_error;
use super::ModelError;

/// Reads `member` (e.g. `mel_80.npy`) from an `.npz` archive: (shape, values).
pub fn read_npz_f32(path: &Path, member: &str) -> Result<(Vec<usize>, Vec<f32>), ModelError> {
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| format_error(path, "npz", e.to_string()))?;
    let mut entry = zip.by_name(member).map_err(|_| format_error(path, "npz", format!("no member {member}")))?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).map_err(|e| ModelError::io(path, e))?;
    parse_npy_f32(&bytes).map_err(|reason| format_error(path, "npy", format!("{member}: {reason}")))
}

pub(crate) fn parse_npy_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("bad magic".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!("unsupported npy version {v}")),
    };
    let header = bytes.get(start..start + header_len).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    if !header.contains("'descr': '<f4'") {
        return Err(format!("only little-endian float32 is supported, header {header:?}"));
    }
    if header.contains("'fortran_order': True") {
        return Err("fortran order is not supported".into());
    }
    let shape_text = header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).ok_or("no shape")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape {shape_text:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let data = &bytes[start + header_len..];
    let n: usize = shape.iter().product();
    if data.len() != n * 4 {
        return Err(format!("{} data bytes for shape {shape:?}", data.len()));
    }
    let values = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok((shape, values))
}
