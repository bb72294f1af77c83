//! The networks several test files audit: the digits network trained once per test binary
//! (and the check that the auditor's committed copy of it is current), and a wrapper that
//! saturates any network's softmax.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ndarray::{Array2, Array4, ArrayView2, ArrayView4};
use robustaudit::error::Result;
use robustaudit::model::{Classifier, Differentiable, TractDifferentiable};
use robustaudit_graph::onnx::OnnxModel;

use super::{spec_path, train};

/// The committed digits network that the auditor's tests audit (`tests/integration/trained.rs`
/// of the auditor): what [`trained_digits`] trains, written there by this crate's tests
/// with `ROBUSTAUDIT_BLESS=1`.
const TRAINED_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/trained/digits-small.onnx"
);

/// The digits network (`digits-small`, 12 epochs of the trainer) and its file, trained once
/// per test binary.
fn trained() -> &'static (tempfile::TempDir, PathBuf, TractDifferentiable) {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf, TractDifferentiable)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().to_str().expect("utf-8").to_string();
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
            &out,
        ]);
        assert_eq!(code, 0, "{stderr}");
        let path = dir.path().join("teacher-T1.onnx");
        let model = TractDifferentiable::open(&path).expect("trained model");
        (dir, path, model)
    })
}

/// The digits network (`digits-small`, 12 epochs of the trainer), trained once per test
/// binary.
pub fn trained_digits() -> &'static TractDifferentiable {
    &trained().2
}

#[test]
fn the_committed_digits_network_is_the_one_the_trainer_trains() {
    let path = &trained().1;
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

/// A network whose logits are multiplied by `scale`: the same decisions, a softmax saturated
/// to exactly one-hot in floating point.
pub struct Saturated<'m> {
    pub inner: &'m dyn Differentiable,
    pub scale: f32,
}

impl Classifier for Saturated<'_> {
    fn input_chw(&self) -> [usize; 3] {
        self.inner.input_chw()
    }

    fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        Ok(self.inner.logits(images)? * self.scale)
    }

    fn classes(&self) -> usize {
        self.inner.classes()
    }
}

impl Differentiable for Saturated<'_> {
    fn vjp(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        let (logits, grads) = self.inner.vjp(images, seed)?;
        Ok((logits * self.scale, grads * self.scale))
    }
}
