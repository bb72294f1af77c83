//! Checking a model's analytic input gradients against central finite differences of its
//! forward passes.
//!
//! For three losses on the logits `z` of each sample (see [`Loss`]) the analytic gradient
//! comes from one [`Differentiable::vjp`] call with the loss's seed `dL/dz`, and the
//! numeric one from `(L(x + h e_j) - L(x - h e_j)) / 2h` on forward passes of the model,
//! with `L` computed in f64 from the f32 logits. The cross-entropy is differentiated as a
//! loss, not as a linear seed, so the check covers the seed formula as well as the graph.
//!
//! # Where the gradients are compared
//!
//! At each image moved by a seeded uniform dither of at most [`DEFAULT_DITHER`] per pixel.
//! Flat regions (the background of a digit) give equal activations inside a max-pool
//! window; at such a tie the loss has no gradient, only different one-sided slopes, and
//! neither the analytic value nor a central difference means anything. The dither breaks
//! the ties, so that the comparison happens where the gradient exists.
//!
//! # What is compared
//!
//! A sample has `c * h * w` coordinates and each costs two forward passes, so a check
//! takes `K` of them per sample and loss ([`Coords`]): the `ceil(K/2)` with the largest
//! analytic gradient and `floor(K/2)` drawn uniformly from the rest with a seeded
//! [`ChaCha8Rng`]. Each gets the relative error
//! `|g_a - g_fd| / max(|g_a|, |g_fd|, floor)`. A loss passes when the median error is at
//! most [`MEDIAN_TOLERANCE`] and at most [`MAX_OUTLIER_FRACTION`] of the errors exceed
//! [`MAX_TOLERANCE`]. The median catches errors that spread over the gradient (a wrong
//! scale, a leak between pixels), the outliers catch errors confined to some of it (a
//! border, a channel). Requiring every error to be within [`MAX_TOLERANCE`] would make the
//! check fail on correct gradients: on the paper's convolutional networks kinks are so
//! dense that one or two coordinates in a thousand land a few percent off with no sign of a
//! kink that its noise lets the finite differences show.
//!
//! The floor keeps components near zero from blowing the ratio up. It is the larger of
//! [`FLOOR_FRACTION`] times the sample's largest analytic component and [`NOISE_MULTIPLE`]
//! times the sample's measured finite-difference noise `nu`: the median over its probed
//! coordinates of `|L(x+h) - 2 L(x) + L(x-h)| / 2h`. Between kinks a ReLU network is linear,
//! so its second differences are f32 rounding alone, and `nu` measures how far a central
//! difference itself is off. A component that the finite differences cannot resolve is
//! thus judged against that resolution: a deviation of `10 nu` there is an error of `5e-2`.
//! `nu` is at least the resolution of the f32 logits, one unit in the last place of a logit
//! over `2h` (see `resolution`): where the input barely moves the logits (an untrained deep
//! network, whose gradients are tiny next to its logits) the differences are exactly 0 and
//! the second differences too, and only that bound says what they cannot resolve.
//! Noise deviations reach a few `nu` (the median is about `0.6 nu`), so correct gradients
//! pass; the price is that errors below about `10 nu` go unseen, and the report prints
//! `nu` relative to the gradient's scale (`fd noise`) for that reason.
//!
//! # The step and kinks
//!
//! The rounding noise `nu` falls as `1/h`, so the step [`DEFAULT_STEP`] is as large as the
//! kinks of ReLU and max-pool networks allow. A `±h` step that crosses a kink averages
//! slopes and can be far from the gradient at `x`; on the paper's convolutional networks
//! kinks lie a few `1e-4` apart along a pixel. A coordinate whose error exceeds
//! [`MAX_TOLERANCE`] is probed again at `h/3` and `h/10` ([`REFINE_DIVISORS`]) and counted as
//! a kink, and left out of the statistics, when the finite differences themselves show
//! that the loss is not linear within the step, beyond [`KINK_SIGNIFICANCE`] times their
//! noise:
//! - at some step, the one-sided differences `(L(x+h) - L(x)) / h` and
//!   `(L(x) - L(x-h)) / h` disagree (a kink on one side), or
//! - the central difference changes when the step shrinks (kinks on both sides that
//!   happen to bend the loss alike).
//!
//! A discrepancy counts only when it is also large enough to explain a failure
//! ([`Coordinate::shows_kink`]). The evidence comes from forward passes alone, so a wrong
//! gradient at a point where the loss is linear is excused only in the rare case that
//! rounding noise exceeds four times its typical size. A loss fails when more than
//! [`MAX_KINK_FRACTION`] of its coordinates are kinks: too little is then left to judge.
//!
//! Everything is deterministic for a given seed: the dither and the coordinates come from
//! their own RNG streams, and no result depends on the number of threads.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use ndarray::{Array2, Array4, ArrayView1, ArrayView3, ArrayView4, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::model::{argmax, central_probe, Differentiable, Probe, FD_BATCH};

/// The default finite-difference step, in the `[-0.5, 0.5]` input scale (see the module
/// docs).
pub const DEFAULT_STEP: f32 = 3e-4;
/// The default dither: each pixel moves by a seeded uniform amount in `[-0.01, 0.01]`.
pub const DEFAULT_DITHER: f32 = 1e-2;
/// The default number of coordinates checked per sample and loss.
pub const DEFAULT_COORDS: usize = 32;
/// A loss passes only if the median relative error is at most this.
pub const MEDIAN_TOLERANCE: f64 = 1e-2;
/// A loss passes only if at most [`MAX_OUTLIER_FRACTION`] of its relative errors (kinks
/// aside) exceed this.
pub const MAX_TOLERANCE: f64 = 5e-2;
/// The largest fraction of a loss's compared coordinates whose error may exceed
/// [`MAX_TOLERANCE`] (rounded down: with fewer than 100 coordinates, none may).
pub const MAX_OUTLIER_FRACTION: f64 = 0.01;
/// The relative-error floor, as a fraction of the sample's largest analytic component.
pub const FLOOR_FRACTION: f64 = 1e-3;
/// The relative-error floor, as a multiple of the sample's finite-difference noise.
pub const NOISE_MULTIPLE: f64 = 200.0;
/// A failing coordinate is probed again with the step divided by each of these.
pub const REFINE_DIVISORS: [f32; 2] = [3.0, 10.0];
/// How many times its noise a finite-difference discrepancy must be to show a kink.
pub const KINK_SIGNIFICANCE: f64 = 4.0;
/// A loss fails when more than this fraction of its coordinates are kinks.
pub const MAX_KINK_FRACTION: f64 = 0.25;
/// Above this relative finite-difference noise the report warns that the check resolves
/// little of the gradient.
pub const UNRESOLVED_NOISE: f64 = 0.1;

/// RNG stream of the dither; coordinate choices use streams `0..3 * samples`.
const DITHER_STREAM: u64 = u64::MAX;

/// A scalar loss on one sample's logits `z`, with its gradient `dL/dz` (the VJP seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loss {
    /// `L = -log softmax(z)_label`; seed `softmax(z) - onehot(label)`.
    CrossEntropy,
    /// `L = z_label - z_other`, `other` the highest-scoring other class at the unperturbed
    /// image; seed `e_label - e_other`.
    LogitDifference,
    /// `L = sum_k z_k`; seed all ones.
    LogitSum,
}

impl Loss {
    /// Every loss, in report order.
    pub const ALL: [Loss; 3] = [Loss::CrossEntropy, Loss::LogitDifference, Loss::LogitSum];

    /// The name printed in reports.
    pub fn name(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross-entropy",
            Loss::LogitDifference => "logit-difference",
            Loss::LogitSum => "logit-sum",
        }
    }

    /// The loss of logits `z` against `target`, in f64.
    pub fn value(self, z: ArrayView1<f32>, target: Target) -> f64 {
        match self {
            Loss::CrossEntropy => {
                let top = z
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                let sum: f64 = z.iter().map(|&v| (f64::from(v) - top).exp()).sum();
                top + sum.ln() - f64::from(z[target.label])
            }
            Loss::LogitDifference => f64::from(z[target.label]) - f64::from(z[target.other]),
            Loss::LogitSum => z.iter().map(|&v| f64::from(v)).sum(),
        }
    }

    /// `dL/dz` at logits `z`, in f64.
    pub fn seed(self, z: ArrayView1<f32>, target: Target) -> Vec<f64> {
        match self {
            Loss::CrossEntropy => {
                let top = z
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                let exps: Vec<f64> = z.iter().map(|&v| (f64::from(v) - top).exp()).collect();
                let sum: f64 = exps.iter().sum();
                let mut seed: Vec<f64> = exps.iter().map(|e| e / sum).collect();
                seed[target.label] -= 1.0;
                seed
            }
            Loss::LogitDifference => {
                let mut seed = vec![0.0; z.len()];
                seed[target.label] = 1.0;
                seed[target.other] = -1.0;
                seed
            }
            Loss::LogitSum => vec![1.0; z.len()],
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The classes a loss refers to for one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The sample's label (or the model's prediction when the data has no labels).
    pub label: usize,
    /// The highest-scoring class other than `label` at the unperturbed image (ties go to
    /// the lower index).
    pub other: usize,
}

impl Target {
    /// The target of logits `z` with `label`; `z` needs at least two classes.
    pub fn of(z: ArrayView1<f32>, label: usize) -> Target {
        let others = z
            .iter()
            .enumerate()
            .map(|(k, &v)| if k == label { f32::NEG_INFINITY } else { v });
        let mut other = argmax(others);
        if other == label {
            // Every other logit is -inf or NaN: any other class will do.
            other = usize::from(label == 0);
        }
        Target { label, other }
    }
}

/// How many coordinates to check per sample and loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coords {
    /// At most this many (all of them when the image has fewer).
    Count(usize),
    /// Every coordinate of the image.
    All,
}

impl Coords {
    /// The number of coordinates checked in an image of `size` values.
    pub fn of(self, size: usize) -> usize {
        match self {
            Coords::Count(k) => k.min(size),
            Coords::All => size,
        }
    }
}

impl FromStr for Coords {
    type Err = String;

    /// Parses a positive integer or `all`.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Coords::All);
        }
        match s.parse::<usize>() {
            Ok(k) if k > 0 => Ok(Coords::Count(k)),
            _ => Err(format!(
                "`{s}` is not a positive number of coordinates or `all`"
            )),
        }
    }
}

impl fmt::Display for Coords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Coords::Count(k) => write!(f, "{k}"),
            Coords::All => f.write_str("all"),
        }
    }
}

/// Pass thresholds on the relative errors of one loss, and the floor of their denominator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// The largest median allowed.
    pub median: f64,
    /// The error that at most a fraction `outliers` of the coordinates may exceed.
    pub max: f64,
    /// The largest fraction of compared coordinates whose error may exceed `max`.
    pub outliers: f64,
    /// The floor as a fraction of the sample's largest analytic gradient component.
    pub floor: f64,
    /// The floor as a multiple of the sample's finite-difference noise.
    pub noise: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            median: MEDIAN_TOLERANCE,
            max: MAX_TOLERANCE,
            outliers: MAX_OUTLIER_FRACTION,
            floor: FLOOR_FRACTION,
            noise: NOISE_MULTIPLE,
        }
    }
}

/// How a check runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Coordinates per sample and loss.
    pub coords: Coords,
    /// Finite-difference step, in the input's value scale.
    pub step: f32,
    /// Largest dither per pixel (0 checks the images as they are).
    pub dither: f32,
    /// Seed of the dither and of the random coordinate choice.
    pub seed: u64,
    /// Pass thresholds.
    pub tolerance: Tolerance,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            coords: Coords::Count(DEFAULT_COORDS),
            step: DEFAULT_STEP,
            dither: DEFAULT_DITHER,
            seed: 0,
            tolerance: Tolerance::default(),
        }
    }
}

/// One checked coordinate of one sample, for one loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinate {
    /// The sample's position in the batch.
    pub sample: usize,
    /// The flat index into the sample's `(c, h, w)` values.
    pub index: usize,
    /// The analytic gradient component.
    pub analytic: f64,
    /// The central difference `(L(x+h) - L(x-h)) / 2h`.
    pub central: f64,
    /// The forward difference `(L(x+h) - L(x)) / h`.
    pub forward: f64,
    /// The backward difference `(L(x) - L(x-h)) / h`.
    pub backward: f64,
    /// The step `h` of these differences.
    pub step: f64,
    /// Whether the coordinate failed and the finite differences show a kink within the
    /// step (see the module docs): it is left out of the statistics.
    pub kink: bool,
    /// The sample's largest analytic gradient magnitude.
    pub scale: f64,
    /// The sample's finite-difference noise `nu` at this step (see the module docs).
    pub noise: f64,
    /// The denominator floor of relative errors.
    pub floor: f64,
}

impl Coordinate {
    /// `|a - b| / max(|a|, |b|, floor)` (0 when `a == b`, infinite for NaN).
    pub fn relative(&self, a: f64, b: f64) -> f64 {
        let diff = (a - b).abs();
        if diff == 0.0 {
            return 0.0;
        }
        let scale = a.abs().max(b.abs()).max(self.floor);
        if diff.is_finite() && scale > 0.0 {
            diff / scale
        } else {
            f64::INFINITY
        }
    }

    /// The relative error of the analytic gradient against the central difference;
    /// infinite (never NaN) when either is not finite.
    pub fn error(&self) -> f64 {
        if self.analytic.is_finite() && self.central.is_finite() {
            self.relative(self.analytic, self.central)
        } else {
            f64::INFINITY
        }
    }

    /// Whether the finite differences show a kink within the step (see the module docs):
    /// the one-sided differences of this coordinate or of one of its `finer` probes (the
    /// same coordinate at smaller steps) disagree, or a finer central difference differs
    /// from this one. A discrepancy counts when it exceeds both [`KINK_SIGNIFICANCE`] times
    /// its noise and `max_error` relative to this coordinate's floor: it must be real, and
    /// large enough to explain a failure.
    pub fn shows_kink(&self, finer: &[Coordinate], max_error: f64) -> bool {
        let counts = |a: f64, b: f64, noise: f64| {
            let d = (a - b).abs();
            d.is_finite()
                && d > KINK_SIGNIFICANCE * noise
                && d > max_error * a.abs().max(b.abs()).max(self.floor)
        };
        let one_sided = |c: &Coordinate| counts(c.forward, c.backward, 2.0 * c.noise);
        one_sided(self)
            || finer
                .iter()
                .any(|f| one_sided(f) || counts(self.central, f.central, self.noise + f.noise))
    }
}

/// The outcome of one loss.
#[derive(Debug, Clone, PartialEq)]
pub struct LossReport {
    /// The loss checked.
    pub loss: Loss,
    /// Coordinates checked, kinks included.
    pub checked: usize,
    /// Coordinates left out as kinks (see the module docs).
    pub kinks: usize,
    /// The median over samples of their finite-difference noise relative to their largest
    /// analytic component: the finest detail the finite differences resolve.
    pub noise: f64,
    /// Compared coordinates (kinks aside) whose error exceeds the tolerance's `max`.
    pub outliers: usize,
    /// The largest relative error (kinks aside); infinite if a value was NaN.
    pub max_error: f64,
    /// The median relative error (kinks aside).
    pub median_error: f64,
    /// The coordinate with the largest error, if any was compared.
    pub worst: Option<Coordinate>,
    /// Whether the median error and the outliers are within the tolerance and at most
    /// [`MAX_KINK_FRACTION`] of the coordinates are kinks.
    pub passed: bool,
}

/// Judges the coordinates checked for `loss`.
pub fn judge(loss: Loss, coordinates: &[Coordinate], tolerance: Tolerance) -> LossReport {
    let mut kinks = 0;
    let mut errors = Vec::with_capacity(coordinates.len());
    let mut worst: Option<(f64, Coordinate)> = None;
    for c in coordinates {
        if c.kink {
            kinks += 1;
            continue;
        }
        let error = c.error();
        if worst.is_none_or(|(w, _)| error > w) {
            worst = Some((error, *c));
        }
        errors.push(error);
    }
    errors.sort_by(f64::total_cmp);
    let max_error = errors.last().copied().unwrap_or(0.0);
    let median_error = median(&errors);
    let outliers = errors.iter().filter(|&&e| e > tolerance.max).count();
    let allowed = (tolerance.outliers * errors.len() as f64).floor() as usize;
    // One noise value per sample, at its first step, where it is smallest.
    let mut per_sample: BTreeMap<usize, f64> = BTreeMap::new();
    for c in coordinates.iter().filter(|c| c.scale > 0.0) {
        let relative = c.noise / c.scale;
        let entry = per_sample.entry(c.sample).or_insert(relative);
        *entry = entry.min(relative);
    }
    let mut noise: Vec<f64> = per_sample.into_values().collect();
    noise.sort_by(f64::total_cmp);
    LossReport {
        loss,
        checked: coordinates.len(),
        kinks,
        noise: median(&noise),
        outliers,
        max_error,
        median_error,
        worst: worst.map(|(_, c)| c),
        passed: median_error <= tolerance.median
            && outliers <= allowed
            && !too_many_kinks(kinks, coordinates.len()),
    }
}

/// Whether more than [`MAX_KINK_FRACTION`] of `checked` coordinates are kinks.
fn too_many_kinks(kinks: usize, checked: usize) -> bool {
    kinks as f64 > MAX_KINK_FRACTION * checked as f64
}

/// The median of sorted values (0 for none).
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Samples checked.
    pub samples: usize,
    /// Coordinates per sample image.
    pub size: usize,
    /// The settings it ran with.
    pub settings: Settings,
    /// One report per loss, in [`Loss::ALL`] order.
    pub losses: Vec<LossReport>,
    /// Forward images evaluated for the finite differences.
    pub queries: u64,
}

impl Report {
    /// Whether every loss passed.
    pub fn passed(&self) -> bool {
        self.losses.iter().all(|l| l.passed)
    }

    /// The losses that failed, by name.
    pub fn failed(&self) -> Vec<&'static str> {
        self.losses
            .iter()
            .filter(|l| !l.passed)
            .map(|l| l.loss.name())
            .collect()
    }
}

impl fmt::Display for Report {
    /// The table: one row per loss, a line per failing loss's worst coordinate, then the
    /// overall verdict.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.settings.tolerance;
        writeln!(
            f,
            "{:<16}  {:>11}  {:>5}  {:>8}  {:>8}  {:>9}  {:>12}  verdict",
            "loss",
            "coordinates",
            "kinks",
            "fd noise",
            format!("> {:.0e}", t.max),
            "max error",
            "median error"
        )?;
        for l in &self.losses {
            writeln!(
                f,
                "{:<16}  {:>11}  {:>5}  {:>8.1e}  {:>8}  {:>9.2e}  {:>12.2e}  {}",
                l.loss.name(),
                l.checked,
                l.kinks,
                l.noise,
                l.outliers,
                l.max_error,
                l.median_error,
                verdict(l.passed)
            )?;
        }
        for l in self.losses.iter().filter(|l| l.noise > UNRESOLVED_NOISE) {
            writeln!(
                f,
                "{}: the finite differences resolve only {:.1e} of the gradient's scale: errors \
                 below that go unseen (a larger --step resolves more)",
                l.loss.name(),
                l.noise
            )?;
        }
        for l in self.losses.iter().filter(|l| !l.passed) {
            if too_many_kinks(l.kinks, l.checked) {
                writeln!(
                    f,
                    "{}: {} of {} coordinates are kinks, more than {:.0}%: a smaller --step \
                     crosses fewer",
                    l.loss.name(),
                    l.kinks,
                    l.checked,
                    100.0 * MAX_KINK_FRACTION
                )?;
            }
            let errors_fail = l.outliers > 0 || l.median_error > t.median;
            if let Some(c) = l.worst.filter(|_| errors_fail) {
                writeln!(
                    f,
                    "worst {}: sample {} coordinate {}: analytic {:.6e}, finite difference {:.6e}",
                    l.loss.name(),
                    c.sample,
                    c.index,
                    c.analytic,
                    c.central
                )?;
            }
        }
        writeln!(
            f,
            "gradcheck: {} (median error <= {:.0e}, at most {}% of errors > {:.0e})",
            verdict(self.passed()),
            t.median,
            100.0 * t.outliers,
            t.max
        )
    }
}

fn verdict(passed: bool) -> &'static str {
    if passed {
        "pass"
    } else {
        "fail"
    }
}

/// Progress of the finite differences, in forward images.
pub trait Progress: Sync {
    /// The finite differences are about to evaluate `total` images.
    fn start(&self, _total: u64) {}
    /// `images` more were evaluated.
    fn advance(&self, _images: u64) {}
    /// `images` more will be evaluated than announced by `start`.
    fn grow(&self, _images: u64) {}
}

/// No progress reporting.
impl Progress for () {}

/// Every coordinate a check compared, per loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurements {
    /// Samples checked.
    pub samples: usize,
    /// Coordinates per sample image.
    pub size: usize,
    /// Per loss, in [`Loss::ALL`] order, the coordinates compared, sample by sample.
    pub coordinates: Vec<Vec<Coordinate>>,
    /// Forward images evaluated for the finite differences.
    pub queries: u64,
}

/// Checks `model`'s input gradients on `images` `(n, c, h, w)` with one label per image:
/// [`measure`], then [`judge`] per loss.
pub fn run<M: Differentiable + ?Sized>(
    model: &M,
    images: ArrayView4<f32>,
    labels: &[usize],
    settings: &Settings,
    progress: &dyn Progress,
) -> Result<Report> {
    let measured = measure(model, images, labels, settings, progress)?;
    let losses = Loss::ALL
        .iter()
        .zip(&measured.coordinates)
        .map(|(&loss, coordinates)| judge(loss, coordinates, settings.tolerance))
        .collect();
    Ok(Report {
        samples: measured.samples,
        size: measured.size,
        settings: *settings,
        losses,
        queries: measured.queries,
    })
}

/// Compares analytic and finite-difference gradients of every [`Loss`] at the coordinates
/// [`choose`] picks per sample of the dithered images, without judging them.
pub fn measure<M: Differentiable + ?Sized>(
    model: &M,
    images: ArrayView4<f32>,
    labels: &[usize],
    settings: &Settings,
    progress: &dyn Progress,
) -> Result<Measurements> {
    let n = images.shape()[0];
    let size: usize = images.shape()[1..].iter().product();
    let classes = model.classes();
    check_settings(settings)?;
    if labels.len() != n {
        return Err(Error::Internal {
            message: format!("{} labels for {n} images", labels.len()),
        });
    }
    if classes < 2 {
        return Err(Error::Usage {
            message: format!("gradcheck needs a model with at least 2 classes, not {classes}"),
            hint: None,
        });
    }
    if let Some((i, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(Error::Usage {
            message: format!(
                "label {label} of sample {i} is out of range for a model with {classes} classes"
            ),
            hint: Some("check the data against the model it was made for".into()),
        });
    }

    let images = dither(images, settings.dither, settings.seed);
    let images = images.view();
    let logits = model.logits(images)?;
    let targets: Vec<Target> = labels
        .iter()
        .enumerate()
        .map(|(i, &label)| Target::of(logits.row(i), label))
        .collect();

    // Analytic gradients, one VJP per loss over the whole batch.
    let mut analytic = Vec::with_capacity(Loss::ALL.len());
    for loss in Loss::ALL {
        let mut seed = Array2::<f32>::zeros((n, classes));
        for (i, mut row) in seed.axis_iter_mut(Axis(0)).enumerate() {
            for (slot, v) in row.iter_mut().zip(loss.seed(logits.row(i), targets[i])) {
                *slot = v as f32;
            }
        }
        let (_, grads) = model.vjp(images, seed.view())?;
        analytic.push(grads);
    }

    // Coordinates per sample and loss, and their union per sample: one set of perturbed
    // forward passes serves all three losses.
    let k = settings.coords.of(size);
    let chosen: Vec<Vec<Vec<usize>>> = (0..n)
        .map(|i| {
            (0..Loss::ALL.len())
                .map(|l| {
                    let grad: Vec<f32> =
                        analytic[l].index_axis(Axis(0), i).iter().copied().collect();
                    let stream = (i * Loss::ALL.len() + l) as u64;
                    choose(&grad, k, settings.seed, stream)
                })
                .collect()
        })
        .collect();
    let unions: Vec<Vec<usize>> = chosen
        .iter()
        .map(|per_loss| {
            let set: BTreeSet<usize> = per_loss.iter().flatten().copied().collect();
            set.into_iter().collect()
        })
        .collect();
    progress.start(unions.iter().map(|u| 2 * u.len() as u64).sum());

    let per_sample: Vec<(Vec<Vec<Coordinate>>, u64)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let sample = Sample {
                index: i,
                image: images.index_axis(Axis(0), i),
                grads: analytic
                    .iter()
                    .map(|g| g.index_axis(Axis(0), i).iter().copied().collect())
                    .collect(),
                logits: logits.row(i),
                target: targets[i],
            };
            sample.compare(model, &unions[i], &chosen[i], settings, progress)
        })
        .collect::<Result<_>>()?;
    let queries = per_sample.iter().map(|(_, q)| q).sum();

    let coordinates = (0..Loss::ALL.len())
        .map(|l| {
            per_sample
                .iter()
                .flat_map(|(per_loss, _)| per_loss[l].iter().copied())
                .collect()
        })
        .collect();
    Ok(Measurements {
        samples: n,
        size,
        coordinates,
        queries,
    })
}

/// Rejects settings no check can run with.
fn check_settings(settings: &Settings) -> Result<()> {
    if let Coords::Count(0) = settings.coords {
        return Err(Error::Usage {
            message: "gradcheck needs at least one coordinate per sample".into(),
            hint: None,
        });
    }
    if !(settings.step.is_finite() && settings.step > 0.0) {
        return Err(Error::Usage {
            message: format!("step {} is not a positive number", settings.step),
            hint: Some(format!("the default step is {DEFAULT_STEP}")),
        });
    }
    if !(settings.dither.is_finite() && settings.dither >= 0.0) {
        return Err(Error::Usage {
            message: format!("dither {} is not a number >= 0", settings.dither),
            hint: Some(format!("the default dither is {DEFAULT_DITHER}")),
        });
    }
    Ok(())
}

/// `images` moved by seeded uniform amounts in `[-dither, dither]` (a copy when 0).
fn dither(images: ArrayView4<f32>, dither: f32, seed: u64) -> Array4<f32> {
    if dither == 0.0 {
        return images.to_owned();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(DITHER_STREAM);
    let mut out = images.to_owned();
    // Logical order, so that the result does not depend on the memory layout.
    for v in out.iter_mut() {
        *v += rng.gen_range(-dither..=dither);
    }
    out
}

/// What one sample's comparison reads.
struct Sample<'a> {
    index: usize,
    image: ArrayView3<'a, f32>,
    /// The analytic gradient per loss, flattened.
    grads: Vec<Vec<f32>>,
    logits: ArrayView1<'a, f32>,
    target: Target,
}

/// The loss values of one probe: per probed coordinate, `L(x+h)`, `L(x-h)` and the steps
/// actually taken up and down.
struct Values {
    probe_coords: Vec<usize>,
    rows: Vec<(f64, f64, f64, f64)>,
}

impl Values {
    fn of(loss: Loss, probe: &Probe, target: Target) -> Values {
        let rows = (0..probe.coords.len())
            .map(|p| {
                let up = loss.value(probe.plus.row(p), target);
                let down = loss.value(probe.minus.row(p), target);
                (up, down, probe.step_plus[p], probe.step_minus[p])
            })
            .collect();
        Values {
            probe_coords: probe.coords.clone(),
            rows,
        }
    }

    fn get(&self, j: usize) -> Option<(f64, f64, f64, f64)> {
        let p = self.probe_coords.binary_search(&j).ok()?;
        self.rows.get(p).copied()
    }
}

impl Sample<'_> {
    /// Per loss, the coordinates `chosen[loss]` compared, probing `union` (their union) at
    /// the settings' step, and the failing ones again at smaller steps to look for kinks;
    /// also returns the forward passes spent.
    fn compare<M: Differentiable + ?Sized>(
        &self,
        model: &M,
        union: &[usize],
        chosen: &[Vec<usize>],
        settings: &Settings,
        progress: &dyn Progress,
    ) -> Result<(Vec<Vec<Coordinate>>, u64)> {
        let tolerance = settings.tolerance;
        let losses = Loss::ALL.len();
        let scales: Vec<f64> = self
            .grads
            .iter()
            .map(|g| g.iter().fold(0f64, |m, &v| m.max(f64::from(v).abs())))
            .collect();
        let at_x: Vec<f64> = Loss::ALL
            .iter()
            .map(|loss| loss.value(self.logits, self.target))
            .collect();

        let probe = central_probe(model, self.image, union, settings.step, FD_BATCH)?;
        let mut queries = 2 * union.len() as u64;
        progress.advance(queries);
        let base: Vec<Values> = Loss::ALL
            .iter()
            .map(|&loss| Values::of(loss, &probe, self.target))
            .collect();
        let noise: Vec<f64> = Loss::ALL
            .iter()
            .enumerate()
            .map(|(l, &loss)| {
                let seed = loss.seed(self.logits, self.target);
                let finest = resolution(&seed, self.logits, settings.step);
                noise(&base[l].rows, at_x[l]).max(finest)
            })
            .collect();
        // The coordinate for loss `l` at step `h`, its noise scaled from the first step's.
        let at = |l: usize, values: &Values, j: usize, h: f32| -> Option<Coordinate> {
            let nu = noise[l] * f64::from(settings.step) / f64::from(h);
            let floor = (tolerance.floor * scales[l]).max(tolerance.noise * nu);
            let (up, down, hp, hm) = values.get(j)?;
            Some(Coordinate {
                sample: self.index,
                index: j,
                analytic: f64::from(*self.grads[l].get(j)?),
                central: (up - down) / (hp + hm),
                forward: (up - at_x[l]) / hp,
                backward: (at_x[l] - down) / hm,
                step: f64::from(h),
                kink: false,
                scale: scales[l],
                noise: nu,
                floor,
            })
        };
        let mut per_loss: Vec<Vec<Coordinate>> = (0..losses)
            .map(|l| {
                chosen[l]
                    .iter()
                    .filter_map(|&j| at(l, &base[l], j, settings.step))
                    .collect()
            })
            .collect();

        let failing: BTreeSet<usize> = per_loss
            .iter()
            .flatten()
            .filter(|c| c.error() > tolerance.max)
            .map(|c| c.index)
            .collect();
        if failing.is_empty() {
            return Ok((per_loss, queries));
        }
        let failing: Vec<usize> = failing.into_iter().collect();
        let mut finer: Vec<(f32, Vec<Values>)> = Vec::with_capacity(REFINE_DIVISORS.len());
        progress.grow(2 * (failing.len() * REFINE_DIVISORS.len()) as u64);
        for divisor in REFINE_DIVISORS {
            let h = settings.step / divisor;
            let probe = central_probe(model, self.image, &failing, h, FD_BATCH)?;
            queries += 2 * failing.len() as u64;
            progress.advance(2 * failing.len() as u64);
            let values = Loss::ALL
                .iter()
                .map(|&loss| Values::of(loss, &probe, self.target))
                .collect();
            finer.push((h, values));
        }
        for (l, coordinates) in per_loss.iter_mut().enumerate() {
            for c in coordinates.iter_mut().filter(|c| c.error() > tolerance.max) {
                let refined: Vec<Coordinate> = finer
                    .iter()
                    .filter_map(|(h, values)| at(l, &values[l], c.index, *h))
                    .collect();
                c.kink = c.shows_kink(&refined, tolerance.max);
            }
        }
        Ok((per_loss, queries))
    }
}

/// The finest central difference that f32 logits `z` can show for a loss with seed
/// `dL/dz` at step `h`: `max_k |dL/dz_k| ulp(z_k) / 2h`, one logit moving by one unit in the
/// last place. A gradient below it leaves every logit unchanged (the finite difference is
/// exactly 0) and measured second differences are 0 too, so without this bound the noise
/// would read 0 and a correct gradient would fail against an unresolved difference.
fn resolution(seed: &[f64], z: ArrayView1<f32>, h: f32) -> f64 {
    let ulp = |v: f32| {
        let a = v.abs();
        if a.is_finite() {
            f64::from(f32::from_bits(a.to_bits() + 1) - a)
        } else {
            0.0
        }
    };
    let largest = seed
        .iter()
        .zip(z.iter())
        .map(|(s, &v)| s.abs() * ulp(v))
        .fold(0.0, f64::max);
    largest / (2.0 * f64::from(h))
}

/// The finite-difference noise of a sample: the median over the probed coordinates of
/// `|L(x+h) - 2 L(x) + L(x-h)| / 2h` (see the module docs). The median ignores the few
/// coordinates whose step crosses a kink.
fn noise(values: &[(f64, f64, f64, f64)], at_x: f64) -> f64 {
    let mut second: Vec<f64> = values
        .iter()
        .map(|&(up, down, hp, hm)| (up - 2.0 * at_x + down).abs() / (hp + hm))
        .filter(|v| v.is_finite())
        .collect();
    second.sort_by(f64::total_cmp);
    median(&second)
}

/// `k` distinct coordinates of a gradient: the `ceil(k/2)` largest in magnitude (ties to
/// the lower index), then `floor(k/2)` drawn uniformly from the others with RNG stream
/// `stream` of `seed`.
pub fn choose(grad: &[f32], k: usize, seed: u64, stream: u64) -> Vec<usize> {
    let k = k.min(grad.len());
    let mut order: Vec<usize> = (0..grad.len()).collect();
    order.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()).then(a.cmp(&b)));
    let top = k - k / 2;
    let (largest, rest) = order.split_at(top);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut picked = largest.to_vec();
    picked.extend(
        rand::seq::index::sample(&mut rng, rest.len(), k / 2)
            .into_iter()
            .map(|r| rest[r]),
    );
    picked
}

#[cfg(test)]
mod tests;
