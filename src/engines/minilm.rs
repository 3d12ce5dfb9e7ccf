//! all-MiniLM-L6-v2 (int8 ONNX) sentence embeddings: no padding, mean pooling over
//! the attention mask, L2 normalisation.

use ort::session::Session;
use ort::value::Tensor;
use tokenizers::Tokenizer;

use super::onnx::load_session;
use super::{Embedder, EngineError};
use crate::models::{ModelDir, ModelError};

pub struct MiniLm {
    session: Session,
    tokenizer: Tokenizer,
    wants_token_types: bool,
}

impl MiniLm {
    pub fn load(dir: &ModelDir) -> Result<Self, EngineError> {
        let session = load_session(dir, "minilm")?;
        let path = dir.require("minilm-tokenizer")?;
        let mut tokenizer =
            Tokenizer::from_file(&path).map_err(|e| ModelError::Load { path: path.clone(), reason: e.to_string() })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams { max_length: 128, ..Default::default() }))
            .map_err(|e| ModelError::Load { path, reason: e.to_string() })?;
        let wants_token_types = session.inputs().iter().any(|i| i.name() == "token_type_ids");
        Ok(MiniLm { session, tokenizer, wants_token_types })
    }
}

impl Embedder for MiniLm {
    /// The uncased WordPiece vocabulary holds about 20,000 whole English words.
    fn knows_word(&self, word: &str) -> bool {
        self.tokenizer.token_to_id(word).is_some()
    }

    fn embed(&mut self, text: &str) -> Result<Vec<f32>, EngineError> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| EngineError::input("minilm", e))?;
        let n = enc.len();
        let as_i64 = |v: &[u32]| v.iter().map(|&x| x as i64).collect::<Vec<i64>>();
        let mask = as_i64(enc.get_attention_mask());
        let fail = |e: ort::Error| EngineError::runtime("minilm", e);
        let mut inputs = vec![
            ("input_ids", Tensor::from_array(([1usize, n], as_i64(enc.get_ids()))).map_err(fail)?),
            ("attention_mask", Tensor::from_array(([1usize, n], mask.clone())).map_err(fail)?),
        ];
        if self.wants_token_types {
            inputs
                .push(("token_type_ids", Tensor::from_array(([1usize, n], as_i64(enc.get_type_ids()))).map_err(fail)?));
        }
        let outputs = self.session.run(inputs).map_err(fail)?;
        let (shape, hidden) = outputs[0].try_extract_tensor::<f32>().map_err(fail)?;
        let dim = *shape.last().unwrap_or(&0) as usize;
        if dim == 0 || hidden.len() != n * dim {
            return Err(EngineError::runtime("minilm", format!("unexpected output shape {shape:?}")));
        }
        let mut pooled = vec![0f32; dim];
        // Mean over unmasked tokens; the division by their count cancels in the normalisation.
        for (row, &m) in hidden.chunks_exact(dim).zip(&mask) {
            if m != 0 {
                pooled.iter_mut().zip(row).for_each(|(p, h)| *p += h);
            }
        }
        let norm = pooled.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        pooled.iter_mut().for_each(|p| *p /= norm);
        Ok(pooled)
    }
}

/// Cosine similarity of two L2-normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
