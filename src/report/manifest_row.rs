//! `manifest.csv`, the one definition the trainer writes and the report reads: one row per
//! network the trainer exported into a run folder.
//!
//! Columns: `file` (relative to the folder), `role`, `hop` (0 for a teacher), `lineage`
//! (roles from the teacher down, `>`-separated), `chains` (the configured chains the network
//! belongs to, `;`-separated), `temperature`, `parent` (the parent's file, empty for a
//! teacher), `parent_sha256`, `sha256`, `arch`, `dataset`, `test_accuracy` (fraction),
//! `epochs`, `seconds` (training wall time). Columns are read by name; those a manifest of an
//! older trainer may lack read as empty. Numbers the trainer computes in f32 are held as
//! [`f32_cell`](super::f32_cell)s and written as the f32s.

use serde::{Deserialize, Serialize};

/// The manifest's file name inside a run folder.
pub const MANIFEST_FILE: &str = "manifest.csv";

/// One exported network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestRow {
    /// The ONNX file, relative to the run folder.
    pub file: String,
    /// `teacher`, `assistant`, `student`, `undistilled`, `init`, or a network name.
    pub role: String,
    /// Distillation steps from the teacher.
    pub hop: u32,
    /// Network names from the teacher down, `>`-separated.
    #[serde(default)]
    pub lineage: String,
    /// The configured chains it belongs to, `;`-separated.
    #[serde(default)]
    pub chains: String,
    /// Its training temperature.
    #[serde(serialize_with = "super::csv_cell::f32_column")]
    pub temperature: f64,
    /// The parent's file, if distilled.
    #[serde(default)]
    pub parent: String,
    /// The parent's SHA-256.
    #[serde(default)]
    pub parent_sha256: String,
    /// SHA-256 of the exported file.
    pub sha256: String,
    /// The architecture's name.
    #[serde(default)]
    pub arch: String,
    /// The dataset trained on.
    #[serde(default)]
    pub dataset: String,
    /// Test accuracy after the last epoch, a fraction.
    #[serde(default)]
    #[serde(serialize_with = "super::csv_cell::f32_column_option")]
    pub test_accuracy: Option<f64>,
    /// Epochs trained.
    #[serde(default)]
    pub epochs: Option<u32>,
    /// Training wall time, seconds.
    #[serde(default)]
    pub seconds: Option<f64>,
}

impl ManifestRow {
    /// The chains it belongs to.
    pub fn chain_names(&self) -> impl Iterator<Item = &str> {
        self.chains.split(';').filter(|c| !c.is_empty())
    }

    /// The file's stem: the network's name.
    pub fn stem(&self) -> &str {
        self.file.strip_suffix(".onnx").unwrap_or(&self.file)
    }

    /// The row with `f` applied to every text cell (names, paths and hashes): the cells
    /// that are neutralised against formula injection when written and restored when read.
    pub fn map_text(mut self, f: impl Fn(&str) -> String) -> ManifestRow {
        for cell in [
            &mut self.file,
            &mut self.role,
            &mut self.lineage,
            &mut self.chains,
            &mut self.parent,
            &mut self.parent_sha256,
            &mut self.sha256,
            &mut self.arch,
            &mut self.dataset,
        ] {
            *cell = f(cell);
        }
        self
    }
}
