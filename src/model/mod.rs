//! Models as the auditor sees them: a [`Classifier`] maps a batch of images to logits; a
//! [`Differentiable`] one also gives vector-Jacobian products with respect to the images.

mod batching;
mod finite_difference;
mod gradient_source;
mod input_transform;
mod logit_seeds;
mod tract_classifier;
mod tract_differentiable;
mod vjp_agreement;

pub use batching::CHUNK;
pub use finite_difference::{
    central_probe, FiniteDifference, Probe, DEFAULT_BATCH as FD_BATCH, DEFAULT_STEP as FD_STEP,
};
pub use gradient_source::{GradientMethod, GradientSource};
pub use input_transform::{parse_input_range, InputTransform, Transformed};
pub use logit_seeds::LogitSeeds;
pub use tract_classifier::TractClassifier;
pub use tract_differentiable::TractDifferentiable;

use ndarray::{Array2, Array4, ArrayView2, ArrayView4};

use crate::error::Result;

/// A model that maps images `(n, channels, height, width)` in the dataset's value range
/// to pre-softmax logits `(n, classes)`.
pub trait Classifier: Send + Sync {
    /// The image shape `[channels, height, width]` the model takes.
    fn input_chw(&self) -> [usize; 3];

    /// Logits per sample.
    fn classes(&self) -> usize;

    /// Logits for a batch.
    fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>>;

    /// The predicted class of each sample (ties go to the lower index).
    fn predict(&self, images: ArrayView4<f32>) -> Result<Vec<usize>> {
        Ok(self
            .logits(images)?
            .rows()
            .into_iter()
            .map(|row| argmax(row.iter().copied()))
            .collect())
    }
}

/// A classifier that also computes input gradients of any loss on its logits.
pub trait Differentiable: Classifier {
    /// Logits `(n, classes)` and `seed^T · d logits / d images` `(n, c, h, w)`, where
    /// `seed` `(n, classes)` is the gradient of a loss with respect to the logits.
    fn vjp(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>)>;

    /// Logits `(n, classes)` and `seed(z)^T · d logits / d images` `(n, c, h, w)`, where
    /// each image's seed is a function of its own logits `z` (see [`LogitSeeds`]). Models
    /// whose VJP graph evaluates the seeds itself answer in one query; this default asks for
    /// the logits first when some seed depends on them.
    fn vjp_seeds(
        &self,
        images: ArrayView4<f32>,
        seeds: &LogitSeeds,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        if seeds.is_fixed() {
            return self.vjp(images, seeds.fixed.view());
        }
        check_seed(images, seeds.fixed.view(), self.classes())?;
        let logits = self.logits(images)?;
        self.vjp(images, seeds.at(logits.view()).view())
    }
}

/// Checks that `seed` has one row of `classes` values per image.
fn check_seed(images: ArrayView4<f32>, seed: ArrayView2<f32>, classes: usize) -> Result<()> {
    let n = images.shape()[0];
    if seed.shape() != [n, classes] {
        return Err(crate::error::Error::Usage {
            message: format!(
                "seed shape {:?} does not match [{n}, {classes}]",
                seed.shape()
            ),
            hint: None,
        });
    }
    Ok(())
}

/// Index of the largest value (the first one on ties; NaN never wins).
pub fn argmax(values: impl Iterator<Item = f32>) -> usize {
    values
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
            if v > best.1 {
                (i, v)
            } else {
                best
            }
        })
        .0
}
