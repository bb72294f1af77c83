//! The command-line interface of `robustaudit`: clap structures only; their doc comments
//! are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  internal error, or an output that could not be written
  2  bad command line
  3  bad or missing dataset
  4  bad model file (malformed, truncated, unsupported op, no image input, unsafe reference)
  5  missing dependency (run scripts/setup)
  6  bad architecture spec or configuration";

/// Audit the adversarial robustness of ONNX image classifiers on the CPU.
#[derive(Debug, Parser)]
#[command(name = "robustaudit", version, after_help = EXIT_CODES)]
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
}

/// Arguments of `robustaudit inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX model file.
    pub model: PathBuf,
}
