//! `robustaudit inspect`: a model's summary on stdout.

use robustaudit::error::Result;
use robustaudit::grad::{straight_through, vjp_graph};
use robustaudit::onnx::{ModelSummary, OnnxModel};

use crate::cli::InspectArgs;
use robustaudit::outln;
use robustaudit::stdout::Stdout;

/// Validates the model, infers its shapes with tract and prints its summary, ending with
/// how attacks will get gradients: an exact VJP graph, a straight-through one (quantized
/// models) and why, or finite differences and why.
pub fn run(args: &InspectArgs) -> Result<()> {
    let model = OnnxModel::open(&args.model)?;
    let summary = ModelSummary::of(&model)?;
    let mut out = Stdout::new();
    out.print(format_args!("{summary}"))?;
    match vjp_graph(&model) {
        Ok(vjp) => match straight_through(&vjp) {
            Some(reason) => outln!(
                out,
                "gradients   straight-through: vjp graph of {} nodes; {reason}",
                vjp.node_count()
            )?,
            None => outln!(
                out,
                "gradients   exact: vjp graph of {} nodes",
                vjp.node_count()
            )?,
        },
        Err(e) => outln!(out, "gradients   finite differences: {e}")?,
    }
    out.finish()
}
