//! Tests of Max, Min, Sum, Mean, Where and Cast with broadcasting operands.

use super::tests::{
    assert_close_discriminating, dense_head, gradients, gradients_away_from, model,
};
use crate::onnx::{Attr, ConstTensor};

#[test]
fn max_and_min_against_a_broadcast_constant_and_each_other() {
    // Max(x, c) with c [3, 1] broadcast, and Min(x, -x) whose operands both depend on x
    // (they tie only at 0, kept away from).
    for (i, op) in ["Max", "Min"].into_iter().enumerate() {
        let m = model([2, 3, 3], 4, |b| {
            b.constant("c", &ConstTensor::f32(&[3, 1], vec![-0.1, 0.0, 0.2]));
            b.node(op, &["x", "c"], &["p"], &[]);
            b.node("Neg", &["x"], &["nx"], &[]);
            b.node(op, &["x", "nx"], &["q"], &[]);
            b.node("Add", &["p", "q"], &["y"], &[]);
            dense_head(b, "y", 18, 4, 120)
        });
        let kinks = [-0.1, 0.0, 0.2];
        let (a, n) = gradients_away_from(&m, 3, 1e-3, 121 + i as u64, &kinks);
        assert_close_discriminating(&a, &n, 1e-3);
    }
}

#[test]
fn max_ties_go_to_the_first_operand() {
    // Max(x, x): both operands tie everywhere; the first takes the whole gradient, so the
    // total is the gradient of x itself (not twice it).
    let m = model([2, 3, 3], 4, |b| {
        b.node("Max", &["x", "x"], &["y"], &[]);
        dense_head(b, "y", 18, 4, 123)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 124);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn sum_and_mean_of_three_broadcast_operands() {
    for (i, op) in ["Sum", "Mean"].into_iter().enumerate() {
        let m = model([2, 3, 3], 4, |b| {
            b.constant("c", &ConstTensor::f32(&[3], vec![0.5, -1.0, 2.0]));
            b.constant("axes", &ConstTensor::i64(&[2], vec![2, 3]));
            b.node("ReduceSum", &["x", "axes"], &["s"], &[]);
            b.node(op, &["x", "c", "s"], &["y"], &[]);
            dense_head(b, "y", 18, 4, 125)
        });
        let (a, n) = gradients(&m, 3, 1e-2, 126 + i as u64);
        assert_close_discriminating(&a, &n, 1e-3);
    }
}

#[test]
fn where_routes_each_branch() {
    // Where(x > 0, 2 x, x * x-sum-broadcast): kinks at 0 kept away from.
    let m = model([2, 3, 3], 4, |b| {
        b.constant("zero", &ConstTensor::f32(&[], vec![0.0]));
        b.constant("two", &ConstTensor::f32(&[], vec![2.0]));
        b.node("Greater", &["x", "zero"], &["pos"], &[]);
        b.node("Mul", &["x", "two"], &["a"], &[]);
        b.constant("axes", &ConstTensor::i64(&[2], vec![2, 3]));
        b.node("ReduceSum", &["x", "axes"], &["s"], &[]);
        b.node("Where", &["pos", "a", "s"], &["y"], &[]);
        dense_head(b, "y", 18, 4, 128)
    });
    let (a, n) = gradients_away_from(&m, 3, 1e-3, 129, &[0.0]);
    assert_close_discriminating(&a, &n, 1e-3);
}

#[test]
fn float_cast_is_the_identity() {
    let m = model([2, 3, 3], 4, |b| {
        b.node("Cast", &["x"], &["c"], &[("to", Attr::Int(1))]);
        b.node("Tanh", &["c"], &["y"], &[]);
        dense_head(b, "y", 18, 4, 130)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 131);
    assert_close_discriminating(&a, &n, 2e-3);
}
