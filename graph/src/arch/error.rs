//! Errors of reading and validating architecture specs.

use std::path::PathBuf;

/// Why a spec was rejected. Messages name the file and, where it applies, the layer.
#[derive(Debug, thiserror::Error)]
pub enum ArchError {
    /// The spec file could not be read.
    #[error("cannot read architecture spec {path}: {source}")]
    Read {
        /// The spec file.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// The TOML is malformed or names an unknown field or layer kind.
    #[error("invalid architecture spec {path}: {message}")]
    Parse {
        /// The spec file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field value or the layer sequence is inconsistent.
    #[error("invalid architecture spec {path}: {location}: {message}")]
    Invalid {
        /// The spec file.
        path: PathBuf,
        /// The field or layer at fault, e.g. `layers[3] (conv)`.
        location: String,
        /// What is wrong.
        message: String,
    },
}

impl ArchError {
    /// A one-line suggestion for an obvious fix.
    pub fn hint(&self) -> Option<String> {
        match self {
            ArchError::Parse { .. } => Some(
                "layer kinds are conv, relu, maxpool, flatten, dense, dropout, batchnorm (see models/arch/README.md)".into(),
            ),
            _ => None,
        }
    }
}
