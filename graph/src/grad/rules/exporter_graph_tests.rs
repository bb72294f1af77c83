//! End-to-end tests on small graphs shaped like today's PyTorch exports: a MobileNet-style
//! Conv -> Clip(0, 6) -> GlobalAveragePool -> Flatten -> Gemm, and a tiny attention block
//! (LayerNormalization, q/k/v projections, heads by Reshape/Transpose, Softmax, Gelu through
//! Erf, the class token by Gather).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::tests::{
    assert_close_discriminating, dense_head, gradients_away_from, ints, model_at, uniform,
};
use crate::onnx::{Attr, ConstTensor};

#[test]
fn conv_relu6_global_pool_gemm() {
    let mut rng = ChaCha8Rng::seed_from_u64(200);
    let m = model_at(13, [2, 4, 4], 3, |b| {
        b.initializer("w", &[4, 2, 3, 3], &uniform(&mut rng, 72, -1.0, 1.0));
        b.node(
            "Conv",
            &["x", "w"],
            &["c"],
            &[("pads", ints(&[1, 1, 1, 1]))],
        );
        // Scaled so that some activations pass 6 and some fall below 0.
        b.constant("k", &ConstTensor::f32(&[], vec![8.0]));
        b.node("Mul", &["c", "k"], &["ck"], &[]);
        b.constant("lo", &ConstTensor::f32(&[], vec![0.0]));
        b.constant("hi", &ConstTensor::f32(&[], vec![6.0]));
        b.node("Clip", &["ck", "lo", "hi"], &["r"], &[]);
        b.node("GlobalAveragePool", &["r"], &["p"], &[]);
        dense_head(b, "p", 4, 3, 201)
    });
    // A smooth step much smaller than the distance of any activation to 0 or 6 for this
    // seed; a crossing would show as a mismatch.
    let (a, n) = gradients_away_from(&m, 2, 1e-4, 202, &[]);
    assert_close_discriminating(&a, &n, 2e-2);
}

#[test]
fn attention_block_with_layer_norm_softmax_and_erf_gelu() {
    // x [N, 1, 5, 8]: 5 tokens of width 8, 2 heads of width 4.
    let mut rng = ChaCha8Rng::seed_from_u64(210);
    let m = model_at(17, [1, 5, 8], 4, |b| {
        b.constant("tok", &ConstTensor::i64(&[3], vec![-1, 5, 8]));
        b.node("Reshape", &["x", "tok"], &["t"], &[]);
        b.initializer("ln.s", &[8], &uniform(&mut rng, 8, 0.5, 1.5));
        b.initializer("ln.b", &[8], &uniform(&mut rng, 8, -0.5, 0.5));
        b.node("LayerNormalization", &["t", "ln.s", "ln.b"], &["h"], &[]);
        let heads = ConstTensor::i64(&[4], vec![-1, 5, 2, 4]);
        b.constant("heads", &heads);
        for p in ["q", "k", "v"] {
            let w = format!("{p}.w");
            b.initializer(&w, &[8, 8], &uniform(&mut rng, 64, -0.5, 0.5));
            let (lin, split) = (format!("{p}.lin"), format!("{p}.split"));
            b.node("MatMul", &["h", &w], &[&lin], &[]);
            b.node("Reshape", &[&lin, "heads"], &[&split], &[]);
            let perm = if p == "k" { [0, 2, 3, 1] } else { [0, 2, 1, 3] };
            b.node("Transpose", &[&split], &[p], &[("perm", ints(&perm))]);
        }
        b.node("MatMul", &["q", "k"], &["s"], &[]);
        b.constant("scale", &ConstTensor::f32(&[], vec![0.5]));
        b.node("Mul", &["s", "scale"], &["ss"], &[]);
        b.node("Softmax", &["ss"], &["att"], &[("axis", Attr::Int(-1))]);
        b.node("MatMul", &["att", "v"], &["o"], &[]);
        b.node(
            "Transpose",
            &["o"],
            &["ot"],
            &[("perm", ints(&[0, 2, 1, 3]))],
        );
        b.constant("merge", &ConstTensor::i64(&[3], vec![-1, 5, 8]));
        b.node("Reshape", &["ot", "merge"], &["om"], &[]);
        // Gelu as the classic exporter writes it: x * (1 + erf(x / sqrt 2)) / 2.
        b.constant(
            "rt2",
            &ConstTensor::f32(&[], vec![std::f32::consts::SQRT_2]),
        );
        b.constant("one", &ConstTensor::f32(&[], vec![1.0]));
        b.constant("half", &ConstTensor::f32(&[], vec![0.5]));
        b.node("Div", &["om", "rt2"], &["g1"], &[]);
        b.node("Erf", &["g1"], &["g2"], &[]);
        b.node("Add", &["g2", "one"], &["g3"], &[]);
        b.node("Mul", &["om", "g3"], &["g4"], &[]);
        b.node("Mul", &["g4", "half"], &["g5"], &[]);
        // The class token: Gather(index 0) on the token axis.
        b.constant("cls", &ConstTensor::i64(&[], vec![0]));
        b.node("Gather", &["g5", "cls"], &["c"], &[("axis", Attr::Int(1))]);
        b.node("Add", &["c", "c"], &["y"], &[]);
        dense_head(b, "y", 8, 4, 211)
    });
    let (a, n) = gradients_away_from(&m, 3, 1e-3, 212, &[]);
    assert_close_discriminating(&a, &n, 2e-3);
}
