//! APGD and its DLR losses: the checkpoint schedule, the losses' gradients against finite
//! differences and their invariance to the logits' shift and scale, and the attack's budget,
//! range and seeded determinism on a generated network; the AutoAttack ensemble against
//! its members.

use ndarray::{Array1, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::apgd::checkpoints;
use super::tests::{audit_of, dense_model, images, settings};
use super::*;
use super::{dlr, losses};
use crate::audit::PlannedAttack;
use crate::metrics::Distortion;
use crate::model::Classifier;

#[test]
fn checkpoints_follow_the_papers_schedule() {
    // p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 of the iterations.
    assert_eq!(checkpoints(100), [22, 41, 57, 70, 80, 87, 93, 99]);
    assert_eq!(checkpoints(10), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(checkpoints(1), [1]);
}

fn random_logits(rng: &mut ChaCha8Rng) -> Array1<f32> {
    Array1::from_shape_fn(10, |_| rng.gen_range(-3.0f32..3.0))
}

/// Checks `grad` against central differences of `loss` at `z`.
fn check_gradient(z: &Array1<f32>, grad: &[f32], loss: impl Fn(&Array1<f32>) -> f64) {
    let h = 1e-3f32;
    for k in 0..z.len() {
        let (mut up, mut down) = (z.clone(), z.clone());
        up[k] += h;
        down[k] -= h;
        let numeric = (loss(&up) - loss(&down)) / (f64::from(up[k]) - f64::from(down[k]));
        assert!(
            (numeric - f64::from(grad[k])).abs() <= 1e-3 * (1.0 + numeric.abs()),
            "class {k}: numeric {numeric}, analytic {}",
            grad[k]
        );
    }
}

#[test]
fn dlr_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..50 {
        let z = random_logits(&mut rng);
        let label = rng.gen_range(0..10);
        let target = (label + rng.gen_range(1..10)) % 10;
        let (_, g) = dlr::untargeted(z.view(), label);
        check_gradient(&z, &g, |z| dlr::untargeted(z.view(), label).0);
        let (_, g) = dlr::targeted(z.view(), label, target);
        check_gradient(&z, &g, |z| dlr::targeted(z.view(), label, target).0);
    }
}

#[test]
fn dlr_ignores_the_logits_shift_and_scale_and_changes_sign_at_the_boundary() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..50 {
        let z = random_logits(&mut rng);
        let label = rng.gen_range(0..10);
        let moved = z.mapv(|v| 40.0 * v + 7.0);
        let (a, _) = dlr::untargeted(z.view(), label);
        let (b, _) = dlr::untargeted(moved.view(), label);
        assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{a} vs {b}");
        let predicted = crate::model::argmax(z.iter().copied());
        assert_eq!(a > 0.0, predicted != label, "{z:?} label {label}");
        let target = (label + 1) % 10;
        let (t, _) = dlr::targeted(z.view(), label, target);
        assert_eq!(t > 0.0, z[target] > z[label]);
    }
}

/// `(param, value)` overrides from string pairs.
fn overrides(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn apgd_stays_in_budget_and_range_and_repeats_itself_with_a_seed() {
    let model = dense_model(21);
    let x = images(4, -0.5, 0.5, 22);
    let labels = model.predict(x.view()).expect("predict");
    let apgd: &[(&str, &str)] = &[("steps", "30")];
    let targeted: &[(&str, &str)] = &[("steps", "10"), ("targets", "3")];
    let ensemble: &[(&str, &str)] = &[("steps", "10"), ("targets", "3"), ("queries", "100")];
    for (name, budget, params) in [
        ("apgd-ce", 0.05, apgd),
        ("apgd-dlr", 0.05, apgd),
        ("apgd-ce-l2", 0.4, apgd),
        ("apgd-dlr-l2", 0.4, apgd),
        ("apgd-t", 0.05, targeted),
        ("apgd-t-l2", 0.4, targeted),
        ("autoattack", 0.05, ensemble),
        ("autoattack-l2", 0.4, ensemble),
    ] {
        let (attack, _) = by_name(name)
            .expect("registered")
            .build(&overrides(params))
            .expect("params");
        for (image, &label) in x.axis_iter(Axis(0)).zip(&labels) {
            let problem = Problem {
                image,
                goal: Goal::Untargeted { label },
                budget: Some(budget),
                domain: Domain::DATASET,
            };
            let run = |seed: u64| {
                let mut oracle = Oracle::new(&model);
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                attack.run(&mut oracle, &problem, &mut rng).expect("run")
            };
            let first = run(5);
            assert_eq!(first, run(5), "{name}: same seed, same result");
            assert!(first.iter().all(|v| (-0.5..=0.5).contains(v)), "{name}");
            let d = Distortion::between(first.view(), image);
            let norm = match attack.budget_kind() {
                BudgetKind::Radius(norm) => norm,
                other => panic!("{name} is bounded by {other:?}"),
            };
            assert!(d.get(norm) <= budget, "{name}: {d:?}");
            assert!(d.get(norm) > 0.0, "{name} never moved");
        }
    }
}

#[test]
fn query_counts_follow_steps_restarts_and_targets_when_the_goal_is_out_of_reach() {
    let model = dense_model(25);
    let x = images(3, -0.4, 0.4, 26);
    let labels = model.predict(x.view()).expect("predict");
    // Cross-entropy's and the margin's gradients come with the logits in one query (PGD and
    // BIM also ask for the logits alone of their last iterate); DLR's seed needs the logits
    // first (APGD-T also predicts the image once to choose its targets).
    for (name, params, gradients, forward) in [
        ("pgd", &[("steps", "7"), ("restarts", "2")][..], 2 * 7, 2),
        ("pgd-l2", &[("steps", "5"), ("loss", "margin")][..], 5, 1),
        ("bim", &[][..], 10, 1),
        ("fgsm", &[][..], 1, 0),
        (
            "apgd-ce",
            &[("steps", "12"), ("restarts", "2")][..],
            2 * 13,
            0,
        ),
        ("apgd-dlr-l2", &[("steps", "7")][..], 8, 8),
        (
            "apgd-t",
            &[("steps", "5"), ("targets", "4")][..],
            4 * 6,
            4 * 6 + 1,
        ),
    ] {
        let (attack, _) = by_name(name)
            .expect("registered")
            .build(&overrides(params))
            .expect("params");
        for (image, &label) in x.axis_iter(Axis(0)).zip(&labels) {
            let problem = Problem {
                image,
                goal: Goal::Untargeted { label },
                budget: Some(1e-5),
                domain: Domain::DATASET,
            };
            let mut oracle = Oracle::new(&model);
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let out = attack.run(&mut oracle, &problem, &mut rng).expect("run");
            assert_eq!(
                model
                    .predict(out.insert_axis(Axis(0)).view())
                    .expect("predict")[0],
                label
            );
            assert_eq!(oracle.queries().gradient, gradients, "{name}");
            assert_eq!(oracle.queries().forward, forward, "{name}");
        }
    }
}

#[test]
fn apgd_dlr_is_blind_to_a_rescaled_softmax_where_cross_entropy_is_not() {
    // Scaling the logits by 1000 saturates the softmax: the cross-entropy gradient of a
    // confidently classified image underflows to zero, DLR's does not change.
    let model = dense_model(23);
    let x = images(1, -0.2, 0.2, 24);
    let image = x.index_axis(Axis(0), 0);
    let label = model.predict(x.view()).expect("predict")[0];
    let logits = Oracle::new(&model).logits_one(image).expect("logits");
    let scaled = logits.mapv(|v| 1000.0 * v);
    let (_, ce) = losses::cross_entropy(scaled.view(), Goal::Untargeted { label });
    let (_, plain) = dlr::untargeted(logits.view(), label);
    let (_, saturated) = dlr::untargeted(scaled.view(), label);
    for (p, s) in plain.iter().zip(&saturated) {
        assert!(
            (1000.0 * s - p).abs() <= 1e-3 * (1.0 + p.abs()),
            "{p} vs {s}"
        );
    }
    assert!(plain.iter().any(|g| g.abs() > 0.0));
    let ce_norm: f32 = ce.iter().map(|g| g.abs()).sum();
    assert!(ce_norm < 1e-6, "saturated cross-entropy gradient {ce_norm}");
}

#[test]
fn the_ensemble_runs_each_member_as_it_runs_alone_so_it_evades_whatever_a_member_does() {
    // Regression: the ensemble once ran its members on its own random stream, so a member
    // could evade an image alone that it missed inside the ensemble. Weak members, whose
    // results depend on their random starts and squares.
    let model = dense_model(27);
    let x = images(20, -0.5, 0.5, 28);
    let (steps, targets, queries) = (("steps", "2"), ("targets", "1"), ("queries", "30"));
    for (suffix, eps) in [("", 0.01), ("-l2", 0.1)] {
        let plan: Vec<(String, Vec<(String, String)>)> = [
            ("autoattack", vec![steps, targets, queries]),
            ("apgd-ce", vec![steps]),
            ("apgd-t", vec![steps, targets]),
            ("fab-t", vec![steps, targets]),
            ("square", vec![queries]),
        ]
        .into_iter()
        .map(|(name, params)| (format!("{name}{suffix}"), overrides(&params)))
        .collect();
        let attacks: Vec<PlannedAttack> = plan
            .iter()
            .map(|(name, params)| {
                let (attack, params) = by_name(name)
                    .expect("registered")
                    .build(params)
                    .expect("params");
                PlannedAttack { attack, params }
            })
            .collect();
        let report = audit_of(&model, &x, &attacks, &settings(&[eps], &[eps])).expect("audit");
        let evaded = |attack: &str| -> Vec<bool> {
            let flags: Vec<bool> = report
                .samples
                .iter()
                .filter(|r| r.attack == attack)
                .map(|r| r.success)
                .collect();
            assert_eq!(flags.len(), x.shape()[0], "{attack}");
            flags
        };
        let examples = |attack: &str| {
            &report
                .examples
                .iter()
                .find(|e| e.attack == attack)
                .expect("kept examples")
                .images
        };
        let ensemble = evaded(&plan[0].0);
        let members: Vec<(&str, Vec<bool>)> = plan[1..]
            .iter()
            .map(|(name, _)| (name.as_str(), evaded(name)))
            .collect();
        for (member, alone) in &members {
            for (sample, (&by_member, &by_ensemble)) in alone.iter().zip(&ensemble).enumerate() {
                assert!(
                    by_ensemble || !by_member,
                    "{member} evades sample {sample} alone, the ensemble does not"
                );
            }
            let robust = |flags: &[bool]| flags.iter().filter(|&&e| !e).count();
            assert!(robust(&ensemble) <= robust(alone), "{member}");
        }
        // Each sample's example is that of the first member to evade it alone, or the last
        // member's: the members ran inside the ensemble exactly as alone.
        for sample in 0..x.shape()[0] {
            let (decisive, _) = members
                .iter()
                .find(|(_, alone)| alone[sample])
                .unwrap_or(&members[members.len() - 1]);
            assert_eq!(
                examples(&plan[0].0).index_axis(Axis(0), sample),
                examples(decisive).index_axis(Axis(0), sample),
                "sample {sample}: the ensemble's example is not {decisive}'s"
            );
        }
        // On an image no member evades, every member ran in full, FAB-T among them, and
        // the ensemble's queries are theirs plus one check of each member's result.
        let queries = |attack: &str, sample: usize| {
            report
                .samples
                .iter()
                .find(|r| r.attack == attack && r.sample == sample)
                .expect("a record")
                .queries
        };
        for sample in (0..x.shape()[0]).filter(|&i| !ensemble[i]) {
            let total = queries(&plan[0].0, sample);
            let alone: Vec<Queries> = members.iter().map(|(m, _)| queries(m, sample)).collect();
            let gradient: u64 = alone.iter().map(|q| q.gradient).sum();
            let forward: u64 = alone.iter().map(|q| q.forward).sum();
            assert_eq!(total.gradient, gradient, "sample {sample}");
            assert_eq!(
                total.forward,
                forward + members.len() as u64,
                "sample {sample}"
            );
            assert!(alone[2].gradient > 0, "fab-t ran");
        }
        let evaded_by_some = ensemble.iter().filter(|&&e| e).count();
        assert!(
            evaded_by_some > 0 && evaded_by_some < x.shape()[0],
            "the radius must leave some images robust and evade others"
        );
    }
}
