//! End-to-end tests of `robustaudit-train`: the `init` command, the agreement of ONNX
//! Runtime with tract on generated networks, and how a missing runtime library is reported.

mod init;
mod parity;
mod runtime;
mod step_graph;
mod step_runner;
mod vjp_parity;

use std::path::{Path, PathBuf};

/// `models/arch/<name>.toml` of the workspace.
pub fn arch_path(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/arch")).join(format!("{name}.toml"))
}
