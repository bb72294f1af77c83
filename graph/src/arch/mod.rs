//! Architecture specs (`models/arch/*.toml`) and the forward ONNX graphs built from them.
//!
//! A spec lists the input image shape, the class count and the layers in order:
//!
//! ```toml
//! name = "digits-small"
//! input = [1, 8, 8]          # channels, height, width
//! classes = 10
//!
//! [[layers]]
//! kind = "conv"              # Conv: filters, kernel, stride = 1, padding = 0
//! filters = 16
//! kernel = 3
//!
//! [[layers]]
//! kind = "relu"
//!
//! [[layers]]
//! kind = "maxpool"           # MaxPool: kernel, stride = kernel
//! kernel = 2
//!
//! [[layers]]
//! kind = "flatten"
//!
//! [[layers]]
//! kind = "dense"             # Gemm: units; the last layer is dense with units = classes
//! units = 10
//! ```
//!
//! Other kinds: `dropout` (`rate`, identity at inference) and `batchnorm` (per channel or
//! per feature, `epsilon = 1e-5`). The graph's input is `input` `[batch, C, H, W]` in
//! [-0.5, 0.5]; its output is `logits` `[batch, classes]`.

mod error;
mod graph;
mod spec;

pub use error::ArchError;
pub use graph::{forward_graph, INPUT, LOGITS};
pub use spec::{ArchSpec, Layer, Shape};

#[cfg(test)]
mod tests;
