//! Tests of the reduction rules with the axes as attribute or input, kept or dropped
//! dimensions, and `noop_with_empty_axes`.

use super::tests::{assert_close_discriminating, dense_head, gradients, ints, model_at};
use crate::onnx::{Attr, ConstTensor, OnnxModel};

/// `op` over `x` `[N, 2, 3, 3]` then the dense head over its `features` values. `axes` go
/// in as an input when `as_input`, else as an attribute.
fn reduced(
    opset: i64,
    op: &str,
    axes: Option<&[i64]>,
    as_input: bool,
    keepdims: i64,
    features: usize,
    extra: &[(&str, Attr)],
) -> OnnxModel {
    model_at(opset, [2, 3, 3], 4, |b| {
        let mut attrs = vec![("keepdims", Attr::Int(keepdims))];
        attrs.extend_from_slice(extra);
        match (axes, as_input) {
            (Some(axes), true) => {
                b.constant("axes", &ConstTensor::i64(&[axes.len()], axes.to_vec()));
                b.node(op, &["x", "axes"], &["r"], &attrs);
            }
            (Some(axes), false) => {
                attrs.push(("axes", ints(axes)));
                b.node(op, &["x"], &["r"], &attrs);
            }
            (None, _) => b.node(op, &["x"], &["r"], &attrs),
        }
        // Mixes each reduced value with x so that every element keeps a gradient.
        b.node("Flatten", &["r"], &["rf"], &[]);
        b.node("Flatten", &["x"], &["xf"], &[]);
        b.node("Concat", &["rf", "xf"], &["y"], &[("axis", Attr::Int(1))]);
        dense_head(b, "y", features + 18, 4, 80)
    })
}

#[test]
fn reduce_mean_axes_attribute_kept_and_dropped() {
    for (i, keep) in [0, 1].into_iter().enumerate() {
        let m = reduced(17, "ReduceMean", Some(&[2, -1]), false, keep, 2, &[]);
        let (a, n) = gradients(&m, 3, 1e-2, 81 + i as u64);
        assert_close_discriminating(&a, &n, 1e-3);
    }
}

#[test]
fn reduce_mean_axes_input_at_opset_18() {
    // The dynamo exporter's global average pool: ReduceMean(x, [-1, -2]) at opset 18.
    for (i, keep) in [0, 1].into_iter().enumerate() {
        let m = reduced(18, "ReduceMean", Some(&[-1, -2]), true, keep, 2, &[]);
        let (a, n) = gradients(&m, 3, 1e-2, 83 + i as u64);
        assert_close_discriminating(&a, &n, 1e-3);
    }
}

#[test]
fn reduce_mean_with_empty_axes_and_noop_is_the_identity() {
    let noop = reduced(
        18,
        "ReduceMean",
        Some(&[]),
        true,
        0,
        18,
        &[("noop_with_empty_axes", Attr::Int(1))],
    );
    let (a, n) = gradients(&noop, 3, 1e-2, 86);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn reduce_sum_axes_input_at_opset_13_and_attribute_at_11() {
    let m = reduced(13, "ReduceSum", Some(&[1, 3]), true, 0, 3, &[]);
    let (a, n) = gradients(&m, 3, 1e-2, 87);
    assert_close_discriminating(&a, &n, 1e-3);
    let m = reduced(11, "ReduceSum", Some(&[1]), false, 1, 9, &[]);
    let (a, n) = gradients(&m, 3, 1e-2, 88);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn reduce_max_and_min_route_to_the_extreme() {
    // Random inputs have no ties; a step of 1e-3 does not change the arg-extreme unless two
    // values are that close, which the seed avoids (the check would fail loudly).
    let cases = [
        (17, "ReduceMax", false, 0),
        (18, "ReduceMax", true, 1),
        (18, "ReduceMin", true, 0),
    ];
    for (i, (opset, op, as_input, keep)) in cases.into_iter().enumerate() {
        let m = reduced(opset, op, Some(&[-1]), as_input, keep, 6, &[]);
        let (a, n) = gradients(&m, 3, 1e-3, 89 + i as u64);
        assert_close_discriminating(&a, &n, 1e-3);
    }
}

#[test]
fn reduce_max_splits_the_gradient_between_ties() {
    // Max over a tensor and its copy: every element ties with itself once, so each copy
    // gets half, and together they give the whole gradient (Concat then ReduceMax).
    let m = model_at(18, [1, 1, 2], 2, |b| {
        b.node("Concat", &["x", "x"], &["xx"], &[("axis", Attr::Int(1))]);
        b.constant("axes", &ConstTensor::i64(&[1], vec![1]));
        b.node(
            "ReduceMax",
            &["xx", "axes"],
            &["r"],
            &[("keepdims", Attr::Int(0))],
        );
        b.node("Flatten", &["r"], &["logits"], &[]);
        "logits".into()
    });
    let (a, n) = gradients(&m, 2, 1e-3, 92);
    assert_close_discriminating(&a, &n, 1e-3);
}
