//! Reductions: ReduceMean, ReduceSum, ReduceMax and ReduceMin, with the axes as an attribute
//! (ReduceMean/Max/Min before opset 18) or as an input (ReduceSum from opset 13, the others
//! from 18), either absent (every axis, or none with `noop_with_empty_axes`).

use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Node};

/// ONNX's `to` value for 32-bit floats in `Cast`.
const FLOAT: i64 = 1;

/// What a reduction computes.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sum,
    Mean,
    Extreme,
}

/// `dx = expand(g)`.
pub(super) fn reduce_sum(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    reduce(ctx, node, out, Kind::Sum)
}

/// `dx = expand(g) / n`, where `n` is the number of elements averaged into each output (the
/// ratio of the input's and the output's sizes, so it follows the batch size).
pub(super) fn reduce_mean(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    reduce(ctx, node, out, Kind::Mean)
}

/// `dx = expand(g)` at the elements equal to the reduced extreme, split evenly between ties
/// (as PyTorch's amax/amin), 0 elsewhere.
pub(super) fn reduce_extreme(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    reduce(ctx, node, out, Kind::Extreme)
}

fn reduce(ctx: &mut Ctx, node: &Node, out: &[Option<String>], kind: Kind) -> Grads {
    let g = only(out)?.to_string();
    let x = node.inputs[0].clone();
    let y = node.outputs[0].clone();
    let axes_input = node.inputs.get(1).filter(|a| !a.is_empty()).cloned();
    if axes_input.as_ref().is_some_and(|a| ctx.needs(a)) {
        return Err("reduction axes computed from the input are not supported".into());
    }
    // The reduced axes as a tensor, where the rule needs them and they exist.
    let axes = match (axes_input, node.ints("axes")) {
        (Some(a), _) => Some(a),
        (None, Some(a)) => Some(ctx.ints(a)),
        (None, None) => None,
    };
    let (rank_in, rank_out) = (ctx.rank(&x)?, ctx.rank(&y)?);
    // With keepdims = 0 the reduced axes are reinserted, unless every axis (rank 0 out) or
    // none (a no-op) was reduced.
    let keep = |ctx: &mut Ctx, t: &str| -> Result<String, String> {
        if rank_out == rank_in || rank_out == 0 {
            return Ok(t.to_string());
        }
        let axes = axes.as_deref().ok_or("a partial reduction without axes")?;
        Ok(ctx.emit("Unsqueeze", &[t, axes], vec![]))
    };
    let kept = keep(ctx, &g)?;
    let shape = ctx.emit("Shape", &[&x], vec![]);
    let spread = ctx.emit("Expand", &[&kept, &shape], vec![]);
    let dx = match kind {
        Kind::Sum => spread,
        Kind::Mean => {
            let size_of = |ctx: &mut Ctx, t: &str| {
                let size = ctx.emit("Size", &[t], vec![]);
                ctx.emit("Cast", &[&size], vec![("to", Attr::Int(FLOAT))])
            };
            let n_in = size_of(ctx, &x);
            let n_out = size_of(ctx, &y);
            let count = ctx.emit("Div", &[&n_in, &n_out], vec![]);
            ctx.emit("Div", &[&spread, &count], vec![])
        }
        Kind::Extreme => {
            let y_kept = keep(ctx, &y)?;
            let hit = ctx.emit("Equal", &[&x, &y_kept], vec![]);
            let mask = ctx.emit("Cast", &[&hit], vec![("to", Attr::Int(FLOAT))]);
            let ties = match (&axes, rank_out == rank_in) {
                // A no-op reduction: every element is its own extreme.
                (_, true) => ctx.scalar(1.0),
                (Some(axes), false) => ctx.emit(
                    "ReduceSum",
                    &[&mask, axes],
                    vec![("keepdims", Attr::Int(1))],
                ),
                (None, false) => ctx.emit("ReduceSum", &[&mask], vec![("keepdims", Attr::Int(1))]),
            };
            let share = ctx.emit("Div", &[&mask, &ties], vec![]);
            ctx.emit("Mul", &[&spread, &share], vec![])
        }
    };
    Ok(vec![Some(dx), None])
}
