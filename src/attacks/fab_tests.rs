//! FAB-T: its projection onto a hyperplane inside the box against brute force, its budget,
//! range and seeded determinism on a generated network, and its distortion on a linear
//! model, where every boundary is a hyperplane, against the closed form and DeepFool.

use ndarray::{Array2, Array3, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fab_projection::{norm_of, step_to_hyperplane_in_box};
use super::fab_t::FabT;
use super::tests::{dense_model, images};
use super::*;
use crate::metrics::Distortion;
use crate::model::{Classifier, TractDifferentiable};
use robustaudit_graph::onnx::{Attr, GraphBuilder};

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A uniform point of `[lo, hi]^n`.
fn in_box(rng: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.gen_range(lo..=hi)).collect()
}

#[test]
fn the_projection_onto_a_hyperplane_in_the_box_is_the_closest_point_of_both() {
    let (lo, hi) = (-0.5, 0.5);
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let (mut feasible, mut infeasible) = (0, 0);
    for round in 0..200 {
        let norm = if round % 2 == 0 { Norm::L2 } else { Norm::Linf };
        let n = 3;
        let point = in_box(&mut rng, n, lo, hi);
        let w = in_box(&mut rng, n, -1.0, 1.0);
        let b = dot(&w, &point) + rng.gen_range(-0.8..0.8);
        let step = step_to_hyperplane_in_box(&point, &w, b, lo, hi, norm);
        let moved: Vec<f64> = point.iter().zip(&step).map(|(p, d)| p + d).collect();
        assert!(
            moved.iter().all(|v| (lo - 1e-12..=hi + 1e-12).contains(v)),
            "{moved:?} leaves the box"
        );
        let length = norm_of(&step, norm);
        let gap = (dot(&w, &moved) - b).abs();
        // Random points of the box; those that can be put on the hyperplane by solving for
        // the coordinate with the largest weight are the brute-force candidates.
        let j = (0..n)
            .max_by(|&a, &c| w[a].abs().total_cmp(&w[c].abs()))
            .expect("n > 0");
        let mut nearest_on_plane = f64::INFINITY;
        for _ in 0..10_000 {
            let mut y = in_box(&mut rng, n, lo, hi);
            if gap > 1e-9 {
                // No point of the box lies on the plane: none may come closer to it.
                assert!(
                    (dot(&w, &y) - b).abs() >= gap - 1e-12,
                    "{y:?} is closer to the plane than the corner {moved:?}"
                );
                continue;
            }
            y[j] = (b - dot(&w, &y) + w[j] * y[j]) / w[j];
            if !(lo..=hi).contains(&y[j]) {
                continue;
            }
            let d: Vec<f64> = y.iter().zip(&point).map(|(a, p)| a - p).collect();
            let distance = norm_of(&d, norm);
            nearest_on_plane = nearest_on_plane.min(distance);
            assert!(
                distance >= length - 1e-12,
                "{norm}: {y:?} at {distance} beats the projection at {length}"
            );
        }
        if gap > 1e-9 {
            infeasible += 1;
        } else {
            feasible += 1;
            // The sampled points come close, so the comparison above has teeth.
            assert!(
                nearest_on_plane <= length + 0.05,
                "{norm}: {nearest_on_plane} vs {length}"
            );
        }
    }
    assert!(feasible > 60 && infeasible > 10, "{feasible} {infeasible}");
}

#[test]
fn the_projection_follows_the_closed_form_when_the_box_is_far() {
    let mut rng = ChaCha8Rng::seed_from_u64(32);
    for _ in 0..100 {
        let point = in_box(&mut rng, 6, -0.1, 0.1);
        let w = in_box(&mut rng, 6, -1.0, 1.0);
        let c = rng.gen_range(-0.05..0.05);
        let b = dot(&w, &point) + c;
        let l2 = step_to_hyperplane_in_box(&point, &w, b, -10.0, 10.0, Norm::L2);
        let w_sq = dot(&w, &w);
        for (d, wi) in l2.iter().zip(&w) {
            assert!(
                (d - c / w_sq * wi).abs() <= 1e-12,
                "{d} vs {}",
                c / w_sq * wi
            );
        }
        let linf = step_to_hyperplane_in_box(&point, &w, b, -10.0, 10.0, Norm::Linf);
        let w_l1: f64 = w.iter().map(|v| v.abs()).sum();
        for (d, wi) in linf.iter().zip(&w) {
            let expected = c / w_l1 * wi.signum();
            assert!((d - expected).abs() <= 1e-12, "{d} vs {expected}");
        }
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
fn fab_t_stays_in_budget_and_range_repeats_itself_and_its_successes_hold() {
    let model = dense_model(33);
    let x = images(6, -0.5, 0.5, 34);
    let labels = model.predict(x.view()).expect("predict");
    let params = overrides(&[("steps", "20"), ("restarts", "2"), ("targets", "3")]);
    for (name, budget) in [("fab-t", 0.05), ("fab-t-l2", 0.5)] {
        let (attack, _) = by_name(name)
            .expect("registered")
            .build(&params)
            .expect("params");
        let norm = match attack.budget_kind() {
            BudgetKind::Radius(norm) => norm,
            other => panic!("{name} is bounded by {other:?}"),
        };
        let mut evaded = 0;
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
            assert!(d.get(norm) <= budget, "{name}: {d:?}");
            let predicted = model
                .predict(first.insert_axis(Axis(0)).view())
                .expect("predict")[0];
            if predicted != label {
                evaded += 1;
            }
        }
        assert!(evaded > 0, "{name} evaded no image of a random network");
    }
}

/// A linear classifier `logits = W x + b` on `[batch, 1, 8, 8]`, and its weights.
fn linear_model(seed: u64) -> (TractDifferentiable, Array2<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w: Vec<f32> = (0..10 * 64).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let bias: Vec<f32> = (0..10).map(|_| rng.gen_range(-0.5..0.5)).collect();
    let mut g = GraphBuilder::new("linear");
    g.input("input", &[None, Some(1), Some(8), Some(8)]);
    g.initializer("w", &[10, 64], &w);
    g.initializer("b", &[10], &bias);
    g.node("Flatten", &["input"], &["flat"], &[("axis", Attr::Int(1))]);
    g.node(
        "Gemm",
        &["flat", "w", "b"],
        &["logits"],
        &[("transB", Attr::Int(1))],
    );
    g.output("logits", &[None, Some(10)]);
    let model = g.finish("linear.onnx".into()).expect("valid model");
    let weights = Array2::from_shape_fn((10, 64), |(k, i)| f64::from(w[k * 64 + i]));
    let bias = bias.iter().map(|&v| f64::from(v)).collect();
    (
        TractDifferentiable::new(model).expect("vjp graph"),
        weights,
        bias,
    )
}

/// For each class `k != label`: `f_k = z_k - z_label` at `image` and `w_k`, its gradient.
fn boundaries(
    weights: &Array2<f64>,
    bias: &[f64],
    image: &[f64],
    label: usize,
) -> Vec<(usize, f64, Vec<f64>)> {
    let z: Vec<f64> = (0..10)
        .map(|k| dot(&weights.row(k).to_vec(), image) + bias[k])
        .collect();
    (0..10)
        .filter(|&k| k != label)
        .map(|k| {
            let w: Vec<f64> = (0..64)
                .map(|i| weights[[k, i]] - weights[[label, i]])
                .collect();
            (k, z[k] - z[label], w)
        })
        .collect()
}

fn fab(norm: Norm, pairs: &[(&str, &str)]) -> FabT {
    let name = if norm == Norm::L2 {
        "fab-t-l2"
    } else {
        "fab-t"
    };
    let params = Params::resolve(name, super::fab_t::PARAMS, &overrides(pairs)).expect("params");
    FabT::new(name, norm, &params).expect("fab-t")
}

#[test]
fn fab_t_reaches_a_linear_boundary_in_one_step_with_its_overshoot() {
    let (model, weights, bias) = linear_model(35);
    let x = images(5, -0.1, 0.1, 36);
    let labels = model.predict(x.view()).expect("predict");
    for norm in [Norm::L2, Norm::Linf] {
        let attack = fab(norm, &[("steps", "1"), ("targets", "1")]);
        for (image, &label) in x.axis_iter(Axis(0)).zip(&labels) {
            let clean: Vec<f64> = image.iter().map(|&v| f64::from(v)).collect();
            // The first target is the highest-scoring other class.
            let (_, f, w) = boundaries(&weights, &bias, &clean, label)
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .expect("nine others");
            let dual = if norm == Norm::L2 {
                dot(&w, &w).sqrt()
            } else {
                w.iter().map(|v| v.abs()).sum()
            };
            let expected = 1.05 * f.abs() / dual;
            assert!(
                expected < 0.35,
                "the box must stay inactive for the closed form"
            );
            let problem = Problem {
                image,
                goal: Goal::Untargeted { label },
                budget: None,
                domain: Domain::DATASET,
            };
            let mut oracle = Oracle::new(&model);
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let (distance, found) = attack
                .closest(&mut oracle, &problem, f64::INFINITY, 0.0, &mut rng)
                .expect("run")
                .expect("one step crosses a linear boundary");
            assert!(
                (distance - expected).abs() <= 1e-4 * expected,
                "{norm}: {distance} vs {expected}"
            );
            assert_eq!(distance, Distortion::between(found.view(), image).get(norm));
            let predicted = model
                .predict(found.insert_axis(Axis(0)).view())
                .expect("predict")[0];
            assert_ne!(predicted, label);
        }
    }
}

#[test]
fn fab_t_finds_the_nearest_linear_boundary_no_farther_than_deepfool() {
    let (model, weights, bias) = linear_model(37);
    let x = images(3, -0.1, 0.1, 38);
    let labels = model.predict(x.view()).expect("predict");
    let (deepfool, _) = by_name("deepfool")
        .expect("registered")
        .build(&[])
        .expect("defaults");
    for norm in [Norm::L2, Norm::Linf] {
        let attack = fab(norm, &[]);
        for (image, &label) in x.axis_iter(Axis(0)).zip(&labels) {
            let clean: Vec<f64> = image.iter().map(|&v| f64::from(v)).collect();
            // Inside the box every boundary of a linear classifier is a hyperplane, and
            // the least distortion is the distance to the nearest one.
            let exact = boundaries(&weights, &bias, &clean, label)
                .into_iter()
                .map(|(_, f, w)| {
                    let dual = if norm == Norm::L2 {
                        dot(&w, &w).sqrt()
                    } else {
                        w.iter().map(|v| v.abs()).sum()
                    };
                    f.abs() / dual
                })
                .fold(f64::INFINITY, f64::min);
            let problem = Problem {
                image,
                goal: Goal::Untargeted { label },
                budget: None,
                domain: Domain::DATASET,
            };
            let mut oracle = Oracle::new(&model);
            let mut rng = ChaCha8Rng::seed_from_u64(2);
            let (distance, _) = attack
                .closest(&mut oracle, &problem, f64::INFINITY, 0.0, &mut rng)
                .expect("run")
                .expect("fab-t crosses a linear boundary");
            assert!(
                distance >= exact * (1.0 - 1e-5),
                "{norm}: {distance} below the exact {exact}"
            );
            assert!(
                distance <= exact * 1.01,
                "{norm}: {distance} vs the exact {exact}"
            );
            if norm == Norm::L2 {
                let mut oracle = Oracle::new(&model);
                let found: Array3<f32> = deepfool
                    .run(&mut oracle, &problem, &mut rng)
                    .expect("deepfool");
                let by_deepfool = Distortion::between(found.view(), image).l2;
                assert!(
                    distance <= by_deepfool,
                    "fab-t {distance} vs deepfool {by_deepfool}"
                );
            }
        }
    }
}
