//! One module per subcommand; `run` dispatches.

mod gradcheck;
mod inspect;

use robustaudit::error::Result;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Gradcheck(args) => gradcheck::run(&args),
    }
}
