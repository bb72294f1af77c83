//! End-to-end tests of the `robustaudit` binary and of the library on the datasets that
//! `scripts/setup` installs.

mod apgd;
mod audit;
mod bench;
mod datasets;
mod fixtures;
mod gradcheck;
mod hostile;
mod hostile_names;
mod image_folder;
mod inspect;
mod out_folder;
mod pipes;
mod report;
mod saturated;
mod shard;
mod tract;
mod trained_network;

use std::sync::OnceLock;

use robustaudit::audit::{plan_attacks, PlannedAttack};
use robustaudit::model::TractDifferentiable;
pub use robustaudit_graph::fixtures::{network, Run};

/// Runs `robustaudit` with `args` (see `robustaudit_graph::fixtures::run` for what every
/// run is checked for).
pub fn robustaudit(args: &[&std::ffi::OsStr]) -> Run {
    robustaudit_graph::fixtures::run(env!("CARGO_BIN_EXE_robustaudit"), args)
}

/// The digits network the trainer trains (`digits-small`, 12 epochs on one thread),
/// committed as `tests/fixtures/trained/digits-small.onnx`; the trainer's tests check that
/// a fresh training gives the same weights.
pub fn trained_digits() -> &'static TractDifferentiable {
    static MODEL: OnceLock<TractDifferentiable> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/trained/digits-small.onnx");
        TractDifferentiable::open(&path).expect("committed trained network")
    })
}

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
