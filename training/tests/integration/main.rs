//! End-to-end tests of `robustaudit-train`: the `init` command, the agreement of ONNX
//! Runtime with tract on generated networks, and how a missing runtime library is reported.

mod apgd;
mod audit;
mod init;
mod masking;
mod networks;
mod parity;
mod runtime;
mod step_graph;
mod step_runner;
mod trainer;
mod vjp_parity;

use std::path::{Path, PathBuf};
use std::process::Command;

use robustaudit::attacks::by_name;
use robustaudit::audit::PlannedAttack;

/// `models/arch/<name>.toml` of the workspace.
pub fn arch_path(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/arch")).join(format!("{name}.toml"))
}

/// The attacks `attacks` (name and parameter overrides) built from the registry.
pub fn planned(attacks: &[(&str, &[(&str, &str)])]) -> Vec<PlannedAttack> {
    attacks
        .iter()
        .map(|(name, overrides)| {
            let overrides: Vec<(String, String)> = overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let (attack, params) = by_name(name)
                .expect("registered")
                .build(&overrides)
                .expect("valid params");
            PlannedAttack { attack, params }
        })
        .collect()
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
