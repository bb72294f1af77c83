//! Errors of reading, validating and running ONNX models.

use std::path::PathBuf;

/// Why a model could not be loaded, validated or run. Messages are lowercase and name the file.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file could not be opened or read.
    #[error("cannot read model {path}: {source}")]
    Read {
        /// The model file.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf message.
    #[error("malformed onnx model {path}: {reason}")]
    Malformed {
        /// The model file.
        path: PathBuf,
        /// What the decoder or validator found.
        reason: String,
    },
    /// A node breaks the ONNX spec or the limits put on untrusted models (attribute values,
    /// index tensors, tensor sizes; docs/models.md, "Loading models safely").
    #[error("invalid onnx model {path}: {reason}")]
    Invalid {
        /// The model file.
        path: PathBuf,
        /// The node and what is wrong with it.
        reason: String,
    },
    /// The graph uses operators the runtime does not implement.
    #[error("unsupported op{} in {path}: {}", if ops.len() > 1 { "s" } else { "" }, ops.join(", "))]
    UnsupportedOps {
        /// The model file.
        path: PathBuf,
        /// Every unsupported operator, as `domain:OpType` or `OpType`.
        ops: Vec<String>,
    },
    /// The graph has no input shaped like a batch of images.
    #[error("no image-like input in {path}: {found}")]
    NoImageInput {
        /// The model file.
        path: PathBuf,
        /// The inputs that were found, with their shapes.
        found: String,
    },
    /// The graph has no output that can serve as class logits.
    #[error("no logits output in {path}: {reason}")]
    NoLogits {
        /// The model file.
        path: PathBuf,
        /// Why no output qualifies.
        reason: String,
    },
    /// A tensor refers to external data that may not or cannot be read.
    #[error("bad external data for tensor '{tensor}' in {path}: {reason}")]
    ExternalData {
        /// The model file.
        path: PathBuf,
        /// The tensor whose data lives outside the model file.
        tensor: String,
        /// What is wrong with the reference.
        reason: String,
    },
    /// tract could not analyse or optimise the graph.
    #[error("tract cannot load {path}: {reason}")]
    Tract {
        /// The model file.
        path: PathBuf,
        /// tract's error chain, on one line.
        reason: String,
    },
    /// A batch given to a model has the wrong shape.
    #[error("wrong input shape for {path}: expected {expected}, got {got:?}")]
    InputShape {
        /// The model file.
        path: PathBuf,
        /// The expected shape, as text.
        expected: String,
        /// The shape received.
        got: Vec<usize>,
    },
    /// The model computed logits that are NaN or infinite.
    #[error("model {path} gives logits that are not finite ({bad} of {total} values are nan or infinite)")]
    NonFiniteLogits {
        /// The model file.
        path: PathBuf,
        /// How many logits are NaN or infinite.
        bad: usize,
        /// How many logits were computed.
        total: usize,
    },
    /// Running the model failed.
    #[error("running {path} failed: {reason}")]
    Run {
        /// The model file.
        path: PathBuf,
        /// tract's error chain, on one line.
        reason: String,
    },
}

impl OnnxError {
    /// [`OnnxError::NonFiniteLogits`] if any of `logits` is NaN or infinite.
    pub fn check_finite<'a>(
        path: &std::path::Path,
        logits: impl Iterator<Item = &'a f32>,
    ) -> Result<(), OnnxError> {
        let (bad, total) = logits.fold((0, 0), |(bad, total), v| {
            (bad + usize::from(!v.is_finite()), total + 1)
        });
        if bad == 0 {
            return Ok(());
        }
        Err(OnnxError::NonFiniteLogits {
            path: path.to_path_buf(),
            bad,
            total,
        })
    }

    /// A one-line suggestion for an obvious fix.
    pub fn hint(&self) -> Option<String> {
        match self {
            OnnxError::Malformed { .. } => Some(
                "the file may be truncated or not an onnx model; re-export or re-copy it".into(),
            ),
            OnnxError::Invalid { .. } => Some(
                "the model breaks the onnx spec or a size limit (docs/models.md, \"loading models safely\"); re-export it".into(),
            ),
            OnnxError::NonFiniteLogits { .. } => Some(
                "the model's weights or ops produce nan or infinity; check how it was exported".into(),
            ),
            OnnxError::UnsupportedOps { .. } => Some(
                "re-export the model with standard onnx ops (opset 11 to 19) or simplify it".into(),
            ),
            OnnxError::NoImageInput { .. } => Some(
                "robustaudit audits image classifiers with one float input shaped [batch, channels, height, width]".into(),
            ),
            OnnxError::ExternalData { .. } => Some(
                "external data files must sit in the model's folder, named by a relative path".into(),
            ),
            _ => None,
        }
    }
}
