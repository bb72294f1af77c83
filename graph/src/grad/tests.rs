//! Whole-graph tests of the autodiff: exporter idioms across opsets, shared tensors, and the
//! errors for graphs it cannot differentiate.

use ndarray::{Array2, Array4};

use super::{vjp_graph, GradError};
use crate::onnx::{Attr, ConstTensor, GraphBuilder, OnnxModel};
use crate::test_runner::{TestPlan, TestVjpPlan};

const CLASSES: usize = 3;
const PIXELS: usize = 16;

fn weights() -> Vec<f32> {
    (0..CLASSES * PIXELS)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0)
        .collect()
}

/// What a PyTorch export of `linear(x.view(x.size(0), -1) - 0.1)` looks like at `opset`:
/// a Constant node, the weight also listed as a graph input, and the flatten written as
/// Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])).
fn exported_linear(opset: i64) -> OnnxModel {
    let mut b = GraphBuilder::new("exported");
    b.set_opset(opset);
    b.input("x", &[None, Some(1), Some(4), Some(4)]);
    b.input("fc.weight", &[Some(CLASSES), Some(PIXELS)]);
    b.initializer("fc.weight", &[CLASSES, PIXELS], &weights());
    b.initializer("fc.bias", &[CLASSES], &[0.5, -0.5, 0.25]);
    let scalar = |v: f32| Attr::Tensor(ConstTensor::f32(&[], vec![v]));
    let ints = |v: Vec<i64>| Attr::Tensor(ConstTensor::i64(&[v.len()], v));
    b.node("Constant", &[], &["mean"], &[("value", scalar(0.1))]);
    b.node("Sub", &["x", "mean"], &["centred"], &[]);
    b.node("Shape", &["centred"], &["shape"], &[]);
    b.node(
        "Constant",
        &[],
        &["zero"],
        &[("value", Attr::Tensor(ConstTensor::i64(&[], vec![0])))],
    );
    b.node(
        "Gather",
        &["shape", "zero"],
        &["batch"],
        &[("axis", Attr::Int(0))],
    );
    if opset < 13 {
        b.node(
            "Unsqueeze",
            &["batch"],
            &["batch1"],
            &[("axes", Attr::Ints(vec![0]))],
        );
    } else {
        b.node("Constant", &[], &["axes"], &[("value", ints(vec![0]))]);
        b.node("Unsqueeze", &["batch", "axes"], &["batch1"], &[]);
    }
    b.node("Constant", &[], &["rest"], &[("value", ints(vec![-1]))]);
    b.node(
        "Concat",
        &["batch1", "rest"],
        &["flat_shape"],
        &[("axis", Attr::Int(0))],
    );
    b.node("Reshape", &["centred", "flat_shape"], &["flat"], &[]);
    b.node(
        "Gemm",
        &["flat", "fc.weight", "fc.bias"],
        &["logits"],
        &[("transB", Attr::Int(1))],
    );
    b.output("logits", &[None, Some(CLASSES)]);
    b.finish(format!("exported-opset{opset}.onnx").into())
        .expect("valid model")
}

#[test]
fn exporter_idioms_differentiate_at_opsets_11_to_19() {
    let x = Array4::from_shape_fn((2, 1, 4, 4), |(n, _, h, w)| {
        (n * 16 + h * 4 + w) as f32 / 40.0 - 0.4
    });
    let seed =
        Array2::from_shape_vec((2, CLASSES), vec![1.0, -2.0, 0.5, 0.0, 1.0, 3.0]).expect("seed");
    // d(seed · (W (x - 0.1) + b)) / dx = W^T seed, reshaped like x.
    let w = Array2::from_shape_vec((CLASSES, PIXELS), weights()).expect("w");
    let expected = seed.dot(&w);
    for opset in [11, 12, 13, 15, 17, 18, 19] {
        let model = exported_linear(opset);
        let vjp = vjp_graph(&model).unwrap_or_else(|e| panic!("opset {opset}: {e}"));
        assert!(
            vjp.opset() >= opset.max(17),
            "opset {opset}: gradient graph at {}",
            vjp.opset()
        );
        let plan = TestPlan::new(&model).expect("forward plan");
        let vjp_plan = TestVjpPlan::new(&vjp, plan.input(), CLASSES).expect("vjp plan");
        let (logits, grad) = vjp_plan.run(x.view(), seed.view()).expect("run");
        assert_eq!(
            logits,
            plan.logits(x.view()).expect("forward"),
            "opset {opset}"
        );
        let grad = grad.to_shape((2, PIXELS)).expect("flat").to_owned();
        for (a, e) in grad.iter().zip(expected.iter()) {
            assert!((a - e).abs() < 1e-5, "opset {opset}: {a} vs {e}");
        }
    }
}

#[test]
fn seeds_computed_from_the_logits_match_their_closed_form_at_every_opset() {
    let x = Array4::from_shape_fn((3, 1, 4, 4), |(n, _, h, w)| {
        (n * 16 + h * 4 + w) as f32 / 30.0 - 0.5
    });
    // Row 0: cross-entropy on class 2, softmax(z) - e2; row 1: the margin keeping class 0,
    // e0 - e(top other); row 2: a fixed part plus both terms, the softmax less e1 and the
    // top class unmasked.
    let matrix = |rows: usize, values: Vec<f32>| {
        Array2::from_shape_vec((3, rows), values).expect("seed term")
    };
    let fixed = matrix(CLASSES, vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.5, -0.25, 2.0]);
    let softmax_weight = matrix(1, vec![1.0, 0.0, -2.0]);
    let softmax_class = matrix(CLASSES, vec![0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let top_weight = matrix(1, vec![0.0, -1.0, 3.0]);
    let mut top_mask = Array2::zeros((3, CLASSES));
    top_mask[[1, 0]] = f32::NEG_INFINITY;
    let terms = [
        fixed.view(),
        softmax_weight.view(),
        softmax_class.view(),
        top_weight.view(),
        top_mask.view(),
    ];
    let w = Array2::from_shape_vec((CLASSES, PIXELS), weights()).expect("w");
    for opset in [11, 13, 17, 18, 19] {
        let model = exported_linear(opset);
        let vjp = vjp_graph(&model).unwrap_or_else(|e| panic!("opset {opset}: {e}"));
        let plan = TestPlan::new(&model).expect("forward plan");
        let z = plan.logits(x.view()).expect("forward");
        let vjp_plan = TestVjpPlan::new(&vjp, plan.input(), CLASSES).expect("vjp plan");
        let (logits, grad) = vjp_plan.run_terms(x.view(), terms).expect("run");
        assert_eq!(logits, z, "opset {opset}");
        // d(seed(z) · z) / dx with the seed held at z = W^T seed(z).
        let mut seed = Array2::<f64>::zeros((3, CLASSES));
        for (i, row) in z.rows().into_iter().enumerate() {
            let exps: Vec<f64> = row.iter().map(|&v| f64::from(v).exp()).collect();
            let sum: f64 = exps.iter().sum();
            let softmax: Vec<f64> = exps.iter().map(|e| e / sum).collect();
            let top_other = if row[1] >= row[2] { 1 } else { 2 };
            let top = (0..CLASSES).fold(0, |t, k| if row[k] > row[t] { k } else { t });
            for k in 0..CLASSES {
                seed[[i, k]] = match i {
                    0 => softmax[k] - f64::from(u8::from(k == 2)),
                    1 => f64::from(u8::from(k == 0)) - f64::from(u8::from(k == top_other)),
                    _ => {
                        [0.5, -0.25, 2.0][k] - 2.0 * (softmax[k] - f64::from(u8::from(k == 1)))
                            + 3.0 * f64::from(u8::from(k == top))
                    }
                };
            }
        }
        let expected = seed.dot(&w.mapv(f64::from));
        let grad = grad.to_shape((3, PIXELS)).expect("flat").to_owned();
        for (a, e) in grad.iter().zip(expected.iter()) {
            assert!(
                (f64::from(*a) - e).abs() < 1e-5,
                "opset {opset}: {a} vs {e}"
            );
        }
    }
}

#[test]
fn ops_without_rules_on_the_gradient_path_are_all_named() {
    let mut b = GraphBuilder::new("cos-sin");
    b.input("x", &[None, Some(1), Some(2), Some(2)]);
    b.node("Cos", &["x"], &["e"], &[]);
    b.node("Sin", &["e"], &["s"], &[]);
    b.node("Flatten", &["s"], &["logits"], &[("axis", Attr::Int(1))]);
    b.output("logits", &[None, Some(4)]);
    let model = b.finish("cos-sin.onnx".into()).expect("valid model");
    match vjp_graph(&model) {
        Err(GradError::Unsupported { ops, .. }) => {
            assert_eq!(ops, vec!["Cos".to_string(), "Sin".to_string()])
        }
        other => panic!("expected unsupported ops, got {other:?}"),
    }
}
