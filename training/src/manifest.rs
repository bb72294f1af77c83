//! Keeping a run folder's `manifest.csv` (its rows are [`ManifestRow`], defined with the
//! report that reads them): read it back, add or replace a network's row.

use std::path::Path;

use robustaudit::error::Error;
use robustaudit::report::{neutralise, restore, ManifestRow, MANIFEST_FILE};

use crate::error::Result;

/// Reads the manifest of `folder` (empty when there is none yet).
pub fn read(folder: &Path) -> Result<Vec<ManifestRow>> {
    let path = folder.join(MANIFEST_FILE);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut reader = csv::Reader::from_path(&path).map_err(|e| Error::Usage {
        message: format!("cannot read {}: {e}", path.display()),
        hint: None,
    })?;
    let rows = reader
        .deserialize()
        .collect::<std::result::Result<Vec<ManifestRow>, _>>()
        .map_err(|e| Error::Usage {
            message: format!("{} is malformed: {e}", path.display()),
            hint: Some(format!("delete {} to rebuild it", path.display())),
        })?;
    Ok(rows
        .into_iter()
        .map(|r| r.map_text(|c| restore(c).to_string()))
        .collect())
}

/// Adds `row` to the manifest of `folder`, replacing a row for the same file, and writes it
/// atomically (rows sorted by file).
///
/// A row for the same export (same file and SHA-256) keeps the accuracy, epochs and wall
/// time it recorded: a finished network run again reads them back from its metadata,
/// which older exports rounded, and the record of how it was trained must not change.
pub fn upsert(folder: &Path, mut row: ManifestRow) -> Result<()> {
    let mut rows = read(folder)?;
    if let Some(old) = rows
        .iter()
        .find(|r| r.file == row.file && r.sha256 == row.sha256)
    {
        row.test_accuracy = old.test_accuracy;
        row.epochs = old.epochs;
        row.seconds = old.seconds;
    }
    rows.retain(|r| r.file != row.file);
    rows.push(row);
    rows.sort_by(|a, b| a.file.cmp(&b.file));
    let mut writer = csv::Writer::from_writer(Vec::new());
    for r in &rows {
        // Names and paths come from the user: neutralised against formula injection as the
        // auditor's reports are (docs/report-schema.md); `read` undoes it.
        let r = r.clone().map_text(|c| neutralise(c).into_owned());
        writer.serialize(&r).map_err(|e| Error::Internal {
            message: format!("cannot encode the manifest: {e}"),
        })?;
    }
    let bytes = writer.into_inner().map_err(|e| Error::Internal {
        message: format!("cannot encode the manifest: {e}"),
    })?;
    let path = folder.join(MANIFEST_FILE);
    robustaudit_graph::atomic_file::write(&path, &bytes)
        .map_err(|source| Error::Write { path, source })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sha256: &str, test_accuracy: f32, seconds: f64) -> ManifestRow {
        ManifestRow {
            file: "teacher-T1.onnx".into(),
            role: "teacher".into(),
            hop: 0,
            lineage: "teacher".into(),
            chains: "main".into(),
            temperature: 1.0,
            parent: String::new(),
            parent_sha256: String::new(),
            sha256: sha256.into(),
            arch: "mnist-cnn".into(),
            dataset: "mnist".into(),
            test_accuracy: Some(robustaudit::report::f32_cell(test_accuracy)),
            epochs: Some(50),
            seconds: Some(seconds),
        }
    }

    #[test]
    fn a_finished_network_run_again_keeps_its_recorded_values_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let trained = row("abc", 0.961_234_57, 1_234.567_891_234);
        upsert(dir.path(), trained.clone()).unwrap();
        let first = std::fs::read(dir.path().join(MANIFEST_FILE)).unwrap();
        // The re-run reads the values back from metadata rounded to 6 and 1 decimals.
        upsert(dir.path(), row("abc", 0.961_235, 1_234.6)).unwrap();
        assert_eq!(read(dir.path()).unwrap(), vec![trained]);
        assert_eq!(
            std::fs::read(dir.path().join(MANIFEST_FILE)).unwrap(),
            first
        );
        // A new export of the file is a new record.
        upsert(dir.path(), row("def", 0.5, 2.0)).unwrap();
        assert_eq!(read(dir.path()).unwrap(), vec![row("def", 0.5, 2.0)]);
    }

    #[test]
    fn a_role_or_path_that_would_start_a_formula_is_neutralised_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut hostile = row("abc", 0.5, 2.0);
        hostile.role = "=cmd|' /C calc'!A0".into();
        hostile.parent = "@SUM(A1)".into();
        upsert(dir.path(), hostile.clone()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(
            text.contains("'=cmd|' /C calc'!A0") && text.contains(",'@SUM(A1),"),
            "{text}"
        );
        assert_eq!(read(dir.path()).unwrap(), vec![hostile]);
    }
}
