//! The Square Attack (Andriushchenko et al. 2020): random search over square-shaped
//! updates of the perturbation, accepted when they lower the C&W logit margin, one forward
//! query per candidate. The side of the squares follows the paper's schedule: a fraction
//! `p` of the image's values, starting at `p_init` and halved at 10, 50, 200, 500, 1000,
//! 2000, 4000, 6000 and 8000 of 10 000 queries (rescaled to the query budget).
//!
//! - L-infinity (`square`): starts from vertical stripes (every column of every channel
//!   moved by `+eps` or `-eps`); each candidate sets one square window of the current best
//!   to `+eps` or `-eps` per channel, redrawn until it changes a value.
//! - L2 (`square-l2`): starts from a grid of square blobs of random sign (each the paper's
//!   pseudo-Gaussian pair of opposite-signed halves) scaled to length `eps`; each candidate
//!   moves the perturbation's mass from a second window into a new blob in the first,
//!   keeping its length at `eps`.
//!
//! Candidates are projected onto the budget ball and the value range. The first candidate
//! that reaches the goal is returned, otherwise the best one.

use ndarray::{Array3, ArrayView1, ArrayView3, Axis};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::losses::margin;
use super::params::{ParamKind, ParamSpec, Params, TARGETS_NONE};
use super::scores::score;
use super::{
    project_l2, project_linf, Attack, BudgetKind, Description, Domain, Norm, Oracle, Output,
    Problem, Signal, Targets,
};
use crate::error::Result;

/// The parameters of `square` (the paper's `p_init` for L-infinity).
pub const LINF_PARAMS: &[ParamSpec] = &params("0.05");

/// The parameters of `square-l2` (the paper's `p_init` for L2).
pub const L2_PARAMS: &[ParamSpec] = &params("0.1");

const fn params(p_init: &'static str) -> [ParamSpec; 3] {
    [
        ParamSpec {
            name: "queries",
            kind: ParamKind::Count,
            default: "1000",
            doc: "forward queries at most, one image each: the starting point and one candidate per iteration",
        },
        ParamSpec {
            name: "p_init",
            kind: ParamKind::Fraction,
            default: p_init,
            doc: "fraction of the image's values the first squares cover, halved on the paper's schedule",
        },
        TARGETS_NONE,
    ]
}

/// The Square Attack in L-infinity or L2.
#[derive(Debug, Clone)]
pub struct Square {
    name: &'static str,
    norm: Norm,
    queries: usize,
    p_init: f64,
    targets: Targets,
}

/// Redraws of a window's signs before an L-infinity candidate is kept even if unchanged.
const MAX_REDRAWS: usize = 100;

impl Square {
    /// Builds the attack called `name` in `norm` (`Linf` or `L2`) from its parameters.
    pub fn new(name: &'static str, norm: Norm, params: &Params) -> Result<Self> {
        Ok(Square {
            name,
            norm,
            queries: params.integer("queries")?,
            p_init: params.number("p_init")?,
            targets: params.targets()?,
        })
    }

    fn start(
        &self,
        clean: ArrayView3<f32>,
        eps: f64,
        domain: Domain,
        rng: &mut ChaCha8Rng,
    ) -> Array3<f32> {
        match self.norm {
            Norm::L2 => l2_start(clean, eps, domain, rng),
            _ => linf_start(clean, eps, domain, rng),
        }
    }

    fn candidate(
        &self,
        best: &Array3<f32>,
        clean: ArrayView3<f32>,
        eps: f64,
        p: f64,
        domain: Domain,
        rng: &mut ChaCha8Rng,
    ) -> Array3<f32> {
        match self.norm {
            Norm::L2 => l2_candidate(best, clean, eps, p, domain, rng),
            _ => linf_candidate(best, clean, eps, p, domain, rng),
        }
    }
}

impl Attack for Square {
    fn describe(&self) -> Description {
        Description {
            name: self.name,
            budget: BudgetKind::Radius(self.norm),
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
        let loss = |z: ArrayView1<f32>| margin(z, goal).0;
        let clean = problem.image;
        let mut best = self.start(clean, eps, problem.domain, rng);
        let first = score(oracle, best.view().insert_axis(Axis(0)), goal, &loss)?;
        if first.reached[0] {
            return Ok(best);
        }
        let mut best_loss = first.losses[0];
        for iteration in 0..self.queries - 1 {
            let p = fraction(self.p_init, iteration, self.queries);
            let candidate = self.candidate(&best, clean, eps, p, problem.domain, rng);
            let s = score(oracle, candidate.view().insert_axis(Axis(0)), goal, &loss)?;
            if s.reached[0] {
                return Ok(candidate);
            }
            if s.losses[0] < best_loss {
                best_loss = s.losses[0];
                best = candidate;
            }
        }
        Ok(best)
    }
}

/// The paper's schedule: `p_init` halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and
/// 8000 of 10 000 iterations, with `iteration` rescaled from a budget of `queries`.
fn fraction(p_init: f64, iteration: usize, queries: usize) -> f64 {
    let it = (iteration as f64 / queries as f64 * 10_000.0) as usize;
    let halvings = match it {
        11..=50 => 1,
        51..=200 => 2,
        201..=500 => 3,
        501..=1000 => 4,
        1001..=2000 => 5,
        2001..=4000 => 6,
        4001..=6000 => 7,
        6001..=8000 => 8,
        8001..=10_000 => 9,
        _ => 0,
    };
    p_init / f64::from(1u32 << halvings)
}

fn sign(rng: &mut ChaCha8Rng) -> f64 {
    if rng.gen::<bool>() {
        1.0
    } else {
        -1.0
    }
}

/// Every column of every channel moved by `+eps` or `-eps`.
fn linf_start(
    clean: ArrayView3<f32>,
    eps: f64,
    domain: Domain,
    rng: &mut ChaCha8Rng,
) -> Array3<f32> {
    let (c, h, w) = clean.dim();
    let mut x = clean.to_owned();
    for ch in 0..c {
        for col in 0..w {
            let s = sign(rng);
            for r in 0..h {
                x[[ch, r, col]] = (f64::from(clean[[ch, r, col]]) + s * eps) as f32;
            }
        }
    }
    project_linf(x.view_mut(), clean, eps, domain);
    x
}

/// `best` with one square window set to `+eps` or `-eps` per channel.
fn linf_candidate(
    best: &Array3<f32>,
    clean: ArrayView3<f32>,
    eps: f64,
    p: f64,
    domain: Domain,
    rng: &mut ChaCha8Rng,
) -> Array3<f32> {
    let (c, h, w) = clean.dim();
    let largest = h.min(w).saturating_sub(1).max(1);
    let side = ((p * (c * h * w) as f64 / c as f64).sqrt().round() as usize).clamp(1, largest);
    let (top, left) = (offset(h - side, rng), offset(w - side, rng));
    let mut candidate = best.clone();
    for _ in 0..MAX_REDRAWS {
        for ch in 0..c {
            let s = sign(rng);
            for r in top..top + side {
                for col in left..left + side {
                    candidate[[ch, r, col]] = (f64::from(clean[[ch, r, col]]) + s * eps) as f32;
                }
            }
        }
        project_linf(candidate.view_mut(), clean, eps, domain);
        let changed = (0..c).any(|ch| {
            (top..top + side).any(|r| {
                (left..left + side).any(|col| candidate[[ch, r, col]] != best[[ch, r, col]])
            })
        });
        if changed {
            break;
        }
    }
    candidate
}

/// A grid of blobs of side `h / 5` with random signs per channel, scaled to length `eps`.
fn l2_start(clean: ArrayView3<f32>, eps: f64, domain: Domain, rng: &mut ChaCha8Rng) -> Array3<f32> {
    let (c, h, w) = clean.dim();
    let side = (h / 5).max(1);
    let start = h.saturating_sub(5 * side) / 2;
    let mut delta = Array3::<f64>::zeros((c, h, w));
    for i in 0..h / side {
        for j in 0..w / side {
            let blob = blob(side, rng);
            let (top, left) = (start + i * side, start + j * side);
            for ch in 0..c {
                let s = sign(rng);
                for a in 0..side {
                    for b in 0..side {
                        if top + a < h && left + b < w {
                            delta[[ch, top + a, left + b]] += s * blob[a * side + b];
                        }
                    }
                }
            }
        }
    }
    scaled(clean, &delta, eps, domain)
}

/// `best`'s perturbation with the mass of a second window moved into a new blob in the
/// first window, per channel, at total length `eps`.
fn l2_candidate(
    best: &Array3<f32>,
    clean: ArrayView3<f32>,
    eps: f64,
    p: f64,
    domain: Domain,
    rng: &mut ChaCha8Rng,
) -> Array3<f32> {
    let (c, h, w) = clean.dim();
    let mut side = ((p * (c * h * w) as f64 / c as f64).sqrt().round() as usize).max(3);
    if side % 2 == 0 {
        side += 1;
    }
    let side = side.min(h).min(w);
    let (top1, left1) = (offset(h - side, rng), offset(w - side, rng));
    let (top2, left2) = (offset(h - side, rng), offset(w - side, rng));
    let in1 = |r: usize, col: usize| {
        (top1..top1 + side).contains(&r) && (left1..left1 + side).contains(&col)
    };
    let in2 = |r: usize, col: usize| {
        (top2..top2 + side).contains(&r) && (left2..left2 + side).contains(&col)
    };
    let mut delta = Array3::from_shape_fn((c, h, w), |i| f64::from(best[i]) - f64::from(clean[i]));
    let image_norm_sq: f64 = delta.iter().map(|d| d * d).sum();
    let blob = blob(side, rng);
    for ch in 0..c {
        let s = sign(rng);
        let (mut window_sq, mut union_sq) = (0.0, 0.0);
        for r in 0..h {
            for col in 0..w {
                let d2 = delta[[ch, r, col]].powi(2);
                if in1(r, col) {
                    window_sq += d2;
                }
                if in1(r, col) || in2(r, col) {
                    union_sq += d2;
                }
            }
        }
        let window_norm = window_sq.sqrt();
        let mut fresh: Vec<f64> = (0..side * side)
            .map(|k| {
                s * blob[k] + delta[[ch, top1 + k / side, left1 + k % side]] / (1e-10 + window_norm)
            })
            .collect();
        let length = fresh.iter().map(|v| v * v).sum::<f64>().sqrt();
        let target = ((eps * eps - image_norm_sq).max(0.0) / c as f64 + union_sq).sqrt();
        if length > 0.0 {
            fresh.iter_mut().for_each(|v| *v *= target / length);
        }
        for r in top2..top2 + side {
            for col in left2..left2 + side {
                delta[[ch, r, col]] = 0.0;
            }
        }
        for (k, v) in fresh.into_iter().enumerate() {
            delta[[ch, top1 + k / side, left1 + k % side]] = v;
        }
    }
    scaled(clean, &delta, eps, domain)
}

/// `clean + eps * delta / ||delta||`, projected onto the ball and the range (`clean` when
/// `delta` is zero).
fn scaled(clean: ArrayView3<f32>, delta: &Array3<f64>, eps: f64, domain: Domain) -> Array3<f32> {
    let length = delta.iter().map(|d| d * d).sum::<f64>().sqrt();
    let mut x = clean.to_owned();
    if length > 0.0 {
        for (v, d) in x.iter_mut().zip(delta.iter()) {
            *v = (f64::from(*v) + eps * d / length) as f32;
        }
    }
    project_l2(x.view_mut(), clean, eps, domain);
    x
}

/// A window's offset, uniform in `0..=last`, drawn as a `u64`: a `usize` draw is a `u32`
/// draw on 32-bit targets (armv7), which consumes the generator differently and would change
/// a seeded audit there; as a `u64` every target makes the draws a 64-bit one makes.
fn offset(last: usize, rng: &mut ChaCha8Rng) -> usize {
    // At most `last`, so the cast back is exact.
    rng.gen_range(0..=last as u64) as usize
}

/// The paper's pseudo-Gaussian square of `side`: its top half a blob of nested rectangles
/// (weights `1 / (k + 1)^2`), its bottom half the same with the opposite sign, unit length,
/// transposed with probability 1/2; row-major.
fn blob(side: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let top = side / 2;
    let upper = rectangles(top, side);
    let lower = rectangles(side - top, side);
    let mut square: Vec<f64> = upper
        .into_iter()
        .chain(lower.into_iter().map(|v| -v))
        .collect();
    normalise(&mut square);
    if rng.gen::<f64>() > 0.5 {
        let copy = square.clone();
        for a in 0..side {
            for b in 0..side {
                square[a * side + b] = copy[b * side + a];
            }
        }
    }
    square
}

/// Nested rectangles centred near the middle of a `rows x cols` patch, the `k`-th of size
/// `(2k + 1)^2` weighted `1 / (k + 1)^2`, summed and scaled to unit length; row-major.
fn rectangles(rows: usize, cols: usize) -> Vec<f64> {
    let mut patch = vec![0.0; rows * cols];
    let (centre_r, centre_c) = (rows / 2 + 1, cols / 2 + 1);
    let (mut r0, mut c0) = (centre_r as isize - 1, centre_c as isize - 1);
    for k in 0..centre_r.max(centre_c) {
        let span = 2 * k as isize + 1;
        let (r_lo, r_hi) = (
            r0.max(0) as usize,
            (r0 + span).min(rows as isize).max(0) as usize,
        );
        let (c_lo, c_hi) = (
            c0.max(0) as usize,
            (c0 + span).min(cols as isize).max(0) as usize,
        );
        let weight = 1.0 / ((k + 1) * (k + 1)) as f64;
        for r in r_lo..r_hi {
            for col in c_lo..c_hi {
                patch[r * cols + col] += weight;
            }
        }
        r0 -= 1;
        c0 -= 1;
    }
    normalise(&mut patch);
    patch
}

fn normalise(values: &mut [f64]) {
    let length = values.iter().map(|v| v * v).sum::<f64>().sqrt();
    if length > 0.0 {
        values.iter_mut().for_each(|v| *v /= length);
    }
}
