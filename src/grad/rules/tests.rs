//! Tests of the backward rules: each rule's gradient, run by tract through a VJP graph, is
//! compared with central finite differences of the forward graph (computed in f64 from f32
//! forward passes) or with a closed form.

use ndarray::{Array2, Array4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::grad::vjp_graph;
use crate::onnx::{Attr, GraphBuilder, OnnxModel, TractPlan, VjpPlan};

/// A model with image input `x` `[batch, c, h, w]`: `body` adds nodes reading `x` and
/// returns the name of a rank-2 `[batch, classes]` tensor, the model's logits.
pub(super) fn model(
    chw: [usize; 3],
    classes: usize,
    body: impl FnOnce(&mut GraphBuilder) -> String,
) -> OnnxModel {
    let mut b = GraphBuilder::new("rule-test");
    b.input("x", &[None, Some(chw[0]), Some(chw[1]), Some(chw[2])]);
    let logits = body(&mut b);
    b.output(&logits, &[None, Some(classes)]);
    b.finish("rule-test.onnx".into()).expect("valid test model")
}

/// Seeded uniform values in `[lo, hi)`.
pub(super) fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(lo..hi)).collect()
}

/// Input gradient of `sum(seed * logits)` from the VJP graph, and from central differences
/// with step `h`; also returns the largest magnitude of the analytic gradient.
pub(super) fn gradients(
    model: &OnnxModel,
    batch: usize,
    h: f32,
    seed: u64,
) -> (Array4<f32>, Array4<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let plan = TractPlan::new(model).expect("forward plan");
    let [c, hh, w] = plan.input().chw();
    let classes = plan.classes();
    let x = Array4::from_shape_vec(
        (batch, c, hh, w),
        uniform(&mut rng, batch * c * hh * w, -0.5, 0.5),
    )
    .expect("shape");
    let s = Array2::from_shape_vec(
        (batch, classes),
        uniform(&mut rng, batch * classes, -1.0, 1.0),
    )
    .expect("shape");
    let vjp = vjp_graph(model).expect("vjp graph");
    let vjp_plan = VjpPlan::new(&vjp, plan.input(), classes).expect("vjp plan");
    let (logits, analytic) = vjp_plan.run(x.view(), s.view()).expect("vjp run");
    let direct = plan.logits(x.view()).expect("forward");
    for (a, b) in logits.iter().zip(direct.iter()) {
        assert!(
            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "vjp logits {a} differ from forward {b}"
        );
    }
    let numeric = finite_differences(&plan, &x, &s, h);
    (analytic, numeric)
}

fn finite_differences(plan: &TractPlan, x: &Array4<f32>, s: &Array2<f32>, h: f32) -> Array4<f32> {
    let n = x.shape()[0];
    let per_sample: usize = x.shape()[1..].iter().product();
    let mut numeric = Array4::zeros(x.raw_dim());
    for j in 0..per_sample {
        let mut plus = x.clone();
        let mut minus = x.clone();
        for i in 0..n {
            let mut p = plus.index_axis_mut(ndarray::Axis(0), i);
            let slot = p.iter_mut().nth(j).expect("in range");
            *slot += h;
            let mut m = minus.index_axis_mut(ndarray::Axis(0), i);
            let slot = m.iter_mut().nth(j).expect("in range");
            *slot -= h;
        }
        let lp = plan.logits(plus.view()).expect("forward +h");
        let lm = plan.logits(minus.view()).expect("forward -h");
        for i in 0..n {
            let dot = |l: &Array2<f32>| -> f64 {
                l.row(i)
                    .iter()
                    .zip(s.row(i))
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum()
            };
            let d = (dot(&lp) - dot(&lm)) / (2.0 * h as f64);
            let mut row = numeric.index_axis_mut(ndarray::Axis(0), i);
            *row.iter_mut().nth(j).expect("in range") = d as f32;
        }
    }
    numeric
}

/// Asserts `analytic ≈ numeric` within `rtol` of the largest gradient magnitude, and that
/// the gradient is not trivially zero (so the check can fail).
pub(super) fn assert_close(analytic: &Array4<f32>, numeric: &Array4<f32>, rtol: f32) {
    let scale = numeric.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        scale > 1e-3,
        "the numeric gradient is ~0: the test checks nothing"
    );
    for (idx, (a, n)) in analytic.indexed_iter().map(|(i, a)| (i, (a, numeric[i]))) {
        assert!(
            (a - n).abs() <= rtol * scale,
            "gradient at {idx:?}: analytic {a} vs numeric {n} (scale {scale})"
        );
    }
}

/// `Flatten` then `Gemm` to `classes` logits with seeded weights: makes any image-shaped
/// tensor `name` of `features` values per sample a rank-2 output.
pub(super) fn dense_head(
    b: &mut GraphBuilder,
    name: &str,
    features: usize,
    classes: usize,
    seed: u64,
) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    b.initializer(
        "head.w",
        &[classes, features],
        &uniform(&mut rng, classes * features, -1.0, 1.0),
    );
    b.initializer("head.b", &[classes], &uniform(&mut rng, classes, -1.0, 1.0));
    b.node(
        "Flatten",
        &[name],
        &["head.flat"],
        &[("axis", Attr::Int(1))],
    );
    b.node(
        "Gemm",
        &["head.flat", "head.w", "head.b"],
        &["head.logits"],
        &[("transB", Attr::Int(1))],
    );
    "head.logits".into()
}

fn unary(op: &str, attrs: &[(&str, Attr)]) -> OnnxModel {
    model([2, 3, 3], 4, |b| {
        b.node(op, &["x"], &["y"], attrs);
        dense_head(b, "y", 18, 4, 7)
    })
}

#[test]
fn relu_passes_gradient_where_positive_only() {
    let (a, n) = gradients(&unary("Relu", &[]), 3, 1e-3, 1);
    assert_close(&a, &n, 1e-3);
}

#[test]
fn leaky_relu_scales_gradient_by_alpha_where_negative() {
    let (a, n) = gradients(
        &unary("LeakyRelu", &[("alpha", Attr::Float(0.2))]),
        3,
        1e-3,
        2,
    );
    assert_close(&a, &n, 1e-3);
}

#[test]
fn sigmoid_and_tanh_match_finite_differences() {
    for op in ["Sigmoid", "Tanh"] {
        let (a, n) = gradients(&unary(op, &[]), 3, 1e-2, 3);
        assert_close(&a, &n, 2e-3);
    }
}

#[test]
fn identity_flatten_and_reshape_route_gradients_unchanged() {
    let m = model([2, 3, 3], 4, |b| {
        b.node("Identity", &["x"], &["i"], &[]);
        b.constant(
            "shape",
            &crate::onnx::ConstTensor::i64(&[4], vec![0, 3, 2, 3]),
        );
        b.node("Reshape", &["i", "shape"], &["r"], &[]);
        dense_head(b, "r", 18, 4, 8)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 4);
    assert_close(&a, &n, 1e-3);
}

#[test]
fn transpose_gradient_uses_the_inverse_permutation() {
    let m = model([2, 3, 4], 5, |b| {
        b.node(
            "Transpose",
            &["x"],
            &["t"],
            &[("perm", Attr::Ints(vec![0, 3, 1, 2]))],
        );
        dense_head(b, "t", 24, 5, 9)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 5);
    assert_close(&a, &n, 1e-3);
}

#[test]
fn concat_splits_the_gradient_and_a_reused_tensor_accumulates() {
    // x is used twice (Concat of x with Relu(x)): its gradient is the sum of both paths.
    let m = model([2, 2, 2], 3, |b| {
        b.node("Relu", &["x"], &["r"], &[]);
        b.node("Concat", &["x", "r"], &["c"], &[("axis", Attr::Int(1))]);
        dense_head(b, "c", 16, 3, 10)
    });
    let (a, n) = gradients(&m, 2, 1e-3, 6);
    assert_close(&a, &n, 1e-3);
}
