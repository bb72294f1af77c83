//! Tests of the smooth unary rules (Exp, Log, Neg, Erf, Gelu, Softplus, Pow) against
//! finite differences, each with a mutation check.

use super::tests::{assert_close_discriminating, dense_head, gradients, model, model_at, unary};
use crate::onnx::{Attr, ConstTensor};

#[test]
fn exp_neg_erf_and_softplus() {
    for (i, op) in ["Exp", "Neg", "Erf", "Softplus"].into_iter().enumerate() {
        let (a, n) = gradients(&unary(op, &[]), 3, 1e-2, 60 + i as u64);
        assert_close_discriminating(&a, &n, 2e-3);
    }
}

#[test]
fn log_of_positive_values() {
    let m = model([2, 3, 3], 4, |b| {
        b.constant("one", &ConstTensor::f32(&[], vec![1.0]));
        b.node("Add", &["x", "one"], &["p"], &[]);
        b.node("Log", &["p"], &["y"], &[]);
        dense_head(b, "y", 18, 4, 65)
    });
    let (a, n) = gradients(&m, 3, 1e-2, 66);
    assert_close_discriminating(&a, &n, 2e-3);
}

#[test]
fn gelu_opset_20_exact_and_tanh() {
    for (i, approximate) in ["none", "tanh"].into_iter().enumerate() {
        // 4 x spans [-2, 2], where both forms curve.
        let m = model_at(20, [2, 3, 3], 4, |b| {
            b.constant("four", &ConstTensor::f32(&[], vec![4.0]));
            b.node("Mul", &["x", "four"], &["t"], &[]);
            b.node(
                "Gelu",
                &["t"],
                &["y"],
                &[("approximate", Attr::Str(approximate.into()))],
            );
            dense_head(b, "y", 18, 4, 67)
        });
        let (a, n) = gradients(&m, 3, 1e-2, 68 + i as u64);
        assert_close_discriminating(&a, &n, 2e-3);
    }
}

#[test]
fn gelu_closed_form_at_zero_is_one_half() {
    // d/dx x Phi(x) at 0 is Phi(0) = 1/2 for both approximations: x = 0 with a head that
    // reads one value gives exactly half the head weight.
    use crate::grad::vjp_graph;
    use crate::test_runner::{TestPlan, TestVjpPlan};
    for approximate in ["none", "tanh"] {
        let m = model_at(20, [1, 1, 1], 1, |b| {
            b.node(
                "Gelu",
                &["x"],
                &["y"],
                &[("approximate", Attr::Str(approximate.into()))],
            );
            b.node("Flatten", &["y"], &["logits"], &[]);
            "logits".into()
        });
        let plan = TestPlan::new(&m).expect("plan");
        let vjp = vjp_graph(&m).expect("vjp graph");
        let vjp = TestVjpPlan::new(&vjp, plan.input(), 1).expect("vjp plan");
        let x = ndarray::Array4::<f32>::zeros((1, 1, 1, 1));
        let s = ndarray::Array2::<f32>::ones((1, 1));
        let (_, g) = vjp.run(x.view(), s.view()).expect("run");
        assert!((g[[0, 0, 0, 0]] - 0.5).abs() < 1e-6, "{approximate}: {g:?}");
    }
}

#[test]
fn pow_with_constant_exponents() {
    for (i, p) in [2.0f32, 3.0, -1.0].into_iter().enumerate() {
        let m = model([2, 3, 3], 4, |b| {
            // 1 + x is in [0.5, 1.5]: defined for every exponent.
            b.constant("one", &ConstTensor::f32(&[], vec![1.0]));
            b.node("Add", &["x", "one"], &["base"], &[]);
            b.constant("p", &ConstTensor::f32(&[], vec![p]));
            b.node("Pow", &["base", "p"], &["y"], &[]);
            dense_head(b, "y", 18, 4, 70)
        });
        let (a, n) = gradients(&m, 3, 1e-2, 71 + i as u64);
        assert_close_discriminating(&a, &n, 2e-3);
    }
}
