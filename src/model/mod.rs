//! Models as the auditor sees them: a [`Classifier`] maps a batch of images to logits.

mod tract_classifier;

pub use tract_classifier::TractClassifier;

use ndarray::{Array2, ArrayView4};

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
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 {
                            (i, v)
                        } else {
                            best
                        }
                    })
                    .0
            })
            .collect())
    }
}
