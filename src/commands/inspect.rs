//! `robustaudit inspect`: a model's summary on stdout.

use robustaudit::error::Result;
use robustaudit::onnx::{ModelSummary, OnnxModel};

use crate::cli::InspectArgs;

/// Validates the model, infers its shapes with tract and prints its summary.
pub fn run(args: &InspectArgs) -> Result<()> {
    let model = OnnxModel::open(&args.model)?;
    let summary = ModelSummary::of(&model)?;
    print!("{summary}");
    Ok(())
}
