//! The trainer's error: the library's errors plus ONNX Runtime failures, with exit codes.

use robustaudit::error::Error;
use robustaudit::exit_code::Exit;
use robustaudit_graph::arch::ArchError;

/// Any failure of a `robustaudit-train` command.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A failure shared with the auditor (data, model, spec, output, dependency).
    #[error(transparent)]
    Core(#[from] Error),
    /// An architecture spec is invalid.
    #[error(transparent)]
    Arch(#[from] ArchError),
    /// The ONNX Runtime library could not be loaded.
    #[error("cannot load onnx runtime from {path}: {reason}")]
    RuntimeLoad {
        /// The library file.
        path: String,
        /// The loader's message.
        reason: String,
    },
    /// A chain configuration is malformed or inconsistent.
    #[error("invalid chain configuration {}: {}{message}", path.display(), if location.is_empty() { String::new() } else { format!("{location}: ") })]
    Config {
        /// The configuration file.
        path: std::path::PathBuf,
        /// Where in it, e.g. `line 4, temperatures[1]`.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// ONNX Runtime rejected a session or a run.
    #[error("onnx runtime failed {during}: {message}")]
    Runtime {
        /// What was being done, e.g. `creating a session for x.onnx`.
        during: String,
        /// ONNX Runtime's message.
        message: String,
    },
}

impl TrainError {
    /// The documented process exit code (`robustaudit::exit_code::Exit`).
    pub fn exit_code(&self) -> Exit {
        match self {
            TrainError::Core(e) => e.exit_code(),
            TrainError::Arch(_) | TrainError::Config { .. } => Exit::Config,
            TrainError::RuntimeLoad { .. } => Exit::Dependency,
            TrainError::Runtime { .. } => Exit::Internal,
        }
    }

    /// Prints `error: <message>` and, when there is one, `hint: <hint>` on stderr.
    pub fn report(&self) {
        match self {
            TrainError::Core(e) => e.report(),
            other => {
                eprintln!("error: {other}");
                match other {
                    TrainError::RuntimeLoad { .. } => eprintln!(
                        "hint: run scripts/setup, or point ORT_DYLIB_PATH at libonnxruntime.so.1.31.1"
                    ),
                    TrainError::Config { .. } => {
                        eprintln!("hint: the format is described in models/chains/README.md")
                    }
                    TrainError::Arch(e) => {
                        if let Some(hint) = e.hint() {
                            eprintln!("hint: {hint}");
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Result of a trainer operation.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// Attaches what was being done to an ONNX Runtime error.
pub trait OrtContext<T> {
    /// Wraps the error with `during`.
    fn during(self, during: impl FnOnce() -> String) -> Result<T>;
}

impl<T, R> OrtContext<T> for std::result::Result<T, ort::Error<R>> {
    fn during(self, during: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| TrainError::Runtime {
            during: during(),
            message: e.message().to_string(),
        })
    }
}
