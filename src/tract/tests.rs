//! Plan tests on graphs built here: logits against closed forms, the logits cut, fixed
//! batches, truncated models, and plans per batch size against the symbolic plan.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array4};
use prost::Message;
use robustaudit_graph::onnx::tract::image_fact;
use robustaudit_graph::onnx::{OnnxError, OnnxModel};
use tract_onnx::pb::{ModelProto, NodeProto};

use super::*;
use robustaudit_graph::fixtures::{linear_batch, linear_logits, linear_network};

fn write_proto(dir: &Path, name: &str, proto: &ModelProto) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, proto.encode_to_vec()).expect("write model");
    path
}

#[test]
fn tract_plan_computes_the_closed_form_for_any_batch_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = linear_network(&dir.path().join("m.onnx"), false);
    let plan = TractPlan::new(&model).expect("plan");
    let x = linear_batch();
    let logits = plan.logits(x.view()).expect("run");
    let expected = linear_logits(&x);
    assert_eq!(logits.shape(), &[3, 3]);
    for (a, b) in logits.iter().zip(expected.iter()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    let one = plan
        .logits(x.slice(ndarray::s![1..2, .., .., ..]))
        .expect("run one");
    assert_eq!(one.row(0), logits.row(1));
}

#[test]
fn trailing_softmax_is_bypassed_so_plans_return_logits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = linear_network(&dir.path().join("m.onnx"), true);
    let signature = model.signature().expect("signature");
    assert_eq!(signature.output, "probs");
    assert_eq!(signature.logits, "z");
    assert_eq!(signature.bypassed.as_deref(), Some("Softmax"));
    let x = linear_batch();
    let logits = TractPlan::new(&model)
        .expect("plan")
        .logits(x.view())
        .expect("run");
    let expected = linear_logits(&x);
    for (a, b) in logits.iter().zip(expected.iter()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}: softmax was not bypassed");
    }
}

#[test]
fn a_fixed_batch_model_is_run_in_padded_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut proto = linear_network(&dir.path().join("m.onnx"), false)
        .proto()
        .clone();
    let graph = proto.graph.as_mut().expect("graph");
    // An exporter idiom that pins the batch: Reshape to the constant shape [2, 2].
    graph.node[0] = NodeProto {
        op_type: "Reshape".into(),
        input: vec!["x".into(), "shape".into()],
        output: vec!["flat".into()],
        ..Default::default()
    };
    graph.initializer.push(tract_onnx::pb::TensorProto {
        name: "shape".into(),
        dims: vec![2],
        data_type: tract_onnx::pb::tensor_proto::DataType::Int64 as i32,
        int64_data: vec![2, 2],
        ..Default::default()
    });
    if let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) = graph.input[0]
        .r#type
        .as_mut()
        .and_then(|t| t.value.as_mut())
    {
        if let Some(shape) = t.shape.as_mut() {
            shape.dim[0].value =
                Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(2));
        }
    }
    let path = write_proto(dir.path(), "fixed.onnx", &proto);
    let model = OnnxModel::open(&path).expect("open");
    assert_eq!(
        model.signature().expect("signature").input.fixed_batch,
        Some(2)
    );
    let x = linear_batch();
    let logits = TractPlan::new(&model)
        .expect("plan")
        .logits(x.view())
        .expect("run");
    let expected = linear_logits(&x);
    assert_eq!(logits.shape(), &[3, 3]);
    for (a, b) in logits.iter().zip(expected.iter()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn wrong_input_shape_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = TractPlan::new(&linear_network(&dir.path().join("m.onnx"), false)).expect("plan");
    let err = plan
        .logits(Array4::zeros((2, 1, 2, 2)).view())
        .expect_err("must fail");
    assert!(
        matches!(err, OnnxError::InputShape { ref got, .. } if got == &[2, 1, 2, 2]),
        "{err}"
    );
}

#[test]
fn initializers_listed_as_graph_inputs_are_not_taken_for_the_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut proto = linear_network(&dir.path().join("m.onnx"), false)
        .proto()
        .clone();
    let graph = proto.graph.as_mut().expect("graph");
    let mut w_input = graph.input[0].clone();
    w_input.name = "w".into();
    graph.input.insert(0, w_input);
    let model = OnnxModel::open(&write_proto(dir.path(), "i.onnx", &proto)).expect("open");
    assert_eq!(model.signature().expect("signature").input.name, "x");
    let logits = TractPlan::new(&model)
        .expect("plan")
        .logits(linear_batch().view())
        .expect("run");
    assert_eq!(logits.shape(), &[3, 3]);
}

#[test]
fn every_truncation_of_a_model_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = robustaudit_graph::fixtures::network("digits-small", 3, dir.path().join("d.onnx"));
    let mut proto = model.proto().clone();
    proto.metadata_props.clear();
    let bytes = proto.encode_to_vec();
    let path = dir.path().join("cut.onnx");
    for len in (0..bytes.len()).step_by(61).chain([bytes.len() - 1]) {
        std::fs::write(&path, &bytes[..len]).expect("write");
        let outcome = OnnxModel::open(&path).and_then(|m| TractPlan::new(&m).map(|_| ()));
        assert!(
            outcome.is_err(),
            "a model cut to {len} of {} bytes was accepted",
            bytes.len()
        );
    }
}

/// The digits network of `models/arch/digits-small.toml` with seeded weights, or the same
/// network with its convolutions taken out (a dense network, on which tract's plans for one
/// image gather nothing).
fn digits_network(dense: bool) -> OnnxModel {
    let path = robustaudit_graph::fixtures::spec_path("digits-small");
    let text = std::fs::read_to_string(&path).expect("spec");
    let text = if dense {
        text.split("[[layers]]")
            .filter(|layer| !layer.contains("\"conv\"") && !layer.contains("\"maxpool\""))
            .collect::<Vec<_>>()
            .join("[[layers]]")
    } else {
        text
    };
    let spec = robustaudit_graph::arch::ArchSpec::from_toml(&text, &path).expect("spec");
    robustaudit_graph::arch::forward_graph(&spec, 3, PathBuf::from("digits.onnx"))
        .expect("forward graph")
}

/// Whether `a` and `b` agree within `1e-5` of the largest magnitude in `a`.
fn agree<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>, b: &ndarray::Array<f32, D>) -> bool {
    let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    a.shape() == b.shape() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5 * scale)
}

#[test]
fn concrete_batch_plans_give_the_symbolic_plans_results() {
    use rand::{Rng, SeedableRng};
    for dense in [true, false] {
        let model = digits_network(dense);
        let vjp = robustaudit_graph::grad::vjp_graph(&model).expect("vjp graph");
        let forward = TractPlan::new(&model).expect("forward plan");
        let symbolic = VjpPlan::new(&vjp, forward.input(), 10).expect("symbolic");
        let concrete = VjpPlan::new(&vjp, forward.input(), 10)
            .expect("concrete")
            .with_concrete_batches(4);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for n in [1, 3, 4, 5, 3] {
            if n > 4 || !dense {
                // Until a batch above the limit, or ever where rows run one at a time, the
                // symbolic plan was never needed.
                assert_eq!(concrete.symbolic_compiled(), dense && n > 5, "n {n}");
            }
            let x = Array4::from_shape_simple_fn((n, 1, 8, 8), || rng.gen_range(-0.5f32..0.5));
            let seed = Array2::from_shape_simple_fn((n, 10), || rng.gen_range(-1f32..1.0));
            let (logits_s, grad_s) = symbolic.run(x.view(), seed.view()).expect("symbolic run");
            let (logits_c, grad_c) = concrete.run(x.view(), seed.view()).expect("concrete run");
            assert!(agree(&grad_s, &grad_c), "dense {dense}, n {n}");
            assert!(agree(&logits_s, &logits_c), "dense {dense}, n {n}");
        }
        // Batches above the limit run on the symbolic plan, the others on a plan compiled
        // once for their size; or every batch runs row by row on the plan for one image.
        assert_eq!(concrete.runs_row_by_row(), !dense);
        if dense {
            assert_eq!(concrete.concrete_sizes(), [1, 3, 4]);
            assert!(concrete.symbolic_compiled());
        } else {
            assert_eq!(concrete.concrete_sizes(), [1]);
            assert!(!concrete.symbolic_compiled());
        }
        assert!(symbolic.concrete_sizes().is_empty());
        assert!(!symbolic.runs_row_by_row());
    }
}

#[test]
fn convolutional_networks_run_row_by_row_with_the_batched_plans_results() {
    use rand::{Rng, SeedableRng};
    use tract_onnx::prelude::*;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    for dense in [true, false] {
        let model = digits_network(dense);
        let plan = TractPlan::new(&model).expect("plan");
        // tract gathers the convolutions' patches lazily only in a plan for one image.
        assert_eq!(plan.runs_row_by_row(), !dense, "dense {dense}");
        let x = Array4::from_shape_simple_fn((7, 1, 8, 8), || rng.gen_range(-0.5f32..0.5));
        let logits = plan.logits(x.view()).expect("logits");
        // The batched plan's logits of the same images, as its own concrete plan computes.
        let (inference, _) =
            super::tract_plan::parse_logits_graph(&model, &model.signature().expect("signature"))
                .expect("parse");
        let batched = inference
            .with_input_fact(0, image_fact(plan.input(), 7.to_dim()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .expect("batched plan");
        assert!(!super::tract_model::gathers_patches_lazily(&batched));
        let out = batched
            .run(tvec!(Tensor::from(x.clone()).into()))
            .expect("run");
        let want = out[0]
            .to_plain_array_view::<f32>()
            .expect("f32")
            .into_dimensionality::<ndarray::Ix2>()
            .expect("2-d")
            .to_owned();
        assert!(agree(&want, &logits), "dense {dense}: {want} vs {logits}");
        // Each row alone gives the same logits, bit for bit.
        for (i, row) in x.outer_iter().enumerate() {
            let one = plan.logits(row.insert_axis(ndarray::Axis(0))).expect("one");
            assert_eq!(one.row(0), logits.row(i), "dense {dense}, row {i}");
        }
    }
}
