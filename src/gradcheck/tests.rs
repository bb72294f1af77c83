//! Tests of the gradient check: its verdicts on right and wrong gradients, kink handling,
//! coordinate choice and loss formulas.

use ndarray::{arr1, Array2, Array4, ArrayView2, ArrayView4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::model::{Classifier, TractDifferentiable};
use robustaudit_graph::onnx::{Attr, GraphBuilder, OnnxModel};

/// `Flatten`, `Gemm` to `hidden` units, `Relu`, `Gemm` to `classes` on `[batch, c, h, w]`.
fn relu_net(chw: [usize; 3], hidden: usize, classes: usize, seed: u64) -> OnnxModel {
    shifted_relu_net(chw, hidden, classes, seed, 0.0)
}

/// [`relu_net`] plus `offset` on every logit: the same gradients, coarser f32 logits.
fn shifted_relu_net(
    chw: [usize; 3],
    hidden: usize,
    classes: usize,
    seed: u64,
    offset: f32,
) -> OnnxModel {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut uniform = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let features: usize = chw.iter().product();
    let mut b = GraphBuilder::new("gradcheck-test");
    b.input("x", &[None, Some(chw[0]), Some(chw[1]), Some(chw[2])]);
    b.initializer("w1", &[hidden, features], &uniform(hidden * features));
    b.initializer("b1", &[hidden], &uniform(hidden));
    b.initializer("w2", &[classes, hidden], &uniform(classes * hidden));
    b.initializer("b2", &[classes], &uniform(classes));
    b.node("Flatten", &["x"], &["f"], &[("axis", Attr::Int(1))]);
    let t = [("transB", Attr::Int(1))];
    b.node("Gemm", &["f", "w1", "b1"], &["z1"], &t);
    b.node("Relu", &["z1"], &["a1"], &[]);
    b.node("Gemm", &["a1", "w2", "b2"], &["z2"], &t);
    b.initializer("offset", &[1], &[offset]);
    b.node("Add", &["z2", "offset"], &["logits"], &[]);
    b.output("logits", &[None, Some(classes)]);
    b.finish("gradcheck-test.onnx".into()).expect("valid model")
}

fn images(n: usize, chw: [usize; 3], seed: u64) -> Array4<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array4::from_shape_fn((n, chw[0], chw[1], chw[2]), |_| rng.gen_range(-0.5..0.5))
}

/// A model whose analytic gradient is the true one times `factor`, plus `shift` times the
/// gradient with its coordinates rolled by one: a stand-in for a wrong backward rule.
struct Wrong {
    model: TractDifferentiable,
    factor: f32,
    shift: f32,
}

impl Classifier for Wrong {
    fn input_chw(&self) -> [usize; 3] {
        self.model.input_chw()
    }
    fn classes(&self) -> usize {
        self.model.classes()
    }
    fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        self.model.logits(images)
    }
}

impl Differentiable for Wrong {
    fn vjp(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        let (logits, grads) = self.model.vjp(images, seed)?;
        let mut wrong = grads.mapv(|g| g * self.factor);
        for (mut out, sample) in wrong.outer_iter_mut().zip(grads.outer_iter()) {
            let flat: Vec<f32> = sample.iter().copied().collect();
            for (j, slot) in out.iter_mut().enumerate() {
                *slot += self.shift * flat[(j + 1) % flat.len()];
            }
        }
        Ok((logits, wrong))
    }
}

fn wrong(factor: f32, shift: f32) -> Wrong {
    let model = TractDifferentiable::new(relu_net([1, 8, 8], 16, 10, 1)).expect("vjp graph");
    Wrong {
        model,
        factor,
        shift,
    }
}

fn check(model: &dyn DifferentiableDyn, coords: Coords) -> Report {
    let x = images(6, [1, 8, 8], 2);
    let labels = [0, 1, 2, 3, 4, 5];
    let settings = Settings {
        coords,
        ..Settings::default()
    };
    model.check(x.view(), &labels, &settings)
}

/// Lets the tests pass both models through one helper.
trait DifferentiableDyn {
    fn check(&self, x: ArrayView4<f32>, labels: &[usize], settings: &Settings) -> Report;
}

impl<M: Differentiable> DifferentiableDyn for M {
    fn check(&self, x: ArrayView4<f32>, labels: &[usize], settings: &Settings) -> Report {
        run(self, x, labels, settings, &()).expect("gradcheck runs")
    }
}

#[test]
fn the_vjp_graph_of_a_relu_network_passes() {
    let report = check(&wrong(1.0, 0.0), Coords::Count(16));
    assert!(report.passed(), "{report}");
    assert_eq!(report.samples, 6);
    assert_eq!(report.size, 64);
    for l in &report.losses {
        assert_eq!(l.checked, 6 * 16);
        assert!(l.median_error <= 5e-3, "{report}");
    }
    let text = report.to_string();
    for name in [
        "cross-entropy",
        "logit-difference",
        "logit-sum",
        "gradcheck: pass",
    ] {
        assert!(text.contains(name), "{text}");
    }
}

#[test]
fn a_negated_gradient_fails_every_loss() {
    let report = check(&wrong(-1.0, 0.0), Coords::Count(8));
    assert!(!report.passed(), "{report}");
    for l in &report.losses {
        assert!(!l.passed, "{report}");
        // Only the finite differences can excuse a coordinate, and they rarely do.
        assert!(l.kinks * 20 <= l.checked, "{report}");
        assert!(l.median_error > 1.0, "{report}");
    }
    let text = report.to_string();
    assert!(text.contains("gradcheck: fail"), "{text}");
    assert!(text.contains("worst cross-entropy: sample"), "{text}");
}

#[test]
fn a_gradient_five_percent_too_large_fails() {
    let report = check(&wrong(1.05, 0.0), Coords::Count(8));
    for l in &report.losses {
        assert!(!l.passed, "{report}");
        assert!((l.median_error - 0.05 / 1.05).abs() < 1e-3, "{report}");
    }
}

#[test]
fn a_gradient_leaking_between_coordinates_fails() {
    // Small components pick up a share of their neighbours: only the checked coordinates
    // with small gradients show it, so the max catches what the median may not.
    let report = check(&wrong(1.0, 0.2), Coords::All);
    assert!(!report.passed(), "{report}");
}

#[test]
fn checks_are_deterministic_for_a_seed() {
    let model = wrong(1.0, 0.0);
    let a = check(&model, Coords::Count(10));
    let b = check(&model, Coords::Count(10));
    assert_eq!(a, b);
}

fn coordinate(analytic: f64, forward: f64, backward: f64) -> Coordinate {
    Coordinate {
        sample: 0,
        index: 0,
        analytic,
        central: 0.5 * (forward + backward),
        forward,
        backward,
        step: 1e-3,
        kink: false,
        scale: 1.0,
        noise: 1e-3,
        floor: 1e-3,
    }
}

#[test]
fn kinks_show_in_the_finite_differences_alone() {
    let t = Tolerance::default().max;
    // The step crosses a kink on the forward side.
    assert!(coordinate(1.0, 3.0, 1.0).shows_kink(&[], t));
    // Whatever the analytic gradient, one-sided differences that agree show no kink.
    let smooth = coordinate(-1.0, 1.001, 0.999);
    assert!(!smooth.shows_kink(&[], t));
    // Kinks on both sides: the central difference moves when the step shrinks.
    let moved = Coordinate {
        central: 1.2,
        forward: 1.2,
        backward: 1.2,
        ..smooth
    };
    assert!(smooth.shows_kink(&[moved], t));
    // A kink on one side of a smaller step.
    let one_sided = Coordinate {
        forward: 1.3,
        ..smooth
    };
    assert!(smooth.shows_kink(&[one_sided], t));
    // Discrepancies within the noise, or too small to matter, show nothing.
    let noisy = Coordinate {
        central: 1.0 + 3e-3,
        noise: 1e-3,
        ..smooth
    };
    assert!(!smooth.shows_kink(&[noisy], t));
    let small = Coordinate {
        central: 1.04,
        noise: 1e-6,
        ..smooth
    };
    assert!(!smooth.shows_kink(&[small], t));
    // A NaN is never a kink.
    let nan = Coordinate {
        central: f64::NAN,
        forward: f64::NAN,
        ..smooth
    };
    assert!(!nan.shows_kink(&[], t));
    assert!(!smooth.shows_kink(&[nan], t));
}

#[test]
fn kinks_are_left_out_but_not_too_many() {
    let t = Tolerance::default();
    let kink = Coordinate {
        kink: true,
        ..coordinate(-1.0, 3.0, 1.0)
    };
    let mut coords = vec![coordinate(1.0, 1.0, 1.0); 30];
    coords.push(kink);
    let report = judge(Loss::LogitSum, &coords, t);
    assert_eq!((report.checked, report.kinks), (31, 1));
    assert_eq!(report.max_error, 0.0);
    assert!(report.passed, "{report:?}");
    // One kink in four is the most a loss may have.
    coords.truncate(3);
    coords.push(kink);
    assert!(judge(Loss::LogitSum, &coords, t).passed);
    coords.truncate(2);
    coords.push(kink);
    assert!(!judge(Loss::LogitSum, &coords, t).passed);
    // Without the kink flag the same coordinate fails.
    let bad = [coordinate(1.0, 1.0, 1.0), coordinate(-1.0, 3.0, 1.0)];
    let report = judge(Loss::LogitSum, &bad, t);
    assert!(!report.passed);
    assert_eq!(report.worst.map(|c| c.analytic), Some(-1.0));
}

#[test]
fn relative_errors_use_the_floor_and_never_hide_nan() {
    let t = Tolerance::default();
    let c = coordinate(0.0, 0.0, 0.0);
    assert_eq!(c.relative(0.0, 0.0), 0.0);
    // Both tiny: judged against the floor.
    assert!((c.relative(1e-6, -1e-6) - 2e-3).abs() < 1e-12);
    assert!((c.relative(1.0, 0.9) - 0.1).abs() < 1e-12);
    let nan = coordinate(f64::NAN, 1.0, 1.0);
    assert_eq!(nan.error(), f64::INFINITY);
    let report = judge(Loss::LogitSum, &[nan], t);
    assert!(!report.passed);
    assert_eq!(report.max_error, f64::INFINITY);
    let nan_fd = coordinate(1.0, f64::NAN, 1.0);
    assert!(!judge(Loss::LogitSum, &[nan_fd], t).passed);
}

#[test]
fn median_and_max_are_over_every_coordinate() {
    let coords = [
        coordinate(1.0, 1.0, 1.0),
        coordinate(1.0, 0.99, 0.99),
        coordinate(1.0, 0.98, 0.98),
        coordinate(1.0, 0.97, 0.97),
    ];
    let report = judge(Loss::LogitSum, &coords, Tolerance::default());
    assert!((report.median_error - 0.015).abs() < 1e-12, "{report:?}");
    assert!((report.max_error - 0.03).abs() < 1e-12, "{report:?}");
    assert_eq!(report.outliers, 0);
    assert!(!report.passed, "median 1.5e-2 is over 1e-2");
}

#[test]
fn one_error_in_a_hundred_may_exceed_the_tolerance() {
    let t = Tolerance::default();
    let mut coords = vec![coordinate(1.0, 1.0, 1.0); 99];
    coords.push(coordinate(1.0, 0.9, 0.9));
    let report = judge(Loss::LogitSum, &coords, t);
    assert_eq!(report.outliers, 1);
    assert!((report.max_error - 0.1).abs() < 1e-12, "{report:?}");
    assert!(report.passed, "{report:?}");
    coords[0] = coordinate(1.0, -1.0, -1.0);
    let report = judge(Loss::LogitSum, &coords, t);
    assert_eq!(report.outliers, 2);
    assert!(!report.passed, "{report:?}");
    // Under a hundred coordinates, none may.
    let report = judge(Loss::LogitSum, &coords[1..], t);
    assert_eq!(report.outliers, 1);
    assert!(!report.passed, "{report:?}");
}

#[test]
fn half_the_coordinates_are_the_largest_and_half_are_random() {
    let grad = [0.1, -5.0, 0.2, 4.0, 0.0, 0.3, -0.05, 3.0];
    let picked = choose(&grad, 5, 7, 0);
    assert_eq!(picked.len(), 5);
    assert_eq!(picked[..3], [1, 3, 7]);
    let mut distinct = picked.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 5);
    assert_eq!(choose(&grad, 5, 7, 0), picked);
    assert_eq!(choose(&grad, 100, 7, 0).len(), 8);
    // Another stream or seed draws other random coordinates, eventually.
    let others: BTreeSet<Vec<usize>> = (0..8).map(|s| choose(&grad, 5, 7, s)).collect();
    assert!(others.len() > 1);
}

#[test]
fn loss_seeds_are_the_derivatives_of_the_losses() {
    let z = arr1(&[0.3f32, -1.2, 2.0, 0.7]);
    let target = Target::of(z.view(), 3);
    assert_eq!(target, Target { label: 3, other: 2 });
    for loss in Loss::ALL {
        let seed = loss.seed(z.view(), target);
        for k in 0..4 {
            let h = 1e-3f32;
            let mut up = z.clone();
            up[k] += h;
            let mut down = z.clone();
            down[k] -= h;
            let numeric = (loss.value(up.view(), target) - loss.value(down.view(), target))
                / (f64::from(z[k] + h) - f64::from(z[k] - h));
            assert!(
                (numeric - seed[k]).abs() < 1e-4,
                "{loss} {k}: {numeric} vs {}",
                seed[k]
            );
        }
    }
    let ce = Loss::CrossEntropy.value(z.view(), target);
    let sum: f64 = z.iter().map(|&v| f64::from(v).exp()).sum();
    assert!((ce - (sum.ln() - 0.7f64)).abs() < 1e-6);
}

#[test]
fn coords_parse_counts_and_all() {
    assert_eq!("8".parse::<Coords>(), Ok(Coords::Count(8)));
    assert_eq!("ALL".parse::<Coords>(), Ok(Coords::All));
    assert!("0".parse::<Coords>().is_err());
    assert!("-3".parse::<Coords>().is_err());
    assert_eq!(Coords::Count(50).of(20), 20);
    assert_eq!(Coords::All.of(20), 20);
}

#[test]
fn labels_outside_the_model_are_a_usage_error() {
    let model = wrong(1.0, 0.0);
    let x = images(2, [1, 8, 8], 3);
    let err = run(&model, x.view(), &[1, 10], &Settings::default(), &()).unwrap_err();
    assert_eq!(err.exit_code(), crate::exit_code::Exit::Usage);
    assert_eq!(
        err.to_string(),
        "label 10 of sample 1 is out of range for a model with 10 classes"
    );
}

#[test]
fn gradients_below_the_resolution_of_f32_logits_do_not_fail() {
    // Regression: an untrained MobileNet's gradients are so small next to its logits that
    // every central difference of the logit difference was exactly 0, the measured noise 0,
    // and the correct gradient failed. Here an offset of 2^20 makes a logit's unit in the last
    // place 0.125, far above what a step of 3e-4 moves it.
    let model = TractDifferentiable::new(shifted_relu_net([1, 8, 8], 16, 10, 1, 1_048_576.0))
        .expect("vjp graph");
    let report = check(&model, Coords::Count(16));
    assert!(report.passed(), "{report}");
    for l in &report.losses {
        assert!(l.noise > UNRESOLVED_NOISE, "{report}");
    }
    assert!(report.to_string().contains("errors below that go unseen"));
    // The same network without the offset resolves its gradients, and a wrong one fails.
    let report = check(&wrong(1.0, 0.0), Coords::Count(16));
    assert!(
        report.losses.iter().all(|l| l.noise < UNRESOLVED_NOISE),
        "{report}"
    );
}
