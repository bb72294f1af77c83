//! APGD-T (Croce and Hein, ICML 2020): Auto-PGD on the targeted DLR loss, run once per
//! target class, the `targets` highest-scoring classes other than the label on the clean
//! image, in decreasing order of score. The goal stays untargeted, as in the reference: a
//! run stops when the prediction leaves the label, whichever class it becomes.

use ndarray::Array3;
use rand_chacha::ChaCha8Rng;

use super::apgd::{Apgd, ApgdLoss, Outcome};
use super::params::Params;
use super::{Attack, Description, Goal, Norm, Oracle, Output, Problem, Signal};
use crate::error::Result;

/// APGD-T in L-infinity or L2.
#[derive(Debug, Clone)]
pub struct ApgdT {
    inner: Apgd,
    norm: Norm,
    targets: usize,
}

impl ApgdT {
    /// Builds the attack called `name` in `norm` (`Linf` or `L2`) from its parameters.
    pub fn new(name: &'static str, norm: Norm, params: &Params) -> Result<Self> {
        Ok(ApgdT {
            inner: Apgd::new(name, norm, ApgdLoss::Dlr, params)?,
            norm,
            targets: params.integer("targets")?,
        })
    }
}

/// The classes other than `label` by decreasing logit (the lower index first on ties).
pub(super) fn ranked_others(logits: &[f32], label: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).filter(|&k| k != label).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order
}

impl Attack for ApgdT {
    fn describe(&self) -> Description {
        Description::untargeted_radius(
            self.inner.name(),
            self.norm,
            Signal::Gradient(Output::Logits),
        )
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        let label = problem.goal.label();
        let logits = oracle.logits_one(problem.image)?;
        let logits: Vec<f32> = logits.iter().copied().collect();
        let mut best = Outcome::Best(f64::NEG_INFINITY, problem.image.to_owned());
        for target in ranked_others(&logits, label).into_iter().take(self.targets) {
            let aim = Goal::Targeted { label, target };
            match self.inner.search(oracle, problem, aim, rng)? {
                Outcome::Reached(x) => return Ok(x),
                Outcome::Best(value, x) => {
                    if matches!(best, Outcome::Best(v, _) if value > v) {
                        best = Outcome::Best(value, x);
                    }
                }
            }
        }
        Ok(match best {
            Outcome::Reached(x) | Outcome::Best(_, x) => x,
        })
    }
}
