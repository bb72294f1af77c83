//! robustaudit-graph: the ONNX graphs of robustaudit, with no runtime.
//!
//! Reading and validating model files ([`onnx`]), building graphs, reverse-mode autodiff
//! into ordinary ONNX graphs ([`grad`]: the vector-Jacobian-product graph the auditor runs
//! on tract, the training-step graph the trainer runs on ONNX Runtime) and the architecture
//! specs the trainer builds networks from ([`arch`]). Nothing here builds or runs a plan:
//! the auditor (`robustaudit`) runs these graphs on tract, the trainer (`robustaudit-train`)
//! on ONNX Runtime.
#![warn(missing_docs)]

pub mod arch;
pub mod atomic_file;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod grad;
pub mod hex;
pub mod onnx;
pub mod printable;
pub mod regular_file;

#[cfg(test)]
mod test_runner;
