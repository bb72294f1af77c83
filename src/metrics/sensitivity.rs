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
//! - `vanished`: 1 when the image is classified correctly and its cross-entropy input
//!   gradient at the label is zero in every value, computed as a deployed f32 pipeline
//!   would (softmax in f32, seed `softmax - onehot` in f32, the VJP in f32); else 0. A
//!   gradient attack has nothing to follow on such an image (Carlini and Wagner 2016 on
//!   defensive distillation), however large the gradients of the other images are.
//!
//! The amplitudes are in logit (or probability) units per unit of the input's value scale,
//! per image in f64; [`mean_sensitivity`] averages all three over images in sample order, so
//! the mean of a sharded audit's images is the mean of the unsharded one, bit for bit (the
//! mean of `vanished` is the fraction of all images that are correct and vanished).

use ndarray::{Array2, ArrayView4, Axis};

use crate::error::{Error, Result};
use crate::model::{argmax, Differentiable, CHUNK};

/// A model's input-gradient amplitudes on one image, or their mean over images.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sensitivity {
    /// Mean over input values (and images) of `|d(sum of logits) / dx|`.
    pub logit_sum: f64,
    /// Mean over classes and input values (and images) of `|d softmax_i / dx|` at
    /// temperature 1.
    pub softmax_amplitude: f64,
    /// 1 when the image is classified correctly and its f32 cross-entropy input gradient is
    /// zero everywhere, else 0 (a fraction of images for a mean).
    pub vanished: f64,
}

/// The sensitivity of `model` on each of `images`, in order, with `labels[i]` the class
/// of image `i`; `classes + 2` gradient rows per image, run in chunks of [`CHUNK`] images
/// counted from the first.
pub fn sensitivity(
    model: &dyn Differentiable,
    images: ArrayView4<f32>,
    labels: &[usize],
) -> Result<Vec<Sensitivity>> {
    let n = images.shape()[0];
    if labels.len() != n {
        return Err(Error::Internal {
            message: format!("{} labels for {n} images", labels.len()),
        });
    }
    let classes = model.classes();
    let size: usize = images.shape()[1..].iter().product();
    let rows = classes + 2;
    let cross_entropy_row = classes + 1;
    let mut per_image = Vec::with_capacity(n);
    let mut correct = Vec::with_capacity(CHUNK);
    for (c, chunk) in images.axis_chunks_iter(Axis(0), CHUNK).enumerate() {
        let m = chunk.shape()[0];
        let logits = model.logits(chunk)?;
        let mut seeds = Array2::<f32>::zeros((m * rows, classes));
        correct.clear();
        for (s, z) in logits.rows().into_iter().enumerate() {
            let label = labels[c * CHUNK + s];
            correct.push(argmax(z.iter().copied()) == label);
            let probabilities = softmax_of(z.iter().copied());
            seeds.row_mut(s * rows).fill(1.0);
            let mut seed = seeds.row_mut(s * rows + cross_entropy_row);
            for (l, p) in softmax_f32(z.iter().copied()).into_iter().enumerate() {
                seed[l] = if l == label { p - 1.0 } else { p };
            }
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
        for (s, &correct) in correct.iter().enumerate() {
            let mean_abs = |r: usize| -> f64 {
                grads
                    .index_axis(Axis(0), s * rows + r)
                    .iter()
                    .map(|&g| f64::from(g).abs())
                    .sum::<f64>()
                    / size as f64
            };
            let zero = grads
                .index_axis(Axis(0), s * rows + cross_entropy_row)
                .iter()
                .all(|&g| g == 0.0);
            per_image.push(Sensitivity {
                logit_sum: mean_abs(0),
                softmax_amplitude: (1..=classes).map(mean_abs).sum::<f64>() / classes as f64,
                vanished: if correct && zero { 1.0 } else { 0.0 },
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
    let (mut logit_sum, mut softmax, mut vanished) = (0.0, 0.0, 0.0);
    for s in per_image {
        logit_sum += s.logit_sum;
        softmax += s.softmax_amplitude;
        vanished += s.vanished;
    }
    let n = per_image.len() as f64;
    Sensitivity {
        logit_sum: logit_sum / n,
        softmax_amplitude: softmax / n,
        vanished: vanished / n,
    }
}

/// Softmax in f32, as a deployed pipeline computes it.
fn softmax_f32(z: impl Iterator<Item = f32> + Clone) -> Vec<f32> {
    let top = z.clone().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = z.map(|v| (v - top).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
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

#[cfg(test)]
mod tests {
    use ndarray::Array4;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::model::{Classifier, TractDifferentiable};
    use robustaudit_graph::onnx::{Attr, GraphBuilder};

    /// A linear classifier on `[batch, 1, 4, 4]` whose logits are multiplied by `scale`.
    fn linear(scale: f32) -> TractDifferentiable {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let w: Vec<f32> = (0..10 * 16)
            .map(|_| rng.gen_range(-1.0..1.0) * scale)
            .collect();
        let mut b = GraphBuilder::new("linear");
        b.input("input", &[None, Some(1), Some(4), Some(4)]);
        b.initializer("w", &[10, 16], &w);
        b.node("Flatten", &["input"], &["flat"], &[("axis", Attr::Int(1))]);
        b.node(
            "Gemm",
            &["flat", "w"],
            &["logits"],
            &[("transB", Attr::Int(1))],
        );
        b.output("logits", &[None, Some(10)]);
        TractDifferentiable::new(b.finish("linear.onnx".into()).expect("valid")).expect("vjp")
    }

    #[test]
    fn vanished_counts_correct_images_whose_f32_cross_entropy_gradient_is_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let images = Array4::from_shape_fn((6, 1, 4, 4), |_| rng.gen_range(-0.5f32..0.5));
        for (scale, saturated) in [(1.0, false), (1e5, true)] {
            let model = linear(scale);
            let mut labels = model.predict(images.view()).expect("predict");
            // The last image is labelled wrongly: never counted, saturated or not.
            labels[5] = (labels[5] + 1) % 10;
            let per_image = sensitivity(&model, images.view(), &labels).expect("sensitivity");
            let vanished: Vec<f64> = per_image.iter().map(|s| s.vanished).collect();
            let expected = if saturated { 1.0 } else { 0.0 };
            assert_eq!(vanished[..5], [expected; 5], "scale {scale}");
            assert_eq!(vanished[5], 0.0);
            assert!(per_image.iter().all(|s| s.logit_sum > 0.0));
        }
    }
}
