//! Tests of the backward rules: each rule's gradient, run by tract through a VJP graph, is
//! compared with central finite differences of the forward graph (computed in f64 from f32
//! forward passes) or with a closed form.

use ndarray::{Array2, Array4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::grad::backward::{append_backward, forward_nodes, SEED};
use crate::grad::vjp_graph;
use crate::onnx::{Attr, ConstTensor, GraphBuilder, OnnxModel};
use crate::test_runner::{TestPlan, TestVjpPlan};

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

/// [`model`] whose nodes follow default-domain opset `opset`.
pub(super) fn model_at(
    opset: i64,
    chw: [usize; 3],
    classes: usize,
    body: impl FnOnce(&mut GraphBuilder) -> String,
) -> OnnxModel {
    model(chw, classes, |b| {
        b.set_opset(opset);
        body(b)
    })
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
    gradients_away_from(model, batch, h, seed, &[])
}

/// [`gradients`] with every input value moved at least `0.05` away from each of `kinks`
/// (points where the function is not differentiable), so that `x ± h` never straddles one.
pub(super) fn gradients_away_from(
    model: &OnnxModel,
    batch: usize,
    h: f32,
    seed: u64,
    kinks: &[f32],
) -> (Array4<f32>, Array4<f32>) {
    const MARGIN: f32 = 0.05;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let plan = TestPlan::new(model).expect("forward plan");
    let [c, hh, w] = plan.input().chw();
    let classes = plan.classes();
    let mut x = Array4::from_shape_vec(
        (batch, c, hh, w),
        uniform(&mut rng, batch * c * hh * w, -0.5, 0.5),
    )
    .expect("shape");
    for v in x.iter_mut() {
        for &k in kinks {
            if (*v - k).abs() < MARGIN {
                *v = if *v < k { k - MARGIN } else { k + MARGIN };
            }
        }
    }
    let s = Array2::from_shape_vec(
        (batch, classes),
        uniform(&mut rng, batch * classes, -1.0, 1.0),
    )
    .expect("shape");
    let vjp = vjp_graph(model).expect("vjp graph");
    let vjp_plan = TestVjpPlan::new(&vjp, plan.input(), classes).expect("vjp plan");
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

fn finite_differences(plan: &TestPlan, x: &Array4<f32>, s: &Array2<f32>, h: f32) -> Array4<f32> {
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

/// The largest magnitude of a gradient.
fn scale_of(grad: &Array4<f32>) -> f32 {
    grad.iter().fold(0f32, |m, v| m.max(v.abs()))
}

/// Whether `analytic` is within `rtol` of `numeric`'s scale at every coordinate.
fn within(analytic: &Array4<f32>, numeric: &Array4<f32>, rtol: f32) -> bool {
    let scale = scale_of(numeric);
    analytic
        .iter()
        .zip(numeric.iter())
        .all(|(a, n)| (a - n).abs() <= rtol * scale)
}

/// [`assert_close`], plus a mutation check: the same comparison must reject the analytic
/// gradient with its largest coordinate shifted by 10% of the gradient scale, and the
/// analytic gradient scaled by 0.9, so the tolerance is shown to discriminate.
pub(super) fn assert_close_discriminating(
    analytic: &Array4<f32>,
    numeric: &Array4<f32>,
    rtol: f32,
) {
    assert_close(analytic, numeric, rtol);
    let scale = scale_of(numeric);
    let (largest, _) = numeric
        .indexed_iter()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .expect("a non-empty gradient");
    let mut shifted = analytic.clone();
    shifted[largest] += 0.1 * scale;
    assert!(
        !within(&shifted, numeric, rtol),
        "a gradient shifted by 10% at {largest:?} passes the check"
    );
    let scaled = analytic * 0.9;
    assert!(
        !within(&scaled, numeric, rtol),
        "a gradient scaled by 0.9 passes the check"
    );
}

/// Asserts `analytic ≈ numeric` within `rtol` of the largest gradient magnitude, and that
/// the gradient is not trivially zero (so the check can fail).
pub(super) fn assert_close(analytic: &Array4<f32>, numeric: &Array4<f32>, rtol: f32) {
    let scale = scale_of(numeric);
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

pub(super) fn unary(op: &str, attrs: &[(&str, Attr)]) -> OnnxModel {
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

// ---------------------------------------------------------------------------------------
// Gradients of initializers (weights and biases), for the rules' parameter gradients.

/// Gradient of `sum(seed * logits)` with respect to the initializer `param` of the model
/// `build(values)`, from the reverse pass (run by tract, batch symbolic) and from central
/// differences over each of `values` with step `h`; both reshaped to `dims`.
fn param_gradients(
    build: &dyn Fn(&[f32]) -> OnnxModel,
    param: &str,
    values: &[f32],
    dims: [usize; 4],
    batch: usize,
    h: f32,
    seed: u64,
) -> (Array4<f32>, Array4<f32>) {
    let model = build(values);
    let plan = TestPlan::new(&model).expect("forward plan");
    let [c, hh, w] = plan.input().chw();
    let classes = plan.classes();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
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

    let view = model.view().expect("view");
    let path = model.path().to_path_buf();
    let nodes = forward_nodes(&view, &path).expect("forward nodes");
    let logits = view.signature.logits.clone();
    let mut b = GraphBuilder::from_model(&model);
    b.input(
        &view.signature.input.name,
        &[None, Some(c), Some(hh), Some(w)],
    );
    b.input(SEED, &[None, Some(classes)]);
    for node in &nodes {
        b.add(node.clone());
    }
    let seeds = [(logits.clone(), SEED.to_string())];
    let grads = append_backward(&mut b, &view, &nodes, &seeds, &[param.to_string()], &path)
        .expect("backward");
    let target: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    b.constant("param.shape", &ConstTensor::i64(&[4], target));
    b.node("Reshape", &[&grads[0], "param.shape"], &["param.grad"], &[]);
    b.output(&logits, &[None, Some(classes)]);
    b.output("param.grad", &dims.map(Some));
    let graph = b.finish("param-grad.onnx".into()).expect("gradient graph");
    let grad_plan = TestVjpPlan::new(&graph, plan.input(), classes).expect("gradient plan");
    let (_, analytic) = grad_plan.run(x.view(), s.view()).expect("gradient run");

    let loss = |values: &[f32]| -> f64 {
        let plan = TestPlan::new(&build(values)).expect("perturbed plan");
        let l = plan.logits(x.view()).expect("forward");
        l.iter()
            .zip(s.iter())
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    };
    let mut numeric = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        let mut plus = values.to_vec();
        plus[i] += h;
        let mut minus = values.to_vec();
        minus[i] -= h;
        numeric.push(((loss(&plus) - loss(&minus)) / (2.0 * h as f64)) as f32);
    }
    let numeric = Array4::from_shape_vec(dims, numeric).expect("param shape");
    (analytic, numeric)
}

// ---------------------------------------------------------------------------------------
// Conv

/// A convolution geometry: input `[c, h, w]`, weight `[m, c / group, kh, kw]`, attributes,
/// whether there is a bias, and the output's spatial size (worked out by hand).
struct ConvCase {
    chw: [usize; 3],
    weight: [usize; 4],
    attrs: Vec<(&'static str, Attr)>,
    bias: bool,
    out_hw: [usize; 2],
}

pub(super) fn ints(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}

/// `Conv` of `x` (weight `w`, bias `bias` if the case has one) then the dense head.
fn conv_model(case: &ConvCase, w: &[f32], bias: &[f32]) -> OnnxModel {
    let [m, _, _, _] = case.weight;
    let features = m * case.out_hw[0] * case.out_hw[1];
    model(case.chw, 3, |b| {
        b.initializer("conv.w", &case.weight, w);
        let mut inputs = vec!["x", "conv.w"];
        if case.bias {
            b.initializer("conv.b", &[m], bias);
            inputs.push("conv.b");
        }
        b.node("Conv", &inputs, &["y"], &case.attrs);
        dense_head(b, "y", features, 3, 21)
    })
}

/// Checks the input gradient of the case's convolution and, when `params`, its weight and
/// bias gradients, against central differences (batch 2 for the input, 3 for parameters).
fn check_conv(case: ConvCase, seed: u64, params: bool) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = uniform(&mut rng, case.weight.iter().product(), -1.0, 1.0);
    let bias = uniform(&mut rng, case.weight[0], -1.0, 1.0);
    let m = conv_model(&case, &w, &bias);
    let (a, n) = gradients(&m, 2, 1e-2, seed + 1);
    assert_close(&a, &n, 2e-3);
    if !params {
        return;
    }
    let (a, n) = param_gradients(
        &|w| conv_model(&case, w, &bias),
        "conv.w",
        &w,
        case.weight,
        3,
        1e-2,
        seed + 2,
    );
    assert_close(&a, &n, 2e-3);
    if case.bias {
        let (a, n) = param_gradients(
            &|bias| conv_model(&case, &w, bias),
            "conv.b",
            &bias,
            [1, case.weight[0], 1, 1],
            3,
            1e-2,
            seed + 3,
        );
        assert_close(&a, &n, 2e-3);
    }
}

#[test]
fn conv_stride_1_without_padding_with_bias() {
    let case = ConvCase {
        chw: [2, 5, 6],
        weight: [3, 2, 3, 3],
        attrs: vec![],
        bias: true,
        out_hw: [3, 4],
    };
    check_conv(case, 30, true);
}

#[test]
fn conv_stride_1_asymmetric_pads_and_a_3x2_kernel() {
    let case = ConvCase {
        chw: [2, 5, 4],
        weight: [3, 2, 3, 2],
        attrs: vec![("pads", ints(&[1, 0, 0, 1]))],
        bias: true,
        out_hw: [4, 4],
    };
    check_conv(case, 36, true);
}

#[test]
fn conv_stride_1_with_pads_wider_than_the_kernel() {
    // Output positions made of padding alone still pass no gradient to the input.
    let case = ConvCase {
        chw: [1, 3, 3],
        weight: [2, 1, 2, 2],
        attrs: vec![("pads", ints(&[2, 0, 0, 2]))],
        bias: false,
        out_hw: [4, 4],
    };
    check_conv(case, 37, true);
}

#[test]
fn conv_stride_2_symmetric_pads_leaving_a_row_unreached() {
    // Height: 6 + 2 - 3 = 5 leaves 1 after stride 2 (output_padding 1); width: none.
    let case = ConvCase {
        chw: [2, 6, 5],
        weight: [3, 2, 3, 3],
        attrs: vec![("strides", ints(&[2, 2])), ("pads", ints(&[1, 1, 1, 1]))],
        bias: false,
        out_hw: [3, 3],
    };
    check_conv(case, 34, true);
}

#[test]
fn conv_asymmetric_pads_and_strides_with_a_3x2_kernel() {
    let case = ConvCase {
        chw: [2, 5, 6],
        weight: [3, 2, 3, 2],
        attrs: vec![("strides", ints(&[2, 1])), ("pads", ints(&[0, 1, 2, 0]))],
        bias: true,
        out_hw: [3, 6],
    };
    check_conv(case, 38, true);
}

#[test]
fn conv_dilation_2_stride_2_asymmetric_pads() {
    // Height: 7 + 1 - 5 = 3 leaves 1 after stride 2, less than the dilation.
    let case = ConvCase {
        chw: [2, 7, 6],
        weight: [2, 2, 3, 3],
        attrs: vec![
            ("strides", ints(&[2, 2])),
            ("dilations", ints(&[2, 2])),
            ("pads", ints(&[1, 0, 0, 1])),
        ],
        bias: false,
        out_hw: [2, 2],
    };
    check_conv(case, 42, true);
}

#[test]
fn conv_dilation_2_stride_1_with_pads_and_bias() {
    let case = ConvCase {
        chw: [2, 6, 6],
        weight: [2, 2, 3, 3],
        attrs: vec![("dilations", ints(&[2, 2])), ("pads", ints(&[2, 1, 1, 2]))],
        bias: true,
        out_hw: [5, 5],
    };
    check_conv(case, 46, true);
}

#[test]
fn conv_stride_3_leaving_two_positions_per_axis() {
    // 7 - 2 = 5 and 8 - 3 = 5 leave 2 after stride 3 (output_padding 2).
    let case = ConvCase {
        chw: [2, 7, 8],
        weight: [3, 2, 2, 3],
        attrs: vec![("strides", ints(&[3, 3]))],
        bias: true,
        out_hw: [2, 2],
    };
    check_conv(case, 50, true);
}

#[test]
fn conv_auto_pad_same_upper_stride_2() {
    // Pads: height 1 + 1, width 0 + 1.
    let case = ConvCase {
        chw: [2, 5, 6],
        weight: [3, 2, 3, 3],
        attrs: vec![
            ("auto_pad", Attr::Str("SAME_UPPER".into())),
            ("strides", ints(&[2, 2])),
        ],
        bias: true,
        out_hw: [3, 3],
    };
    check_conv(case, 54, true);
}

#[test]
fn conv_auto_pad_same_lower_even_kernel() {
    // Pads: 1 before, 0 after on both axes.
    let case = ConvCase {
        chw: [2, 4, 5],
        weight: [2, 2, 2, 2],
        attrs: vec![("auto_pad", Attr::Str("SAME_LOWER".into()))],
        bias: false,
        out_hw: [4, 5],
    };
    check_conv(case, 58, true);
}

#[test]
fn conv_auto_pad_valid_mixed_strides_and_dilations() {
    let case = ConvCase {
        chw: [2, 7, 6],
        weight: [2, 2, 2, 2],
        attrs: vec![
            ("auto_pad", Attr::Str("VALID".into())),
            ("strides", ints(&[2, 1])),
            ("dilations", ints(&[1, 2])),
        ],
        bias: false,
        out_hw: [3, 4],
    };
    check_conv(case, 62, true);
}

#[test]
fn grouped_conv_input_gradient() {
    let case = ConvCase {
        chw: [4, 5, 5],
        weight: [4, 2, 3, 3],
        attrs: vec![
            ("group", Attr::Int(2)),
            ("strides", ints(&[2, 2])),
            ("pads", ints(&[1, 1, 1, 1])),
        ],
        bias: true,
        out_hw: [3, 3],
    };
    check_conv(case, 66, false);
}

#[test]
fn depthwise_conv_input_gradient() {
    // Two output channels per input channel.
    let case = ConvCase {
        chw: [2, 5, 5],
        weight: [4, 1, 3, 3],
        attrs: vec![("group", Attr::Int(2)), ("pads", ints(&[1, 1, 1, 1]))],
        bias: false,
        out_hw: [5, 5],
    };
    check_conv(case, 70, false);
}

#[test]
fn grouped_conv_weight_gradient_is_refused() {
    let m = model([2, 4, 4], 3, |b| {
        b.initializer("conv.w", &[2, 1, 3, 3], &[0.5; 18]);
        b.node("Conv", &["x", "conv.w"], &["y"], &[("group", Attr::Int(2))]);
        dense_head(b, "y", 8, 3, 22)
    });
    let view = m.view().expect("view");
    let path = m.path().to_path_buf();
    let nodes = forward_nodes(&view, &path).expect("forward nodes");
    let mut b = GraphBuilder::from_model(&m);
    let seeds = [(view.signature.logits.clone(), SEED.to_string())];
    let err = append_backward(&mut b, &view, &nodes, &seeds, &["conv.w".into()], &path)
        .expect_err("grouped weight gradient");
    assert!(err.to_string().contains("group"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Pools

/// `op` over `x` `[c, h, w]` (output spatial size `out_hw`, worked out by hand), then the
/// dense head.
fn pool_model(op: &str, chw: [usize; 3], attrs: &[(&str, Attr)], out_hw: [usize; 2]) -> OnnxModel {
    model(chw, 3, |b| {
        b.node(op, &["x"], &["y"], attrs);
        dense_head(b, "y", chw[0] * out_hw[0] * out_hw[1], 3, 23)
    })
}

// Central differences across a maximum are only valid when no window holds two values
// within the step of each other: the seeds below give inputs without such near-ties.

#[test]
fn max_pool_kernel_2_stride_2() {
    let attrs = [("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))];
    let m = pool_model("MaxPool", [2, 4, 6], &attrs, [2, 3]);
    let (a, n) = gradients(&m, 2, 1e-3, 80);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn max_pool_tiles_give_each_window_gradient_to_one_position_even_on_ties() {
    // 2x2 windows of stride 2 over 5x7: a bottom row and a right column no window reaches.
    let attrs = [("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))];
    let m = model([1, 5, 7], 6, |b| {
        b.node("MaxPool", &["x"], &["y"], &attrs);
        b.node("Flatten", &["y"], &["z"], &[("axis", Attr::Int(1))]);
        "z".to_string()
    });
    let (a, n) = gradients(&m, 2, 1e-3, 88);
    assert_close(&a, &n, 2e-3);
    // Every window of the first image is flat, and every window of the second holds its
    // maximum twice (a flat region of an image): each window's gradient goes to one
    // position, the one the pool's indices name (a mask of the positions equal to the
    // window's maximum would give it to all of them).
    let plan = TestPlan::new(&m).expect("forward plan");
    let vjp = vjp_graph(&m).expect("vjp graph");
    let vjp_plan = TestVjpPlan::new(&vjp, plan.input(), 6).expect("vjp plan");
    let x = Array4::from_shape_fn((2, 1, 5, 7), |(i, _, r, c)| {
        if i == 0 {
            0.25
        } else {
            ((r / 2 + c / 2) % 3) as f32 - f32::from(u8::from(r % 2 == c % 2))
        }
    });
    let seed = Array2::from_shape_fn((2, 6), |(i, j)| (j + 1 + 10 * i) as f32);
    let (_, grad) = vjp_plan.run(x.view(), seed.view()).expect("vjp");
    for i in 0..2 {
        for (window, want) in seed.row(i).iter().enumerate() {
            let (r, c) = (2 * (window / 3), 2 * (window % 3));
            let cells: Vec<f32> = (r..r + 2)
                .flat_map(|r| (c..c + 2).map(move |c| (r, c)))
                .map(|(r, c)| grad[[i, 0, r, c]])
                .collect();
            let nonzero: Vec<f32> = cells.iter().copied().filter(|&v| v != 0.0).collect();
            assert_eq!(nonzero, [*want], "image {i}, window {window}: {cells:?}");
        }
        assert!(grad
            .slice(ndarray::s![i, 0, 4, ..])
            .iter()
            .all(|&v| v == 0.0));
        assert!(grad
            .slice(ndarray::s![i, 0, .., 6])
            .iter()
            .all(|&v| v == 0.0));
    }
}

#[test]
fn max_pool_overlapping_windows_accumulate() {
    // Kernel 3, stride 1: a maximum shared by several windows gets all their gradients.
    let attrs = [("kernel_shape", ints(&[3, 3]))];
    let m = pool_model("MaxPool", [2, 5, 5], &attrs, [3, 3]);
    let (a, n) = gradients(&m, 2, 1e-3, 81);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn max_pool_with_pads_and_strides() {
    let attrs = [
        ("kernel_shape", ints(&[3, 3])),
        ("strides", ints(&[2, 2])),
        ("pads", ints(&[1, 1, 1, 1])),
    ];
    let m = pool_model("MaxPool", [2, 5, 6], &attrs, [3, 3]);
    let (a, n) = gradients(&m, 2, 1e-3, 85);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn max_pool_with_asymmetric_pads_and_a_3x2_kernel() {
    let attrs = [
        ("kernel_shape", ints(&[2, 3])),
        ("strides", ints(&[1, 2])),
        ("pads", ints(&[0, 1, 1, 0])),
    ];
    let m = pool_model("MaxPool", [2, 4, 5], &attrs, [4, 2]);
    let (a, n) = gradients(&m, 2, 1e-3, 83);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn max_pool_with_dilation_and_ceil_mode() {
    // Dilation 2: extent 3; height (5 - 3) / 2 rounds up to 1 (+1) with ceil_mode.
    let attrs = [
        ("kernel_shape", ints(&[2, 2])),
        ("dilations", ints(&[2, 2])),
        ("strides", ints(&[2, 1])),
        ("ceil_mode", Attr::Int(1)),
    ];
    let m = pool_model("MaxPool", [2, 6, 5], &attrs, [3, 3]);
    let (a, n) = gradients(&m, 2, 1e-3, 84);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn average_pool_kernel_2_stride_2() {
    let attrs = [("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))];
    let m = pool_model("AveragePool", [2, 4, 6], &attrs, [2, 3]);
    let (a, n) = gradients(&m, 2, 1e-2, 90);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn average_pool_overlapping_windows_leaving_a_column() {
    // Width: 6 - 3 = 3 leaves 1 after stride 2.
    let attrs = [("kernel_shape", ints(&[3, 3])), ("strides", ints(&[1, 2]))];
    let m = pool_model("AveragePool", [2, 5, 6], &attrs, [3, 2]);
    let (a, n) = gradients(&m, 2, 1e-2, 91);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn average_pool_with_pads_counted_and_not_counted() {
    for (count_include_pad, seed) in [(0, 92), (1, 93)] {
        let attrs = [
            ("kernel_shape", ints(&[3, 3])),
            ("strides", ints(&[2, 2])),
            ("pads", ints(&[1, 1, 1, 1])),
            ("count_include_pad", Attr::Int(count_include_pad)),
        ];
        let m = pool_model("AveragePool", [2, 5, 6], &attrs, [3, 3]);
        let (a, n) = gradients(&m, 2, 1e-2, seed);
        assert_close(&a, &n, 2e-3);
    }
}

#[test]
fn average_pool_with_asymmetric_pads_counted_and_not_counted() {
    for (count_include_pad, seed) in [(0, 94), (1, 95)] {
        let attrs = [
            ("kernel_shape", ints(&[2, 3])),
            ("strides", ints(&[1, 2])),
            ("pads", ints(&[0, 2, 1, 0])),
            ("count_include_pad", Attr::Int(count_include_pad)),
        ];
        let m = pool_model("AveragePool", [2, 4, 5], &attrs, [4, 3]);
        let (a, n) = gradients(&m, 2, 1e-2, seed);
        assert_close(&a, &n, 2e-3);
    }
}

#[test]
fn average_pool_auto_pad_same_upper() {
    // Pads: height 0 + 1, width 1 + 1; padding not counted.
    let attrs = [
        ("kernel_shape", ints(&[2, 3])),
        ("auto_pad", Attr::Str("SAME_UPPER".into())),
    ];
    let m = pool_model("AveragePool", [2, 4, 5], &attrs, [4, 5]);
    let (a, n) = gradients(&m, 2, 1e-2, 96);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn global_average_pool_spreads_the_gradient_evenly() {
    let m = pool_model("GlobalAveragePool", [3, 4, 5], &[], [1, 1]);
    let (a, n) = gradients(&m, 2, 1e-2, 97);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn small_cnn_end_to_end() {
    // Conv -> BatchNormalization -> Relu -> MaxPool -> Conv (stride 2) -> AveragePool ->
    // GlobalAveragePool -> dense head.
    let mut rng = ChaCha8Rng::seed_from_u64(98);
    let m = model([1, 8, 8], 4, |b| {
        b.initializer("c1.w", &[3, 1, 3, 3], &uniform(&mut rng, 27, -1.0, 1.0));
        b.initializer("c1.b", &[3], &uniform(&mut rng, 3, -0.2, 0.2));
        b.node(
            "Conv",
            &["x", "c1.w", "c1.b"],
            &["c1"],
            &[("pads", ints(&[1, 1, 1, 1]))],
        );
        b.initializer("bn.scale", &[3], &uniform(&mut rng, 3, 0.5, 2.0));
        b.initializer("bn.bias", &[3], &uniform(&mut rng, 3, -0.5, 0.5));
        b.initializer("bn.mean", &[3], &uniform(&mut rng, 3, -0.2, 0.2));
        b.initializer("bn.var", &[3], &uniform(&mut rng, 3, 0.5, 1.5));
        b.node(
            "BatchNormalization",
            &["c1", "bn.scale", "bn.bias", "bn.mean", "bn.var"],
            &["bn"],
            &[],
        );
        b.node("Relu", &["bn"], &["r"], &[]);
        b.node(
            "MaxPool",
            &["r"],
            &["p"],
            &[("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))],
        );
        b.initializer("c2.w", &[4, 3, 2, 2], &uniform(&mut rng, 48, -1.0, 1.0));
        b.node(
            "Conv",
            &["p", "c2.w"],
            &["c2"],
            &[("strides", ints(&[2, 2])), ("pads", ints(&[0, 0, 1, 1]))],
        );
        b.node(
            "AveragePool",
            &["c2"],
            &["a"],
            &[
                ("kernel_shape", ints(&[2, 2])),
                ("pads", ints(&[1, 1, 0, 0])),
            ],
        );
        b.node("GlobalAveragePool", &["a"], &["g"], &[]);
        dense_head(b, "g", 4, 4, 24)
    });
    let (a, n) = gradients(&m, 2, 1e-3, 99);
    assert_close(&a, &n, 5e-3);
}

// ---------------------------------------------------------------------------------------
// Broadcasting arithmetic

#[test]
fn normalisation_constants_and_biases_broadcast() {
    // (x - mean) / std with [1, C, 1, 1] constants, + a [C, 1, 1] bias, * a scalar.
    let mut rng = ChaCha8Rng::seed_from_u64(100);
    let m = model([3, 2, 3], 4, |b| {
        b.initializer("mean", &[1, 3, 1, 1], &uniform(&mut rng, 3, -0.5, 0.5));
        b.initializer("std", &[1, 3, 1, 1], &uniform(&mut rng, 3, 0.2, 2.0));
        b.initializer("bias", &[3, 1, 1], &uniform(&mut rng, 3, -1.0, 1.0));
        b.node("Sub", &["x", "mean"], &["centred"], &[]);
        b.node("Div", &["centred", "std"], &["scaled"], &[]);
        b.node("Add", &["bias", "scaled"], &["biased"], &[]);
        b.scalar_constant("factor", -1.7);
        b.node("Mul", &["biased", "factor"], &["y"], &[]);
        dense_head(b, "y", 18, 4, 25)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 101);
    assert_close(&a, &n, 1e-3);
}

#[test]
fn constants_on_the_left_of_sub_and_div() {
    // c - x and c / (x + 2): the gradient flows into the second operand.
    let mut rng = ChaCha8Rng::seed_from_u64(102);
    let m = model([2, 3, 3], 4, |b| {
        b.initializer("c", &[2, 1, 1], &uniform(&mut rng, 2, 0.5, 1.5));
        b.scalar_constant("two", 2.0);
        b.node("Sub", &["c", "x"], &["d"], &[]);
        b.node("Add", &["x", "two"], &["shifted"], &[]);
        b.node("Div", &["c", "shifted"], &["q"], &[]);
        b.node("Concat", &["d", "q"], &["y"], &[("axis", Attr::Int(1))]);
        dense_head(b, "y", 36, 4, 26)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 103);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn both_operands_depend_on_the_input() {
    // Mul and Div of two tensors computed from x, one of them broadcast: s = Reshape(Gemm(
    // Flatten(x))) is [N, C, 1, 1] and multiplies / divides the [N, C, H, W] tensors.
    let mut rng = ChaCha8Rng::seed_from_u64(104);
    let m = model([2, 3, 3], 4, |b| {
        b.node("Flatten", &["x"], &["flat"], &[]);
        b.initializer("s.w", &[2, 18], &uniform(&mut rng, 36, -0.3, 0.3));
        b.node(
            "Gemm",
            &["flat", "s.w"],
            &["s2"],
            &[("transB", Attr::Int(1))],
        );
        b.constant("s.shape", &ConstTensor::i64(&[4], vec![0, 2, 1, 1]));
        b.node("Reshape", &["s2", "s.shape"], &["s"], &[]);
        b.node("Sigmoid", &["x"], &["sig"], &[]);
        b.node("Mul", &["x", "sig"], &["swish"], &[]);
        b.node("Mul", &["swish", "s"], &["gated"], &[]);
        // Divide by 1 + s^2 > 0, and by 2 + x^2 > 0 element-wise.
        b.node("Mul", &["s", "s"], &["s_sq"], &[]);
        b.scalar_constant("one", 1.0);
        b.node("Add", &["s_sq", "one"], &["den1"], &[]);
        b.node("Div", &["gated", "den1"], &["q1"], &[]);
        b.node("Mul", &["x", "x"], &["x_sq"], &[]);
        b.scalar_constant("two", 2.0);
        b.node("Add", &["two", "x_sq"], &["den2"], &[]);
        b.node("Div", &["q1", "den2"], &["q2"], &[]);
        b.node("Sub", &["q2", "s"], &["y"], &[]);
        dense_head(b, "y", 18, 4, 27)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 105);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn a_tensor_read_by_several_nodes_accumulates_its_gradients() {
    // r feeds Sigmoid, Tanh, both operands of one Add, and a Mul with itself.
    let m = model([2, 3, 3], 4, |b| {
        b.node("LeakyRelu", &["x"], &["r"], &[("alpha", Attr::Float(0.3))]);
        b.node("Sigmoid", &["r"], &["a"], &[]);
        b.node("Tanh", &["r"], &["t"], &[]);
        b.node("Add", &["r", "r"], &["twice"], &[]);
        b.node("Mul", &["r", "r"], &["sq"], &[]);
        b.node("Add", &["a", "t"], &["at"], &[]);
        b.node("Sub", &["at", "twice"], &["d"], &[]);
        b.node("Add", &["d", "sq"], &["y"], &[]);
        dense_head(b, "y", 18, 4, 28)
    });
    let (a, n) = gradients(&m, 2, 1e-3, 106);
    assert_close(&a, &n, 2e-3);
}

// ---------------------------------------------------------------------------------------
// Matrix products

#[test]
fn gemm_with_trans_a_alpha_beta_and_a_class_bias() {
    // A = Flatten(x)^T [18, N] with transA; B [18, 4]; C [4]; alpha and beta != 1.
    let mut rng = ChaCha8Rng::seed_from_u64(110);
    let m = model([2, 3, 3], 4, |b| {
        b.node("Flatten", &["x"], &["flat"], &[]);
        b.node("Transpose", &["flat"], &["a"], &[("perm", ints(&[1, 0]))]);
        b.initializer("b", &[18, 4], &uniform(&mut rng, 72, -1.0, 1.0));
        b.initializer("c", &[4], &uniform(&mut rng, 4, -1.0, 1.0));
        b.node(
            "Gemm",
            &["a", "b", "c"],
            &["logits"],
            &[
                ("transA", Attr::Int(1)),
                ("alpha", Attr::Float(0.7)),
                ("beta", Attr::Float(1.3)),
            ],
        );
        "logits".into()
    });
    let (a, n) = gradients(&m, 3, 1e-2, 111);
    assert_close(&a, &n, 1e-3);
}

#[test]
fn gemm_gradient_into_the_second_operand() {
    // Logits^T = alpha W'^T Flatten(x)'^T + beta C: the input is B, with and without transB,
    // with W transposed by transA in the first case.
    let mut rng = ChaCha8Rng::seed_from_u64(112);
    for (trans_b, seed) in [(1, 113), (0, 114)] {
        let w = uniform(&mut rng, 72, -1.0, 1.0);
        let c = uniform(&mut rng, 4, -1.0, 1.0);
        let m = model([2, 3, 3], 4, |b| {
            b.node("Flatten", &["x"], &["flat"], &[]);
            let operand = if trans_b == 1 {
                "flat"
            } else {
                b.node(
                    "Transpose",
                    &["flat"],
                    &["flat_t"],
                    &[("perm", ints(&[1, 0]))],
                );
                "flat_t"
            };
            // transA with B transposed, plain A otherwise.
            let (w_dims, trans_a) = if trans_b == 1 {
                ([18, 4], 1)
            } else {
                ([4, 18], 0)
            };
            b.initializer("w", &w_dims, &w);
            b.initializer("c", &[4, 1], &c);
            b.node(
                "Gemm",
                &["w", operand, "c"],
                &["yt"],
                &[
                    ("transA", Attr::Int(trans_a)),
                    ("transB", Attr::Int(trans_b)),
                    ("alpha", Attr::Float(-0.6)),
                    ("beta", Attr::Float(2.0)),
                ],
            );
            b.node(
                "Transpose",
                &["yt"],
                &["logits"],
                &[("perm", ints(&[1, 0]))],
            );
            "logits".into()
        });
        let (a, n) = gradients(&m, 3, 1e-2, seed);
        assert_close(&a, &n, 1e-3);
    }
}

#[test]
fn matmul_rank_2() {
    let mut rng = ChaCha8Rng::seed_from_u64(115);
    let m = model([2, 3, 3], 4, |b| {
        b.node("Flatten", &["x"], &["flat"], &[]);
        b.initializer("w", &[18, 4], &uniform(&mut rng, 72, -1.0, 1.0));
        b.node("MatMul", &["flat", "w"], &["logits"], &[]);
        "logits".into()
    });
    let (a, n) = gradients(&m, 2, 1e-2, 116);
    assert_close(&a, &n, 1e-3);
}

#[test]
fn matmul_batched_with_broadcasting() {
    // r = Reshape(x) [N, 1, 6, 3]:
    // - x [N, 2, 3, 3] @ w [3, 4]: a rank-2 operand broadcast over two batch axes;
    // - a [2, 5, 6] @ r: r broadcast along axis 1, so its gradient is summed over it;
    // - q @ q^T with q = Reshape(x) [N, 6, 3]: both operands depend on x.
    let mut rng = ChaCha8Rng::seed_from_u64(117);
    let m = model([2, 3, 3], 4, |b| {
        b.initializer("w", &[3, 4], &uniform(&mut rng, 12, -1.0, 1.0));
        b.node("MatMul", &["x", "w"], &["p1"], &[]);
        b.constant("r.shape", &ConstTensor::i64(&[4], vec![-1, 1, 6, 3]));
        b.node("Reshape", &["x", "r.shape"], &["r"], &[]);
        b.initializer("a", &[2, 5, 6], &uniform(&mut rng, 60, -1.0, 1.0));
        b.node("MatMul", &["a", "r"], &["p2"], &[]);
        b.constant("q.shape", &ConstTensor::i64(&[3], vec![-1, 6, 3]));
        b.node("Reshape", &["x", "q.shape"], &["q"], &[]);
        b.node("Transpose", &["q"], &["qt"], &[("perm", ints(&[0, 2, 1]))]);
        b.node("MatMul", &["q", "qt"], &["p3"], &[]);
        let flat = |b: &mut GraphBuilder, t: &str, out: &str| {
            b.node("Flatten", &[t], &[out], &[]);
        };
        flat(b, "p1", "f1");
        flat(b, "p2", "f2");
        flat(b, "p3", "f3");
        b.node(
            "Concat",
            &["f1", "f2", "f3"],
            &["y"],
            &[("axis", Attr::Int(1))],
        );
        // 24 + 30 + 36 features.
        dense_head(b, "y", 90, 4, 29)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 118);
    assert_close(&a, &n, 2e-3);
}

// ---------------------------------------------------------------------------------------
// Normalisation and softmax

#[test]
fn batch_norm_scales_each_channel() {
    let mut rng = ChaCha8Rng::seed_from_u64(120);
    let m = model([3, 2, 3], 4, |b| {
        b.initializer("scale", &[3], &[0.5, -1.5, 2.5]);
        b.initializer("bias", &[3], &uniform(&mut rng, 3, -1.0, 1.0));
        b.initializer("mean", &[3], &uniform(&mut rng, 3, -0.5, 0.5));
        b.initializer("var", &[3], &[0.3, 1.0, 4.0]);
        b.node(
            "BatchNormalization",
            &["x", "scale", "bias", "mean", "var"],
            &["y"],
            &[("epsilon", Attr::Float(1e-3))],
        );
        dense_head(b, "y", 18, 4, 30)
    });
    let (a, n) = gradients(&m, 2, 1e-2, 121);
    assert_close(&a, &n, 1e-3);
}

#[test]
fn softmax_and_log_softmax_inside_the_network() {
    // Over the features of a dense layer (axis 1 of [N, 5]), and over the channels and
    // the last axis of an image tensor.
    let mut rng = ChaCha8Rng::seed_from_u64(122);
    for (op, seed) in [("Softmax", 123), ("LogSoftmax", 124)] {
        let w = uniform(&mut rng, 90, -1.0, 1.0);
        let m = model([2, 3, 3], 4, |b| {
            b.node("Flatten", &["x"], &["flat"], &[]);
            b.initializer("w", &[18, 5], &w);
            b.node("MatMul", &["flat", "w"], &["h"], &[]);
            b.node(op, &["h"], &["p"], &[("axis", Attr::Int(1))]);
            b.node(op, &["x"], &["pc"], &[("axis", Attr::Int(1))]);
            b.node(op, &["x"], &["pw"], &[("axis", Attr::Int(-1))]);
            b.node("Flatten", &["pc"], &["fc"], &[]);
            b.node("Flatten", &["pw"], &["fw"], &[]);
            b.node(
                "Concat",
                &["p", "fc", "fw"],
                &["y"],
                &[("axis", Attr::Int(1))],
            );
            dense_head(b, "y", 41, 4, 31)
        });
        let (a, n) = gradients(&m, 2, 1e-2, seed);
        assert_close(&a, &n, 2e-3);
    }
}

#[test]
fn opset_11_softmax_over_the_last_axis() {
    // Before opset 13 Softmax flattens the input from `axis` on (default 1): over the last
    // axis that equals the per-axis softmax.
    let mut rng = ChaCha8Rng::seed_from_u64(125);
    let w = uniform(&mut rng, 90, -1.0, 1.0);
    let m = model([2, 3, 3], 4, |b| {
        b.set_opset(11);
        b.node("Flatten", &["x"], &["flat"], &[]);
        b.initializer("w", &[18, 5], &w);
        b.node("MatMul", &["flat", "w"], &["h"], &[]);
        b.node("Softmax", &["h"], &["p"], &[]);
        b.node("Softmax", &["x"], &["pw"], &[("axis", Attr::Int(3))]);
        b.node("Flatten", &["pw"], &["fw"], &[]);
        b.node("Concat", &["p", "fw"], &["y"], &[("axis", Attr::Int(1))]);
        dense_head(b, "y", 23, 4, 32)
    });
    assert_eq!(m.opset(), 11);
    let (a, n) = gradients(&m, 2, 1e-2, 126);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn opset_11_softmax_over_flattened_axes_is_refused() {
    let m = model([2, 3, 3], 4, |b| {
        b.set_opset(11);
        b.node("Softmax", &["x"], &["p"], &[("axis", Attr::Int(1))]);
        dense_head(b, "p", 18, 4, 33)
    });
    let err = vjp_graph(&m).expect_err("flattening softmax");
    assert!(err.to_string().contains("softmax"), "{err}");
}

#[test]
fn gemm_bias_operand_depending_on_the_input() {
    // C = Flatten(x) · wc is [N, 1], broadcast over the classes and scaled by beta.
    let mut rng = ChaCha8Rng::seed_from_u64(130);
    let m = model([2, 3, 3], 4, |b| {
        b.node("Flatten", &["x"], &["flat"], &[]);
        b.initializer("wc", &[18, 1], &uniform(&mut rng, 18, -1.0, 1.0));
        b.node("MatMul", &["flat", "wc"], &["c"], &[]);
        b.initializer("w", &[4, 18], &uniform(&mut rng, 72, -1.0, 1.0));
        b.node(
            "Gemm",
            &["flat", "w", "c"],
            &["logits"],
            &[
                ("transB", Attr::Int(1)),
                ("alpha", Attr::Float(0.8)),
                ("beta", Attr::Float(-2.5)),
            ],
        );
        "logits".into()
    });
    let (a, n) = gradients(&m, 3, 1e-2, 131);
    assert_close(&a, &n, 1e-3);
}

#[test]
fn gemm_weight_and_bias_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(132);
    let c = uniform(&mut rng, 4, -1.0, 1.0);
    for (trans_b, seed) in [(1, 133), (0, 134)] {
        let w_dims = if trans_b == 1 { [4, 18] } else { [18, 4] };
        let w = uniform(&mut rng, 72, -1.0, 1.0);
        let build = |w: &[f32], c: &[f32]| {
            model([2, 3, 3], 4, |b| {
                b.node("Flatten", &["x"], &["flat"], &[]);
                b.initializer("w", &w_dims, w);
                b.initializer("c", &[4], c);
                b.node(
                    "Gemm",
                    &["flat", "w", "c"],
                    &["logits"],
                    &[
                        ("transB", Attr::Int(trans_b)),
                        ("alpha", Attr::Float(0.7)),
                        ("beta", Attr::Float(1.3)),
                    ],
                );
                "logits".into()
            })
        };
        let (a, n) = param_gradients(
            &|w| build(w, &c),
            "w",
            &w,
            [1, 1, w_dims[0], w_dims[1]],
            3,
            1e-2,
            seed,
        );
        assert_close(&a, &n, 1e-3);
        let (a, n) = param_gradients(&|c| build(&w, c), "c", &c, [1, 4, 1, 1], 3, 1e-2, seed);
        assert_close(&a, &n, 1e-3);
    }
}

#[test]
fn batch_norm_scale_and_bias_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(135);
    let mean = uniform(&mut rng, 3, -0.5, 0.5);
    let scale = [0.5, -1.5, 2.5];
    let bias = uniform(&mut rng, 3, -1.0, 1.0);
    let build = |scale: &[f32], bias: &[f32]| {
        model([3, 2, 3], 4, |b| {
            b.initializer("scale", &[3], scale);
            b.initializer("bias", &[3], bias);
            b.initializer("mean", &[3], &mean);
            b.initializer("var", &[3], &[0.3, 1.0, 4.0]);
            b.node(
                "BatchNormalization",
                &["x", "scale", "bias", "mean", "var"],
                &["y"],
                &[],
            );
            dense_head(b, "y", 18, 4, 34)
        })
    };
    let (a, n) = param_gradients(
        &|s| build(s, &bias),
        "scale",
        &scale,
        [1, 3, 1, 1],
        3,
        1e-2,
        136,
    );
    assert_close(&a, &n, 1e-3);
    let (a, n) = param_gradients(
        &|b| build(&scale, b),
        "bias",
        &bias,
        [1, 3, 1, 1],
        3,
        1e-2,
        137,
    );
    assert_close(&a, &n, 1e-3);
}

#[test]
fn sqrt_and_reciprocal_of_positive_values() {
    let m = model([2, 3, 3], 4, |b| {
        b.node("Mul", &["x", "x"], &["sq"], &[]);
        b.scalar_constant("half", 0.5);
        b.node("Add", &["sq", "half"], &["pos"], &[]);
        b.node("Sqrt", &["pos"], &["root"], &[]);
        b.node("Reciprocal", &["root"], &["inv"], &[]);
        dense_head(b, "inv", 18, 4, 7)
    });
    let (a, n) = gradients(&m, 3, 1e-3, 2);
    assert_close(&a, &n, 2e-3);
}

/// Batch statistics couple the samples, and the finite differences here perturb every
/// sample at once, so the batch-axis case runs on one sample.
#[test]
fn reduce_mean_over_batch_and_space_keeping_axes() {
    let m = model([2, 3, 3], 4, |b| {
        b.node(
            "ReduceMean",
            &["x"],
            &["mean"],
            &[
                ("axes", Attr::Ints(vec![0, 2, 3])),
                ("keepdims", Attr::Int(1)),
            ],
        );
        b.node("Sub", &["x", "mean"], &["centred"], &[]);
        b.node("Mul", &["centred", "centred"], &["sq"], &[]);
        dense_head(b, "sq", 18, 4, 7)
    });
    let (a, n) = gradients(&m, 1, 1e-3, 3);
    assert_close(&a, &n, 2e-3);
}

#[test]
fn reduce_mean_over_negative_axes_dropping_them() {
    let m = model([2, 3, 3], 4, |b| {
        b.node(
            "ReduceMean",
            &["x"],
            &["rows"],
            &[("axes", Attr::Ints(vec![-1])), ("keepdims", Attr::Int(0))],
        );
        b.node("Mul", &["rows", "rows"], &["sq"], &[]);
        dense_head(b, "sq", 6, 4, 7)
    });
    let (a, n) = gradients(&m, 3, 1e-3, 4);
    assert_close(&a, &n, 2e-3);
}
