//! NES (Ilyas et al. 2018, query-limited setting): projected gradient descent with sign
//! steps, `x_{t+1} = Proj(x_t - eta * sign(g_t))`, on natural-evolution-strategies
//! estimates `g_t` of the loss gradient from Gaussian directions `u ~ N(0, I)` probed at
//! `x_t ± sigma * u` in antithetic pairs (see [`super::antithetic`]); the iterate and all
//! probes are one batch. `sigma` and `eta` are fractions of the value range's width, so the
//! paper's values for pixels in `[0, 1]` carry over to any range (`[-0.5, 0.5]` also has
//! width 1). The attack starts from the clean image and stops at the first iterate that
//! reaches the goal; when none does, the iterate with the lowest loss is returned.

use ndarray::{Array3, ArrayView1, Axis};
use rand_chacha::ChaCha8Rng;

use super::antithetic::estimate;
use super::losses::Loss;
use super::params::{ParamKind, ParamSpec, Params, SCORE_LOSS, TARGETS_NONE};
use super::pgd::gaussian;
use super::scores::{score, Lowest};
use super::{
    project_linf, Attack, BudgetKind, Description, Norm, Oracle, Problem, Signal, Targets,
};
use crate::error::Result;

/// The parameters of `nes` (Ilyas et al.'s sigma, population and learning rate).
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "steps",
        kind: ParamKind::Count,
        default: "200",
        doc: "sign steps at most; each is one batch of 2 * ceil(samples / 2) + 1 forward queries, plus one for the last iterate",
    },
    ParamSpec {
        name: "samples",
        kind: ParamKind::Count,
        default: "50",
        doc: "probes per gradient estimate (the NES population), in antithetic pairs (an odd count is rounded up)",
    },
    ParamSpec {
        name: "sigma",
        kind: ParamKind::Positive,
        default: "0.001",
        doc: "standard deviation of the Gaussian probes, as a fraction of the value range's width",
    },
    ParamSpec {
        name: "learning_rate",
        kind: ParamKind::Positive,
        default: "0.01",
        doc: "size eta of each sign step, as a fraction of the value range's width",
    },
    SCORE_LOSS,
    TARGETS_NONE,
];

/// NES gradient estimates with PGD sign steps, in L-infinity.
#[derive(Debug, Clone)]
pub struct Nes {
    steps: usize,
    pairs: usize,
    sigma: f64,
    learning_rate: f64,
    loss: Loss,
    targets: Targets,
}

impl Nes {
    /// Builds the attack from its resolved parameters.
    pub fn new(params: &Params) -> Result<Self> {
        Ok(Nes {
            steps: params.integer("steps")?,
            pairs: params.integer("samples")?.div_ceil(2),
            sigma: params.number("sigma")?,
            learning_rate: params.number("learning_rate")?,
            loss: Loss::from_choice(params.choice("loss")?),
            targets: params.targets()?,
        })
    }
}

impl Attack for Nes {
    fn describe(&self) -> Description {
        Description {
            name: "nes",
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
        let width = f64::from(problem.domain.hi) - f64::from(problem.domain.lo);
        let sigma = self.sigma * width;
        let eta = (self.learning_rate * width) as f32;
        let loss = |z: ArrayView1<f32>| self.loss.eval(z, goal).0;
        let mut x = problem.image.to_owned();
        let mut lowest = Lowest::default();
        for _ in 0..self.steps {
            let directions: Vec<Vec<f32>> = (0..self.pairs)
                .map(|_| (0..x.len()).map(|_| gaussian(rng) as f32).collect())
                .collect();
            let e = estimate(oracle, x.view(), &directions, sigma, goal, &loss)?;
            if e.reached {
                return Ok(x);
            }
            lowest.offer(e.loss, &x);
            for (v, &g) in x.iter_mut().zip(&e.gradient) {
                if g > 0.0 {
                    *v -= eta;
                } else if g < 0.0 {
                    *v += eta;
                }
            }
            project_linf(x.view_mut(), problem.image, eps, problem.domain);
        }
        let last = score(oracle, x.view().insert_axis(Axis(0)), goal, &loss)?;
        if last.reached[0] {
            return Ok(x);
        }
        lowest.offer(last.losses[0], &x);
        Ok(lowest.image_or(problem.image))
    }
}
