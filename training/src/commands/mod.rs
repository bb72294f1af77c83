//! One module per subcommand; `run` dispatches.

mod chain;
mod init;
mod train;

use robustaudit_train::error::Result;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init(args) => init::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Chain(args) => chain::run(&args),
    }
}

/// Intra-op threads: the flag, or every core.
fn threads(flag: Option<usize>) -> usize {
    flag.filter(|&t| t > 0).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    })
}

/// Loads a split, keeping the first `samples` images when `samples > 0`.
fn load_split(
    spec: &str,
    split: robustaudit::data::Split,
    samples: usize,
) -> robustaudit_train::error::Result<robustaudit::data::Dataset> {
    let data = robustaudit::data::load(spec, split).map_err(robustaudit::error::Error::from)?;
    Ok(if samples > 0 {
        data.subset(samples)
    } else {
        data
    })
}
