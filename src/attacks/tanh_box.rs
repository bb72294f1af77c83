//! Carlini and Wagner's change of variables: an image `x' = lo + (hi - lo) * (tanh(w) + 1) / 2`
//! stays inside `[lo, hi]` for every real `w`, so the optimiser needs no clipping.
//!
//! Values on the range's edges have no finite `w`, so the clean image's values are pulled
//! inside by a factor `1 - 1e-6` before `atanh`, as in the authors' code. Their code then
//! starts from an image a hair away from the clean one in every value, which makes every
//! L0 distortion the whole image; here the map subtracts that constant offset, so the
//! clean image's variables give back exactly the clean image and untouched values stay
//! untouched.

use ndarray::{Array3, ArrayView3};

use super::Domain;

/// The map between tanh-space variables and images near one clean image.
#[derive(Debug, Clone)]
pub(super) struct TanhBox {
    lo: f64,
    half_width: f64,
    domain: Domain,
    clean: Array3<f32>,
    /// Per value: the image of the clean variables minus the clean value.
    offset: Vec<f64>,
}

/// How far inside `(-1, 1)` an image's values are pulled before `atanh`.
const EDGE: f64 = 1.0 - 1e-6;

impl TanhBox {
    /// The map for images near `clean`, inside `domain`.
    pub(super) fn new(domain: Domain, clean: ArrayView3<f32>) -> Self {
        let lo = f64::from(domain.lo);
        let half_width = (f64::from(domain.hi) - lo) / 2.0;
        let mut map = TanhBox {
            lo,
            half_width,
            domain,
            clean: clean.to_owned(),
            offset: vec![0.0; clean.len()],
        };
        let w = map.to_w(clean);
        map.offset = w
            .iter()
            .zip(clean.iter())
            .map(|(&w, &x)| map.raw(w) - f64::from(x))
            .collect();
        map
    }

    fn raw(&self, w: f64) -> f64 {
        self.lo + self.half_width * (w.tanh() + 1.0)
    }

    /// The variables `w` of an image.
    pub(super) fn to_w(&self, image: ArrayView3<f32>) -> Vec<f64> {
        image
            .iter()
            .map(|&x| {
                let u = (f64::from(x) - self.lo) / self.half_width - 1.0;
                (u * EDGE).atanh()
            })
            .collect()
    }

    /// The image of variables `w`, clamped into the range.
    pub(super) fn image(&self, w: &[f64]) -> Array3<f32> {
        let mut out = self.clean.clone();
        for ((o, &w), offset) in out.iter_mut().zip(w).zip(&self.offset) {
            *o = ((self.raw(w) - offset) as f32).clamp(self.domain.lo, self.domain.hi);
        }
        out
    }

    /// `d x' / d w` at each variable.
    pub(super) fn slope(&self, w: &[f64]) -> Vec<f64> {
        w.iter()
            .map(|&w| self.half_width * (1.0 - w.tanh().powi(2)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;

    use super::*;

    #[test]
    fn the_clean_variables_give_back_the_clean_image_exactly() {
        let clean =
            Array3::from_shape_vec((1, 2, 2), vec![-0.5, 0.5, 0.0, 0.123_456_7]).expect("image");
        let map = TanhBox::new(Domain::DATASET, clean.view());
        let w = map.to_w(clean.view());
        assert_eq!(map.image(&w), clean);
        let moved: Vec<f64> = w.iter().map(|w| w + 0.5).collect();
        assert!(map.image(&moved).iter().all(|v| (-0.5..=0.5).contains(v)));
    }
}
