//! How far an adversarial example is from its clean image, in the three norms attacks use.

use ndarray::ArrayView3;

use crate::attacks::Norm;

/// A perturbation's size in L0, L2 and L-infinity, computed in f64 from the f32 values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Distortion {
    /// Values that differ (a count).
    pub l0: f64,
    /// Euclidean length, in the input's value scale.
    pub l2: f64,
    /// Largest absolute change of one value, in the input's value scale.
    pub linf: f64,
}

impl Distortion {
    /// The perturbation `adversarial - clean`.
    pub fn between(adversarial: ArrayView3<f32>, clean: ArrayView3<f32>) -> Distortion {
        let mut d = Distortion::default();
        let mut squares = 0.0;
        for (&a, &c) in adversarial.iter().zip(clean.iter()) {
            let diff = (f64::from(a) - f64::from(c)).abs();
            if diff > 0.0 {
                d.l0 += 1.0;
            }
            squares += diff * diff;
            d.linf = d.linf.max(diff);
        }
        d.l2 = squares.sqrt();
        d
    }

    /// The same perturbation relative to the clean image: L0 as the fraction of values
    /// changed, L2 and L-infinity over the image's own norm with values measured from the
    /// bottom of the range `lo` (pixel intensities: `[0, 1]` for the built-in datasets).
    /// A norm of zero gives zero.
    pub fn relative_to(self, clean: ArrayView3<f32>, lo: f32) -> Distortion {
        let size = clean.len() as f64;
        let lo = f64::from(lo);
        let intensities = clean.iter().map(|&v| f64::from(v) - lo);
        let l2 = intensities.clone().map(|v| v * v).sum::<f64>().sqrt();
        let linf = intensities.fold(0.0, |m: f64, v| m.max(v.abs()));
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Distortion {
            l0: ratio(self.l0, size),
            l2: ratio(self.l2, l2),
            linf: ratio(self.linf, linf),
        }
    }

    /// The size in `norm`.
    pub fn get(self, norm: Norm) -> f64 {
        match norm {
            Norm::L0 => self.l0,
            Norm::L2 => self.l2,
            Norm::Linf => self.linf,
        }
    }
}
