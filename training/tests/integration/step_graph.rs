//! Training-step graphs on ONNX Runtime: the loss gradients against closed forms, parameter
//! gradients of every layer kind against finite differences, the optimisers against
//! hand-computed updates, reproducible dropout, and learning on the digits.

use std::collections::HashMap;

use ndarray::{Array2, Array4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robustaudit_graph::arch::{forward_graph, ArchSpec};
use robustaudit_graph::grad::{
    gradient_name, next_name, training_graph, Loss, Optimizer, StateRole, TrainingGraph, CORRECT,
    LABELS, LEARNING_RATE, LOSS, SOFT_LABELS, TEMPERATURE,
};
use robustaudit_graph::onnx::{Attr, GraphBuilder, OnnxModel};
use robustaudit_train::runtime::{self, Device};

/// A named host tensor fed to or read from a plain ONNX Runtime run.
type Named = (String, Vec<usize>, Vec<f32>);

/// Runs `graph` once with `inputs` and returns every output.
fn run(graph: &TrainingGraph, inputs: &[Named]) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let name = graph.model.path().display().to_string();
    let mut session =
        runtime::session(&graph.model.to_bytes(), Device::Cpu, 1, &name).expect("ort session");
    let values: Vec<(String, ort::value::DynValue)> = inputs
        .iter()
        .map(|(n, dims, v)| {
            let t = ort::value::Tensor::from_array((dims.clone(), v.clone().into_boxed_slice()))
                .expect("tensor");
            (n.clone(), t.into_dyn())
        })
        .collect();
    let outputs = session.run(values).expect("ort run");
    outputs
        .iter()
        .map(|(n, v)| {
            let (shape, data) = v.try_extract_tensor::<f32>().expect("f32 output");
            let dims = shape.iter().map(|&d| d as usize).collect();
            (n.to_string(), (dims, data.to_vec()))
        })
        .collect()
}

/// The inputs of one step: images, one-hot labels, soft labels when the loss reads them,
/// temperature, learning rate, masks of ones scaled like kept units, and the initial state.
fn step_inputs(
    graph: &TrainingGraph,
    images: &Array4<f32>,
    labels: &[usize],
    soft: Option<&Array2<f32>>,
    temperature: f32,
    learning_rate: f32,
    mask_seed: u64,
) -> Vec<Named> {
    let n = images.shape()[0];
    let classes = graph.classes;
    let mut one_hot = vec![0.0; n * classes];
    for (i, &l) in labels.iter().enumerate() {
        one_hot[i * classes + l] = 1.0;
    }
    let mut inputs = vec![
        (
            graph.image.clone(),
            images.shape().to_vec(),
            images.iter().copied().collect(),
        ),
        (LABELS.to_string(), vec![n, classes], one_hot),
        (TEMPERATURE.to_string(), vec![], vec![temperature]),
        (LEARNING_RATE.to_string(), vec![], vec![learning_rate]),
    ];
    if let Some(soft) = soft {
        inputs.push((
            SOFT_LABELS.to_string(),
            vec![n, classes],
            soft.iter().copied().collect(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(mask_seed);
    for mask in &graph.masks {
        let mut dims = vec![n];
        dims.extend(&mask.sample_dims);
        let len = dims.iter().product();
        let keep = 1.0 - mask.rate;
        let values = (0..len)
            .map(|_| {
                if rng.gen::<f32>() < keep {
                    1.0 / keep
                } else {
                    0.0
                }
            })
            .collect();
        inputs.push((mask.name.clone(), dims, values));
    }
    for s in &graph.state {
        inputs.push((s.name.clone(), s.dims.clone(), s.initial.clone()));
    }
    inputs
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(lo..hi)).collect()
}

/// Random probability rows `(n, classes)`.
fn random_distributions(rng: &mut ChaCha8Rng, n: usize, classes: usize) -> Array2<f32> {
    let mut p =
        Array2::from_shape_vec((n, classes), uniform(rng, n * classes, 0.0, 1.0)).expect("shape");
    for mut row in p.rows_mut() {
        let total: f32 = row.sum();
        row.mapv_inplace(|v| v / total);
    }
    p
}

/// `logits = flatten(x) + bias` on `[n, 1, 1, classes]` images: the image gradient of the
/// training graph is the loss's gradient with respect to the logits.
fn logits_as_input(classes: usize) -> OnnxModel {
    let mut b = GraphBuilder::new("logits-as-input");
    b.input("x", &[None, Some(1), Some(1), Some(classes)]);
    b.initializer("bias", &[classes], &vec![0.0; classes]);
    b.node("Flatten", &["x"], &["flat"], &[("axis", Attr::Int(1))]);
    b.node("Add", &["flat", "bias"], &["logits"], &[]);
    b.output("logits", &[None, Some(classes)]);
    b.finish("logits-as-input.onnx".into()).expect("model")
}

fn softmax_rows(z: &Array2<f32>, t: f32) -> Array2<f32> {
    let mut p = z.mapv(|v| v / t);
    for mut row in p.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let total: f32 = row.sum();
        row.mapv_inplace(|v| v / total);
    }
    p
}

#[test]
fn soft_label_gradient_wrt_logits_is_softmax_minus_target_over_t_batch() {
    let (n, classes, t) = (5, 10, 20.0);
    let model = logits_as_input(classes);
    let graph = training_graph(&model, Loss::SoftLabels, &Optimizer::PAPER_SGD, true)
        .expect("training graph");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let z = Array2::from_shape_vec((n, classes), uniform(&mut rng, n * classes, -30.0, 30.0))
        .expect("shape");
    let p = random_distributions(&mut rng, n, classes);
    let images = z
        .clone()
        .into_shape_with_order((n, 1, 1, classes))
        .expect("shape");
    let labels = vec![0; n];
    let out = run(
        &graph,
        &step_inputs(&graph, &images, &labels, Some(&p), t, 0.0, 0),
    );
    let q = softmax_rows(&z, t);
    let expected = (&q - &p) / (t * n as f32);
    let (_, grad) = &out[&gradient_name("x")];
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 1e-4, "the expected gradient is ~0");
    for (a, e) in grad.iter().zip(expected.iter()) {
        assert!((a - e).abs() <= 1e-6 + 1e-4 * scale, "gradient {a} vs {e}");
    }
    let expected_loss: f32 = -(0..n)
        .map(|i| {
            (0..classes)
                .map(|k| p[(i, k)] * q[(i, k)].ln())
                .sum::<f32>()
        })
        .sum::<f32>()
        / n as f32;
    let loss = out[LOSS].1[0];
    assert!(
        (loss - expected_loss).abs() <= 1e-4 * expected_loss.abs(),
        "loss {loss} vs {expected_loss}"
    );
}

/// The loss output of a graph without updates (`lr = 0`), as a function of its inputs.
fn loss_at(graph: &TrainingGraph, inputs: &[Named]) -> f64 {
    run(graph, inputs)[LOSS].1[0] as f64
}

/// Central differences of the loss output with respect to `coords` of input `name`.
fn numeric_gradient(
    graph: &TrainingGraph,
    inputs: &[Named],
    name: &str,
    coords: &[usize],
    h: f32,
) -> Vec<f32> {
    let slot = inputs
        .iter()
        .position(|(n, _, _)| n == name)
        .expect("input");
    coords
        .iter()
        .map(|&j| {
            let mut plus = inputs.to_vec();
            plus[slot].2[j] += h;
            let mut minus = inputs.to_vec();
            minus[slot].2[j] -= h;
            ((loss_at(graph, &plus) - loss_at(graph, &minus)) / (2.0 * h as f64)) as f32
        })
        .collect()
}

#[test]
fn every_loss_gradient_wrt_logits_matches_finite_differences() {
    let (n, classes) = (4, 6);
    let model = logits_as_input(classes);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let z = Array2::from_shape_vec((n, classes), uniform(&mut rng, n * classes, -3.0, 3.0))
        .expect("shape");
    let images = z.into_shape_with_order((n, 1, 1, classes)).expect("shape");
    let labels: Vec<usize> = (0..n).map(|i| i % classes).collect();
    let p = random_distributions(&mut rng, n, classes);
    for (loss, t) in [
        (Loss::HardLabels, 1.0),
        (Loss::HardLabels, 5.0),
        (Loss::SoftLabels, 3.0),
        (Loss::Distillation { lambda: 0.7 }, 4.0),
    ] {
        let graph = training_graph(&model, loss, &Optimizer::PAPER_SGD, true).expect("graph");
        let soft = loss.uses_soft_labels().then_some(&p);
        let inputs = step_inputs(&graph, &images, &labels, soft, t, 0.0, 0);
        let analytic = &run(&graph, &inputs)[&gradient_name("x")].1;
        let coords: Vec<usize> = (0..n * classes).collect();
        let numeric = numeric_gradient(&graph, &inputs, "x", &coords, 1e-2);
        let scale = numeric.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 1e-3, "{loss:?}: the gradient is ~0");
        for (a, e) in analytic.iter().zip(&numeric) {
            assert!(
                (a - e).abs() <= 2e-3 * scale,
                "{loss:?} at T={t}: analytic {a} vs numeric {e}"
            );
        }
    }
}

/// A spec with every layer kind: conv, relu, batchnorm, maxpool, flatten, dense, dropout.
/// (Batch norm follows the relu: right after a convolution it would cancel the bias, whose
/// gradient would then be exactly zero.)
const EVERY_LAYER: &str = r#"
name = "every-layer"
input = [1, 8, 8]
classes = 5

[[layers]]
kind = "conv"
filters = 4
kernel = 3
padding = 1

[[layers]]
kind = "relu"

[[layers]]
kind = "batchnorm"

[[layers]]
kind = "maxpool"
kernel = 2

[[layers]]
kind = "conv"
filters = 3
kernel = 2
stride = 2

[[layers]]
kind = "flatten"

[[layers]]
kind = "dense"
units = 8

[[layers]]
kind = "relu"

[[layers]]
kind = "dropout"
rate = 0.3

[[layers]]
kind = "dense"
units = 5
"#;

#[test]
fn parameter_gradients_of_every_layer_kind_match_finite_differences() {
    let spec = ArchSpec::from_toml(EVERY_LAYER, "every-layer.toml".as_ref()).expect("spec");
    let model = forward_graph(&spec, 3, "every-layer.onnx".into()).expect("model");
    let graph = training_graph(&model, Loss::HardLabels, &Optimizer::PAPER_SGD, true)
        .expect("training graph");
    let kinds: Vec<&str> = graph.parameters().map(|p| p.name.as_str()).collect();
    assert!(
        kinds.iter().any(|k| k.ends_with(".scale")) && kinds.iter().any(|k| k.ends_with(".shift")),
        "batch norm's scale and shift are trained: {kinds:?}"
    );
    assert_eq!(graph.masks.len(), 1, "one dropout mask");
    let n = 6;
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let images =
        Array4::from_shape_vec((n, 1, 8, 8), uniform(&mut rng, n * 64, -0.5, 0.5)).expect("shape");
    let labels: Vec<usize> = (0..n).map(|i| i % 5).collect();
    let inputs = step_inputs(&graph, &images, &labels, None, 2.0, 0.0, 5);
    let out = run(&graph, &inputs);
    for p in graph.parameters() {
        let analytic = &out[&gradient_name(&p.name)].1;
        let len = analytic.len();
        let coords: Vec<usize> = (0..len.min(6)).map(|_| rng.gen_range(0..len)).collect();
        let numeric = numeric_gradient(&graph, &inputs, &p.name, &coords, 2e-3);
        let scale = analytic.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 1e-5, "{}: the gradient is all ~0", p.name);
        for (&j, e) in coords.iter().zip(&numeric) {
            let a = analytic[j];
            assert!(
                (a - e).abs() <= 2e-2 * scale + 2e-4,
                "{}[{j}]: analytic {a} vs numeric {e} (scale {scale})",
                p.name
            );
        }
    }
    // Running statistics move towards the batch's statistics.
    let mean_name = graph
        .state
        .iter()
        .find(|s| s.role == StateRole::RunningStatistic)
        .map(|s| s.name.clone())
        .expect("a running statistic");
    let updated = &out[&next_name(&mean_name)].1;
    assert!(updated.iter().any(|&v| v != 0.0), "running mean updated");
    assert!(out[CORRECT].1[0] <= n as f32);
}

/// `flatten` then one dense layer, 3 inputs to 2 classes, with seeded weights.
const TINY: &str = r#"
name = "tiny"
input = [1, 1, 3]
classes = 2

[[layers]]
kind = "flatten"

[[layers]]
kind = "dense"
units = 2
"#;

/// Replaces input `name`'s values.
fn set(inputs: &mut [Named], name: &str, values: Vec<f32>) {
    let slot = inputs
        .iter_mut()
        .find(|(n, _, _)| n == name)
        .expect("input");
    assert_eq!(slot.2.len(), values.len());
    slot.2 = values;
}

fn get<'a>(inputs: &'a [Named], name: &str) -> &'a [f32] {
    &inputs.iter().find(|(n, _, _)| n == name).expect("input").2
}

/// The tiny network's hand-computed gradients `(dW, db)` of the hard-label loss at `t`.
fn tiny_gradients(
    w: &[f32],
    b: &[f32],
    x: &Array2<f32>,
    labels: &[usize],
    t: f32,
) -> (Vec<f32>, Vec<f32>) {
    let n = x.nrows();
    let z = Array2::from_shape_fn((n, 2), |(i, k)| {
        b[k] + (0..3).map(|j| w[k * 3 + j] * x[(i, j)]).sum::<f32>()
    });
    let q = softmax_rows(&z, t);
    let mut dw = vec![0.0; 6];
    let mut db = vec![0.0; 2];
    for i in 0..n {
        for k in 0..2 {
            let target = if labels[i] == k { 1.0 } else { 0.0 };
            let dz = (q[(i, k)] - target) / (t * n as f32);
            db[k] += dz;
            for j in 0..3 {
                dw[k * 3 + j] += dz * x[(i, j)];
            }
        }
    }
    (dw, db)
}

fn assert_all_close(what: &str, actual: &[f32], expected: &[f32], tolerance: f32) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a - e).abs() <= tolerance * (1.0 + e.abs()),
            "{what}: {a} vs hand-computed {e}"
        );
    }
}

/// Runs one step of the tiny network with `optimizer` from a state with a non-zero step
/// count and non-zero slots; returns the hand-computed gradients, the inputs and outputs.
#[allow(clippy::type_complexity)]
fn tiny_step(
    optimizer: Optimizer,
    slots: &[(&str, f32)],
) -> (
    (Vec<f32>, Vec<f32>),
    Vec<Named>,
    HashMap<String, (Vec<usize>, Vec<f32>)>,
) {
    let spec = ArchSpec::from_toml(TINY, "tiny.toml".as_ref()).expect("spec");
    let model = forward_graph(&spec, 8, "tiny.onnx".into()).expect("model");
    let graph = training_graph(&model, Loss::HardLabels, &optimizer, true).expect("graph");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let n = 4;
    let x = Array2::from_shape_vec((n, 3), uniform(&mut rng, n * 3, -1.0, 1.0)).expect("shape");
    let images = x
        .clone()
        .into_shape_with_order((n, 1, 1, 3))
        .expect("shape");
    let labels = [0, 1, 1, 0];
    let t = 2.0;
    let mut inputs = step_inputs(&graph, &images, &labels, None, t, 0.05, 0);
    set(&mut inputs, robustaudit_graph::grad::STEP, vec![3.0]);
    set(&mut inputs, "layer1.bias", vec![0.3, -0.2]);
    for (prefix, scale) in slots {
        for p in ["layer1.weight", "layer1.bias"] {
            let name = format!("{prefix}.{p}");
            let len = get(&inputs, &name).len();
            set(&mut inputs, &name, uniform(&mut rng, len, 0.0, *scale));
        }
    }
    let out = run(&graph, &inputs);
    let w = get(&inputs, "layer1.weight").to_vec();
    let b = get(&inputs, "layer1.bias").to_vec();
    let grads = tiny_gradients(&w, &b, &x, &labels, t);
    assert_all_close(
        "dW",
        &out[&gradient_name("layer1.weight")].1,
        &grads.0,
        1e-5,
    );
    assert_all_close("db", &out[&gradient_name("layer1.bias")].1, &grads.1, 1e-5);
    assert_eq!(out[&next_name(robustaudit_graph::grad::STEP)].1, vec![4.0]);
    (grads, inputs, out)
}

#[test]
fn one_sgd_nesterov_step_matches_the_hand_computed_update() {
    let (momentum, decay, lr, wd) = (0.9f32, 0.1f32, 0.05f32, 0.01f32);
    let optimizer = Optimizer::Sgd {
        momentum,
        nesterov: true,
        weight_decay: wd,
        lr_decay: decay,
    };
    let ((dw, db), inputs, out) = tiny_step(optimizer, &[("sgd.velocity", 0.1)]);
    let lr_t = lr / (1.0 + decay * 3.0);
    for (p, g) in [("layer1.weight", dw), ("layer1.bias", db)] {
        let param = get(&inputs, p);
        let velocity = get(&inputs, &format!("sgd.velocity.{p}"));
        let g: Vec<f32> = g.iter().zip(param).map(|(g, w)| g + wd * w).collect();
        let v: Vec<f32> = velocity
            .iter()
            .zip(&g)
            .map(|(v, g)| momentum * v - lr_t * g)
            .collect();
        let next: Vec<f32> = param
            .iter()
            .zip(&v)
            .zip(&g)
            .map(|((w, v), g)| w + momentum * v - lr_t * g)
            .collect();
        assert_all_close(p, &out[&next_name(p)].1, &next, 1e-6);
        assert_all_close(
            "velocity",
            &out[&next_name(&format!("sgd.velocity.{p}"))].1,
            &v,
            1e-6,
        );
    }
}

#[test]
fn one_adam_step_matches_the_hand_computed_update() {
    let (b1, b2, eps, lr) = (0.8f32, 0.95f32, 1e-7f32, 0.05f32);
    let optimizer = Optimizer::Adam {
        beta1: b1,
        beta2: b2,
        epsilon: eps,
        weight_decay: 0.0,
        lr_decay: 0.0,
    };
    let ((dw, db), inputs, out) = tiny_step(optimizer, &[("adam.m", 0.05), ("adam.v", 0.01)]);
    let t = 4.0f32; // three steps taken, this is the fourth
    for (p, g) in [("layer1.weight", dw), ("layer1.bias", db)] {
        let param = get(&inputs, p);
        let m0 = get(&inputs, &format!("adam.m.{p}"));
        let v0 = get(&inputs, &format!("adam.v.{p}"));
        let mut expected = Vec::new();
        for i in 0..param.len() {
            let m = b1 * m0[i] + (1.0 - b1) * g[i];
            let v = b2 * v0[i] + (1.0 - b2) * g[i] * g[i];
            let m_hat = m / (1.0 - b1.powf(t));
            let v_hat = v / (1.0 - b2.powf(t));
            // The graph folds the bias corrections into the learning rate, which moves
            // epsilon by the factor sqrt(1 - b2^t): negligible next to sqrt(v).
            expected.push(param[i] - lr * m_hat / (v_hat.sqrt() + eps));
        }
        assert_all_close(p, &out[&next_name(p)].1, &expected, 1e-5);
    }
}
