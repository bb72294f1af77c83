//! The audited models of a folder: `summary.csv` rows grouped by model file, with the
//! per-model values (clean accuracy, sensitivity, masking verdict) and the manifest row that
//! describes how the network was trained.

use std::path::Path;

use super::page_input::{AuditFolder, DiagnosisRow, ManifestEntry, SummaryRow};

/// One audited model and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditedModel {
    /// A short name: the model file's stem.
    pub name: String,
    /// The model file as given to the audit.
    pub path: String,
    /// SHA-256 of the model file.
    pub sha256: String,
    /// Fraction of clean images classified correctly (its first row's, as are the other
    /// per-model values).
    pub clean_accuracy: f64,
    /// Images audited.
    pub samples: u64,
    /// Metadata role (empty when absent).
    pub role: String,
    /// Metadata hop (empty when absent).
    pub hop: String,
    /// Metadata temperature (empty when absent).
    pub metadata_temperature: String,
    /// `exact` or `finite-differences`.
    pub gradients: String,
    /// Mean |d(sum of logits)/dx|.
    pub sensitivity_logit_sum: f64,
    /// Mean |d softmax_i/dx|.
    pub sensitivity_softmax: f64,
    /// `masked`, `clear` or `inconclusive`; `None` when not diagnosed.
    pub verdict: Option<String>,
    /// The manifest row of the same file, found by SHA-256.
    pub manifest: Option<ManifestEntry>,
    /// Its rows of `summary.csv`, in file order.
    pub rows: Vec<SummaryRow>,
    /// Its rows of `diagnosis.csv`, in file order.
    pub diagnosis: Vec<DiagnosisRow>,
}

impl AuditedModel {
    /// Training temperature: the manifest's, else the model's metadata.
    pub fn temperature(&self) -> Option<f64> {
        match &self.manifest {
            Some(m) => Some(m.temperature),
            None => self.metadata_temperature.parse().ok(),
        }
    }

    /// The minimal-perturbation L2 robustness: the `cw-l2` row, else `deepfool`'s.
    pub fn l2_robustness(&self) -> Option<&SummaryRow> {
        ["cw-l2", "deepfool"]
            .iter()
            .find_map(|attack| self.rows.iter().find(|r| r.attack == *attack))
    }

    /// Its row for `attack` at `budget` (`None`: minimal-perturbation).
    pub fn row(&self, attack: &str, budget: Option<f64>) -> Option<&SummaryRow> {
        self.rows
            .iter()
            .find(|r| r.attack == attack && r.budget == budget)
    }
}

/// The models of `folder` in the order they first appear in `summary.csv`, rows grouped by
/// SHA-256 (by file name where it is empty), each joined to its manifest and diagnosis rows.
pub fn audited_models(folder: &AuditFolder) -> Vec<AuditedModel> {
    let mut models: Vec<AuditedModel> = Vec::new();
    for row in &folder.summary {
        let same = |m: &AuditedModel| {
            if row.sha256.is_empty() {
                m.path == row.model
            } else {
                m.sha256 == row.sha256
            }
        };
        if let Some(model) = models.iter_mut().find(|m| same(m)) {
            if model.verdict.is_none() {
                model.verdict = verdict(row);
            }
            model.rows.push(row.clone());
            continue;
        }
        let manifest = folder
            .manifest
            .iter()
            .flatten()
            .find(|m| !row.sha256.is_empty() && m.sha256 == row.sha256)
            .cloned();
        models.push(AuditedModel {
            name: stem(&row.model),
            path: row.model.clone(),
            sha256: row.sha256.clone(),
            clean_accuracy: row.clean_accuracy,
            samples: row.samples,
            role: row.role.clone(),
            hop: row.hop.clone(),
            metadata_temperature: row.temperature.clone(),
            gradients: row.gradients.clone(),
            sensitivity_logit_sum: row.sensitivity_logit_sum,
            sensitivity_softmax: row.sensitivity_softmax,
            verdict: verdict(row),
            manifest,
            rows: vec![row.clone()],
            diagnosis: Vec::new(),
        });
    }
    for d in folder.diagnosis.iter().flatten() {
        let model = models.iter_mut().find(|m| {
            if d.sha256.is_empty() || m.sha256.is_empty() {
                m.path == d.model
            } else {
                m.sha256 == d.sha256
            }
        });
        if let Some(model) = model {
            model.diagnosis.push(d.clone());
        }
    }
    // Models of the same file name from different folders or shards stay apart.
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    for model in &mut models {
        if names.iter().filter(|n| **n == model.name).count() > 1 {
            let short: String = model.sha256.chars().take(8).collect();
            let tag = if short.is_empty() {
                model.path.clone()
            } else {
                short
            };
            model.name = format!("{} ({tag})", model.name);
        }
    }
    models
}

fn verdict(row: &SummaryRow) -> Option<String> {
    row.masking_verdict.clone().filter(|v| !v.is_empty())
}

/// The file stem of a model path (the whole text when it has none).
fn stem(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .map_or_else(|| path.to_string(), |s| s.to_string_lossy().into_owned())
}
