//! Where tract spends a compiled plan's time: every node's evaluation timed over a few
//! runs of one batch and summed per op kind (tract's own op names after optimisation, e.g.
//! `Im2col`, `OptMatMul`, `MaxPool`), for `robustaudit bench --profile`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{EvalContext, OpState};
use tract_onnx::tract_core::plan::{eval, SimpleState};

use robustaudit_graph::onnx::tract::guard_run;
use robustaudit_graph::onnx::OnnxError;

/// The time tract spent in one kind of op.
#[derive(Debug, Clone, PartialEq)]
pub struct OpTime {
    /// tract's name of the op after optimisation.
    pub op: String,
    /// How many nodes of the plan are of this kind.
    pub nodes: usize,
    /// Seconds spent in these nodes over all the runs.
    pub seconds: f64,
}

/// Runs `plan` `runs` times on each of `inputs` (one thread, one state reused across the
/// runs, as a batch chunk runs) and returns the time per op kind, largest first.
pub(super) fn profile_plan(
    path: &Path,
    plan: &Arc<TypedSimplePlan>,
    inputs: &[TVec<TValue>],
    runs: usize,
) -> Result<Vec<OpTime>, OnnxError> {
    let nodes = plan.model().nodes().len();
    let mut seconds = vec![0f64; nodes];
    guard_run(path, || {
        let mut state = SimpleState::new(plan)?;
        for inputs in (0..runs).flat_map(|_| inputs) {
            state.run_plan_with_eval(
                inputs.clone(),
                |ctx: &EvalContext,
                 op_state: Option<&mut (dyn OpState + 'static)>,
                 node: &TypedNode,
                 values: TVec<TValue>| {
                    let start = Instant::now();
                    let outputs = eval(ctx, op_state, node, values);
                    seconds[node.id] += start.elapsed().as_secs_f64();
                    outputs
                },
            )?;
        }
        Ok(())
    })?;
    let mut kinds: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for &id in plan.order_without_consts() {
        let node = plan.model().node(id);
        if node.inputs.is_empty() {
            // The plan's inputs: nothing is computed there.
            continue;
        }
        let kind = kinds.entry(node.op().name().to_string()).or_default();
        kind.0 += 1;
        kind.1 += seconds[id];
    }
    let mut times: Vec<OpTime> = kinds
        .into_iter()
        .map(|(op, (nodes, seconds))| OpTime { op, nodes, seconds })
        .collect();
    times.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then(a.op.cmp(&b.op)));
    Ok(times)
}
