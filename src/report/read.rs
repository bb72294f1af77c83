//! The one reader of the CSV files an audit or a training run writes, for `report` and
//! `merge` alike: a bounded read of a regular file, its rows with the lines an editor shows,
//! fields as the writer was given them ([`restore`]d). `report` takes rows by header name
//! ([`CsvFile::deserialize`]), so older schema versions and extra columns still read; `merge`
//! takes a [`Table`] of this schema version's exact columns, which it writes back.
//!
//! Every fault is a [`ReportInputError`] naming the file and line, so the two commands exit
//! alike (docs/exit-codes.md): 3 for a file missing, cut short, malformed or implausible, 2
//! for a schema version this build does not read.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::csv_cell::restore;
use super::csv_line::line_at;
use super::input_error::ReportInputError;
use super::schema::{Column, SCHEMA_VERSION};
use crate::error::{Error, Result};

/// Largest report file read back, in bytes: far above any audit's CSV, far below memory.
const MAX_CSV_BYTES: u64 = 1 << 32;

/// A CSV file read back: its header and its rows, each with its line.
pub struct CsvFile {
    path: PathBuf,
    header: csv::StringRecord,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl CsvFile {
    /// Reads `path`: a regular file of at most 4 GiB, every row ending in a line break, every
    /// row as long as the header.
    pub fn read(path: &Path) -> std::result::Result<CsvFile, ReportInputError> {
        let bytes =
            robustaudit_graph::regular_file::read(path, MAX_CSV_BYTES).map_err(|source| {
                ReportInputError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        // The writers end every row with a line break.
        if bytes.last().is_some_and(|&b| b != b'\n') {
            let line = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            return Err(malformed(
                path,
                line,
                "the file ends inside a row (cut short?)",
            ));
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice());
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| unreadable(path, &bytes, e))?;
            rows.push((line_at(&bytes, record.position()), record));
        }
        if rows.is_empty() {
            return Err(malformed(path, 1, "the file is empty"));
        }
        let header = rows.remove(0).1;
        let rows = rows
            .into_iter()
            .map(|(line, record)| (line, record.iter().map(restore).collect()))
            .collect();
        Ok(CsvFile {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    /// Checks that every row's `schema_version` is one of `readable`.
    pub fn check_version(
        &self,
        readable: RangeInclusive<u32>,
    ) -> std::result::Result<(), ReportInputError> {
        let column = self
            .header
            .iter()
            .position(|h| h == "schema_version")
            .ok_or_else(|| malformed(&self.path, 1, "no schema_version column"))?;
        for (line, record) in &self.rows {
            let found = record.get(column).unwrap_or("");
            if !found.parse().is_ok_and(|v| readable.contains(&v)) {
                return Err(ReportInputError::UnknownVersion {
                    path: self.path.clone(),
                    line: *line,
                    found: format!("`{found}`"),
                    readable: readable.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Rows by header name, for `report` (the renderer's feature).
#[cfg(feature = "report")]
impl CsvFile {
    /// Every row as a `T`, its fields by header name; each row must be
    /// [`Plausible`](super::plausible::Plausible).
    pub fn deserialize<T: serde::de::DeserializeOwned + super::plausible::Plausible>(
        &self,
    ) -> std::result::Result<Vec<T>, ReportInputError> {
        self.rows
            .iter()
            .map(|(line, record)| {
                let row: T = record
                    .deserialize(Some(&self.header))
                    .map_err(|e| malformed(&self.path, *line, &self.deserialize_reason(&e)))?;
                row.plausible()
                    .map_err(|reason| malformed(&self.path, *line, &reason))?;
                Ok(row)
            })
            .collect()
    }

    /// Why a row could not be deserialized, naming its column when known.
    fn deserialize_reason(&self, error: &csv::Error) -> String {
        let csv::ErrorKind::Deserialize { err, .. } = error.kind() else {
            return error.to_string();
        };
        let message = match err.kind() {
            csv::DeserializeErrorKind::Message(m) => m.clone(),
            other => other.to_string(),
        };
        match err.field().and_then(|i| self.header.get(i as usize)) {
            Some(column) => format!("column {column}: {message}"),
            None => message,
        }
    }
}

/// A report file of this schema version, whose header must be that of its columns.
pub struct Table {
    file: CsvFile,
    names: Vec<&'static str>,
}

/// One row of a [`Table`].
pub struct Row<'t> {
    table: &'t Table,
    line: u64,
    record: &'t csv::StringRecord,
}

impl Table {
    /// Reads `path`, which must hold the header of `columns` and rows of this schema
    /// version.
    pub fn read<R>(path: &Path, columns: &[Column<R>]) -> Result<Table> {
        let file = CsvFile::read(path)?;
        // A row of another schema version is named before its header, which then differs too.
        file.check_version(SCHEMA_VERSION..=SCHEMA_VERSION)?;
        let names: Vec<&'static str> = columns.iter().map(|c| c.name).collect();
        if file.header.iter().ne(names.iter().copied()) {
            return Err(malformed(
                path,
                1,
                &format!(
                    "the header is not that of schema version {SCHEMA_VERSION} ({})",
                    names.join(",")
                ),
            )
            .into());
        }
        Ok(Table { file, names })
    }

    /// Its rows after the header, in order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.file.rows.iter().map(move |(line, record)| Row {
            table: self,
            line: *line,
            record,
        })
    }

    /// The number of rows after the header.
    pub fn len(&self) -> usize {
        self.file.rows.len()
    }

    /// The line after the last row, where a missing row would be.
    pub fn end_line(&self) -> u64 {
        self.file.rows.last().map_or(2, |(line, _)| line + 1)
    }

    /// A fault at `line` of this file.
    pub fn error_at(&self, line: u64, what: &str) -> Error {
        malformed(&self.file.path, line, what).into()
    }
}

impl Row<'_> {
    /// The line of the file this row starts on.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The field of column `name`, as the writer was given it.
    pub fn text(&self, name: &str) -> Result<&str> {
        let index = self
            .table
            .names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| Error::Internal {
                message: format!("{} has no column {name}", self.table.file.path.display()),
            })?;
        self.record
            .get(index)
            .ok_or_else(|| self.error(name, "is missing"))
    }

    /// The field of column `name`, parsed.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T> {
        let text = self.text(name)?;
        text.parse()
            .map_err(|_| self.error(name, &format!("`{text}` cannot be read")))
    }

    /// The field of column `name` parsed, or `None` when empty.
    pub fn optional<T: FromStr>(&self, name: &str) -> Result<Option<T>> {
        if self.text(name)?.is_empty() {
            Ok(None)
        } else {
            self.parse(name).map(Some)
        }
    }

    /// Every field, in column order, as the writer was given it.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.record.iter()
    }

    /// A fault in column `name` of this row.
    pub fn error(&self, name: &str, what: &str) -> Error {
        self.row_error(&format!("column {name} {what}"))
    }

    /// A fault in this row.
    pub fn row_error(&self, what: &str) -> Error {
        self.table.error_at(self.line, what)
    }
}

fn malformed(path: &Path, line: u64, reason: &str) -> ReportInputError {
    ReportInputError::Malformed {
        path: path.to_path_buf(),
        line: Some(line),
        reason: reason.to_string(),
    }
}

/// A record the csv reader could not read: a row of another length, or not utf-8.
fn unreadable(path: &Path, bytes: &[u8], e: csv::Error) -> ReportInputError {
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len} (cut short?)"),
        csv::ErrorKind::Utf8 { .. } => "not valid utf-8".into(),
        _ => format!("not valid csv: {e}"),
    };
    let position = match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, .. } => pos.as_ref(),
        _ => e.position(),
    };
    malformed(path, line_at(bytes, position), &reason)
}
