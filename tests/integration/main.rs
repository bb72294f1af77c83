//! End-to-end tests of the `robustaudit` binary and of the library on the datasets that
//! `scripts/setup` installs.

mod audit;
mod bench;
mod datasets;
mod fixtures;
mod gradcheck;
mod hostile;
mod hostile_names;
mod image_folder;
mod inspect;
mod out_folder;
mod pipes;
mod report;
mod shard;
mod tract;

pub use robustaudit_graph::fixtures::{network, Run};

/// Runs `robustaudit` with `args` (see `robustaudit_graph::fixtures::run` for what every
/// run is checked for).
pub fn robustaudit(args: &[&std::ffi::OsStr]) -> Run {
    robustaudit_graph::fixtures::run(env!("CARGO_BIN_EXE_robustaudit"), args)
}
