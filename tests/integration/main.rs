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

use ndarray::{s, Array4};
use robustaudit::attacks::Domain;
use robustaudit::audit::{
    plan_attacks, run, AuditModel, AuditReport, ModelInfo, PlannedAttack, Settings,
};
use robustaudit::data::{load, Split};
use robustaudit::model::{Differentiable, TractDifferentiable};
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

/// The attacks of an audit: each name with its parameter overrides.
pub type Attacks<'a> = [(&'a str, &'a [(&'a str, &'a str)])];

/// Audits `model` on the first `n` test digits with `attacks` at the L-inf radii `eps_linf`
/// and the L2 radii `eps_l2` (seed 0, the dataset's value range, examples kept); the images
/// audited come back beside the report.
pub fn audit_digits(
    model: &dyn Differentiable,
    n: usize,
    attacks: &Attacks,
    eps_linf: &[f64],
    eps_l2: &[f64],
) -> (AuditReport, Array4<f32>) {
    let data = load("digits", Split::Test).expect("digits");
    let images = data.images.slice(s![..n, .., .., ..]).to_owned();
    let labels = data.labels.expect("labelled")[..n].to_vec();
    let models = [AuditModel {
        info: ModelInfo {
            name: "digits-small".into(),
            sha256: "trained".into(),
            ..ModelInfo::default()
        },
        model,
    }];
    let settings = Settings {
        seed: 0,
        eps_linf: eps_linf.to_vec(),
        eps_l2: eps_l2.to_vec(),
        domain: Domain::DATASET,
        keep_examples: true,
        queue: None,
    };
    let report = run(
        &models,
        images.view(),
        Some(&labels),
        &planned(attacks),
        &settings,
        &(),
    )
    .expect("audit");
    (report, images)
}
