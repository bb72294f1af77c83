//! Audit reports: the CSV schemas (one table of columns per file, the single source of the
//! files' headers, values and documentation) and writing them; and reading an audit folder
//! back to render its figures and pages (`robustaudit report`).

mod audited;
mod document;
mod format;
mod headline;
mod html;
mod input_error;
mod lineup;
mod markdown;
mod page;
mod page_input;
mod plots;
mod render;
mod schema;
mod write;

pub use input_error::ReportInputError;
pub use lineup::LineupSource;
pub use page_input::{read_folder, AuditFolder, DiagnosisRow, EpochRow, ManifestEntry, SummaryRow};
pub use plots::{DEFAULT_FONT, PNG_SCALE};
pub use render::{render_report, ReportPages, PLOTS_FOLDER};
pub use schema::{
    markdown, Column, TimingRow, SAMPLE_COLUMNS, SCHEMA_VERSION, SUMMARY_COLUMNS, TIMING_COLUMNS,
};
pub use write::{write_report, ReportFiles};
