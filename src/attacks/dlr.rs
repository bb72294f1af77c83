//! The Difference-of-Logits-Ratio losses of Croce and Hein (2020), with their gradients
//! with respect to the logits. Both are unchanged when the logits are shifted or scaled by
//! a positive factor, so a saturated softmax cannot hide the decision boundary from them.
//! They are written as values to maximise, as in the paper.

use ndarray::ArrayView1;

/// Keeps the ratios finite when the top logits tie, as the paper's definition does.
const TINY: f64 = 1e-12;

/// The class indices of `z` from the highest logit down (the lower index first on ties).
fn ranked(z: ArrayView1<f32>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..z.len()).collect();
    order.sort_by(|&a, &b| z[b].total_cmp(&z[a]));
    order
}

/// Untargeted DLR, `-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)`, with `pi` the classes
/// sorted by decreasing logit; positive once `label` is no longer predicted. Needs at least
/// three classes.
pub fn untargeted(z: ArrayView1<f32>, label: usize) -> (f64, Vec<f32>) {
    let order = ranked(z);
    let other = if order[0] == label {
        order[1]
    } else {
        order[0]
    };
    let margin = f64::from(z[label]) - f64::from(z[other]);
    let spread = f64::from(z[order[0]]) - f64::from(z[order[2]]) + TINY;
    let mut grad = vec![0.0f64; z.len()];
    grad[label] -= 1.0 / spread;
    grad[other] += 1.0 / spread;
    let ratio = margin / (spread * spread);
    grad[order[0]] += ratio;
    grad[order[2]] -= ratio;
    (
        -margin / spread,
        grad.into_iter().map(|g| g as f32).collect(),
    )
}

/// Targeted DLR, `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)`; positive once `target`
/// outscores `label`. Needs at least four classes.
pub fn targeted(z: ArrayView1<f32>, label: usize, target: usize) -> (f64, Vec<f32>) {
    let order = ranked(z);
    let margin = f64::from(z[label]) - f64::from(z[target]);
    let spread =
        f64::from(z[order[0]]) - (f64::from(z[order[2]]) + f64::from(z[order[3]])) / 2.0 + TINY;
    let mut grad = vec![0.0f64; z.len()];
    grad[label] -= 1.0 / spread;
    grad[target] += 1.0 / spread;
    let ratio = margin / (spread * spread);
    grad[order[0]] += ratio;
    grad[order[2]] -= ratio / 2.0;
    grad[order[3]] -= ratio / 2.0;
    (
        -margin / spread,
        grad.into_iter().map(|g| g as f32).collect(),
    )
}
