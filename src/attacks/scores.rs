//! What a score-based attack learns from one batch of candidates: the loss each scores and
//! whether each reaches the goal, from one forward query per image.

use ndarray::{Array3, Array4, ArrayView1, ArrayView3, ArrayView4, Axis};

use super::{Goal, Oracle};
use crate::error::{Error, Result};
use crate::model::argmax;

/// The losses and verdicts of a batch, row by row.
#[derive(Debug, Clone)]
pub(super) struct Scores {
    /// The loss of each candidate (lower is closer to the goal).
    pub(super) losses: Vec<f64>,
    /// Whether each candidate's prediction reaches the goal.
    pub(super) reached: Vec<bool>,
}

/// Scores `images` `(n, c, h, w)` with `loss` on their logits: `n` forward queries in one
/// batch.
pub(super) fn score(
    oracle: &mut Oracle,
    images: ArrayView4<f32>,
    goal: Goal,
    loss: &dyn Fn(ArrayView1<f32>) -> f64,
) -> Result<Scores> {
    let logits = oracle.logits(images)?;
    if logits.shape()[0] != images.shape()[0] {
        return Err(Error::Internal {
            message: format!(
                "the model returned {} rows of logits for {} images",
                logits.shape()[0],
                images.shape()[0]
            ),
        });
    }
    let rows = logits.axis_iter(Axis(0));
    let (losses, reached) = rows
        .map(|z| (loss(z), goal.reached_by(argmax(z.iter().copied()))))
        .unzip();
    Ok(Scores { losses, reached })
}

/// `n` copies of `image` as one batch.
pub(super) fn repeated(image: ArrayView3<f32>, n: usize) -> Array4<f32> {
    let (c, h, w) = image.dim();
    let mut batch = Array4::zeros((n, c, h, w));
    for mut row in batch.axis_iter_mut(Axis(0)) {
        row.assign(&image);
    }
    batch
}

/// The candidate with the lowest loss offered so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Lowest(Option<(f64, Array3<f32>)>);

impl Lowest {
    /// Keeps `x` if its `loss` is lower than every loss offered before.
    pub(super) fn offer(&mut self, loss: f64, x: &Array3<f32>) {
        if self.0.as_ref().is_none_or(|(l, _)| loss < *l) {
            self.0 = Some((loss, x.clone()));
        }
    }

    /// The kept candidate, or `clean` when none was offered.
    pub(super) fn image_or(self, clean: ArrayView3<f32>) -> Array3<f32> {
        self.0.map_or_else(|| clean.to_owned(), |(_, x)| x)
    }
}
