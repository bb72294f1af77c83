//! The gradient-masking diagnosis on hand-made audit records, where the evidence of each
//! check is known exactly, and on a network whose softmax is saturated on purpose.

use super::*;
use crate::attacks::{Output, Signal};
use crate::metrics::{Distortion, Sensitivity};

const PGD: Signal = Signal::Gradient(Output::Probabilities);
const SCORES: Signal = Signal::Scores(Output::Logits);
const LOGITS: Signal = Signal::Gradient(Output::Logits);
const LIVE: Sensitivity = Sensitivity {
    logit_sum: 1.0,
    softmax_amplitude: 1e-2,
    vanished: 0.0,
};

/// An audit of one model on `correct` correctly classified images (plus none wrong).
struct Fixture {
    report: AuditReport,
    correct: usize,
}

impl Fixture {
    fn new(correct: usize) -> Self {
        let info = ModelInfo {
            name: "m.onnx".into(),
            sha256: "00".into(),
            ..ModelInfo::default()
        };
        let report = AuditReport {
            models: vec![info],
            ..AuditReport::default()
        };
        Fixture { report, correct }
    }

    /// `attack` at `budget` in `norm` (`None`: minimal), evading the images of `evaded`,
    /// each with the distortion `size` in every norm.
    fn attack(
        mut self,
        attack: &'static str,
        signal: Signal,
        norm: Norm,
        budget: Option<f64>,
        evaded: &[(usize, f64)],
    ) -> Self {
        for sample in 0..self.correct {
            let win = evaded.iter().find(|(s, _)| *s == sample);
            let size = win.map_or(0.0, |(_, d)| *d);
            self.report.samples.push(SampleRecord {
                model: "m.onnx".into(),
                attack,
                norm,
                budget,
                sample,
                label: 0,
                clean_prediction: 0,
                target: None,
                attacked: true,
                adversarial_prediction: usize::from(win.is_some()),
                success: win.is_some(),
                distortion: Distortion {
                    l0: 1.0,
                    l2: size,
                    linf: size,
                },
                relative: Distortion::default(),
                queries: Queries::default(),
                seconds: 0.0,
            });
        }
        self.report.summaries.push(SummaryRecord {
            model: self.report.models[0].clone(),
            attack,
            params: String::new(),
            signal,
            norm,
            budget,
            samples: self.correct,
            correct: self.correct,
            robust: self.correct - evaded.len(),
            runs: self.correct,
            successes: evaded.len(),
            evaded: evaded.len(),
            mean_minimal: None,
            median_minimal: None,
            mean_pairs: None,
            median_pairs: None,
            mean_minimal_relative: None,
            median_minimal_relative: None,
            sensitivity: LIVE,
            queries: Queries::default(),
            wall_seconds: 0.0,
            masking_verdict: Verdict::default(),
        });
        self
    }

    /// Multiplies the L2 size of `attack`'s examples by `factor` (an L-inf example spread
    /// over many values is much larger in L2).
    fn l2_times(mut self, attack: &str, factor: f64) -> Self {
        for r in self
            .report
            .samples
            .iter_mut()
            .filter(|r| r.attack == attack)
        {
            r.distortion.l2 *= factor;
        }
        self
    }

    fn sensitivity(mut self, sensitivity: Sensitivity) -> Self {
        for s in &mut self.report.summaries {
            s.sensitivity = sensitivity;
        }
        self
    }

    /// The findings of `check`, and the verdict in the summaries.
    fn diagnose(mut self, check: Check) -> (Vec<Finding>, Verdict) {
        conclude(&mut self.report);
        let verdict = self.report.summaries[0].masking_verdict;
        assert!(self
            .report
            .summaries
            .iter()
            .all(|s| s.masking_verdict == verdict));
        let findings = self
            .report
            .diagnosis
            .into_iter()
            .filter(|f| f.check == check)
            .collect();
        (findings, verdict)
    }
}

/// The first `n` images, evaded at distortion `size`.
fn first(n: usize, size: f64) -> Vec<(usize, f64)> {
    (0..n).map(|s| (s, size)).collect()
}

fn outcomes(findings: &[Finding]) -> Vec<Outcome> {
    findings.iter().map(|f| f.outcome).collect()
}

#[test]
fn a_gradient_free_attack_evading_what_gradient_attacks_miss_is_masking() {
    let (findings, verdict) = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(1, 0.1))
        .attack("spsa", SCORES, Norm::Linf, Some(0.1), &first(15, 0.1))
        .diagnose(Check::GradientFreeBeatsGradient);
    assert_eq!(outcomes(&findings), [Outcome::Flagged]);
    assert_eq!(
        (findings[0].norm, findings[0].budget),
        (Some(Norm::Linf), Some(0.1))
    );
    assert!(
        findings[0].detail.contains("evade 15 of 20"),
        "{}",
        findings[0].detail
    );
    assert_eq!(verdict, Verdict::Masked);
}

#[test]
fn gradient_free_and_gradient_attacks_that_agree_give_a_clear_verdict() {
    let (findings, verdict) = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(12, 0.1))
        .attack("spsa", SCORES, Norm::Linf, Some(0.1), &first(13, 0.1))
        .diagnose(Check::GradientFreeBeatsGradient);
    assert_eq!(outcomes(&findings), [Outcome::Passed]);
    assert_eq!(verdict, Verdict::Clear);
}

#[test]
fn a_group_must_win_by_max_2_or_10_percent_of_the_images() {
    // 30 images: the margin is 3.
    for (extra, expected) in [(2, Outcome::Passed), (3, Outcome::Flagged)] {
        let (findings, _) = Fixture::new(30)
            .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(10, 0.1))
            .attack(
                "spsa",
                SCORES,
                Norm::Linf,
                Some(0.1),
                &first(10 + extra, 0.1),
            )
            .diagnose(Check::GradientFreeBeatsGradient);
        assert_eq!(outcomes(&findings), [expected], "{extra} more images");
    }
    // Images evaded by the losers alone offset those of the winners: 7 against 5.
    let evaded: Vec<(usize, f64)> = (5..17).map(|s| (s, 0.1)).collect();
    let (findings, _) = Fixture::new(30)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(10, 0.1))
        .attack("spsa", SCORES, Norm::Linf, Some(0.1), &evaded)
        .diagnose(Check::GradientFreeBeatsGradient);
    assert_eq!(outcomes(&findings), [Outcome::Passed]);
}

#[test]
fn without_a_gradient_free_attack_the_verdict_is_inconclusive() {
    let (findings, verdict) = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(12, 0.1))
        .diagnose(Check::GradientFreeBeatsGradient);
    assert_eq!(outcomes(&findings), [Outcome::NotApplicable]);
    assert_eq!(verdict, Verdict::Inconclusive);
}

#[test]
fn minimal_perturbation_examples_count_at_every_budget_they_fit_in() {
    // C&W L-inf's examples have linf 0.15: they count within 0.2, not within 0.1.
    let (findings, verdict) = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(1, 0.1))
        .attack("pgd", PGD, Norm::Linf, Some(0.2), &first(1, 0.2))
        .attack("cw-linf", LOGITS, Norm::Linf, None, &first(20, 0.15))
        .diagnose(Check::LogitsBeatProbabilities);
    let by_budget: Vec<(Option<f64>, Outcome)> =
        findings.iter().map(|f| (f.budget, f.outcome)).collect();
    assert_eq!(
        by_budget,
        // Within 0.1 the logit attack evades nothing, so that comparison shows nothing.
        [
            (Some(0.1), Outcome::NotApplicable),
            (Some(0.2), Outcome::Flagged)
        ]
    );
    assert_eq!(verdict, Verdict::Masked);
}

#[test]
fn success_falling_or_flat_as_the_budget_grows_is_flagged() {
    let falling = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(10, 0.1))
        .attack("pgd", PGD, Norm::Linf, Some(0.3), &first(4, 0.3))
        .diagnose(Check::SuccessFlatInEps)
        .0;
    assert_eq!(outcomes(&falling), [Outcome::Flagged]);
    assert!(
        falling[0].detail.contains("fewer at 0.3 than at 0.1"),
        "{}",
        falling[0].detail
    );

    let flat_but_beaten = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(2, 0.1))
        .attack("pgd", PGD, Norm::Linf, Some(0.3), &first(3, 0.3))
        .attack("square", SCORES, Norm::Linf, Some(0.3), &first(18, 0.3))
        .diagnose(Check::SuccessFlatInEps)
        .0;
    let pgd: Vec<&Finding> = flat_but_beaten
        .iter()
        .filter(|f| f.detail.starts_with("pgd"))
        .collect();
    assert_eq!(pgd.len(), 1);
    assert_eq!(pgd[0].outcome, Outcome::Flagged);

    let flat_and_robust = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(2, 0.1))
        .attack("pgd", PGD, Norm::Linf, Some(0.3), &first(3, 0.3))
        .attack("square", SCORES, Norm::Linf, Some(0.3), &first(4, 0.3))
        .diagnose(Check::SuccessFlatInEps)
        .0;
    assert!(flat_and_robust.iter().all(|f| f.outcome == Outcome::Passed));

    let rising = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(5, 0.1))
        .attack("pgd", PGD, Norm::Linf, Some(0.3), &first(19, 0.3))
        .diagnose(Check::SuccessFlatInEps)
        .0;
    assert_eq!(outcomes(&rising), [Outcome::Passed]);
}

#[test]
fn an_unbounded_attack_that_misses_images_is_flagged() {
    for (evaded, expected) in [(15, Outcome::Flagged), (19, Outcome::Passed)] {
        let (findings, _) = Fixture::new(20)
            .attack("deepfool", LOGITS, Norm::L2, None, &first(evaded, 1.0))
            .diagnose(Check::UnboundedBelow100);
        assert_eq!(outcomes(&findings), [expected], "{evaded} of 20 evaded");
    }
    // A linf radius of the whole value range is unbounded too; a smaller one is not.
    let (findings, _) = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(1.0), &first(5, 1.0))
        .attack("pgd", PGD, Norm::Linf, Some(0.3), &first(5, 0.3))
        .diagnose(Check::UnboundedBelow100);
    assert_eq!(outcomes(&findings), [Outcome::Flagged]);
    assert_eq!(findings[0].budget, Some(1.0));
}

#[test]
fn vanished_gradients_are_counted_per_image_so_live_images_cannot_hide_them() {
    // A large mean amplitude (a few unsaturated images) beside images whose cross-entropy
    // gradient is exactly zero: the zero images decide, counted against max(2, 10%).
    for (vanished, expected) in [
        (16, Outcome::Flagged),
        (2, Outcome::Flagged),
        (1, Outcome::Passed),
        (0, Outcome::Passed),
    ] {
        let mixed = Sensitivity {
            logit_sum: 10.0,
            softmax_amplitude: 1e-2,
            vanished: vanished as f64 / 20.0,
        };
        let (findings, verdict) = Fixture::new(20)
            .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(5, 0.1))
            .sensitivity(mixed)
            .diagnose(Check::VanishingGradients);
        assert_eq!(outcomes(&findings), [expected], "{vanished} of 20 vanished");
        if expected == Outcome::Flagged {
            assert_eq!(verdict, Verdict::Masked);
        }
    }
}

#[test]
fn every_check_appears_for_every_model() {
    let mut fixture = Fixture::new(10).attack("pgd", PGD, Norm::Linf, Some(0.1), &first(5, 0.1));
    conclude(&mut fixture.report);
    for check in Check::ALL {
        assert!(
            fixture.report.diagnosis.iter().any(|f| f.check == check),
            "{check} missing"
        );
    }
}

#[test]
fn a_targeted_run_returning_a_third_class_is_not_robust() {
    let (attack, params) = crate::attacks::by_name("jsma")
        .and_then(|a| a.build(&[]))
        .expect("jsma builds");
    // Image 0 stays correct under both targets; image 1's run at target 2 misses its
    // target but returns an image of class 3.
    let run = |sample: usize, target: usize, prediction: usize| SampleRecord {
        model: "m.onnx".into(),
        attack: "jsma-probabilities",
        norm: Norm::L0,
        budget: Some(10.0),
        sample,
        label: 0,
        clean_prediction: 0,
        target: Some(target),
        attacked: true,
        adversarial_prediction: prediction,
        success: prediction == target,
        distortion: Distortion::default(),
        relative: Distortion::default(),
        queries: Queries::default(),
        seconds: 0.0,
    };
    let records = [run(0, 1, 0), run(0, 2, 0), run(1, 1, 0), run(1, 2, 3)];
    let summary = SummaryRecord::of(
        &ModelInfo::default(),
        attack.as_ref(),
        &params,
        Some(10.0),
        &records,
        &[0, 0],
        &[0, 0],
        LIVE,
        0.0,
    );
    assert_eq!((summary.successes, summary.evaded), (0, 0));
    assert_eq!(summary.robust, 1);
    assert_eq!(summary.adversarial_accuracy(), 0.5);
}

#[test]
fn linf_examples_are_not_judged_at_an_l2_budget() {
    // PGD's L-inf examples are large in L2; square-l2 is the only attack of its norm.
    let (findings, verdict) = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.3), &first(18, 0.3))
        .attack("square-l2", SCORES, Norm::L2, Some(2.0), &first(15, 1.5))
        .l2_times("pgd", 10.0)
        .diagnose(Check::GradientFreeBeatsGradient);
    assert_eq!(
        outcomes(&findings),
        [Outcome::NotApplicable, Outcome::NotApplicable]
    );
    assert_eq!(verdict, Verdict::Inconclusive);
}

#[test]
fn a_gradient_free_attack_of_another_norm_does_not_clear_a_model() {
    let (_, verdict) = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(12, 0.1))
        .attack("square-l2", SCORES, Norm::L2, Some(1.0), &first(12, 0.05))
        .diagnose(Check::GradientFreeBeatsGradient);
    assert_eq!(verdict, Verdict::Inconclusive);
}

#[test]
fn gradient_free_attacks_that_evade_nothing_do_not_clear_a_model() {
    let (findings, verdict) = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &[])
        .attack("square", SCORES, Norm::Linf, Some(0.1), &[])
        .diagnose(Check::GradientFreeBeatsGradient);
    assert_eq!(outcomes(&findings), [Outcome::NotApplicable]);
    assert!(
        findings[0].detail.contains("evade none of 20"),
        "{}",
        findings[0].detail
    );
    assert_eq!(verdict, Verdict::Inconclusive);
}

#[test]
fn every_radius_norm_needs_its_own_gradient_free_comparison_to_clear() {
    let both = |square_l2: &[(usize, f64)]| {
        Fixture::new(20)
            .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(12, 0.1))
            .attack("square", SCORES, Norm::Linf, Some(0.1), &first(12, 0.1))
            .attack("pgd-l2", PGD, Norm::L2, Some(1.0), &first(12, 1.0))
            .attack("square-l2", SCORES, Norm::L2, Some(1.0), square_l2)
            .diagnose(Check::GradientFreeBeatsGradient)
            .1
    };
    assert_eq!(both(&first(11, 1.0)), Verdict::Clear);
    assert_eq!(both(&[]), Verdict::Inconclusive);
}

#[test]
fn a_single_step_beating_the_iterative_attacks_is_flagged() {
    for (pgd, expected) in [(2, Outcome::Flagged), (9, Outcome::Passed)] {
        let (findings, _) = Fixture::new(20)
            .attack("fgsm", PGD, Norm::Linf, Some(0.1), &first(10, 0.1))
            .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(pgd, 0.1))
            .diagnose(Check::SingleStepBeatsIterative);
        assert_eq!(outcomes(&findings), [expected], "pgd evades {pgd}");
    }
}

#[test]
fn per_pair_statistics_count_every_successful_target_on_its_own() {
    let (attack, params) = crate::attacks::by_name("cw-l2")
        .and_then(|a| a.build(&[]))
        .expect("cw-l2 builds");
    let run = |sample: usize, target: usize, l2: Option<f64>| SampleRecord {
        model: "m.onnx".into(),
        attack: "cw-l2",
        norm: Norm::L2,
        budget: None,
        sample,
        label: 0,
        clean_prediction: 0,
        target: Some(target),
        attacked: true,
        adversarial_prediction: if l2.is_some() { target } else { 0 },
        success: l2.is_some(),
        distortion: Distortion {
            l0: 1.0,
            l2: l2.unwrap_or(0.0),
            linf: l2.unwrap_or(0.0),
        },
        relative: Distortion::default(),
        queries: Queries::default(),
        seconds: 0.0,
    };
    // Image 0 reaches targets 1 and 2 at l2 1 and 2; image 1 reaches target 1 at l2 6.
    let records = [
        run(0, 1, Some(1.0)),
        run(0, 2, Some(2.0)),
        run(1, 1, Some(6.0)),
        run(1, 2, None),
    ];
    let summary = SummaryRecord::of(
        &ModelInfo::default(),
        attack.as_ref(),
        &params,
        None,
        &records,
        &[0, 0],
        &[0, 0],
        LIVE,
        0.0,
    );
    assert_eq!(summary.mean_minimal.map(|d| d.l2), Some(3.5));
    assert_eq!(summary.mean_pairs.map(|d| d.l2), Some(3.0));
    assert_eq!(summary.median_pairs.map(|d| d.l2), Some(2.0));
}

#[test]
fn the_autoattack_ensemble_takes_no_side_in_the_signal_comparisons() {
    // The ensemble holds Square: counted as a gradient attack it would hide what Square
    // alone finds beyond PGD, and counted as a logit attack it would flag an undistilled
    // network whose PGD is merely weaker than the ensemble's APGD-T and FAB-T.
    let fixture = || {
        Fixture::new(20)
            .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(2, 0.1))
            .attack("square", SCORES, Norm::Linf, Some(0.1), &first(15, 0.1))
            .attack("autoattack", LOGITS, Norm::Linf, Some(0.1), &first(16, 0.1))
    };
    let (findings, verdict) = fixture().diagnose(Check::GradientFreeBeatsGradient);
    assert_eq!(outcomes(&findings), [Outcome::Flagged]);
    assert!(
        !findings[0].detail.contains("autoattack"),
        "{}",
        findings[0].detail
    );
    assert_eq!(verdict, Verdict::Masked);
    let (findings, _) = Fixture::new(20)
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(2, 0.1))
        .attack("autoattack", LOGITS, Norm::Linf, Some(0.1), &first(16, 0.1))
        .diagnose(Check::LogitsBeatProbabilities);
    assert!(
        findings.iter().all(|f| f.outcome != Outcome::Flagged),
        "{findings:?}"
    );
    let (findings, _) = Fixture::new(20)
        .attack("fgsm", PGD, Norm::Linf, Some(0.1), &first(10, 0.1))
        .attack("pgd", PGD, Norm::Linf, Some(0.1), &first(2, 0.1))
        .attack("autoattack", LOGITS, Norm::Linf, Some(0.1), &first(16, 0.1))
        .diagnose(Check::SingleStepBeatsIterative);
    assert_eq!(outcomes(&findings), [Outcome::Flagged]);
}
