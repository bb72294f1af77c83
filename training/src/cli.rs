//! The command-line interface of `robustaudit-train`: clap structures only; their doc
//! comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use robustaudit::exit_code;
use robustaudit_train::runtime::Device;

/// Train teachers, assistants and distilled students on ONNX Runtime and export them as ONNX.
#[derive(Debug, Parser)]
#[command(name = "robustaudit-train", version, after_help = exit_code::help())]
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
    /// Train one network (a teacher on hard labels, or a child on a parent's soft labels)
    /// and export it as ONNX; rerunning the same command resumes it.
    Train(TrainArgs),
    /// Train the teacher-assistant chains of a configuration at each of its temperatures
    /// and export every network; rerunning the same command resumes it.
    Chain(ChainArgs),
}

/// Where training runs.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// ONNX Runtime's execution provider: cpu, or cuda (never falls back to the cpu).
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,
    /// Intra-op threads of ONNX Runtime (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Arguments of `robustaudit-train train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The architecture spec (e.g. models/arch/mnist-paper.toml).
    #[arg(long)]
    pub arch: PathBuf,
    /// The dataset: mnist, fashion-mnist, digits, cifar10:<dir>, or a .npy file.
    #[arg(long)]
    pub data: String,
    /// The training temperature T.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Passes over the training set.
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Base learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f32,
    /// The optimiser: sgd or adam.
    #[arg(long, default_value = "sgd")]
    pub optimizer: String,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Use classical instead of Nesterov momentum.
    #[arg(long)]
    pub no_nesterov: bool,
    /// Learning-rate decay per step: lr / (1 + decay * step).
    #[arg(long, default_value_t = 1e-6)]
    pub lr_decay: f32,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Distil from this parent network: train on its soft labels at the temperature.
    #[arg(long)]
    pub parent: Option<PathBuf>,
    /// Start from this network's weights (built from the same spec) instead of seeded ones.
    #[arg(long, value_name = "MODEL.onnx")]
    pub init: Option<PathBuf>,
    /// With --parent, mix in the hard labels: (1 - lambda) CE + lambda T^2 KL.
    #[arg(long, default_value_t = 0.0)]
    pub lambda: f32,
    /// The network's role, naming its file <role>-T<temperature>.onnx (default: teacher,
    /// or student with --parent).
    #[arg(long)]
    pub role: Option<String>,
    /// Train on the first N training images only (0: all).
    #[arg(long, default_value_t = 0)]
    pub train_samples: usize,
    /// Evaluate on the first N test images only (0: all).
    #[arg(long, default_value_t = 0)]
    pub test_samples: usize,
    /// Seeds the initial weights, the shuffling and the dropout masks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Where training runs.
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Arguments of `robustaudit-train chain`.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// The chain configuration (e.g. models/chains/mnist-paper.toml).
    #[arg(long)]
    pub config: PathBuf,
    /// The output folder (default: models/runs/<the configuration's name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the configuration's epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Where training runs.
    #[command(flatten)]
    pub device: DeviceArgs,
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_cli_reference_is_the_help_the_binary_prints() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cli-train.md");
        robustaudit::generated_docs::check_cli_reference(super::Cli::command(), &path)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
