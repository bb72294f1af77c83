//! The only way an attack reaches the model: forward and gradient queries, counted.

use ndarray::{Array1, Array2, Array3, Array4, ArrayView2, ArrayView3, ArrayView4, Axis};

use crate::error::{Error, Result};
use crate::model::{Differentiable, LogitSeeds};

/// Queries one attack run made, in images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queries {
    /// Images whose logits alone were asked for.
    pub forward: u64,
    /// Images whose logits and input gradient (one vector-Jacobian product) were asked
    /// for. With finite-difference gradients each costs `2 * c * h * w + 1` forward passes
    /// of the model.
    pub gradient: u64,
}

/// A model seen through a query counter.
pub struct Oracle<'m> {
    model: &'m dyn Differentiable,
    queries: Queries,
}

impl<'m> Oracle<'m> {
    /// A counter at zero in front of `model`.
    pub fn new(model: &'m dyn Differentiable) -> Self {
        Oracle {
            model,
            queries: Queries::default(),
        }
    }

    /// The queries made so far.
    pub fn queries(&self) -> Queries {
        self.queries
    }

    /// Logits per sample of the model.
    pub fn classes(&self) -> usize {
        self.model.classes()
    }

    /// Logits `(n, classes)` of a batch; counts `n` forward queries.
    pub fn logits(&mut self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        self.queries.forward += images.shape()[0] as u64;
        self.model.logits(images)
    }

    /// Logits of one image; counts one forward query.
    pub fn logits_one(&mut self, image: ArrayView3<f32>) -> Result<Array1<f32>> {
        let logits = self.logits(image.insert_axis(Axis(0)))?;
        first_row(logits)
    }

    /// Logits and `seed^T · d logits / d images` of a batch; counts `n` gradient queries.
    pub fn vjp(
        &mut self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        self.queries.gradient += images.shape()[0] as u64;
        self.model.vjp(images, seed)
    }

    /// Logits of one image and the input gradient of `seed · logits`; one gradient query.
    pub fn vjp_one(
        &mut self,
        image: ArrayView3<f32>,
        seed: &[f32],
    ) -> Result<(Array1<f32>, Array3<f32>)> {
        let seed = ArrayView2::from_shape((1, seed.len()), seed).map_err(internal)?;
        let (logits, grads) = self.vjp(image.insert_axis(Axis(0)), seed)?;
        let grad = grads.index_axis_move(Axis(0), 0);
        Ok((first_row(logits)?, grad))
    }

    /// Logits `z` of one image and the input gradient of a loss whose gradient with respect
    /// to the logits is `seeds` (one row) evaluated at `z`; one gradient query, as the
    /// model's VJP graph computes the seed from its own logits.
    pub fn loss_gradient_one(
        &mut self,
        image: ArrayView3<f32>,
        seeds: &LogitSeeds,
    ) -> Result<(Array1<f32>, Array3<f32>)> {
        self.queries.gradient += 1;
        let (logits, grads) = self.model.vjp_seeds(image.insert_axis(Axis(0)), seeds)?;
        let grad = grads.index_axis_move(Axis(0), 0);
        Ok((first_row(logits)?, grad))
    }

    /// Logits of one image and the input gradients of several seeds: row `k` of `seeds`
    /// `(k, classes)` gives gradient `k`. Counts one gradient query per seed.
    pub fn vjp_many(
        &mut self,
        image: ArrayView3<f32>,
        seeds: ArrayView2<f32>,
    ) -> Result<(Array1<f32>, Array4<f32>)> {
        let k = seeds.shape()[0];
        let images = image
            .insert_axis(Axis(0))
            .broadcast((k, image.shape()[0], image.shape()[1], image.shape()[2]))
            .ok_or_else(|| Error::Internal {
                message: "cannot repeat an image for several seeds".into(),
            })?
            .to_owned();
        let (logits, grads) = self.vjp(images.view(), seeds)?;
        Ok((first_row(logits)?, grads))
    }
}

fn first_row(logits: Array2<f32>) -> Result<Array1<f32>> {
    if logits.shape()[0] == 0 {
        return Err(Error::Internal {
            message: "the model returned no logits".into(),
        });
    }
    Ok(logits.index_axis_move(Axis(0), 0))
}

fn internal(e: ndarray::ShapeError) -> Error {
    Error::Internal {
        message: format!("building a seed failed: {e}"),
    }
}
