//! Auto-PGD (Croce and Hein, ICML 2020): projected gradient ascent on a loss with momentum
//! and a step size that needs no tuning. The step starts at `2 * eps` and is halved at
//! checkpoints `p_0 = 0`, `p_1 = 0.22`, `p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)`
//! (fractions of the iterations) when fewer than `rho` of the steps since the previous
//! checkpoint raised the loss, or when neither the step size nor the best loss changed since
//! then; a halving restarts from the best point found. Each update is
//! `z = P(x_k + eta * d_k)`, `x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1}))`
//! with `d_k` the gradient sign (L-infinity) or unit gradient (L2), momentum `alpha = 0.75`
//! (1 on the first step), and `P` the projection onto the ball and the value range.
//!
//! Two losses: cross-entropy (`apgd-ce`) and the Difference-of-Logits-Ratio (`apgd-dlr`,
//! see [`super::dlr`]), which a rescaled or saturated softmax does not flatten. A targeted
//! goal follows the targeted DLR or the target's cross-entropy.
//!
//! Deviations from the reference implementation, none of which changes what is found: a
//! run stops at the first iterate that reaches the goal (the reference keeps iterating the
//! batch and overwrites its record); the first checkpoint counts the increases from the
//! starting point rather than from an unset entry; when no iterate reaches the goal, the
//! point of highest loss over all restarts is returned instead of the clean image.

use ndarray::{Array3, ArrayView1, ArrayView3, Zip};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::dlr;
use super::losses::{cross_entropy, Loss};
use super::params::{ParamKind, ParamSpec, Params};
use super::pgd::gaussian;
use super::{
    project_l2, project_linf, Attack, BudgetKind, Description, Goal, Norm, Oracle, Output, Problem,
    Signal, Targets,
};
use crate::error::{Error, Result};
use crate::model::argmax;

const STEPS: ParamSpec = ParamSpec {
    name: "steps",
    kind: ParamKind::Count,
    default: "100",
    doc: "gradient steps per restart (per target for apgd-t)",
};

const RESTARTS: ParamSpec = ParamSpec {
    name: "restarts",
    kind: ParamKind::Count,
    default: "1",
    doc: "runs from independent random starts; the first that reaches the goal is kept",
};

const RHO: ParamSpec = ParamSpec {
    name: "rho",
    kind: ParamKind::Fraction,
    default: "0.75",
    doc: "halve the step when at most this fraction of the steps since the last checkpoint raised the loss",
};

const MOMENTUM: ParamSpec = ParamSpec {
    name: "momentum",
    kind: ParamKind::Fraction,
    default: "0.75",
    doc: "weight alpha of the new step against the previous one",
};

/// The parameters of `apgd-ce` and `apgd-dlr`, with the standard version's defaults.
pub const PARAMS: &[ParamSpec] = &[STEPS, RESTARTS, RHO, MOMENTUM];

/// The parameters of `apgd-t`: those of APGD and the number of target classes.
pub const TARGETED_PARAMS: &[ParamSpec] = &[
    STEPS,
    RESTARTS,
    RHO,
    MOMENTUM,
    ParamSpec {
        name: "targets",
        kind: ParamKind::Count,
        default: "9",
        doc: "target classes, the highest-scoring other classes of the clean image",
    },
];

/// The loss APGD ascends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApgdLoss {
    /// Cross-entropy of the softmax at temperature 1.
    CrossEntropy,
    /// The Difference-of-Logits-Ratio.
    Dlr,
}

/// How a search ended.
pub(super) enum Outcome {
    /// This iterate reaches the goal.
    Reached(Array3<f32>),
    /// No iterate did; the highest loss and where it was reached.
    Best(f64, Array3<f32>),
}

/// APGD in L-infinity or L2 with one loss.
#[derive(Debug, Clone)]
pub struct Apgd {
    name: &'static str,
    norm: Norm,
    loss: ApgdLoss,
    steps: usize,
    restarts: usize,
    rho: f64,
    momentum: f64,
}

/// The iterations after which the step size is reconsidered: the schedule `p_j` in whole
/// iterations, rounded down as the reference does (`22, 41, 57, 70, 80, 87, 93, 99` of 100).
pub fn checkpoints(steps: usize) -> Vec<usize> {
    let fraction = |f: f64| ((f * steps as f64) as usize).max(1);
    let (mut gap, shrink, least) = (fraction(0.22), fraction(0.03), fraction(0.06));
    let mut at = gap;
    let mut all = Vec::new();
    while at <= steps {
        all.push(at);
        gap = gap.saturating_sub(shrink).max(least);
        at += gap;
    }
    all
}

impl Apgd {
    /// Builds the attack called `name` in `norm` (`Linf` or `L2`) following `loss`.
    pub fn new(name: &'static str, norm: Norm, loss: ApgdLoss, params: &Params) -> Result<Self> {
        Ok(Apgd {
            name,
            norm,
            loss,
            steps: params.integer("steps")?,
            restarts: params.integer("restarts")?,
            rho: params.number("rho")?,
            momentum: params.number("momentum")?,
        })
    }

    /// The loss to maximise at logits `z` and its gradient with respect to `z`.
    fn objective(&self, z: ArrayView1<f32>, goal: Goal) -> Result<(f64, Vec<f32>)> {
        match self.loss {
            ApgdLoss::CrossEntropy => {
                let (value, grad) = cross_entropy(z, goal);
                Ok((-value, grad.into_iter().map(|g| -g).collect()))
            }
            ApgdLoss::Dlr => {
                let least = if goal.target().is_some() { 4 } else { 3 };
                if z.len() < least {
                    return Err(Error::Usage {
                        message: format!(
                            "{} needs a model with at least {least} classes, this one has {}",
                            self.name,
                            z.len()
                        ),
                        hint: Some("use apgd-ce on models with fewer classes".into()),
                    });
                }
                Ok(match goal {
                    Goal::Untargeted { label } => dlr::untargeted(z, label),
                    Goal::Targeted { label, target } => dlr::targeted(z, label, target),
                })
            }
        }
    }

    fn project(&self, candidate: &mut Array3<f32>, problem: &Problem, eps: f64) {
        match self.norm {
            Norm::L2 => project_l2(candidate.view_mut(), problem.image, eps, problem.domain),
            _ => project_linf(candidate.view_mut(), problem.image, eps, problem.domain),
        }
    }

    /// A uniform point of the L-infinity box, or a point on the L2 sphere, as the reference.
    fn start(&self, problem: &Problem, eps: f64, rng: &mut ChaCha8Rng) -> Array3<f32> {
        let mut x = problem.image.to_owned();
        match self.norm {
            Norm::L2 => {
                let direction: Vec<f64> = (0..x.len()).map(|_| gaussian(rng)).collect();
                let length = direction.iter().map(|d| d * d).sum::<f64>().sqrt();
                if length > 0.0 {
                    for (v, d) in x.iter_mut().zip(&direction) {
                        *v += (d / length * eps) as f32;
                    }
                }
            }
            _ => x.mapv_inplace(|v| v + rng.gen_range(-eps..=eps) as f32),
        }
        self.project(&mut x, problem, eps);
        x
    }

    /// `x + eta * d` with `d` the sign or the unit direction of `grad` (ascent).
    fn ascend(&self, x: &Array3<f32>, grad: ArrayView3<f32>, eta: f64) -> Array3<f32> {
        let mut z = x.clone();
        match self.norm {
            Norm::L2 => {
                let length = grad
                    .iter()
                    .map(|&g| f64::from(g).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if length > 0.0 {
                    let scale = (eta / length) as f32;
                    Zip::from(&mut z)
                        .and(grad)
                        .for_each(|v, &g| *v += scale * g);
                }
            }
            _ => {
                let a = eta as f32;
                Zip::from(&mut z).and(grad).for_each(|v, &g| {
                    if g > 0.0 {
                        *v += a;
                    } else if g < 0.0 {
                        *v -= a;
                    }
                });
            }
        }
        z
    }

    /// One run from a random start, ascending the loss of `aim`.
    fn restart(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        aim: Goal,
        eps: f64,
        rng: &mut ChaCha8Rng,
    ) -> Result<Outcome> {
        let mut x = self.start(problem, eps, rng);
        let (value, mut grad) = match self.evaluate(oracle, problem, aim, &x)? {
            Some(found) => found,
            None => return Ok(Outcome::Reached(x)),
        };
        let (mut best_value, mut best_x, mut best_grad) = (value, x.clone(), grad.clone());
        let mut previous = x.clone();
        let mut eta = 2.0 * eps;
        let mut values = vec![value];
        let checkpoints = checkpoints(self.steps);
        let mut last_checkpoint = 0;
        let (mut halved_last, mut best_at_last) = (true, best_value);
        for i in 1..=self.steps {
            let alpha = if i == 1 { 1.0 } else { self.momentum } as f32;
            let mut z = self.ascend(&x, grad.view(), eta);
            self.project(&mut z, problem, eps);
            let mut next = x.clone();
            Zip::from(&mut next)
                .and(&z)
                .and(&previous)
                .for_each(|n, &z, &p| *n += alpha * (z - *n) + (1.0 - alpha) * (*n - p));
            self.project(&mut next, problem, eps);
            previous = std::mem::replace(&mut x, next);
            let (value, g) = match self.evaluate(oracle, problem, aim, &x)? {
                Some(found) => found,
                None => return Ok(Outcome::Reached(x)),
            };
            values.push(value);
            grad = g;
            if value > best_value {
                (best_value, best_x, best_grad) = (value, x.clone(), grad.clone());
            }
            if checkpoints.contains(&i) {
                let increases = values[last_checkpoint..=i]
                    .windows(2)
                    .filter(|w| w[1] > w[0])
                    .count();
                let oscillating = increases as f64 <= self.rho * (i - last_checkpoint) as f64;
                let stalled = !halved_last && best_at_last >= best_value;
                halved_last = oscillating || stalled;
                best_at_last = best_value;
                if halved_last {
                    eta /= 2.0;
                    x = best_x.clone();
                    grad = best_grad.clone();
                }
                last_checkpoint = i;
            }
        }
        Ok(Outcome::Best(best_value, best_x))
    }

    /// The loss of `aim` and its input gradient at `x`, or `None` when `x` reaches the
    /// problem's goal.
    fn evaluate(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        aim: Goal,
        x: &Array3<f32>,
    ) -> Result<Option<(f64, Array3<f32>)>> {
        // Cross-entropy's gradient comes in the logits' query (the VJP graph takes the seed
        // at its own logits); DLR's seed needs the sorted logits first.
        let (logits, grad) = match self.loss {
            ApgdLoss::CrossEntropy => {
                let seeds = Loss::CrossEntropy.seeds(aim, oracle.classes()).negated();
                let (logits, grad) = oracle.loss_gradient_one(x.view(), &seeds)?;
                (logits, Some(grad))
            }
            ApgdLoss::Dlr => (oracle.logits_one(x.view())?, None),
        };
        if problem.goal.reached_by(argmax(logits.iter().copied())) {
            return Ok(None);
        }
        let (value, seed) = self.objective(logits.view(), aim)?;
        let grad = match grad {
            Some(grad) => grad,
            None => oracle.vjp_one(x.view(), &seed)?.1,
        };
        Ok(Some((value, grad)))
    }
}

impl Apgd {
    /// Every restart until one reaches the problem's goal, ascending the loss of `aim` (the
    /// goal itself, or a target class when the goal is untargeted, as in APGD-T).
    pub(super) fn search(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        aim: Goal,
        rng: &mut ChaCha8Rng,
    ) -> Result<Outcome> {
        let eps = problem.radius()?;
        let mut best = Outcome::Best(f64::NEG_INFINITY, problem.image.to_owned());
        for _ in 0..self.restarts {
            match self.restart(oracle, problem, aim, eps, rng)? {
                Outcome::Reached(x) => return Ok(Outcome::Reached(x)),
                Outcome::Best(value, x) => {
                    if matches!(best, Outcome::Best(v, _) if value > v) {
                        best = Outcome::Best(value, x);
                    }
                }
            }
        }
        Ok(best)
    }
}

impl Attack for Apgd {
    fn describe(&self) -> Description {
        Description {
            name: self.name,
            budget: BudgetKind::Radius(self.norm),
            targets: Targets::Untargeted,
            signal: Signal::Gradient(match self.loss {
                ApgdLoss::CrossEntropy => Output::Probabilities,
                ApgdLoss::Dlr => Output::Logits,
            }),
        }
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        Ok(match self.search(oracle, problem, problem.goal, rng)? {
            Outcome::Reached(x) | Outcome::Best(_, x) => x,
        })
    }
}
