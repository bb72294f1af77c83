//! Everything that touches ONNX protobuf and `tract-onnx`: reading and validating model
//! files, building graphs, summarising them and running them with tract.
//!
//! `tract-onnx` is not a stable API, so no other module of the crate names it.

mod builder;
mod error;
mod external_data;
mod ir;
mod model;
mod node_checks;
mod panic_guard;
mod probe_analysis;
mod profile;
mod signature;
mod summary;
mod tract_model;
mod tract_plan;
mod view;
mod vjp_plan;

pub use builder::{GraphBuilder, OPSET};
pub use error::OnnxError;
pub use external_data::MAX_MODEL_BYTES;
pub use ir::{Attr, ConstTensor, Dim, Node, Values};
pub use model::OnnxModel;
pub use profile::OpTime;
pub use signature::{ImageInput, Layout, Signature};
pub use summary::{ModelSummary, TensorInfo};
pub use tract_plan::TractPlan;
pub use view::GraphView;
pub use vjp_plan::{SeedInputs, VjpPlan};

#[cfg(test)]
mod tests;
