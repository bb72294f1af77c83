//! Gradient-masking diagnosis: the signs Athalye, Carlini and Wagner (2018) list of a
//! defence that only hides its gradients, checked per model on what the audit found.
//!
//! Every comparison is made at one budget `(norm, eps)` of the audit, among the attacks of
//! that norm only (an L-inf attack's examples are not judged by their L2 size), and counts
//! images: an image is *evaded within the budget* by a group of attacks when one of their
//! verified successes on it lies within `eps`, whatever budget the run had (so a
//! minimal-perturbation attack such as DeepFool counts wherever its example is small
//! enough). Group A *beats* group B when the images evaded by A alone outnumber those
//! evaded by B alone by at least `max(2, ceil(10%))` of the correctly classified images. A
//! comparison in which group A evades nothing shows nothing and is not applicable.
//!
//! The checks:
//! - `gradient-free-beats-gradient`: attacks that use no gradients (scores or decisions)
//!   beat every gradient attack together;
//! - `logits-beat-probabilities`: attacks on the logits beat attacks on the softmax
//!   probabilities (the defensive-distillation signature: the softmax saturates); when
//!   `apgd-dlr` and `apgd-ce` (or their l2 forms) both ran, only they are compared;
//! - `single-step-beats-iterative`: FGSM's single step beats the iterative gradient attacks
//!   (Athalye et al.: an iterative attack includes the single step, so it can only lose
//!   when its gradients mislead it);
//! - `success-flat-in-eps`: an attack's success falls as its budget grows, or stays flat
//!   while other attacks evade many more images at its largest budget;
//! - `unbounded-below-100`: an attack bounded only by the value range (minimal-perturbation
//!   attacks, or a radius covering the whole range) misses as many images as that margin;
//! - `vanishing-gradients`: the cross-entropy input gradient is zero in f32 on at least
//!   `max(2, ceil(10%))` of the correctly classified images (counted per image, so a few
//!   unsaturated images cannot hide the others behind a mean).
//!
//! The AutoAttack ensembles (`autoattack`, `autoattack-l2`) take no side in the first three
//! comparisons: they mix the signals being compared (APGD-CE on probabilities, APGD-T and
//! FAB-T on logits, Square on scores alone), so counting one as a logit or gradient attack
//! would credit the gradient side with Square's finds and the logit side with APGD-CE's.
//!
//! The verdict per model: `masked` when a check is flagged; `clear` when none is and, in
//! every norm of a radius budget (L2, L-inf; no gradient-free attack has an L0 budget), a
//! gradient-free attack evaded something at some budget and did no better than the
//! gradient attacks;
//! otherwise `inconclusive` (run a gradient-free attack beside the gradient attacks, in
//! the same norm, at a budget where it can succeed).

use std::collections::{BTreeMap, BTreeSet};

use super::findings::{Check, Finding, Outcome, Verdict};
use super::records::{AuditReport, SampleRecord, SummaryRecord};
use crate::attacks::{Domain, Norm, Output, Signal};
use crate::metrics::Distortion;

/// Runs every check on every model of `report`, then records each model's verdict in its
/// summaries and the findings in the report.
pub fn conclude(report: &mut AuditReport) {
    let findings: Vec<Finding> = report
        .models
        .iter()
        .flat_map(|m| {
            let summaries: Vec<&SummaryRecord> = report
                .summaries
                .iter()
                .filter(|s| s.model.name == m.name)
                .collect();
            let records: Vec<&SampleRecord> = report
                .samples
                .iter()
                .filter(|r| r.model == m.name)
                .collect();
            diagnose(&summaries, &records)
        })
        .collect();
    for s in &mut report.summaries {
        s.masking_verdict = verdict(findings.iter().filter(|f| f.model == s.model.name));
    }
    report.diagnosis = findings;
}

/// The verdict of one model's findings.
pub fn verdict<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Verdict {
    // Per norm with a gradient-free comparison: whether one of its budgets passed.
    let mut compared: BTreeMap<&'static str, bool> = BTreeMap::new();
    for f in findings {
        match (f.outcome, f.check) {
            (Outcome::Flagged, _) => return Verdict::Masked,
            (outcome, Check::GradientFreeBeatsGradient) => {
                // No gradient-free attack has an L0 budget: those budgets cannot be
                // confirmed and do not hold the verdict back.
                if let Some(norm) = f.norm.filter(|&n| n != Norm::L0) {
                    *compared.entry(norm.name()).or_default() |= outcome == Outcome::Passed;
                }
            }
            _ => {}
        }
    }
    if !compared.is_empty() && compared.values().all(|&passed| passed) {
        Verdict::Clear
    } else {
        Verdict::Inconclusive
    }
}

/// The findings of one model, from its summaries and records.
fn diagnose(summaries: &[&SummaryRecord], records: &[&SampleRecord]) -> Vec<Finding> {
    let Some(first) = summaries.first() else {
        return Vec::new();
    };
    let evidence = Evidence::new(summaries, records);
    let finding = |check, outcome, budget: Option<(Norm, f64)>, detail: String| Finding {
        model: first.model.name.clone(),
        sha256: first.model.sha256.clone(),
        check,
        outcome,
        norm: budget.map(|(n, _)| n),
        budget: budget.map(|(_, b)| b),
        detail,
    };
    let mut out = Vec::new();
    let comparisons = [
        (
            Check::GradientFreeBeatsGradient,
            "gradient-free",
            "gradient",
            (|name: &str, s: Signal| !ENSEMBLES.contains(&name) && !s.uses_gradients()) as Group,
            (|name: &str, s: Signal| !ENSEMBLES.contains(&name) && s.uses_gradients()) as Group,
        ),
        (
            Check::LogitsBeatProbabilities,
            "logit",
            "probability",
            |name, s| !ENSEMBLES.contains(&name) && output_of(s) == Some(Output::Logits),
            |name, s| !ENSEMBLES.contains(&name) && output_of(s) == Some(Output::Probabilities),
        ),
        (
            Check::SingleStepBeatsIterative,
            "single-step",
            "iterative gradient",
            |name, _| SINGLE_STEP.contains(&name),
            |name, s| {
                !ENSEMBLES.contains(&name) && s.uses_gradients() && !SINGLE_STEP.contains(&name)
            },
        ),
    ];
    let pairs = evidence.loss_pairs();
    for (check, winner, loser, is_winner, is_loser) in comparisons {
        let evidence = match (check, &pairs) {
            (Check::LogitsBeatProbabilities, Some(pairs)) => pairs,
            _ => &evidence,
        };
        if evidence.budgets.is_empty() {
            out.push(finding(
                check,
                Outcome::NotApplicable,
                None,
                "no attack ran at a radius budget".into(),
            ));
        }
        for &budget in &evidence.budgets {
            let (outcome, detail) =
                evidence.compare(budget, (winner, is_winner), (loser, is_loser));
            out.push(finding(check, outcome, Some(budget), detail));
        }
    }
    for s in summaries {
        if let Some((outcome, detail)) = evidence.flat_in_eps(s) {
            out.push(finding(
                Check::SuccessFlatInEps,
                outcome,
                s.budget.map(|b| (s.norm, b)),
                detail,
            ));
        }
    }
    if !out.iter().any(|f| f.check == Check::SuccessFlatInEps) {
        out.push(finding(
            Check::SuccessFlatInEps,
            Outcome::NotApplicable,
            None,
            "no attack ran at two or more budgets of one norm".into(),
        ));
    }
    let unbounded: Vec<&&SummaryRecord> = summaries.iter().filter(|s| unbounded(s)).collect();
    if unbounded.is_empty() {
        out.push(finding(
            Check::UnboundedBelow100,
            Outcome::NotApplicable,
            None,
            "no minimal-perturbation attack (cw-l2, cw-linf, deepfool, hopskipjump) ran".into(),
        ));
    }
    for s in unbounded {
        let full = s.evaded + margin(s.correct) > s.correct;
        let detail = format!(
            "{} evades {} of {} correctly classified images{}",
            s.attack,
            s.evaded,
            s.correct,
            if full {
                ""
            } else {
                "; an attack bounded only by the value range should evade every image"
            }
        );
        let outcome = if full {
            Outcome::Passed
        } else {
            Outcome::Flagged
        };
        out.push(finding(
            Check::UnboundedBelow100,
            outcome,
            s.budget.map(|b| (s.norm, b)),
            detail,
        ));
    }
    let sensitivity = first.sensitivity;
    // The mean of the per-image 0/1 values over the audit's images, back to a count.
    let vanished = (sensitivity.vanished * first.samples as f64).round() as usize;
    out.push(finding(
        Check::VanishingGradients,
        if first.correct > 0 && vanished >= margin(first.correct) {
            Outcome::Flagged
        } else {
            Outcome::Passed
        },
        None,
        format!(
            "the cross-entropy input gradient is zero in f32 on {vanished} of {} correctly classified images (max(2, 10%) counts as vanished); mean |d softmax/dx| is {:e}, mean |d sum(logits)/dx| is {}",
            first.correct, sensitivity.softmax_amplitude, sensitivity.logit_sum
        ),
    ));
    out
}

/// Which attacks (by name and signal) a side of a comparison holds.
type Group = fn(&str, Signal) -> bool;

/// The attacks that take a single gradient step.
const SINGLE_STEP: [&str; 1] = ["fgsm"];

/// The ensembles whose members read different signals: no side of a comparison.
const ENSEMBLES: [&str; 2] = ["autoattack", "autoattack-l2"];

/// The output an attack reads, for attacks that read scores or gradients.
fn output_of(signal: Signal) -> Option<Output> {
    match signal {
        Signal::Gradient(o) | Signal::Scores(o) => Some(o),
        Signal::Decision => None,
    }
}

/// Whether a summary's attack is bounded only by the value range.
fn unbounded(s: &SummaryRecord) -> bool {
    let span = f64::from(Domain::DATASET.hi - Domain::DATASET.lo);
    match (s.norm, s.budget) {
        (Norm::L0, _) => false,
        (_, None) => true,
        (Norm::Linf, Some(eps)) => eps >= span,
        (Norm::L2, Some(_)) => false,
    }
}

/// Attacks that differ only in their loss, on logits (DLR) and on probabilities
/// (cross-entropy). When both of a pair ran, `logits-beat-probabilities` compares them
/// alone: with the attack held fixed, a difference can only come from the loss.
const LOSS_PAIRS: [(&str, &str); 2] = [("apgd-dlr", "apgd-ce"), ("apgd-dlr-l2", "apgd-ce-l2")];

impl Evidence<'_> {
    /// This evidence restricted to the pairs of [`LOSS_PAIRS`] that both ran, if any did.
    fn loss_pairs(&self) -> Option<Self> {
        let ran = |name: &str| self.attacks.contains_key(name);
        let keep: Vec<&str> = LOSS_PAIRS
            .iter()
            .filter(|(logits, probabilities)| ran(logits) && ran(probabilities))
            .flat_map(|&(logits, probabilities)| [logits, probabilities])
            .collect();
        if keep.is_empty() {
            return None;
        }
        Some(Evidence {
            correct: self.correct,
            budgets: self.budgets.clone(),
            attacks: self
                .attacks
                .iter()
                .filter(|(name, _)| keep.contains(name))
                .map(|(&name, evaded)| (name, evaded.clone()))
                .collect(),
            summaries: self.summaries,
        })
    }
}

/// The smallest number of images by which one set must outnumber another to count.
fn margin(correct: usize) -> usize {
    correct.div_ceil(10).max(2)
}

/// One attack's signal, norm and smallest successful distortion per evaded sample.
type Attacked = (Signal, Norm, BTreeMap<usize, Distortion>);

/// One model's successes, indexed for the checks.
struct Evidence<'a> {
    /// Correctly classified images.
    correct: usize,
    /// The radius budgets of the audit, in order.
    budgets: Vec<(Norm, f64)>,
    /// Per attack: its signal, its norm and the smallest successful distortion per evaded
    /// sample.
    attacks: BTreeMap<&'static str, Attacked>,
    /// Every summary, for the per-attack checks.
    summaries: &'a [&'a SummaryRecord],
}

impl<'a> Evidence<'a> {
    fn new(summaries: &'a [&'a SummaryRecord], records: &[&SampleRecord]) -> Self {
        let mut budgets: Vec<(Norm, f64)> = Vec::new();
        let mut attacks: BTreeMap<&'static str, Attacked> = BTreeMap::new();
        for s in summaries {
            if let Some(b) = s.budget {
                if !budgets.contains(&(s.norm, b)) {
                    budgets.push((s.norm, b));
                }
            }
            attacks
                .entry(s.attack)
                .or_insert((s.signal, s.norm, BTreeMap::new()));
        }
        budgets.sort_by(|a, b| a.0.name().cmp(b.0.name()).then(a.1.total_cmp(&b.1)));
        for r in records.iter().filter(|r| r.success) {
            if let Some((_, _, best)) = attacks.get_mut(r.attack) {
                let d = best.entry(r.sample).or_insert(r.distortion);
                d.l0 = d.l0.min(r.distortion.l0);
                d.l2 = d.l2.min(r.distortion.l2);
                d.linf = d.linf.min(r.distortion.linf);
            }
        }
        Evidence {
            correct: summaries.first().map_or(0, |s| s.correct),
            budgets,
            attacks,
            summaries,
        }
    }

    /// Samples evaded within `budget` by the attacks of its norm whose name and signal pass
    /// `keep`, and those attacks' names.
    fn evaded(
        &self,
        (norm, eps): (Norm, f64),
        keep: impl Fn(&str, Signal) -> bool,
    ) -> (BTreeSet<usize>, Vec<&'static str>) {
        let mut samples = BTreeSet::new();
        let mut names = Vec::new();
        for (&name, (signal, own, best)) in &self.attacks {
            if *own != norm || !keep(name, *signal) {
                continue;
            }
            names.push(name);
            samples.extend(
                best.iter()
                    .filter(|(_, d)| d.get(norm) <= eps)
                    .map(|(&s, _)| s),
            );
        }
        (samples, names)
    }

    /// Whether the `winner` group beats the `loser` group within `budget`.
    fn compare(
        &self,
        budget: (Norm, f64),
        (winner, is_winner): (&str, Group),
        (loser, is_loser): (&str, Group),
    ) -> (Outcome, String) {
        let (won, winners) = self.evaded(budget, is_winner);
        let (lost, losers) = self.evaded(budget, is_loser);
        let at = format!("within {} {}", budget.0, budget.1);
        if winners.is_empty() || losers.is_empty() {
            let missing = if winners.is_empty() { winner } else { loser };
            return (
                Outcome::NotApplicable,
                format!("no {missing} attack of this norm ran, so none can be compared {at}"),
            );
        }
        if won.is_empty() {
            return (
                Outcome::NotApplicable,
                format!(
                    "{at}, the {winner} attacks ({}) evade none of {} correctly classified images, so they show nothing beside the {loser} attacks ({}, {} evaded)",
                    winners.join(", "),
                    self.correct,
                    losers.join(", "),
                    lost.len()
                ),
            );
        }
        let only_winners = won.difference(&lost).count();
        let only_losers = lost.difference(&won).count();
        let flagged = only_winners >= only_losers + margin(self.correct);
        let detail = format!(
            "{at}, {winner} attacks ({}) evade {} of {} correctly classified images and {loser} attacks ({}) {}; {} only by the {winner} attacks, {} only by the {loser} attacks",
            winners.join(", "),
            won.len(),
            self.correct,
            losers.join(", "),
            lost.len(),
            only_winners,
            only_losers,
        );
        let outcome = if flagged {
            Outcome::Flagged
        } else {
            Outcome::Passed
        };
        (outcome, detail)
    }

    /// For an attack at its largest of two or more budgets of one norm: whether its
    /// success falls with the budget, or stays flat while all attacks together evade many
    /// more images at that budget.
    fn flat_in_eps(&self, s: &SummaryRecord) -> Option<(Outcome, String)> {
        let mut own: Vec<(f64, usize)> = self
            .summaries
            .iter()
            .filter(|o| o.attack == s.attack && o.norm == s.norm)
            .filter_map(|o| o.budget.map(|b| (b, o.evaded)))
            .collect();
        own.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (largest, evaded) = *own.last()?;
        if own.len() < 2 || s.budget != Some(largest) {
            return None;
        }
        let m = margin(self.correct);
        let rates: Vec<String> = own.iter().map(|(b, e)| format!("{e} at {b}")).collect();
        let series = format!(
            "{} evades {} of {} correctly classified images ({} {})",
            s.attack,
            rates.join(", "),
            self.correct,
            s.norm,
            "budgets"
        );
        if let Some(w) = own.windows(2).find(|w| w[0].1 >= w[1].1 + m) {
            return Some((
                Outcome::Flagged,
                format!(
                    "{series}: fewer at {} than at {}, though a larger budget allows every example of the smaller",
                    w[1].0, w[0].0
                ),
            ));
        }
        let (all, _) = self.evaded((s.norm, largest), |_, _| true);
        let smallest = own[0].1;
        if evaded < smallest + m && all.len() >= evaded + m.max(self.correct.div_ceil(4)) {
            return Some((
                Outcome::Flagged,
                format!(
                    "{series}: flat while all attacks together evade {} within {} {largest}",
                    all.len(),
                    s.norm
                ),
            ));
        }
        Some((
            Outcome::Passed,
            format!("{series}: rises with the budget or others do no better"),
        ))
    }
}
