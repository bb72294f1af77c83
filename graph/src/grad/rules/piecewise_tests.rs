//! Tests of the piecewise-linear rules (Clip, HardSigmoid, HardSwish, Abs): inputs are kept
//! away from the kinks by construction, and each comparison is shown to reject a wrong
//! gradient.

use super::tests::{assert_close_discriminating, dense_head, gradients_away_from, model, model_at};
use crate::onnx::{Attr, ConstTensor, GraphBuilder};

/// `x` clipped by the node `clip` builds, then the dense head.
fn clipped(opset: i64, clip: impl FnOnce(&mut GraphBuilder)) -> crate::onnx::OnnxModel {
    model_at(opset, [2, 3, 3], 4, |b| {
        b.constant("lo", &ConstTensor::f32(&[], vec![-0.2]));
        b.constant("hi", &ConstTensor::f32(&[], vec![0.3]));
        clip(b);
        dense_head(b, "y", 18, 4, 40)
    })
}

#[test]
fn clip_with_both_bounds_as_inputs() {
    for opset in [13, 21] {
        let m = clipped(opset, |b| b.node("Clip", &["x", "lo", "hi"], &["y"], &[]));
        let (a, n) = gradients_away_from(&m, 3, 1e-3, 41, &[-0.2, 0.3]);
        assert_close_discriminating(&a, &n, 1e-3);
    }
}

#[test]
fn clip_with_one_bound_absent() {
    let only_max = clipped(13, |b| b.node("Clip", &["x", "", "hi"], &["y"], &[]));
    let (a, n) = gradients_away_from(&only_max, 3, 1e-3, 42, &[0.3]);
    assert_close_discriminating(&a, &n, 1e-3);
    let only_min = clipped(13, |b| b.node("Clip", &["x", "lo"], &["y"], &[]));
    let (a, n) = gradients_away_from(&only_min, 3, 1e-3, 43, &[-0.2]);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn clip_with_attribute_bounds_before_opset_11() {
    let m = clipped(10, |b| {
        b.node(
            "Clip",
            &["x"],
            &["y"],
            &[("min", Attr::Float(-0.2)), ("max", Attr::Float(0.3))],
        )
    });
    let (a, n) = gradients_away_from(&m, 3, 1e-3, 44, &[-0.2, 0.3]);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn clip_gradient_is_zero_outside_the_bounds() {
    // Bounds that every input exceeds: the gradient must vanish, not pass through.
    let m = model([2, 3, 3], 4, |b| {
        b.constant("lo", &ConstTensor::f32(&[], vec![0.6]));
        b.node("Clip", &["x", "lo"], &["y"], &[]);
        dense_head(b, "y", 18, 4, 45)
    });
    let (a, _) = gradients_away_from(&m, 2, 1e-3, 46, &[]);
    assert!(a.iter().all(|&v| v == 0.0), "{a:?}");
}

#[test]
fn hard_sigmoid_with_kinks_inside_the_data() {
    // alpha x + beta leaves [0, 1] at x = -0.25 and x = 0.25.
    let m = model([2, 3, 3], 4, |b| {
        b.node(
            "HardSigmoid",
            &["x"],
            &["y"],
            &[("alpha", Attr::Float(2.0)), ("beta", Attr::Float(0.5))],
        );
        dense_head(b, "y", 18, 4, 47)
    });
    let (a, n) = gradients_away_from(&m, 3, 1e-3, 48, &[-0.25, 0.25]);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn hard_swish_on_all_three_pieces() {
    // 10 x spans [-5, 5]: the kinks at +-3 are x = +-0.3.
    let m = model([2, 3, 3], 4, |b| {
        b.constant("ten", &ConstTensor::f32(&[], vec![10.0]));
        b.node("Mul", &["x", "ten"], &["t"], &[]);
        b.node("HardSwish", &["t"], &["y"], &[]);
        dense_head(b, "y", 18, 4, 49)
    });
    let (a, n) = gradients_away_from(&m, 3, 1e-3, 50, &[-0.3, 0.3]);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn abs_away_from_zero() {
    let m = model([2, 3, 3], 4, |b| {
        b.node("Abs", &["x"], &["y"], &[]);
        dense_head(b, "y", 18, 4, 51)
    });
    let (a, n) = gradients_away_from(&m, 3, 1e-3, 52, &[0.0]);
    assert_close_discriminating(&a, &n, 1e-3);
}
