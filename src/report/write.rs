//! Writing an audit's files into its output folder, each one atomically.

use std::path::{Path, PathBuf};

use ndarray_npy::WriteNpyExt;

use super::csv_cell::neutralise;
use super::digests::describe;
use super::schema::{
    Column, TimingRow, DIAGNOSIS_COLUMNS, SAMPLE_COLUMNS, SENSITIVITY_COLUMNS, SHARD_COLUMNS,
    SUMMARY_COLUMNS, TIMING_COLUMNS,
};
use super::ShardRecord;
use crate::attacks::Norm;
use crate::audit::AuditReport;
use crate::error::{Error, Result};

/// The files an audit wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFiles {
    /// `samples.csv`.
    pub samples: PathBuf,
    /// `summary.csv`.
    pub summary: PathBuf,
    /// `diagnosis.csv`.
    pub diagnosis: PathBuf,
    /// `timings.csv`.
    pub timings: PathBuf,
    /// `sensitivity.csv`.
    pub sensitivity: PathBuf,
    /// One `.npy` batch per (model, attack, budget) of kept examples.
    pub examples: Vec<PathBuf>,
    /// The digests of the deterministic files, as `shard.csv` records them.
    pub digests: String,
}

/// Writes `samples.csv`, `summary.csv`, `diagnosis.csv`, `timings.csv`, `sensitivity.csv`
/// and, for kept examples, `examples/<model>/<attack>[-<norm>-<budget>].npy` into `dir`.
pub fn write_report(dir: &Path, report: &AuditReport) -> Result<ReportFiles> {
    let samples = dir.join("samples.csv");
    let samples_bytes = csv_bytes(SAMPLE_COLUMNS, &report.samples, &samples)?;
    write(&samples, &samples_bytes)?;
    let summary = dir.join("summary.csv");
    let summary_bytes = csv_bytes(SUMMARY_COLUMNS, &report.summaries, &summary)?;
    write(&summary, &summary_bytes)?;
    let diagnosis = dir.join("diagnosis.csv");
    let diagnosis_bytes = csv_bytes(DIAGNOSIS_COLUMNS, &report.diagnosis, &diagnosis)?;
    write(&diagnosis, &diagnosis_bytes)?;
    let timings = dir.join("timings.csv");
    let mut rows: Vec<TimingRow> = report
        .samples
        .iter()
        .map(|r| TimingRow {
            scope: "run",
            model: r.model.clone(),
            attack: r.attack,
            norm: r.norm,
            budget: r.budget,
            sample: Some(r.sample),
            target: r.target,
            seconds: r.seconds,
        })
        .collect();
    rows.extend(report.summaries.iter().map(|s| TimingRow {
        scope: "total",
        model: s.model.name.clone(),
        attack: s.attack,
        norm: s.norm,
        budget: s.budget,
        sample: None,
        target: None,
        seconds: s.wall_seconds,
    }));
    write(&timings, &csv_bytes(TIMING_COLUMNS, &rows, &timings)?)?;
    let sensitivity = dir.join("sensitivity.csv");
    let sensitivity_bytes = csv_bytes(SENSITIVITY_COLUMNS, &report.sensitivity, &sensitivity)?;
    write(&sensitivity, &sensitivity_bytes)?;
    let digests = describe(&[
        ("samples.csv", &samples_bytes),
        ("summary.csv", &summary_bytes),
        ("diagnosis.csv", &diagnosis_bytes),
        ("sensitivity.csv", &sensitivity_bytes),
    ]);
    let mut examples = Vec::new();
    for set in &report.examples {
        let index = report
            .models
            .iter()
            .position(|m| m.name == set.model)
            .unwrap_or(0);
        let path = example_path(dir, index, &set.model, set.attack, set.norm, set.budget);
        let mut bytes = Vec::new();
        set.images
            .as_standard_layout()
            .write_npy(&mut bytes)
            .map_err(|e| Error::Internal {
                message: format!("encoding {} failed: {e}", path.display()),
            })?;
        write(&path, &bytes)?;
        examples.push(path);
    }
    Ok(ReportFiles {
        samples,
        summary,
        diagnosis,
        timings,
        sensitivity,
        examples,
        digests,
    })
}

/// Writes an audit's folder: [`write_report`]'s files, then `shard.csv` (its path is
/// returned). A `shard.csv` already there is removed first, so a folder that holds one is
/// complete and of one audit.
pub fn write_audit(
    dir: &Path,
    report: &AuditReport,
    record: &ShardRecord,
) -> Result<(ReportFiles, PathBuf)> {
    let path = dir.join("shard.csv");
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::Write { path, source: e })
        }
        _ => {}
    }
    let files = write_report(dir, report)?;
    let record = ShardRecord {
        digests: files.digests.clone(),
        ..record.clone()
    };
    write(
        &path,
        &csv_bytes(SHARD_COLUMNS, std::slice::from_ref(&record), &path)?,
    )?;
    Ok((files, path))
}

/// Where the candidates of (model `index` of the audit, called `model`, attack, budget) go:
/// `dir/examples/<index>-<model stem>/<attack>[-<norm>-<budget>].npy`.
pub fn example_path(
    dir: &Path,
    index: usize,
    model: &str,
    attack: &str,
    norm: Norm,
    budget: Option<f64>,
) -> PathBuf {
    let stem = Path::new(model)
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let name = match budget {
        Some(b) => format!("{attack}-{norm}-{b}.npy"),
        None => format!("{attack}.npy"),
    };
    dir.join("examples")
        .join(format!("{index}-{}", safe(&stem)))
        .join(name)
}

/// The header and rows of one file, CSV-encoded, every cell [`neutralise`]d.
fn csv_bytes<R>(columns: &[Column<R>], rows: &[R], path: &Path) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Internal {
        message: format!("encoding {} failed: {e}", path.display()),
    };
    writer
        .write_record(columns.iter().map(|c| c.name))
        .map_err(fail)?;
    for row in rows {
        let cells: Vec<String> = columns.iter().map(|c| (c.value)(row)).collect();
        writer
            .write_record(cells.iter().map(|c| neutralise(c).into_owned()))
            .map_err(fail)?;
    }
    writer.into_inner().map_err(|e| Error::Internal {
        message: format!("encoding {} failed: {e}", path.display()),
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    robustaudit_graph::atomic_file::write(path, bytes).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// `name` with every character other than letters, digits, `-`, `_` and `.` replaced.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
