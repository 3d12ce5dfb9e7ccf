use std::path::Path;

use voxline::models::{convert_whisper, inspect_whisper_file, Ct2Model, GgmlHeader, ModelError, Quant, WhisperAssets};

use crate::common::models;

fn assets() -> WhisperAssets {
    let dir = models();
    WhisperAssets::load(
        &dir.require("whisper-tiny.en-ct2").unwrap(),
        &dir.require("whisper-mel-filters").unwrap(),
        &dir.require("whisper-gpt2-vocab").unwrap(),
    )
    .unwrap()
}

#[test]
fn ct2_model_parses_with_fused_attention() {
    let a = assets();
    assert_eq!(a.model.spec, "WhisperSpec");
    let qkv = a.model.var("encoder/layer_0/self_attention/linear_0/weight").unwrap();
    assert_eq!(qkv.dims, vec![1152, 384]);
    // The tied output projection is an alias of the token embedding.
    assert_eq!(a.model.var("decoder/projection/weight").unwrap().dims, vec![51864, 384]);
    assert_eq!(a.mel_shape, vec![80, 201]);
    assert_eq!(a.tokens.len(), 50256);
}

fn tensors(bytes: &[u8]) -> Vec<(String, i32, Vec<i32>, usize)> {
    let (_, tensors) = inspect_whisper_file(bytes).unwrap();
    tensors.into_iter().map(|t| (t.name, t.ttype, t.dims.iter().map(|&d| d as i32).collect(), t.data_len)).collect()
}

#[test]
fn converter_writes_the_whisper_cpp_layout() {
    let a = assets();
    let mut bytes = Vec::new();
    let header = convert_whisper(&a, Quant::F16, &mut bytes).unwrap();
    let expected = GgmlHeader {
        n_vocab: 51864,
        n_audio_ctx: 1500,
        n_audio_state: 384,
        n_audio_head: 6,
        n_audio_layer: 4,
        n_text_ctx: 448,
        n_text_state: 384,
        n_text_head: 6,
        n_text_layer: 4,
        n_mels: 80,
        ftype: 1,
    };
    assert_eq!(header, expected);
    assert_eq!(GgmlHeader::read(&bytes), Some(expected));
    let t = tensors(&bytes);
    assert_eq!(t.len(), 167);
    let find = |n: &str| t.iter().find(|x| x.0 == n).unwrap_or_else(|| panic!("{n}")).clone();
    assert_eq!(find("encoder.conv1.weight").2, vec![3, 80, 384]);
    assert_eq!(find("encoder.conv1.bias"), ("encoder.conv1.bias".into(), 0, vec![1, 384], 384 * 4));
    assert_eq!(find("encoder.positional_embedding").1, 0);
    assert_eq!(find("decoder.blocks.3.cross_attn.value.weight").2, vec![384, 384]);
    assert!(!t.iter().any(|x| x.0.ends_with("key.bias")));

    // The q, k and v split: the query weight equals the first third of the fused rows.
    let fused = a.model.var("encoder/layer_0/self_attention/linear_0/weight").unwrap();
    let fused_bytes = a.model.data(fused);
    let (_, records) = inspect_whisper_file(&bytes).unwrap();
    let q = records.iter().find(|t| t.name == "encoder.blocks.0.attn.query.weight").unwrap();
    assert_eq!(&bytes[q.data_offset..q.data_offset + q.data_len], &fused_bytes[..384 * 384 * 2]);
    // Truncated or garbage files are rejected before whisper.cpp sees them.
    assert!(inspect_whisper_file(&bytes[..bytes.len() - 1]).is_err());
    assert!(inspect_whisper_file(&bytes[..100]).is_err());
    assert!(inspect_whisper_file(b"lmggjunk").is_err());
}

#[test]
fn q8_0_variant_quantises_only_two_dimensional_weights() {
    let mut bytes = Vec::new();
    let header = convert_whisper(&assets(), Quant::Q8_0, &mut bytes).unwrap();
    assert_eq!(header.ftype, 2007);
    let t = tensors(&bytes);
    assert_eq!(t.len(), 167);
    for (name, ttype, dims, _) in &t {
        let expect = match (dims.len(), name.as_str()) {
            (3, _) => 1,
            (_, n) if n.ends_with("positional_embedding") || n.starts_with("encoder.conv") => 0,
            (2, _) => 8,
            _ => 0,
        };
        assert_eq!(*ttype, expect, "{name}");
    }
}

#[test]
fn malformed_ct2_is_an_error_not_a_panic() {
    let good = std::fs::read(models().require("whisper-tiny.en-ct2").unwrap()).unwrap();
    for cut in [0, 3, 10, 40, 1000, good.len() / 2] {
        let err = Ct2Model::parse(good[..cut].to_vec(), Path::new("cut.bin")).unwrap_err();
        assert!(matches!(err, ModelError::Format { .. } | ModelError::Io { .. }), "{cut}: {err}");
    }
    let mut bad_dtype = good[..200].to_vec();
    bad_dtype[0] = 99;
    assert!(Ct2Model::parse(bad_dtype, Path::new("v.bin")).unwrap_err().to_string().contains("version"));
}
