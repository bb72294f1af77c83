//! `robustaudit-train init`: the untrained network of a spec, written as ONNX.

use robustaudit::error::Error;
use robustaudit_graph::arch::{forward_graph, ArchSpec};
use robustaudit_train::error::Result;

use crate::cli::InitArgs;

/// Builds the spec's forward graph with seeded weights and writes it atomically.
pub fn run(args: &InitArgs) -> Result<()> {
    let spec = ArchSpec::from_file(&args.arch)?;
    let mut model = forward_graph(&spec, args.seed, args.out.clone()).map_err(Error::from)?;
    model.set_metadata("role", "init");
    model.write(&args.out).map_err(|source| Error::Write {
        path: args.out.clone(),
        source,
    })?;
    eprintln!(
        "wrote {} ({}, {} trainable parameters, seed {})",
        args.out.display(),
        spec.name,
        spec.trainable_parameters(),
        args.seed
    );
    Ok(())
}
