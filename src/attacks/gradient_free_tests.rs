//! The forward-only attacks (zoo, spsa, nes, square, square-l2, hopskipjump) on a small
//! generated network: budgets and range, determinism per seed, query counts that follow
//! their parameters, and successes, verified by the auditor, where PGD or DeepFool succeed.

use ndarray::{Array2, Array3, Array4, ArrayView2, ArrayView3, ArrayView4, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::tests::{dense_model, images};
use super::*;
use crate::audit::{self, AuditModel, AuditReport, ModelInfo, PlannedAttack, Settings};
use crate::metrics::Distortion;
use crate::model::{Classifier, Differentiable, TractDifferentiable};

/// Every attack that learns from forward passes only.
const FORWARD_ONLY: [&str; 6] = ["zoo", "spsa", "nes", "square", "square-l2", "hopskipjump"];

/// Parameter overrides as written in a test.
type Overrides<'a> = &'a [(&'a str, &'a str)];

fn overrides(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn build(name: &str, pairs: &[(&str, &str)]) -> Box<dyn Attack> {
    by_name(name)
        .expect("registered")
        .build(&overrides(pairs))
        .expect("valid params")
        .0
}

/// Short runs of each attack, so that a test takes seconds.
fn quick(name: &str) -> &'static [(&'static str, &'static str)] {
    match name {
        "zoo" => &[("steps", "30"), ("batch", "16")],
        "spsa" => &[("steps", "30"), ("samples", "32")],
        "nes" => &[
            ("steps", "30"),
            ("samples", "20"),
            ("learning_rate", "0.02"),
        ],
        "square" | "square-l2" => &[("queries", "300")],
        "hopskipjump" => &[("steps", "8"), ("queries", "3000")],
        _ => &[],
    }
}

/// Every forward-only attack with its quick settings, and the variants of its options:
/// importance sampling for ZOO, cross-entropy for SPSA and NES.
fn variants() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let mut all: Vec<_> = FORWARD_ONLY
        .iter()
        .map(|&name| (name, quick(name).to_vec()))
        .collect();
    for (name, extra) in [
        ("zoo", ("importance", "true")),
        ("spsa", ("loss", "ce")),
        ("nes", ("loss", "ce")),
    ] {
        let mut pairs = quick(name).to_vec();
        pairs.push(extra);
        all.push((name, pairs));
    }
    all
}

/// The budget an attack runs at in these tests.
fn budget_of(attack: &dyn Attack, linf: f64, l2: f64) -> Option<f64> {
    match attack.budget_kind() {
        BudgetKind::Radius(Norm::Linf) => Some(linf),
        BudgetKind::Radius(_) => Some(l2),
        _ => None,
    }
}

/// One run of `attack` on `image` (labelled by the model's prediction) with `seed`.
fn run_one(
    model: &TractDifferentiable,
    attack: &dyn Attack,
    image: ArrayView3<f32>,
    budget: Option<f64>,
    seed: u64,
) -> (Array3<f32>, Queries) {
    let label = model.predict(image.insert_axis(Axis(0))).expect("predict")[0];
    let problem = Problem {
        image,
        goal: Goal::Untargeted { label },
        budget,
        domain: Domain::DATASET,
    };
    let mut oracle = Oracle::new(model);
    let adv = attack
        .run(&mut oracle, &problem, &mut ChaCha8Rng::seed_from_u64(seed))
        .expect("run");
    (adv, oracle.queries())
}

#[test]
fn forward_only_attacks_stay_in_budget_and_range_and_ask_no_gradients() {
    let model = dense_model(21);
    let x = images(4, -0.5, 0.5, 22);
    for (name, pairs) in variants() {
        let attack = build(name, &pairs);
        assert!(!attack.signal().uses_gradients(), "{name} {pairs:?}");
        for (i, image) in x.axis_iter(Axis(0)).enumerate() {
            for (linf, l2) in [(0.05, 0.5), (0.3, 2.0)] {
                let budget = budget_of(attack.as_ref(), linf, l2);
                let (adv, queries) = run_one(&model, attack.as_ref(), image, budget, i as u64);
                assert_eq!(adv.shape(), image.shape(), "{name} {pairs:?}");
                assert!(
                    adv.iter()
                        .all(|v| v.is_finite() && (-0.5..=0.5).contains(v)),
                    "{name} {pairs:?} left the range"
                );
                let d = Distortion::between(adv.view(), image);
                match attack.budget_kind() {
                    BudgetKind::Radius(Norm::Linf) => {
                        assert!(
                            d.linf <= linf,
                            "{name} {pairs:?}: linf {} over {linf}",
                            d.linf
                        )
                    }
                    BudgetKind::Radius(_) => {
                        assert!(d.l2 <= l2, "{name} {pairs:?}: l2 {} over {l2}", d.l2)
                    }
                    _ => {}
                }
                assert_eq!(queries.gradient, 0, "{name} {pairs:?} asked for gradients");
                assert!(queries.forward > 0, "{name} {pairs:?} asked nothing");
            }
        }
    }
}

#[test]
fn forward_only_attacks_say_what_they_learn() {
    let signal = |name: &str, pairs: &[(&str, &str)]| build(name, pairs).signal();
    for name in ["zoo", "spsa", "nes", "square", "square-l2"] {
        assert_eq!(signal(name, &[]), Signal::Scores(Output::Logits), "{name}");
    }
    for name in ["spsa", "nes"] {
        assert_eq!(
            signal(name, &[("loss", "ce")]),
            Signal::Scores(Output::Probabilities),
            "{name}"
        );
    }
    assert_eq!(signal("hopskipjump", &[]), Signal::Decision);
    assert_eq!(
        build("hopskipjump", &[]).budget_kind(),
        BudgetKind::Minimal(Norm::L2)
    );
    for name in ["zoo", "spsa", "nes", "square"] {
        assert_eq!(
            build(name, &[]).budget_kind(),
            BudgetKind::Radius(Norm::Linf)
        );
        assert_eq!(build(name, &[]).targets(), Targets::Untargeted, "{name}");
        assert_eq!(build(name, &[("targets", "all")]).targets(), Targets::All);
    }
}

#[test]
fn the_same_seed_gives_the_same_image_and_another_seed_another() {
    let model = dense_model(23);
    let x = images(3, -0.5, 0.5, 24);
    for (name, pairs) in variants() {
        let attack = build(name, &pairs);
        let budget = budget_of(attack.as_ref(), 0.3, 2.0);
        let mut differs = false;
        for image in x.axis_iter(Axis(0)) {
            let (a, qa) = run_one(&model, attack.as_ref(), image, budget, 5);
            let (b, qb) = run_one(&model, attack.as_ref(), image, budget, 5);
            assert_eq!(a, b, "{name} {pairs:?}: same seed, different images");
            assert_eq!(qa, qb, "{name} {pairs:?}: same seed, different queries");
            let (c, _) = run_one(&model, attack.as_ref(), image, budget, 6);
            differs |= a != c;
        }
        assert!(differs, "{name} {pairs:?}: the seed changes nothing");
    }
}

/// The model's logit margin on `image`: how far it is from any other class.
fn clean_margin(model: &TractDifferentiable, image: ArrayView3<f32>) -> f64 {
    let z = model.logits(image.insert_axis(Axis(0))).expect("logits");
    let row = z.index_axis(Axis(0), 0);
    let label = crate::model::argmax(row.iter().copied());
    losses::margin(row, Goal::Untargeted { label }).0
}

#[test]
fn query_counts_follow_the_parameters_when_the_goal_is_out_of_reach() {
    let model = dense_model(25);
    let x = images(12, -0.4, 0.4, 26);
    // A radius this small cannot move a logit margin of 0.5 on this network.
    let image = x
        .axis_iter(Axis(0))
        .find(|im| clean_margin(&model, *im) > 0.5)
        .expect("an image with a clear margin");
    let (linf, l2) = (1e-4, 1e-4);
    let cases: &[(&str, Overrides, u64)] = &[
        // steps * (2 * batch + 1) + 1
        ("zoo", &[("steps", "5"), ("batch", "16")], 5 * 33 + 1),
        // batch above the 64 values: every value, 2 * 64 + 1 per step
        ("zoo", &[("steps", "3")], 3 * 129 + 1),
        // steps * (2 * ceil(samples / 2) + 1) + 1
        ("spsa", &[("steps", "4"), ("samples", "7")], 4 * 9 + 1),
        ("nes", &[("steps", "3"), ("samples", "10")], 3 * 11 + 1),
        ("square", &[("queries", "40")], 40),
        ("square-l2", &[("queries", "40")], 40),
    ];
    for (name, pairs, expected) in cases {
        let attack = build(name, pairs);
        let budget = budget_of(attack.as_ref(), linf, l2);
        let (adv, queries) = run_one(&model, attack.as_ref(), image, budget, 1);
        let label = model.predict(image.insert_axis(Axis(0))).expect("predict")[0];
        let verdict = model
            .predict(adv.view().insert_axis(Axis(0)))
            .expect("predict")[0];
        assert_eq!(
            verdict, label,
            "{name} succeeded: the count is not the full budget"
        );
        assert_eq!(queries.forward, *expected, "{name} {pairs:?}");
        assert_eq!(queries.gradient, 0);
    }
    for cap in [150u64, 1000] {
        let cap_text = cap.to_string();
        let attack = build("hopskipjump", &[("queries", cap_text.as_str())]);
        let (_, queries) = run_one(&model, attack.as_ref(), image, None, 1);
        assert!(
            queries.forward <= cap && queries.forward > cap / 2,
            "hopskipjump used {} of {cap} queries",
            queries.forward
        );
        assert_eq!(queries.gradient, 0);
    }
}

/// Audits `attacks` (name and overrides) on `x` with the model's predictions as labels.
fn audit_of(
    model: &TractDifferentiable,
    x: &Array4<f32>,
    attacks: &[(&str, &[(&str, &str)])],
    eps_linf: f64,
    eps_l2: f64,
) -> AuditReport {
    let planned: Vec<PlannedAttack> = attacks
        .iter()
        .map(|(name, pairs)| {
            let (attack, params) = by_name(name)
                .expect("registered")
                .build(&overrides(pairs))
                .expect("valid params");
            PlannedAttack { attack, params }
        })
        .collect();
    let models = [AuditModel {
        info: ModelInfo {
            name: "dense.onnx".into(),
            sha256: "0".into(),
            ..ModelInfo::default()
        },
        model,
    }];
    let settings = Settings {
        seed: 3,
        eps_linf: vec![eps_linf],
        eps_l2: vec![eps_l2],
        domain: Domain::DATASET,
        keep_examples: false,
        queue: None,
    };
    audit::run(&models, x.view(), None, &planned, &settings, &()).expect("audit")
}

fn successes(report: &AuditReport, attack: &str) -> usize {
    report
        .summaries
        .iter()
        .find(|s| s.attack == attack)
        .map_or(0, |s| s.successes)
}

#[test]
fn forward_only_attacks_succeed_where_pgd_does() {
    let model = dense_model(27);
    let x = images(16, -0.4, 0.4, 28);
    let attacks: &[(&str, &[(&str, &str)])] = &[
        ("pgd", &[]),
        ("pgd-l2", &[]),
        ("zoo", &[("steps", "100")]),
        ("spsa", &[]),
        ("nes", &[]),
        ("square", &[]),
        ("square-l2", &[]),
    ];
    // This random network is sensitive: at linf 0.01 PGD evades about half of the images,
    // so an attack that finds fewer shows; two of 16 is the slack of one seed.
    let report = audit_of(&model, &x, attacks, 0.01, 0.2);
    let (pgd, pgd_l2) = (successes(&report, "pgd"), successes(&report, "pgd-l2"));
    assert!(
        (4..=12).contains(&pgd),
        "pgd evades {pgd} of 16: pick another radius"
    );
    for name in ["zoo", "spsa", "nes", "square"] {
        let found = successes(&report, name);
        assert!(found + 2 >= pgd, "{name} evades {found} of 16, pgd {pgd}");
    }
    assert!(
        pgd_l2 >= 4,
        "pgd-l2 evades {pgd_l2} of 16: pick another radius"
    );
    let found = successes(&report, "square-l2");
    assert!(
        found + 2 >= pgd_l2,
        "square-l2 evades {found}, pgd-l2 {pgd_l2}"
    );
}

#[test]
fn hopskipjump_finds_examples_close_to_deepfools() {
    let model = dense_model(29);
    let x = images(6, -0.4, 0.4, 30);
    let report = audit_of(
        &model,
        &x,
        &[("deepfool", &[]), ("hopskipjump", &[("queries", "5000")])],
        0.1,
        1.0,
    );
    let [deepfool, hsj] = &report.summaries[..] else {
        panic!("two summaries")
    };
    assert_eq!(hsj.successes, hsj.correct, "hopskipjump missed an image");
    assert_eq!(deepfool.successes, deepfool.correct);
    let (h, d) = (
        hsj.mean_minimal.expect("successes").l2,
        deepfool.mean_minimal.expect("successes").l2,
    );
    assert!(
        h <= 1.5 * d,
        "hopskipjump mean l2 {h} against deepfool's {d}"
    );
}

/// The dense model with every logit cubed: the same decisions, other scores, and no
/// gradients at all.
struct Cubed(TractDifferentiable);

impl Classifier for Cubed {
    fn input_chw(&self) -> [usize; 3] {
        self.0.input_chw()
    }
    fn classes(&self) -> usize {
        self.0.classes()
    }
    fn logits(&self, images: ArrayView4<f32>) -> crate::error::Result<Array2<f32>> {
        Ok(self.0.logits(images)?.mapv(|z| z.powi(3)))
    }
}

impl Differentiable for Cubed {
    fn vjp(
        &self,
        _images: ArrayView4<f32>,
        _seed: ArrayView2<f32>,
    ) -> crate::error::Result<(Array2<f32>, Array4<f32>)> {
        Err(crate::error::Error::Internal {
            message: "a forward-only attack asked for a gradient".into(),
        })
    }
}

#[test]
fn hopskipjump_sees_only_the_decision_and_square_the_scores() {
    let (model, cubed) = (dense_model(31), Cubed(dense_model(31)));
    let x = images(3, -0.4, 0.4, 32);
    let run = |m: &dyn Differentiable, name: &str, image: ArrayView3<f32>| {
        let attack = build(name, quick(name));
        let label = m.predict(image.insert_axis(Axis(0))).expect("predict")[0];
        let problem = Problem {
            image,
            goal: Goal::Untargeted { label },
            budget: budget_of(attack.as_ref(), 0.01, 0.1),
            domain: Domain::DATASET,
        };
        let mut oracle = Oracle::new(m);
        attack
            .run(&mut oracle, &problem, &mut ChaCha8Rng::seed_from_u64(4))
            .expect("no gradient asked for")
    };
    let mut scores_matter = false;
    for image in x.axis_iter(Axis(0)) {
        assert_eq!(
            run(&model, "hopskipjump", image),
            run(&cubed, "hopskipjump", image),
            "a decision-based attack changed with the scores"
        );
        // Cubing reorders margins, so a score-based attack takes other steps: the
        // comparison above could fail.
        scores_matter |= run(&model, "square", image) != run(&cubed, "square", image);
    }
    assert!(scores_matter, "square ignored the scores");
}
