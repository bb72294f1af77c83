//! Everything that touches ONNX protobuf and `tract-onnx`: reading and validating model
//! files, building graphs, summarising them and running them with tract.
//!
//! `tract-onnx` is not a stable API, so no other module of the crate names it.

mod builder;
mod error;
mod external_data;
mod model;
mod signature;
mod summary;
mod tract_plan;

pub use builder::{Attr, GraphBuilder, OPSET};
pub use error::OnnxError;
pub use model::OnnxModel;
pub use signature::{ImageInput, Layout, Signature};
pub use summary::{ModelSummary, TensorInfo};
pub use tract_plan::TractPlan;

#[cfg(test)]
mod tests;
