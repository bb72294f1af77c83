//! FAB's projection (Croce and Hein, ICML 2020, section 3.1): the shortest step, in L2 or
//! L-infinity, from a point onto a hyperplane `{y: <w, y> = b}` that keeps the point inside
//! the box `[lo, hi]^n`. Both norms are solved exactly by one sort of the coordinates'
//! breakpoints, in f64.
//!
//! With `c = b - <w, p>` the step `d` must satisfy `<w, d> = c`. Moving a coordinate against
//! the sign of `c * w_i` never helps, so with `a_i = |w_i|` and `cap_i` the room left in the
//! useful direction, the step is `|d_i| = e_i` with `sum a_i e_i = |c|`,
//! `0 <= e_i <= cap_i`, and:
//! - L2: `e_i = min(lambda * a_i, cap_i)` (the KKT conditions of the least squares step);
//! - L-infinity: `e_i = min(r, cap_i)` with `r` the smallest radius that reaches `|c|`.
//!
//! Either way `sum a_i e_i` is increasing and piecewise linear in the multiplier, with a
//! breakpoint where each coordinate hits its cap. When the box does not meet the hyperplane
//! (`sum a_i cap_i < |c|`), every coordinate moves to its cap: the box corner nearest the
//! hyperplane, the limit of the projection, as the reference takes.

use super::Norm;

/// The step `d` from `point` onto `{y: <w, y> = b}` within `[lo, hi]` of least L2 (for
/// `Norm::L2`) or L-infinity norm (any other norm); the step to the box corner closest to
/// the hyperplane when the box does not meet it. `point` must lie in the box.
pub fn step_to_hyperplane_in_box(
    point: &[f64],
    w: &[f64],
    b: f64,
    lo: f64,
    hi: f64,
    norm: Norm,
) -> Vec<f64> {
    let c = b - w.iter().zip(point).map(|(w, p)| w * p).sum::<f64>();
    let mut step = vec![0.0; point.len()];
    if c == 0.0 || !c.is_finite() {
        return step;
    }
    let need = c.abs();
    // (index, a_i, cap_i, slope k_i) of every coordinate that can help.
    let mut movable: Vec<(usize, f64, f64, f64)> = Vec::with_capacity(point.len());
    for (i, (&wi, &p)) in w.iter().zip(point).enumerate() {
        let a = wi.abs();
        if a == 0.0 || !a.is_finite() {
            continue;
        }
        let up = (wi > 0.0) == (c > 0.0);
        let cap = if up { hi - p } else { p - lo }.max(0.0);
        let k = if norm == Norm::L2 { a } else { 1.0 };
        movable.push((i, a, cap, k));
    }
    let reachable: f64 = movable.iter().map(|&(_, a, cap, _)| a * cap).sum();
    let direction = |i: usize| (w[i] > 0.0) == (c > 0.0);
    if reachable <= need {
        for &(i, _, cap, _) in &movable {
            step[i] = if direction(i) { cap } else { -cap };
        }
        return step;
    }
    // Sweep the breakpoints cap_i / k_i upwards: below a breakpoint `fixed` holds the
    // coordinates already at their caps, `slope` the rate of the others.
    movable.sort_by(|x, y| (x.2 / x.3).total_cmp(&(y.2 / y.3)));
    let mut fixed = 0.0;
    let mut slope: f64 = movable.iter().map(|&(_, a, _, k)| a * k).sum();
    let mut multiplier = f64::INFINITY;
    for &(_, a, cap, k) in &movable {
        let breakpoint = cap / k;
        if fixed + slope * breakpoint >= need {
            multiplier = (need - fixed) / slope;
            break;
        }
        fixed += a * cap;
        slope -= a * k;
    }
    for &(i, _, cap, k) in &movable {
        let e = (k * multiplier).min(cap);
        step[i] = if direction(i) { e } else { -e };
    }
    step
}

/// The norm of `v` in `norm` (L2, or L-infinity for any other norm).
pub fn norm_of(v: &[f64], norm: Norm) -> f64 {
    match norm {
        Norm::L2 => v.iter().map(|x| x * x).sum::<f64>().sqrt(),
        _ => v.iter().fold(0.0, |m: f64, x| m.max(x.abs())),
    }
}
