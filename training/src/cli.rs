//! The command-line interface of `robustaudit-train`: clap structures only; their doc
//! comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use robustaudit::error::EXIT_CODES_HELP;

/// Train teachers, assistants and distilled students on ONNX Runtime and export them as ONNX.
#[derive(Debug, Parser)]
#[command(name = "robustaudit-train", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the untrained network of an architecture spec as an ONNX graph.
    Init(InitArgs),
}

/// Arguments of `robustaudit-train init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The architecture spec (e.g. models/arch/mnist-paper.toml).
    #[arg(long)]
    pub arch: PathBuf,
    /// Seed of the weight initialisation; the same seed gives the same file.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the ONNX graph.
    #[arg(long)]
    pub out: PathBuf,
}
