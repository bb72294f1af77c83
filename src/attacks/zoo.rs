//! ZOO (Chen et al. 2017): zeroth-order coordinate descent with ZOO-Adam. Each iteration
//! picks `batch` coordinates, estimates the loss's partial derivative along each from the
//! symmetric difference `(f(x + h e_i) - f(x - h e_i)) / 2h`, and moves each picked value
//! by one Adam step with its own moments and step count. The iterate and its `2 * batch`
//! probes are one batch of forward queries.
//!
//! The original minimises the Carlini-Wagner L2 objective `||x' - x||^2 + c * f(x')` with a
//! binary search on `c`. Here the same ZOO-Adam optimiser solves the bounded problem
//! instead: minimise `f(x') = max(margin(x'), -kappa)` (the C&W logit margin) subject to
//! `||x' - x||_inf <= eps` and the value range, projecting after every step, so that it
//! runs at the radii of PGD and can be compared with it. It starts from the clean image
//! and stops at the first iterate that reaches the goal with a margin of at least kappa;
//! otherwise the iterate with the lowest loss is returned.
//!
//! With `importance`, coordinates are drawn with probability proportional to how far
//! their 8x8 block (per channel) has moved, `max |x' - x|` over the block, plus the mean
//! of that over the image (so unmoved blocks keep a share), as the paper's importance
//! sampling favours regions that have changed; otherwise uniformly without replacement.

use ndarray::{Array3, ArrayView1, ArrayView3};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::losses::margin;
use super::params::{ParamKind, ParamSpec, Params, TARGETS_NONE};
use super::scores::{repeated, score, Lowest};
use super::{
    project_linf, Attack, BudgetKind, Description, Norm, Oracle, Output, Problem, Signal, Targets,
};
use crate::error::Result;

/// The parameters of `zoo` (Chen et al.'s ZOO-Adam settings).
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "steps",
        kind: ParamKind::Count,
        default: "1000",
        doc: "iterations at most; each is one batch of 2 * min(batch, c*h*w) + 1 forward queries, plus one for the last iterate",
    },
    ParamSpec {
        name: "batch",
        kind: ParamKind::Count,
        default: "128",
        doc: "coordinates estimated and updated per iteration (every one when the image has fewer)",
    },
    ParamSpec {
        name: "h",
        kind: ParamKind::Positive,
        default: "0.0001",
        doc: "step of the symmetric differences, in the input's value scale",
    },
    ParamSpec {
        name: "learning_rate",
        kind: ParamKind::Positive,
        default: "0.01",
        doc: "ZOO-Adam learning rate, in the input's value scale",
    },
    ParamSpec {
        name: "confidence",
        kind: ParamKind::NonNegative,
        default: "0",
        doc: "kappa: the logit margin by which the goal must be reached",
    },
    ParamSpec {
        name: "importance",
        kind: ParamKind::Flag,
        default: "false",
        doc: "draw coordinates in proportion to how far their 8x8 block has moved, instead of uniformly",
    },
    TARGETS_NONE,
];

/// ZOO-Adam on the C&W margin, in L-infinity.
#[derive(Debug, Clone)]
pub struct Zoo {
    steps: usize,
    batch: usize,
    h: f64,
    learning_rate: f64,
    confidence: f64,
    importance: bool,
    targets: Targets,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;
/// The side of the square blocks of importance sampling.
const BLOCK: usize = 8;

impl Zoo {
    /// Builds the attack from its resolved parameters.
    pub fn new(params: &Params) -> Result<Self> {
        Ok(Zoo {
            steps: params.integer("steps")?,
            batch: params.integer("batch")?,
            h: params.number("h")?,
            learning_rate: params.number("learning_rate")?,
            confidence: params.number("confidence")?,
            importance: params.flag("importance")?,
            targets: params.targets()?,
        })
    }

    /// The coordinates of this iteration, in flat (c, h, w) order.
    fn pick(&self, x: &Array3<f32>, clean: ArrayView3<f32>, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let n = x.len();
        if self.batch >= n {
            return (0..n).collect();
        }
        if !self.importance {
            return rand::seq::index::sample(rng, n, self.batch).into_vec();
        }
        let weights = block_movement(x.view(), clean);
        let mean = weights.iter().sum::<f64>() / n as f64;
        if mean == 0.0 {
            return rand::seq::index::sample(rng, n, self.batch).into_vec();
        }
        // Weighted sampling without replacement (Efraimidis and Spirakis): the `batch`
        // largest keys `ln(u) / weight`.
        let mut keys: Vec<(f64, usize)> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let u: f64 = 1.0 - rng.gen::<f64>();
                (u.ln() / (w + mean), i)
            })
            .collect();
        keys.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        keys.into_iter().take(self.batch).map(|(_, i)| i).collect()
    }
}

/// The (channel, row, column) of the value at `flat` in row-major order.
fn position((_, h, w): (usize, usize, usize), flat: usize) -> [usize; 3] {
    [flat / (h * w), flat / w % h, flat % w]
}

/// Per value: the largest `|x - clean|` over its channel's 8x8 block.
fn block_movement(x: ArrayView3<f32>, clean: ArrayView3<f32>) -> Vec<f64> {
    let (c, h, w) = x.dim();
    let (bh, bw) = (h.div_ceil(BLOCK), w.div_ceil(BLOCK));
    let mut block = vec![0.0f64; c * bh * bw];
    for ((ch, r, col), &v) in x.indexed_iter() {
        let moved = (f64::from(v) - f64::from(clean[[ch, r, col]])).abs();
        let b = &mut block[(ch * bh + r / BLOCK) * bw + col / BLOCK];
        *b = b.max(moved);
    }
    x.indexed_iter()
        .map(|((ch, r, col), _)| block[(ch * bh + r / BLOCK) * bw + col / BLOCK])
        .collect()
}

impl Attack for Zoo {
    fn describe(&self) -> Description {
        Description {
            name: "zoo",
            budget: BudgetKind::Radius(Norm::Linf),
            targets: self.targets,
            signal: Signal::Scores(Output::Logits),
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
        let kappa = self.confidence;
        let loss = |z: ArrayView1<f32>| margin(z, goal).0.max(-kappa);
        let n = problem.image.len();
        let dim = problem.image.dim();
        let mut x = problem.image.to_owned();
        let (mut m, mut v, mut t) = (vec![0.0f64; n], vec![0.0f64; n], vec![0i32; n]);
        let mut lowest = Lowest::default();
        for step in 0..=self.steps {
            let coords = if step < self.steps {
                self.pick(&x, problem.image, rng)
            } else {
                Vec::new()
            };
            let k = coords.len();
            let mut batch = repeated(x.view(), 2 * k + 1);
            // The distance between the two probes of each coordinate, as rounded in f32.
            let mut spans = Vec::with_capacity(k);
            for (j, &i) in coords.iter().enumerate() {
                let [ch, r, col] = position(dim, i);
                let value = f64::from(x[[ch, r, col]]);
                let (up, down) = ((value + self.h) as f32, (value - self.h) as f32);
                batch[[1 + j, ch, r, col]] = up;
                batch[[1 + k + j, ch, r, col]] = down;
                spans.push(f64::from(up) - f64::from(down));
            }
            let scores = score(oracle, batch.view(), goal, &loss)?;
            if scores.reached[0] && scores.losses[0] <= -kappa {
                return Ok(x);
            }
            lowest.offer(scores.losses[0], &x);
            if k == 0 {
                break;
            }
            for (j, &i) in coords.iter().enumerate() {
                let g = (scores.losses[1 + j] - scores.losses[1 + k + j]) / spans[j];
                m[i] = BETA1 * m[i] + (1.0 - BETA1) * g;
                v[i] = BETA2 * v[i] + (1.0 - BETA2) * g * g;
                t[i] += 1;
                let m_hat = m[i] / (1.0 - BETA1.powi(t[i]));
                let v_hat = v[i] / (1.0 - BETA2.powi(t[i]));
                let value = &mut x[position(dim, i)];
                *value = (f64::from(*value) - self.learning_rate * m_hat / (v_hat.sqrt() + EPSILON))
                    as f32;
            }
            project_linf(x.view_mut(), problem.image, eps, problem.domain);
        }
        Ok(lowest.image_or(problem.image))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::attacks::Params;

    fn zoo(importance: &str) -> Zoo {
        let overrides = [
            ("batch".to_string(), "32".to_string()),
            ("importance".to_string(), importance.to_string()),
        ];
        Zoo::new(&Params::resolve("zoo", PARAMS, &overrides).expect("params")).expect("zoo")
    }

    /// The share of picked coordinates in the top-left 8x8 block of a 16x16 image whose
    /// only moved value lies in that block.
    fn share_of_moved_block(attack: &Zoo) -> f64 {
        let clean = Array3::<f32>::zeros((1, 16, 16));
        let mut x = clean.clone();
        x[[0, 3, 5]] = 0.1;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (mut inside, mut all) = (0, 0);
        for _ in 0..50 {
            for i in attack.pick(&x, clean.view(), &mut rng) {
                let [_, r, c] = position((1, 16, 16), i);
                inside += usize::from(r < 8 && c < 8);
                all += 1;
            }
        }
        inside as f64 / all as f64
    }

    #[test]
    fn importance_sampling_favours_the_blocks_that_moved() {
        // Uniform picks put a quarter in the block; with importance its 64 values weigh
        // 0.1 + mean each against the mean elsewhere, about 60% of the mass.
        let uniform = share_of_moved_block(&zoo("false"));
        let weighted = share_of_moved_block(&zoo("true"));
        assert!((0.2..0.3).contains(&uniform), "uniform share {uniform}");
        assert!(weighted > 0.45, "importance share {weighted}");
    }

    #[test]
    fn picks_are_distinct_and_every_value_when_the_batch_covers_the_image() {
        let clean = Array3::<f32>::zeros((1, 16, 16));
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for attack in [zoo("false"), zoo("true")] {
            let mut picked = attack.pick(&clean, clean.view(), &mut rng);
            picked.sort_unstable();
            picked.dedup();
            assert_eq!(picked.len(), 32);
        }
        let small = Array3::<f32>::zeros((1, 4, 4));
        let all = zoo("true").pick(&small, small.view(), &mut rng);
        assert_eq!(all, (0..16).collect::<Vec<_>>());
    }
}
