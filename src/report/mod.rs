//! Audit reports: the CSV schemas (one table of columns per file, the single source of the
//! files' headers, values and documentation), writing them, merging the folders of a
//! sharded audit, and reading an audit folder back to render its figures and pages
//! (`robustaudit report`). Rendering (plotters, fonts, PNG) is the `report` feature, on by
//! default; the edge build (`--no-default-features`) writes and merges reports without it.

#[cfg(feature = "report")]
mod audited;
mod csv_cell;
mod csv_line;
mod digests;
#[cfg(feature = "report")]
mod document;
mod epoch_row;
#[cfg(feature = "report")]
mod format;
#[cfg(feature = "report")]
mod headline;
#[cfg(feature = "report")]
mod html;
mod input_error;
#[cfg(feature = "report")]
mod lineup;
mod manifest_row;
#[cfg(feature = "report")]
mod markdown;
mod merge;
#[cfg(feature = "report")]
mod page;
#[cfg(feature = "report")]
mod page_input;
#[cfg(feature = "report")]
mod plausible;
#[cfg(feature = "report")]
mod plots;
mod read;
#[cfg(feature = "report")]
mod render;
mod schema;
mod shard_record;
mod write;

pub use csv_cell::{f32_cell, neutralise, restore};
pub use epoch_row::{EpochRow, EPOCH_COLUMNS};
pub use input_error::ReportInputError;
#[cfg(feature = "report")]
pub use lineup::LineupSource;
pub use manifest_row::{ManifestRow, MANIFEST_FILE};
pub use merge::{merge, Merged};
#[cfg(feature = "report")]
pub use page_input::{read_folder, AuditFolder, DiagnosisRow, SummaryRow};
#[cfg(feature = "report")]
pub use plots::{default_font, PNG_SCALE};
#[cfg(feature = "report")]
pub use render::{render_report, ReportPages, PLOTS_FOLDER};
pub use schema::{
    markdown, Column, TimingRow, SAMPLE_COLUMNS, SCHEMA_VERSION, SENSITIVITY_COLUMNS,
    SHARD_COLUMNS, SUMMARY_COLUMNS, TIMING_COLUMNS,
};
pub use shard_record::{
    data_sha256, describe_attacks, describe_models, describe_radii, ShardRecord,
};
pub use write::{example_path, write_audit, write_report, ReportFiles};
