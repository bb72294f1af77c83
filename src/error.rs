//! The error every command returns, its `hint:` line and its documented exit code.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success, also when the reader of stdout closes it early (`| head`) |
//! | 1 | unexpected internal error, or an output that could not be written (stdout included) |
//! | 2 | bad command line (unknown flag, bad value) |
//! | 3 | bad or missing dataset, or audit folder (`report`) |
//! | 4 | bad model file: malformed, truncated, unsupported op, no image input, unsafe reference, not a regular file, over a limit or against the ONNX spec, non-finite logits, no gradient |
//! | 5 | missing dependency: `scripts/setup` not run, ONNX Runtime or CUDA unavailable, `report` in a build without the renderer |
//! | 6 | bad architecture spec or configuration |
//! | 7 | a check failed: `gradcheck` found analytic gradients that disagree with finite differences |

use std::path::PathBuf;

use crate::arch::ArchError;
use crate::data::DataError;
use crate::grad::GradError;
use crate::onnx::OnnxError;
use crate::printable::printable;
use crate::report::ReportInputError;

/// Exit code for an unexpected error or an output that could not be written.
pub const EXIT_INTERNAL: u8 = 1;
/// Exit code for a bad command line.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a bad or missing dataset or audit folder.
pub const EXIT_DATA: u8 = 3;
/// Exit code for a bad model file.
pub const EXIT_MODEL: u8 = 4;
/// Exit code for a missing runtime dependency.
pub const EXIT_DEPENDENCY: u8 = 5;
/// Exit code for a bad architecture spec or configuration.
pub const EXIT_CONFIG: u8 = 6;
/// Exit code for a check that ran and failed (`gradcheck`).
pub const EXIT_CHECK: u8 = 7;

/// The exit-code table both binaries print after `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  internal error, or an output that could not be written
  2  bad command line
  3  bad or missing dataset, or audit folder (report)
  4  bad model file (malformed, truncated, unsupported op, no image input, unsafe reference,
     not a regular file, over a size limit or against the onnx spec, non-finite logits,
     no gradient rule)
  5  missing dependency (run scripts/setup; scripts/setup --cuda for the gpu)
  6  bad architecture spec or configuration
  7  a check failed (gradcheck: analytic gradients disagree with finite differences)";

/// Any failure of a robustaudit command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A model could not be read, validated or run.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// An architecture spec is invalid.
    #[error(transparent)]
    Arch(#[from] ArchError),
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
    /// The documented process exit code for this error (see the module docs).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Data(_) => EXIT_DATA,
            Error::Onnx(_) => EXIT_MODEL,
            Error::Arch(_) => EXIT_CONFIG,
            Error::Write { .. } | Error::Internal { .. } => EXIT_INTERNAL,
            Error::Grad(_) => EXIT_MODEL,
            Error::Dependency { .. } => EXIT_DEPENDENCY,
            Error::Usage { .. } => EXIT_USAGE,
            Error::Check { .. } => EXIT_CHECK,
            Error::Report(e) => e.exit_code(),
        }
    }

    /// A one-line suggestion for an obvious fix, printed after `hint: `.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Data(e) => e.hint(),
            Error::Onnx(e) => e.hint(),
            Error::Arch(e) => e.hint(),
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
