//! The Jacobian-based saliency map attack (Papernot et al. 2016), targeted, increasing
//! features in pairs. With `alpha_j = d z_target / d x_j` and
//! `beta_j = sum_{i != target} d z_i / d x_j` (on logits, which Carlini and Wagner found
//! stronger than the softmax the original used), each step picks the pair `p, q` of
//! features still below the range's top that maximises `(alpha_p + alpha_q) *
//! -(beta_p + beta_q)` with `alpha_p + alpha_q > 0` and `beta_p + beta_q < 0`, and raises
//! both by `theta` times the range's width (clipped). It stops when the target is
//! predicted, when no pair qualifies, or when another pair would change more than `gamma`
//! of the image's values (the budget).

use ndarray::{Array2, Array3, Axis};
use rand_chacha::ChaCha8Rng;

use super::params::{ParamKind, ParamSpec, Params};
use super::{Attack, BudgetKind, Oracle, Output, Problem, Signal, Targets};
use crate::error::{Error, Result};
use crate::model::argmax;

/// The parameters of `jsma` (Papernot et al.'s MNIST evaluation).
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "gamma",
        kind: ParamKind::Fraction,
        default: "0.145",
        doc: "largest fraction of the image's values that may change (the L0 budget)",
    },
    ParamSpec {
        name: "theta",
        kind: ParamKind::Fraction,
        default: "1",
        doc: "increase per chosen feature, as a fraction of the value range's width",
    },
];

/// JSMA, targeted at every class other than the label.
#[derive(Debug, Clone)]
pub struct Jsma {
    gamma: f64,
    theta: f64,
}

impl Jsma {
    /// Builds the attack from its resolved parameters.
    pub fn new(params: &Params) -> Result<Self> {
        Ok(Jsma {
            gamma: params.number("gamma")?,
            theta: params.number("theta")?,
        })
    }
}

impl Attack for Jsma {
    fn name(&self) -> &'static str {
        "jsma"
    }

    fn budget_kind(&self) -> BudgetKind {
        BudgetKind::Features(self.gamma)
    }

    fn targets(&self) -> Targets {
        Targets::All
    }

    fn signal(&self) -> Signal {
        Signal::Gradient(Output::Logits)
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        let target = problem.goal.target().ok_or_else(|| Error::Internal {
            message: "jsma was given an untargeted goal".into(),
        })?;
        let budget = problem.budget.ok_or_else(|| Error::Internal {
            message: "jsma was run without a feature budget".into(),
        })? as usize;
        let classes = oracle.classes();
        let mut seeds = Array2::<f32>::ones((2, classes));
        seeds.row_mut(0).fill(0.0);
        seeds[[0, target]] = 1.0;
        seeds[[1, target]] = 0.0;
        let (lo, hi) = (problem.domain.lo, problem.domain.hi);
        let raise = (self.theta * (f64::from(hi) - f64::from(lo))) as f32;
        let mut x = problem.image.as_standard_layout().into_owned();
        let mut searchable: Vec<bool> = x.iter().map(|&v| v < hi).collect();
        let mut changed = vec![false; x.len()];
        let mut changes = 0;
        loop {
            let (logits, grads) = oracle.vjp_many(x.view(), seeds.view())?;
            if argmax(logits.iter().copied()) == target {
                break;
            }
            let alpha: Vec<f64> = grads
                .index_axis(Axis(0), 0)
                .iter()
                .map(|&g| f64::from(g))
                .collect();
            let beta: Vec<f64> = grads
                .index_axis(Axis(0), 1)
                .iter()
                .map(|&g| f64::from(g))
                .collect();
            let Some((p, q)) = best_pair(&alpha, &beta, &searchable) else {
                break;
            };
            let new = usize::from(!changed[p]) + usize::from(!changed[q]);
            if changes + new > budget {
                break;
            }
            for j in [p, q] {
                let v = &mut x.as_slice_mut().ok_or_else(|| Error::Internal {
                    message: "jsma works on a contiguous image".into(),
                })?[j];
                *v = (*v + raise).min(hi);
                if *v >= hi {
                    searchable[j] = false;
                }
                if !changed[j] {
                    changed[j] = true;
                    changes += 1;
                }
            }
        }
        Ok(x)
    }
}

/// The searchable pair `p < q` maximising `(alpha_p + alpha_q) * -(beta_p + beta_q)` among
/// pairs with a positive alpha sum and a negative beta sum (the first one on ties).
fn best_pair(alpha: &[f64], beta: &[f64], searchable: &[bool]) -> Option<(usize, usize)> {
    let candidates: Vec<usize> = (0..alpha.len()).filter(|&j| searchable[j]).collect();
    let mut best: Option<(f64, usize, usize)> = None;
    for (i, &p) in candidates.iter().enumerate() {
        for &q in &candidates[i + 1..] {
            let a = alpha[p] + alpha[q];
            let b = beta[p] + beta[q];
            if a > 0.0 && b < 0.0 {
                let score = -a * b;
                if best.is_none_or(|(s, ..)| score > s) {
                    best = Some((score, p, q));
                }
            }
        }
    }
    best.map(|(_, p, q)| (p, q))
}
