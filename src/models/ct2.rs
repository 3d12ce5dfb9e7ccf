//! Reader for CTranslate2 `model.bin` (binary version 6): a header, named
//! variables with shape and dtype, then aliases.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Ct2Dtype {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Ct2Var {
    pub dims: Vec<usize>,
    pub dtype: Ct2Dtype,
    range: Range<usize>,
}

impl Ct2Var {
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug)]
pub struct Ct2Model {
    pub spec: String,
    pub revision: u32,
    pub vars: BTreeMap<String, Ct2Var>,
    pub aliases: BTreeMap<String, String>,
    bytes: Vec<u8>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl Cursor<'_> {
    fn err(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Format {
            path: self.path.into(),
            format: "CTranslate2 model",
            reason: format!("{} at byte {}", reason.into(), self.pos),
        }
    }
    fn take(&mut self, n: usize) -> Result<&[u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| self.err("truncated"))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, ModelError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ModelError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, ModelError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// u16 length (including the NUL) then the bytes and a NUL.
    fn string(&mut self) -> Result<String, ModelError> {
        let n = self.u16()? as usize;
        let raw = self.take(n)?.to_vec();
        let Some(text) = raw.strip_suffix(&[0]) else {
            return Err(self.err("string without NUL terminator"));
        };
        String::from_utf8(text.to_vec()).map_err(|_| self.err("string is not UTF-8"))
    }
}

impl Ct2Model {
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::parse(bytes, path)
    }

    pub fn parse(bytes: Vec<u8>, path: &Path) -> Result<Self, ModelError> {
        let mut c = Cursor { bytes: &bytes, pos: 0, path };
        let version = c.u32()?;
        if !(5..=6).contains(&version) {
            return Err(c.err(format!("unsupported binary version {version}")));
        }
        let spec = c.string()?;
        let revision = c.u32()?;
        let count = c.u32()? as usize;
        let mut vars = BTreeMap::new();
        for _ in 0..count {
            let name = c.string()?;
            let rank = c.u8()? as usize;
            let dims = (0..rank).map(|_| c.u32().map(|d| d as usize)).collect::<Result<Vec<_>, _>>()?;
            let id = c.u8()?;
            let dtype = Ct2Dtype::from_id(id).ok_or_else(|| c.err(format!("{name}: unknown dtype {id}")))?;
            let nbytes = c.u32()? as usize;
            let elems =
                dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| c.err("shape overflows"))?;
            if elems.checked_mul(dtype.size()) != Some(nbytes) {
                return Err(c.err(format!("{name}: {nbytes} bytes do not match shape {dims:?} of {dtype:?}")));
            }
            let start = c.pos;
            c.take(nbytes)?;
            vars.insert(name, Ct2Var { dims, dtype, range: start..start + nbytes });
        }
        let mut aliases = BTreeMap::new();
        if c.pos < bytes.len() {
            let n = c.u32()?;
            for _ in 0..n {
                let alias = c.string()?;
                let target = c.string()?;
                aliases.insert(alias, target);
            }
        }
        Ok(Ct2Model { spec, revision, vars, aliases, bytes })
    }

    pub fn var(&self, name: &str) -> Option<&Ct2Var> {
        let name = self.aliases.get(name).map(String::as_str).unwrap_or(name);
        self.vars.get(name)
    }

    pub fn data(&self, var: &Ct2Var) -> &[u8] {
        &self.bytes[var.range.clone()]
    }

    /// Integer scalar (num_heads and friends).
    pub fn scalar_int(&self, name: &str) -> Option<i64> {
        let v = self.var(name)?;
        let d = self.data(v);
        Some(match v.dtype {
            Ct2Dtype::I8 => d[0] as i8 as i64,
            Ct2Dtype::I16 => i16::from_le_bytes([d[0], d[1]]) as i64,
            Ct2Dtype::I32 => i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64,
            _ => return None,
        })
    }
}

/// Path helper so callers can name the file in errors.
pub(crate) fn format_error(path: &Path, format: &'static str, reason: impl Into<String>) -> ModelError {
    ModelError::Format { path: PathBuf::from(path), format, reason: reason.into() }
}
