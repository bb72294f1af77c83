//! `robustaudit inspect`: a model's summary on stdout.

use robustaudit::error::Result;
use robustaudit::model::GradientSource;
use robustaudit::tract::ModelSummary;
use robustaudit_graph::onnx::OnnxModel;
use robustaudit_graph::printable::printable;

use crate::cli::InspectArgs;
use robustaudit::outln;
use robustaudit::stdout::Stdout;

/// Validates the model, infers its shapes with tract and prints its summary, ending with
/// how attacks will get gradients, decided as `audit` decides it: an exact VJP graph, a
/// straight-through one (quantized models) and why, or finite differences and why (no
/// backward rule, or a VJP graph that disagrees with the forward pass).
pub fn run(args: &InspectArgs) -> Result<()> {
    let model = OnnxModel::open(&args.model)?;
    let summary = ModelSummary::of(&model)?;
    let mut out = Stdout::new();
    out.print(format_args!("{summary}"))?;
    let source = GradientSource::new(model)?;
    let line = match (&source, source.kind()) {
        (GradientSource::Exact(m), (kind, reason)) => {
            let nodes = m.vjp_model().node_count();
            if reason.is_empty() {
                format!("{kind}: vjp graph of {nodes} nodes")
            } else {
                format!("{kind}: vjp graph of {nodes} nodes; {reason}")
            }
        }
        (GradientSource::FiniteDifference { .. }, (_, reason)) => {
            format!("finite differences: {reason}")
        }
    };
    outln!(out, "gradients   {}", printable(&line))?;
    out.finish()
}
