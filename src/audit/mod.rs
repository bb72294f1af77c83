//! Auditing models: every attack at every budget on every sample, each candidate checked
//! against its bounds and re-verified by a fresh forward pass, then summarised.
//!
//! Only samples the model classifies correctly are attacked; a misclassified sample gets
//! one record with `attacked = false`, counts against adversarial accuracy and is left out
//! of success rates. A targeted attack makes one run per class other than the label.
//!
//! Each model then gets a gradient-masking diagnosis ([`conclude`]).
//!
//! The (sample, target) runs of an attack are in flight together in a query queue
//! ([`run_queued`]) that merges their model queries into large batches; each run takes its
//! random stream from [`RunKey`], and the model computes every row of a batch on its own,
//! so records depend neither on the thread count nor on which runs share a batch. Only the
//! `seconds` of records vary between identical runs.
//!
//! Every forward pass whose result is reported runs in a batch drawn from one block of
//! [`CHUNK`] consecutive samples, counted from sample 0: the clean pass and the
//! sensitivity in the model's chunks, the verification of candidates block by block. An
//! audit of a [`Shard`] (whole blocks) therefore gives exactly the records of the
//! unsharded audit for its samples.

mod attack_plan;
mod diagnosis;
mod findings;
mod invariants;
mod query_queue;
mod records;
mod seeds;
mod shard;

pub use attack_plan::plan_attacks;
pub use diagnosis::{conclude, verdict};
pub use findings::{Check, Finding, Outcome, Verdict};
pub use invariants::check;
pub use query_queue::{run_queued, QueueSize};
pub use records::{
    AuditReport, Examples, ModelInfo, SampleRecord, SensitivityRecord, SummaryRecord,
};
pub use seeds::RunKey;
pub use shard::{Shard, MAX_SHARDS};

use std::ops::Range;
use std::time::Instant;

use ndarray::{s, Array3, Array4, ArrayView3, ArrayView4, Axis};
use rayon::prelude::*;

use crate::attacks::{Attack, BudgetKind, Domain, Goal, Norm, Oracle, Params, Problem, Queries};
use crate::error::{Error, Result};
use crate::metrics::{mean_sensitivity, sensitivity};
use crate::model::{Differentiable, CHUNK};

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
    /// How many attack runs are in flight and how large their merged batches grow;
    /// `None` sizes the queue for the rayon pool the audit runs in. Records do not depend
    /// on it.
    pub queue: Option<QueueSize>,
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

/// The budgets `planned` runs at for images of `size` values: a radius attack's own radii
/// (its `eps` parameter) when set, else the settings' radii of its norm.
pub fn budgets(
    planned: &PlannedAttack,
    settings: &Settings,
    size: usize,
) -> Result<Vec<Option<f64>>> {
    let attack = planned.attack.as_ref();
    let radii = |all: &[f64]| {
        let own = planned.params.radii().unwrap_or(all);
        Ok(own.iter().map(|&e| Some(e)).collect())
    };
    match attack.budget_kind() {
        BudgetKind::Radius(Norm::Linf) => radii(&settings.eps_linf),
        BudgetKind::Radius(Norm::L2) => radii(&settings.eps_l2),
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
    let all = 0..images.shape()[0];
    run_samples(models, images, labels, all, attacks, settings, progress)
}

/// Audits the samples `samples` of `images` (and `labels`) as [`run`] audits all of them:
/// records and sensitivities keep the samples' indices in `images`, summaries cover
/// `samples` alone. The range must start at a multiple of [`CHUNK`] and end at one or at
/// the last sample, as a [`Shard`]'s do.
#[allow(clippy::too_many_arguments)]
pub fn run_samples(
    models: &[AuditModel],
    images: ArrayView4<f32>,
    labels: Option<&[usize]>,
    samples: Range<usize>,
    attacks: &[PlannedAttack],
    settings: &Settings,
    progress: &dyn Progress,
) -> Result<AuditReport> {
    let total = images.shape()[0];
    let aligned = |edge: usize| edge % CHUNK == 0 || edge == total;
    if samples.start > samples.end
        || samples.end > total
        || !aligned(samples.start)
        || !aligned(samples.end)
    {
        return Err(Error::Internal {
            message: format!(
                "samples {samples:?} of {total} are not whole blocks of {CHUNK} samples"
            ),
        });
    }
    let first = samples.start;
    let images = images.slice(s![samples.clone(), .., .., ..]);
    let labels = labels.map(|l| &l[samples.clone()]);
    let size: usize = images.shape()[1..].iter().product();
    let mut clean = Vec::with_capacity(models.len());
    let mut total_runs = 0u64;
    for m in models {
        let predictions = if samples.is_empty() {
            Vec::new()
        } else {
            m.model.predict(images)?
        };
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
            total_runs += (runs * budgets(planned, settings, size)?.len()) as u64;
        }
        clean.push((labels, predictions));
    }
    progress.start(total_runs);
    let mut report = AuditReport::default();
    for (m, (labels, predictions)) in models.iter().zip(&clean) {
        progress.stage(&format!("{} sensitivity", m.info.name));
        let per_image = sensitivity(m.model, images, labels)?;
        let sensitivity = mean_sensitivity(&per_image);
        report
            .sensitivity
            .extend(
                per_image
                    .into_iter()
                    .enumerate()
                    .map(|(i, sensitivity)| SensitivityRecord {
                        model: m.info.name.clone(),
                        sample: first + i,
                        sensitivity,
                    }),
            );
        let clean = Clean {
            images,
            first,
            labels,
            predictions,
        };
        for planned in attacks {
            let attack = planned.attack.as_ref();
            for budget in budgets(planned, settings, size)? {
                progress.stage(&describe_stage(&m.info.name, attack, budget));
                let start = Instant::now();
                let (records, candidates) =
                    attack_all(m, attack, budget, &clean, settings, progress)?;
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
                if let Some(images) = candidates {
                    report.examples.push(Examples {
                        model: m.info.name.clone(),
                        attack: attack.name(),
                        norm: norm_of(attack.budget_kind()),
                        budget,
                        images,
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

/// The clean samples an audit attacks, as one model sees them.
struct Clean<'a> {
    /// The images, `images[i]` being sample `first + i`.
    images: ArrayView4<'a, f32>,
    /// The index of the first image in the data.
    first: usize,
    /// Their labels.
    labels: &'a [usize],
    /// The model's predictions on them.
    predictions: &'a [usize],
}

impl Clean<'_> {
    /// The image of sample `sample` (an index in the data).
    fn image(&self, sample: usize) -> ArrayView3<'_, f32> {
        self.images.index_axis(Axis(0), sample - self.first)
    }
}

/// One (sample, goal) run, or a misclassified sample's placeholder.
struct Run {
    sample: usize,
    goal: Option<Goal>,
}

/// Runs `attack` at `budget` on every sample; the records in (sample, target) order and,
/// when `settings.keep_examples`, every candidate image in the same order.
fn attack_all(
    m: &AuditModel,
    attack: &dyn Attack,
    budget: Option<f64>,
    clean: &Clean,
    settings: &Settings,
    progress: &dyn Progress,
) -> Result<(Vec<SampleRecord>, Option<Array4<f32>>)> {
    let classes = m.model.classes();
    let runs: Vec<Run> = (0..clean.labels.len())
        .flat_map(|i| {
            let sample = clean.first + i;
            let goals = goals(attack, clean.labels[i], clean.predictions[i], classes);
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
    let size = settings.queue.unwrap_or_else(QueueSize::for_current_pool);
    let outcomes: Vec<(Array3<f32>, Queries, f64)> =
        run_queued(m.model, runs.len(), size, |i, model| {
            let run = &runs[i];
            let image = clean.image(run.sample);
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
            let mut oracle = Oracle::new(model);
            let streams = |name| {
                RunKey {
                    attack: name,
                    ..key
                }
                .rng()
            };
            let candidate = attack.run_on_streams(&mut oracle, &problem, &streams)?;
            let seconds = start.elapsed().as_secs_f64();
            progress.advance();
            Ok((candidate, oracle.queries(), seconds))
        })?;
    let candidates: Vec<ArrayView3<f32>> = outcomes.iter().map(|(c, ..)| c.view()).collect();
    let verified = verify(m.model, &runs, &candidates, attack)?;
    let norm = norm_of(attack.budget_kind());
    let mut records = Vec::with_capacity(runs.len());
    for ((run, (candidate, queries, seconds)), adversarial) in
        runs.iter().zip(&outcomes).zip(verified)
    {
        let image = clean.image(run.sample);
        let i = run.sample - clean.first;
        let distortion =
            check(candidate.view(), image, settings.domain, norm, budget).map_err(|reason| {
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
            label: clean.labels[i],
            clean_prediction: clean.predictions[i],
            target: run.goal.and_then(Goal::target),
            attacked: run.goal.is_some(),
            adversarial_prediction: adversarial,
            success,
            distortion,
            relative: distortion.relative_to(image, settings.domain.lo),
            queries: *queries,
            seconds: *seconds,
        });
    }
    let kept = if settings.keep_examples {
        let shape = clean.images.shape();
        Some(stack(&candidates, [shape[1], shape[2], shape[3]], attack)?)
    } else {
        None
    };
    Ok((records, kept))
}

/// The verdict on every candidate: a fresh forward pass of the unmodified model, one batch
/// per block of [`CHUNK`] samples (counted from sample 0), blocks in parallel.
fn verify(
    model: &dyn Differentiable,
    runs: &[Run],
    candidates: &[ArrayView3<f32>],
    attack: &dyn Attack,
) -> Result<Vec<usize>> {
    let mut blocks: Vec<Range<usize>> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        match blocks.last_mut() {
            Some(block) if runs[block.start].sample / CHUNK == run.sample / CHUNK => {
                block.end = i + 1;
            }
            _ => blocks.push(i..i + 1),
        }
    }
    let verdicts: Vec<Vec<usize>> = blocks
        .into_par_iter()
        .map(|block| {
            let (c, h, w) = candidates[block.start].dim();
            let batch = stack(&candidates[block], [c, h, w], attack)?;
            model.predict(batch.view())
        })
        .collect::<Result<_>>()?;
    Ok(verdicts.into_iter().flatten().collect())
}

/// `images` of shape `chw` stacked along a new first axis.
fn stack(images: &[ArrayView3<f32>], chw: [usize; 3], attack: &dyn Attack) -> Result<Array4<f32>> {
    if images.is_empty() {
        return Ok(Array4::zeros((0, chw[0], chw[1], chw[2])));
    }
    let views: Vec<ArrayView4<f32>> = images.iter().map(|v| v.insert_axis(Axis(0))).collect();
    ndarray::concatenate(Axis(0), &views).map_err(|e| Error::Internal {
        message: format!("stacking the candidates of {} failed: {e}", attack.name()),
    })
}

#[cfg(test)]
mod query_queue_tests;
#[cfg(test)]
mod tests;
