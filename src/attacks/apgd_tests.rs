//! APGD and its DLR losses: the checkpoint schedule, the losses' gradients against finite
//! differences and their invariance to the logits' shift and scale, and the attack's budget,
//! range and seeded determinism on a generated network.

use ndarray::{Array1, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::apgd::checkpoints;
use super::tests::{dense_model, images};
use super::*;
use super::{dlr, losses};
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
    for (name, params, gradients) in [
        ("apgd-ce", &[("steps", "12"), ("restarts", "2")][..], 2 * 13),
        ("apgd-dlr-l2", &[("steps", "7")][..], 8),
        ("apgd-t", &[("steps", "5"), ("targets", "4")][..], 4 * 6),
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
