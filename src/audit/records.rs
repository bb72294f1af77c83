//! What an audit finds: one record per attack run, one summary per (model, attack, budget).

use std::collections::BTreeMap;

use ndarray::Array4;

use super::findings::{Finding, Verdict};
use crate::attacks::{Attack, Norm, Params, Queries, Signal};
use crate::metrics::{mean, median, Distortion, Sensitivity};
use crate::model::{GradientSource, InputTransform};

/// A model as the report names it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelInfo {
    /// The path given on the command line.
    pub name: String,
    /// SHA-256 of the model file, lowercase hex.
    pub sha256: String,
    /// Metadata `role` (teacher, assistant, student...), empty when absent.
    pub role: String,
    /// Metadata `hop` (distillation hops from the teacher), empty when absent.
    pub hop: String,
    /// Metadata `temperature` the model was trained at, empty when absent.
    pub temperature: String,
    /// `exact` (the VJP graph) or `finite-differences`.
    pub gradients: String,
    /// Why finite differences were used; empty for exact gradients.
    pub gradients_reason: String,
    /// The model's input range (and normalisation) the dataset's values were mapped to.
    pub input: String,
}

impl ModelInfo {
    /// What the reports say about the model of `source`, opened from a file, attacked on
    /// inputs mapped by `transform`.
    pub fn of(
        source: &GradientSource,
        transform: &InputTransform,
    ) -> crate::error::Result<ModelInfo> {
        let model = source.onnx();
        let sha256 = model
            .file_sha256()
            .ok_or_else(|| crate::error::Error::Internal {
                message: format!("{} was not opened from a file", model.path().display()),
            })?
            .to_string();
        let meta = |key: &str| model.metadata_value(key).unwrap_or_default().to_string();
        let (gradients, gradients_reason) = source.kind();
        Ok(ModelInfo {
            name: model.path().display().to_string(),
            sha256,
            role: meta("role"),
            hop: meta("hop"),
            temperature: meta("temperature"),
            gradients: gradients.to_string(),
            gradients_reason,
            input: transform.describe(),
        })
    }
}

/// One attack run on one sample (and target), or a misclassified sample left alone.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRecord {
    /// The model's name.
    pub model: String,
    /// The attack's registry name.
    pub attack: &'static str,
    /// The norm of the attack's budget.
    pub norm: Norm,
    /// The budget in that norm, `None` for minimal-perturbation attacks.
    pub budget: Option<f64>,
    /// The sample's index in the data.
    pub sample: usize,
    /// Its true class.
    pub label: usize,
    /// The model's prediction on the clean image.
    pub clean_prediction: usize,
    /// The target class of a targeted run.
    pub target: Option<usize>,
    /// Whether the attack ran (only correctly classified samples are attacked).
    pub attacked: bool,
    /// The unmodified model's prediction on the candidate, from a fresh forward pass.
    pub adversarial_prediction: usize,
    /// Whether that prediction reaches the goal.
    pub success: bool,
    /// The candidate's distortion.
    pub distortion: Distortion,
    /// The distortion relative to the clean image (see [`Distortion::relative_to`]).
    pub relative: Distortion,
    /// Queries the attack made.
    pub queries: Queries,
    /// Seconds the attack ran (varies between identical runs).
    pub seconds: f64,
}

/// Statistics of one (model, attack, budget).
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRecord {
    /// The model.
    pub model: ModelInfo,
    /// The attack's registry name.
    pub attack: &'static str,
    /// The attack's parameters, `name=value` separated by spaces.
    pub params: String,
    /// What the attack learns from the model.
    pub signal: Signal,
    /// The norm of the attack's budget.
    pub norm: Norm,
    /// The budget, `None` for minimal-perturbation attacks.
    pub budget: Option<f64>,
    /// Samples in the audit.
    pub samples: usize,
    /// Samples correctly classified when clean.
    pub correct: usize,
    /// Samples correctly classified clean and by every candidate of theirs.
    pub robust: usize,
    /// Attack runs on correctly classified samples.
    pub runs: usize,
    /// Runs whose verified prediction reaches the goal.
    pub successes: usize,
    /// Samples with at least one successful run.
    pub evaded: usize,
    /// Mean over evaded samples of their smallest successful distortion, per norm.
    pub mean_minimal: Option<Distortion>,
    /// Median of the same.
    pub median_minimal: Option<Distortion>,
    /// Mean over successful runs, each (image, target) pair on its own, of their distortion,
    /// per norm: the papers' per-pair figure (C&W's average case, Papernot et al.'s).
    pub mean_pairs: Option<Distortion>,
    /// Median of the same.
    pub median_pairs: Option<Distortion>,
    /// Mean of the smallest successful relative distortion, per norm.
    pub mean_minimal_relative: Option<Distortion>,
    /// Median of the same.
    pub median_minimal_relative: Option<Distortion>,
    /// The model's mean sensitivity on the clean samples.
    pub sensitivity: Sensitivity,
    /// Queries of every run.
    pub queries: Queries,
    /// Wall-clock seconds of the whole (model, attack, budget) (varies between runs).
    pub wall_seconds: f64,
    /// The model's gradient-masking verdict (see [`super::conclude`]).
    pub masking_verdict: Verdict,
}

impl SummaryRecord {
    /// The summary of `records`, the runs of `attack` at `budget` on `model`.
    #[allow(clippy::too_many_arguments)]
    pub fn of(
        model: &ModelInfo,
        attack: &dyn Attack,
        params: &Params,
        budget: Option<f64>,
        records: &[SampleRecord],
        labels: &[usize],
        predictions: &[usize],
        sensitivity: Sensitivity,
        wall_seconds: f64,
    ) -> SummaryRecord {
        let correct = labels
            .iter()
            .zip(predictions)
            .filter(|(l, p)| l == p)
            .count();
        let mut queries = Queries::default();
        let mut by_sample: BTreeMap<usize, Vec<&SampleRecord>> = BTreeMap::new();
        for r in records {
            queries.forward += r.queries.forward;
            queries.gradient += r.queries.gradient;
            by_sample.entry(r.sample).or_default().push(r);
        }
        let runs = records.iter().filter(|r| r.attacked).count();
        let pairs: Vec<Distortion> = records
            .iter()
            .filter(|r| r.success)
            .map(|r| r.distortion)
            .collect();
        let successes = pairs.len();
        let mut minimal = Vec::new();
        let mut minimal_relative = Vec::new();
        let mut robust = 0;
        for rows in by_sample.values() {
            let wins: Vec<&&SampleRecord> = rows.iter().filter(|r| r.success).collect();
            // Robust means correct on every returned image: a targeted run that missed its
            // target may still have returned an image of a third class.
            robust += usize::from(
                rows.iter()
                    .all(|r| r.attacked && r.adversarial_prediction == r.label),
            );
            if wins.is_empty() {
                continue;
            }
            let smallest = |f: &dyn Fn(&SampleRecord) -> f64| {
                wins.iter().map(|r| f(r)).fold(f64::INFINITY, f64::min)
            };
            minimal.push(Distortion {
                l0: smallest(&|r| r.distortion.l0),
                l2: smallest(&|r| r.distortion.l2),
                linf: smallest(&|r| r.distortion.linf),
            });
            minimal_relative.push(Distortion {
                l0: smallest(&|r| r.relative.l0),
                l2: smallest(&|r| r.relative.l2),
                linf: smallest(&|r| r.relative.linf),
            });
        }
        SummaryRecord {
            model: model.clone(),
            attack: attack.name(),
            params: params.describe(),
            signal: attack.signal(),
            norm: super::norm_of(attack.budget_kind()),
            budget,
            samples: labels.len(),
            correct,
            robust,
            runs,
            successes,
            evaded: minimal.len(),
            mean_minimal: per_norm(&minimal, mean),
            median_minimal: per_norm(&minimal, median),
            mean_pairs: per_norm(&pairs, mean),
            median_pairs: per_norm(&pairs, median),
            mean_minimal_relative: per_norm(&minimal_relative, mean),
            median_minimal_relative: per_norm(&minimal_relative, median),
            sensitivity,
            queries,
            wall_seconds,
            masking_verdict: Verdict::default(),
        }
    }

    /// Correct clean predictions over samples.
    pub fn clean_accuracy(&self) -> f64 {
        ratio(self.correct, self.samples)
    }

    /// Samples that stay correctly classified under the attack, over samples.
    pub fn adversarial_accuracy(&self) -> f64 {
        ratio(self.robust, self.samples)
    }

    /// Successful runs over runs; `None` when nothing was attacked.
    pub fn success_rate(&self) -> Option<f64> {
        (self.runs > 0).then(|| ratio(self.successes, self.runs))
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// `stat` applied to each norm's values.
fn per_norm(values: &[Distortion], stat: fn(&[f64]) -> Option<f64>) -> Option<Distortion> {
    let column = |f: fn(&Distortion) -> f64| -> Option<f64> {
        stat(&values.iter().map(f).collect::<Vec<_>>())
    };
    Some(Distortion {
        l0: column(|d| d.l0)?,
        l2: column(|d| d.l2)?,
        linf: column(|d| d.linf)?,
    })
}

/// Every candidate image of one (model, attack, budget), in record order.
#[derive(Debug, Clone, PartialEq)]
pub struct Examples {
    /// The model's name.
    pub model: String,
    /// The attack's registry name.
    pub attack: &'static str,
    /// The norm of the budget.
    pub norm: Norm,
    /// The budget.
    pub budget: Option<f64>,
    /// Candidates `(runs, c, h, w)` in the dataset's value scale; misclassified samples
    /// contribute their clean image.
    pub images: Array4<f32>,
}

/// A model's sensitivity on one clean sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityRecord {
    /// The model's name.
    pub model: String,
    /// The sample's index in the data.
    pub sample: usize,
    /// Its gradient amplitudes.
    pub sensitivity: Sensitivity,
}

/// Everything an audit found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditReport {
    /// The models, in audit order.
    pub models: Vec<ModelInfo>,
    /// Every record, by model, attack, budget, sample and target.
    pub samples: Vec<SampleRecord>,
    /// One summary per (model, attack, budget), in the same order.
    pub summaries: Vec<SummaryRecord>,
    /// The gradient-masking checks, by model.
    pub diagnosis: Vec<Finding>,
    /// The candidates, when kept.
    pub examples: Vec<Examples>,
    /// Every model's sensitivity on every sample, by model and sample; each summary's
    /// sensitivity is the mean of its model's.
    pub sensitivity: Vec<SensitivityRecord>,
}
