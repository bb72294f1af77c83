//! Tests of the straight-through rules of QuantizeLinear and DequantizeLinear: a quantized
//! model's input gradient must equal its float twin's (the same graph with the pair removed)
//! where the input lies in the quantizer's clipping range and be zero outside, in closed form
//! (finite differences of a quantized model are zero or jumps, so they cannot check it);
//! and QLinearConv and QLinearMatMul (QOperator) must differentiate as their QDQ forms.

use ndarray::{Array2, Array4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::tests::{dense_head, model, uniform};
use crate::grad::{straight_through, vjp_graph};
use crate::onnx::{Attr, ConstTensor, GraphBuilder, OnnxModel};
use crate::test_runner::{TestPlan, TestVjpPlan};

/// Integer ONNX types of the zero point.
const UINT8: i64 = 2;
const INT8: i64 = 3;

/// `x -> QuantizeLinear -> DequantizeLinear -> dense head` with per-channel (axis 1) scales
/// and zero points of `zp_type` when `scales` has one value per channel, else per tensor; or
/// the float twin (`quantized` false) with the pair left out.
fn quantized_model(
    scales: &[f32],
    zero_points: &[i64],
    zp_type: i64,
    quantized: bool,
) -> OnnxModel {
    model([3, 2, 2], 4, |b: &mut GraphBuilder| {
        if !quantized {
            return dense_head(b, "x", 12, 4, 5);
        }
        let dims: &[usize] = if scales.len() == 1 {
            &[]
        } else {
            &[scales.len()]
        };
        b.constant("q.scale", &ConstTensor::f32(dims, scales.to_vec()));
        b.constant("q.zp64", &ConstTensor::i64(dims, zero_points.to_vec()));
        b.node(
            "Cast",
            &["q.zp64"],
            &["q.zp"],
            &[("to", Attr::Int(zp_type))],
        );
        let axis = [("axis", Attr::Int(1))];
        b.node(
            "QuantizeLinear",
            &["x", "q.scale", "q.zp"],
            &["q.int"],
            &axis,
        );
        b.node(
            "DequantizeLinear",
            &["q.int", "q.scale", "q.zp"],
            &["q.float"],
            &axis,
        );
        dense_head(b, "q.float", 12, 4, 5)
    })
}

/// Input gradients of `sum(seed * logits)` of both models at the same seeded inputs and seeds.
fn input_gradients(
    quantized: &OnnxModel,
    float: &OnnxModel,
) -> (Array4<f32>, Array4<f32>, Array4<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (batch, classes) = (3, 4);
    let x = Array4::from_shape_vec((batch, 3, 2, 2), uniform(&mut rng, batch * 12, -0.5, 0.5))
        .expect("shape");
    let s = Array2::from_shape_vec(
        (batch, classes),
        uniform(&mut rng, batch * classes, -1.0, 1.0),
    )
    .expect("shape");
    let run = |m: &OnnxModel| {
        let plan = TestPlan::new(m).expect("forward plan");
        let vjp = vjp_graph(m).expect("vjp graph");
        let vjp_plan = TestVjpPlan::new(&vjp, plan.input(), classes).expect("vjp plan");
        let (logits, grad) = vjp_plan.run(x.view(), s.view()).expect("vjp run");
        let direct = plan.logits(x.view()).expect("forward");
        assert_eq!(
            logits, direct,
            "the vjp graph's logits are the real model's"
        );
        grad
    };
    (x.clone(), run(quantized), run(float))
}

/// Asserts the straight-through gradient is the float twin's inside `[lo, hi]` per channel
/// and zero outside, and that both cases occur.
fn check(scales: &[f32], zero_points: &[i64], zp_type: i64, range: (i64, i64)) {
    let quantized = quantized_model(scales, zero_points, zp_type, true);
    let float = quantized_model(scales, zero_points, zp_type, false);
    let (x, ste, exact) = input_gradients(&quantized, &float);
    let (mut inside, mut outside) = (0, 0);
    for ((idx, &xv), (&g, &f)) in x.indexed_iter().zip(ste.iter().zip(exact.iter())) {
        let c = if scales.len() == 1 { 0 } else { idx.1 };
        let lo = (range.0 - zero_points[c]) as f32 * scales[c];
        let hi = (range.1 - zero_points[c]) as f32 * scales[c];
        if (lo..=hi).contains(&xv) {
            inside += 1;
            assert!(
                (g - f).abs() <= 1e-6 * (1.0 + f.abs()),
                "at {idx:?} inside: {g} vs {f}"
            );
        } else {
            outside += 1;
            assert_eq!(g, 0.0, "at {idx:?} outside [{lo}, {hi}]: {g}");
        }
    }
    assert!(
        inside > 0 && outside > 0,
        "inside {inside}, outside {outside}: the test checks nothing"
    );
    let vjp = vjp_graph(&quantized).expect("vjp graph");
    assert!(straight_through(&vjp).is_some_and(|r| r.contains("1 QuantizeLinear")));
    assert!(straight_through(&vjp_graph(&float).expect("vjp graph")).is_none());
}

#[test]
fn per_tensor_uint8_pair_is_the_identity_inside_its_clipping_range() {
    // Range [(0 - 100) * 0.004, (255 - 100) * 0.004] = [-0.4, 0.62]: inputs below -0.4 clip.
    check(&[0.004], &[100], UINT8, (0, 255));
}

#[test]
fn per_channel_int8_pair_clips_each_channel_at_its_own_range() {
    // Channel ranges [-0.384, 0.381], [-0.298, 0.493], [-0.624, 0.192].
    check(&[0.003, 0.0031, 0.0032], &[0, -32, 67], INT8, (-128, 127));
}

/// Integer ONNX type of QLinearConv's bias.
const INT32: i64 = 6;

/// `x -> QuantizeLinear (uint8) -> QLinearConv (per-channel int8 weight, int32 bias) ->
/// DequantizeLinear -> dense head`, or (`qoperator` false) the same network in QDQ form:
/// the weight and bias dequantized by hand, a float Conv between a
/// QuantizeLinear -> DequantizeLinear pair on each side.
fn qoperator_model(qoperator: bool) -> OnnxModel {
    let w_int: Vec<i64> = (0..81).map(|i| (i * 37 % 255) - 127).collect();
    let w_scale = [0.004f32, 0.003, 0.005];
    let bias_int = [700i64, -1200, 300];
    let (x_scale, y_scale) = (0.004f32, 0.02f32);
    model([3, 2, 2], 4, |b: &mut GraphBuilder| {
        let int = |b: &mut GraphBuilder, name: &str, dims: &[usize], v: Vec<i64>, to: i64| {
            b.constant(&format!("{name}.i64"), &ConstTensor::i64(dims, v));
            b.node(
                "Cast",
                &[&format!("{name}.i64")],
                &[name],
                &[("to", Attr::Int(to))],
            );
        };
        b.constant("x.scale", &ConstTensor::f32(&[], vec![x_scale]));
        int(b, "x.zp", &[], vec![128], UINT8);
        b.constant("y.scale", &ConstTensor::f32(&[], vec![y_scale]));
        int(b, "y.zp", &[], vec![120], UINT8);
        b.node("QuantizeLinear", &["x", "x.scale", "x.zp"], &["xq"], &[]);
        let attrs = [("pads", Attr::Ints(vec![1, 1, 1, 1]))];
        if qoperator {
            int(b, "w", &[3, 3, 3, 3], w_int.clone(), INT8);
            b.constant("w.scale", &ConstTensor::f32(&[3], w_scale.to_vec()));
            int(b, "w.zp", &[3], vec![0; 3], INT8);
            int(b, "bias", &[3], bias_int.to_vec(), INT32);
            let inputs = [
                "xq", "x.scale", "x.zp", "w", "w.scale", "w.zp", "y.scale", "y.zp", "bias",
            ];
            b.node("QLinearConv", &inputs, &["yq"], &attrs);
        } else {
            b.node("DequantizeLinear", &["xq", "x.scale", "x.zp"], &["xf"], &[]);
            let w: Vec<f32> = w_int
                .iter()
                .enumerate()
                .map(|(i, &v)| v as f32 * w_scale[i / 27])
                .collect();
            b.constant("w", &ConstTensor::f32(&[3, 3, 3, 3], w));
            let bias: Vec<f32> = (0..3)
                .map(|c| bias_int[c] as f32 * x_scale * w_scale[c])
                .collect();
            b.constant("bias", &ConstTensor::f32(&[3], bias));
            b.node("Conv", &["xf", "w", "bias"], &["yf"], &attrs);
            b.node("QuantizeLinear", &["yf", "y.scale", "y.zp"], &["yq"], &[]);
        }
        b.node("DequantizeLinear", &["yq", "y.scale", "y.zp"], &["y"], &[]);
        dense_head(b, "y", 12, 4, 6)
    })
}

#[test]
fn qlinear_conv_differentiates_as_its_qdq_twin() {
    let qoperator = qoperator_model(true);
    let qdq = qoperator_model(false);
    let (_, twin, by_hand) = input_gradients(&qoperator, &qdq);
    assert!(
        by_hand.iter().any(|&g| g != 0.0),
        "the gradient is zero: the test checks nothing"
    );
    for ((idx, &a), &b) in twin.indexed_iter().zip(by_hand.iter()) {
        assert!(
            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "at {idx:?}: {a} vs {b}"
        );
    }
    let vjp = vjp_graph(&qoperator).expect("vjp graph");
    let reason = straight_through(&vjp).expect("straight-through");
    assert!(
        reason.contains("1 QLinearConv as its dequantized float twin"),
        "{reason}"
    );
}

/// `x -> QuantizeLinear -> QLinearMatMul (by a per-column int8 [2, 5] weight) ->
/// DequantizeLinear -> dense head`, or (`qoperator` false) its QDQ form with a float MatMul.
fn qlinear_matmul_model(qoperator: bool) -> OnnxModel {
    let w_int: Vec<i64> = (0..10).map(|i| (i * 53 % 255) - 127).collect();
    let w_scale = [0.004f32, 0.003, 0.005, 0.002, 0.006];
    let (x_scale, y_scale) = (0.004f32, 0.01f32);
    model([3, 2, 2], 4, |b: &mut GraphBuilder| {
        let int = |b: &mut GraphBuilder, name: &str, dims: &[usize], v: Vec<i64>, to: i64| {
            b.constant(&format!("{name}.i64"), &ConstTensor::i64(dims, v));
            b.node(
                "Cast",
                &[&format!("{name}.i64")],
                &[name],
                &[("to", Attr::Int(to))],
            );
        };
        b.constant("x.scale", &ConstTensor::f32(&[], vec![x_scale]));
        int(b, "x.zp", &[], vec![128], UINT8);
        b.constant("y.scale", &ConstTensor::f32(&[], vec![y_scale]));
        int(b, "y.zp", &[], vec![128], UINT8);
        b.node("QuantizeLinear", &["x", "x.scale", "x.zp"], &["xq"], &[]);
        if qoperator {
            int(b, "w", &[2, 5], w_int.clone(), INT8);
            b.constant("w.scale", &ConstTensor::f32(&[5], w_scale.to_vec()));
            int(b, "w.zp", &[5], vec![0; 5], INT8);
            let inputs = [
                "xq", "x.scale", "x.zp", "w", "w.scale", "w.zp", "y.scale", "y.zp",
            ];
            b.node("QLinearMatMul", &inputs, &["yq"], &[]);
        } else {
            b.node("DequantizeLinear", &["xq", "x.scale", "x.zp"], &["xf"], &[]);
            let w: Vec<f32> = w_int
                .iter()
                .enumerate()
                .map(|(i, &v)| v as f32 * w_scale[i % 5])
                .collect();
            b.constant("w", &ConstTensor::f32(&[2, 5], w));
            b.node("MatMul", &["xf", "w"], &["yf"], &[]);
            b.node("QuantizeLinear", &["yf", "y.scale", "y.zp"], &["yq"], &[]);
        }
        b.node("DequantizeLinear", &["yq", "y.scale", "y.zp"], &["y"], &[]);
        dense_head(b, "y", 30, 4, 7)
    })
}

#[test]
fn qlinear_matmul_differentiates_as_its_qdq_twin() {
    let (_, twin, by_hand) =
        input_gradients(&qlinear_matmul_model(true), &qlinear_matmul_model(false));
    assert!(
        by_hand.iter().any(|&g| g != 0.0),
        "the gradient is zero: the test checks nothing"
    );
    for ((idx, &a), &b) in twin.indexed_iter().zip(by_hand.iter()) {
        assert!(
            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "at {idx:?}: {a} vs {b}"
        );
    }
    let vjp = vjp_graph(&qlinear_matmul_model(true)).expect("vjp graph");
    let reason = straight_through(&vjp).expect("straight-through");
    assert!(
        reason.contains("1 QLinearMatMul as its dequantized float twin"),
        "{reason}"
    );
}
