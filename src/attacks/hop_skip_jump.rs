//! HopSkipJumpAttack (Chen, Jordan and Wainwright 2020), L2, untargeted: a decision-based
//! attack that learns only whether the predicted class reaches the goal.
//!
//! It starts from the first uniform random image that is adversarial, drawn in batches of
//! `init_trials` until one is or `init_max` have been drawn (the authors' code keeps
//! drawing up to 10 000 and then stops with an error: a class random noise never reaches
//! is no sign of robustness), and binary-searches the segment to the clean image for the boundary. Each
//! iteration `t` then estimates the direction of the boundary's normal from the decisions
//! at `n_t = min(init_evals * sqrt(t), max_evals)` points on a sphere of radius `delta_t`
//! around the boundary point (one batch; the mean decision is subtracted as a baseline),
//! steps along it by `dist / sqrt(t)`, halved until the step lands on the adversarial side
//! (geometric step-size search), and binary-searches back toward the clean image. The
//! binary searches stop at a tolerance `theta = gamma / d^(3/2)` of the segment for `d`
//! values; `delta_1` is a tenth of the range's width, later `delta_t = sqrt(d) * theta *
//! dist_{t-1}` with the distance before the previous search, as in the authors' code.
//!
//! Every query counts against `queries`: estimates are cut short and searches stop where
//! it runs out. The adversarial point closest to the clean image is returned; the clean
//! image, an unsuccessful run, only when none of the `init_max` uniform images was
//! adversarial.

use ndarray::{Array3, Array4, ArrayView3, ArrayView4, Axis};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::params::{ParamKind, ParamSpec, Params};
use super::pgd::gaussian;
use super::scores::repeated;
use super::{
    Attack, BudgetKind, Description, Domain, Goal, Norm, Oracle, Problem, Signal, Targets,
};
use crate::error::Result;
use crate::model::argmax;

/// The parameters of `hopskipjump` (the authors' defaults).
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "steps",
        kind: ParamKind::Count,
        default: "40",
        doc: "iterations at most (gradient estimate, step-size search, binary search)",
    },
    ParamSpec {
        name: "init_evals",
        kind: ParamKind::Count,
        default: "100",
        doc: "forward queries of the first gradient estimate; iteration t takes init_evals * sqrt(t), in one batch",
    },
    ParamSpec {
        name: "max_evals",
        kind: ParamKind::Count,
        default: "10000",
        doc: "forward queries of one gradient estimate at most",
    },
    ParamSpec {
        name: "gamma",
        kind: ParamKind::Positive,
        default: "1",
        doc: "binary-search tolerance theta = gamma / d^(3/2) of the segment, for d values per image",
    },
    ParamSpec {
        name: "init_trials",
        kind: ParamKind::Count,
        default: "100",
        doc: "uniform random images tried as the starting point per batch of forward queries",
    },
    ParamSpec {
        name: "init_max",
        kind: ParamKind::Count,
        default: "10000",
        doc: "uniform random images tried at most before the run gives up (the authors' limit)",
    },
    ParamSpec {
        name: "queries",
        kind: ParamKind::Count,
        default: "25000",
        doc: "forward queries at most, all stages together (the default steps take about 18000 on 28x28 images)",
    },
];

/// HopSkipJumpAttack, a minimal-perturbation attack in L2 that sees only decisions.
#[derive(Debug, Clone)]
pub struct HopSkipJump {
    steps: usize,
    init_evals: usize,
    max_evals: usize,
    gamma: f64,
    init_trials: usize,
    init_max: usize,
    queries: usize,
}

/// Halvings of a step before the step-size search gives up.
const MAX_HALVINGS: usize = 64;

impl HopSkipJump {
    /// Builds the attack from its resolved parameters.
    pub fn new(params: &Params) -> Result<Self> {
        Ok(HopSkipJump {
            steps: params.integer("steps")?,
            init_evals: params.integer("init_evals")?,
            max_evals: params.integer("max_evals")?,
            gamma: params.number("gamma")?,
            init_trials: params.integer("init_trials")?,
            init_max: params.integer("init_max")?,
            queries: params.integer("queries")?,
        })
    }
}

/// The oracle's decisions within a query budget.
struct Decider<'o, 'm> {
    oracle: &'o mut Oracle<'m>,
    goal: Goal,
    cap: u64,
}

impl Decider<'_, '_> {
    /// Queries left.
    fn left(&self) -> usize {
        self.cap.saturating_sub(self.oracle.queries().forward) as usize
    }

    /// Whether each image of `images` reaches the goal.
    fn decide(&mut self, images: ArrayView4<f32>) -> Result<Vec<bool>> {
        let logits = self.oracle.logits(images)?;
        Ok(logits
            .axis_iter(Axis(0))
            .map(|z| self.goal.reached_by(argmax(z.iter().copied())))
            .collect())
    }

    /// Whether `image` reaches the goal; `None` when no query is left.
    fn decide_one(&mut self, image: ArrayView3<f32>) -> Result<Option<bool>> {
        if self.left() == 0 {
            return Ok(None);
        }
        Ok(self.decide(image.insert_axis(Axis(0)))?.first().copied())
    }
}

impl Attack for HopSkipJump {
    fn describe(&self) -> Description {
        Description {
            name: "hopskipjump",
            budget: BudgetKind::Minimal(Norm::L2),
            targets: Targets::Untargeted,
            signal: Signal::Decision,
        }
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        let clean = problem.image;
        let domain = problem.domain;
        let cap = oracle.queries().forward + self.queries as u64;
        let mut decider = Decider {
            oracle,
            goal: problem.goal,
            cap,
        };
        let d = clean.len() as f64;
        let theta = self.gamma / (d * d.sqrt());

        let (c, h, w) = clean.dim();
        let mut drawn = 0;
        let start = loop {
            let trials = self
                .init_trials
                .min(self.init_max - drawn)
                .min(decider.left());
            if trials == 0 {
                return Ok(clean.to_owned());
            }
            drawn += trials;
            let noise =
                Array4::from_shape_fn((trials, c, h, w), |_| rng.gen_range(domain.lo..=domain.hi));
            let decisions = decider.decide(noise.view())?;
            if let Some(first) = decisions.iter().position(|&a| a) {
                break noise.index_axis(Axis(0), first).to_owned();
            }
        };
        let mut x = boundary(&mut decider, clean, start.view(), theta)?;
        let mut dist = l2(x.view(), clean);
        let mut best = (dist, x.clone());
        let mut dist_before_search = l2(start.view(), clean);
        for t in 1..=self.steps {
            let delta = if t == 1 {
                0.1 * (f64::from(domain.hi) - f64::from(domain.lo))
            } else {
                d.sqrt() * theta * dist_before_search
            };
            let wanted =
                ((self.init_evals as f64 * (t as f64).sqrt()) as usize).min(self.max_evals);
            let evals = wanted.min(decider.left());
            if evals == 0 {
                break;
            }
            let Some(direction) = normal(&mut decider, x.view(), evals, delta, domain, rng)? else {
                break;
            };
            let mut size = dist / (t as f64).sqrt();
            let mut moved = None;
            for _ in 0..MAX_HALVINGS {
                let candidate = along(x.view(), &direction, size, domain);
                match decider.decide_one(candidate.view())? {
                    Some(true) => {
                        moved = Some(candidate);
                        break;
                    }
                    Some(false) => size /= 2.0,
                    None => break,
                }
            }
            let Some(moved) = moved else {
                break;
            };
            dist_before_search = l2(moved.view(), clean);
            x = boundary(&mut decider, clean, moved.view(), theta)?;
            dist = l2(x.view(), clean);
            if dist < best.0 {
                best = (dist, x.clone());
            }
        }
        Ok(best.1)
    }
}

/// The adversarial end of the bisected segment from `clean` to the adversarial image
/// `adversarial`, once the bracket is within `theta` of the segment (or queries run out).
fn boundary(
    decider: &mut Decider,
    clean: ArrayView3<f32>,
    adversarial: ArrayView3<f32>,
    theta: f64,
) -> Result<Array3<f32>> {
    let (mut low, mut high) = (0.0f64, 1.0f64);
    while high - low > theta {
        let mid = (low + high) / 2.0;
        match decider.decide_one(blend(clean, adversarial, mid).view())? {
            Some(true) => high = mid,
            Some(false) => low = mid,
            None => break,
        }
    }
    Ok(blend(clean, adversarial, high))
}

/// `(1 - a) * clean + a * other`, inside the range whenever both are.
fn blend(clean: ArrayView3<f32>, other: ArrayView3<f32>, a: f64) -> Array3<f32> {
    let mut x = clean.to_owned();
    for (v, &o) in x.iter_mut().zip(other.iter()) {
        *v = ((1.0 - a) * f64::from(*v) + a * f64::from(o)) as f32;
    }
    x
}

/// `x + size * direction`, clipped to the range.
fn along(x: ArrayView3<f32>, direction: &[f64], size: f64, domain: Domain) -> Array3<f32> {
    let mut y = x.to_owned();
    for (v, &u) in y.iter_mut().zip(direction) {
        *v = ((f64::from(*v) + size * u) as f32).clamp(domain.lo, domain.hi);
    }
    y
}

/// The unit estimate of the boundary's normal at `x` (pointing to the adversarial side)
/// from the decisions at `evals` points `clip(x + delta * u)`, `u` uniform on the unit
/// sphere, in one batch; `None` when the estimate vanishes.
fn normal(
    decider: &mut Decider,
    x: ArrayView3<f32>,
    evals: usize,
    delta: f64,
    domain: Domain,
    rng: &mut ChaCha8Rng,
) -> Result<Option<Vec<f64>>> {
    let mut batch = repeated(x, evals);
    for mut probe in batch.axis_iter_mut(Axis(0)) {
        let u: Vec<f64> = (0..x.len()).map(|_| gaussian(rng)).collect();
        let length = u.iter().map(|v| v * v).sum::<f64>().sqrt();
        for (v, &g) in probe.iter_mut().zip(&u) {
            let step = if length > 0.0 {
                delta * g / length
            } else {
                0.0
            };
            *v = ((f64::from(*v) + step) as f32).clamp(domain.lo, domain.hi);
        }
    }
    let decisions = decider.decide(batch.view())?;
    let signs: Vec<f64> = decisions
        .iter()
        .map(|&a| if a { 1.0 } else { -1.0 })
        .collect();
    let mean = signs.iter().sum::<f64>() / signs.len() as f64;
    // All on one side: the mean direction (or its opposite) instead of a zero baseline.
    let weights: Vec<f64> = if mean.abs() == 1.0 {
        signs
    } else {
        signs.iter().map(|s| s - mean).collect()
    };
    let mut direction = vec![0.0f64; x.len()];
    for (probe, &weight) in batch.axis_iter(Axis(0)).zip(&weights) {
        // The direction actually probed, after clipping: (probe - x) / delta.
        for ((g, &p), &v) in direction.iter_mut().zip(probe.iter()).zip(x.iter()) {
            *g += weight * (f64::from(p) - f64::from(v)) / delta;
        }
    }
    let length = direction.iter().map(|g| g * g).sum::<f64>().sqrt();
    if length == 0.0 || !length.is_finite() {
        return Ok(None);
    }
    Ok(Some(direction.into_iter().map(|g| g / length).collect()))
}

fn l2(a: ArrayView3<f32>, b: ArrayView3<f32>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(&u, &v)| (f64::from(u) - f64::from(v)).powi(2))
        .sum::<f64>()
        .sqrt()
}
