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
pub use signature::{describe_type, ImageInput, Layout, Signature};
pub use view::GraphView;

/// What a tract plan needs from the loader, in one place: the operator registry models are
/// read with, tract's shape analysis held to limits, the guard that turns tract's panics
/// and overlong compilations into errors, and the input facts and graph surgery a plan
/// starts from. The auditor's `tract` module is the only user outside this crate.
pub mod tract {
    pub use super::panic_guard::{
        compile_limit, guard, guard_run, guard_within, COMPILE_LIMIT_VARIABLE,
    };
    pub use super::probe_analysis::{analyse, concrete_facts, ConcreteFacts};
    pub use super::tract_facts::{image_fact, one_line, proto_with_output};
    pub use super::tract_registry::registry;
}

#[cfg(test)]
mod tests;
