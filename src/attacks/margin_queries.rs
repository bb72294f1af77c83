//! The logit margin and its input gradient along the Carlini-Wagner attacks' optimisation
//! paths, at one model query per step wherever the path allows.
//!
//! C&W needs the margin's gradient only while its hinge is active (the goal not yet reached
//! by the required margin), and learns that from the logits at the same point. The gradient
//! is asked for in the same query as the logits whenever the previous step needed it, which
//! is the common case; otherwise the logits alone are asked for, and the gradient follows in
//! a second query only if this step needs it after all. Either way the gradient is the
//! margin's at the point's own logits, so only the query count depends on the guess.

use ndarray::{Array1, Array3, ArrayView3};

use super::losses::{margin, Loss};
use super::{Goal, Oracle};
use crate::error::{Error, Result};
use crate::model::LogitSeeds;

/// Margin queries for one goal; see the module docs.
pub(super) struct MarginQueries {
    goal: Goal,
    seeds: LogitSeeds,
    /// Whether the last point's gradient was asked for.
    wanted_last: bool,
    /// The point last passed to [`MarginQueries::at`].
    pending: Option<Pending>,
}

/// A point, the margin's seed at its logits, and the margin's gradient there when it came in
/// the same query.
struct Pending {
    x: Array3<f32>,
    seed: Vec<f32>,
    grad: Option<Array3<f32>>,
}

/// The model's answer at one point.
pub(super) struct MarginPoint {
    /// The logits.
    pub logits: Array1<f32>,
    /// The margin, positive while the goal is not reached (see [`margin`]).
    pub gap: f64,
}

impl MarginQueries {
    /// Queries for `goal` on a model with `classes` logits.
    pub fn new(goal: Goal, classes: usize) -> Self {
        MarginQueries {
            goal,
            seeds: Loss::Margin.seeds(goal, classes),
            wanted_last: true,
            pending: None,
        }
    }

    /// The logits and margin at `x`, with the margin's gradient in the same query when the
    /// previous point needed its gradient.
    pub fn at(&mut self, oracle: &mut Oracle, x: ArrayView3<f32>) -> Result<MarginPoint> {
        let (logits, grad) = if self.wanted_last {
            let (logits, grad) = oracle.loss_gradient_one(x, &self.seeds)?;
            (logits, Some(grad))
        } else {
            (oracle.logits_one(x)?, None)
        };
        self.wanted_last = false;
        let (gap, seed) = margin(logits.view(), self.goal);
        self.pending = Some(Pending {
            x: x.to_owned(),
            seed,
            grad,
        });
        Ok(MarginPoint { logits, gap })
    }

    /// The margin's input gradient at the point last passed to [`MarginQueries::at`]: the
    /// one its query returned, or a second query's.
    pub fn gradient(&mut self, oracle: &mut Oracle) -> Result<Array3<f32>> {
        self.wanted_last = true;
        let Pending { x, seed, grad } = self.pending.take().ok_or_else(|| Error::Internal {
            message: "a margin gradient was asked for before any point".into(),
        })?;
        match grad {
            Some(grad) => Ok(grad),
            None => Ok(oracle.vjp_one(x.view(), &seed)?.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Axis;

    use super::*;
    use crate::attacks::tests::{dense_model, images};
    use crate::model::Classifier;

    #[test]
    fn the_gradient_comes_with_the_logits_while_the_path_needs_it() -> Result<()> {
        let model = dense_model(41);
        let x = images(2, -0.4, 0.4, 42);
        let label = model.predict(x.view()).expect("predict")[0];
        let goal = Goal::Untargeted { label };
        let (a, b) = (x.index_axis(Axis(0), 0), x.index_axis(Axis(0), 1));
        let mut oracle = Oracle::new(&model);
        let mut queries = MarginQueries::new(goal, model.classes());
        // First point: logits and gradient in one query.
        let point = queries.at(&mut oracle, a)?;
        let fused = queries.gradient(&mut oracle)?;
        assert_eq!(point.gap, margin(point.logits.view(), goal).0);
        // Second point, its gradient wanted last time: one query again; not asked for now.
        queries.at(&mut oracle, b)?;
        // Third point (a again): logits only, then the gradient in a second query.
        queries.at(&mut oracle, a)?;
        assert_eq!(oracle.queries().gradient, 2);
        assert_eq!(oracle.queries().forward, 1);
        let separate = queries.gradient(&mut oracle)?;
        assert_eq!(oracle.queries().gradient, 3);
        let scale = fused.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for (f, s) in fused.iter().zip(&separate) {
            assert!((f - s).abs() <= 1e-6 * scale, "{f} vs {s}");
        }
        Ok(())
    }
}
