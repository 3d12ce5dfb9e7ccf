use voxline::engines::{cosine, Embedder, MiniLm};

use crate::common::models;

#[test]
fn embeddings_are_normalised_and_semantic() {
    let mut m = MiniLm::load(&models()).unwrap();
    let a = m.embed("yes please confirm my order").unwrap();
    let b = m.embed("sure, go ahead and confirm it").unwrap();
    let c = m.embed("I want to cancel the order").unwrap();
    let d = m.embed("what is the weather in Mumbai").unwrap();
    assert_eq!(a.len(), 384);
    assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-3);
    assert!(cosine(&a, &b) > cosine(&a, &d), "{} vs {}", cosine(&a, &b), cosine(&a, &d));
    assert!(cosine(&a, &c) > cosine(&a, &d));
    // Same text, same vector (no padding influence).
    assert!((cosine(&a, &m.embed("yes please confirm my order").unwrap()) - 1.0).abs() < 1e-4);
}
