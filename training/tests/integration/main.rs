//! End-to-end tests of `robustaudit-train`: the `init` command, the agreement of ONNX
//! Runtime with tract on generated networks, and how a missing runtime library is reported.

mod apgd;
mod init;
mod masking;
mod networks;
mod parity;
mod runtime;
mod step_graph;
mod step_runner;
mod trainer;
mod vjp_parity;

use robustaudit::audit::{plan_attacks, PlannedAttack};

pub use robustaudit_graph::fixtures::{spec, spec_path};

/// The attacks `attacks` (name and parameter overrides), planned as `--attacks` and
/// `--attack-param` plan them.
pub fn planned(attacks: &[(&str, &[(&str, &str)])]) -> Vec<PlannedAttack> {
    let names: Vec<String> = attacks.iter().map(|(name, _)| name.to_string()).collect();
    let overrides: Vec<String> = attacks
        .iter()
        .flat_map(|(name, set)| set.iter().map(move |(k, v)| format!("{name}.{k}={v}")))
        .collect();
    plan_attacks(&names, &overrides).expect("valid attacks")
}

/// Exit code, stdout and stderr of `robustaudit-train` run with `args` (see
/// `robustaudit_graph::fixtures::run` for what every run is checked for).
pub fn train(args: &[&str]) -> (i32, String, String) {
    let run = robustaudit_graph::fixtures::run(env!("CARGO_BIN_EXE_robustaudit-train"), args);
    (run.code, run.stdout, run.stderr)
}
