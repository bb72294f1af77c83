//! Audit reports: the CSV schemas (one table of columns per file, the single source of the
//! files' headers, values and documentation) and writing them.

mod schema;
mod write;

pub use schema::{
    markdown, Column, TimingRow, SAMPLE_COLUMNS, SCHEMA_VERSION, SUMMARY_COLUMNS, TIMING_COLUMNS,
};
pub use write::{write_report, ReportFiles};
