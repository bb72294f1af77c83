//! DeepFool (Moosavi-Dezfooli et al. 2016), multi-class L2: linearise every logit
//! difference `f_k = z_k - z_label` at the current image, step to the nearest linearised
//! boundary `r = (|f_l| + 1e-4) / ||w_l||^2 * w_l` (`w_k = grad f_k`,
//! `l = argmin |f_k| / ||w_k||`), and repeat from `x + (1 + overshoot) * sum r` (clipped
//! to the range) until the prediction leaves the label.

use ndarray::{Array2, Array3, Axis};
use rand_chacha::ChaCha8Rng;

use super::params::{ParamKind, ParamSpec, Params};
use super::{
    clip_to_range, Attack, BudgetKind, Description, Norm, Oracle, Output, Problem, Signal, Targets,
};
use crate::error::Result;
use crate::model::argmax;

/// The parameters of `deepfool` (the authors' defaults).
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "steps",
        kind: ParamKind::Count,
        default: "50",
        doc: "linearisation steps at most",
    },
    ParamSpec {
        name: "overshoot",
        kind: ParamKind::NonNegative,
        default: "0.02",
        doc: "the accumulated step is multiplied by 1 + overshoot to cross the boundary",
    },
];

/// DeepFool, untargeted, a minimal-perturbation attack in L2.
#[derive(Debug, Clone)]
pub struct DeepFool {
    steps: usize,
    overshoot: f64,
}

impl DeepFool {
    /// Builds the attack from its resolved parameters.
    pub fn new(params: &Params) -> Result<Self> {
        Ok(DeepFool {
            steps: params.integer("steps")?,
            overshoot: params.number("overshoot")?,
        })
    }
}

impl Attack for DeepFool {
    fn describe(&self) -> Description {
        Description {
            name: "deepfool",
            budget: BudgetKind::Minimal(Norm::L2),
            targets: Targets::Untargeted,
            signal: Signal::Gradient(Output::Logits),
        }
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        let label = problem.goal.label();
        let classes = oracle.classes();
        let others: Vec<usize> = (0..classes).filter(|&k| k != label).collect();
        // Row i: the gradient of z_{others[i]} - z_label.
        let mut seeds = Array2::<f32>::zeros((others.len(), classes));
        for (i, &k) in others.iter().enumerate() {
            seeds[[i, k]] = 1.0;
            seeds[[i, label]] = -1.0;
        }
        let clean = problem.image;
        let mut total = vec![0.0f64; clean.len()];
        let mut x = clean.to_owned();
        for _ in 0..self.steps {
            let (logits, grads) = oracle.vjp_many(x.view(), seeds.view())?;
            if problem.goal.reached_by(argmax(logits.iter().copied())) {
                break;
            }
            let mut nearest: Option<(f64, usize, f64, f64)> = None;
            for (i, grad) in grads.axis_iter(Axis(0)).enumerate() {
                let f = f64::from(logits[others[i]]) - f64::from(logits[label]);
                let norm_sq: f64 = grad.iter().map(|&g| f64::from(g).powi(2)).sum();
                if norm_sq == 0.0 || !norm_sq.is_finite() {
                    continue;
                }
                let distance = f.abs() / norm_sq.sqrt();
                if nearest.is_none_or(|(d, ..)| distance < d) {
                    nearest = Some((distance, i, f, norm_sq));
                }
            }
            let Some((_, i, f, norm_sq)) = nearest else {
                // Every logit difference is flat here: no direction to follow.
                break;
            };
            let scale = (f.abs() + 1e-4) / norm_sq;
            for (t, &g) in total.iter_mut().zip(grads.index_axis(Axis(0), i).iter()) {
                *t += scale * f64::from(g);
            }
            for ((v, &c), &t) in x.iter_mut().zip(clean.iter()).zip(&total) {
                *v = (f64::from(c) + (1.0 + self.overshoot) * t) as f32;
            }
            clip_to_range(x.view_mut(), problem.domain);
        }
        Ok(x)
    }
}
