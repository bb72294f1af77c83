//! The audited models of a folder: `summary.csv` rows grouped by model file, with the
//! per-model values (clean accuracy, sensitivity, masking verdict) and the manifest row that
//! describes how the network was trained.

use std::path::Path;

use super::page_input::{AuditFolder, DiagnosisRow, SummaryRow};
use super::ManifestRow;

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
    pub manifest: Option<ManifestRow>,
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
/// model file (two files of the same bytes are two models: each was audited under its own
/// name), each joined to its manifest row (by SHA-256) and its diagnosis rows.
pub fn audited_models(folder: &AuditFolder) -> Vec<AuditedModel> {
    let mut models: Vec<AuditedModel> = Vec::new();
    for row in &folder.summary {
        let same = |m: &AuditedModel| m.path == row.model && m.sha256 == row.sha256;
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
        let model = models
            .iter_mut()
            .find(|m| m.path == d.model && (d.sha256.is_empty() || m.sha256 == d.sha256));
        if let Some(model) = model {
            model.diagnosis.push(d.clone());
        }
    }
    // Models of the same file stem stay apart: by their content when it differs, else by
    // their paths.
    let keys: Vec<(String, String)> = models
        .iter()
        .map(|m| (m.name.clone(), m.sha256.clone()))
        .collect();
    for model in &mut models {
        let namesakes = keys.iter().filter(|(n, _)| *n == model.name).count();
        if namesakes > 1 {
            let twins = keys
                .iter()
                .filter(|(n, s)| *n == model.name && *s == model.sha256)
                .count();
            let short: String = model.sha256.chars().take(8).collect();
            let tag = if short.is_empty() || twins > 1 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, sha256: &str) -> SummaryRow {
        SummaryRow {
            model: model.into(),
            sha256: sha256.into(),
            role: String::new(),
            hop: String::new(),
            temperature: String::new(),
            gradients: "exact".into(),
            attack: "fgsm".into(),
            params: String::new(),
            norm: "linf".into(),
            budget: Some(0.3),
            samples: 10,
            clean_accuracy: 0.9,
            adversarial_accuracy: 0.5,
            success_rate: Some(0.5),
            mean_min_l2: None,
            mean_l2_pairs: None,
            mean_min_linf: None,
            mean_min_l0: None,
            sensitivity_logit_sum: 1.0,
            sensitivity_softmax: 0.01,
            masking_verdict: None,
        }
    }

    #[test]
    fn two_model_files_of_the_same_bytes_stay_two_models() {
        let folder = AuditFolder {
            dir: "audit".into(),
            summary: vec![
                row("m.onnx", "same"),
                row("n.onnx", "same"),
                row("a/m.onnx", "same"),
                row("b/m.onnx", "other"),
            ],
            diagnosis: None,
            manifest: None,
            logs: Vec::new(),
        };
        let models = audited_models(&folder);
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["m (m.onnx)", "n", "m (a/m.onnx)", "m (other)"],
            "every file keeps its own row and a name that tells it apart"
        );
        assert!(models.iter().all(|m| m.rows.len() == 1));
    }
}
