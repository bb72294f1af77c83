//! Reading report files back: a CSV file of a known schema, its rows with their line
//! numbers, and fields by column name. Every failure names the file and line and is a
//! usage error (exit code 2): such a file was cut short, edited, or written by another
//! schema version.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::csv_cell::restore;
use super::csv_line::line_at;
use super::schema::{Column, SCHEMA_VERSION};
use crate::error::{Error, Result};

/// Largest report file read back, in bytes: far above any audit's CSV, far below memory.
const MAX_CSV_BYTES: u64 = 1 << 32;

/// A report file read back.
pub struct Table {
    path: PathBuf,
    names: Vec<&'static str>,
    rows: Vec<(u64, csv::StringRecord)>,
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
        let names: Vec<&'static str> = columns.iter().map(|c| c.name).collect();
        let bytes = robustaudit_graph::regular_file::read(path, MAX_CSV_BYTES).map_err(|e| {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                format!("{} is missing", path.display())
            } else {
                format!("cannot read {}: {e}", path.display())
            };
            Error::Usage {
                message,
                hint: Some("pass the --out folders of finished audits".into()),
            }
        })?;
        // The writer ends every row with a line break.
        if bytes.last().is_some_and(|&b| b != b'\n') {
            let line = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            return Err(located(
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
            let record = record.map_err(|e| malformed(path, &bytes, e))?;
            let line = line_at(&bytes, record.position());
            rows.push((line, record));
        }
        if rows.is_empty() {
            return Err(located(path, 1, "the file is empty"));
        }
        let header = rows.remove(0).1;
        let table = Table {
            path: path.to_path_buf(),
            names,
            rows,
        };
        // A row of another schema version is named before its header, which then differs too.
        if let Some(row) = table.rows().next() {
            let version = row.text("schema_version")?;
            if version != SCHEMA_VERSION.to_string() {
                return Err(Error::Usage {
                    message: format!(
                        "{} line {}: schema version {version}, but this robustaudit reads \
                         version {SCHEMA_VERSION}",
                        path.display(),
                        row.line
                    ),
                    hint: Some("merge with the robustaudit version that wrote the shards".into()),
                });
            }
        }
        if header.iter().ne(table.names.iter().copied()) {
            return Err(located(
                path,
                1,
                &format!(
                    "the header is not that of schema version {SCHEMA_VERSION} ({})",
                    table.names.join(",")
                ),
            ));
        }
        for row in table.rows() {
            row.parse::<u32>("schema_version")
                .ok()
                .filter(|&v| v == SCHEMA_VERSION)
                .ok_or_else(|| row.error("schema_version", "is not this schema's version"))?;
        }
        Ok(table)
    }

    /// Its rows after the header, in order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |(line, record)| Row {
            table: self,
            line: *line,
            record,
        })
    }

    /// The number of rows after the header.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The line after the last row, where a missing row would be.
    pub fn end_line(&self) -> u64 {
        self.rows.last().map_or(2, |(line, _)| line + 1)
    }

    /// A usage error at `line` of this file.
    pub fn error_at(&self, line: u64, what: &str) -> Error {
        located(&self.path, line, what)
    }
}

impl Row<'_> {
    /// The line of the file this row starts on.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The field of column `name`, as the writer was given it ([`restore`]d).
    pub fn text(&self, name: &str) -> Result<&str> {
        let index = self
            .table
            .names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| Error::Internal {
                message: format!("{} has no column {name}", self.table.path.display()),
            })?;
        self.record
            .get(index)
            .map(restore)
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
        self.record.iter().map(restore)
    }

    /// A usage error about column `name` of this row.
    pub fn error(&self, name: &str, what: &str) -> Error {
        located(
            &self.table.path,
            self.line,
            &format!("column {name} {what}"),
        )
    }

    /// A usage error about this row.
    pub fn row_error(&self, what: &str) -> Error {
        located(&self.table.path, self.line, what)
    }
}

fn located(path: &Path, line: u64, what: &str) -> Error {
    Error::Usage {
        message: format!("{} line {line}: {what}", path.display()),
        hint: Some("the file was cut short or edited: run that audit (shard) again".into()),
    }
}

fn malformed(path: &Path, bytes: &[u8], e: csv::Error) -> Error {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => located(
            path,
            line_at(bytes, pos.as_ref()),
            &format!("{len} fields where the header has {expected_len} (cut short?)"),
        ),
        _ => located(
            path,
            line_at(bytes, e.position()),
            &format!("not valid csv: {e}"),
        ),
    }
}
