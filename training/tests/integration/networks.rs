//! The networks several test files audit: the digits network trained once per test binary,
//! and a wrapper that saturates any network's softmax.

use std::sync::OnceLock;

use ndarray::{Array2, Array4, ArrayView2, ArrayView4};
use robustaudit::error::Result;
use robustaudit::model::{Classifier, Differentiable, TractDifferentiable};

use super::{spec_path, train};

/// The digits network (`digits-small`, 12 epochs of the trainer), trained once per test
/// binary.
pub fn trained_digits() -> &'static TractDifferentiable {
    static MODEL: OnceLock<(tempfile::TempDir, TractDifferentiable)> = OnceLock::new();
    &MODEL
        .get_or_init(|| {
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
            let model = TractDifferentiable::open(&dir.path().join("teacher-T1.onnx"))
                .expect("trained model");
            (dir, model)
        })
        .1
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
