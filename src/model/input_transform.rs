//! Feeding dataset images to a model that expects another value scale.
//!
//! Datasets yield values `x` in `[-0.5, 0.5]`, i.e. pixel intensities `p = x + 0.5` in
//! `[0, 1]`. A model whose input range is `[lo, hi]`, normalised per channel by `mean` and
//! `std` (both in that range's units), receives `(lo + p * (hi - lo) - mean_c) / std_c`: an
//! affine map per channel, `scale_c * x + offset_c`. Attacks keep working in the dataset's
//! scale, so their budgets mean the same for every model, and gradients are mapped back
//! through the chain rule.

use ndarray::{Array2, Array4, ArrayView2, ArrayView4, Axis};

use super::{Classifier, Differentiable, LogitSeeds};
use crate::error::{Error, Result};
use robustaudit_graph::onnx::OnnxModel;

/// `LO,HI` with finite `LO < HI`: `--input-range`, and the `input_range` the trainer records.
pub fn parse_input_range(text: &str) -> Option<(f32, f32)> {
    let (lo, hi) = text.split_once(',')?;
    let (lo, hi) = (
        lo.trim().parse::<f32>().ok()?,
        hi.trim().parse::<f32>().ok()?,
    );
    (lo.is_finite() && hi.is_finite() && lo < hi).then_some((lo, hi))
}

/// A per-channel affine map from the dataset's scale to a model's input scale.
#[derive(Debug, Clone, PartialEq)]
pub struct InputTransform {
    range: (f32, f32),
    mean: Vec<f32>,
    std: Vec<f32>,
    scale: Vec<f32>,
    offset: Vec<f32>,
}

impl InputTransform {
    /// The map for `model`: its range is `range` when given (`--input-range`), else the
    /// model's `input_range` metadata; a model that records none, or an unreadable one, is
    /// a usage error whose hint names the flag.
    pub fn for_model(
        model: &OnnxModel,
        range: Option<(f32, f32)>,
        mean: &[f32],
        std: &[f32],
        channels: usize,
    ) -> Result<Self> {
        let path = model.path().display();
        let hint =
            Some("pass --input-range LO,HI (and --mean/--std if the model normalises)".into());
        let range = match (range, model.metadata_value("input_range")) {
            (Some(range), _) => range,
            (None, Some(text)) => parse_input_range(text).ok_or_else(|| Error::Usage {
                message: format!("{path} records input_range `{text}`, which is not LO,HI"),
                hint: hint.clone(),
            })?,
            (None, None) => {
                return Err(Error::Usage {
                    message: format!("{path} does not record its input range"),
                    hint,
                })
            }
        };
        InputTransform::new(range, mean, std, channels)
    }

    /// The map for a model taking values in `range` (`lo < hi`), normalised by `mean` and
    /// `std` (one value for every channel, or one per channel; `std` positive), on images
    /// of `channels` channels. Bad values are usage errors.
    pub fn new(range: (f32, f32), mean: &[f32], std: &[f32], channels: usize) -> Result<Self> {
        let (lo, hi) = range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(usage(format!(
                "input range {lo},{hi} is not an interval lo < hi"
            )));
        }
        let per_channel = |values: &[f32], what: &str| -> Result<Vec<f32>> {
            match values.len() {
                1 => Ok(vec![values[0]; channels]),
                n if n == channels => Ok(values.to_vec()),
                n => Err(usage(format!(
                    "--{what} has {n} values, but the model takes {channels} channels"
                ))),
            }
        };
        let mean = per_channel(mean, "mean")?;
        let std = per_channel(std, "std")?;
        if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(usage(format!("--std {s} is not a positive number")));
        }
        if let Some(m) = mean.iter().find(|m| !m.is_finite()) {
            return Err(usage(format!("--mean {m} is not a number")));
        }
        let scale = std.iter().map(|s| (hi - lo) / s).collect();
        let offset = mean
            .iter()
            .zip(&std)
            .map(|(m, s)| (lo + 0.5 * (hi - lo) - m) / s)
            .collect();
        Ok(InputTransform {
            range,
            mean,
            std,
            scale,
            offset,
        })
    }

    /// Whether the model takes the dataset's values unchanged.
    pub fn is_identity(&self) -> bool {
        self.scale.iter().all(|&s| s == 1.0) && self.offset.iter().all(|&o| o == 0.0)
    }

    /// `lo,hi` and, when not trivial, `mean=..;std=..`, for reports.
    pub fn describe(&self) -> String {
        let join = |v: &[f32]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("/")
        };
        let mut text = format!("{},{}", self.range.0, self.range.1);
        if self.mean.iter().any(|&m| m != 0.0) || self.std.iter().any(|&s| s != 1.0) {
            text.push_str(&format!(
                " mean {} std {}",
                join(&self.mean),
                join(&self.std)
            ));
        }
        text
    }

    fn apply(&self, images: ArrayView4<f32>) -> Result<Array4<f32>> {
        if images.shape()[1] != self.scale.len() {
            return Err(Error::Internal {
                message: format!(
                    "an input transform for {} channels got images of {}",
                    self.scale.len(),
                    images.shape()[1]
                ),
            });
        }
        let mut out = images.to_owned();
        for (c, mut channel) in out.axis_iter_mut(Axis(1)).enumerate() {
            let (s, o) = (self.scale[c], self.offset[c]);
            channel.mapv_inplace(|v| s * v + o);
        }
        Ok(out)
    }
}

fn usage(message: String) -> Error {
    Error::Usage {
        message,
        hint: Some("give the range as --input-range LO,HI, e.g. --input-range 0,1".into()),
    }
}

/// A model behind an [`InputTransform`]: it takes images in the dataset's scale.
pub struct Transformed<'m> {
    model: &'m dyn Differentiable,
    transform: InputTransform,
}

impl<'m> Transformed<'m> {
    /// `model` fed through `transform`.
    pub fn new(model: &'m dyn Differentiable, transform: InputTransform) -> Self {
        Transformed { model, transform }
    }
}

impl Classifier for Transformed<'_> {
    fn input_chw(&self) -> [usize; 3] {
        self.model.input_chw()
    }

    fn classes(&self) -> usize {
        self.model.classes()
    }

    fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        if self.transform.is_identity() {
            return self.model.logits(images);
        }
        self.model.logits(self.transform.apply(images)?.view())
    }
}

impl Differentiable for Transformed<'_> {
    fn vjp(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        if self.transform.is_identity() {
            return self.model.vjp(images, seed);
        }
        let (logits, grads) = self.model.vjp(self.transform.apply(images)?.view(), seed)?;
        Ok((logits, self.scale_back(grads)))
    }

    fn vjp_seeds(
        &self,
        images: ArrayView4<f32>,
        seeds: &LogitSeeds,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        if self.transform.is_identity() {
            return self.model.vjp_seeds(images, seeds);
        }
        let (logits, grads) = self
            .model
            .vjp_seeds(self.transform.apply(images)?.view(), seeds)?;
        Ok((logits, self.scale_back(grads)))
    }
}

impl Transformed<'_> {
    /// Gradients with respect to the transformed images as gradients with respect to the
    /// dataset-scale ones.
    fn scale_back(&self, mut grads: Array4<f32>) -> Array4<f32> {
        for (c, mut channel) in grads.axis_iter_mut(Axis(1)).enumerate() {
            let s = self.transform.scale[c];
            channel.mapv_inplace(|g| s * g);
        }
        grads
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, Array2, Array4, ArrayView2, ArrayView4, Axis};

    use super::*;

    /// Logits `[sum of the inputs, first input]`: gradients are known in closed form.
    struct Probe;

    impl Classifier for Probe {
        fn input_chw(&self) -> [usize; 3] {
            [2, 1, 1]
        }
        fn classes(&self) -> usize {
            2
        }
        fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
            let mut out = Array2::zeros((images.shape()[0], 2));
            for (mut row, image) in out.rows_mut().into_iter().zip(images.axis_iter(Axis(0))) {
                row[0] = image.sum();
                row[1] = image[[0, 0, 0]];
            }
            Ok(out)
        }
    }

    impl Differentiable for Probe {
        fn vjp(
            &self,
            images: ArrayView4<f32>,
            seed: ArrayView2<f32>,
        ) -> Result<(Array2<f32>, Array4<f32>)> {
            let mut grads = Array4::zeros(images.raw_dim());
            for (i, mut g) in grads.axis_iter_mut(Axis(0)).enumerate() {
                g.fill(seed[[i, 0]]);
                g[[0, 0, 0]] += seed[[i, 1]];
            }
            Ok((self.logits(images)?, grads))
        }
    }

    #[test]
    fn images_are_mapped_per_channel_and_gradients_scaled_back() {
        // Channel 0: [0, 1] normalised by mean 0.5, std 0.25 -> 4x; channel 1: std 0.5 -> 2x.
        let t = InputTransform::new((0.0, 1.0), &[0.5], &[0.25, 0.5], 2).expect("valid");
        assert!(!t.is_identity());
        let model = Transformed::new(&Probe, t);
        let x = array![[[[0.25f32]], [[-0.5]]]];
        let logits = model.logits(x.view()).expect("logits");
        // Channel 1: (0 - 0.5) / 0.5 = -1 at x = -0.5.
        assert_eq!(logits.row(0).to_vec(), vec![4.0 * 0.25 - 1.0, 1.0]);
        let seed = array![[1.0f32, 1.0]];
        let (_, grads) = model.vjp(x.view(), seed.view()).expect("vjp");
        assert_eq!(grads.iter().copied().collect::<Vec<_>>(), vec![8.0, 2.0]);
        let identity = InputTransform::new((-0.5, 0.5), &[0.0], &[1.0], 2).expect("valid");
        assert!(identity.is_identity());
    }

    #[test]
    fn bad_ranges_and_normalisations_are_usage_errors() {
        for (range, mean, std) in [
            ((1.0, 0.0), vec![0.0], vec![1.0]),
            ((0.0, 1.0), vec![0.0, 0.0, 0.0], vec![1.0]),
            ((0.0, 1.0), vec![0.0], vec![0.0]),
            ((0.0, f32::NAN), vec![0.0], vec![1.0]),
        ] {
            let err = InputTransform::new(range, &mean, &std, 2).expect_err("refused");
            assert_eq!(err.exit_code(), crate::exit_code::Exit::Usage, "{err}");
        }
    }
}
