//! The gradient-masking diagnosis on networks of the real trainer: defensive distillation at
//! a high temperature must be flagged, and the undistilled network must not be with any mix
//! of attacks. (A softmax saturated on purpose is the auditor's test, `saturated.rs`.)

use std::sync::OnceLock;

use ndarray::s;
use robustaudit::attacks::{by_name, Domain};
use robustaudit::audit::{
    self, AuditModel, AuditReport, Check, ModelInfo, Outcome, PlannedAttack, Settings, Verdict,
};
use robustaudit::data::{load, Split};
use robustaudit::model::{Differentiable, TractDifferentiable};

use super::{spec_path, train};

/// The undistilled network and the defensively distilled student at T = 20 (digits-small,
/// 20 epochs each), trained once per test binary.
fn networks() -> &'static (TractDifferentiable, TractDifferentiable) {
    static NETWORKS: OnceLock<(
        tempfile::TempDir,
        (TractDifferentiable, TractDifferentiable),
    )> = OnceLock::new();
    &NETWORKS
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let arch = spec_path("digits-small");
            let arch = arch.to_str().expect("utf-8");
            let config = dir.path().join("chain.toml");
            std::fs::write(
                &config,
                format!(
                    "name = \"masking\"\ndataset = \"digits\"\ntemperatures = [20]\nseed = 0\n\
                     baseline = \"student\"\n[training]\nepochs = 20\nbatch = 32\n\
                     learning_rate = 0.05\n[networks]\nteacher = \"{arch}\"\n\
                     student = \"{arch}\"\n[[chains]]\nname = \"distillation\"\n\
                     hops = [\"teacher\", \"student\"]\n"
                ),
            )
            .expect("write config");
            let out = dir.path().join("run");
            let (code, _, stderr) = train(&[
                "chain",
                "--config",
                config.to_str().expect("utf-8"),
                "--out",
                out.to_str().expect("utf-8"),
                "--threads",
                "1",
            ]);
            assert_eq!(code, 0, "{stderr}");
            let open = |name: &str| TractDifferentiable::open(&out.join(name)).expect(name);
            let pair = (
                open("undistilled-student-T1.onnx"),
                open("teacher-student-T20.onnx"),
            );
            (dir, pair)
        })
        .1
}

/// The defensively distilled student at T = 100 (digits-small, Papernot et al.'s recipe:
/// teacher and student start from one network pretrained at T = 1, since at T = 100 the
/// gradients are 100 times smaller), trained once per test binary.
fn distilled_at_100() -> &'static TractDifferentiable {
    static NETWORK: OnceLock<(tempfile::TempDir, TractDifferentiable)> = OnceLock::new();
    &NETWORK
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let arch = spec_path("digits-small");
            let arch = arch.to_str().expect("utf-8");
            let config = dir.path().join("chain.toml");
            std::fs::write(
                &config,
                format!(
                    "name = \"masking-100\"\ndataset = \"digits\"\ntemperatures = [100]\nseed = 0\n\
                     pretrain_epochs = 20\n[training]\nepochs = 20\nbatch = 32\n\
                     learning_rate = 0.05\nmomentum = 0.9\n[networks]\nteacher = \"{arch}\"\n\
                     student = \"{arch}\"\n[[chains]]\nname = \"distillation\"\n\
                     hops = [\"teacher\", \"student\"]\n"
                ),
            )
            .expect("write config");
            let out = dir.path().join("run");
            let (code, _, stderr) = train(&[
                "chain",
                "--config",
                config.to_str().expect("utf-8"),
                "--out",
                out.to_str().expect("utf-8"),
                "--threads",
                "1",
            ]);
            assert_eq!(code, 0, "{stderr}");
            let network = TractDifferentiable::open(&out.join("teacher-student-T100.onnx"))
                .expect("T = 100 student");
            (dir, network)
        })
        .1
}

/// Gradient attacks on probabilities (fgsm, pgd with cross-entropy), on logits (deepfool)
/// and without gradients (square), at L-inf budgets.
const LINF_MIX: &[&str] = &["fgsm", "pgd", "deepfool", "square"];

/// Audits `model` on the first 40 test digits with the attacks `LINF_MIX`.
fn audit(model: &dyn Differentiable) -> AuditReport {
    audit_with(model, LINF_MIX, &[0.1, 0.2, 0.3], &[])
}

/// Audits `model` on the first 40 test digits with `attacks` (C&W L2 as the pipeline runs
/// it: untargeted, 100 steps at lr 0.05, 5 binary steps from c = 0.1) at the budgets
/// `eps_linf` and `eps_l2`.
fn audit_with(
    model: &dyn Differentiable,
    attacks: &[&str],
    eps_linf: &[f64],
    eps_l2: &[f64],
) -> AuditReport {
    let data = load("digits", Split::Test).expect("digits");
    let n = 40;
    let images = data.images.slice(s![..n, .., .., ..]).to_owned();
    let labels = data.labels.expect("labelled")[..n].to_vec();
    let planned: Vec<PlannedAttack> = attacks
        .iter()
        .map(|&name| {
            let overrides: Vec<(String, String)> = if name == "cw-l2" {
                [
                    ("steps", "100"),
                    ("binary_steps", "5"),
                    ("initial_const", "0.1"),
                    ("learning_rate", "0.05"),
                    ("targets", "none"),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
            } else {
                Vec::new()
            };
            let (attack, params) = by_name(name)
                .expect("registered")
                .build(&overrides)
                .expect("defaults");
            PlannedAttack { attack, params }
        })
        .collect();
    let models = [AuditModel {
        info: ModelInfo {
            name: "network".into(),
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
        keep_examples: false,
        queue: None,
    };
    audit::run(
        &models,
        images.view(),
        Some(&labels),
        &planned,
        &settings,
        &(),
    )
    .expect("audit")
}

fn verdict(report: &AuditReport) -> Verdict {
    report.summaries[0].masking_verdict
}

/// The checks flagged in `report`.
fn flagged(report: &AuditReport) -> Vec<Check> {
    let mut checks: Vec<Check> = report
        .diagnosis
        .iter()
        .filter(|f| f.outcome == Outcome::Flagged)
        .map(|f| f.check)
        .collect();
    checks.dedup();
    checks
}

fn details(report: &AuditReport) -> String {
    report
        .diagnosis
        .iter()
        .map(|f| {
            format!(
                "{} {} {:?}: {}",
                f.check,
                f.outcome.name(),
                f.budget,
                f.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_undistilled_network_is_not_flagged() {
    let report = audit(&networks().0);
    assert_eq!(verdict(&report), Verdict::Clear, "{}", details(&report));
}

/// A mix of attacks: its name, the attacks, the L-inf and L2 budgets, the expected verdict.
type Mix<'a> = (&'a str, &'a [&'a str], &'a [f64], &'a [f64], Verdict);

#[test]
fn the_undistilled_network_is_never_masked_whatever_the_mix_of_attacks() {
    let linf = [0.1, 0.2, 0.3];
    let l2 = [0.5, 1.0, 2.0];
    let mixes: [Mix; 4] = [
        (
            "l-inf only",
            &["fgsm", "pgd", "square"],
            &linf,
            &[],
            Verdict::Clear,
        ),
        (
            "l2 only",
            &["pgd-l2", "deepfool", "square-l2"],
            &[],
            &l2,
            Verdict::Clear,
        ),
        (
            "both",
            &["fgsm", "pgd", "square", "pgd-l2", "deepfool", "square-l2"],
            &linf,
            &l2,
            Verdict::Clear,
        ),
        (
            "minimal only",
            &["deepfool", "cw-l2"],
            &[],
            &[],
            Verdict::Inconclusive,
        ),
    ];
    for (mix, attacks, eps_linf, eps_l2, expected) in mixes {
        let report = audit_with(&networks().0, attacks, eps_linf, eps_l2);
        assert_eq!(verdict(&report), expected, "{mix}:\n{}", details(&report));
    }
}

#[test]
fn defensive_distillation_at_t_100_is_masked_under_pgd_and_square() {
    let report = audit_with(
        distilled_at_100(),
        &["pgd", "square"],
        &[0.1, 0.2, 0.3],
        &[],
    );
    assert!(
        report.summaries[0].clean_accuracy() >= 0.8,
        "the distilled network must classify digits: {}",
        report.summaries[0].clean_accuracy()
    );
    assert_eq!(verdict(&report), Verdict::Masked, "{}", details(&report));
}

#[test]
fn defensive_distillation_at_t_20_is_flagged_by_the_attacks_themselves() {
    let report = audit(&networks().1);
    assert_eq!(verdict(&report), Verdict::Masked, "{}", details(&report));
    let checks = flagged(&report);
    assert!(
        checks.contains(&Check::GradientFreeBeatsGradient)
            || checks.contains(&Check::LogitsBeatProbabilities),
        "the attacks' own evidence must show the masking, not the sensitivity alone:\n{}",
        details(&report)
    );
}
