//! `<network>.log.csv`, the one definition the trainer writes and the report reads: one
//! row per completed epoch of a network's training.
//!
//! Columns: `epoch` (1-based), `loss` (mean training loss over the epoch's batches, at the
//! training temperature), `train_accuracy` and `test_accuracy` (fractions in [0, 1]; the
//! training one counts predictions made during the epoch, before each step's update),
//! `seconds` (wall time of the epoch's steps and evaluation), `images_per_second` (training
//! images over the steps' wall time). The last two may be absent from older logs. Numbers
//! the trainer computes in f32 are held as [`f32_cell`](super::f32_cell)s and written as the
//! f32s.

use serde::{Deserialize, Serialize};

/// The columns of an epoch log, in order (the header of a log with no rows yet).
pub const EPOCH_COLUMNS: [&str; 6] = [
    "epoch",
    "loss",
    "train_accuracy",
    "test_accuracy",
    "seconds",
    "images_per_second",
];

/// One completed epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// The epoch's number, from 1.
    pub epoch: u32,
    /// Mean training loss over the epoch's batches (at the training temperature).
    #[serde(serialize_with = "super::csv_cell::f32_column")]
    pub loss: f64,
    /// Fraction of training images predicted correctly during the epoch.
    #[serde(serialize_with = "super::csv_cell::f32_column")]
    pub train_accuracy: f64,
    /// Fraction of test images predicted correctly after the epoch.
    #[serde(serialize_with = "super::csv_cell::f32_column")]
    pub test_accuracy: f64,
    /// Wall time of the epoch, evaluation included.
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Training throughput of the epoch's steps, images per second.
    #[serde(default)]
    pub images_per_second: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_of_an_empty_log_is_that_of_a_written_one() {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let row = EpochRow {
            epoch: 1,
            loss: 0.5,
            train_accuracy: 0.75,
            test_accuracy: 0.875,
            seconds: Some(1.5),
            images_per_second: Some(100.0),
        };
        writer.serialize(&row).expect("row");
        let text = String::from_utf8(writer.into_inner().expect("flush")).expect("utf-8");
        let header = text.lines().next().expect("header");
        assert_eq!(header, EPOCH_COLUMNS.join(","));
        assert_eq!(text.lines().nth(1), Some("1,0.5,0.75,0.875,1.5,100.0"));
    }
}
