//! Seeds of vector-Jacobian products that depend on the logits they are taken at.
//!
//! The gradient of a loss on the logits `z` (the seed of a VJP) usually depends on `z`
//! itself: cross-entropy's is `softmax(z) - onehot(label)`, the Carlini-Wagner margin's is
//! `onehot(label) - onehot(strongest other class)`. An attack that had to compute it from the
//! logits would need a forward query before every gradient query. A [`LogitSeeds`] row
//! describes such a seed as a function of `z`, which the VJP graph evaluates on its own
//! logits, so one query returns the logits and the gradient at once:
//!
//! `seed(z) = fixed + softmax_weight * (softmax(z) - softmax_class)
//!            + top_weight * onehot(argmax(z + top_mask))`
//!
//! where `softmax_class` is a one-hot row (or zero) and `top_mask` is 0, or minus infinity on
//! a class the argmax must skip. `softmax(z) - onehot(c)` is computed without cancellation
//! (its entry `c` as minus the sum of the other probabilities), so a confident model's
//! cross-entropy gradient keeps its label's entry, which `1 - p_c` in f32 would round to 0.
//! A fixed seed has both weights 0. [`LogitSeeds::at`] evaluates the same function on the
//! host, for models without a VJP graph and for checking the graph's.

use ndarray::{s, Array2, ArrayView1, ArrayView2, Axis};

use super::argmax;
use crate::error::{Error, Result};
use crate::tract::SeedInputs;

/// One seed function per image; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogitSeeds {
    /// The constant part `(n, classes)`.
    pub(crate) fixed: Array2<f32>,
    /// The weight of `softmax(z) - softmax_class` per row, `(n, 1)`.
    pub(crate) softmax_weight: Array2<f32>,
    /// The one-hot class subtracted from the softmax, or zero, `(n, classes)`.
    pub(crate) softmax_class: Array2<f32>,
    /// The weight of the top class's one-hot vector per row, `(n, 1)`.
    pub(crate) top_weight: Array2<f32>,
    /// Added to `z` before the top class is chosen, `(n, classes)`: 0, or minus infinity
    /// where a class is skipped.
    pub(crate) top_mask: Array2<f32>,
}

impl LogitSeeds {
    /// Seeds that do not depend on the logits, one row of `seed` per image.
    pub fn fixed(seed: ArrayView2<f32>) -> Self {
        let n = seed.shape()[0];
        LogitSeeds {
            fixed: seed.to_owned(),
            softmax_weight: Array2::zeros((n, 1)),
            softmax_class: Array2::zeros(seed.raw_dim()),
            top_weight: Array2::zeros((n, 1)),
            top_mask: Array2::zeros(seed.raw_dim()),
        }
    }

    /// One image's `weight * (softmax(z) - onehot(class))`: the gradient of `weight` times
    /// the cross-entropy of `class`.
    pub fn cross_entropy(classes: usize, class: usize, weight: f32) -> Self {
        Self::one(&vec![0.0; classes], weight, 0.0, None).with_softmax_class(class)
    }

    /// One image's `weight * (onehot(keep) - onehot(t))`, `t` the highest-scoring class other
    /// than `keep`: the gradient of `weight` times the logit margin `z_keep - z_t`.
    pub fn margin(classes: usize, keep: usize, weight: f32) -> Self {
        let mut fixed = vec![0.0; classes];
        if let Some(v) = fixed.get_mut(keep) {
            *v = weight;
        }
        Self::one(&fixed, 0.0, -weight, Some(keep))
    }

    /// The same one-image seeds with `onehot(class)` subtracted from their softmax.
    pub fn with_softmax_class(mut self, class: usize) -> Self {
        if class < self.classes() {
            self.softmax_class.row_mut(0).fill(0.0);
            self.softmax_class[[0, class]] = 1.0;
        }
        self
    }

    /// One image's seed: `fixed + softmax_weight * softmax(z) + top_weight * onehot(t)`,
    /// with `t` the highest-scoring class other than `skip` (see also
    /// [`LogitSeeds::with_softmax_class`]).
    pub fn one(fixed: &[f32], softmax_weight: f32, top_weight: f32, skip: Option<usize>) -> Self {
        let classes = fixed.len();
        let mut top_mask = Array2::zeros((1, classes));
        if let Some(k) = skip.filter(|&k| k < classes) {
            top_mask[[0, k]] = f32::NEG_INFINITY;
        }
        LogitSeeds {
            fixed: Array2::from_shape_fn((1, classes), |(_, k)| fixed[k]),
            softmax_weight: Array2::from_elem((1, 1), softmax_weight),
            softmax_class: Array2::zeros((1, classes)),
            top_weight: Array2::from_elem((1, 1), top_weight),
            top_mask,
        }
    }

    /// The same seeds negated (the gradient of the negated loss).
    pub fn negated(mut self) -> Self {
        for part in [
            &mut self.fixed,
            &mut self.softmax_weight,
            &mut self.top_weight,
        ] {
            part.mapv_inplace(|v| -v);
        }
        self
    }

    /// The seeds as a VJP graph's inputs.
    pub fn inputs(&self) -> SeedInputs<'_> {
        SeedInputs {
            fixed: self.fixed.view(),
            softmax_weight: self.softmax_weight.view(),
            softmax_class: self.softmax_class.view(),
            top_weight: self.top_weight.view(),
            top_mask: self.top_mask.view(),
        }
    }

    /// Images the seeds are for.
    pub fn rows(&self) -> usize {
        self.fixed.shape()[0]
    }

    /// Classes per seed.
    pub fn classes(&self) -> usize {
        self.fixed.shape()[1]
    }

    /// Whether no seed depends on the logits.
    pub fn is_fixed(&self) -> bool {
        self.inputs().is_fixed()
    }

    /// Rows `start..start + len`.
    pub fn slice(&self, start: usize, len: usize) -> Self {
        let rows = s![start..start + len, ..];
        LogitSeeds {
            fixed: self.fixed.slice(rows).to_owned(),
            softmax_weight: self.softmax_weight.slice(rows).to_owned(),
            softmax_class: self.softmax_class.slice(rows).to_owned(),
            top_weight: self.top_weight.slice(rows).to_owned(),
            top_mask: self.top_mask.slice(rows).to_owned(),
        }
    }

    /// The seeds of `parts`, one after another.
    pub fn concatenate<'a>(parts: impl Iterator<Item = &'a LogitSeeds> + Clone) -> Result<Self> {
        let join = |pick: fn(&LogitSeeds) -> &Array2<f32>| -> Result<Array2<f32>> {
            let views: Vec<_> = parts.clone().map(|p| pick(p).view()).collect();
            ndarray::concatenate(Axis(0), &views).map_err(|e| Error::Internal {
                message: format!("joining seeds failed: {e}"),
            })
        };
        Ok(LogitSeeds {
            fixed: join(|p| &p.fixed)?,
            softmax_weight: join(|p| &p.softmax_weight)?,
            softmax_class: join(|p| &p.softmax_class)?,
            top_weight: join(|p| &p.top_weight)?,
            top_mask: join(|p| &p.top_mask)?,
        })
    }

    /// The seeds at `logits` `(n, classes)`, computed on the host (softmax in f64).
    pub fn at(&self, logits: ArrayView2<f32>) -> Array2<f32> {
        let mut seeds = self.fixed.clone();
        for (i, (mut seed, z)) in seeds.rows_mut().into_iter().zip(logits.rows()).enumerate() {
            let (soft, top) = (self.softmax_weight[[i, 0]], self.top_weight[[i, 0]]);
            if soft != 0.0 {
                let shifted = softmax_minus(z, self.softmax_class.row(i));
                for (s, p) in seed.iter_mut().zip(shifted) {
                    *s += soft * p;
                }
            }
            if top != 0.0 {
                let mask = self.top_mask.row(i);
                let t = argmax(z.iter().zip(mask).map(|(&v, &m)| v + m));
                seed[t] += top;
            }
        }
        seeds
    }
}

/// `softmax(z) - class` for a one-hot or zero `class`, computed in f64 without cancellation
/// (the class's entry as minus the sum of the others) and rounded to f32.
fn softmax_minus(z: ArrayView1<f32>, class: ArrayView1<f32>) -> Vec<f32> {
    let top = z
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let exps: Vec<f64> = z.iter().map(|&v| (f64::from(v) - top).exp()).collect();
    let sum: f64 = exps.iter().sum();
    let others: Vec<f64> = exps
        .iter()
        .zip(class)
        .map(|(e, &h)| e * (1.0 - f64::from(h)))
        .collect();
    let rest: f64 = others.iter().sum();
    others
        .iter()
        .zip(class)
        .map(|(o, &h)| ((o - f64::from(h) * rest) / sum) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn a_fixed_seed_ignores_the_logits() {
        let seed = array![[1.0f32, -2.0, 0.5]];
        let seeds = LogitSeeds::fixed(seed.view());
        assert!(seeds.is_fixed());
        assert_eq!(seeds.at(array![[9.0f32, 1.0, 3.0]].view()), seed);
    }

    #[test]
    fn softmax_and_top_terms_follow_the_logits() {
        let z = array![[1.0f32, 3.0, 2.0]];
        // Cross-entropy on class 0: softmax(z) - onehot(0).
        let ce = LogitSeeds::cross_entropy(3, 0, 1.0);
        let got = ce.at(z.view());
        let sum: f64 = [1.0f64, 3.0, 2.0].iter().map(|v| v.exp()).sum();
        for (k, v) in [1.0f64, 3.0, 2.0].iter().enumerate() {
            let want = v.exp() / sum - if k == 0 { 1.0 } else { 0.0 };
            assert!((f64::from(got[[0, k]]) - want).abs() < 1e-7, "{got}");
        }
        // Margin keeping class 1: onehot(1) - onehot(top other than 1) = e1 - e2.
        let margin = LogitSeeds::margin(3, 1, 1.0);
        assert!(!margin.is_fixed());
        assert_eq!(margin.at(z.view()), array![[0.0f32, 1.0, -1.0]]);
        // Without a skipped class the top class itself is taken; ties go to the lower index.
        let top = LogitSeeds::one(&[0.0; 3], 0.0, 2.0, None);
        assert_eq!(
            top.at(array![[5.0f32, 5.0, 1.0]].view()),
            array![[2.0f32, 0.0, 0.0]]
        );
        assert_eq!(
            margin.clone().negated().at(z.view()),
            array![[0.0f32, -1.0, 1.0]]
        );
    }

    #[test]
    fn a_confident_models_cross_entropy_seed_keeps_its_label_entry() {
        // p_0 = 1 - 2e-12 rounds to 1 in f32: the label's entry is minus the others' sum.
        let z = array![[30.0f32, 3.0, 3.0]];
        let seed = LogitSeeds::cross_entropy(3, 0, 1.0).at(z.view());
        let other = (-27.0f64).exp() / (1.0 + 2.0 * (-27.0f64).exp());
        assert!(
            (f64::from(seed[[0, 0]]) + 2.0 * other).abs() < 1e-6 * other,
            "{seed}"
        );
        assert!(
            (f64::from(seed[[0, 1]]) - other).abs() < 1e-6 * other,
            "{seed}"
        );
    }

    #[test]
    fn rows_concatenate_and_slice_back() {
        let a = LogitSeeds::cross_entropy(2, 1, -1.0);
        let b = LogitSeeds::margin(2, 1, 1.0);
        let both = LogitSeeds::concatenate([&a, &b].into_iter()).expect("same classes");
        assert_eq!((both.rows(), both.classes()), (2, 2));
        assert_eq!(both.slice(0, 1), a);
        assert_eq!(both.slice(1, 1), b);
    }
}
