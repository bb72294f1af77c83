//! Running generated networks with tract on real images.

use std::path::PathBuf;

use ndarray::{s, Axis};
use robustaudit::data::{load, Split};
use robustaudit::model::{Classifier, TractClassifier};

use super::network;

#[test]
fn batching_does_not_change_mnist_logits() {
    let model = network("mnist-paper", 1, PathBuf::from("mnist-paper.onnx"));
    let classifier = TractClassifier::new(model).expect("compile");
    assert_eq!(classifier.input_chw(), [1, 28, 28]);
    assert_eq!(classifier.classes(), 10);
    let set = load("mnist", Split::Test).expect("mnist").subset(64);
    let batch = classifier.logits(set.images.view()).expect("batch run");
    assert_eq!(batch.shape(), &[64, 10]);
    assert!(batch.iter().all(|v| v.is_finite()));
    // Random weights still separate the images: the logits differ between samples.
    assert_ne!(batch.row(0), batch.row(1));
    assert!(batch.iter().any(|&v| v.abs() > 1e-3), "{batch}");
    let mut worst = 0f32;
    for (i, image) in set.images.axis_iter(Axis(0)).enumerate() {
        let one = classifier
            .logits(image.insert_axis(Axis(0)))
            .expect("single run");
        assert_eq!(one.shape(), &[1, 10]);
        for (a, b) in one.row(0).iter().zip(batch.row(i)) {
            worst = worst.max((a - b).abs());
        }
    }
    assert!(worst <= 1e-5, "batched and single logits differ by {worst}");
    let predictions = classifier
        .predict(set.images.slice(s![..8, .., .., ..]))
        .expect("predict");
    assert_eq!(predictions.len(), 8);
    for (row, &class) in batch.rows().into_iter().zip(&predictions) {
        let best = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(row[class], best);
    }
}

#[test]
fn wrong_image_shape_is_an_input_shape_error() {
    let model = network("digits-small", 1, PathBuf::from("digits-small.onnx"));
    let classifier = TractClassifier::new(model).expect("compile");
    let set = load("mnist", Split::Test).expect("mnist").subset(2);
    let err = classifier.logits(set.images.view()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "wrong input shape for digits-small.onnx: expected [n, 1, 8, 8], got [2, 1, 28, 28]"
    );
    assert_eq!(err.exit_code(), robustaudit::exit_code::Exit::Model);
}

#[test]
fn a_model_without_backward_rules_falls_back_to_finite_differences_and_says_why() {
    use robustaudit::model::{GradientMethod, GradientSource};
    use robustaudit_graph::onnx::{Attr, GraphBuilder};

    let dir = tempfile::tempdir().expect("tempdir");
    let sin = dir.path().join("sin.onnx");
    let mut b = GraphBuilder::new("sin");
    b.input("x", &[None, Some(1), Some(2), Some(2)]);
    b.node("Sin", &["x"], &["s"], &[]);
    b.node("Flatten", &["s"], &["logits"], &[("axis", Attr::Int(1))]);
    b.output("logits", &[None, Some(4)]);
    b.finish(sin.clone())
        .expect("valid")
        .write(&sin)
        .expect("write");
    let source = GradientSource::open(&sin, GradientMethod::Auto).expect("forward model loads");
    assert_eq!(
        source.describe(),
        format!(
            "finite differences: no gradient rule for op Sin in {}",
            sin.display()
        )
    );
    // d/dx of sum_k seed_k sin(x_k) is seed_k cos(x_k): the fallback really differentiates.
    let x = ndarray::Array4::from_shape_vec((1, 1, 2, 2), vec![0.1, -0.2, 0.3, 0.4]).expect("x");
    let seed = ndarray::Array2::from_shape_vec((1, 4), vec![1.0, 2.0, -1.0, 0.5]).expect("seed");
    let (_, grad) = source.model().vjp(x.view(), seed.view()).expect("vjp");
    for ((g, xv), s) in grad.iter().zip(x.iter()).zip(seed.iter()) {
        assert!((g - s * xv.cos()).abs() < 1e-3, "{g} vs {}", s * xv.cos());
    }

    let dense = dir.path().join("digits.onnx");
    network("digits-small", 1, dense.clone())
        .write(&dense)
        .expect("write");
    assert_eq!(
        GradientSource::open(&dense, GradientMethod::Auto)
            .expect("loads")
            .describe(),
        "exact"
    );
}
