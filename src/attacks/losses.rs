//! Losses on one image's logits that an attack minimises to reach its goal, with their
//! gradients with respect to the logits (the seeds of vector-Jacobian products).

use ndarray::ArrayView1;

use super::{Goal, Output};
use crate::model::{argmax, LogitSeeds};

/// Which loss a gradient attack follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Cross-entropy of the softmax at temperature 1: raised on the label (untargeted) or
    /// lowered on the target (targeted).
    CrossEntropy,
    /// The Carlini-Wagner logit margin (see [`margin`]).
    Margin,
}

impl Loss {
    /// The choice words of the `loss` parameter.
    pub const CHOICES: &'static [&'static str] = &["ce", "margin"];

    /// `ce` or `margin`.
    pub fn from_choice(word: &str) -> Loss {
        if word == "margin" {
            Loss::Margin
        } else {
            Loss::CrossEntropy
        }
    }

    /// The output the loss is computed on.
    pub fn output(self) -> Output {
        match self {
            Loss::CrossEntropy => Output::Probabilities,
            Loss::Margin => Output::Logits,
        }
    }

    /// The loss's gradient with respect to the logits as a function of the logits, for a
    /// model with `classes` logits: the same seed [`Loss::eval`] computes, left for the VJP
    /// graph to evaluate at the logits it computes. (Where every class but the kept one
    /// has a NaN or minus-infinite logit the margin's other class differs: the graph takes
    /// the first class, [`strongest_other`] one other than the kept one.)
    pub fn seeds(self, goal: Goal, classes: usize) -> LogitSeeds {
        let (class, sign) = match goal {
            Goal::Untargeted { label } => (label, 1.0f32),
            Goal::Targeted { target, .. } => (target, -1.0f32),
        };
        match self {
            // Untargeted: onehot(label) - softmax(z); targeted: softmax(z) - onehot(target).
            Loss::CrossEntropy => LogitSeeds::cross_entropy(classes, class, -sign),
            Loss::Margin => LogitSeeds::margin(classes, class, sign),
        }
    }

    /// The loss to minimise at logits `z` and its gradient with respect to `z`.
    pub fn eval(self, z: ArrayView1<f32>, goal: Goal) -> (f64, Vec<f32>) {
        match self {
            Loss::CrossEntropy => cross_entropy(z, goal),
            Loss::Margin => margin(z, goal),
        }
    }
}

/// Untargeted: `-CE(z, label)`; targeted: `CE(z, target)`. Computed in f64.
pub fn cross_entropy(z: ArrayView1<f32>, goal: Goal) -> (f64, Vec<f32>) {
    let top = z
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let exps: Vec<f64> = z.iter().map(|&v| (f64::from(v) - top).exp()).collect();
    let sum: f64 = exps.iter().sum();
    let log_sum = top + sum.ln();
    let (class, sign) = match goal {
        Goal::Untargeted { label } => (label, -1.0),
        Goal::Targeted { target, .. } => (target, 1.0),
    };
    let value = sign * (log_sum - f64::from(z[class]));
    let grad = exps
        .iter()
        .enumerate()
        .map(|(k, e)| {
            let onehot = if k == class { 1.0 } else { 0.0 };
            (sign * (e / sum - onehot)) as f32
        })
        .collect();
    (value, grad)
}

/// The Carlini-Wagner margin, positive while the goal is not reached:
/// untargeted `z_label - max_{i != label} z_i`, targeted `max_{i != target} z_i - z_target`.
pub fn margin(z: ArrayView1<f32>, goal: Goal) -> (f64, Vec<f32>) {
    let (keep, sign) = match goal {
        Goal::Untargeted { label } => (label, 1.0f32),
        Goal::Targeted { target, .. } => (target, -1.0f32),
    };
    let other = strongest_other(z, keep);
    let value = f64::from(sign) * (f64::from(z[keep]) - f64::from(z[other]));
    let mut grad = vec![0.0; z.len()];
    grad[keep] = sign;
    grad[other] = -sign;
    (value, grad)
}

/// The highest-scoring class other than `class` (the lower index on ties).
pub fn strongest_other(z: ArrayView1<f32>, class: usize) -> usize {
    let other = argmax(
        z.iter()
            .enumerate()
            .map(|(k, &v)| if k == class { f32::NEG_INFINITY } else { v }),
    );
    if other == class {
        usize::from(class == 0)
    } else {
        other
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    #[test]
    fn seeds_evaluate_to_the_losses_gradients() {
        let z = [0.3f32, -1.2, 2.5, 2.5, 0.0];
        let goals = [
            Goal::Untargeted { label: 2 },
            Goal::Untargeted { label: 4 },
            Goal::Targeted {
                label: 2,
                target: 0,
            },
            Goal::Targeted {
                label: 0,
                target: 3,
            },
        ];
        let logits = Array2::from_shape_vec((1, z.len()), z.to_vec()).expect("shape");
        for loss in [Loss::CrossEntropy, Loss::Margin] {
            for goal in goals {
                let (_, want) = loss.eval(logits.row(0), goal);
                let got = loss.seeds(goal, z.len()).at(logits.view());
                for (k, (&g, &w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() < 1e-6,
                        "{loss:?} {goal:?} class {k}: {g} vs {w}"
                    );
                }
            }
        }
    }
}
