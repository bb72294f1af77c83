//! A [`Differentiable`] classifier: tract runs the model's VJP graph, built by
//! [`robustaudit_graph::grad::vjp_graph`].

use std::path::Path;

use ndarray::{Array2, Array4, ArrayView2, ArrayView4};

use super::batching::{join, par_chunks, CHUNK};
use super::{Classifier, Differentiable, LogitSeeds, TractClassifier};
use crate::error::Result;
use crate::tract::VjpPlan;
use robustaudit_graph::grad::vjp_graph;
use robustaudit_graph::onnx::{OnnxError, OnnxModel};

/// An ONNX classifier with exact input gradients from its generated VJP graph.
#[derive(Debug)]
pub struct TractDifferentiable {
    forward: TractClassifier,
    vjp: VjpPlan,
    vjp_model: OnnxModel,
}

impl TractDifferentiable {
    /// Opens the model at `path` and builds and compiles its VJP graph.
    pub fn open(path: &Path) -> Result<Self> {
        Self::new(OnnxModel::open(path)?)
    }

    /// Builds the VJP graph of an already validated model and compiles its forward plan;
    /// tract compiles the VJP graph on the first gradient query, for that query's batch
    /// size (an error there is that query's). Fails with [`robustaudit_graph::grad::GradError`] when
    /// some op has no backward rule.
    pub fn new(model: OnnxModel) -> Result<Self> {
        // Building the VJP graph and compiling the forward plan are independent: on two
        // cores or more they overlap.
        let (vjp_model, forward) =
            rayon::join(|| vjp_graph(&model), || TractClassifier::new(model.clone()));
        let (vjp_model, forward) = (vjp_model?, forward?);
        let vjp = VjpPlan::new(&vjp_model, forward.plan().input(), forward.classes())?
            .with_concrete_batches(CHUNK);
        Ok(TractDifferentiable {
            forward,
            vjp,
            vjp_model,
        })
    }

    /// The forward classifier.
    pub fn classifier(&self) -> &TractClassifier {
        &self.forward
    }

    /// The compiled VJP plan.
    pub fn vjp_plan(&self) -> &VjpPlan {
        &self.vjp
    }

    /// The generated VJP graph.
    pub fn vjp_model(&self) -> &OnnxModel {
        &self.vjp_model
    }
}

impl Classifier for TractDifferentiable {
    fn input_chw(&self) -> [usize; 3] {
        self.forward.input_chw()
    }

    fn classes(&self) -> usize {
        self.forward.classes()
    }

    fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        self.forward.logits(images)
    }
}

impl Differentiable for TractDifferentiable {
    fn vjp(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        self.vjp_seeds(images, &LogitSeeds::fixed(seed))
    }

    /// One query: the VJP graph computes each seed from its own logits.
    fn vjp_seeds(
        &self,
        images: ArrayView4<f32>,
        seeds: &LogitSeeds,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        super::check_seed(images, seeds.fixed.view(), self.classes())?;
        self.forward.plan().check_shape(images)?;
        let parts = par_chunks(images, |start, chunk| {
            let rows = seeds.slice(start, chunk.shape()[0]);
            Ok(self.vjp.run_seeds(chunk, rows.inputs())?)
        })?;
        let (logits, grads): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
        let (logits, grad) = (join(&logits)?, join(&grads)?);
        // A VJP graph that disagrees with its model can return other shapes: an error here,
        // never a shape mismatch (a panic) in an attack.
        if grad.shape() != images.shape() || logits.shape() != [images.shape()[0], self.classes()] {
            return Err(OnnxError::Run {
                path: self.vjp.path().to_path_buf(),
                reason: format!(
                    "the vjp graph returned logits {:?} and gradients {:?} for images {:?}",
                    logits.shape(),
                    grad.shape(),
                    images.shape()
                ),
            }
            .into());
        }
        Ok((logits, grad))
    }
}
