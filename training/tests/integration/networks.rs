//! The digits network the auditor's tests audit: its committed copy
//! (`tests/fixtures/trained/digits-small.onnx`) must be what this trainer trains.

use std::path::Path;

use robustaudit_graph::onnx::OnnxModel;

use super::{spec_path, train};

/// The committed digits network that the auditor's tests audit: what this test trains,
/// written there with `ROBUSTAUDIT_BLESS=1`.
const TRAINED_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/trained/digits-small.onnx"
);

#[test]
fn the_committed_digits_network_is_the_one_the_trainer_trains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf-8");
    let arch = spec_path("digits-small");
    let (code, _, stderr) = train(&[
        "train",
        "--arch",
        arch.to_str().expect("utf-8"),
        "--data",
        "digits",
        "--epochs",
        "12",
        "--batch",
        "32",
        "--lr",
        "0.1",
        "--threads",
        "1",
        "--out",
        out,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let path = &dir.path().join("teacher-T1.onnx");
    if std::env::var_os("ROBUSTAUDIT_BLESS").is_some() {
        std::fs::create_dir_all(Path::new(TRAINED_FIXTURE).parent().expect("folder"))
            .expect("fixture folder");
        std::fs::copy(path, TRAINED_FIXTURE).expect("write fixture");
    }
    // Training is deterministic on one thread: the same weights, bit for bit (the files
    // differ in the training time their metadata records).
    let fresh = OnnxModel::open(path).expect("trained model");
    let committed = OnnxModel::open(Path::new(TRAINED_FIXTURE)).expect("committed fixture");
    let names = fresh.initializer_names();
    assert!(names.len() >= 4, "{names:?}");
    assert_eq!(committed.initializer_names(), names);
    for name in &names {
        assert_eq!(
            committed.initializer(name),
            fresh.initializer(name),
            "{name} differs: rerun with ROBUSTAUDIT_BLESS=1 after changing the training"
        );
    }
    for key in ["role", "temperature", "test_accuracy", "epochs"] {
        assert_eq!(
            committed.metadata_value(key),
            fresh.metadata_value(key),
            "{key}"
        );
    }
}
