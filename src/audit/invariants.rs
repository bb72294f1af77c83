//! What every adversarial example must satisfy before it is reported: the clean image's
//! shape, finite values inside the valid range, and a perturbation within the attack's
//! budget, measured exactly as the report measures it. A violation is a bug in an attack,
//! never a result.

use ndarray::ArrayView3;

use crate::attacks::{Domain, Norm};
use crate::metrics::Distortion;

/// The candidate's distortion, or why it breaks its bounds.
pub fn check(
    candidate: ArrayView3<f32>,
    clean: ArrayView3<f32>,
    domain: Domain,
    norm: Norm,
    budget: Option<f64>,
) -> Result<Distortion, String> {
    if candidate.shape() != clean.shape() {
        return Err(format!(
            "its shape {:?} differs from the image's {:?}",
            candidate.shape(),
            clean.shape()
        ));
    }
    if let Some(v) = candidate
        .iter()
        .find(|v| !(v.is_finite() && **v >= domain.lo && **v <= domain.hi))
    {
        return Err(format!(
            "value {v} lies outside the valid range [{}, {}]",
            domain.lo, domain.hi
        ));
    }
    let distortion = Distortion::between(candidate, clean);
    if let Some(budget) = budget {
        let size = distortion.get(norm);
        if size > budget {
            return Err(format!(
                "its {norm} distortion {size} exceeds the budget {budget}"
            ));
        }
    }
    Ok(distortion)
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;

    use super::*;

    #[test]
    fn check_rejects_values_out_of_range_and_budget_breaches() {
        let clean = Array3::<f32>::zeros((1, 2, 2));
        let mut adv = clean.clone();
        adv[[0, 0, 0]] = 0.25;
        let d = check(
            adv.view(),
            clean.view(),
            Domain::DATASET,
            Norm::Linf,
            Some(0.3),
        )
        .expect("within budget");
        assert_eq!(d.l0, 1.0);
        assert!(check(
            adv.view(),
            clean.view(),
            Domain::DATASET,
            Norm::Linf,
            Some(0.2)
        )
        .is_err());
        assert!(check(
            adv.view(),
            clean.view(),
            Domain::DATASET,
            Norm::L0,
            Some(0.0)
        )
        .is_err());
        adv[[0, 1, 1]] = 0.6;
        let err = check(adv.view(), clean.view(), Domain::DATASET, Norm::L2, None)
            .expect_err("out of range");
        assert!(err.contains("outside the valid range"), "{err}");
        adv[[0, 1, 1]] = f32::NAN;
        assert!(check(adv.view(), clean.view(), Domain::DATASET, Norm::L2, None).is_err());
    }
}
