//! The Carlini-Wagner L2 attack (Carlini and Wagner 2017): minimise
//! `||x' - x||_2^2 + c * f(x')` over `x' = box(tanh(w))` with Adam, where
//! `f = max(margin, -kappa)` is the logit margin (see [`super::losses::margin`]), and
//! binary-search the constant `c`: it is multiplied by 10 while no success is found, then
//! bisected. Each search step restarts from the clean image and stops early when the loss
//! has not fallen by 0.01% over a tenth of the steps. The smallest successful image over
//! all steps is returned (the clean image when there is none).

use ndarray::Array3;
use rand_chacha::ChaCha8Rng;

use super::adam::Adam;
use super::margin_queries::{MarginPoint, MarginQueries};
use super::params::{ParamKind, ParamSpec, Params, TARGETS_ALL};
use super::tanh_box::TanhBox;
use super::{Attack, BudgetKind, Description, Norm, Oracle, Output, Problem, Signal, Targets};
use crate::error::Result;
use crate::model::argmax;

/// The parameters of `cw-l2`: Carlini and Wagner's defaults, with the 1000 steps and the
/// every-other-class targets of the distillation papers' evaluation.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "steps",
        kind: ParamKind::Count,
        default: "1000",
        doc: "Adam steps per binary-search step",
    },
    ParamSpec {
        name: "binary_steps",
        kind: ParamKind::Count,
        default: "9",
        doc: "binary-search steps on the constant c",
    },
    ParamSpec {
        name: "initial_const",
        kind: ParamKind::Positive,
        default: "0.001",
        doc: "first value of c",
    },
    ParamSpec {
        name: "learning_rate",
        kind: ParamKind::Positive,
        default: "0.01",
        doc: "Adam learning rate, in tanh-space units",
    },
    ParamSpec {
        name: "confidence",
        kind: ParamKind::NonNegative,
        default: "0",
        doc: "kappa: the logit margin by which the goal must be reached",
    },
    ParamSpec {
        name: "abort_early",
        kind: ParamKind::Flag,
        default: "true",
        doc: "stop a search step when the loss stalls over a tenth of the steps",
    },
    TARGETS_ALL,
];

/// C&W L2, a minimal-perturbation attack.
#[derive(Debug, Clone)]
pub struct CwL2 {
    steps: usize,
    binary_steps: usize,
    initial_const: f64,
    learning_rate: f64,
    confidence: f64,
    abort_early: bool,
    targets: Targets,
}

/// The constant's upper bound before any success: "not yet bounded".
const UNBOUNDED: f64 = 1e10;

impl CwL2 {
    /// Builds the attack from its resolved parameters.
    pub fn new(params: &Params) -> Result<Self> {
        Ok(CwL2 {
            steps: params.integer("steps")?,
            binary_steps: params.integer("binary_steps")?,
            initial_const: params.number("initial_const")?,
            learning_rate: params.number("learning_rate")?,
            confidence: params.number("confidence")?,
            abort_early: params.flag("abort_early")?,
            targets: params.targets()?,
        })
    }
}

impl Attack for CwL2 {
    fn describe(&self) -> Description {
        Description {
            name: "cw-l2",
            budget: BudgetKind::Minimal(Norm::L2),
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
        let clean = problem.image;
        let tanh_box = TanhBox::new(problem.domain, problem.image);
        let w0 = tanh_box.to_w(clean);
        let (mut lower, mut upper, mut c) = (0.0, UNBOUNDED, self.initial_const);
        let mut best: Option<(f64, Array3<f32>)> = None;
        let check_every = (self.steps / 10).max(1);
        let mut queries = MarginQueries::new(problem.goal, oracle.classes());
        for _ in 0..self.binary_steps {
            let mut w = w0.clone();
            let mut adam = Adam::new(w.len(), self.learning_rate);
            let mut previous = f64::INFINITY;
            let mut succeeded = false;
            for step in 0..self.steps {
                let x = tanh_box.image(&w);
                let delta: Vec<f64> = x
                    .iter()
                    .zip(clean.iter())
                    .map(|(&a, &b)| f64::from(a) - f64::from(b))
                    .collect();
                let l2_squared: f64 = delta.iter().map(|d| d * d).sum();
                let MarginPoint { logits, gap } = queries.at(oracle, x.view())?;
                let hinge_active = gap > -self.confidence;
                let loss = l2_squared + c * gap.max(-self.confidence);
                if !hinge_active && problem.goal.reached_by(argmax(logits.iter().copied())) {
                    succeeded = true;
                    if best.as_ref().is_none_or(|(d, _)| l2_squared < *d) {
                        best = Some((l2_squared, x.clone()));
                    }
                }
                if self.abort_early && step % check_every == 0 {
                    if loss > previous * 0.9999 {
                        break;
                    }
                    previous = loss;
                }
                let mut grad_x: Vec<f64> = delta.iter().map(|d| 2.0 * d).collect();
                if hinge_active {
                    let margin_grad = queries.gradient(oracle)?;
                    for (g, &m) in grad_x.iter_mut().zip(margin_grad.iter()) {
                        *g += c * f64::from(m);
                    }
                }
                let slope = tanh_box.slope(&w);
                let grad_w: Vec<f64> = grad_x.iter().zip(&slope).map(|(g, s)| g * s).collect();
                adam.step(&mut w, &grad_w);
            }
            if succeeded {
                upper = upper.min(c);
                c = (lower + upper) / 2.0;
            } else {
                lower = lower.max(c);
                c = if upper < UNBOUNDED {
                    (lower + upper) / 2.0
                } else {
                    c * 10.0
                };
            }
        }
        Ok(best.map_or_else(|| clean.to_owned(), |(_, x)| x))
    }
}
