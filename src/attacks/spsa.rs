//! SPSA (Uesato et al. 2018): Adam on gradient estimates from simultaneous perturbations,
//! projected onto the L-infinity ball and the value range after every step. Each estimate
//! probes the iterate at `x ± delta * v` for Rademacher directions `v` (every value ±1),
//! in antithetic pairs (see [`super::antithetic`]); the iterate and all probes are one
//! batch. The attack starts from the clean image and stops at the first iterate that
//! reaches the goal; when none does, the iterate with the lowest loss is returned.

use ndarray::{Array3, ArrayView1, Axis};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::adam::Adam;
use super::antithetic::estimate;
use super::losses::Loss;
use super::params::{ParamKind, ParamSpec, Params, SCORE_LOSS, TARGETS_NONE};
use super::scores::{score, Lowest};
use super::{
    project_linf, Attack, BudgetKind, Description, Norm, Oracle, Problem, Signal, Targets,
};
use crate::error::Result;

/// The parameters of `spsa` (Uesato et al.'s settings).
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "steps",
        kind: ParamKind::Count,
        default: "100",
        doc: "Adam steps at most; each is one batch of 2 * ceil(samples / 2) + 1 forward queries, plus one for the last iterate",
    },
    ParamSpec {
        name: "samples",
        kind: ParamKind::Count,
        default: "128",
        doc: "probes per gradient estimate, in antithetic pairs (an odd count is rounded up)",
    },
    ParamSpec {
        name: "delta",
        kind: ParamKind::Positive,
        default: "0.01",
        doc: "probe distance: every value moves by +-delta, in the input's value scale",
    },
    ParamSpec {
        name: "learning_rate",
        kind: ParamKind::Positive,
        default: "0.01",
        doc: "Adam learning rate, in the input's value scale",
    },
    SCORE_LOSS,
    TARGETS_NONE,
];

/// SPSA with Adam, in L-infinity.
#[derive(Debug, Clone)]
pub struct Spsa {
    steps: usize,
    pairs: usize,
    delta: f64,
    learning_rate: f64,
    loss: Loss,
    targets: Targets,
}

impl Spsa {
    /// Builds the attack from its resolved parameters.
    pub fn new(params: &Params) -> Result<Self> {
        Ok(Spsa {
            steps: params.integer("steps")?,
            pairs: params.integer("samples")?.div_ceil(2),
            delta: params.number("delta")?,
            learning_rate: params.number("learning_rate")?,
            loss: Loss::from_choice(params.choice("loss")?),
            targets: params.targets()?,
        })
    }
}

impl Attack for Spsa {
    fn describe(&self) -> Description {
        Description {
            name: "spsa",
            budget: BudgetKind::Radius(Norm::Linf),
            targets: self.targets,
            signal: Signal::Scores(self.loss.output()),
        }
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        let eps = problem.radius()?;
        let goal = problem.goal;
        let loss = |z: ArrayView1<f32>| self.loss.eval(z, goal).0;
        let mut x = problem.image.to_owned();
        let mut w: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let mut adam = Adam::new(w.len(), self.learning_rate);
        let mut lowest = Lowest::default();
        for _ in 0..self.steps {
            let directions: Vec<Vec<f32>> = (0..self.pairs)
                .map(|_| {
                    (0..w.len())
                        .map(|_| if rng.gen::<bool>() { 1.0 } else { -1.0 })
                        .collect()
                })
                .collect();
            let e = estimate(oracle, x.view(), &directions, self.delta, goal, &loss)?;
            if e.reached {
                return Ok(x);
            }
            lowest.offer(e.loss, &x);
            adam.step(&mut w, &e.gradient);
            for (v, &u) in x.iter_mut().zip(&w) {
                *v = u as f32;
            }
            project_linf(x.view_mut(), problem.image, eps, problem.domain);
            // The optimiser's variables stay on the feasible set.
            for (u, &v) in w.iter_mut().zip(x.iter()) {
                *u = f64::from(v);
            }
        }
        let last = score(oracle, x.view().insert_axis(Axis(0)), goal, &loss)?;
        if last.reached[0] {
            return Ok(x);
        }
        lowest.offer(last.losses[0], &x);
        Ok(lowest.image_or(problem.image))
    }
}
