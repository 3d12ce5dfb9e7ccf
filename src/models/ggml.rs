//! Whisper CTranslate2 -> whisper.cpp ggml converter.
//!
//! CTranslate2 fuses the self-attention q,k,v projections into `linear_0` and the
//! cross-attention k,v into `linear_1`; ggml wants them apart and has no key bias
//! (CT2 stores it as zeros). Tensors are written in the layout of whisper.cpp's
//! `convert-pt-to-ggml.py`: 2-D weights f16 (or q8_0), biases, norms and
//! positional embeddings f32, conv biases as (n, 1), dims innermost first.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use half::f16;

use super::ct2::{format_error, Ct2Dtype, Ct2Model};
use super::npy::read_npz_f32;
use super::ModelError;

pub const GGML_MAGIC: u32 = 0x6767_6d6c;
const GGML_TYPE_F32: i32 = 0;
const GGML_TYPE_F16: i32 = 1;
const GGML_TYPE_Q8_0: i32 = 8;
/// whisper.cpp stores `ftype + GGML_QNT_VERSION * 1000` for quantised files.
const QNT_VERSION_FACTOR: i32 = 1000;
const QNT_VERSION: i32 = 2;
const Q8_BLOCK: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    F16,
    Q8_0,
}

/// The eleven int32 hyper-parameters at the top of a whisper ggml file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlHeader {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

impl GgmlHeader {
    fn fields(&self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    /// Reads the magic and header of a ggml whisper file.
    pub fn read(bytes: &[u8]) -> Option<Self> {
        let int = |i: usize| bytes.get(4 * i..4 * i + 4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if int(0)? as u32 != GGML_MAGIC {
            return None;
        }
        Some(GgmlHeader {
            n_vocab: int(1)?,
            n_audio_ctx: int(2)?,
            n_audio_state: int(3)?,
            n_audio_head: int(4)?,
            n_audio_layer: int(5)?,
            n_text_ctx: int(6)?,
            n_text_state: int(7)?,
            n_text_head: int(8)?,
            n_text_layer: int(9)?,
            n_mels: int(10)?,
            ftype: int(11)?,
        })
    }
}

/// One tensor record of a ggml file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgmlTensor {
    pub name: String,
    /// 0 f32, 1 f16, 8 q8_0.
    pub ttype: i32,
    /// Innermost first, as stored.
    pub dims: Vec<usize>,
    pub data_offset: usize,
    pub data_len: usize,
}

/// Walks a whole whisper ggml file and checks that every block is in bounds and that
/// tensor records end exactly at EOF. whisper.cpp aborts the process (C++ exception)
/// on some malformed files, so files are checked here before it sees them.
pub fn inspect_whisper_file(bytes: &[u8]) -> Result<(GgmlHeader, Vec<GgmlTensor>), String> {
    let header = GgmlHeader::read(bytes).ok_or("not a ggml whisper file (bad magic or short header)")?;
    let sane = [
        header.n_vocab,
        header.n_audio_ctx,
        header.n_audio_state,
        header.n_audio_head,
        header.n_audio_layer,
        header.n_text_ctx,
        header.n_text_state,
        header.n_text_head,
        header.n_text_layer,
        header.n_mels,
    ];
    if sane.iter().any(|&v| !(1..=1_000_000).contains(&v)) {
        return Err(format!("implausible hyper-parameters {header:?}"));
    }
    let mut p = 4 + 11 * 4;
    let int = |p: &mut usize| -> Result<i32, String> {
        let b = bytes.get(*p..*p + 4).ok_or("truncated")?;
        *p += 4;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let count = |v: i32, what: &str| usize::try_from(v).ok().filter(|&n| n <= 1 << 28).ok_or(format!("bad {what} {v}"));
    let (n_mel, n_fft) = (count(int(&mut p)?, "mel count")?, count(int(&mut p)?, "fft size")?);
    p = p.checked_add(n_mel * n_fft * 4).filter(|&e| e <= bytes.len()).ok_or("truncated mel filters")?;
    let n_tokens = count(int(&mut p)?, "token count")?;
    for _ in 0..n_tokens {
        let len = count(int(&mut p)?, "token length")?;
        p = p.checked_add(len).filter(|&e| e <= bytes.len()).ok_or("truncated vocabulary")?;
    }
    let mut tensors = Vec::new();
    while p < bytes.len() {
        let n_dims = count(int(&mut p)?, "rank")?;
        let name_len = count(int(&mut p)?, "name length")?;
        let ttype = int(&mut p)?;
        if n_dims == 0 || n_dims > 4 || name_len > 256 {
            return Err(format!("bad tensor record at byte {p}"));
        }
        let dims =
            (0..n_dims).map(|_| int(&mut p).and_then(|d| count(d, "dimension"))).collect::<Result<Vec<_>, _>>()?;
        let name = bytes.get(p..p + name_len).ok_or("truncated tensor name")?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| "tensor name is not UTF-8")?;
        p += name_len;
        let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("tensor too large")?;
        let data_len = match ttype {
            GGML_TYPE_F32 => n * 4,
            GGML_TYPE_F16 => n * 2,
            GGML_TYPE_Q8_0 if dims[0] % Q8_BLOCK == 0 => n / Q8_BLOCK * (2 + Q8_BLOCK),
            other => return Err(format!("{name}: unsupported tensor type {other}")),
        };
        let data_offset = p;
        p = p.checked_add(data_len).filter(|&e| e <= bytes.len()).ok_or(format!("{name}: truncated data"))?;
        tensors.push(GgmlTensor { name, ttype, dims, data_offset, data_len });
    }
    Ok((header, tensors))
}

/// Everything the converter reads: CT2 weights, mel filters, and the byte-level vocabulary.
pub struct WhisperAssets {
    pub model: Ct2Model,
    pub mel_shape: Vec<usize>,
    pub mel: Vec<f32>,
    pub tokens: Vec<Vec<u8>>,
}

impl WhisperAssets {
    pub fn load(ct2: &Path, mel_npz: &Path, tiktoken: &Path) -> Result<Self, ModelError> {
        let model = Ct2Model::open(ct2)?;
        if model.spec != "WhisperSpec" {
            return Err(format_error(ct2, "CTranslate2 model", format!("spec {:?} is not WhisperSpec", model.spec)));
        }
        let n_mels = model.var("encoder/conv1/weight").map(|v| v.dims.get(1).copied().unwrap_or(0)).unwrap_or(0);
        let (mel_shape, mel) = read_npz_f32(mel_npz, &format!("mel_{n_mels}.npy"))?;
        let text = std::fs::read_to_string(tiktoken).map_err(|e| ModelError::io(tiktoken, e))?;
        let tokens = parse_tiktoken(&text).map_err(|r| format_error(tiktoken, "tiktoken vocabulary", r))?;
        Ok(WhisperAssets { model, mel_shape, mel, tokens })
    }
}

/// `base64 rank` per line; returns token bytes ordered by rank (ranks must be 0..n).
pub(crate) fn parse_tiktoken(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut ranked = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let (b64, rank) = line.split_once(' ').ok_or_else(|| format!("line {}: expected `token rank`", i + 1))?;
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| format!("line {}: {e}", i + 1))?;
        let rank: usize = rank.trim().parse().map_err(|_| format!("line {}: bad rank", i + 1))?;
        ranked.push((rank, bytes));
    }
    ranked.sort_by_key(|(r, _)| *r);
    if ranked.iter().enumerate().any(|(i, (r, _))| i != *r) {
        return Err("ranks are not 0..n".into());
    }
    Ok(ranked.into_iter().map(|(_, b)| b).collect())
}

/// How one ggml tensor is cut from a CT2 variable.
struct Plan {
    name: String,
    source: String,
    /// Row range of a fused projection (rows of the weight, elements of the bias).
    rows: Option<(usize, usize)>,
}

fn plan(n_audio_layer: usize, n_text_layer: usize, state: usize) -> Vec<Plan> {
    let p = |name: String, source: String| Plan { name, source, rows: None };
    let cut = |name: String, source: String, part: usize| Plan {
        name,
        source,
        rows: Some((part * state, (part + 1) * state)),
    };
    let ln = |out: &mut Vec<Plan>, ggml: &str, ct2: &str| {
        out.push(p(format!("{ggml}.weight"), format!("{ct2}/gamma")));
        out.push(p(format!("{ggml}.bias"), format!("{ct2}/beta")));
    };
    let linear = |out: &mut Vec<Plan>, ggml: &str, ct2: &str| {
        out.push(p(format!("{ggml}.weight"), format!("{ct2}/weight")));
        out.push(p(format!("{ggml}.bias"), format!("{ct2}/bias")));
    };
    // q, k (no bias), v cut from fused rows of `ct2`, starting at part `first`.
    let qkv = |out: &mut Vec<Plan>, g: &str, ct2: &str, parts: &[(&str, usize)]| {
        for &(which, part) in parts {
            out.push(cut(format!("{g}.{which}.weight"), format!("{ct2}/weight"), part));
            if which != "key" {
                out.push(cut(format!("{g}.{which}.bias"), format!("{ct2}/bias"), part));
            }
        }
    };
    let mut out = vec![
        p("encoder.positional_embedding".into(), "encoder/position_encodings/encodings".into()),
        p("encoder.conv1.weight".into(), "encoder/conv1/weight".into()),
        p("encoder.conv1.bias".into(), "encoder/conv1/bias".into()),
        p("encoder.conv2.weight".into(), "encoder/conv2/weight".into()),
        p("encoder.conv2.bias".into(), "encoder/conv2/bias".into()),
    ];
    for i in 0..n_audio_layer {
        let (g, c) = (format!("encoder.blocks.{i}"), format!("encoder/layer_{i}"));
        qkv(
            &mut out,
            &format!("{g}.attn"),
            &format!("{c}/self_attention/linear_0"),
            &[("query", 0), ("key", 1), ("value", 2)],
        );
        linear(&mut out, &format!("{g}.attn.out"), &format!("{c}/self_attention/linear_1"));
        ln(&mut out, &format!("{g}.attn_ln"), &format!("{c}/self_attention/layer_norm"));
        linear(&mut out, &format!("{g}.mlp.0"), &format!("{c}/ffn/linear_0"));
        linear(&mut out, &format!("{g}.mlp.2"), &format!("{c}/ffn/linear_1"));
        ln(&mut out, &format!("{g}.mlp_ln"), &format!("{c}/ffn/layer_norm"));
    }
    ln(&mut out, "encoder.ln_post", "encoder/layer_norm");
    out.push(p("decoder.positional_embedding".into(), "decoder/position_encodings/encodings".into()));
    out.push(p("decoder.token_embedding.weight".into(), "decoder/embeddings/weight".into()));
    for i in 0..n_text_layer {
        let (g, c) = (format!("decoder.blocks.{i}"), format!("decoder/layer_{i}"));
        qkv(
            &mut out,
            &format!("{g}.attn"),
            &format!("{c}/self_attention/linear_0"),
            &[("query", 0), ("key", 1), ("value", 2)],
        );
        linear(&mut out, &format!("{g}.attn.out"), &format!("{c}/self_attention/linear_1"));
        ln(&mut out, &format!("{g}.attn_ln"), &format!("{c}/self_attention/layer_norm"));
        linear(&mut out, &format!("{g}.cross_attn.query"), &format!("{c}/attention/linear_0"));
        qkv(&mut out, &format!("{g}.cross_attn"), &format!("{c}/attention/linear_1"), &[("key", 0), ("value", 1)]);
        linear(&mut out, &format!("{g}.cross_attn.out"), &format!("{c}/attention/linear_2"));
        ln(&mut out, &format!("{g}.cross_attn_ln"), &format!("{c}/attention/layer_norm"));
        linear(&mut out, &format!("{g}.mlp.0"), &format!("{c}/ffn/linear_0"));
        linear(&mut out, &format!("{g}.mlp.2"), &format!("{c}/ffn/linear_1"));
        ln(&mut out, &format!("{g}.mlp_ln"), &format!("{c}/ffn/layer_norm"));
    }
    ln(&mut out, "decoder.ln", "decoder/layer_norm");
    out
}

fn count_layers(model: &Ct2Model, prefix: &str) -> usize {
    (0..).take_while(|i| model.vars.keys().any(|k| k.starts_with(&format!("{prefix}/layer_{i}/")))).count()
}

/// Writes a whisper.cpp ggml file. Returns the header it wrote.
pub fn convert_whisper(a: &WhisperAssets, quant: Quant, out: &mut impl Write) -> Result<GgmlHeader, ModelError> {
    let m = &a.model;
    let dims = |name: &str| {
        m.var(name).map(|v| v.dims.clone()).ok_or_else(|| ModelError::Convert(format!("missing variable {name}")))
    };
    let heads = |name: &str| m.scalar_int(name).ok_or_else(|| ModelError::Convert(format!("missing scalar {name}")));
    let enc_pos = dims("encoder/position_encodings/encodings")?;
    let dec_pos = dims("decoder/position_encodings/encodings")?;
    let emb = dims("decoder/embeddings/weight")?;
    let conv1 = dims("encoder/conv1/weight")?;
    if enc_pos.len() != 2 || dec_pos.len() != 2 || emb.len() != 2 || conv1.len() != 3 {
        return Err(ModelError::Convert("unexpected rank of embeddings or conv1".into()));
    }
    let state = enc_pos[1];
    let ftype = match quant {
        Quant::F16 => 1,
        Quant::Q8_0 => 7 + QNT_VERSION * QNT_VERSION_FACTOR,
    };
    let header = GgmlHeader {
        n_vocab: emb[0] as i32,
        n_audio_ctx: enc_pos[0] as i32,
        n_audio_state: state as i32,
        n_audio_head: heads("encoder/num_heads")? as i32,
        n_audio_layer: count_layers(m, "encoder") as i32,
        n_text_ctx: dec_pos[0] as i32,
        n_text_state: dec_pos[1] as i32,
        n_text_head: heads("decoder/num_heads")? as i32,
        n_text_layer: count_layers(m, "decoder") as i32,
        n_mels: conv1[1] as i32,
        ftype,
    };
    if dec_pos[1] != state {
        return Err(ModelError::Convert("encoder and decoder widths differ".into()));
    }
    if a.mel_shape.len() != 2 || a.mel_shape[0] != conv1[1] {
        return Err(ModelError::Convert(format!("mel filters {:?} do not match {} mels", a.mel_shape, conv1[1])));
    }
    let io = |e: std::io::Error| ModelError::Convert(format!("write failed: {e}"));
    let int = |out: &mut dyn Write, v: i32| out.write_all(&v.to_le_bytes());
    int(out, GGML_MAGIC as i32).map_err(io)?;
    for v in header.fields() {
        int(out, v).map_err(io)?;
    }
    int(out, a.mel_shape[0] as i32).map_err(io)?;
    int(out, a.mel_shape[1] as i32).map_err(io)?;
    for v in &a.mel {
        out.write_all(&v.to_le_bytes()).map_err(io)?;
    }
    int(out, a.tokens.len() as i32).map_err(io)?;
    for t in &a.tokens {
        int(out, t.len() as i32).map_err(io)?;
        out.write_all(t).map_err(io)?;
    }
    for plan in plan(header.n_audio_layer as usize, header.n_text_layer as usize, state) {
        write_tensor(m, &plan, quant, out)?;
    }
    Ok(header)
}

fn write_tensor(m: &Ct2Model, plan: &Plan, quant: Quant, out: &mut impl Write) -> Result<(), ModelError> {
    let var = m.var(&plan.source).ok_or_else(|| ModelError::Convert(format!("missing variable {}", plan.source)))?;
    let values = to_f32(m.data(var), var.dtype)
        .ok_or_else(|| ModelError::Convert(format!("{}: unsupported dtype {:?}", plan.source, var.dtype)))?;
    let mut shape = var.dims.clone();
    let values = match plan.rows {
        None => values,
        Some((r0, r1)) => {
            let row: usize = shape[1..].iter().product();
            if r1 > shape[0] {
                return Err(ModelError::Convert(format!(
                    "{}: cannot take rows {r0}..{r1} of {:?}",
                    plan.source, shape
                )));
            }
            shape[0] = r1 - r0;
            values[r0 * row..r1 * row].to_vec()
        }
    };
    let conv_bias = plan.name.starts_with("encoder.conv") && plan.name.ends_with(".bias");
    if conv_bias {
        shape.push(1);
    }
    let keep_f32 = shape.len() < 2 || conv_bias || plan.name.ends_with("positional_embedding");
    let ttype = match (keep_f32, quant, shape.len()) {
        (true, _, _) => GGML_TYPE_F32,
        (false, Quant::Q8_0, 2) if shape[1] % Q8_BLOCK == 0 => GGML_TYPE_Q8_0,
        _ => GGML_TYPE_F16,
    };
    let io = |e: std::io::Error| ModelError::Convert(format!("write failed: {e}"));
    out.write_all(&(shape.len() as i32).to_le_bytes()).map_err(io)?;
    out.write_all(&(plan.name.len() as i32).to_le_bytes()).map_err(io)?;
    out.write_all(&ttype.to_le_bytes()).map_err(io)?;
    for d in shape.iter().rev() {
        out.write_all(&(*d as i32).to_le_bytes()).map_err(io)?;
    }
    out.write_all(plan.name.as_bytes()).map_err(io)?;
    let data = match ttype {
        GGML_TYPE_F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
        GGML_TYPE_F16 => values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect(),
        _ => quantize_q8_0(&values),
    };
    out.write_all(&data).map_err(io)
}

fn to_f32(bytes: &[u8], dtype: Ct2Dtype) -> Option<Vec<f32>> {
    match dtype {
        Ct2Dtype::F16 => Some(bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()),
        Ct2Dtype::F32 => Some(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        _ => None,
    }
}

/// ggml `block_q8_0`: per 32 values an f16 scale `d = max|x| / 127` and 32 int8 `round(x / d)`.
pub(crate) fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / Q8_BLOCK * (2 + Q8_BLOCK));
    for block in values.chunks(Q8_BLOCK) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        out.extend(block.iter().map(|v| (v * inv).round() as i8 as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_round_trips_within_a_step() {
        let values: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) / 10.0).collect();
        let q = quantize_q8_0(&values);
        assert_eq!(q.len(), 2 * 34);
        for (b, block) in q.chunks(34).zip(values.chunks(32)) {
            let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            for (x, &v) in b[2..].iter().zip(block) {
                // Half a quantisation step, plus the f16 rounding of the scale.
                assert!(((*x as i8) as f32 * d - v).abs() <= d * 0.5 + v.abs() * 1e-3, "{v}");
            }
        }
    }

    #[test]
    fn tiktoken_ranks_must_be_dense() {
        assert_eq!(parse_tiktoken("IQ== 0\nIg== 1\n").unwrap(), vec![b"!".to_vec(), b"\"".to_vec()]);
        assert!(parse_tiktoken("IQ== 0\nIg== 2\n").is_err());
        assert!(parse_tiktoken("garbage").is_err());
    }

    #[test]
    fn plan_covers_every_whisper_tensor_once() {
        let names: Vec<String> = plan(4, 4, 384).into_iter().map(|p| p.name).collect();
        // 5 encoder globals + 2 ln_post; per encoder block 15; decoder 2 + 2 ln; per decoder block 15 + 9.
        assert_eq!(names.len(), 5 + 2 + 4 * 15 + 2 + 2 + 4 * 24);
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert!(!names.iter().any(|n| n.ends_with("key.bias")));
    }
}
