//! robustaudit: audit the adversarial robustness of ONNX image classifiers.
//!
//! The library is shared by the `robustaudit` auditor binary and the `robustaudit-train`
//! trainer. It never depends on ONNX Runtime.
#![warn(missing_docs)]

pub mod arch;
pub mod atomic_file;
pub mod attacks;
pub mod audit;
pub mod data;
pub mod deps;
pub mod error;
pub mod exit_code;
pub mod generated_docs;
pub mod grad;
pub mod gradcheck;
pub mod hex;
pub mod metrics;
pub mod model;
pub mod onnx;
pub mod printable;
pub mod regular_file;
pub mod report;
pub mod stdout;
