//! Invariants of every attack on small generated networks: budgets, value range, verified
//! successes, determinism across thread counts, and the parameter syntax.

use ndarray::{Array3, Array4, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::audit::{self, AuditModel, AuditReport, ModelInfo, PlannedAttack, Settings};
use crate::error::Error;
use crate::metrics::Distortion;
use crate::model::{Classifier, TractDifferentiable};
use robustaudit_graph::onnx::{Attr, GraphBuilder};

/// `Flatten`, `Gemm` to 24 units, `Relu`, `Gemm` to 10 logits on `[batch, 1, 8, 8]`.
pub(crate) fn dense_model(seed: u64) -> TractDifferentiable {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut uniform = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let mut b = GraphBuilder::new("dense");
    b.input("input", &[None, Some(1), Some(8), Some(8)]);
    b.initializer("w1", &[24, 64], &uniform(24 * 64));
    b.initializer("b1", &[24], &uniform(24));
    b.initializer("w2", &[10, 24], &uniform(10 * 24));
    b.initializer("b2", &[10], &uniform(10));
    let t = [("transB", Attr::Int(1))];
    b.node("Flatten", &["input"], &["flat"], &[("axis", Attr::Int(1))]);
    b.node("Gemm", &["flat", "w1", "b1"], &["z1"], &t);
    b.node("Relu", &["z1"], &["a1"], &[]);
    b.node("Gemm", &["a1", "w2", "b2"], &["logits"], &t);
    b.output("logits", &[None, Some(10)]);
    let model = b.finish("dense.onnx".into()).expect("valid model");
    TractDifferentiable::new(model).expect("vjp graph")
}

/// `n` images with values uniform in `[lo, hi]`.
pub(crate) fn images(n: usize, lo: f32, hi: f32, seed: u64) -> Array4<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array4::from_shape_fn((n, 1, 8, 8), |_| rng.gen_range(lo..=hi))
}

/// Quick settings for every attack, so that the whole registry runs in seconds.
fn quick(name: &str) -> Vec<(String, String)> {
    let pairs: &[(&str, &str)] = match name {
        "pgd" | "pgd-l2" => &[("steps", "10"), ("restarts", "2")],
        "apgd-ce" | "apgd-ce-l2" | "apgd-dlr" | "apgd-dlr-l2" => &[("steps", "20")],
        "apgd-t" | "apgd-t-l2" => &[("steps", "10"), ("targets", "3")],
        "fab-t" | "fab-t-l2" => &[("steps", "20"), ("targets", "3")],
        "autoattack" | "autoattack-l2" => &[("steps", "10"), ("targets", "3"), ("queries", "200")],
        "cw-l2" => &[
            ("steps", "60"),
            ("binary_steps", "4"),
            ("initial_const", "0.1"),
        ],
        "cw-linf" => &[("steps", "40"), ("min_tau", "0.05")],
        "zoo" | "spsa" | "nes" => &[("steps", "40")],
        "square" | "square-l2" => &[("queries", "200")],
        "hopskipjump" => &[("steps", "5"), ("queries", "2000")],
        _ => &[],
    };
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn planned(names: &[&str]) -> Vec<PlannedAttack> {
    names
        .iter()
        .map(|n| {
            let (attack, params) = by_name(n)
                .expect("registered")
                .build(&quick(n))
                .expect("valid params");
            PlannedAttack { attack, params }
        })
        .collect()
}

pub(super) fn settings(eps_linf: &[f64], eps_l2: &[f64]) -> Settings {
    Settings {
        seed: 7,
        eps_linf: eps_linf.to_vec(),
        eps_l2: eps_l2.to_vec(),
        domain: Domain::DATASET,
        keep_examples: true,
        queue: None,
    }
}

pub(super) fn audit_of(
    model: &TractDifferentiable,
    x: &Array4<f32>,
    attacks: &[PlannedAttack],
    settings: &Settings,
) -> crate::error::Result<AuditReport> {
    let models = [AuditModel {
        info: ModelInfo {
            name: "dense.onnx".into(),
            sha256: "0".into(),
            ..ModelInfo::default()
        },
        model,
    }];
    audit::run(&models, x.view(), None, attacks, settings, &())
}

#[test]
fn every_attack_stays_in_budget_and_range_and_reports_only_verified_successes() {
    let model = dense_model(1);
    let x = images(6, -0.5, 0.5, 2);
    let report = audit_of(
        &model,
        &x,
        &planned(&names()),
        &settings(&[0.05, 0.3], &[1.0]),
    )
    .expect("audit");
    // fgsm, bim, pgd, apgd-ce, apgd-dlr, apgd-t, fab-t, zoo, spsa, nes, square, autoattack
    // at two radii; pgd-l2, apgd-ce-l2, apgd-dlr-l2, apgd-t-l2, fab-t-l2, square-l2,
    // autoattack-l2 at one; five unbounded or fixed-budget attacks.
    assert_eq!(report.summaries.len(), 12 * 2 + 7 + 5);
    for set in &report.examples {
        let rows: Vec<_> = report
            .samples
            .iter()
            .filter(|r| r.attack == set.attack && r.budget == set.budget)
            .collect();
        assert_eq!(rows.len(), set.images.shape()[0]);
        let again = model.predict(set.images.view()).expect("predict");
        for ((r, image), prediction) in rows.iter().zip(set.images.axis_iter(Axis(0))).zip(again) {
            assert!(r.attacked, "labels are the model's predictions");
            assert_eq!(
                r.adversarial_prediction, prediction,
                "{} sample {}",
                r.attack, r.sample
            );
            let reached = match r.target {
                Some(t) => prediction == t,
                None => prediction != r.label,
            };
            assert_eq!(r.success, reached, "{} sample {}", r.attack, r.sample);
            assert!(image.iter().all(|v| (-0.5..=0.5).contains(v)));
            let d = Distortion::between(image, x.index_axis(Axis(0), r.sample));
            assert_eq!(d, r.distortion);
            if let Some(budget) = r.budget {
                assert!(
                    d.get(r.norm) <= budget,
                    "{} {:?} over {budget}",
                    r.attack,
                    d
                );
            }
        }
    }
    let successes = |attack: &str| {
        report
            .summaries
            .iter()
            .filter(|s| by_reported_name(s.attack).is_ok_and(|i| i.name == attack))
            .map(|s| s.successes)
            .sum::<usize>()
    };
    for attack in names() {
        assert!(
            successes(attack) > 0,
            "{attack} never succeeded on a random network"
        );
    }
}

#[test]
fn fgsm_moves_every_unclipped_value_by_exactly_eps() {
    let model = dense_model(3);
    let x = images(8, -0.3, 0.3, 4);
    let eps = 0.1;
    let report =
        audit_of(&model, &x, &planned(&["fgsm"]), &settings(&[eps], &[1.0])).expect("audit");
    let adv = &report.examples[0].images;
    let mut moved = 0;
    for (a, c) in adv.iter().zip(x.iter()) {
        let change = (f64::from(*a) - f64::from(*c)).abs();
        if change > 0.0 {
            assert!((change - eps).abs() <= 1e-6, "moved by {change}");
            moved += 1;
        }
    }
    // A dense ReLU network has a non-zero gradient on nearly every input value.
    assert!(
        moved > adv.len() * 9 / 10,
        "only {moved} of {} values moved",
        adv.len()
    );
}

#[test]
fn jsma_changes_at_most_its_fraction_of_the_values() {
    let model = dense_model(5);
    let x = images(4, -0.5, 0.3, 6);
    let report =
        audit_of(&model, &x, &planned(&["jsma"]), &settings(&[0.3], &[1.0])).expect("audit");
    let limit = (0.145f64 * 64.0).floor();
    assert_eq!(report.summaries[0].budget, Some(limit));
    assert_eq!(report.samples.len(), 4 * 9, "one run per other class");
    for r in &report.samples {
        assert!(
            r.distortion.l0 <= limit,
            "{} values changed",
            r.distortion.l0
        );
        assert!(r.relative.l0 <= 0.145);
    }
}

#[test]
fn jsma_reads_probabilities_by_default_and_its_name_says_which_scores() {
    let model = dense_model(5);
    let x = images(4, -0.5, 0.3, 6);
    for (scores, name, output) in [
        (None, "jsma-probabilities", Output::Probabilities),
        (Some("logits"), "jsma-logits", Output::Logits),
    ] {
        let overrides: Vec<(String, String)> = scores
            .map(|s| ("scores".to_string(), s.to_string()))
            .into_iter()
            .collect();
        let (attack, params) = by_name("jsma")
            .and_then(|a| a.build(&overrides))
            .expect("jsma builds");
        assert_eq!(attack.name(), name);
        assert_eq!(attack.signal(), Signal::Gradient(output));
        let planned = [PlannedAttack { attack, params }];
        let report = audit_of(&model, &x, &planned, &settings(&[0.3], &[1.0])).expect("audit");
        assert!(report.samples.iter().all(|r| r.attack == name));
        assert!(
            report.summaries[0].successes > 0,
            "{name} reaches no target on a network with live gradients"
        );
    }
}

#[test]
fn cw_linf_is_targeted_by_default_and_keeps_its_progress_when_c_doubles() {
    // One Adam step per value of c: a run that restarts the modifier at every c never moves
    // before it checks, so only one that carries the modifier and Adam's moments over from
    // one c to the next (as the reference does) can reach a target.
    let model = dense_model(9);
    let x = images(3, -0.3, 0.3, 10);
    let overrides: Vec<(String, String)> = [
        ("steps", "1"),
        ("learning_rate", "0.05"),
        ("min_tau", "0.05"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (attack, params) = by_name("cw-linf")
        .and_then(|a| a.build(&overrides))
        .expect("cw-linf builds");
    assert_eq!(attack.targets(), Targets::All);
    let planned = [PlannedAttack { attack, params }];
    let report = audit_of(&model, &x, &planned, &settings(&[], &[])).expect("audit");
    let s = &report.summaries[0];
    assert_eq!(s.runs, 3 * 9, "one run per other class");
    assert!(
        s.successes * 2 >= s.runs,
        "only {} of {} targets reached",
        s.successes,
        s.runs
    );
}

#[test]
fn hopskipjump_keeps_drawing_random_starts_until_one_is_adversarial() {
    // One uniform image per batch: a run must not give up after the first draw.
    let model = dense_model(3);
    let x = images(8, -0.5, 0.5, 4);
    let overrides: Vec<(String, String)> = [("steps", "2"), ("init_trials", "1")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (attack, params) = by_name("hopskipjump")
        .and_then(|a| a.build(&overrides))
        .expect("hopskipjump builds");
    let planned = [PlannedAttack { attack, params }];
    let report = audit_of(&model, &x, &planned, &settings(&[], &[])).expect("audit");
    let s = &report.summaries[0];
    assert_eq!(s.runs, 8);
    assert_eq!(s.successes, s.runs, "every run finds an adversarial start");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let model = dense_model(7);
    let x = images(5, -0.5, 0.5, 8);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| {
            audit_of(
                &model,
                &x,
                &planned(&["pgd", "pgd-l2", "cw-l2"]),
                &settings(&[0.1], &[1.0]),
            )
            .expect("audit")
        })
    };
    let (mut one, mut three) = (run(1), run(3));
    for r in one.samples.iter_mut().chain(three.samples.iter_mut()) {
        r.seconds = 0.0;
    }
    for s in one.summaries.iter_mut().chain(three.summaries.iter_mut()) {
        s.wall_seconds = 0.0;
    }
    assert_eq!(one, three);
}

#[test]
fn results_do_not_depend_on_which_queries_share_a_batch() {
    let model = dense_model(9);
    let x = images(6, -0.5, 0.5, 10);
    let every: Vec<&str> = names();
    let run = |queue: Option<audit::QueueSize>| {
        let settings = Settings {
            queue,
            ..settings(&[0.1], &[1.0])
        };
        let mut report = audit_of(&model, &x, &planned(&every), &settings).expect("audit");
        for r in &mut report.samples {
            r.seconds = 0.0;
        }
        for s in &mut report.summaries {
            s.wall_seconds = 0.0;
        }
        report
    };
    let alone = run(Some(audit::QueueSize::ONE_AT_A_TIME));
    let small = run(Some(audit::QueueSize {
        workers: 5,
        rows: 3,
    }));
    let pooled = run(None);
    assert_eq!(alone, small, "five runs in flight, batches of three rows");
    assert_eq!(alone, pooled, "the queue sized for the pool");
}

/// An attack that ignores its budget.
struct Overreaching;

impl Attack for Overreaching {
    fn describe(&self) -> Description {
        Description::untargeted_radius("overreaching", Norm::Linf, Signal::Gradient(Output::Logits))
    }

    fn run(
        &self,
        _oracle: &mut Oracle,
        problem: &Problem,
        _rng: &mut ChaCha8Rng,
    ) -> crate::error::Result<Array3<f32>> {
        let eps = problem.budget.unwrap_or(0.0) as f32;
        Ok(problem.image.mapv(|v| (v + 1.5 * eps).min(0.5)))
    }
}

#[test]
fn an_example_outside_its_budget_is_an_internal_error_not_a_result() {
    let model = dense_model(9);
    let x = images(2, -0.4, 0.4, 10);
    let attacks = [PlannedAttack {
        attack: Box::new(Overreaching),
        params: Params::resolve("overreaching", &[], &[]).expect("no params"),
    }];
    let err = audit_of(&model, &x, &attacks, &settings(&[0.1], &[1.0])).expect_err("refused");
    assert!(matches!(err, Error::Internal { .. }), "{err}");
    assert!(err.to_string().contains("linf distortion"), "{err}");
}

#[test]
fn projections_hold_exactly_in_f64_for_awkward_radii() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..200 {
        let clean = Array3::from_shape_fn((1, 4, 4), |_| rng.gen_range(-0.5f32..=0.5));
        let eps: f64 = rng.gen_range(1e-4..0.7);
        let mut c = clean.mapv(|v| v + rng.gen_range(-1.0f32..1.0));
        project_linf(c.view_mut(), clean.view(), eps, Domain::DATASET);
        let d = Distortion::between(c.view(), clean.view());
        assert!(d.linf <= eps, "{} > {eps}", d.linf);
        assert!(c.iter().all(|v| (-0.5..=0.5).contains(v)));
        let mut c = clean.mapv(|v| v + rng.gen_range(-1.0f32..1.0));
        project_l2(c.view_mut(), clean.view(), eps, Domain::DATASET);
        let d = Distortion::between(c.view(), clean.view());
        assert!(d.l2 <= eps, "{} > {eps}", d.l2);
        assert!(c.iter().all(|v| (-0.5..=0.5).contains(v)));
    }
}

#[test]
fn parameters_resolve_defaults_and_refuse_unknown_names_and_bad_values() {
    for info in registry() {
        let (attack, params) = info.build(&[]).expect("defaults parse");
        let reported = by_reported_name(attack.name()).expect("a reported name");
        assert_eq!(reported.name, info.name);
        assert_eq!(
            params
                .describe()
                .split(' ')
                .filter(|s| !s.is_empty())
                .count(),
            info.params.len()
        );
    }
    let pgd = by_name("pgd").expect("pgd");
    let (_, params) = pgd
        .build(&[("steps".into(), "7".into())])
        .expect("override");
    assert_eq!(params.integer("steps").expect("steps"), 7);
    for (name, value) in [
        ("stepz", "7"),
        ("steps", "0"),
        ("steps", "x"),
        ("loss", "mse"),
    ] {
        let err = pgd
            .build(&[(name.into(), value.into())])
            .err()
            .expect("refused");
        assert_eq!(err.exit_code(), crate::exit_code::Exit::Usage, "{err}");
    }
    let err = by_name("no-such-attack").expect_err("unknown");
    assert!(err.hint().expect("hint").contains("cw-l2"));
    let listed = names();
    assert_eq!(listed.len(), registry().len());
    let distinct: std::collections::BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(distinct.len(), listed.len(), "a name registered twice");
}

#[test]
fn aa_standard_is_another_name_for_the_autoattack_ensemble() {
    let (info, fixed) = by_listed_name("aa-standard").expect("an accepted name");
    assert_eq!(info.name, "autoattack");
    assert!(fixed.is_empty());
    assert_eq!(
        by_reported_name("aa-standard").expect("known").name,
        "autoattack"
    );
    let err = by_listed_name("aa-plus").expect_err("not a name");
    assert_eq!(err.exit_code(), crate::exit_code::Exit::Usage);
}

#[test]
fn a_radius_attack_with_radii_of_its_own_runs_at_them_and_the_others_at_the_audit_radii() {
    let model = dense_model(3);
    let x = images(3, -0.5, 0.5, 11);
    let mut attacks = planned(&["fgsm", "deepfool"]);
    let mut own = quick("autoattack");
    own.push((RADII.into(), "0.3,0.05".into()));
    let (attack, params) = by_name("autoattack")
        .expect("registered")
        .build(&own)
        .expect("radii of its own");
    assert_eq!(params.radii(), Some(&[0.3, 0.05][..]));
    let described = params.describe();
    assert_eq!(described, "eps=0.3,0.05 queries=200 steps=10 targets=3");
    let again: Vec<(String, String)> = described
        .split(' ')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (_, rebuilt) = by_name("autoattack")
        .expect("registered")
        .build(&again)
        .expect("its description parses");
    assert_eq!(rebuilt, params);
    attacks.push(PlannedAttack { attack, params });

    let report = audit_of(&model, &x, &attacks, &settings(&[0.1, 0.2], &[1.0])).expect("audit");
    let budgets = |name: &str| -> Vec<Option<f64>> {
        report
            .summaries
            .iter()
            .filter(|s| s.attack == name)
            .map(|s| s.budget)
            .collect()
    };
    assert_eq!(budgets("fgsm"), [Some(0.1), Some(0.2)]);
    assert_eq!(budgets("autoattack"), [Some(0.3), Some(0.05)]);
    assert_eq!(budgets("deepfool"), [None]);
    for r in report.samples.iter().filter(|r| r.attack == "autoattack") {
        assert!([Some(0.3), Some(0.05)].contains(&r.budget), "{r:?}");
    }
}

#[test]
fn radii_of_its_own_are_refused_when_malformed_or_when_the_attack_has_no_radius() {
    for (name, value) in [
        ("pgd", "0"),
        ("pgd", ""),
        ("pgd", "0.1,,0.2"),
        ("pgd", "0.1,x"),
        ("pgd", "inf"),
        ("pgd-l2", "-1"),
        ("deepfool", "0.1"),
        ("cw-l2", "1"),
        ("jsma", "0.1"),
    ] {
        let err = by_name(name)
            .expect("registered")
            .build(&[(RADII.into(), value.into())])
            .err()
            .unwrap_or_else(|| panic!("{name}.eps={value} accepted"));
        assert_eq!(err.exit_code(), crate::exit_code::Exit::Usage, "{err}");
        assert!(err.to_string().contains(&format!("{name}.eps")), "{err}");
    }
    let (_, params) = by_name("pgd-l2")
        .expect("registered")
        .build(&[(RADII.into(), "0.5,2".into())])
        .expect("an l2 attack takes radii of its own");
    assert_eq!(params.radii(), Some(&[0.5, 2.0][..]));
}
