//! Reading an audit folder back: `summary.csv` (required), `diagnosis.csv`,
//! `models/manifest.csv` and `models/*.log.csv` (each optional), every column by its header
//! name, so files from older or newer writers with extra columns still read.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::digests::check;
use super::epoch_row::EpochRow;
use super::input_error::ReportInputError;
use super::manifest_row::{ManifestRow, MANIFEST_FILE};
use super::plausible::{fraction, if_present, magnitude, shown, Plausible};
use super::read::CsvFile;
use super::schema::SCHEMA_VERSION;

/// One row of `summary.csv`: a (model, attack, budget).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SummaryRow {
    /// The model file as given to the audit.
    pub model: String,
    /// SHA-256 of the model file.
    pub sha256: String,
    /// Metadata role; empty when absent.
    #[serde(default)]
    pub role: String,
    /// Metadata hop; empty when absent.
    #[serde(default)]
    pub hop: String,
    /// Metadata temperature; empty when absent.
    #[serde(default)]
    pub temperature: String,
    /// `exact` or `finite-differences`.
    #[serde(default)]
    pub gradients: String,
    /// The attack's name.
    pub attack: String,
    /// The attack's parameters, `name=value` separated by spaces.
    #[serde(default)]
    pub params: String,
    /// The budget's norm: `linf`, `l2` or `l0`.
    pub norm: String,
    /// The budget; `None` for minimal-perturbation attacks.
    pub budget: Option<f64>,
    /// Images audited.
    pub samples: u64,
    /// Fraction of clean images classified correctly.
    pub clean_accuracy: f64,
    /// Fraction of images still classified correctly under attack.
    pub adversarial_accuracy: f64,
    /// Successful runs over runs; `None` when nothing was attacked.
    pub success_rate: Option<f64>,
    /// Mean smallest successful l2 over evaded images, input scale.
    pub mean_min_l2: Option<f64>,
    /// Mean l2 over successful (image, target) pairs, input scale (schema 3 on).
    #[serde(default)]
    pub mean_l2_pairs: Option<f64>,
    /// Mean smallest successful linf over evaded images, input scale.
    pub mean_min_linf: Option<f64>,
    /// Mean smallest successful l0 over evaded images, values.
    pub mean_min_l0: Option<f64>,
    /// Mean |d(sum of logits)/dx|, logits per input unit.
    pub sensitivity_logit_sum: f64,
    /// Mean |d softmax_i/dx|, probability per input unit.
    pub sensitivity_softmax: f64,
    /// `masked`, `clear` or `inconclusive`; `None` when the audit did not diagnose masking.
    #[serde(default)]
    pub masking_verdict: Option<String>,
}

impl SummaryRow {
    /// The mean smallest successful distortion in the row's own norm.
    pub fn mean_min_distortion(&self) -> Option<f64> {
        match self.norm.as_str() {
            "l2" => self.mean_min_l2,
            "linf" => self.mean_min_linf,
            "l0" => self.mean_min_l0,
            _ => None,
        }
    }
}

/// One row of `diagnosis.csv`: a gradient-masking check of one model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DiagnosisRow {
    /// The model file as given to the audit.
    pub model: String,
    /// SHA-256 of the model file.
    pub sha256: String,
    /// The check's name, e.g. `gradient-free-beats-gradient`.
    pub check: String,
    /// `flagged`, `passed` or `not-applicable`.
    pub result: String,
    /// The norm the check looked at; may be empty.
    #[serde(default)]
    pub norm: String,
    /// The budget the check looked at; may be empty.
    #[serde(default)]
    pub budget: String,
    /// What the check found.
    #[serde(default)]
    pub detail: String,
}

/// The per-epoch log of one network.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingLog {
    /// The network's name (its file stem).
    pub network: String,
    /// Its epochs in order.
    pub epochs: Vec<EpochRow>,
}

/// Everything a report is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFolder {
    /// The folder.
    pub dir: PathBuf,
    /// The rows of `summary.csv`, in file order.
    pub summary: Vec<SummaryRow>,
    /// The rows of `diagnosis.csv`; `None` without one.
    pub diagnosis: Option<Vec<DiagnosisRow>>,
    /// The rows of `models/manifest.csv`; `None` without one.
    pub manifest: Option<Vec<ManifestRow>>,
    /// The training logs of `models/`, by network name.
    pub logs: Vec<TrainingLog>,
}

/// The name of the folder beside the reports that holds the trained networks.
pub const MODELS_FOLDER: &str = "models";

/// Reads the audit folder `dir`: `summary.csv` must be there; the rest is read when present.
pub fn read_folder(dir: &Path) -> Result<AuditFolder, ReportInputError> {
    if !dir.is_dir() {
        return Err(ReportInputError::NoFolder {
            dir: dir.to_path_buf(),
        });
    }
    let summary_path = dir.join("summary.csv");
    if std::fs::symlink_metadata(&summary_path).is_err() {
        return Err(ReportInputError::NoSummary {
            dir: dir.to_path_buf(),
        });
    }
    let summary: Vec<SummaryRow> = read_csv(&summary_path, true)?;
    if summary.is_empty() {
        return Err(ReportInputError::Empty { path: summary_path });
    }
    let diagnosis = optional(&dir.join("diagnosis.csv"), true)?;
    let models = dir.join(MODELS_FOLDER);
    let manifest = optional(&models.join(MANIFEST_FILE), false)?;
    let mut logs = Vec::new();
    if models.is_dir() {
        let entries = std::fs::read_dir(&models).map_err(|source| ReportInputError::Io {
            path: models.clone(),
            source,
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ReportInputError::Io {
                path: models.clone(),
                source,
            })?;
            // Every entry is kept, whatever its kind: a log that is a FIFO or a dangling
            // link is an error below, not a chain left out of the figures.
            paths.push(entry.path());
        }
        paths.sort();
        for path in paths {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(network) = name.strip_suffix(".log.csv") {
                logs.push(TrainingLog {
                    network: network.to_string(),
                    epochs: read_csv(&path, false)?,
                });
            }
        }
    }
    Ok(AuditFolder {
        dir: dir.to_path_buf(),
        summary,
        diagnosis,
        manifest,
        logs,
    })
}

/// Checks that the audit files in `dir` are those of one finished run: with a `shard.csv`
/// that records digests (schema 4 on), every digested file must match; without one, the
/// folder must not hold `samples.csv`, which an audit writes before its `shard.csv` (a
/// folder of summary rows alone is a hand-made one, rendered as it is).
pub fn check_one_run(dir: &Path) -> Result<(), ReportInputError> {
    let shard = dir.join("shard.csv");
    if std::fs::symlink_metadata(&shard).is_err() {
        if std::fs::symlink_metadata(dir.join("samples.csv")).is_ok() {
            return Err(ReportInputError::MixedRun {
                dir: dir.to_path_buf(),
                reason: "samples.csv is there but shard.csv, written last, is not: the audit \
                         was cut short"
                    .into(),
            });
        }
        return Ok(());
    }
    let rows: Vec<ShardDigests> = read_csv(&shard, true)?;
    let Some(recorded) = rows.first().and_then(|r| r.digests.as_deref()) else {
        return Ok(());
    };
    check(dir, recorded)
}

/// The column of `shard.csv` that [`check_one_run`] reads; absent before schema 4.
#[derive(Debug, Deserialize)]
struct ShardDigests {
    #[serde(default)]
    digests: Option<String>,
}

impl Plausible for ShardDigests {
    fn plausible(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The rows of `path` if it exists. A path that exists in any form (a dangling link, a
/// FIFO, a folder) is read, so that it fails loudly instead of being left out unseen.
fn optional<T: DeserializeOwned + Plausible>(
    path: &Path,
    versioned: bool,
) -> Result<Option<Vec<T>>, ReportInputError> {
    if std::fs::symlink_metadata(path).is_ok() {
        read_csv(path, versioned).map(Some)
    } else {
        Ok(None)
    }
}

/// Every row of the CSV file `path`, by header name; with `versioned`, every row's
/// `schema_version` must be one this build knows. Every row must be [`Plausible`].
fn read_csv<T: DeserializeOwned + Plausible>(
    path: &Path,
    versioned: bool,
) -> Result<Vec<T>, ReportInputError> {
    let file = CsvFile::read(path)?;
    if versioned {
        file.check_version(1..=SCHEMA_VERSION)?;
    }
    file.deserialize()
}

impl Plausible for SummaryRow {
    fn plausible(&self) -> Result<(), String> {
        if_present(magnitude, "budget", self.budget)?;
        fraction("clean_accuracy", self.clean_accuracy)?;
        fraction("adversarial_accuracy", self.adversarial_accuracy)?;
        if_present(fraction, "success_rate", self.success_rate)?;
        if_present(magnitude, "mean_min_l2", self.mean_min_l2)?;
        if_present(magnitude, "mean_l2_pairs", self.mean_l2_pairs)?;
        if_present(magnitude, "mean_min_linf", self.mean_min_linf)?;
        if_present(magnitude, "mean_min_l0", self.mean_min_l0)?;
        magnitude("sensitivity_logit_sum", self.sensitivity_logit_sum)?;
        magnitude("sensitivity_softmax", self.sensitivity_softmax)
    }
}

impl Plausible for DiagnosisRow {
    fn plausible(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Plausible for ManifestRow {
    fn plausible(&self) -> Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(format!(
                "column temperature: {} is not a finite temperature above 0",
                shown(self.temperature)
            ));
        }
        if_present(fraction, "test_accuracy", self.test_accuracy)?;
        if_present(magnitude, "seconds", self.seconds)
    }
}

impl Plausible for EpochRow {
    fn plausible(&self) -> Result<(), String> {
        magnitude("loss", self.loss)?;
        fraction("train_accuracy", self.train_accuracy)?;
        fraction("test_accuracy", self.test_accuracy)?;
        if_present(magnitude, "seconds", self.seconds)?;
        if_present(magnitude, "images_per_second", self.images_per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_read_by_name_whatever_their_order_and_extras() {
        let dir = tempfile::tempdir().unwrap();
        // Columns shuffled, an unknown one added, the optional ones left out.
        std::fs::write(
            dir.path().join("summary.csv"),
            "future_column,sensitivity_softmax,model,schema_version,attack,norm,budget,samples,\
             clean_accuracy,adversarial_accuracy,success_rate,mean_min_l2,mean_min_linf,\
             mean_min_l0,sensitivity_logit_sum,sha256\n\
             x,0.001,m.onnx,1,fgsm,linf,0.3,10,0.9,0.4,0.5,,,,2.5,abc\n",
        )
        .unwrap();
        let folder = read_folder(dir.path()).unwrap();
        let row = &folder.summary[0];
        assert_eq!(row.model, "m.onnx");
        assert_eq!(row.budget, Some(0.3));
        assert_eq!(row.success_rate, Some(0.5));
        assert_eq!(row.mean_min_l2, None);
        assert_eq!(row.sensitivity_logit_sum, 2.5);
        assert_eq!(row.masking_verdict, None);
        assert_eq!(row.role, "");
        assert!(folder.diagnosis.is_none() && folder.manifest.is_none());
    }

    #[cfg(unix)]
    #[test]
    fn an_optional_report_input_that_is_a_fifo_or_a_dangling_link_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("summary.csv"),
            "schema_version,model,attack,norm,budget,samples,clean_accuracy,\
             adversarial_accuracy,success_rate,mean_min_l2,mean_min_linf,mean_min_l0,\
             sensitivity_softmax,sensitivity_logit_sum,sha256\n\
             1,m.onnx,fgsm,linf,0.3,10,0.9,0.4,0.5,,,,0.001,2.5,abc\n",
        )
        .unwrap();
        read_folder(dir.path()).unwrap();
        let diagnosis = dir.path().join("diagnosis.csv");
        let made = std::process::Command::new("mkfifo")
            .arg(&diagnosis)
            .status()
            .unwrap();
        assert!(made.success());
        let err = read_folder(dir.path()).unwrap_err();
        assert!(matches!(err, ReportInputError::Io { .. }), "{err}");
        assert!(err.to_string().contains("diagnosis.csv"), "{err}");
        assert!(err.to_string().contains("a fifo"), "{err}");
        std::fs::remove_file(&diagnosis).unwrap();

        std::fs::create_dir(dir.path().join(MODELS_FOLDER)).unwrap();
        let log = dir.path().join(MODELS_FOLDER).join("teacher-T1.log.csv");
        std::os::unix::fs::symlink(dir.path().join("gone.csv"), &log).unwrap();
        let err = read_folder(dir.path()).unwrap_err();
        assert!(err.to_string().contains("teacher-T1.log.csv"), "{err}");
    }

    #[test]
    fn a_training_log_with_nan_or_absurd_accuracy_is_refused_on_its_own_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("teacher-T1.log.csv");
        for (value, shown) in [("nan", "NaN"), ("1e308", "1e308"), ("-1e308", "-1e308")] {
            // A blank line before the bad row: the csv reader's own count would say line 3.
            std::fs::write(
                &log,
                format!(
                    "epoch,loss,train_accuracy,test_accuracy,seconds\n1,0.5,0.8,0.7,1\n\n\
                     2,0.4,{value},0.8,1\n"
                ),
            )
            .unwrap();
            let err = read_csv::<EpochRow>(&log, false).unwrap_err().to_string();
            assert!(
                err.ends_with(&format!(
                    "teacher-T1.log.csv, line 4: column train_accuracy: {shown} is not a \
                     fraction in [0, 1]"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn a_missing_required_column_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("summary.csv"),
            "schema_version,model\n1,m.onnx\n",
        )
        .unwrap();
        let err = read_folder(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("summary.csv, line 2: missing field `sha256`"),
            "{err}"
        );
    }
}
