//! Reductions: ReduceMean (the batch statistics of batch normalization in training mode).

use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Node};

/// ONNX's `to` value for 32-bit floats in `Cast`.
const FLOAT: i64 = 1;

/// `dx = expand(g) / n`, where `n` is the number of elements averaged into each output (the
/// ratio of the input's and the output's sizes, so it follows the batch size).
pub(super) fn reduce_mean(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    if node.inputs.get(1).is_some_and(|a| !a.is_empty()) {
        return Err("reduction axes given as an input (opset 18) are not supported".into());
    }
    let x = node.inputs[0].clone();
    let rank = ctx.rank(&x)? as i64;
    let axes: Vec<i64> = match node.ints("axes") {
        Some(axes) => axes
            .iter()
            .map(|&a| if a < 0 { a + rank } else { a })
            .collect(),
        None => (0..rank).collect(),
    };
    let kept = if node.int("keepdims", 1) == 0 {
        let axes = ctx.ints(&axes);
        ctx.emit("Unsqueeze", &[&g, &axes], vec![])
    } else {
        g
    };
    let shape = ctx.emit("Shape", &[&x], vec![]);
    let spread = ctx.emit("Expand", &[&kept, &shape], vec![]);
    let size_of = |ctx: &mut Ctx, t: &str| {
        let size = ctx.emit("Size", &[t], vec![]);
        ctx.emit("Cast", &[&size], vec![("to", Attr::Int(FLOAT))])
    };
    let n_in = size_of(ctx, &x);
    let n_out = size_of(ctx, &node.outputs[0]);
    let count = ctx.emit("Div", &[&n_in, &n_out], vec![]);
    Ok(vec![Some(ctx.emit("Div", &[&spread, &count], vec![]))])
}
