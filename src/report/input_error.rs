//! What can be wrong with the files `robustaudit report` and `merge` read back: a missing
//! folder or file, a malformed CSV row, a schema version the command does not read, files of
//! more than one run, a missing font.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use crate::exit_code::Exit;

/// Everything that stops a report from being rendered from an audit folder.
///
/// Messages are lowercase and name the file (and line) involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportInputError {
    /// The audit folder does not exist.
    #[error("no audit folder {}", .dir.display())]
    NoFolder {
        /// The folder given.
        dir: PathBuf,
    },
    /// The folder holds no `summary.csv`.
    #[error("no summary.csv in {}", .dir.display())]
    NoSummary {
        /// The folder given.
        dir: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A CSV file is malformed: a bad header, a missing column, a value of the wrong type.
    #[error("{}{}: {reason}", .path.display(), .line.map_or_else(String::new, |l| format!(", line {l}")))]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line of the fault (1-based, the header being line 1), when known.
        line: Option<u64>,
        /// What is wrong, lowercase.
        reason: String,
    },
    /// A row carries a schema version this build cannot read (`report` reads every version
    /// up to its own, `merge` its own only).
    #[error(
        "{}, line {line}: schema version {found}, but this robustaudit reads {}",
        .path.display(),
        versions(.readable)
    )]
    UnknownVersion {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: u64,
        /// The version found.
        found: String,
        /// The versions the command reads.
        readable: RangeInclusive<u32>,
    },
    /// `summary.csv` has a header but no rows.
    #[error("{} holds no audited model", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The folder's files are not those of one finished audit run: they do not match the
    /// digests in `shard.csv`, or the audit's files are there without its `shard.csv`.
    #[error("{} does not hold one finished audit: {reason}", .dir.display())]
    MixedRun {
        /// The audit folder.
        dir: PathBuf,
        /// Which files, and why.
        reason: String,
    },
    /// The font the PNG plots are drawn with could not be loaded.
    #[error("cannot load the font {}: {reason}", .path.display())]
    Font {
        /// The font file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl ReportInputError {
    /// The documented exit code, the same for `report` and `merge`: 5 for the font, 2 for a
    /// schema version the command does not read, 3 (a bad or missing audit folder) for the
    /// rest.
    pub fn exit_code(&self) -> Exit {
        match self {
            ReportInputError::UnknownVersion { .. } => Exit::Usage,
            ReportInputError::Font { .. } => Exit::Dependency,
            _ => Exit::Data,
        }
    }

    /// A one-line suggestion for an obvious fix.
    pub fn hint(&self) -> Option<String> {
        match self {
            ReportInputError::NoFolder { .. } | ReportInputError::NoSummary { .. } => {
                Some("give the folder that `robustaudit audit --out DIR` wrote".into())
            }
            ReportInputError::UnknownVersion { .. } => {
                Some("use the robustaudit that wrote it, or audit the models again".into())
            }
            ReportInputError::Font { .. } => Some(
                "run scripts/setup (it installs DejaVu Sans into .deps/fonts/), or pass --font \
                 with another TrueType font"
                    .into(),
            ),
            ReportInputError::Empty { .. } => Some("audit at least one model into it".into()),
            ReportInputError::MixedRun { .. } => {
                Some("run the audit again into an empty folder".into())
            }
            ReportInputError::Malformed { .. } => {
                Some("the file was cut short or edited: run the command that wrote it again".into())
            }
            ReportInputError::Io { .. } => None,
        }
    }
}

/// The schema versions of `readable` as a sentence ends: `version 5`, `versions 1 to 5`.
fn versions(readable: &RangeInclusive<u32>) -> String {
    if readable.start() == readable.end() {
        format!("version {}", readable.start())
    } else {
        format!("versions {} to {}", readable.start(), readable.end())
    }
}
