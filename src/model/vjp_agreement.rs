//! Deciding up front, on a probe batch, whether a model's VJP graph computes the gradient
//! of its forward pass, so that a graph that does not is never called exact.
//!
//! Two checks on two seeded random images in [-0.5, 0.5]:
//! 1. the VJP graph's logits equal the forward plan's (relative tolerance `LOGITS_TOL`);
//! 2. for a loss `L(x) = sum(seed * logits(x))` with a seeded random `seed`, the central
//!    difference of `L` along each of `DIRECTIONS` random directions agrees with
//!    `<grad, direction>` at one of two step sizes (relative tolerance `SLOPE_TOL` plus the
//!    f32 rounding of `L` over the step); a majority of the directions must agree, so a
//!    direction that happens to cross a ReLU or MaxPool kink does not decide alone.
//!
//! Check 2 is skipped for straight-through graphs (int8 QDQ models), whose forward pass is
//! piecewise constant by design.

use ndarray::{Array2, Array4, Axis, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Classifier, Differentiable};
use crate::error::{Error, Result};
use robustaudit_graph::onnx::OnnxError;

/// Images in the probe batch.
const PROBE_IMAGES: usize = 2;
/// Random directions of the directional-derivative check.
const DIRECTIONS: usize = 3;
/// Step sizes of the central differences, in input units.
const STEPS: [f32; 2] = [1e-2, 1e-3];
/// Largest relative difference between the two graphs' logits.
const LOGITS_TOL: f32 = 1e-4;
/// Largest relative difference between a central difference and `<grad, direction>`.
const SLOPE_TOL: f32 = 0.05;
/// How every reason for a disagreement starts.
const DISAGREES: &str = "vjp graph disagrees with the forward pass";
/// Seed of the probe batch, the loss seed and the directions.
const PROBE_SEED: u64 = 0x005e_ed0f_9ad1;

/// Why the VJP graph's gradients cannot be trusted, one line (starting "vjp graph
/// disagrees with the forward pass" unless the forward pass itself is not finite on the
/// probe batch), or `None` when it agrees.
/// Only a failure of the forward pass itself is an error; a VJP graph that fails to run on
/// the probe batch disagrees.
pub(super) fn vjp_disagreement(
    forward: &dyn Classifier,
    vjp: &dyn Differentiable,
    directional: bool,
) -> Result<Option<String>> {
    let [c, h, w] = forward.input_chw();
    let classes = forward.classes();
    let mut rng = ChaCha8Rng::seed_from_u64(PROBE_SEED);
    let images = Array4::from_shape_fn((PROBE_IMAGES, c, h, w), |_| rng.gen_range(-0.5..0.5));
    let seed = Array2::from_shape_fn((PROBE_IMAGES, classes), |_| rng.gen_range(-1.0..1.0));
    let logits = match forward.logits(images.view()) {
        Ok(logits) => logits,
        // Random probe images may lie outside the range the model takes: non-finite logits
        // there only cost the exact gradients; on the audited images they are an error.
        Err(Error::Onnx(e @ OnnxError::NonFiniteLogits { .. })) => {
            return Ok(Some(format!("a probe batch gives: {e}")))
        }
        Err(e) => return Err(e),
    };
    let (vjp_logits, grad) = match vjp.vjp(images.view(), seed.view()) {
        Ok(out) => out,
        Err(e) => return Ok(Some(format!("{DISAGREES}: it fails on a probe batch: {e}"))),
    };
    if vjp_logits.shape() != logits.shape() || grad.shape() != images.shape() {
        return Ok(Some(format!(
            "{DISAGREES}: it returns logits {:?} and gradients {:?} for images {:?} and logits {:?}",
            vjp_logits.shape(),
            grad.shape(),
            images.shape(),
            logits.shape()
        )));
    }
    let scale = 1.0 + logits.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = Zip::from(&logits)
        .and(&vjp_logits)
        .fold(0f32, |m, a, b| m.max((a - b).abs()));
    if worst.is_nan() || worst > LOGITS_TOL * scale {
        return Ok(Some(format!(
            "{DISAGREES}: its logits differ from the forward pass's by up to {worst:.3e}"
        )));
    }
    if !directional {
        return Ok(None);
    }
    let base = (&logits * &seed).sum().abs();
    let directions: Vec<Array4<f32>> = (0..DIRECTIONS)
        .map(|_| Array4::from_shape_fn(images.raw_dim(), |_| rng.gen_range(-1.0f32..1.0)))
        .collect();
    let analytic: Vec<f32> = directions.iter().map(|d| (&grad * d).sum()).collect();
    // Each step size in one forward call for every direction that has not agreed yet: the
    // smaller step only where the larger one disagreed.
    let mut pending: Vec<usize> = (0..DIRECTIONS).collect();
    let mut agreeing = 0;
    let mut last = String::new();
    for step in STEPS {
        if pending.is_empty() {
            break;
        }
        let moved = pending.iter().map(|&d| &directions[d]);
        let slopes = central_differences(forward, &images, &seed, moved, step)?;
        let mut still = Vec::new();
        for (&d, numeric) in pending.iter().zip(slopes) {
            let analytic = analytic[d];
            let rounding = 16.0 * f32::EPSILON * (1.0 + base) / step;
            let bound = SLOPE_TOL * numeric.abs().max(analytic.abs()) + rounding;
            if (numeric - analytic).abs() <= bound {
                agreeing += 1;
            } else {
                last = format!(
                    "{DISAGREES}: a directional derivative is {analytic:.4e} by the vjp graph, {numeric:.4e} by finite differences"
                );
                still.push(d);
            }
        }
        pending = still;
    }
    if 2 * agreeing > DIRECTIONS {
        Ok(None)
    } else {
        Ok(Some(last))
    }
}

/// The central difference `(L(x + step d) - L(x - step d)) / 2 step` of the loss
/// `L(x) = sum(seed * logits(x))` along each of `directions`, from one forward call.
fn central_differences<'a>(
    forward: &dyn Classifier,
    images: &Array4<f32>,
    seed: &Array2<f32>,
    directions: impl ExactSizeIterator<Item = &'a Array4<f32>>,
    step: f32,
) -> Result<Vec<f32>> {
    let (n, c, h, w) = images.dim();
    let mut batch = Array4::zeros((2 * directions.len() * n, c, h, w));
    let shifts = directions.flat_map(|d| [d * step, d * -step]);
    for (mut rows, shift) in batch.axis_chunks_iter_mut(Axis(0), n).zip(shifts) {
        rows.assign(&(images + &shift));
    }
    let losses: Vec<f32> = forward
        .logits(batch.view())?
        .axis_chunks_iter(Axis(0), n)
        .map(|rows| (&rows * seed).sum())
        .collect();
    Ok(losses
        .chunks(2)
        .map(|pair| (pair[0] - pair[1]) / (2.0 * step))
        .collect())
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayView2, ArrayView4};

    use super::*;
    use crate::model::{TractClassifier, TractDifferentiable};
    use robustaudit_graph::onnx::{Attr, GraphBuilder, OnnxModel};

    /// `logits = W · flatten(x)` for x `[batch, 1, 2, 2]`, 3 classes, W scaled by `scale`,
    /// then a Relu so that the probe meets kinks.
    fn relu_linear(dir: &std::path::Path, scale: f32) -> OnnxModel {
        let mut b = GraphBuilder::new("relu-linear");
        b.input("x", &[None, Some(1), Some(2), Some(2)]);
        let w: Vec<f32> = (0..12).map(|i| scale * (i as f32 - 5.5) / 4.0).collect();
        b.initializer("w", &[3, 4], &w);
        b.node("Flatten", &["x"], &["flat"], &[("axis", Attr::Int(1))]);
        b.node("Gemm", &["flat", "w"], &["z"], &[("transB", Attr::Int(1))]);
        b.node("Relu", &["z"], &["logits"], &[]);
        b.output("logits", &[None, Some(3)]);
        b.finish(dir.join(format!("m{scale}.onnx"))).expect("valid")
    }

    /// The real VJP graph of a model, its input gradients multiplied by `factor`: the
    /// kind of wrong gradient a faulty backward rule gives.
    struct Scaled(TractDifferentiable, f32);

    impl Classifier for Scaled {
        fn input_chw(&self) -> [usize; 3] {
            self.0.input_chw()
        }
        fn classes(&self) -> usize {
            self.0.classes()
        }
        fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
            self.0.logits(images)
        }
    }

    impl Differentiable for Scaled {
        fn vjp(
            &self,
            images: ArrayView4<f32>,
            seed: ArrayView2<f32>,
        ) -> Result<(Array2<f32>, Array4<f32>)> {
            let (logits, grad) = self.0.vjp(images, seed)?;
            Ok((logits, grad * self.1))
        }
    }

    #[test]
    fn a_vjp_graph_of_the_same_model_agrees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exact = TractDifferentiable::new(relu_linear(dir.path(), 1.0)).expect("vjp");
        let found = vjp_disagreement(exact.classifier(), &exact, true).expect("probe");
        assert_eq!(found, None);
    }

    #[test]
    fn a_vjp_graph_with_other_logits_disagrees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let forward = TractClassifier::new(relu_linear(dir.path(), 1.0)).expect("plan");
        let other = TractDifferentiable::new(relu_linear(dir.path(), 2.0)).expect("vjp");
        let found = vjp_disagreement(&forward, &other, true).expect("probe");
        assert!(found.is_some_and(|why| why.contains("logits differ")));
    }

    #[test]
    fn wrong_gradients_with_the_right_logits_disagree() {
        let dir = tempfile::tempdir().expect("tempdir");
        for factor in [-1.0, 2.0, 0.0] {
            let exact = TractDifferentiable::new(relu_linear(dir.path(), 1.0)).expect("vjp");
            let forward = TractClassifier::new(relu_linear(dir.path(), 1.0)).expect("plan");
            let wrong = Scaled(exact, factor);
            let found = vjp_disagreement(&forward, &wrong, true).expect("probe");
            assert!(
                found
                    .as_deref()
                    .is_some_and(|why| why.contains("directional derivative")),
                "factor {factor}: {found:?}"
            );
            // Without the directional check (straight-through graphs) only logits count.
            assert_eq!(
                vjp_disagreement(&forward, &wrong, false).expect("probe"),
                None
            );
        }
    }
}
