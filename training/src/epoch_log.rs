//! Writing a network's per-epoch training log (its rows are [`EpochRow`], defined with the
//! report that reads them).

use std::path::Path;

use robustaudit::error::Error;
use robustaudit::report::{EpochRow, EPOCH_COLUMNS};

use crate::error::Result;

/// Writes `records` as CSV to `path` atomically.
pub fn write(path: &Path, records: &[EpochRow]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        writer.serialize(record).map_err(|e| Error::Internal {
            message: format!("cannot encode the epoch log: {e}"),
        })?;
    }
    if records.is_empty() {
        writer
            .write_record(EPOCH_COLUMNS)
            .map_err(|e| Error::Internal {
                message: format!("cannot encode the epoch log: {e}"),
            })?;
    }
    let bytes = writer.into_inner().map_err(|e| Error::Internal {
        message: format!("cannot encode the epoch log: {e}"),
    })?;
    robustaudit_graph::atomic_file::write(path, &bytes).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}
