//! Tests of Expand (constant, computed and lower-rank target shapes) and Tile.
//!
//! tract 0.23.9 cannot plan a forward graph in which an Expand's output reaches the dense
//! head's Flatten and Gemm through element-wise ops only ("fold_k_in_input_1: Incompatible
//! reshape" during codegen, with or without the autodiff): the Expand tests put a Softmax
//! between them, which tract plans.

use super::tests::{assert_close_discriminating, dense_head, gradients, model_at};
use crate::onnx::{Attr, ConstTensor};

#[test]
fn expand_to_a_constant_shape_with_a_broadcast_batch() {
    // x [N, 1, 3, 1] -> [N, 2, 3, 4]: the target's leading 1 broadcasts against the batch.
    let m = model_at(13, [1, 3, 1], 4, |b| {
        b.constant("shape", &ConstTensor::i64(&[4], vec![1, 2, 3, 4]));
        b.node("Expand", &["x", "shape"], &["e"], &[]);
        b.node("Softmax", &["e"], &["y"], &[("axis", Attr::Int(2))]);
        dense_head(b, "y", 24, 4, 140)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 141);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn expand_to_a_shape_computed_from_the_input_and_to_a_lower_rank_shape() {
    // Shape(x) * [1, 2, 1, 4] = [N, 2, 3, 4] (computed, batch-dependent); then a rank-2
    // target [3, 1] against [N, 2, 3, 4] changes nothing but is still an Expand.
    let m = model_at(13, [1, 3, 1], 4, |b| {
        b.node("Shape", &["x"], &["xs"], &[]);
        b.constant("times", &ConstTensor::i64(&[4], vec![1, 2, 1, 4]));
        b.node("Mul", &["xs", "times"], &["target"], &[]);
        b.node("Expand", &["x", "target"], &["e"], &[]);
        b.constant("low", &ConstTensor::i64(&[2], vec![3, 1]));
        b.node("Expand", &["e", "low"], &["f"], &[]);
        b.node("Softmax", &["f"], &["y"], &[("axis", Attr::Int(2))]);
        dense_head(b, "y", 24, 4, 142)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 143);
    assert_close_discriminating(&a, &n, 1e-3);
    // A lower-rank target that broadcasts a trailing axis: [N, 3, 1, 1] -> [N, 3, 3, 2].
    let m = model_at(13, [3, 1, 1], 4, |b| {
        b.constant("low", &ConstTensor::i64(&[2], vec![3, 2]));
        b.node("Expand", &["x", "low"], &["e"], &[]);
        b.node("Softmax", &["e"], &["y"], &[("axis", Attr::Int(1))]);
        dense_head(b, "y", 18, 4, 144)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 145);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn tile_repeats_on_several_axes_sum_every_copy() {
    // x [N, 1, 2, 3] tiled by [1, 2, 3, 2] -> [N, 2, 6, 6].
    let m = model_at(13, [1, 2, 3], 4, |b| {
        b.constant("repeats", &ConstTensor::i64(&[4], vec![1, 2, 3, 2]));
        b.node("Tile", &["x", "repeats"], &["y"], &[]);
        dense_head(b, "y", 72, 4, 146)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 147);
    assert_close_discriminating(&a, &n, 1e-3);
}
