//! The Jacobian-based saliency map attack (Papernot et al. 2016), targeted, increasing
//! features in pairs. With `alpha_j = d F_target / d x_j` and
//! `beta_j = sum_{i != target} d F_i / d x_j`, where `F` is the softmax probabilities
//! (`scores=probabilities`, the default: Papernot et al.'s evaluation and cleverhans, the
//! attack defensive distillation defeats) or the logits (`scores=logits`, JSMA-Z, which
//! Carlini and Wagner found stronger on distilled networks), each step picks the pair `p, q` of
//! features still below the range's top that maximises `(alpha_p + alpha_q) *
//! -(beta_p + beta_q)` with `alpha_p + alpha_q > 0` and `beta_p + beta_q < 0`, and raises
//! both by `theta` times the range's width (clipped). It stops when the target is
//! predicted, when no pair qualifies, or when another pair would change more than `gamma`
//! of the image's values (the budget). On probabilities `alpha` is the logits'
//! vector-Jacobian product with the seed `p_t (e_t - p)`, which is `-p_t` times the input
//! gradient of the targeted cross-entropy: one query per step returns it with the logits
//! (the VJP graph takes the seed at its own logits), and `beta = -alpha` exactly, since the
//! probabilities sum to one. (Papernot et al. and cleverhans compute `beta` as its own sum
//! of gradients, which equals `-alpha` up to rounding: the chosen pairs are the same except
//! where two pairs' scores differ by rounding alone.) On logits `alpha` and `beta` are the
//! products with the fixed seeds `e_t` and `sum_{i != t} e_i`, one query of two rows. The
//! reported name says which scores were used: `jsma-probabilities` or `jsma-logits`.

use ndarray::{Array2, Array3, ArrayView1, ArrayView3, Axis};
use rand_chacha::ChaCha8Rng;

use super::losses::Loss;
use super::params::{ParamKind, ParamSpec, Params};
use super::{Attack, BudgetKind, Description, Goal, Oracle, Output, Problem, Signal, Targets};
use crate::error::{Error, Result};
use crate::model::argmax;

/// The values of `scores`, the default first.
const SCORES: &[&str] = &["probabilities", "logits"];

/// The parameters of `jsma` (Papernot et al.'s MNIST evaluation).
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "gamma",
        kind: ParamKind::Fraction,
        default: "0.145",
        doc: "largest fraction of the image's values that may change (the L0 budget)",
    },
    ParamSpec {
        name: "theta",
        kind: ParamKind::Fraction,
        default: "1",
        doc: "increase per chosen feature, as a fraction of the value range's width",
    },
    ParamSpec {
        name: "scores",
        kind: ParamKind::Choice(SCORES),
        default: "probabilities",
        doc: "what the saliency map differentiates: the softmax probabilities (Papernot et al.) or the logits (JSMA-Z)",
    },
];

/// JSMA, targeted at every class other than the label.
#[derive(Debug, Clone)]
pub struct Jsma {
    gamma: f64,
    theta: f64,
    scores: Output,
}

impl Jsma {
    /// Builds the attack from its resolved parameters.
    pub fn new(params: &Params) -> Result<Self> {
        Ok(Jsma {
            gamma: params.number("gamma")?,
            theta: params.number("theta")?,
            scores: if params.choice("scores")? == "logits" {
                Output::Logits
            } else {
                Output::Probabilities
            },
        })
    }
}

impl Attack for Jsma {
    fn describe(&self) -> Description {
        Description {
            name: match self.scores {
                Output::Probabilities => "jsma-probabilities",
                Output::Logits => "jsma-logits",
            },
            budget: BudgetKind::Features(self.gamma),
            targets: Targets::All,
            signal: Signal::Gradient(self.scores),
        }
    }

    fn run(
        &self,
        oracle: &mut Oracle,
        problem: &Problem,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Array3<f32>> {
        let budget = problem.budget.ok_or_else(|| Error::Internal {
            message: "jsma was run without a feature budget".into(),
        })? as usize;
        let classes = oracle.classes();
        let (lo, hi) = (problem.domain.lo, problem.domain.hi);
        let raise = (self.theta * (f64::from(hi) - f64::from(lo))) as f32;
        let mut x = problem.image.as_standard_layout().into_owned();
        let mut searchable: Vec<bool> = x.iter().map(|&v| v < hi).collect();
        let mut changed = vec![false; x.len()];
        let mut changes = 0;
        while let Some(saliency) = self.saliency(oracle, x.view(), problem.goal, classes)? {
            let Some((p, q)) = saliency.best_pair(&searchable) else {
                break;
            };
            let new = usize::from(!changed[p]) + usize::from(!changed[q]);
            if changes + new > budget {
                break;
            }
            for j in [p, q] {
                let v = &mut x.as_slice_mut().ok_or_else(|| Error::Internal {
                    message: "jsma works on a contiguous image".into(),
                })?[j];
                *v = (*v + raise).min(hi);
                if *v >= hi {
                    searchable[j] = false;
                }
                if !changed[j] {
                    changed[j] = true;
                    changes += 1;
                }
            }
        }
        Ok(x)
    }
}

impl Jsma {
    /// The saliency map at `x` (see the module docs), or `None` when `x` is classified as the
    /// goal's target.
    fn saliency(
        &self,
        oracle: &mut Oracle,
        x: ArrayView3<f32>,
        goal: Goal,
        classes: usize,
    ) -> Result<Option<Saliency>> {
        let target = goal.target().ok_or_else(|| Error::Internal {
            message: "jsma was given an untargeted goal".into(),
        })?;
        let as_f64 = |g: ArrayView3<f32>| -> Vec<f64> { g.iter().map(|&v| f64::from(v)).collect() };
        match self.scores {
            Output::Probabilities => {
                // The targeted cross-entropy's gradient J^T (p - e_t) = -alpha / p_t.
                let seeds = Loss::CrossEntropy.seeds(goal, classes);
                let (z, grad) = oracle.loss_gradient_one(x, &seeds)?;
                if argmax(z.iter().copied()) == target {
                    return Ok(None);
                }
                let p_target = softmax_at(z.view(), target);
                let alpha = as_f64(grad.view()).iter().map(|g| -p_target * g).collect();
                Ok(Some(Saliency::Opposed(alpha)))
            }
            Output::Logits => {
                let mut seeds = Array2::<f32>::ones((2, classes));
                seeds.row_mut(0).fill(0.0);
                seeds[[0, target]] = 1.0;
                seeds[[1, target]] = 0.0;
                let (z, grads) = oracle.vjp_many(x, seeds.view())?;
                if argmax(z.iter().copied()) == target {
                    return Ok(None);
                }
                Ok(Some(Saliency::Separate(
                    as_f64(grads.index_axis(Axis(0), 0)),
                    as_f64(grads.index_axis(Axis(0), 1)),
                )))
            }
        }
    }
}

/// The softmax probability of class `k` at logits `z`, in f64.
fn softmax_at(z: ArrayView1<f32>, k: usize) -> f64 {
    let top = z
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let total: f64 = z.iter().map(|&v| (f64::from(v) - top).exp()).sum();
    (f64::from(z[k]) - top).exp() / total
}

/// A step's saliency map: `alpha` and `beta` per feature.
#[derive(Debug, Clone, PartialEq)]
enum Saliency {
    /// On probabilities: `beta = -alpha`.
    Opposed(Vec<f64>),
    /// On logits: `alpha` and `beta` apart.
    Separate(Vec<f64>, Vec<f64>),
}

impl Saliency {
    /// The searchable pair `p < q` maximising `(alpha_p + alpha_q) * -(beta_p + beta_q)`
    /// among pairs with a positive alpha sum and a negative beta sum, the first one (in the
    /// order of `p`, then `q`) on ties.
    fn best_pair(&self, searchable: &[bool]) -> Option<(usize, usize)> {
        match self {
            Saliency::Opposed(alpha) if alpha.iter().all(|a| a.is_finite()) => {
                best_opposed_pair(alpha, searchable)
            }
            Saliency::Opposed(alpha) => {
                let beta: Vec<f64> = alpha.iter().map(|a| -a).collect();
                best_pair(alpha, &beta, searchable)
            }
            Saliency::Separate(alpha, beta) => best_pair(alpha, beta, searchable),
        }
    }
}

/// [`best_pair`] of `alpha` and `beta` in general: every pair of searchable features (about
/// 300,000 on MNIST).
fn best_pair(alpha: &[f64], beta: &[f64], searchable: &[bool]) -> Option<(usize, usize)> {
    let candidates: Vec<(usize, f64, f64)> = (0..alpha.len())
        .filter(|&j| searchable[j])
        .map(|j| (j, alpha[j], beta[j]))
        .collect();
    let mut best: Option<(f64, usize, usize)> = None;
    for (i, &(p, alpha_p, beta_p)) in candidates.iter().enumerate() {
        for &(q, alpha_q, beta_q) in &candidates[i + 1..] {
            let a = alpha_p + alpha_q;
            let b = beta_p + beta_q;
            if a > 0.0 && b < 0.0 {
                let score = -a * b;
                if best.is_none_or(|(s, ..)| score > s) {
                    best = Some((score, p, q));
                }
            }
        }
    }
    best.map(|(_, p, q)| (p, q))
}

/// [`best_pair`] with `beta = -alpha` (finite), in linear time and with the same result.
/// A pair's sums are then `a` and `-a` exactly (negation is exact), its score `a * a`, and
/// it qualifies when `a > 0`. Rounded addition and squaring never decrease when an operand
/// grows, so the best score is that of the two largest alphas; the first pair reaching it
/// starts at the first `p` whose best partner after it (the largest alpha after `p`)
/// reaches it, and ends at the first `q` after `p` that does.
fn best_opposed_pair(alpha: &[f64], searchable: &[bool]) -> Option<(usize, usize)> {
    let score = |p: usize, q: usize| {
        let a = alpha[p] + alpha[q];
        (a > 0.0).then_some(a * a)
    };
    let candidates: Vec<usize> = (0..alpha.len()).filter(|&j| searchable[j]).collect();
    // The largest alpha after each candidate: `after[i]` is the candidate index of the
    // largest of `candidates[i + 1..]` (the first one on ties).
    let mut after = vec![None; candidates.len()];
    let mut largest: Option<usize> = None;
    for i in (0..candidates.len()).rev() {
        after[i] = largest;
        if largest.is_none_or(|l| alpha[candidates[i]] >= alpha[l]) {
            largest = Some(candidates[i]);
        }
    }
    let best = candidates
        .iter()
        .zip(&after)
        .filter_map(|(&p, q)| q.and_then(|q| score(p, q)))
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))))?;
    let (i, &p) = candidates
        .iter()
        .enumerate()
        .find(|&(i, &p)| after[i].and_then(|q| score(p, q)) == Some(best))?;
    let q = candidates[i + 1..]
        .iter()
        .copied()
        .find(|&q| score(p, q) == Some(best))?;
    Some((p, q))
}

#[cfg(test)]
mod tests {
    use ndarray::Axis;

    use super::*;
    use crate::attacks::tests::{dense_model, images};
    use crate::model::Classifier;

    /// The seeds whose vector-Jacobian products with the logits `z` are the gradients of the
    /// probabilities weighted by each row of `weights`: `sum_i w_i p_i (e_i - p)`.
    fn probability_seeds(
        weights: &Array2<f32>,
        z: impl Iterator<Item = f32> + Clone,
    ) -> Array2<f32> {
        let top = z.clone().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f64> = z.map(|v| f64::from(v - top).exp()).collect();
        let total: f64 = e.iter().sum();
        let p: Vec<f64> = e.iter().map(|v| v / total).collect();
        let mut seeds = Array2::<f32>::zeros(weights.dim());
        for (mut out, w) in seeds.rows_mut().into_iter().zip(weights.rows()) {
            let wp: f64 = w.iter().zip(&p).map(|(&w, &p)| f64::from(w) * p).sum();
            for (j, o) in out.iter_mut().enumerate() {
                *o = (f64::from(w[j]) * p[j] - wp * p[j]) as f32;
            }
        }
        seeds
    }

    #[test]
    fn one_query_gives_the_saliency_of_the_two_probability_seeds() {
        let model = dense_model(51);
        let x = images(3, -0.4, 0.4, 52);
        let labels = model.predict(x.view()).expect("predict");
        let jsma = Jsma {
            gamma: 0.1,
            theta: 1.0,
            scores: Output::Probabilities,
        };
        for (image, &label) in x.axis_iter(Axis(0)).zip(&labels) {
            let target = (label + 1) % 10;
            let goal = Goal::Targeted { label, target };
            let mut oracle = Oracle::new(&model);
            let Some(Saliency::Opposed(alpha)) = jsma
                .saliency(&mut oracle, image, goal, 10)
                .expect("saliency")
            else {
                panic!("opposed alphas at an image not yet the target");
            };
            let beta: Vec<f64> = alpha.iter().map(|a| -a).collect();
            assert_eq!(
                (oracle.queries().gradient, oracle.queries().forward),
                (1, 0)
            );
            // The reference: a forward pass, then the seeds p_t (e_t - p) and
            // sum_{i != t} p_i (e_i - p).
            let z = oracle.logits_one(image).expect("logits");
            let mut weights = Array2::<f32>::ones((2, 10));
            weights.row_mut(0).fill(0.0);
            weights[[0, target]] = 1.0;
            weights[[1, target]] = 0.0;
            let seeds = probability_seeds(&weights, z.iter().copied());
            let (_, grads) = oracle.vjp_many(image, seeds.view()).expect("vjp");
            let scale = alpha.iter().fold(0f64, |m, a| m.max(a.abs()));
            assert!(scale > 0.0);
            for (k, want) in [(0, &alpha), (1, &beta)] {
                for (g, w) in grads.index_axis(Axis(0), k).iter().zip(want.iter()) {
                    assert!(
                        (f64::from(*g) - w).abs() <= 1e-5 * scale,
                        "row {k}: {g} vs {w}"
                    );
                }
            }
        }
    }
    #[test]
    fn the_opposed_pair_search_finds_the_pair_of_the_full_search() {
        use rand::{Rng, SeedableRng};
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut found = 0;
        for round in 0..400 {
            let n = rng.gen_range(2..40);
            // Coarse values make ties; a few rounds of all-negative alphas have no pair.
            let shift = if round % 10 == 0 { -5.0 } else { 0.0 };
            let alpha: Vec<f64> = (0..n)
                .map(|_| {
                    if round % 2 == 0 {
                        f64::from(rng.gen_range(-3i32..4)) + shift
                    } else {
                        rng.gen_range(-1.0..1.0) * 1e-3 + shift
                    }
                })
                .collect();
            let searchable: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.8)).collect();
            let beta: Vec<f64> = alpha.iter().map(|a| -a).collect();
            let want = best_pair(&alpha, &beta, &searchable);
            assert_eq!(
                best_opposed_pair(&alpha, &searchable),
                want,
                "alpha {alpha:?} searchable {searchable:?}"
            );
            found += usize::from(want.is_some());
        }
        // Both outcomes were exercised.
        assert!((100..400).contains(&found), "{found} rounds had a pair");
        // Non-finite alphas take the full search.
        let alpha = vec![f64::INFINITY, f64::NEG_INFINITY, 1.0, 0.5];
        let all = [true; 4];
        let beta: Vec<f64> = alpha.iter().map(|a| -a).collect();
        assert_eq!(
            Saliency::Opposed(alpha.clone()).best_pair(&all),
            best_pair(&alpha, &beta, &all)
        );
    }

    /// The softmax of `z`.
    fn softmax(z: &[f64]) -> Vec<f64> {
        let e: Vec<f64> = z.iter().map(|v| v.exp()).collect();
        let total: f64 = e.iter().sum();
        e.iter().map(|v| v / total).collect()
    }

    #[test]
    fn the_probability_seeds_are_the_softmax_jacobian_against_finite_differences() {
        let z = [0.3f32, -1.2, 2.0, 0.7];
        let target = 2;
        let mut weights = Array2::<f32>::ones((2, 4));
        weights.row_mut(0).fill(0.0);
        weights[[0, target]] = 1.0;
        weights[[1, target]] = 0.0;
        let seeds = probability_seeds(&weights, z.iter().copied());
        let h = 1e-6;
        for j in 0..4 {
            let moved = |delta: f64| -> Vec<f64> {
                let mut zz: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
                zz[j] += delta;
                softmax(&zz)
            };
            let (up, down) = (moved(h), moved(-h));
            let d: Vec<f64> = (0..4).map(|i| (up[i] - down[i]) / (2.0 * h)).collect();
            let alpha = d[target];
            let beta: f64 = (0..4).filter(|&i| i != target).map(|i| d[i]).sum();
            assert!((f64::from(seeds[[0, j]]) - alpha).abs() < 1e-6, "alpha {j}");
            assert!((f64::from(seeds[[1, j]]) - beta).abs() < 1e-6, "beta {j}");
        }
    }
}
