//! Audit reports: the CSV schemas (one table of columns per file, the single source of the
//! files' headers, values and documentation), writing them, and merging the folders of a
//! sharded audit.

mod merge;
mod read;
mod schema;
mod shard_record;
mod write;

pub use merge::{merge, Merged};
pub use schema::{
    markdown, Column, TimingRow, SAMPLE_COLUMNS, SCHEMA_VERSION, SENSITIVITY_COLUMNS,
    SHARD_COLUMNS, SUMMARY_COLUMNS, TIMING_COLUMNS,
};
pub use shard_record::{
    data_sha256, describe_attacks, describe_models, describe_radii, ShardRecord,
};
pub use write::{example_path, write_audit, write_report, ReportFiles};
