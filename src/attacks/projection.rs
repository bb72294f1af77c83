//! Keeping a candidate inside its budget and the valid value range, exactly: after
//! projection, the distances the auditor measures in f64 from the f32 values never exceed
//! the budget, whatever the rounding of `x ± eps` in f32.

use ndarray::{ArrayView3, ArrayViewMut3, Zip};

use super::Domain;

/// Clamps every value of `candidate` into `domain`.
pub fn clip_to_range(mut candidate: ArrayViewMut3<f32>, domain: Domain) {
    candidate.mapv_inplace(|v| v.clamp(domain.lo, domain.hi));
}

/// Projects `candidate` onto the values within `eps` of `clean` in the largest absolute
/// change (measured in f64) and inside `domain`. `clean` must lie inside `domain`.
pub fn project_linf(
    candidate: ArrayViewMut3<f32>,
    clean: ArrayView3<f32>,
    eps: f64,
    domain: Domain,
) {
    Zip::from(candidate).and(clean).for_each(|c, &x| {
        let lo = lower_bound(x, eps).max(domain.lo);
        let hi = upper_bound(x, eps).min(domain.hi);
        *c = c.clamp(lo, hi);
    });
}

/// Projects `candidate` onto the values within Euclidean distance `eps` of `clean`
/// (measured in f64) and inside `domain`: the perturbation is scaled down to length `eps`
/// if longer, then clamped into the range, which only shortens it. `clean` must lie inside
/// `domain`.
pub fn project_l2(
    mut candidate: ArrayViewMut3<f32>,
    clean: ArrayView3<f32>,
    eps: f64,
    domain: Domain,
) {
    let delta: Vec<f64> = candidate
        .iter()
        .zip(clean.iter())
        .map(|(&c, &x)| f64::from(c) - f64::from(x))
        .collect();
    let mut scale = 1.0;
    loop {
        for ((c, &x), &d) in candidate.iter_mut().zip(clean.iter()).zip(&delta) {
            *c = ((f64::from(x) + d * scale) as f32).clamp(domain.lo, domain.hi);
        }
        let norm = l2_distance(candidate.view(), clean);
        if norm <= eps {
            return;
        }
        // Shrink so that the f32 result lands inside; rounding needs at most a few rounds.
        scale *= eps / norm * (1.0 - 1e-7);
    }
}

/// The Euclidean distance of two images, in f64.
fn l2_distance(a: ArrayView3<f32>, b: ArrayView3<f32>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(&u, &v)| (f64::from(u) - f64::from(v)).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The smallest f32 `b` with `x - b <= eps` in f64.
fn lower_bound(x: f32, eps: f64) -> f32 {
    let mut b = (f64::from(x) - eps) as f32;
    while f64::from(x) - f64::from(b) > eps {
        b = next_toward(b, x);
    }
    b
}

/// The largest f32 `b` with `b - x <= eps` in f64.
fn upper_bound(x: f32, eps: f64) -> f32 {
    let mut b = (f64::from(x) + eps) as f32;
    while f64::from(b) - f64::from(x) > eps {
        b = next_toward(b, x);
    }
    b
}

/// The f32 next to `v` in the direction of `target`.
fn next_toward(v: f32, target: f32) -> f32 {
    if v == target || v.is_nan() || target.is_nan() {
        return v;
    }
    if v == 0.0 {
        let tiny = f32::from_bits(1);
        return if target > 0.0 { tiny } else { -tiny };
    }
    let bits = v.to_bits();
    let away_from_zero = (target > v) == (v > 0.0);
    f32::from_bits(if away_from_zero { bits + 1 } else { bits - 1 })
}
