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

use robustaudit::attacks::by_name;
use robustaudit::audit::PlannedAttack;

pub use robustaudit_graph::fixtures::{spec, spec_path};

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

/// Exit code, stdout and stderr of `robustaudit-train` run with `args` (see
/// `robustaudit_graph::fixtures::run` for what every run is checked for).
pub fn train(args: &[&str]) -> (i32, String, String) {
    let run = robustaudit_graph::fixtures::run(env!("CARGO_BIN_EXE_robustaudit-train"), args);
    (run.code, run.stdout, run.stderr)
}
