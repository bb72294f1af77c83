//! A [`Classifier`] backed by a tract plan of an ONNX file.

use std::path::Path;

use ndarray::{Array2, ArrayView4};

use super::batching::{join, par_chunks};
use super::Classifier;
use crate::error::Result;
use crate::tract::TractPlan;
use robustaudit_graph::onnx::OnnxModel;

/// An ONNX classifier run by tract on the CPU, chunks of a batch in parallel.
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

    /// The compiled forward plan.
    pub fn plan(&self) -> &TractPlan {
        &self.plan
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
        self.plan.check_shape(images)?;
        let parts = par_chunks(images, |_, chunk| Ok(self.plan.logits(chunk)?))?;
        join(&parts)
    }
}
