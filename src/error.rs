//! The error every command returns, its `hint:` line and its documented exit code
//! ([`Exit`]).

use std::path::PathBuf;

use crate::data::DataError;
use crate::exit_code::Exit;
use crate::report::ReportInputError;
use robustaudit_graph::grad::GradError;
use robustaudit_graph::onnx::OnnxError;
use robustaudit_graph::printable::printable;

/// Any failure of a robustaudit command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A model could not be read, validated or run.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// A runtime dependency is missing or unusable.
    #[error("{message}")]
    Dependency {
        /// What is missing, lowercase.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// A bug: something the code guarantees did not hold.
    #[error("internal error: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
    /// A gradient graph could not be built.
    #[error(transparent)]
    Grad(#[from] GradError),
    /// A command-line value is invalid in a way the parser cannot see.
    #[error("{message}")]
    Usage {
        /// What is wrong, lowercase.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// An audit folder could not be read back for a report.
    #[error(transparent)]
    Report(#[from] ReportInputError),
    /// A check ran to the end and found a failure.
    #[error("{message}")]
    Check {
        /// What failed and where, lowercase.
        message: String,
        /// Where to look next.
        hint: Option<String>,
    },
}

impl Error {
    /// The documented process exit code for this error.
    pub fn exit_code(&self) -> Exit {
        match self {
            Error::Data(_) => Exit::Data,
            Error::Onnx(_) => Exit::Model,
            Error::Write { .. } | Error::Internal { .. } => Exit::Internal,
            Error::Grad(_) => Exit::Model,
            Error::Dependency { .. } => Exit::Dependency,
            Error::Usage { .. } => Exit::Usage,
            Error::Check { .. } => Exit::Check,
            Error::Report(e) => e.exit_code(),
        }
    }

    /// A one-line suggestion for an obvious fix, printed after `hint: `.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Data(e) => e.hint(),
            Error::Onnx(e) => e.hint(),
            Error::Write { .. } => None,
            Error::Internal { .. } => {
                Some("please report this with the command that caused it".into())
            }
            Error::Grad(e) => e.hint(),
            Error::Dependency { hint, .. }
            | Error::Usage { hint, .. }
            | Error::Check { hint, .. } => hint.clone(),
            Error::Report(e) => e.hint(),
        }
    }

    /// Prints `error: <message>` and, when there is one, `hint: <hint>` on stderr, each on
    /// one line whatever text from a model or a file they quote (control characters are
    /// escaped).
    ///
    /// A stderr that cannot be written (`2> /dev/full`) loses the message but never panics,
    /// as `eprintln!` would: the exit code still tells.
    pub fn report(&self) {
        use std::io::Write;
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "error: {}", printable(&self.to_string()));
        if let Some(hint) = self.hint() {
            let _ = writeln!(stderr, "hint: {}", printable(&hint));
        }
    }
}

/// Result of a robustaudit operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
