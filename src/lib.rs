//! robustaudit: audit the adversarial robustness of ONNX image classifiers.
//!
//! The auditor's library: models run on tract ([`tract`], [`model`]), datasets, attacks,
//! audits, metrics and reports. The graphs themselves (model files, autodiff, architecture
//! specs) are `robustaudit-graph`'s. The `robustaudit` binary is built on this library, and
//! the `robustaudit-train` trainer uses it to evaluate and report on what it trains. It
//! never depends on ONNX Runtime.
#![warn(missing_docs)]

pub mod attacks;
pub mod audit;
pub mod data;
pub mod deps;
pub mod error;
pub mod exit_code;
pub mod generated_docs;
pub mod gradcheck;
pub mod metrics;
pub mod model;
pub mod report;
pub mod stdout;
pub mod tract;
