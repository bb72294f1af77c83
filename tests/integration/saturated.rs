//! A network whose softmax is saturated on purpose (its logits multiplied by 1000, as a
//! network distilled at a high temperature deploys them): the wrapper the APGD tests audit
//! too, and the gradient-masking diagnosis on it, which must flag it while attacks on the
//! logits still succeed.

use ndarray::{Array2, Array4, ArrayView2, ArrayView4};
use robustaudit::audit::{AuditReport, Check, Outcome, Verdict};
use robustaudit::error::Result;
use robustaudit::model::{Classifier, Differentiable};

use super::{audit_digits, trained_digits};

/// A network whose logits are multiplied by `scale`: the same decisions, a softmax saturated
/// to exactly one-hot in floating point.
pub struct Saturated<'m> {
    pub inner: &'m dyn Differentiable,
    pub scale: f32,
}

impl Classifier for Saturated<'_> {
    fn input_chw(&self) -> [usize; 3] {
        self.inner.input_chw()
    }

    fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        Ok(self.inner.logits(images)? * self.scale)
    }

    fn classes(&self) -> usize {
        self.inner.classes()
    }
}

impl Differentiable for Saturated<'_> {
    fn vjp(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        let (logits, grads) = self.inner.vjp(images, seed)?;
        Ok((logits * self.scale, grads * self.scale))
    }
}

/// Audits `model` on the first 40 test digits with `attacks` at the budgets `eps_linf` and
/// `eps_l2`.
fn audit_with(
    model: &dyn Differentiable,
    attacks: &[&str],
    eps_linf: &[f64],
    eps_l2: &[f64],
) -> AuditReport {
    let attacks: Vec<(&str, &[(&str, &str)])> = attacks.iter().map(|&a| (a, &[][..])).collect();
    audit_digits(model, 40, &attacks, eps_linf, eps_l2).0
}

/// The checks flagged in `report`.
fn flagged(report: &AuditReport) -> Vec<Check> {
    let mut checks: Vec<Check> = report
        .diagnosis
        .iter()
        .filter(|f| f.outcome == Outcome::Flagged)
        .map(|f| f.check)
        .collect();
    checks.dedup();
    checks
}

/// Every finding of `report`, one per line.
fn details(report: &AuditReport) -> String {
    report
        .diagnosis
        .iter()
        .map(|f| {
            format!(
                "{} {} {:?}: {}",
                f.check,
                f.outcome.name(),
                f.budget,
                f.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_deliberately_saturated_softmax_is_flagged_and_attacks_on_logits_still_succeed() {
    let plain = trained_digits();
    let saturated = Saturated {
        inner: plain,
        scale: 1000.0,
    };
    // DeepFool (logits, L2) is compared with pgd-l2 (cross-entropy) at the L2 budgets.
    let attacks = ["fgsm", "pgd", "pgd-l2", "deepfool", "square"];
    let report = audit_with(&saturated, &attacks, &[0.1, 0.2, 0.3], &[0.5, 1.0, 2.0]);
    assert_eq!(
        report.summaries[0].masking_verdict,
        Verdict::Masked,
        "{}",
        details(&report)
    );
    let checks = flagged(&report);
    assert!(
        checks.contains(&Check::VanishingGradients),
        "{}",
        details(&report)
    );
    assert!(
        checks.contains(&Check::LogitsBeatProbabilities),
        "{}",
        details(&report)
    );
    // Scaling the logits changes no decision and no comparison of margins, so Square on the
    // logits follows nearly the same path (f32 rounding of the scaled margins may break a few
    // near-ties differently): it must do about as well as before.
    let before = audit_with(plain, &attacks, &[0.1, 0.2, 0.3], &[0.5, 1.0, 2.0]);
    let rate = |r: &AuditReport, attack: &str, eps: f64| {
        r.summaries
            .iter()
            .find(|s| s.attack == attack && s.budget == Some(eps))
            .map(|s| s.evaded)
            .expect("summary")
    };
    let square = (rate(&before, "square", 0.3), rate(&report, "square", 0.3));
    assert!(
        square.1 + 4 >= square.0,
        "square evades {} images before saturation and {} after",
        square.0,
        square.1
    );
}
