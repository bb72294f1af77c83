//! ONNX model files: reading and validating them (with tract's operator registry and its
//! shape analysis, held to limits and guarded against its panics), the graph and its image
//! input as the rest of robustaudit reads them, and building new graphs.
//!
//! `tract-onnx` is not a stable API: outside this module, the auditor's `tract` module and
//! this crate's test runner nothing names it.

mod builder;
mod error;
mod external_data;
mod ir;
mod model;
mod node_checks;
mod panic_guard;
mod probe_analysis;
mod signature;
mod tract_facts;
mod tract_registry;
mod view;

pub use builder::{GraphBuilder, OPSET};
pub use error::OnnxError;
pub use external_data::MAX_MODEL_BYTES;
pub use ir::{Attr, ConstTensor, Dim, Node, Values};
pub use model::{is_float, OnnxModel};
pub use node_checks::element_count;
pub use panic_guard::{compile_limit, guard, guard_run, guard_within, COMPILE_LIMIT_VARIABLE};
pub use probe_analysis::{analyse, concrete_facts, ConcreteFacts};
pub use signature::{describe_type, ImageInput, Layout, Signature};
pub use tract_facts::{image_fact, one_line, proto_with_output};
pub use tract_registry::registry;
pub use view::GraphView;

#[cfg(test)]
mod tests;
