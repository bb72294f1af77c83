//! One module per subcommand; `run` dispatches.

mod init;

use robustaudit_train::error::Result;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init(args) => init::run(&args),
    }
}
