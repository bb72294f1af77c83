//! How strongly a model's outputs react to its input: the gradient amplitudes by which
//! defensive distillation is judged.
//!
//! - `logit_sum`: the distillation papers' code measure, `mean_j |d(sum_i z_i) / d x_j|`
//!   per image (one vector-Jacobian product with an all-ones seed).
//! - `softmax_amplitude`: Papernot et al.'s adversarial gradient amplitude on the softmax
//!   output at temperature 1 (the deployed network),
//!   `mean_{i,j} |dF_i / dx_j|` with `dF_i/dx = F_i (dz_i/dx - sum_l F_l dz_l/dx)`, one
//!   product per class with the seed `F_i (e_i - F)`.
//!
//! Both are in logit (or probability) units per unit of the input's value scale, per image
//! in f64; [`mean_sensitivity`] averages them over images in sample order, so the mean of a
//! sharded audit's images is the mean of the unsharded one, bit for bit.

use ndarray::{Array2, ArrayView4, Axis};

use crate::error::{Error, Result};
use crate::model::{Differentiable, CHUNK};

/// A model's input-gradient amplitudes on one image, or their mean over images.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sensitivity {
    /// Mean over input values (and images) of `|d(sum of logits) / dx|`.
    pub logit_sum: f64,
    /// Mean over classes and input values (and images) of `|d softmax_i / dx|` at
    /// temperature 1.
    pub softmax_amplitude: f64,
}

/// The sensitivity of `model` on each of `images`, in order; `classes + 1` gradient rows
/// per image, run in chunks of [`CHUNK`] images counted from the first.
pub fn sensitivity(
    model: &dyn Differentiable,
    images: ArrayView4<f32>,
) -> Result<Vec<Sensitivity>> {
    let n = images.shape()[0];
    let classes = model.classes();
    let size: usize = images.shape()[1..].iter().product();
    let rows = classes + 1;
    let mut per_image = Vec::with_capacity(n);
    for chunk in images.axis_chunks_iter(Axis(0), CHUNK) {
        let m = chunk.shape()[0];
        let logits = model.logits(chunk)?;
        let mut seeds = Array2::<f32>::zeros((m * rows, classes));
        for (s, z) in logits.rows().into_iter().enumerate() {
            let probabilities = softmax_of(z.iter().copied());
            seeds.row_mut(s * rows).fill(1.0);
            for i in 0..classes {
                let mut seed = seeds.row_mut(s * rows + 1 + i);
                for (l, p) in probabilities.iter().enumerate() {
                    let onehot = if l == i { 1.0 } else { 0.0 };
                    seed[l] = (probabilities[i] * (onehot - p)) as f32;
                }
            }
        }
        let repeated = repeat_rows(chunk, rows)?;
        let (_, grads) = model.vjp(repeated.view(), seeds.view())?;
        for s in 0..m {
            let mean_abs = |r: usize| -> f64 {
                grads
                    .index_axis(Axis(0), s * rows + r)
                    .iter()
                    .map(|&g| f64::from(g).abs())
                    .sum::<f64>()
                    / size as f64
            };
            per_image.push(Sensitivity {
                logit_sum: mean_abs(0),
                softmax_amplitude: (1..rows).map(mean_abs).sum::<f64>() / classes as f64,
            });
        }
    }
    Ok(per_image)
}

/// The mean of per-image sensitivities, summed in their order (zero for none).
pub fn mean_sensitivity(per_image: &[Sensitivity]) -> Sensitivity {
    if per_image.is_empty() {
        return Sensitivity::default();
    }
    let (mut logit_sum, mut softmax) = (0.0, 0.0);
    for s in per_image {
        logit_sum += s.logit_sum;
        softmax += s.softmax_amplitude;
    }
    let n = per_image.len() as f64;
    Sensitivity {
        logit_sum: logit_sum / n,
        softmax_amplitude: softmax / n,
    }
}

/// Softmax in f64.
fn softmax_of(z: impl Iterator<Item = f32> + Clone) -> Vec<f64> {
    let top = z
        .clone()
        .fold(f64::NEG_INFINITY, |m, v| m.max(f64::from(v)));
    let exps: Vec<f64> = z.map(|v| (f64::from(v) - top).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Each image of `images` repeated `times` times in a row.
fn repeat_rows(images: ArrayView4<f32>, times: usize) -> Result<ndarray::Array4<f32>> {
    let views: Vec<_> = images
        .axis_iter(Axis(0))
        .flat_map(|image| std::iter::repeat_n(image.insert_axis(Axis(0)), times))
        .collect();
    ndarray::concatenate(Axis(0), &views).map_err(|e| Error::Internal {
        message: format!("repeating images failed: {e}"),
    })
}
