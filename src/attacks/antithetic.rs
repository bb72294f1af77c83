//! Gradient estimates from antithetic pairs of random directions (SPSA, NES): for
//! directions `u_1..u_k` and a scale `s`,
//! `g = 1/k * sum_i u_i * (L(x + s u_i) - L(x - s u_i)) / (2 s)`, which is unbiased for the
//! gradient of `L` smoothed along the directions' distribution (Rademacher or Gaussian: both
//! have identity covariance). The iterate and its `2k` probes go to the model as one batch.

use ndarray::{ArrayView1, ArrayView3, Axis};

use super::scores::{repeated, score};
use super::{Goal, Oracle};
use crate::error::Result;

/// What one batch tells about the iterate.
#[derive(Debug, Clone)]
pub(super) struct Estimate {
    /// The loss at the iterate itself.
    pub(super) loss: f64,
    /// Whether the iterate's prediction reaches the goal.
    pub(super) reached: bool,
    /// The estimated gradient of the loss, one value per image value.
    pub(super) gradient: Vec<f64>,
}

/// The loss at `x` and the estimate of its gradient from `directions` (each of `x.len()`
/// values) probed at distance `scale` on both sides: `2 * directions.len() + 1` forward
/// queries in one batch. The probes are not clipped to the value range: they are only
/// queried, never returned.
pub(super) fn estimate(
    oracle: &mut Oracle,
    x: ArrayView3<f32>,
    directions: &[Vec<f32>],
    scale: f64,
    goal: Goal,
    loss: &dyn Fn(ArrayView1<f32>) -> f64,
) -> Result<Estimate> {
    let k = directions.len();
    let mut batch = repeated(x, 2 * k + 1);
    for (i, u) in directions.iter().enumerate() {
        for (sign, row) in [(1.0, 1 + i), (-1.0, 1 + k + i)] {
            let mut probe = batch.index_axis_mut(Axis(0), row);
            for (v, &d) in probe.iter_mut().zip(u) {
                *v = (f64::from(*v) + sign * scale * f64::from(d)) as f32;
            }
        }
    }
    let scores = score(oracle, batch.view(), goal, loss)?;
    let mut gradient = vec![0.0f64; x.len()];
    for (i, u) in directions.iter().enumerate() {
        let slope = (scores.losses[1 + i] - scores.losses[1 + k + i]) / (2.0 * scale * k as f64);
        for (g, &d) in gradient.iter_mut().zip(u) {
            *g += slope * f64::from(d);
        }
    }
    Ok(Estimate {
        loss: scores.losses[0],
        reached: scores.reached[0],
        gradient,
    })
}
