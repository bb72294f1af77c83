//! The per-epoch training log: one CSV row per completed epoch.
//!
//! Columns: `epoch` (1-based), `loss` (mean training loss over the epoch's batches, at the
//! training temperature), `train_accuracy` and `test_accuracy` (fractions in [0, 1]; the
//! training one counts predictions made during the epoch, before each step's update),
//! `seconds` (wall time of the epoch's steps and evaluation), `images_per_second` (training
//! images over the steps' wall time).

use std::path::Path;

use serde::{Deserialize, Serialize};

use robustaudit::error::Error;

use crate::error::Result;

/// One completed epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch's number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub loss: f32,
    /// Fraction of training images predicted correctly during the epoch.
    pub train_accuracy: f32,
    /// Fraction of test images predicted correctly after the epoch.
    pub test_accuracy: f32,
    /// Wall time of the epoch, evaluation included.
    pub seconds: f64,
    /// Training throughput of the epoch's steps.
    pub images_per_second: f64,
}

/// Writes `records` as CSV to `path` atomically.
pub fn write(path: &Path, records: &[EpochRecord]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        writer.serialize(record).map_err(|e| Error::Internal {
            message: format!("cannot encode the epoch log: {e}"),
        })?;
    }
    if records.is_empty() {
        writer
            .write_record([
                "epoch",
                "loss",
                "train_accuracy",
                "test_accuracy",
                "seconds",
                "images_per_second",
            ])
            .map_err(|e| Error::Internal {
                message: format!("cannot encode the epoch log: {e}"),
            })?;
    }
    let bytes = writer.into_inner().map_err(|e| Error::Internal {
        message: format!("cannot encode the epoch log: {e}"),
    })?;
    robustaudit::atomic_file::write(path, &bytes).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}
