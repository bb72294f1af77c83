//! Carlini and Wagner's change of variables: an image `x' = lo + (hi - lo) * (tanh(w) + 1) / 2`
//! stays inside `[lo, hi]` for every real `w`, so the optimiser needs no clipping.

use ndarray::{Array3, ArrayView3};

use super::Domain;

/// The map between tanh-space variables and images of a value range.
#[derive(Debug, Clone, Copy)]
pub(super) struct TanhBox {
    lo: f64,
    half_width: f64,
}

/// How far inside `(-1, 1)` an image's values are pulled before `atanh`, so that values on
/// the range's edges get finite variables.
const EDGE: f64 = 1.0 - 1e-6;

impl TanhBox {
    pub(super) fn new(domain: Domain) -> Self {
        TanhBox {
            lo: f64::from(domain.lo),
            half_width: (f64::from(domain.hi) - f64::from(domain.lo)) / 2.0,
        }
    }

    /// The variables `w` of an image.
    pub(super) fn to_w(self, image: ArrayView3<f32>) -> Vec<f64> {
        image
            .iter()
            .map(|&x| {
                let u = (f64::from(x) - self.lo) / self.half_width - 1.0;
                (u * EDGE).atanh()
            })
            .collect()
    }

    /// The image of variables `w`, shaped like `like`, clamped into the range against
    /// rounding.
    pub(super) fn image(self, w: &[f64], like: ArrayView3<f32>, domain: Domain) -> Array3<f32> {
        let mut out = like.to_owned();
        for (o, &w) in out.iter_mut().zip(w) {
            *o =
                ((self.lo + self.half_width * (w.tanh() + 1.0)) as f32).clamp(domain.lo, domain.hi);
        }
        out
    }

    /// `d x' / d w` at each variable.
    pub(super) fn slope(self, w: &[f64]) -> Vec<f64> {
        w.iter()
            .map(|&w| self.half_width * (1.0 - w.tanh().powi(2)))
            .collect()
    }
}
