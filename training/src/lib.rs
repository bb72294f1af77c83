//! robustaudit-train: builds networks from specs and trains them on ONNX Runtime.
#![warn(missing_docs)]

pub mod error;
pub mod runtime;
pub mod step;
