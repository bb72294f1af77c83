//! Auditing models: every attack at every budget on every sample, each candidate checked
//! against its bounds and re-verified by a fresh forward pass, then summarised.
//!
//! Only samples the model classifies correctly are attacked; a misclassified sample gets
//! one record with `attacked = false`, counts against adversarial accuracy and is left out
//! of success rates. A targeted attack makes one run per class other than the label.
//!
//! Each model then gets a gradient-masking diagnosis ([`conclude`]).
//!
//! Runs go in parallel over (sample, target) with rayon; each takes its random stream from
//! [`RunKey`], and the model splits batches into chunks of a fixed size, so records do not
//! depend on the thread count. Only the `seconds` of records vary between identical runs.

mod diagnosis;
mod invariants;
mod records;
mod seeds;

pub use diagnosis::{conclude, verdict, Check, Finding, Outcome, Verdict};
pub use invariants::check;
pub use records::{AuditReport, Examples, ModelInfo, SampleRecord, SummaryRecord};
pub use seeds::RunKey;

use std::time::Instant;

use ndarray::{Array4, ArrayView4, Axis};
use rayon::prelude::*;

use crate::attacks::{Attack, BudgetKind, Domain, Goal, Norm, Oracle, Params, Problem, Queries};
use crate::error::{Error, Result};
use crate::metrics::sensitivity;
use crate::model::Differentiable;

/// A model to audit: how reports name it, and the model itself, taking images in the
/// dataset's value scale.
pub struct AuditModel<'m> {
    /// Its identity and metadata for the report.
    pub info: ModelInfo,
    /// The model.
    pub model: &'m dyn Differentiable,
}

/// An attack with the parameters it was built from.
pub struct PlannedAttack {
    /// The attack.
    pub attack: Box<dyn Attack>,
    /// Its resolved parameters, recorded in the summary.
    pub params: Params,
}

/// How an audit runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The seed every run's random stream derives from.
    pub seed: u64,
    /// Radii of L-infinity attacks, in the input's value scale.
    pub eps_linf: Vec<f64>,
    /// Radii of L2 attacks, in the input's value scale.
    pub eps_l2: Vec<f64>,
    /// The valid value range of the images.
    pub domain: Domain,
    /// Whether to keep every candidate image for the report.
    pub keep_examples: bool,
}

/// Progress of an audit, in attack runs.
pub trait Progress: Sync {
    /// `total` runs are about to start.
    fn start(&self, _total: u64) {}
    /// What is running now, such as `model.onnx pgd eps 0.3`.
    fn stage(&self, _text: &str) {}
    /// One more run finished.
    fn advance(&self) {}
}

/// No progress reporting.
impl Progress for () {}

/// The budgets `attack` runs at for images of `size` values.
pub fn budgets(attack: &dyn Attack, settings: &Settings, size: usize) -> Result<Vec<Option<f64>>> {
    match attack.budget_kind() {
        BudgetKind::Radius(Norm::Linf) => Ok(settings.eps_linf.iter().map(|&e| Some(e)).collect()),
        BudgetKind::Radius(Norm::L2) => Ok(settings.eps_l2.iter().map(|&e| Some(e)).collect()),
        BudgetKind::Radius(Norm::L0) => Err(Error::Internal {
            message: format!("attack {} asks for an l0 radius", attack.name()),
        }),
        BudgetKind::Features(fraction) => Ok(vec![Some((fraction * size as f64).floor())]),
        BudgetKind::Minimal(_) => Ok(vec![None]),
    }
}

/// The norm in which an attack's budget and minimal distortion are measured.
pub fn norm_of(kind: BudgetKind) -> Norm {
    match kind {
        BudgetKind::Radius(norm) | BudgetKind::Minimal(norm) => norm,
        BudgetKind::Features(_) => Norm::L0,
    }
}

/// Audits every model with every attack on `images` (in `settings.domain`), with `labels`
/// or, when there are none, each model's own clean predictions as labels.
pub fn run(
    models: &[AuditModel],
    images: ArrayView4<f32>,
    labels: Option<&[usize]>,
    attacks: &[PlannedAttack],
    settings: &Settings,
    progress: &dyn Progress,
) -> Result<AuditReport> {
    let size: usize = images.shape()[1..].iter().product();
    let mut clean = Vec::with_capacity(models.len());
    let mut total = 0u64;
    for m in models {
        let predictions = m.model.predict(images)?;
        let labels = labels.map_or_else(|| predictions.clone(), <[usize]>::to_vec);
        for planned in attacks {
            let runs: usize = (0..labels.len())
                .map(|i| {
                    let goals = goals(
                        planned.attack.as_ref(),
                        labels[i],
                        predictions[i],
                        m.model.classes(),
                    );
                    goals.len().max(1)
                })
                .sum();
            total += (runs * budgets(planned.attack.as_ref(), settings, size)?.len()) as u64;
        }
        clean.push((labels, predictions));
    }
    progress.start(total);
    let mut report = AuditReport::default();
    for (m, (labels, predictions)) in models.iter().zip(&clean) {
        progress.stage(&format!("{} sensitivity", m.info.name));
        let sensitivity = sensitivity(m.model, images)?;
        for planned in attacks {
            let attack = planned.attack.as_ref();
            for budget in budgets(attack, settings, size)? {
                progress.stage(&describe_stage(&m.info.name, attack, budget));
                let start = Instant::now();
                let (records, candidates) = attack_all(
                    m,
                    attack,
                    budget,
                    images,
                    labels,
                    predictions,
                    settings,
                    progress,
                )?;
                let wall_seconds = start.elapsed().as_secs_f64();
                report.summaries.push(SummaryRecord::of(
                    &m.info,
                    attack,
                    &planned.params,
                    budget,
                    &records,
                    labels,
                    predictions,
                    sensitivity,
                    wall_seconds,
                ));
                if settings.keep_examples {
                    report.examples.push(Examples {
                        model: m.info.name.clone(),
                        attack: attack.name(),
                        norm: norm_of(attack.budget_kind()),
                        budget,
                        images: candidates,
                    });
                }
                report.samples.extend(records);
            }
        }
        report.models.push(m.info.clone());
    }
    conclude(&mut report);
    Ok(report)
}

fn describe_stage(model: &str, attack: &dyn Attack, budget: Option<f64>) -> String {
    match budget {
        Some(b) => format!(
            "{model} {} {} {b}",
            attack.name(),
            norm_of(attack.budget_kind())
        ),
        None => format!("{model} {}", attack.name()),
    }
}

/// Attack runs for one sample: its goals, or none when it is misclassified.
fn goals(attack: &dyn Attack, label: usize, prediction: usize, classes: usize) -> Vec<Goal> {
    if label == prediction {
        attack.targets().goals(label, classes)
    } else {
        Vec::new()
    }
}

/// One (sample, goal) run, or a misclassified sample's placeholder.
struct Run {
    sample: usize,
    goal: Option<Goal>,
}

/// Runs `attack` at `budget` on every sample; the records in (sample, target) order and
/// every candidate image in the same order.
#[allow(clippy::too_many_arguments)]
fn attack_all(
    m: &AuditModel,
    attack: &dyn Attack,
    budget: Option<f64>,
    images: ArrayView4<f32>,
    labels: &[usize],
    predictions: &[usize],
    settings: &Settings,
    progress: &dyn Progress,
) -> Result<(Vec<SampleRecord>, Array4<f32>)> {
    let classes = m.model.classes();
    let runs: Vec<Run> = (0..labels.len())
        .flat_map(|sample| {
            let goals = goals(attack, labels[sample], predictions[sample], classes);
            if goals.is_empty() {
                vec![Run { sample, goal: None }]
            } else {
                goals
                    .into_iter()
                    .map(|g| Run {
                        sample,
                        goal: Some(g),
                    })
                    .collect()
            }
        })
        .collect();
    let outcomes: Vec<(ndarray::Array3<f32>, Queries, f64)> = runs
        .par_iter()
        .map(|run| {
            let image = images.index_axis(Axis(0), run.sample);
            let Some(goal) = run.goal else {
                progress.advance();
                return Ok((image.to_owned(), Queries::default(), 0.0));
            };
            let key = RunKey {
                seed: settings.seed,
                model: &m.info.sha256,
                attack: attack.name(),
                budget,
                sample: run.sample,
                target: goal.target(),
            };
            let problem = Problem {
                image,
                goal,
                budget,
                domain: settings.domain,
            };
            let start = Instant::now();
            let mut oracle = Oracle::new(m.model);
            let candidate = attack.run(&mut oracle, &problem, &mut key.rng())?;
            let seconds = start.elapsed().as_secs_f64();
            progress.advance();
            Ok((candidate, oracle.queries(), seconds))
        })
        .collect::<Result<_>>()?;
    let views: Vec<_> = outcomes
        .iter()
        .map(|(c, ..)| c.view().insert_axis(Axis(0)))
        .collect();
    let candidates = ndarray::concatenate(Axis(0), &views).map_err(|e| Error::Internal {
        message: format!("stacking the candidates of {} failed: {e}", attack.name()),
    })?;
    // The verdict: a fresh forward pass of the unmodified model on every candidate.
    let verified = m.model.predict(candidates.view())?;
    let norm = norm_of(attack.budget_kind());
    let mut records = Vec::with_capacity(runs.len());
    for ((run, (candidate, queries, seconds)), adversarial) in
        runs.iter().zip(&outcomes).zip(verified)
    {
        let clean = images.index_axis(Axis(0), run.sample);
        let distortion =
            check(candidate.view(), clean, settings.domain, norm, budget).map_err(|reason| {
                Error::Internal {
                    message: format!(
                        "attack {} on sample {} of {} produced an invalid example: {reason}",
                        attack.name(),
                        run.sample,
                        m.info.name
                    ),
                }
            })?;
        let success = run.goal.is_some_and(|g| g.reached_by(adversarial));
        records.push(SampleRecord {
            model: m.info.name.clone(),
            attack: attack.name(),
            norm,
            budget,
            sample: run.sample,
            label: labels[run.sample],
            clean_prediction: predictions[run.sample],
            target: run.goal.and_then(Goal::target),
            attacked: run.goal.is_some(),
            adversarial_prediction: adversarial,
            success,
            distortion,
            relative: distortion.relative_to(clean, settings.domain.lo),
            queries: *queries,
            seconds: *seconds,
        });
    }
    Ok((records, candidates))
}

#[cfg(test)]
mod tests;
