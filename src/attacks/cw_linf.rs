//! The Carlini-Wagner L-infinity attack (Carlini and Wagner 2017): minimise
//! `c * max(margin, 0) + sum_j max(|x'_j - x_j| - tau, 0)` over `x' = box(tanh(w))` with
//! Adam. At each `tau` one Adam run starts from the last success and, while the goal is not
//! reached with every change within `tau`, doubles `c` without restarting (the modifier and
//! Adam's moments carry over, as in the reference implementation); `c` also carries over to
//! the next `tau` instead of going back to `initial_const`. After each success `tau` becomes
//! the largest change found times `decrease_factor`, until no success is found or `tau`
//! falls below `min_tau`. The attack is targeted at every other class by default, as the
//! reference is. The last success (smallest `tau`) is returned, or the clean image when
//! there was none.

use ndarray::Array3;
use rand_chacha::ChaCha8Rng;

use super::adam::Adam;
use super::margin_queries::{MarginPoint, MarginQueries};
use super::params::{ParamKind, ParamSpec, Params};
use super::tanh_box::TanhBox;
use super::{Attack, BudgetKind, Description, Norm, Oracle, Output, Problem, Signal, Targets};
use crate::error::Result;
use crate::model::argmax;

/// The parameters of `cw-linf` (Carlini and Wagner's defaults).
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "steps",
        kind: ParamKind::Count,
        default: "1000",
        doc: "Adam steps per (tau, c) pair at most",
    },
    ParamSpec {
        name: "learning_rate",
        kind: ParamKind::Positive,
        default: "0.005",
        doc: "Adam learning rate, in tanh-space units",
    },
    ParamSpec {
        name: "initial_const",
        kind: ParamKind::Positive,
        default: "0.00001",
        doc: "first value of c (later taus start from the last successful c)",
    },
    ParamSpec {
        name: "largest_const",
        kind: ParamKind::Positive,
        default: "20",
        doc: "c is doubled while it stays below this",
    },
    ParamSpec {
        name: "decrease_factor",
        kind: ParamKind::Fraction,
        default: "0.9",
        doc: "tau is multiplied by this after each success",
    },
    ParamSpec {
        name: "min_tau",
        kind: ParamKind::Positive,
        default: "0.00390625",
        doc: "stop when tau falls below this (1/256), in the input's value scale",
    },
    ParamSpec {
        name: "targets",
        kind: ParamKind::Choice(&["all", "none"]),
        default: "all",
        doc: "all: one targeted run per class other than the label (the reference's setting); none: untargeted",
    },
];

/// C&W L-infinity, a minimal-perturbation attack.
#[derive(Debug, Clone)]
pub struct CwLinf {
    steps: usize,
    learning_rate: f64,
    initial_const: f64,
    largest_const: f64,
    decrease_factor: f64,
    min_tau: f64,
    targets: Targets,
}

impl CwLinf {
    /// Builds the attack from its resolved parameters.
    pub fn new(params: &Params) -> Result<Self> {
        Ok(CwLinf {
            steps: params.integer("steps")?,
            learning_rate: params.number("learning_rate")?,
            initial_const: params.number("initial_const")?,
            largest_const: params.number("largest_const")?,
            decrease_factor: params.number("decrease_factor")?,
            min_tau: params.number("min_tau")?,
            targets: params.targets()?,
        })
    }

    /// One Adam run from `start` at `tau`, doubling `c` from `c` while the goal is not
    /// reached: the first image that reaches the goal with every change within `tau`, and
    /// the `c` that found it.
    fn solve(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        tanh_box: &TanhBox,
        start: &[f64],
        tau: f64,
        mut c: f64,
    ) -> Result<Option<(Array3<f32>, f64)>> {
        let clean = problem.image;
        let mut w = start.to_vec();
        let mut adam = Adam::new(w.len(), self.learning_rate);
        let mut queries = MarginQueries::new(problem.goal, oracle.classes());
        while c < self.largest_const {
            for _ in 0..self.steps {
                let x = tanh_box.image(&w);
                let MarginPoint { logits, gap } = queries.at(oracle, x.view())?;
                let delta: Vec<f64> = x
                    .iter()
                    .zip(clean.iter())
                    .map(|(&a, &b)| f64::from(a) - f64::from(b))
                    .collect();
                let within = delta.iter().all(|d| d.abs() <= tau);
                if gap <= 0.0 && within && problem.goal.reached_by(argmax(logits.iter().copied())) {
                    return Ok(Some((x, c)));
                }
                let mut grad_x: Vec<f64> = delta
                    .iter()
                    .map(|&d| if d.abs() > tau { d.signum() } else { 0.0 })
                    .collect();
                if gap > 0.0 {
                    let margin_grad = queries.gradient(oracle)?;
                    for (g, &m) in grad_x.iter_mut().zip(margin_grad.iter()) {
                        *g += c * f64::from(m);
                    }
                }
                let slope = tanh_box.slope(&w);
                let grad_w: Vec<f64> = grad_x.iter().zip(&slope).map(|(g, s)| g * s).collect();
                adam.step(&mut w, &grad_w);
            }
            c *= 2.0;
        }
        Ok(None)
    }
}

impl Attack for CwLinf {
    fn describe(&self) -> Description {
        Description {
            name: "cw-linf",
            budget: BudgetKind::Minimal(Norm::Linf),
            targets: self.targets,
            signal: Signal::Gradient(Output::Logits),
        }
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        let tanh_box = TanhBox::new(problem.domain, problem.image);
        let mut start = tanh_box.to_w(problem.image);
        let mut tau = f64::from(problem.domain.hi) - f64::from(problem.domain.lo);
        let mut c = self.initial_const;
        let mut best = None;
        while tau >= self.min_tau {
            let Some((x, found_at)) = self.solve(oracle, problem, &tanh_box, &start, tau, c)?
            else {
                break;
            };
            c = found_at;
            let largest = x
                .iter()
                .zip(problem.image.iter())
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
                .fold(0.0, f64::max);
            tau = tau.min(largest) * self.decrease_factor;
            start = tanh_box.to_w(x.view());
            best = Some(x);
        }
        Ok(best.unwrap_or_else(|| problem.image.to_owned()))
    }
}
