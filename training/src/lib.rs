//! robustaudit-train: builds networks from specs and trains them on ONNX Runtime.
#![warn(missing_docs)]

pub mod chain;
pub mod chain_config;
pub mod checkpoint;
pub mod epoch_log;
pub mod error;
pub mod inference;
pub mod manifest;
pub mod runtime;
pub mod step;
pub mod trainer;
