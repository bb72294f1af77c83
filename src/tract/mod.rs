//! Running ONNX graphs on tract: the forward plan (logits of a batch of images), the plans of
//! a vector-Jacobian-product graph, the probes that find a model's logits and batch, op
//! profiles, the model summary `inspect` prints, and the guard that turns tract's panics and
//! runaway compiles into errors.
//!
//! `tract-onnx` is not a stable API: outside this module, the graph crate's `onnx` module and
//! its test runner nothing names it.

mod profile;
mod summary;
mod tract_model;
mod tract_plan;
mod vjp_plan;

pub use profile::OpTime;
pub use summary::{ModelSummary, TensorInfo};
pub use tract_plan::TractPlan;
pub use vjp_plan::{SeedInputs, VjpPlan};

#[cfg(test)]
mod tests;
