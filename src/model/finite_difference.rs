//! Input gradients of any forward-only [`Classifier`] by central finite differences.
//!
//! [`FiniteDifference`] wraps a classifier and gives it the [`Differentiable`] interface:
//! the vector-Jacobian product `seed^T · d logits / d x` of a sample is the gradient of the
//! scalar `s(x) = sum_k seed_k * logits_k(x)`, estimated per input coordinate `j` as
//! `(s(x + h e_j) - s(x - h e_j)) / 2h`. Black-box attacks (ZOO-style coordinate estimates)
//! use [`FiniteDifference::probe`] on chosen coordinates instead of every one.
//!
//! # The step
//!
//! The default step [`DEFAULT_STEP`] `h = 1e-3` is in the dataset's `[-0.5, 0.5]` scale,
//! a quarter of one 8-bit grey level. Two errors pull `h` in opposite directions:
//! - rounding: the forward passes run in f32, so each `s` carries an error of a few units
//!   in the last place of the logits and of the activations before them, and the quotient
//!   divides it by `2h`. Measured on the paper's MNIST network, this noise is about
//!   `7e-3` of the largest gradient component at `h = 1e-4` and falls as `1/h`;
//! - kinks: ReLU and max-pool networks are piecewise linear, exact between kinks, but a
//!   `±h` step that crosses one mixes two slopes, and the chance of crossing grows with
//!   `h`. Along one pixel of that network kinks lie a few `1e-4` apart.
//!
//! At `1e-3` the median error of a component on that network is about `6e-3` of its
//! value (against `1.4e-2` at `1e-4` and `0.15` at `1e-5`): kinks spoil a few components
//! but rounding no longer spoils most of them. Attacks need the gradient's direction more
//! than every component; `robustaudit gradcheck`, which judges each component, uses
//! `3e-4` and looks for kinks.
//!
//! The sums, the loss values and the quotients are formed in f64, and the quotient divides
//! by the step the f32 inputs actually took (`(x + h) - (x - h)` after rounding), not by
//! `2h`. Perturbed inputs are not clipped to the dataset's range: clipping would make the
//! difference one-sided at the boundary. At a max-pool tie (equal values in one window,
//! common in flat image regions) the loss has no gradient, and the central difference
//! gives the mean of the two one-sided slopes.
//!
//! # Cost
//!
//! A full gradient costs `2 * c * h * w` forward images per sample (1568 for MNIST), sent
//! to the model in batches of [`DEFAULT_BATCH`] perturbed copies, samples in parallel.
//! [`FiniteDifference::queries`] counts every image the wrapper sends to the model.

use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{Array2, Array4, ArrayView2, ArrayView3, ArrayView4, Axis};
use rayon::prelude::*;

use super::{Classifier, Differentiable};
use crate::error::{Error, Result};

/// The default finite-difference step, in the `[-0.5, 0.5]` input scale (see the module
/// docs for why).
pub const DEFAULT_STEP: f32 = 1e-3;

/// The default number of perturbed images per `logits` call.
pub const DEFAULT_BATCH: usize = 256;

/// A forward-only classifier made [`Differentiable`] by central finite differences.
#[derive(Debug)]
pub struct FiniteDifference<C> {
    model: C,
    step: f32,
    batch: usize,
    queries: AtomicU64,
}

/// Logits of one image perturbed along chosen coordinates, from [`central_probe`].
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The coordinates probed: flat indices into the image's `(c, h, w)` values.
    pub coords: Vec<usize>,
    /// Row `i`: logits at `x + h e_{coords[i]}`, `(coords, classes)`.
    pub plus: Array2<f32>,
    /// Row `i`: logits at `x - h e_{coords[i]}`, `(coords, classes)`.
    pub minus: Array2<f32>,
    /// Per coordinate, the step actually taken upwards: `(x + h) - x` after f32 rounding.
    pub step_plus: Vec<f64>,
    /// Per coordinate, the step actually taken downwards: `x - (x - h)` after rounding.
    pub step_minus: Vec<f64>,
}

impl Probe {
    /// Central differences `(f(x + h e_j) - f(x - h e_j)) / (actual 2h)` of a scalar
    /// function `f` of the logits, one per probed coordinate.
    pub fn central(&self, f: impl Fn(&[f32]) -> f64) -> Vec<f64> {
        self.plus
            .rows()
            .into_iter()
            .zip(self.minus.rows())
            .zip(self.step_plus.iter().zip(&self.step_minus))
            .map(|((plus, minus), (hp, hm))| (f(&row_vec(plus)) - f(&row_vec(minus))) / (hp + hm))
            .collect()
    }
}

fn row_vec(row: ndarray::ArrayView1<f32>) -> Vec<f32> {
    row.iter().copied().collect()
}

/// Logits of `image` `(c, h, w)` moved by `+step` and by `-step` along each of `coords`
/// (flat indices into its values in row-major order), evaluated in batches of at most
/// `batch` images (`2 * coords.len()` images in all).
pub fn central_probe<C: Classifier + ?Sized>(
    model: &C,
    image: ArrayView3<f32>,
    coords: &[usize],
    step: f32,
    batch: usize,
) -> Result<Probe> {
    check_step(step)?;
    let (c, h, w) = image.dim();
    let values: Vec<f32> = image.iter().copied().collect();
    let size = values.len();
    if let Some(&bad) = coords.iter().find(|&&j| j >= size) {
        return Err(Error::Internal {
            message: format!("coordinate {bad} is outside an image of {size} values"),
        });
    }
    let classes = model.classes();
    let mut plus = Array2::zeros((coords.len(), classes));
    let mut minus = Array2::zeros((coords.len(), classes));
    let mut step_plus = Vec::with_capacity(coords.len());
    let mut step_minus = Vec::with_capacity(coords.len());
    // Each coordinate takes two images of the batch: rows 2i (+h) and 2i + 1 (-h).
    let per_call = (batch / 2).max(1);
    for (part, group) in coords.chunks(per_call).enumerate() {
        let mut data = Vec::with_capacity(2 * group.len() * size);
        for &j in group {
            let x = values[j];
            let (up, down) = (x + step, x - step);
            step_plus.push(f64::from(up) - f64::from(x));
            step_minus.push(f64::from(x) - f64::from(down));
            for moved in [up, down] {
                let start = data.len();
                data.extend_from_slice(&values);
                data[start + j] = moved;
            }
        }
        let images = Array4::from_shape_vec((2 * group.len(), c, h, w), data).map_err(|e| {
            Error::Internal {
                message: format!("building a batch of perturbed images failed: {e}"),
            }
        })?;
        let logits = model.logits(images.view())?;
        if logits.shape() != [2 * group.len(), classes] {
            return Err(Error::Internal {
                message: format!(
                    "the model returned logits of shape {:?} for {} images and {classes} classes",
                    logits.shape(),
                    2 * group.len()
                ),
            });
        }
        let first = part * per_call;
        for i in 0..group.len() {
            plus.row_mut(first + i).assign(&logits.row(2 * i));
            minus.row_mut(first + i).assign(&logits.row(2 * i + 1));
        }
    }
    Ok(Probe {
        coords: coords.to_vec(),
        plus,
        minus,
        step_plus,
        step_minus,
    })
}

/// A step must be positive and finite.
fn check_step(step: f32) -> Result<()> {
    if step.is_finite() && step > 0.0 {
        Ok(())
    } else {
        Err(Error::Usage {
            message: format!("finite-difference step {step} is not a positive number"),
            hint: Some(format!("the default step is {DEFAULT_STEP}")),
        })
    }
}

impl<C: Classifier> FiniteDifference<C> {
    /// Wraps `model` with the default step and batch size.
    pub fn new(model: C) -> Self {
        FiniteDifference {
            model,
            step: DEFAULT_STEP,
            batch: DEFAULT_BATCH,
            queries: AtomicU64::new(0),
        }
    }

    /// The same wrapper with step `h` (in the input's value scale); fails unless `h` is
    /// positive and finite.
    pub fn with_step(mut self, h: f32) -> Result<Self> {
        check_step(h)?;
        self.step = h;
        Ok(self)
    }

    /// The same wrapper sending at most `batch` perturbed images per `logits` call
    /// (at least 2).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(2);
        self
    }

    /// The finite-difference step.
    pub fn step(&self) -> f32 {
        self.step
    }

    /// Images sent to the model so far: perturbed copies, and the unperturbed images whose
    /// logits [`Differentiable::vjp`] and [`Classifier::logits`] return.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Sets the query count back to zero.
    pub fn reset_queries(&self) {
        self.queries.store(0, Ordering::Relaxed);
    }

    /// The wrapped classifier.
    pub fn inner(&self) -> &C {
        &self.model
    }

    /// Logits of `image` moved by `±h` along each of `coords` (see [`central_probe`]);
    /// counts `2 * coords.len()` queries.
    pub fn probe(&self, image: ArrayView3<f32>, coords: &[usize]) -> Result<Probe> {
        let probe = central_probe(&self.model, image, coords, self.step, self.batch)?;
        self.count(2 * coords.len());
        Ok(probe)
    }

    fn count(&self, images: usize) {
        self.queries.fetch_add(images as u64, Ordering::Relaxed);
    }
}

impl<C: Classifier> Classifier for FiniteDifference<C> {
    fn input_chw(&self) -> [usize; 3] {
        self.model.input_chw()
    }

    fn classes(&self) -> usize {
        self.model.classes()
    }

    fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        let logits = self.model.logits(images)?;
        self.count(images.shape()[0]);
        Ok(logits)
    }
}

impl<C: Classifier> Differentiable for FiniteDifference<C> {
    /// Logits and, per sample, the central-difference gradient of `seed · logits` over every
    /// input coordinate: `n * (2 * c * h * w + 1)` queries.
    fn vjp(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        super::check_seed(images, seed, self.classes())?;
        let n = images.shape()[0];
        let logits = self.logits(images)?;
        let size: usize = images.shape()[1..].iter().product();
        let coords: Vec<usize> = (0..size).collect();
        let rows: Vec<Vec<f32>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let weights = seed.row(i);
                let probe = self.probe(images.index_axis(Axis(0), i), &coords)?;
                let dot = |z: &[f32]| -> f64 {
                    z.iter()
                        .zip(weights.iter())
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum()
                };
                Ok(probe.central(dot).into_iter().map(|g| g as f32).collect())
            })
            .collect::<Result<_>>()?;
        let mut grads = Array4::zeros(images.raw_dim());
        for (mut out, row) in grads.axis_iter_mut(Axis(0)).zip(rows) {
            for (slot, g) in out.iter_mut().zip(row) {
                *slot = g;
            }
        }
        Ok((logits, grads))
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array2, Array4};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::model::{TractClassifier, TractDifferentiable};
    use robustaudit_graph::onnx::{Attr, GraphBuilder, OnnxModel};

    fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(lo..hi)).collect()
    }

    /// `Flatten` and `Gemm` layers (`Relu` between them) of the given widths on a
    /// `[batch, c, h, w]` input; returns the model and the first layer's weights
    /// `(units, c * h * w)`.
    fn dense(chw: [usize; 3], widths: &[usize], seed: u64) -> (OnnxModel, Array2<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut b = GraphBuilder::new("fd-test");
        b.input("x", &[None, Some(chw[0]), Some(chw[1]), Some(chw[2])]);
        b.node("Flatten", &["x"], &["h0"], &[("axis", Attr::Int(1))]);
        let mut features = chw.iter().product::<usize>();
        let mut first = None;
        let mut last = "h0".to_string();
        for (i, &units) in widths.iter().enumerate() {
            let w = uniform(&mut rng, units * features, -1.0, 1.0);
            if first.is_none() {
                first = Some(Array2::from_shape_vec((units, features), w.clone()).expect("w"));
            }
            b.initializer(&format!("w{i}"), &[units, features], &w);
            b.initializer(
                &format!("b{i}"),
                &[units],
                &uniform(&mut rng, units, -1.0, 1.0),
            );
            let out = format!("z{i}");
            b.node(
                "Gemm",
                &[&last, &format!("w{i}"), &format!("b{i}")],
                &[&out],
                &[("transB", Attr::Int(1))],
            );
            last = out;
            if i + 1 < widths.len() {
                let act = format!("a{i}");
                b.node("Relu", &[&last], &[&act], &[]);
                last = act;
            }
            features = units;
        }
        b.output(&last, &[None, Some(features)]);
        let model = b.finish("fd-test.onnx".into()).expect("valid model");
        (model, first.expect("at least one layer"))
    }

    fn inputs(n: usize, chw: [usize; 3], classes: usize, seed: u64) -> (Array4<f32>, Array2<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let size = n * chw.iter().product::<usize>();
        let x = Array4::from_shape_vec(
            (n, chw[0], chw[1], chw[2]),
            uniform(&mut rng, size, -0.5, 0.5),
        )
        .expect("x");
        let s = Array2::from_shape_vec((n, classes), uniform(&mut rng, n * classes, -1.0, 1.0))
            .expect("seed");
        (x, s)
    }

    fn worst_relative(a: &Array4<f32>, b: &Array4<f32>) -> f32 {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 1e-2, "the gradient is ~0: the test checks nothing");
        a.iter()
            .zip(b.iter())
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
            / scale
    }

    #[test]
    fn linear_model_gradient_is_the_transposed_weights_times_the_seed() {
        let chw = [2, 3, 3];
        let (model, w) = dense(chw, &[5], 1);
        let fd = FiniteDifference::new(TractClassifier::new(model).expect("plan"));
        let (x, s) = inputs(3, chw, 5, 2);
        let (logits, grads) = fd.vjp(x.view(), s.view()).expect("vjp");
        assert_eq!(logits.shape(), &[3, 5]);
        let mut expected = Array4::zeros(x.raw_dim());
        for i in 0..3 {
            let g: Array1<f32> = w.t().dot(&s.row(i));
            for (slot, v) in expected.index_axis_mut(Axis(0), i).iter_mut().zip(g) {
                *slot = v;
            }
        }
        let err = worst_relative(&grads, &expected);
        assert!(err <= 1e-3, "relative error {err}\n{grads}\n{expected}");
    }

    #[test]
    fn matches_the_vjp_graph_on_a_relu_network() {
        let chw = [1, 4, 4];
        let (model, _) = dense(chw, &[12, 6], 3);
        let exact = TractDifferentiable::new(model).expect("vjp graph");
        let (x, s) = inputs(4, chw, 6, 4);
        let (want_logits, want) = exact.vjp(x.view(), s.view()).expect("exact vjp");
        let fd = FiniteDifference::new(
            TractClassifier::new(exact.classifier().model().clone()).expect("plan"),
        );
        let (logits, grads) = fd.vjp(x.view(), s.view()).expect("fd vjp");
        for (a, b) in logits.iter().zip(want_logits.iter()) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
        let err = worst_relative(&grads, &want);
        assert!(err <= 1e-3, "relative error {err}\n{grads}\n{want}");
    }

    #[test]
    fn counts_two_queries_per_coordinate_and_sample_plus_the_logits() {
        let chw = [1, 3, 5];
        let (model, _) = dense(chw, &[4], 5);
        // A batch smaller than one sample's perturbations exercises the grouping.
        let fd = FiniteDifference::new(TractClassifier::new(model).expect("plan")).with_batch(8);
        let (x, s) = inputs(3, chw, 4, 6);
        assert_eq!(fd.queries(), 0);
        fd.vjp(x.view(), s.view()).expect("vjp");
        assert_eq!(fd.queries(), 3 * (2 * 15 + 1));
        fd.reset_queries();
        let probe = fd
            .probe(x.index_axis(Axis(0), 0), &[0, 7, 14])
            .expect("probe");
        assert_eq!(fd.queries(), 6);
        assert_eq!(probe.plus.shape(), &[3, 4]);
        assert!(probe.step_plus.iter().all(|&h| (h - 1e-3).abs() < 1e-6));
        fd.logits(x.view()).expect("logits");
        assert_eq!(fd.queries(), 9);
    }

    #[test]
    fn batching_does_not_change_the_gradient() {
        let chw = [1, 4, 4];
        let (model, _) = dense(chw, &[8, 3], 7);
        let plan = TractClassifier::new(model).expect("plan");
        let (x, s) = inputs(2, chw, 3, 8);
        let whole = FiniteDifference::new(plan)
            .vjp(x.view(), s.view())
            .expect("vjp")
            .1;
        let (model, _) = dense(chw, &[8, 3], 7);
        let small = FiniteDifference::new(TractClassifier::new(model).expect("plan"))
            .with_batch(6)
            .vjp(x.view(), s.view())
            .expect("vjp")
            .1;
        let err = worst_relative(&small, &whole);
        assert!(err <= 1e-5, "relative error {err}");
    }

    #[test]
    fn rejects_bad_steps_and_seed_shapes() {
        let (model, _) = dense([1, 2, 2], &[3], 9);
        let plan = TractClassifier::new(model).expect("plan");
        for h in [0.0, -1e-3, f32::NAN, f32::INFINITY] {
            let err =
                FiniteDifference::new(TractClassifier::new(plan.model().clone()).expect("plan"))
                    .with_step(h)
                    .unwrap_err();
            assert_eq!(err.exit_code(), crate::exit_code::Exit::Usage);
            assert!(
                err.to_string().starts_with("finite-difference step"),
                "{err}"
            );
        }
        let fd = FiniteDifference::new(plan);
        let (x, _) = inputs(2, [1, 2, 2], 3, 1);
        let err = fd.vjp(x.view(), Array2::zeros((2, 4)).view()).unwrap_err();
        assert_eq!(err.to_string(), "seed shape [2, 4] does not match [2, 3]");
    }
}
