//! Projected gradient descent (Madry et al. 2018) and the basic iterative method (Kurakin
//! et al. 2017): repeated gradient steps projected back onto the budget ball and the value
//! range, `x_{t+1} = Proj(x_t - alpha * d_t)`, with `d_t` the sign of the loss gradient
//! (L-infinity) or the gradient scaled to unit length (L2). Each restart begins at a
//! uniform random point of the ball (unless `random_start=false`) and stops at the first
//! iterate that reaches the goal; when none does, the final iterate with the lowest loss is
//! returned.

use ndarray::{Array3, ArrayView3, Zip};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::losses::Loss;
use super::params::{ParamKind, ParamSpec, Params};
use super::{project_l2, project_linf, Attack, Description, Norm, Oracle, Problem, Signal};
use crate::error::Result;
use crate::model::argmax;

/// The parameters of `pgd` and `pgd-l2` (Madry et al.'s MNIST settings: 40 steps, random
/// start; the step size follows their `2.5 * eps / steps` rule).
pub const PGD_PARAMS: &[ParamSpec] = &params("40", "true");

/// The parameters of `bim`: 10 steps from the clean image.
pub const BIM_PARAMS: &[ParamSpec] = &params("10", "false");

const fn params(steps: &'static str, random_start: &'static str) -> [ParamSpec; 5] {
    [
        ParamSpec {
            name: "steps",
            kind: ParamKind::Count,
            default: steps,
            doc: "gradient steps per restart",
        },
        ParamSpec {
            name: "step_ratio",
            kind: ParamKind::Positive,
            default: "2.5",
            doc: "step size alpha = step_ratio * eps / steps, in the budget's norm",
        },
        ParamSpec {
            name: "random_start",
            kind: ParamKind::Flag,
            default: random_start,
            doc: "start each restart at a uniform random point of the eps-ball",
        },
        ParamSpec {
            name: "restarts",
            kind: ParamKind::Count,
            default: "1",
            doc: "independent runs; the first that reaches the goal is kept",
        },
        ParamSpec {
            name: "loss",
            kind: ParamKind::Choice(Loss::CHOICES),
            default: "ce",
            doc: "loss to follow: cross-entropy (ce) or the C&W logit margin",
        },
    ]
}

/// PGD or BIM in L-infinity or L2, untargeted.
#[derive(Debug, Clone)]
pub struct Pgd {
    name: &'static str,
    norm: Norm,
    steps: usize,
    step_ratio: f64,
    random_start: bool,
    restarts: usize,
    loss: Loss,
}

impl Pgd {
    /// Builds the attack called `name` in `norm` (`Linf` or `L2`) from its parameters.
    pub fn new(name: &'static str, norm: Norm, params: &Params) -> Result<Self> {
        Ok(Pgd {
            name,
            norm,
            steps: params.integer("steps")?,
            step_ratio: params.number("step_ratio")?,
            random_start: params.flag("random_start")?,
            restarts: params.integer("restarts")?,
            loss: Loss::from_choice(params.choice("loss")?),
        })
    }

    fn project(&self, candidate: &mut Array3<f32>, problem: &Problem, eps: f64) {
        match self.norm {
            Norm::L2 => project_l2(candidate.view_mut(), problem.image, eps, problem.domain),
            _ => project_linf(candidate.view_mut(), problem.image, eps, problem.domain),
        }
    }

    fn start(&self, problem: &Problem, eps: f64, rng: &mut ChaCha8Rng) -> Array3<f32> {
        let mut x = problem.image.to_owned();
        if !self.random_start {
            return x;
        }
        match self.norm {
            Norm::L2 => {
                let direction: Vec<f64> = (0..x.len()).map(|_| gaussian(rng)).collect();
                let length = direction.iter().map(|d| d * d).sum::<f64>().sqrt();
                let radius = eps * rng.gen::<f64>().powf(1.0 / x.len() as f64);
                if length > 0.0 {
                    for (v, d) in x.iter_mut().zip(&direction) {
                        *v += (d / length * radius) as f32;
                    }
                }
            }
            _ => x.mapv_inplace(|v| v + rng.gen_range(-eps..=eps) as f32),
        }
        self.project(&mut x, problem, eps);
        x
    }

    /// Moves `x` by `alpha` against the gradient: its sign, or its unit direction.
    fn step(&self, x: &mut Array3<f32>, grad: ArrayView3<f32>, alpha: f64) {
        match self.norm {
            Norm::L2 => {
                let length = grad
                    .iter()
                    .map(|&g| f64::from(g).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if length > 0.0 {
                    let scale = (alpha / length) as f32;
                    Zip::from(x).and(grad).for_each(|v, &g| *v -= scale * g);
                }
            }
            _ => {
                let a = alpha as f32;
                Zip::from(x).and(grad).for_each(|v, &g| {
                    if g > 0.0 {
                        *v -= a;
                    } else if g < 0.0 {
                        *v += a;
                    }
                });
            }
        }
    }
}

impl Attack for Pgd {
    fn describe(&self) -> Description {
        Description::untargeted_radius(self.name, self.norm, Signal::Gradient(self.loss.output()))
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        let eps = problem.radius()?;
        let alpha = self.step_ratio * eps / self.steps as f64;
        let mut best: Option<(f64, Array3<f32>)> = None;
        let seeds = self.loss.seeds(problem.goal, oracle.classes());
        for _ in 0..self.restarts {
            let mut x = self.start(problem, eps, rng);
            for t in 0..=self.steps {
                // One query gives an iterate's logits and its loss gradient (the VJP graph
                // takes the seed at its own logits); the last iterate needs only logits.
                let (logits, grad) = if t < self.steps {
                    let (logits, grad) = oracle.loss_gradient_one(x.view(), &seeds)?;
                    (logits, Some(grad))
                } else {
                    (oracle.logits_one(x.view())?, None)
                };
                if problem.goal.reached_by(argmax(logits.iter().copied())) {
                    return Ok(x);
                }
                let Some(grad) = grad else {
                    let (loss, _) = self.loss.eval(logits.view(), problem.goal);
                    if best.as_ref().is_none_or(|(l, _)| loss < *l) {
                        best = Some((loss, x));
                    }
                    break;
                };
                self.step(&mut x, grad.view(), alpha);
                self.project(&mut x, problem, eps);
            }
        }
        Ok(best.map_or_else(|| problem.image.to_owned(), |(_, x)| x))
    }
}

/// A standard normal draw (Box-Muller).
pub(super) fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = 1.0 - rng.gen::<f64>();
    let v: f64 = rng.gen();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}
