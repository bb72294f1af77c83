//! Audit reports: the CSV schemas (one table of columns per file, the single source of the
//! files' headers, values and documentation), writing them, merging the folders of a
//! sharded audit, and reading an audit folder back to render its figures and pages
//! (`robustaudit report`).

mod audited;
mod csv_cell;
mod csv_line;
mod digests;
mod document;
mod format;
mod headline;
mod html;
mod input_error;
mod lineup;
mod markdown;
mod merge;
mod page;
mod page_input;
mod plausible;
mod plots;
mod read;
mod render;
mod schema;
mod shard_record;
mod write;

pub use csv_cell::{neutralise, restore};
pub use input_error::ReportInputError;
pub use lineup::LineupSource;
pub use merge::{merge, Merged};
pub use page_input::{read_folder, AuditFolder, DiagnosisRow, EpochRow, ManifestEntry, SummaryRow};
pub use plots::{default_font, PNG_SCALE};
pub use render::{render_report, ReportPages, PLOTS_FOLDER};
pub use schema::{
    markdown, Column, TimingRow, SAMPLE_COLUMNS, SCHEMA_VERSION, SENSITIVITY_COLUMNS,
    SHARD_COLUMNS, SUMMARY_COLUMNS, TIMING_COLUMNS,
};
pub use shard_record::{
    data_sha256, describe_attacks, describe_models, describe_radii, ShardRecord,
};
pub use write::{example_path, write_audit, write_report, ReportFiles};
