//! Tests of Einsum: self-attention (`bhid,bhjd->bhij` then `bhij,bhjd->bhid`, every operand
//! a function of the input), a batched matmul with a weight, ellipses, an index summed away in one operand only, and the refusal of a diagonal.

use super::tests::{assert_close_discriminating, dense_head, gradients, model_at, uniform};
use crate::grad::vjp_graph;
use crate::onnx::{Attr, ConstTensor, GraphBuilder};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn einsum(b: &mut GraphBuilder, equation: &str, inputs: &[&str], output: &str) {
    let attrs = [("equation", Attr::Str(equation.into()))];
    b.node("Einsum", inputs, &[output], &attrs);
}

fn weight(b: &mut GraphBuilder, name: &str, dims: &[usize], seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = dims.iter().product();
    b.initializer(name, dims, &uniform(&mut rng, n, -1.0, 1.0));
}

#[test]
fn einsum_self_attention() {
    // x [N, h 2, i 3, d 4]: scores = q k^T with k = 0.7 x, softmax over j, then scores v.
    let m = model_at(13, [2, 3, 4], 4, |b| {
        b.constant("c", &ConstTensor::f32(&[], vec![0.7]));
        b.node("Mul", &["x", "c"], &["k"], &[]);
        einsum(b, "bhid,bhjd->bhij", &["x", "k"], "scores");
        b.node("Softmax", &["scores"], &["p"], &[("axis", Attr::Int(-1))]);
        einsum(b, "bhij,bhjd->bhid", &["p", "x"], "y");
        dense_head(b, "y", 24, 4, 190)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 191);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn einsum_batched_matmul_with_a_weight_and_ellipses() {
    // [N, 3, 8] x [8, 5] -> [N, 3, 5]; then [N, 1, 3, 8] x [1, 8, 2] by ellipses. (tract
    // 0.23.9 mis-shapes the implicit-output form `...ij,...jk`, which exporters do not emit.)
    let m = model_at(13, [1, 3, 8], 4, |b| {
        b.constant("one", &ConstTensor::i64(&[1], vec![1]));
        b.node("Squeeze", &["x", "one"], &["s"], &[]);
        weight(b, "w", &[8, 5], 192);
        einsum(b, "bij,jk->bik", &["s", "w"], "p");
        weight(b, "v", &[1, 8, 2], 193);
        einsum(b, "...ij,...jk->...ik", &["x", "v"], "q");
        b.node("Flatten", &["p"], &["pf"], &[]);
        b.node("Flatten", &["q"], &["qf"], &[]);
        b.node("Concat", &["pf", "qf"], &["y"], &[("axis", Attr::Int(1))]);
        dense_head(b, "y", 15 + 6, 4, 194)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 195);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn einsum_index_summed_in_one_operand_only() {
    // j is summed in x alone: its gradient is broadcast back along j. (tract 0.23.9 never
    // finishes planning `bcij,ck->bki`, which also contracts c, with or without the autodiff.)
    let m = model_at(13, [2, 3, 4], 4, |b| {
        weight(b, "w", &[2, 5], 196);
        einsum(b, "bcij,ck->bcki", &["x", "w"], "y");
        dense_head(b, "y", 30, 4, 197)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 198);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn einsum_diagonal_is_refused_naming_the_equation() {
    let m = model_at(13, [2, 3, 3], 4, |b| {
        einsum(b, "bcii->bci", &["x"], "y");
        dense_head(b, "y", 6, 4, 199)
    });
    let err = vjp_graph(&m).expect_err("a diagonal has no rule");
    assert!(err.to_string().contains("einsum 'bcii->bci'"), "{err}");
}
