//! End-to-end tests of `robustaudit-train`: the `init` command, the agreement of ONNX
//! Runtime with tract on generated networks, and how a missing runtime library is reported.

mod init;
mod masking;
mod networks;
mod parity;
mod runtime;
mod step_graph;
mod step_runner;
mod trainer;
mod vjp_parity;

pub use robustaudit_graph::fixtures::{spec, spec_path};

/// Exit code, stdout and stderr of `robustaudit-train` run with `args` (see
/// `robustaudit_graph::fixtures::run` for what every run is checked for).
pub fn train(args: &[&str]) -> (i32, String, String) {
    let run = robustaudit_graph::fixtures::run(env!("CARGO_BIN_EXE_robustaudit-train"), args);
    (run.code, run.stdout, run.stderr)
}
