//! Why a graph could not be differentiated.

use std::path::PathBuf;

use crate::onnx::OnnxError;

/// A failure to build a gradient graph. The auditor falls back to finite differences.
#[derive(Debug, thiserror::Error)]
pub enum GradError {
    /// The model could not be read or analysed.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// Some operators have no backward rule.
    #[error("no gradient rule for op{} {} in {path}", if ops.len() > 1 { "s" } else { "" }, ops.join(", "))]
    Unsupported {
        /// The model file.
        path: PathBuf,
        /// Every operator without a rule.
        ops: Vec<String>,
    },
    /// A node uses a form of its operator the rules do not cover.
    #[error("cannot differentiate node {index} ({op}) of {path}: {reason}")]
    Node {
        /// The model file.
        path: PathBuf,
        /// The node's position in the logits graph.
        index: usize,
        /// Its operator.
        op: String,
        /// What is not covered.
        reason: String,
    },
}

impl GradError {
    /// A one-line suggestion for an obvious fix.
    pub fn hint(&self) -> Option<String> {
        match self {
            GradError::Onnx(e) => e.hint(),
            GradError::Unsupported { .. } | GradError::Node { .. } => {
                Some("attacks on this model fall back to finite-difference gradients".into())
            }
        }
    }
}
