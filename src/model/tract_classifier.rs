//! A [`Classifier`] backed by a tract plan of an ONNX file.

use std::path::Path;

use ndarray::{Array2, ArrayView4};

use super::Classifier;
use crate::error::Result;
use crate::onnx::{OnnxModel, TractPlan};

/// An ONNX classifier run by tract on the CPU.
#[derive(Debug)]
pub struct TractClassifier {
    model: OnnxModel,
    plan: TractPlan,
}

impl TractClassifier {
    /// Opens, validates and compiles the model at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::new(OnnxModel::open(path)?)
    }

    /// Compiles an already validated model.
    pub fn new(model: OnnxModel) -> Result<Self> {
        let plan = TractPlan::new(&model)?;
        Ok(TractClassifier { model, plan })
    }

    /// The model this classifier runs.
    pub fn model(&self) -> &OnnxModel {
        &self.model
    }
}

impl Classifier for TractClassifier {
    fn input_chw(&self) -> [usize; 3] {
        self.plan.input().chw()
    }

    fn classes(&self) -> usize {
        self.plan.classes()
    }

    fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        Ok(self.plan.logits(images)?)
    }
}
