//! One module per subcommand; `run` dispatches.

mod attacks;
mod audit;
mod bench;
mod dataset;
mod gradcheck;
mod inspect;
mod merge;
mod report;
mod schema;

use robustaudit::error::Result;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Gradcheck(args) => gradcheck::run(&args),
        Command::Audit(args) => audit::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Attacks => attacks::run(),
        Command::Schema => schema::run(),
        Command::Report(args) => report::run(&args),
    }
}
