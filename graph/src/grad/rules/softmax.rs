//! Softmax and LogSoftmax along one axis (opset 13 semantics; older forms are normalised
//! before the reverse pass).

use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Node};

fn axis(ctx: &Ctx, node: &Node) -> Result<i64, String> {
    let rank = ctx.rank(&node.inputs[0])? as i64;
    let axis = node.int("axis", -1);
    Ok(if axis < 0 { axis + rank } else { axis })
}

/// `dx = y * (g - sum(g * y, axis))`.
pub(super) fn softmax(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let y = node.outputs[0].clone();
    let axes = ctx.ints(&[axis(ctx, node)?]);
    let gy = ctx.emit("Mul", &[&g, &y], vec![]);
    let total = ctx.emit("ReduceSum", &[&gy, &axes], vec![("keepdims", Attr::Int(1))]);
    let centred = ctx.emit("Sub", &[&g, &total], vec![]);
    Ok(vec![Some(ctx.emit("Mul", &[&y, &centred], vec![]))])
}

/// `dx = g - exp(y) * sum(g, axis)`.
pub(super) fn log_softmax(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let y = node.outputs[0].clone();
    let axes = ctx.ints(&[axis(ctx, node)?]);
    let total = ctx.emit("ReduceSum", &[&g, &axes], vec![("keepdims", Attr::Int(1))]);
    let p = ctx.emit("Exp", &[&y], vec![]);
    let spread = ctx.emit("Mul", &[&p, &total], vec![]);
    Ok(vec![Some(ctx.emit("Sub", &[&g, &spread], vec![]))])
}
