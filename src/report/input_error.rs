//! What can be wrong with the files `robustaudit report` reads back: a missing folder or
//! `summary.csv`, a malformed CSV row, a schema version this build does not know, a missing
//! font.

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
    /// A row carries a schema version this build cannot read.
    #[error(
        "{}, line {line}: schema version {found} is not one this robustaudit reads (1 to {known})",
        .path.display()
    )]
    UnknownVersion {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: u64,
        /// The version found.
        found: String,
        /// The newest version this build knows.
        known: u32,
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
    /// The documented exit code: 5 for the font, 2 for an unknown schema version, 3 (bad or
    /// missing data) for the rest.
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
            ReportInputError::UnknownVersion { .. } => Some(
                "render it with the robustaudit that wrote it, or audit the models again".into(),
            ),
            ReportInputError::Font { .. } => Some(
                "run scripts/setup (it installs DejaVu Sans into .deps/fonts/), or pass --font \
                 with another TrueType font"
                    .into(),
            ),
            ReportInputError::Empty { .. } => Some("audit at least one model into it".into()),
            ReportInputError::MixedRun { .. } => {
                Some("run the audit again into an empty folder".into())
            }
            ReportInputError::Io { .. } | ReportInputError::Malformed { .. } => None,
        }
    }
}
