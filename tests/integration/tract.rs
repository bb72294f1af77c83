//! Running generated networks with tract on real images.

use std::path::PathBuf;

use ndarray::{s, Axis};
use robustaudit::data::{load, Split};
use robustaudit::model::{Classifier, TractClassifier};

use super::graph;

#[test]
fn batching_does_not_change_mnist_logits() {
    let model = graph("mnist-paper", 1, PathBuf::from("mnist-paper.onnx"));
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
    let model = graph("digits-small", 1, PathBuf::from("digits-small.onnx"));
    let classifier = TractClassifier::new(model).expect("compile");
    let set = load("mnist", Split::Test).expect("mnist").subset(2);
    let err = classifier.logits(set.images.view()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "wrong input shape for digits-small.onnx: expected [n, 1, 8, 8], got [2, 1, 28, 28]"
    );
    assert_eq!(err.exit_code(), 4);
}
