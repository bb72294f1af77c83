//! End-to-end tests of `robustaudit-train`: the `init` command, the agreement of ONNX
//! Runtime with tract on generated networks, and how a missing runtime library is reported.

mod apgd;
mod audit;
mod init;
mod masking;
mod parity;
mod runtime;
mod step_graph;
mod step_runner;
mod trainer;
mod vjp_parity;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `models/arch/<name>.toml` of the workspace.
pub fn arch_path(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/arch")).join(format!("{name}.toml"))
}

/// Exit code, stdout and stderr of `robustaudit-train` run with `args`.
pub fn train(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_robustaudit-train"))
        .args(args)
        .output()
        .expect("spawn robustaudit-train");
    let stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr,
    )
}
