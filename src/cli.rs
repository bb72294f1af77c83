//! The command-line interface of `robustaudit`: clap structures only; their doc comments
//! are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use robustaudit::data::Split;
use robustaudit::error::EXIT_CODES_HELP;
use robustaudit::gradcheck::Coords;

/// Audit the adversarial robustness of ONNX image classifiers on the CPU.
#[derive(Debug, Parser)]
#[command(name = "robustaudit", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a model's inputs, outputs, op counts, parameters, FLOPs, metadata and logits.
    Inspect(InspectArgs),
    /// Check a model's analytic input gradients against finite differences of its forward
    /// passes.
    ///
    /// For each sample and three losses on its logits z (cross-entropy against the label, the
    /// logit difference z_label - z_other against the strongest other class, and the sum of
    /// the logits), compares the input gradient from the model's VJP graph with central
    /// finite differences (L(x + h e_j) - L(x - h e_j)) / 2h of the loss, computed in f64 from
    /// forward passes of the unmodified model. Per sample and loss it checks K coordinates:
    /// half with the largest analytic gradient, half drawn at random (seeded).
    ///
    /// Relative error per coordinate: |g_a - g_fd| / max(|g_a|, |g_fd|, floor), the floor being
    /// the larger of 1e-3 times the sample's largest analytic component and 200 times the
    /// sample's finite-difference noise nu (the median of |L(x+h) - 2 L(x) + L(x-h)| / 2h,
    /// which for a ReLU network is f32 rounding alone; "fd noise" in the report is nu over
    /// the largest component). A loss passes when the median error is at most 1e-2 and at
    /// most 1% of the errors (none below 100 coordinates) exceed 5e-2.
    ///
    /// ReLU and max-pool kinks lie a few 1e-4 apart along a pixel of a convolutional
    /// network. A failing coordinate is probed again at h/3 and h/10 and left out as a kink
    /// when the finite differences themselves show that the loss bends within the step
    /// (one-sided differences that disagree, or a central difference that changes with the
    /// step, beyond 4 times their noise); a loss fails if more than 25% of its coordinates
    /// are kinks. The images are first moved by a seeded dither, since flat regions give
    /// max-pool ties where the loss has no gradient.
    ///
    /// Exit code 7 when a loss fails.
    Gradcheck(GradcheckArgs),
}

/// Arguments of `robustaudit inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX model file.
    pub model: PathBuf,
}

/// Arguments of `robustaudit gradcheck`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct GradcheckArgs {
    /// The ONNX model file.
    pub model: PathBuf,
    /// The dataset: mnist, fashion-mnist, digits, cifar10:<dir>, or a .npy batch (without a
    /// <stem>.labels.npy beside it, the model's own predictions serve as labels).
    #[arg(long)]
    pub data: String,
    /// Which part of the dataset (ignored for .npy): train or test.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// How many samples to check, from the start of the split.
    #[arg(long, default_value_t = 32, value_parser = positive_usize)]
    pub samples: usize,
    /// Seed of the dither and of the random coordinates; the same seed gives the same
    /// report.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Coordinates checked per sample and loss, or `all` (two forward passes each).
    #[arg(long, default_value = "32")]
    pub coords: Coords,
    /// Finite-difference step h, in the [-0.5, 0.5] input scale. f32 rounding noise falls
    /// as 1/h while steps across ReLU and max-pool kinks grow with h; 3e-4 balances the two
    /// on convolutional networks (failing coordinates are probed again at h/3 and h/10).
    #[arg(long, default_value_t = robustaudit::gradcheck::DEFAULT_STEP, value_parser = positive_f32)]
    pub step: f32,
    /// Largest seeded dither added to each pixel before checking (0: none), in the input
    /// scale; it should stay well above --step.
    #[arg(long, default_value_t = robustaudit::gradcheck::DEFAULT_DITHER, value_parser = non_negative_f32)]
    pub dither: f32,
}

/// A whole number of at least 1.
fn positive_usize(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

/// A finite number above 0.
fn positive_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

/// A finite number of at least 0.
fn non_negative_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number of at least 0")),
    }
}
